"""The ledger: scenes, observations, detections, runs, visits and deliveries (SQLite or PostgreSQL).

Every write is one transaction, and every row has a natural key with a unique constraint, written
with ``INSERT ... ON CONFLICT DO NOTHING``: a process killed at any moment leaves either all or
none of a step, running the step again adds nothing, and two processes writing the same rows to
one PostgreSQL ledger neither duplicate nor lose any.

Runs: a run id is derived from (config hash, model, code version), so the same inputs and model
give the same run. ``save_estimate`` replaces that run's visits and deliveries and marks every
other run's deliveries ``superseded_by`` the new run id; superseded rows stay, so a published
figure can be reproduced from its run id later.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.ledger.ais import AisStore
from pipeline.ledger.catalogue import Catalogue
from pipeline.ledger.detections import DetectionStore
from pipeline.ledger.engine import LedgerBase, OlderSchemaError
from pipeline.ledger.runs import RunStore
from pipeline.ledger.urls import to_url


class Ledger(Catalogue, DetectionStore, RunStore, AisStore, LedgerBase):
    """One ledger database: the scene catalogue (pipeline.ledger.catalogue), detections
    (.detections), runs and estimates (.runs), AIS (.ais), over one connection (.engine). Opening it
    upgrades its schema with Alembic (never recreates it); ``readonly=True`` opens without ever
    writing (exports, report, notebook): an older schema is then an error rather than upgraded.
    """

    def __enter__(self) -> Ledger:
        return self


def open_for_reading(url: str | Path | None = None) -> Ledger:
    """Open a ledger to read it (export, report, notebook) without creating one.

    A missing SQLite file or an empty PostgreSQL database is an error (not a new empty ledger);
    a read-only file is opened read-only; a ledger at an older schema is upgraded in place when
    it can be written, like any other open.
    """
    resolved = to_url(url)
    if resolved.get_backend_name() == "sqlite":
        path = Path(resolved.database or "")
        writable = path.is_file() and os.access(path, os.W_OK) and path.stat().st_mode & 0o222
        return Ledger(resolved, readonly=not writable)
    try:
        return Ledger(resolved, readonly=True)
    except OlderSchemaError:
        return Ledger(resolved)  # upgrade it in place, as any open for writing would
