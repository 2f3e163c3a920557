"""Real subprocesses: SIGKILL at many points, then resume; two writers at once on one ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.factory import HEAD, build, snapshot
from pipeline.ledger import schema as t
from pipeline.ledger.store import Ledger

WRITER = Path(__file__).with_name("writer.py")
REPO = Path(__file__).resolve().parents[2]


def _write(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(WRITER), url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _spawn(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _ok(proc: subprocess.CompletedProcess) -> int:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


def assert_consistent(url: str) -> None:
    """What a killed writer may leave: whole steps only, never part of one."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if "alembic_version" not in tables:
            # killed inside the first migration: nothing at all was committed
            assert not tables & set(t.metadata.tables), tables
            engine.dispose()
            return
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        obs = dict(
            conn.execute(
                sa.select(t.observations.c.scene_id, sa.func.count()).group_by(
                    t.observations.c.scene_id
                )
            ).all()
        )
        scene_ids = set(conn.execute(sa.select(t.scenes.c.id)).scalars())
        assert set(obs) == scene_ids and set(obs.values()) <= {2}
        n_det = dict(
            conn.execute(
                sa.select(t.detections.c.scene_id, sa.func.count()).group_by(
                    t.detections.c.scene_id
                )
            ).all()
        )
        done = dict(
            conn.execute(
                sa.select(t.scene_processing.c.scene_id, t.scene_processing.c.n_detections)
            ).all()
        )
        assert set(n_det) <= set(done)
        assert all(n_det.get(s, 0) == n for s, n in done.items())
        visits = set(conn.execute(sa.select(t.visits.c.run_id, t.visits.c.id)).all())
        dels = conn.execute(sa.select(t.deliveries.c.run_id, t.deliveries.c.load_visit)).all()
        assert all(tuple(d) in visits for d in dels)
        estimated = set(
            conn.execute(sa.select(t.runs.c.id).where(t.runs.c.estimated_utc.is_not(None)))
            .scalars()
            .all()
        )
        assert {r for r, _ in visits} <= estimated
        for cov in conn.execute(sa.select(t.runs.c.coverage).where(t.runs.c.id.in_(estimated))):
            assert cov[0] is not None
    engine.dispose()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The state an uninterrupted run reaches, and how many statements it executes."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}"
    n = _ok(_write(url))
    return snapshot(url), n


def _reset(url: str) -> None:
    """Empty the ledger (drop every table) so the next writer starts from nothing."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in [*t.metadata.tables, "alembic_version"]:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def test_kill_at_many_points_then_resume(db_url, reference):
    ref, _ = reference
    total = _ok(_write(db_url))  # statements of an uninterrupted run on this back-end
    assert snapshot(db_url) == ref
    # inside the first migration, in the catalogue, in the detections, in the estimate
    for point in (total // 10, (3 * total) // 10, (7 * total) // 10, total - 6):
        _reset(db_url)
        proc = _write(db_url, "--kill-after", str(point))
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        assert_consistent(db_url)
        _ok(_write(db_url))
        assert snapshot(db_url) == ref, f"killed after statement {point}"
    again = _ok(_write(db_url))  # and once more: nothing changes
    assert snapshot(db_url) == ref
    # killed while re-saving the estimate (after deleting the run's old rows): all rolled back
    proc = _write(db_url, "--kill-after", str(again - 6))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert snapshot(db_url) == ref


def test_two_writers_at_once_neither_duplicate_nor_lose(db_url, reference):
    ref, _ = reference
    start_at = str(time.time() + 0.6)
    a = _spawn(db_url, "--start-at", start_at)
    b = _spawn(db_url, "--start-at", start_at, "--reverse")
    for p in (a, b):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    assert snapshot(db_url) == ref


def test_two_runs_at_once_leave_one_current_and_keep_the_other(db_url):
    start_at = str(time.time() + 0.6)
    procs = [_spawn(db_url, "--start-at", start_at, "--config-tag", tag) for tag in "ab"]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    n = len(build(seed=0).deliveries)
    with Ledger(db_url) as led:
        runs = [r for r in led.runs() if r.estimated_utc is not None]
        assert len(runs) == 2
        current = led.latest_run()
        other = next(r for r in runs if r.id != current.id)
        assert other.superseded_by == current.id and current.superseded_by is None
        assert {d.run_id for d in led.current_deliveries()} == {current.id}
        assert len(led.current_deliveries()) == n
        kept = led.deliveries(other.id)
        assert len(kept) == n and {d.superseded_by for d in kept} == {current.id}


def test_two_writers_with_different_scenes_lose_nothing(db_url):
    start_at = str(time.time() + 0.6)
    a = _spawn(db_url, "--catalogue-only", "--seed", "1", "--start-at", start_at)
    b = _spawn(
        db_url,
        "--catalogue-only",
        "--seed",
        "2",
        "--start",
        "2024-09-01T02:10:00+00:00",
        "--start-at",
        start_at,
    )
    for p in (a, b):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    s1, s2 = build(seed=1), build(seed=2, start=_dt("2024-09-01T02:10:00+00:00"))
    want_scenes = {s.id for s in s1.scenes} | {s.id for s in s2.scenes}
    want_dets = {d.id for s in (s1, s2) for ds in s.detections.values() for d in ds}
    snap = snapshot(db_url)
    assert len(snap["scenes"]) == len(want_scenes) == 32
    assert len(snap["detections"]) == len(want_dets)
    assert len(snap["observations"]) == 64
    assert len(snap["scene_processing"]) == 32


def _dt(s: str):
    from datetime import datetime

    return datetime.fromisoformat(s)


def test_writer_is_killed_for_real(tmp_path):
    proc = _write(f"sqlite:///{tmp_path / 'k.db'}", "--kill-after", "30")
    assert proc.returncode == -signal.SIGKILL
    assert os.path.exists(tmp_path / "k.db")
