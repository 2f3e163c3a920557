"""Detector accuracy, learned bundle vs classical baseline, side by side.

    .venv/bin/python benchmarks/detect_accuracy.py [--model NAME[,NAME...]] [--real DIR | --no-real]
        [--sim DIR] [--sim-max N] [--sim-sensor SENSOR]

- real: the sen2ships scenes the bundle did NOT train on (read from its model.yaml), plus every
  scene for the baseline's reference row;
- sim: a simulated dataset (`tankerwatch simulate --out DIR`, default scenario), scored on up to
  --sim-max scenes (evenly spaced, for time), optionally only the scenes of one sensor
  (``--sim-sensor commercial-3m``: the 3 m scenes).
Several bundles (comma-separated) are scored side by side with the baseline, in one run.
Prints a markdown table (precision, recall, F1, mAP@0.5, length/beam MAE).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def row(label: str, name: str, o: dict) -> str:
    f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    g = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
    return (
        f"| {label} | {name} | {o['n_labels']} | {f(o['precision'])} | {f(o['recall'])} | "
        f"{f(o['f1'])} | {f(o['map50'])} | {g(o['length_mae_m'])} | {g(o['beam_mae_m'])} |"
    )


def subset(root: Path, n: int, sensor: str | None = None) -> Path:
    """A temporary dataset with every k-th scene of ``root`` (symlinks), for time; only the
    scenes of ``sensor`` when given."""
    from pipeline.detect.data import scene_dirs
    from pipeline.simulate.calibration import simulated_scene_dirs

    dirs = simulated_scene_dirs(root, sensor) if sensor else scene_dirs(root)
    if not dirs:
        raise SystemExit(f"{root}: no scenes" + (f" of sensor {sensor}" if sensor else ""))
    step = max(1, len(dirs) // n)
    pick = dirs[::step][:n]
    tmp = Path(tempfile.mkdtemp(prefix="simsub-")) / "scenes"
    tmp.mkdir()
    for d in pick:
        (tmp / d.name).symlink_to(d.resolve())
    return tmp.parent


def main() -> None:
    from pipeline.detect.bundle import DEFAULT_MODEL, load_detector
    from pipeline.detect.evaluate import evaluate_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL, help="bundle(s), comma-separated")
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "sen2ships"))
    ap.add_argument("--no-real", action="store_true", help="skip the real scenes")
    ap.add_argument("--sim", default=None)
    ap.add_argument("--sim-max", type=int, default=120)
    ap.add_argument("--sim-sensor", default=None, help="only the simulated scenes of this sensor")
    args = ap.parse_args()
    models = [load_detector(m) for m in args.model.split(",") if m]
    base = load_detector("baseline")
    detectors = [*models, base]
    held = None
    cfg = models[0].spec.trained.get("holdout_scenes")
    if cfg:
        held = list(cfg)
    print(
        "| data | detector | vessels | precision | recall | F1 | mAP@0.5 | length MAE m | "
        "beam MAE m |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    real = Path(args.real)
    if not args.no_real and real.is_dir():
        label = f"sen2ships held out ({', '.join(held)})" if held else "sen2ships (all)"
        for det in detectors:
            res = evaluate_dataset(real, det, scenes=held)
            print(row(label, det.name, res["overall"]), flush=True)
    if args.sim:
        sub = subset(Path(args.sim), args.sim_max, args.sim_sensor)
        n = len(list((sub / "scenes").iterdir()))
        what = f"{n} {args.sim_sensor} scenes" if args.sim_sensor else f"{n} scenes"
        for det in detectors:
            res = evaluate_dataset(sub, det)
            print(row(f"simulated default scenario ({what})", det.name, res["overall"]), flush=True)


if __name__ == "__main__":
    main()
