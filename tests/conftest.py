"""Shared fixtures: paths to the real yardstick data, PostgreSQL, the CLI runner."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEN2SHIPS = Path(
    os.environ.get("TANKERWATCH_SEN2SHIPS", REPO.parent / "shared" / "data" / "sen2ships")
)
PG_URL = os.environ.get("TANKERWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sen2ships() -> Path:
    """The real Sentinel-2 yardstick; tests that need it skip cleanly when it is absent."""
    if not (SEN2SHIPS / "busan" / "scene.tif").exists():
        pytest.skip(f"real dataset not found at {SEN2SHIPS} (set TANKERWATCH_SEN2SHIPS)")
    return SEN2SHIPS


def _pg_reachable(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3
        ):
            return None
    except Exception as exc:  # any failure means: skip with the reason
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL URL (SQLAlchemy form); skips with the reason when the server is unreachable."""
    problem = _pg_reachable(PG_URL)
    if problem:
        pytest.skip(f"PostgreSQL at {PG_URL} unreachable: {problem}")
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_schema_url(pg_url):
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Run a test against both ledger back-ends: a SQLite file and a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def cli():
    """Run the real `tankerwatch` entry point in a subprocess; returns CompletedProcess."""
    import subprocess
    import sys

    def invoke(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *map(str, args)],
            cwd=cwd or REPO,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return invoke


@pytest.fixture(scope="session")
def small_simulation(tmp_path_factory) -> Path:
    """The tiny scenario (configs/scenarios/tiny.yaml) simulated once per session (a few
    seconds): DIR/scenes/<id>/{scene.tif,scl.tif,labels.geojson,item.json}, DIR/truth/*.csv."""
    from pipeline.simulate.run import simulate

    out = tmp_path_factory.mktemp("sim") / "tiny"
    return simulate(REPO / "configs" / "scenarios" / "tiny.yaml", out)
