"""Runs and their estimates: a run id from (config, model, code version); visits, deliveries,
evidence and coverage saved per run; other runs' deliveries superseded, never deleted."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pipeline import __version__
from pipeline.ledger import schema as t
from pipeline.ledger.engine import PG_LOCK_ESTIMATE, chunks, now
from pipeline.ledger.rows import from_row, to_row
from pipeline.records import Delivery, Visit, stable_id


@dataclass
class RunInfo:
    id: str
    config: dict[str, Any]
    config_hash: str
    model: str
    code_version: str
    created_utc: datetime
    estimated_utc: datetime | None
    coverage: dict[str, Any] | None
    superseded_by: str | None
    notes: list[str] | None = None  # the estimate's notes (None: not kept, runs before 0005)


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys), so key order does not matter."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_id_for(config: dict[str, Any], model: str, code_version: str = __version__) -> str:
    return stable_id(config_hash(config), model, code_version)


class RunStore:
    """Ledger methods of runs and estimates (mixed into pipeline.ledger.store.Ledger)."""

    def begin_run(self, config: dict[str, Any], model: str) -> str:
        """Register a run; the same config, model and code version give the same id (no new row)."""
        h = config_hash(config)
        run_id = stable_id(h, model, __version__)
        cfg = json.loads(json.dumps(config, default=str))
        row = dict(
            id=run_id,
            config=cfg,
            config_hash=h,
            model=model,
            code_version=__version__,
            created_utc=now(),
        )
        with self._write() as conn:
            self._insert_ignore(conn, t.runs, [row])
        return run_id

    def runs(self) -> list[RunInfo]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.runs).order_by(t.runs.c.created_utc, t.runs.c.id))
            return [_run(r) for r in rows]

    def run(self, run_id: str) -> RunInfo | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
        return None if row is None else _run(row)

    def latest_run(self) -> RunInfo | None:
        """The current run (the last estimate saved); else the last run begun; else None."""
        c = t.runs.c
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.runs).where(c.estimated_utc.is_not(None), c.superseded_by.is_(None))
            ).first()
            if row is None:
                row = conn.execute(
                    sa.select(t.runs).order_by(c.created_utc.desc(), c.id.desc()).limit(1)
                ).first()
        return None if row is None else _run(row)

    def coverage(self, run_id: str | None = None) -> dict[str, Any] | None:
        run = self.run(run_id) if run_id else self.latest_run()
        return None if run is None else run.coverage

    # ------------------------------------------------------------------ estimates
    def save_estimate(
        self,
        run_id: str,
        visits: list[Visit],
        deliveries: list[Delivery],
        coverage: dict[str, Any],
        notes: list[str] | None = None,
    ) -> None:
        """Store a run's visits, deliveries, evidence links, coverage and the estimate's notes
        (how its figures were made) in one transaction.

        Saving the same run again replaces its rows (same inputs: identical state). Every other
        run's current deliveries get ``superseded_by = run_id``; they are kept.
        """
        visit_ids = {v.id: v for v in visits}
        for dv in deliveries:
            if dv.load_visit not in visit_ids:
                raise ValueError(f"delivery {dv.id}: load visit {dv.load_visit} not in this run")
        det_ids = sorted({e for v in visits for e in v.evidence})
        with self._write(lock=PG_LOCK_ESTIMATE) as conn:
            run = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if run is None:
                raise ValueError(f"run {run_id} was not begun in this ledger (call begin_run)")
            scene_of: dict[str, str] = {}
            for chunk in chunks(det_ids, 500):
                d = t.detections.c
                q = sa.select(d.id, d.scene_id).where(d.id.in_(chunk))
                scene_of.update({i: s for i, s in conn.execute(q)})
            for table in (t.delivery_evidence, t.deliveries, t.visits):
                conn.execute(sa.delete(table).where(table.c.run_id == run_id))
            if visits:
                conn.execute(sa.insert(t.visits), [to_row(v, run_id=run_id) for v in visits])
            if deliveries:
                conn.execute(
                    sa.insert(t.deliveries),
                    [
                        to_row(d, run_id=run_id, model=d.model or run.model, superseded_by=None)
                        for d in deliveries
                    ],
                )
            evidence = []
            for dv in deliveries:
                ids: set[str] = set(visit_ids[dv.load_visit].evidence)
                if dv.discharge_visit and dv.discharge_visit in visit_ids:
                    ids |= set(visit_ids[dv.discharge_visit].evidence)
                scenes_ = {scene_of[i] for i in ids if i in scene_of}
                evidence += [
                    dict(run_id=run_id, delivery_id=dv.id, kind="detection", ref=i) for i in ids
                ]
                evidence += [
                    dict(run_id=run_id, delivery_id=dv.id, kind="scene", ref=s) for s in scenes_
                ]
            if evidence:
                conn.execute(sa.insert(t.delivery_evidence), evidence)
            dl = t.deliveries.c
            conn.execute(
                sa.update(t.deliveries)
                .where(dl.run_id != run_id, dl.superseded_by.is_(None))
                .values(superseded_by=run_id)
            )
            rc = t.runs.c
            conn.execute(
                sa.update(t.runs)
                .where(rc.id != run_id, rc.superseded_by.is_(None), rc.estimated_utc.is_not(None))
                .values(superseded_by=run_id)
            )
            conn.execute(
                sa.update(t.runs)
                .where(rc.id == run_id)
                .values(
                    coverage=coverage,
                    notes=list(notes or []),
                    estimated_utc=now(),
                    superseded_by=None,
                )
            )

    def visits(self, run_id: str | None = None) -> list[Visit]:
        """Visits of a run (default: the current run)."""
        if run_id is None:
            run = self.latest_run()
            if run is None:
                return []
            run_id = run.id
        c = t.visits.c
        q = sa.select(t.visits).where(c.run_id == run_id).order_by(c.first_seen_utc, c.berth, c.id)
        with self._read() as conn:
            return [from_row(Visit, r) for r in conn.execute(q)]

    def deliveries(
        self, run_id: str | None = None, include_superseded: bool = False
    ) -> list[Delivery]:
        """Deliveries: current ones by default; of one run; or all with include_superseded."""
        c = t.deliveries.c
        q = sa.select(t.deliveries)
        if run_id is not None:
            q = q.where(c.run_id == run_id)
        elif not include_superseded:
            q = q.where(c.superseded_by.is_(None))
        q = q.order_by(c.run_id, c.id)
        with self._read() as conn:
            return [from_row(Delivery, r) for r in conn.execute(q)]

    def current_deliveries(self) -> list[Delivery]:
        return self.deliveries()

    def evidence(self, deliveries: list[Delivery]) -> dict[str, dict[str, list[str]]]:
        """For each delivery id: its evidence detection ids and scene ids (sorted)."""
        keys = {(d.run_id, d.id) for d in deliveries}
        out = {d.id: {"detections": [], "scenes": []} for d in deliveries}
        run_ids = sorted({d.run_id for d in deliveries})
        if not run_ids:
            return out
        e = t.delivery_evidence.c
        q = sa.select(t.delivery_evidence).where(e.run_id.in_(run_ids)).order_by(e.ref)
        with self._read() as conn:
            for r in conn.execute(q):
                if (r.run_id, r.delivery_id) in keys:
                    kind = "detections" if r.kind == "detection" else "scenes"
                    out[r.delivery_id][kind].append(r.ref)
        return out


def _run(r: Any) -> RunInfo:
    return RunInfo(
        id=r.id,
        config=r.config,
        config_hash=r.config_hash,
        model=r.model,
        code_version=r.code_version,
        created_utc=r.created_utc,
        estimated_utc=r.estimated_utc,
        coverage=r.coverage,
        superseded_by=r.superseded_by,
        notes=r.notes,
    )
