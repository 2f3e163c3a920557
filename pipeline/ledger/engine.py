"""The ledger's connection: engine (SQLite or PostgreSQL), one transaction per write, one-line
errors without the password, and the schema brought to the head revision with Alembic."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL

from pipeline import __version__
from pipeline.errors import TankerWatchError
from pipeline.ledger import schema as t
from pipeline.ledger.urls import mask_url, to_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PG_LOCK_MIGRATE = 7_300_201
PG_LOCK_ESTIMATE = 7_300_202


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(orig).__name__


class OlderSchemaError(TankerWatchError):
    """A ledger opened read-only is at an older schema (opening it for writing upgrades it)."""


class LedgerBase:
    """The connection to one ledger database: engine, transactions, errors, schema upgrade.

    Opening it upgrades its schema with Alembic (never recreates it). ``readonly=True`` opens
    without ever writing (exports, report, notebook): an older schema is then an error rather
    than upgraded.
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
            # SQLite says so (as a plain DatabaseError) on the first read of a file that is not
            # a database (a text file, a truncated copy), whichever verb opened it
            if "file is not a database" in low or "disk image is malformed" in low:
                where = self.path if self.path is not None else self.display_url
                raise TankerWatchError(
                    f"ledger at {where}: not an SQLite database, or a damaged one ({line})"
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

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

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
        with self._write(lock=PG_LOCK_MIGRATE) as conn:
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

    def counts(self) -> dict[str, int]:
        """Rows per table (for summaries and tests)."""
        with self._read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in t.metadata.tables.items()
            }


def now() -> datetime:
    return datetime.now(UTC)


def chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
