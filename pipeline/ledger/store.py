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

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from pipeline import __version__
from pipeline.errors import TankerWatchError
from pipeline.ledger import schema as t
from pipeline.records import Delivery, Detection, Observation, Scene, Visit, stable_id, utc

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_URL = "sqlite:///tankerwatch.db"
ENV_URL = "TANKERWATCH_DB_URL"
_PG_LOCK_MIGRATE = 7_300_201
_PG_LOCK_ESTIMATE = 7_300_202


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


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys), so key order does not matter."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_id_for(config: dict[str, Any], model: str, code_version: str = __version__) -> str:
    return stable_id(config_hash(config), model, code_version)


def to_url(url: str | Path | URL | None) -> URL:
    """None -> $TANKERWATCH_DB_URL, else sqlite:///tankerwatch.db; a plain path means SQLite.

    Raises TankerWatchError for a string that is not a database URL.
    """
    if isinstance(url, URL):
        return url
    if url is None:
        url = os.environ.get(ENV_URL) or DEFAULT_URL
    if isinstance(url, Path) or "://" not in str(url):
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    try:
        u = make_url(str(url))
    except Exception:
        raise TankerWatchError(
            f"ledger URL {mask_url(str(url))} is not a valid database URL"
        ) from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def resolve_url(url: str | Path | URL | None) -> str:
    """The full URL string (see ``to_url``); it may hold a password: never print it."""
    return to_url(url).render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe to print."""
    try:
        u = url if isinstance(url, URL) else make_url(str(url))
        if u.get_backend_name() == "sqlite" and u.database:
            return f"{u.drivername}:///{u.database}"
        return u.render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(orig).__name__


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


class OlderSchemaError(TankerWatchError):
    """A ledger opened read-only is at an older schema (opening it for writing upgrades it)."""


class Ledger:
    """One ledger database. Opening it upgrades its schema with Alembic (never recreates it).

    ``readonly=True`` opens without ever writing (exports, report, notebook): an older schema is
    then an error rather than upgraded.
    """

    def __init__(self, url: str | Path | None = None, readonly: bool = False):
        self._url = to_url(url)
        self.url = self._url.render_as_string(hide_password=False)
        self.display_url = mask_url(self._url)
        self.readonly = readonly
        self._secret = self._url.password
        self.dialect = self._url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise TankerWatchError(
                f"ledger at {self.display_url}: unsupported database "
                f"'{self.dialect}' (use sqlite:/// or postgresql://)"
            )
        self._engine = self._make_engine()
        try:
            with self._errors():
                self._migrate()
        except BaseException:
            self._engine.dispose()
            raise

    # ------------------------------------------------------------------ engine and errors
    def _make_engine(self) -> sa.Engine:
        if self.dialect == "sqlite":
            path = self._url.database
            if not path or path == ":memory:":
                raise TankerWatchError(
                    f"ledger at {self.display_url}: an in-memory SQLite ledger would be lost; "
                    "give a file path"
                )
            p = Path(path)
            self.path: Path | None = p
            if self.readonly:
                if not p.is_file():
                    raise TankerWatchError(f"ledger at {p}: no such file")
                url = URL.create(
                    "sqlite",
                    database=f"file:{quote(str(p.resolve()))}",
                    query={"mode": "ro", "uri": "true"},
                )
            else:
                self._check_sqlite_writable(p)
                url = self._url
            engine = sa.create_engine(url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)

            @event.listens_for(engine, "begin")
            def _begin(conn: sa.Connection) -> None:
                write = conn.get_execution_options().get("tw_write")
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

            return engine
        self.path = None
        return sa.create_engine(self._url, connect_args={"connect_timeout": 10}, pool_pre_ping=True)

    def _check_sqlite_writable(self, p: Path) -> None:
        if p.exists():
            mode = p.stat().st_mode
            if not os.access(p, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
                raise TankerWatchError(f"ledger at {p} is read-only: the file is not writable")
            if not os.access(p.parent, os.W_OK):
                raise TankerWatchError(
                    f"ledger at {p}: its folder is not writable (SQLite needs it for the journal)"
                )
        else:
            from pipeline.fsutil import ensure_dir

            ensure_dir(p.parent)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except TankerWatchError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            line = _first_line(exc)
            if self._secret:
                line = line.replace(self._secret, "***")
            low = line.lower()
            if "readonly database" in low or "read-only" in low:
                raise TankerWatchError(
                    f"ledger at {self.display_url} is read-only ({line})"
                ) from None
            if "permission denied" in low:
                raise TankerWatchError(
                    f"ledger at {self.display_url}: the database user may not do this ({line})"
                ) from None
            if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
                raise TankerWatchError(f"ledger at {self.display_url}: {line}") from None
            raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._errors(), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _write(self, lock: int | None = None) -> Iterator[sa.Connection]:
        if self.readonly:
            raise TankerWatchError(f"ledger at {self.display_url} was opened read-only")
        with self._errors(), self._engine.connect() as conn:
            conn.execution_options(tw_write=True)
            with conn.begin():
                if lock is not None and self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
                yield conn

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.display_url!r})"

    # ------------------------------------------------------------------ schema
    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        return cfg

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self._read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _check_known(self, script: Any, current: str | None) -> None:
        if current is None:
            return
        try:
            known = script.get_revision(current) is not None
        except Exception:
            known = False
        if not known:
            raise TankerWatchError(
                f"ledger at {self.display_url} has schema {current}, newer than this "
                f"TankerWatch ({__version__}, schema {script.get_current_head()}); "
                "upgrade TankerWatch"
            )

    def _migrate(self) -> None:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = self._alembic_config()
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        with self._engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        self._check_known(script, current)
        if self.readonly and current is None:
            raise TankerWatchError(
                f"ledger at {self.display_url} holds no TankerWatch ledger (no schema version)"
            )
        if self.readonly:
            raise OlderSchemaError(
                f"ledger at {self.display_url} has schema {current}, older than this "
                f"TankerWatch (schema {head}); open it once for writing to upgrade it"
            )
        with self._write(lock=_PG_LOCK_MIGRATE) as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            self._check_known(script, current)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # ------------------------------------------------------------------ helpers
    def _insert_ignore(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> int:
        """Insert rows, skipping any whose key exists; returns the rows inserted (single row)."""
        if not rows:
            return 0
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table).on_conflict_do_nothing()
        if len(rows) == 1:
            key = list(table.primary_key.columns)[0]
            return len(conn.execute(stmt.values(**rows[0]).returning(key)).all())
        conn.execute(stmt, rows)
        return len(rows)

    # ------------------------------------------------------------------ scenes
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
            if not self._insert_ignore(conn, t.scenes, [_scene_row(scene)]):
                return False
            self._insert_ignore(conn, t.observations, [_obs_row(o) for o in observations])
            return True

    def add_skip(self, key: str, port: str, source: str, reason: str) -> None:
        """Record a scene that was skipped (unreadable, no data, ...) with its reason."""
        row = dict(key=key, port=port, source=source, reason=reason, created_utc=_now())
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
        return None if row is None else _scene(row)

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
            return [_scene(r) for r in conn.execute(q)]

    def observations(self, ports: list[str] | None = None) -> list[Observation]:
        c = t.observations.c
        q = sa.select(t.observations).order_by(c.acquired_utc, c.port, c.berth, c.scene_id)
        if ports:
            q = q.where(c.port.in_(ports))
        with self._read() as conn:
            return [_obs(r) for r in conn.execute(q)]

    # ------------------------------------------------------------------ detections
    def add_detections(self, scene_id: str, model: str, detections: list[Detection]) -> bool:
        """Store a scene's detections and mark (scene, model) processed, in one transaction.

        Returns False (and writes nothing) when that scene was already processed by that model.
        """
        for d in detections:
            if d.scene_id != scene_id or d.model != model:
                raise ValueError(f"detection {d.id} is for ({d.scene_id}, {d.model})")
        mark = dict(scene_id=scene_id, model=model, n_detections=len(detections), done_utc=_now())
        with self._write() as conn:
            if not self._insert_ignore(conn, t.scene_processing, [mark]):
                return False
            self._insert_ignore(conn, t.detections, [_det_row(d) for d in detections])
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
                return [_det(r) for r in conn.execute(q)]
            out = []  # in chunks: SQLite limits the bound parameters of one statement
            for chunk in _chunks(sorted(set(ids)), 500):
                out += [_det(r) for r in conn.execute(q.where(d.id.in_(chunk)))]
        return sorted(out, key=lambda x: (x.scene_id, x.id))

    # ------------------------------------------------------------------ runs
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
            created_utc=_now(),
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
    ) -> None:
        """Store a run's visits, deliveries, evidence links and coverage in one transaction.

        Saving the same run again replaces its rows (same inputs: identical state). Every other
        run's current deliveries get ``superseded_by = run_id``; they are kept.
        """
        visit_ids = {v.id: v for v in visits}
        for dv in deliveries:
            if dv.load_visit not in visit_ids:
                raise ValueError(f"delivery {dv.id}: load visit {dv.load_visit} not in this run")
        det_ids = sorted({e for v in visits for e in v.evidence})
        with self._write(lock=_PG_LOCK_ESTIMATE) as conn:
            run = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if run is None:
                raise ValueError(f"run {run_id} was not begun in this ledger (call begin_run)")
            scene_of: dict[str, str] = {}
            for chunk in _chunks(det_ids, 500):
                d = t.detections.c
                q = sa.select(d.id, d.scene_id).where(d.id.in_(chunk))
                scene_of.update({i: s for i, s in conn.execute(q)})
            for table in (t.delivery_evidence, t.deliveries, t.visits):
                conn.execute(sa.delete(table).where(table.c.run_id == run_id))
            if visits:
                conn.execute(sa.insert(t.visits), [_visit_row(run_id, v) for v in visits])
            if deliveries:
                conn.execute(
                    sa.insert(t.deliveries),
                    [_delivery_row(run_id, run.model, d) for d in deliveries],
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
                .values(coverage=coverage, estimated_utc=_now(), superseded_by=None)
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
            return [_visit(r) for r in conn.execute(q)]

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
            return [_delivery(r) for r in conn.execute(q)]

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

    def counts(self) -> dict[str, int]:
        """Rows per table (for summaries and tests)."""
        with self._read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in t.metadata.tables.items()
            }


# ---------------------------------------------------------------------- row <-> record
def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _scene_row(s: Scene) -> dict[str, Any]:
    return dict(
        id=s.id,
        source=s.source,
        sensor=s.sensor,
        acquired_utc=utc(s.acquired),
        port=s.port,
        path=str(s.path),
        crs=str(s.crs),
        gsd_m=float(s.gsd_m),
        bands=list(s.bands),
        valid_fraction=float(s.valid_fraction),
        cloud_fraction=float(s.cloud_fraction),
        width=int(s.width),
        height=int(s.height),
        stac_path=None if s.stac_path is None else str(s.stac_path),
    )


def _scene(r: Any) -> Scene:
    return Scene(
        id=r.id,
        source=r.source,
        sensor=r.sensor,
        acquired=r.acquired_utc,
        port=r.port,
        path=r.path,
        crs=r.crs,
        gsd_m=r.gsd_m,
        bands=list(r.bands),
        valid_fraction=r.valid_fraction,
        cloud_fraction=r.cloud_fraction,
        width=r.width,
        height=r.height,
        stac_path=r.stac_path,
    )


def _obs_row(o: Observation) -> dict[str, Any]:
    return dict(
        scene_id=o.scene_id,
        berth=o.berth,
        port=o.port,
        acquired_utc=utc(o.acquired),
        state=o.state,
        clear_fraction=float(o.clear_fraction),
        sensor=o.sensor,
        gsd_m=float(o.gsd_m),
    )


def _obs(r: Any) -> Observation:
    return Observation(
        scene_id=r.scene_id,
        port=r.port,
        berth=r.berth,
        acquired=r.acquired_utc,
        state=r.state,
        clear_fraction=r.clear_fraction,
        sensor=r.sensor,
        gsd_m=r.gsd_m,
    )


def _det_row(d: Detection) -> dict[str, Any]:
    return dict(
        id=d.id,
        scene_id=d.scene_id,
        model=d.model,
        geometry_wkt=d.geometry,
        lon=float(d.lon),
        lat=float(d.lat),
        length_m=float(d.length_m),
        beam_m=float(d.beam_m),
        heading_deg=float(d.heading_deg),
        score=float(d.score),
        cls=d.cls,
    )


def _det(r: Any) -> Detection:
    return Detection(
        scene_id=r.scene_id,
        geometry=r.geometry_wkt,
        lon=r.lon,
        lat=r.lat,
        length_m=r.length_m,
        beam_m=r.beam_m,
        heading_deg=r.heading_deg,
        score=r.score,
        cls=r.cls,
        model=r.model,
        id=r.id,
    )


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
    )


def _visit_row(run_id: str, v: Visit) -> dict[str, Any]:
    return dict(
        run_id=run_id,
        id=v.id,
        port=v.port,
        berth=v.berth,
        vessel_key=v.vessel_key,
        first_seen_utc=utc(v.first_seen),
        last_seen_utc=utc(v.last_seen),
        arrived_after_utc=None if v.arrived_after is None else utc(v.arrived_after),
        departed_before_utc=None if v.departed_before is None else utc(v.departed_before),
        n_obs=int(v.n_obs),
        length_m=float(v.length_m),
        beam_m=float(v.beam_m),
        evidence=list(v.evidence),
        role=v.role,
    )


def _visit(r: Any) -> Visit:
    return Visit(
        port=r.port,
        berth=r.berth,
        vessel_key=r.vessel_key,
        first_seen=r.first_seen_utc,
        last_seen=r.last_seen_utc,
        arrived_after=r.arrived_after_utc,
        departed_before=r.departed_before_utc,
        n_obs=r.n_obs,
        length_m=r.length_m,
        beam_m=r.beam_m,
        evidence=list(r.evidence),
        role=r.role,
        id=r.id,
    )


_BARRELS = ("barrels_p10", "barrels_p50", "barrels_p90", "barrels_33", "barrels_50", "barrels_90")


def _delivery_row(run_id: str, run_model: str, d: Delivery) -> dict[str, Any]:
    row = dict(
        run_id=run_id,
        id=d.id,
        vessel=d.vessel,
        imo=d.imo,
        id_probability=float(d.id_probability),
        load_visit=d.load_visit,
        discharge_visit=d.discharge_visit,
        product=d.product,
        method=d.method,
        model=d.model or run_model,
        superseded_by=None,
        candidates=list(d.candidates),
    )
    row.update({k: float(getattr(d, k)) for k in _BARRELS})
    return row


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        vessel=r.vessel,
        imo=r.imo,
        id_probability=r.id_probability,
        load_visit=r.load_visit,
        discharge_visit=r.discharge_visit,
        product=r.product,
        method=r.method,
        run_id=r.run_id,
        model=r.model,
        superseded_by=r.superseded_by,
        candidates=list(r.candidates),
        **{k: getattr(r, k) for k in _BARRELS},
    )
