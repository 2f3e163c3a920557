"""Detections per scene and model, and which scenes each model has processed."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from pipeline.ledger import schema as t
from pipeline.ledger.engine import chunks, now
from pipeline.ledger.rows import from_row, to_row
from pipeline.records import Detection


class DetectionStore:
    """Ledger methods of detections (mixed into pipeline.ledger.store.Ledger)."""

    def add_detections(self, scene_id: str, model: str, detections: list[Detection]) -> bool:
        """Store a scene's detections and mark (scene, model) processed, in one transaction.

        Returns False (and writes nothing) when that scene was already processed by that model.
        """
        for d in detections:
            if d.scene_id != scene_id or d.model != model:
                raise ValueError(f"detection {d.id} is for ({d.scene_id}, {d.model})")
        mark = dict(scene_id=scene_id, model=model, n_detections=len(detections), done_utc=now())
        with self._write() as conn:
            if not self._insert_ignore(conn, t.scene_processing, [mark]):
                return False
            self._insert_ignore(conn, t.detections, [to_row(d) for d in detections])
            return True

    def scene_done(self, scene_id: str, model: str) -> bool:
        c = t.scene_processing.c
        q = sa.select(c.scene_id).where(c.scene_id == scene_id, c.model == model)
        with self._read() as conn:
            return conn.execute(q).first() is not None

    def processed_scenes(self, model: str) -> set[str]:
        c = t.scene_processing.c
        with self._read() as conn:
            return set(conn.execute(sa.select(c.scene_id).where(c.model == model)).scalars())

    def detections(
        self,
        ports: list[str] | None = None,
        model: str | None = None,
        ids: Iterable[str] | None = None,
        scene_ids: Iterable[str] | None = None,
    ) -> list[Detection]:
        d = t.detections.c
        q = sa.select(t.detections).order_by(d.scene_id, d.id)
        if ports:
            q = q.join(t.scenes, t.scenes.c.id == d.scene_id).where(t.scenes.c.port.in_(ports))
        if model is not None:
            q = q.where(d.model == model)
        if scene_ids is not None:
            q = q.where(d.scene_id.in_(list(scene_ids)))
        with self._read() as conn:
            if ids is None:
                return [from_row(Detection, r) for r in conn.execute(q)]
            out = []  # in chunks: SQLite limits the bound parameters of one statement
            for chunk in chunks(sorted(set(ids)), 500):
                out += [from_row(Detection, r) for r in conn.execute(q.where(d.id.in_(chunk)))]
        return sorted(out, key=lambda x: (x.scene_id, x.id))

    def set_persistent(self, scene_ids: Iterable[str], flags: dict[str, str]) -> int:
        """Mark the detections of ``scene_ids`` persistent (``flags``: detection id -> reason)
        or not (NULL), in one transaction; returns the number marked persistent."""
        d = t.detections.c
        scene_ids = sorted(set(scene_ids))
        with self._write() as conn:
            for chunk in chunks(scene_ids, 500):
                conn.execute(
                    sa.update(t.detections).where(d.scene_id.in_(chunk)).values(persistent=None)
                )
            by_reason: dict[str, list[str]] = {}
            for det_id, reason in flags.items():
                by_reason.setdefault(reason, []).append(det_id)
            n = 0
            for reason, ids in by_reason.items():
                for chunk in chunks(sorted(ids), 500):
                    res = conn.execute(
                        sa.update(t.detections).where(d.id.in_(chunk)).values(persistent=reason)
                    )
                    n += res.rowcount or 0
        return n

    def persistent(
        self, ports: list[str] | None = None, scene_ids: Iterable[str] | None = None
    ) -> dict[str, str]:
        """Detection id -> reason, for the detections marked persistent."""
        d = t.detections.c
        q = sa.select(d.id, d.persistent).where(d.persistent.is_not(None))
        if ports:
            q = q.join(t.scenes, t.scenes.c.id == d.scene_id).where(t.scenes.c.port.in_(ports))
        if scene_ids is not None:
            wanted = set(scene_ids)
            q = q.add_columns(d.scene_id)
            with self._read() as conn:
                return {r.id: r.persistent for r in conn.execute(q) if r.scene_id in wanted}
        with self._read() as conn:
            return {r.id: r.persistent for r in conn.execute(q)}
