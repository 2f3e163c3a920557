"""Scaling of the batch runner: 1x, 2x and 4x the scenes on the local executor (time should grow
linearly), then Dask with 1 and 2 workers on the largest set, checked identical to local.

    .venv/bin/python benchmarks/pipeline_scaling.py [--scenario YAML] [--factors 1 2 4]
        [--dask-workers 1 2] [--days N] [--model NAME] [--work DIR] [--json OUT.json] [--threads N]

Factor k simulates the scenario over k times its period with k times its load calls (default:
configs/scenarios/tiny.yaml, three weeks at two ports), so the scene count grows about k-fold
with the same mix of scenes. Each run is `pipeline.run.run_pipeline` on a fresh SQLite ledger
and ingest cache (every scene ingested and detected); the simulation is not timed in the run.
Before the timed runs, an untimed local run of the smallest set (of the next ones while it
detects nothing) loads the lazy imports, the PROJ database and the detector. Dask runs go to a
loopback LocalCluster started beforehand (set up as pipeline.run.executors.DaskExecutor sets up its
own; its start is not timed), given to run_pipeline as its scheduler: a "cold" run, where each
worker process imports the pipeline and loads the detector during "detect", then a "warm" run on
a fresh ledger with the same workers. Stage times are RunSummary.timings_s. Identical = same run
id, ledger row counts, detection ids and lengths, and current deliveries (ids, vessels, barrels)
as the local run on the same scenes. The bundle is copied into the work folder first, so every
run uses the same weights even if models/ changes meanwhile. The script exits 1 when a Dask run
differs from local.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import (  # noqa: E402
    REPO,
    machine,
    markdown,
    released_available,
    resolve_models,
    snapshot,
    warm_footprints,
    write_json,
)


def scaled_scenario(path: Path, k: int, days: int | None = None):
    """The scenario over k times its period (or k times ``days``) with k times its load calls."""
    from pipeline.simulate.scenario import load_scenario

    sc = load_scenario(path)
    days = days or (sc.end - sc.start).days + 1
    calls = sc.calls.model_copy(update={"n_load_calls": sc.calls.n_load_calls * k})
    return sc.model_copy(
        update={
            "name": f"{sc.name}-x{k}",
            "end": sc.start + timedelta(days=days * k - 1),
            "calls": calls,
        }
    )


def ledger_state(db: str):
    from pipeline.ledger.store import Ledger

    with Ledger(db) as ledger:
        dets = sorted((d.id, d.scene_id, round(d.length_m, 3)) for d in ledger.detections())
        dels = sorted(
            (d.id, d.vessel, round(d.barrels_p50, 1)) for d in ledger.current_deliveries()
        )
        return ledger.counts(), dets, dels


def one_run(sc, sim: Path, work: Path, tag: str, model: str | None, scheduler: str | None):
    from pipeline.run import RunConfig, SourceSpec, run_pipeline

    for stale in (work / f"{tag}.db", work / f"{tag}-cache"):  # every run on a fresh ledger
        if stale.is_dir():
            shutil.rmtree(stale)
        stale.unlink(missing_ok=True)
    db = f"sqlite:///{work / f'{tag}.db'}"
    cfg = RunConfig(
        name=f"scaling-{sc.name}",
        ports=sorted(sc.ports),
        start=sc.start,
        end=sc.end,
        sources=[SourceSpec(source="simulated", path=str(sim))],
        model=model,
        db=db,
        cache=str(work / f"{tag}-cache"),
        registry=str(sim / "truth" / "fleet.csv"),
        executor="dask" if scheduler else "local",
        scheduler=scheduler,
    )
    t = time.perf_counter()
    s = run_pipeline(cfg, progress=False)
    total = time.perf_counter() - t
    return s, total, db


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


@contextlib.contextmanager
def local_cluster(n_workers: int):
    """A loopback LocalCluster set up as pipeline.run.executors.DaskExecutor sets up its own."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster.scheduler_address, sorted(client.run(_torch_threads).values())


def main() -> int:
    from pipeline.simulate.run import simulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(REPO / "configs" / "scenarios" / "tiny.yaml"))
    ap.add_argument("--days", type=int, help="base period in days (default: the scenario's)")
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--dask-workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--model", help="bundle name/path, 'baseline' or 'fresh'")
    ap.add_argument("--train-config", help="architecture of a fresh bundle (TrainConfig YAML)")
    ap.add_argument("--work", help="folder for simulations (reused) and ledgers")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=0, help="torch threads here (0: default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tw-scaling-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.model:
            label, model = resolve_models([args.model], work, args.train_config)[0]
        else:
            label, model = ("released", None) if released_available() else ("baseline",) * 2
        model, weights_sha256 = snapshot(model, work)
        base_s = None
        states = {}
        sims = {}
        for k in args.factors:
            sc = scaled_scenario(Path(args.scenario), k, args.days)
            t = time.perf_counter()
            sims[k] = (sc, simulate(sc, work / f"sim-x{k}"), time.perf_counter() - t)
        # untimed runs first (the smallest set, or the next while nothing is detected): lazy
        # imports and the detector load out of the local timings
        warm_footprints()
        for k in sorted(args.factors):
            if one_run(sims[k][0], sims[k][1], work, "warm-up", model, None)[0].detections:
                break

        def record(k: int, executor: str, s, total: float, db: str) -> dict:
            nonlocal base_s
            state = (s.run_id, ledger_state(db))
            row = {
                "factor": k,
                "executor": executor,
                "scenes": s.scenes,
                "detected": s.detected,
                "failed": len(s.failed),
                **{f"{st}_s": v for st, v in s.timings_s.items()},
                "total_s": round(total, 2),
                "s_per_scene": round(total / max(1, s.scenes), 3),
                "detections": s.detections,
                "deliveries": s.deliveries,
                "simulate_s": round(sims[k][2], 1),
                "run_id": s.run_id,
            }
            if executor == "local":
                states[k] = state
                base_s = base_s or row["s_per_scene"]
                row["identical_to_local"] = None
            else:
                row["identical_to_local"] = states[k] == state
            row["per_scene_vs_1x"] = round(row["s_per_scene"] / base_s, 2)
            rows.append(row)
            print(f"x{k} {executor}: {row['scenes']} scenes, {row['total_s']} s", flush=True)
            return row

        for k in args.factors:
            sc, sim, _ = sims[k]
            record(k, "local", *one_run(sc, sim, work, f"x{k}-local", model, None))
        k = max(args.factors)
        sc, sim, _ = sims[k]
        for w in args.dask_workers:
            with local_cluster(w) as (address, threads):
                for run in ("cold", "warm"):  # cold: workers import and load the detector
                    tag = f"x{k}-dask{w}-{run}"
                    row = record(
                        k, f"dask {w}w {run}", *one_run(sc, sim, work, tag, model, address)
                    )
                    row["worker_torch_threads"] = threads
    cols = ["factor", "executor", "scenes", "ingest_s", "detect_s", "portcalls_s"]
    cols += ["estimate_s", "total_s", "s_per_scene", "per_scene_vs_1x", "identical_to_local"]
    print(f"model {label if label == 'released' else model}, weights sha256 {weights_sha256}")
    print(markdown(rows, cols))
    result = {"model": label, "weights_sha256": weights_sha256, "rows": rows}
    result["local_torch_threads"] = _torch_threads()
    write_json(args.json, result | {"machine": machine()})
    differs = [r for r in rows if r["identical_to_local"] is False]
    if differs:
        print(f"Dask differs from local: {[r['executor'] for r in differs]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
