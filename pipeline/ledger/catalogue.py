"""The scene catalogue: scenes, their per-berth observations, and the scenes skipped at ingest."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from pipeline.ledger import schema as t
from pipeline.ledger.engine import now
from pipeline.ledger.rows import from_row, to_row
from pipeline.records import Observation, Scene, utc


def _as_utc_bound(value: datetime | date | str | None, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            if "T" in value
            else (date.fromisoformat(value))
        )
    if isinstance(value, datetime):
        return utc(value)
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


class Catalogue:
    """Ledger methods of the scene catalogue (mixed into pipeline.ledger.store.Ledger)."""

    def has_scene(self, scene_id: str) -> bool:
        with self._read() as conn:
            q = sa.select(t.scenes.c.id).where(t.scenes.c.id == scene_id)
            return conn.execute(q).first() is not None

    def add_scene(self, scene: Scene, observations: list[Observation]) -> bool:
        """Add a scene and its per-berth observations in one transaction; False if already there."""
        for obs in observations:
            if obs.scene_id != scene.id:
                raise ValueError(f"observation for {obs.scene_id} given with scene {scene.id}")
        with self._write() as conn:
            if not self._insert_ignore(conn, t.scenes, [to_row(scene)]):
                return False
            self._insert_ignore(conn, t.observations, [to_row(o) for o in observations])
            return True

    def add_skip(self, key: str, port: str, source: str, reason: str) -> None:
        """Record a scene that was skipped (unreadable, no data, ...) with its reason."""
        row = dict(key=key, port=port, source=source, reason=reason, created_utc=now())
        with self._write() as conn:
            self._insert_ignore(conn, t.skips, [row])

    def has_skip(self, key: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(sa.select(t.skips.c.key).where(t.skips.c.key == key)).first()
                is not None
            )

    def skips(self, ports: list[str] | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.skips).order_by(t.skips.c.key)
        if ports:
            q = q.where(t.skips.c.port.in_(ports))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def scene(self, scene_id: str) -> Scene | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.scenes).where(t.scenes.c.id == scene_id)).first()
        return None if row is None else from_row(Scene, row)

    def scenes(
        self,
        ports: list[str] | None = None,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
    ) -> list[Scene]:
        """Scenes ordered by acquisition time; start/end inclusive (a date means the whole day)."""
        c = t.scenes.c
        q = sa.select(t.scenes).order_by(c.acquired_utc, c.id)
        if ports:
            q = q.where(c.port.in_(ports))
        if (lo := _as_utc_bound(start, end=False)) is not None:
            q = q.where(c.acquired_utc >= lo)
        if (hi := _as_utc_bound(end, end=True)) is not None:
            q = q.where(c.acquired_utc <= hi)
        with self._read() as conn:
            return [from_row(Scene, r) for r in conn.execute(q)]

    def observations(
        self, ports: list[str] | None = None, scene_id: str | None = None
    ) -> list[Observation]:
        c = t.observations.c
        q = sa.select(t.observations).order_by(c.acquired_utc, c.port, c.berth, c.scene_id)
        if ports:
            q = q.where(c.port.in_(ports))
        if scene_id is not None:
            q = q.where(c.scene_id == scene_id)
        with self._read() as conn:
            return [from_row(Observation, r) for r in conn.execute(q)]
