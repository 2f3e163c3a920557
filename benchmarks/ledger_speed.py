"""Ledger write/read speed, exports and the report, on SQLite and (if reachable) PostgreSQL.

    .venv/bin/python benchmarks/ledger_speed.py [--scenes 200] [--pg postgresql://...]

Writes a seeded history the way the stages do (scene + observations, detections per scene,
run, estimate), then reads it back, exports the deliveries CSV and builds the HTML report
(no rasters, so no chips: the report's own cost). Prints one Markdown table row per back-end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import sqlalchemy as sa  # noqa: E402
from ledger.factory import MODEL, build  # noqa: E402

from pipeline.ledger.export import export  # noqa: E402
from pipeline.ledger.store import Ledger  # noqa: E402
from pipeline.report.html import build_report  # noqa: E402


def bench(url: str, n_scenes: int, tmp: Path) -> dict[str, float]:
    sample = build(seed=0, n_scenes=n_scenes)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    led = Ledger(url)
    out["open+migrate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in sample.scenes:
        led.add_scene(s, sample.observations[s.id])
    out["scenes_per_s"] = n_scenes / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for s in sample.scenes:
        led.add_detections(s.id, MODEL, sample.detections[s.id])
    out["detection_scenes_per_s"] = n_scenes / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for s in sample.scenes:  # a resumed run: everything is already there
        led.add_scene(s, sample.observations[s.id])
        led.add_detections(s.id, MODEL, sample.detections[s.id])
    out["resume_scenes_per_s"] = n_scenes / (time.perf_counter() - t0)
    run_id = led.begin_run({"bench": n_scenes}, MODEL)
    for d in sample.deliveries:
        d.run_id = run_id
    t0 = time.perf_counter()
    led.save_estimate(run_id, sample.visits, sample.deliveries, sample.coverage)
    out["save_estimate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    led.scenes(), led.observations(), led.detections(), led.deliveries()
    out["read_all_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    export(led, "deliveries", tmp / "d.csv")
    out["export_deliveries_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_report(led, tmp / "report.html")
    out["report_s"] = time.perf_counter() - t0
    out["deliveries"] = len(sample.deliveries)
    led.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = {"sqlite": bench(f"sqlite:///{tmp / 'l.db'}", args.scenes, tmp)}
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(args.pg)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
            rows["postgresql"] = bench(url, args.scenes, tmp)
        except sa.exc.OperationalError as exc:
            print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
        finally:
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            except sa.exc.OperationalError:
                pass
            engine.dispose()
    keys = list(next(iter(rows.values())))
    print("| back-end | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")


if __name__ == "__main__":
    main()
