"""Records <-> ledger rows, in one place: a row is the record's fields under their column names.

Column names follow the field names except where the table says more (times are ``*_utc``, the
footprint is ``geometry_wkt``): ``RENAMES`` is the one table of those. Values are converted by
the column's type (floats, integers, text; times and JSON by their column types in schema.py), so
a new record field only needs its column (a migration and schema.py); a test checks that every
field of every stored record has one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import sqlalchemy as sa

from pipeline.ledger import schema as t
from pipeline.records import Delivery, Detection, Observation, Scene, Visit

R = TypeVar("R")

# record field -> column name, where they differ (the same in every table)
RENAMES = {
    "acquired": "acquired_utc",
    "first_seen": "first_seen_utc",
    "last_seen": "last_seen_utc",
    "arrived_after": "arrived_after_utc",
    "departed_before": "departed_before_utc",
    "geometry": "geometry_wkt",
}

# which table keeps which record (visits and deliveries also carry the run id as a key column)
TABLES: dict[type, sa.Table] = {
    Scene: t.scenes,
    Observation: t.observations,
    Detection: t.detections,
    Visit: t.visits,
    Delivery: t.deliveries,
}


def column(field: str) -> str:
    return RENAMES.get(field, field)


def _cast(col: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(col.type, sa.Float):
        return float(value)
    if isinstance(col.type, sa.Integer):
        return int(value)
    if isinstance(col.type, sa.String | sa.Text):
        return str(value)
    if isinstance(value, list | tuple):
        return list(value)
    return value


def to_row(record: Any, **columns: Any) -> dict[str, Any]:
    """The row of ``record`` in its table; ``columns`` set (or override) columns by name."""
    table = TABLES[type(record)]
    row = {}
    for f in dataclasses.fields(record):
        name = column(f.name)
        row[name] = _cast(table.c[name], getattr(record, f.name))
    row.update(columns)
    return row


def from_row(cls: type[R], row: Any) -> R:
    """The record ``cls`` read from a row of its table (columns that are no field are left)."""
    values = row._mapping
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = values[column(f.name)]
        kwargs[f.name] = list(value) if isinstance(value, list) else value
    return cls(**kwargs)
