"""The ledger's tables (SQLAlchemy Core), as the latest Alembic migration leaves them.

The migrations in ``pipeline/ledger/migrations/versions`` create and change the real tables; this
module mirrors the head revision so the store can build queries. Keep the two in step: a change
here needs a new migration (tests/ledger/test_migrations.py compares them).

Times are stored as timezone-aware UTC (``UTCDateTime``); lists and dicts as JSON text, so the
same schema works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from pipeline.records import utc


class UTCDateTime(TypeDecorator):
    """A datetime that goes in and comes out timezone-aware UTC on every back-end."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


class JSONText(TypeDecorator):
    """JSON stored as text (sorted keys, so equal values are equal rows)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, default=str)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("config", JSONText, nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("created_utc", UTCDateTime, nullable=False),
    sa.Column("estimated_utc", UTCDateTime, nullable=True),
    sa.Column("coverage", JSONText, nullable=True),
    sa.Column("superseded_by", sa.String(64), nullable=True),
    sa.Column("notes", JSONText, nullable=True),  # the estimate's notes; None: not kept (< 0005)
)

scenes = sa.Table(
    "scenes",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("sensor", sa.String(64), nullable=False),
    sa.Column("acquired_utc", UTCDateTime, nullable=False),
    sa.Column("port", sa.String(100), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("crs", sa.Text, nullable=False),
    sa.Column("gsd_m", sa.Float, nullable=False),
    sa.Column("bands", JSONText, nullable=False),
    sa.Column("valid_fraction", sa.Float, nullable=False),
    sa.Column("cloud_fraction", sa.Float, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("stac_path", sa.Text, nullable=True),
    sa.Index("ix_scenes_port_acquired", "port", "acquired_utc"),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("scene_id", sa.String(200), primary_key=True),
    sa.Column("berth", sa.String(100), primary_key=True),
    sa.Column("port", sa.String(100), nullable=False),
    sa.Column("acquired_utc", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("clear_fraction", sa.Float, nullable=False),
    sa.Column("sensor", sa.String(64), nullable=False),
    sa.Column("gsd_m", sa.Float, nullable=False),
    sa.Index("ix_observations_port_acquired", "port", "acquired_utc"),
)

skips = sa.Table(
    "skips",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("port", sa.String(100), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_utc", UTCDateTime, nullable=False),
)

detections = sa.Table(
    "detections",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scene_id", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("geometry_wkt", sa.Text, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("length_m", sa.Float, nullable=False),
    sa.Column("beam_m", sa.Float, nullable=False),
    sa.Column("heading_deg", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("cls", sa.String(64), nullable=False),
    # why the detection is of a persistent object (NULL: it is not; revision 0007)
    sa.Column("persistent", sa.Text, nullable=True),
    sa.Index("ix_detections_scene_model", "scene_id", "model"),
)

scene_processing = sa.Table(
    "scene_processing",
    metadata,
    sa.Column("scene_id", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("n_detections", sa.Integer, nullable=False),
    sa.Column("done_utc", UTCDateTime, nullable=False),
)

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("port", sa.String(100), nullable=False),
    sa.Column("berth", sa.String(100), nullable=False),
    sa.Column("vessel_key", sa.String(200), nullable=False),
    sa.Column("first_seen_utc", UTCDateTime, nullable=False),
    sa.Column("last_seen_utc", UTCDateTime, nullable=False),
    sa.Column("arrived_after_utc", UTCDateTime, nullable=True),
    sa.Column("departed_before_utc", UTCDateTime, nullable=True),
    sa.Column("n_obs", sa.Integer, nullable=False),
    sa.Column("length_m", sa.Float, nullable=False),
    sa.Column("beam_m", sa.Float, nullable=False),
    sa.Column("evidence", JSONText, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("length_sigma_m", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("beam_sigma_m", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("sightings", JSONText, nullable=False, server_default=sa.text("'[]'")),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("vessel", sa.String(200), nullable=False),
    sa.Column("imo", sa.String(32), nullable=True),
    sa.Column("id_probability", sa.Float, nullable=False),
    sa.Column("load_visit", sa.String(64), nullable=False),
    sa.Column("discharge_visit", sa.String(64), nullable=True),
    sa.Column("barrels_p10", sa.Float, nullable=False),
    sa.Column("barrels_p50", sa.Float, nullable=False),
    sa.Column("barrels_p90", sa.Float, nullable=False),
    sa.Column("barrels_33", sa.Float, nullable=False),
    sa.Column("barrels_50", sa.Float, nullable=False),
    sa.Column("barrels_90", sa.Float, nullable=False),
    sa.Column("product", sa.String(64), nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("superseded_by", sa.String(64), nullable=True),
    sa.Column("candidates", JSONText, nullable=False),
    sa.Column("dark", sa.Boolean, nullable=True),
    sa.Column("ais_mmsi", sa.Integer, nullable=True),
    sa.Index("ix_deliveries_superseded_by", "superseded_by"),
)

delivery_evidence = sa.Table(
    "delivery_evidence",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # "detection" | "scene"
    sa.Column("ref", sa.String(200), primary_key=True),
)

# AIS (revision 0006): transponder positions and the latest static report per MMSI
ais_positions = sa.Table(
    "ais_positions",
    metadata,
    sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("time_utc", UTCDateTime, primary_key=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("sog", sa.Float, nullable=True),
    sa.Column("cog", sa.Float, nullable=True),
    sa.Column("heading", sa.Float, nullable=True),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Index("ix_ais_positions_time", "time_utc"),
    sa.Index("ix_ais_positions_lat_lon", "lat", "lon"),
)

ais_static = sa.Table(
    "ais_static",
    metadata,
    sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("time_utc", UTCDateTime, nullable=False),  # of the latest report kept
    sa.Column("name", sa.String(120), nullable=True),
    sa.Column("imo", sa.String(16), nullable=True),
    sa.Column("callsign", sa.String(32), nullable=True),
    sa.Column("ship_type", sa.String(64), nullable=True),
    sa.Column("length_m", sa.Float, nullable=True),
    sa.Column("width_m", sa.Float, nullable=True),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Index("ix_ais_static_imo", "imo"),
)

# AIS draught reports (revision 0008): per MMSI its first report and each change, in metres
ais_draughts = sa.Table(
    "ais_draughts",
    metadata,
    sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("time_utc", UTCDateTime, primary_key=True),
    sa.Column("draught_m", sa.Float, nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),
)
