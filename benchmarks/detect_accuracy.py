"""Detector accuracy, learned bundle vs classical baseline, side by side.

    .venv/bin/python benchmarks/detect_accuracy.py [--model NAME] [--real DIR] [--sim DIR]
        [--sim-max N]

- real: the sen2ships scenes the bundle did NOT train on (read from its model.yaml), plus every
  scene for the baseline's reference row;
- sim: a simulated dataset (`tankerwatch simulate --out DIR`, default scenario), scored on up to
  --sim-max scenes (evenly spaced, for time).
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


def subset(root: Path, n: int) -> Path:
    """A temporary dataset with every k-th scene of ``root`` (symlinks), for time."""
    from pipeline.detect.data import scene_dirs

    dirs = scene_dirs(root)
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
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "sen2ships"))
    ap.add_argument("--sim", default=None)
    ap.add_argument("--sim-max", type=int, default=120)
    args = ap.parse_args()
    learned = load_detector(args.model)
    base = load_detector("baseline")
    held = None
    cfg = learned.spec.trained.get("holdout_scenes")
    if cfg:
        held = list(cfg)
    print(
        "| data | detector | vessels | precision | recall | F1 | mAP@0.5 | length MAE m | "
        "beam MAE m |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    real = Path(args.real)
    if (real).is_dir():
        label = f"sen2ships held out ({', '.join(held)})" if held else "sen2ships (all)"
        for det in (learned, base):
            res = evaluate_dataset(real, det, scenes=held)
            print(row(label, det.name, res["overall"]), flush=True)
    if args.sim:
        sub = subset(Path(args.sim), args.sim_max)
        n = len(list((sub / "scenes").iterdir()))
        for det in (learned, base):
            res = evaluate_dataset(sub, det)
            print(
                row(f"simulated default scenario ({n} scenes)", det.name, res["overall"]),
                flush=True,
            )


if __name__ == "__main__":
    main()
