"""The default scenario end to end, time per stage: simulate, then what `tankerwatch demo` runs
(pipeline.demo.run_demo: ingest, detect, portcalls, estimate into a fresh SQLite ledger, then the
deliveries/monthly/caps exports and the HTML report).

    .venv/bin/python benchmarks/pipeline_end_to_end.py [--scenario YAML] [--model NAME]
        [--executor local|dask] [--work DIR] [--json OUT.json] [--threads N]

Stages ingest, detect, portcalls and estimate are RunSummary.timings_s of pipeline.run; "exports +
report" is the rest of run_demo's time. The simulation is timed apart and reused when --work
already holds it (say so with the numbers); the ledger is always new, so every scene is ingested
and detected. Default detector: the released bundle when models/ holds it, else the classical
baseline (a freshly initialised network finds nothing, which would make the later stages
unrepresentatively cheap; --model fresh measures it anyway).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import (  # noqa: E402
    FRESH,
    machine,
    markdown,
    released_available,
    resolve_models,
    snapshot,
    write_json,
)


def end_to_end(scenario: Path, work: Path, model: str | None, executor: str) -> dict:
    from pipeline.demo import run_demo
    from pipeline.simulate.run import simulate

    sim_dir = work / "simulation"
    cached = (sim_dir / "truth").is_dir()
    t = time.perf_counter()
    simulate(scenario, sim_dir)
    simulate_s = time.perf_counter() - t
    for stale in ("ledger.db", "cache"):  # a fresh ledger: every scene ingested and detected
        p = work / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    t = time.perf_counter()
    result = run_demo(work, scenario, executor=executor, model=model, progress=False)
    demo_s = time.perf_counter() - t
    s = result["summary"]
    stages = {"simulate": round(simulate_s, 2), **s.timings_s}
    stages["exports + report"] = round(demo_s - sum(s.timings_s.values()), 2)
    totals = s.coverage.get("totals", {}) if s.coverage else {}
    return {
        "scenario": str(scenario),
        "simulation_cached": cached,
        "executor": executor,
        "stages_s": stages,
        "total_s": round(simulate_s + demo_s, 2),
        "scenes": s.scenes,
        "scenes_detected": s.detected,
        "failed": len(s.failed),
        "detections": s.detections,
        "visits": s.visits,
        "deliveries": s.deliveries,
        "calls_truth": result["truth"].calls,
        "calls_observed": totals.get("calls_observed"),
        "s_per_scene_detect": round(s.timings_s["detect"] / max(1, s.detected), 3),
    }


def main() -> int:
    from pipeline.demo import DEFAULT_SCENARIO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    ap.add_argument("--model", help="bundle name/path, 'baseline' or 'fresh' (default: see top)")
    ap.add_argument("--train-config", help="architecture of a fresh bundle (TrainConfig YAML)")
    ap.add_argument("--executor", choices=["local", "dask"], default="local")
    ap.add_argument("--work", help="output folder (simulation reused if present)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=0, help="torch threads here (0: default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="tw-e2e-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.model:
            label, model = resolve_models([args.model], work, args.train_config)[0]
        else:
            label, model = ("released", None) if released_available() else ("baseline",) * 2
        model, weights_sha256 = snapshot(model, work)
        r = end_to_end(Path(args.scenario), work, model, args.executor)
    r["model"] = label if label in (FRESH, "released") else model
    r["weights_sha256"] = weights_sha256
    import torch

    r["torch_threads"] = torch.get_num_threads()
    print(f"scenario {r['scenario']}, model {r['model']}, executor {r['executor']}")
    print(f"weights sha256 {weights_sha256}")
    rows = [{"stage": k, "seconds": v} for k, v in r["stages_s"].items()]
    rows.append({"stage": "total", "seconds": r["total_s"]})
    print(markdown(rows, ["stage", "seconds"]))
    keys = ["scenes", "scenes_detected", "failed", "detections", "visits", "deliveries"]
    keys += ["calls_truth", "calls_observed", "s_per_scene_detect", "simulation_cached"]
    print(", ".join(f"{k} {r[k]}" for k in keys))
    write_json(args.json, r | {"machine": machine()})
    return 0 if r["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
