"""Leave-one-port-out cross-validation of a training recipe (configs/train/*.yaml).

    .venv/bin/python benchmarks/detect_cv.py --config configs/train/NAME.yaml --out DIR
        [--ports a,b,...] [--steps N] [--precision fp32|bf16|auto] [--min-length 0,60]
        [--thresholds 0.3,0.35,...]

For every port (scene) of the config's first real dataset (all of them, whatever the config
excludes or holds out; ``--ports`` to choose), the recipe is trained on the other ports (plus the
config's simulated chips) into DIR/fold-<port>/ (resumable: each fold is an ordinary ``train``
run with its own checkpoint) and scored on the port left out under each rule (strict, and
mission-size ``--min-length``), with recall alongside / in open water. The summary gives per
fold numbers and their mean and spread, and the out-of-fold predictions of all folds pooled;
with ``--thresholds``, the score threshold chosen leave-one-port-out on those pooled out-of-fold
predictions. Written to DIR/cv.json and printed as markdown.

This trains one bundle per port: hours on the development CPU for a full recipe. Tests run it on
a tiny config in seconds. A fine-tuning recipe (``init``: a bundle to start from) may leave out
only ports that bundle never trained on (its ``trained.holdout_scenes``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def fold_config(
    cfg, port: str, root: Path, steps: int | None, precision: str | None = None
) -> dict:
    """The recipe trained on every port of ``root`` except ``port``, held out on ``port``
    (``steps`` / ``precision``: overrides of the recipe's)."""
    from pipeline.detect.train_config import resolve_root

    data = cfg.model_dump(mode="json")
    real = []
    for r in data["real"]:
        r = dict(r)
        r["root"] = str(resolve_root(r["root"]).resolve())
        if Path(r["root"]) == root:
            r["scenes"] = None
            r["exclude"] = [port]
        real.append(r)
    data["real"] = real
    data["holdout"] = [{"root": str(root), "scenes": [port], "label": f"fold-{port}"}]
    data["name"] = f"{cfg.name}-cv-{port}"
    if steps:
        data["steps"] = steps
    if precision:
        data["precision"] = precision
    if data.get("simulated") and data["simulated"].get("root"):
        data["simulated"]["root"] = str(resolve_root(data["simulated"]["root"]).resolve())
    return data


def spread(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "sd": None, "min": None, "max": None}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": round(statistics.mean(values), 4),
        "sd": round(sd, 4),
        "min": min(values),
        "max": max(values),
    }


def run_cv(
    config: Path,
    out: Path,
    ports=None,
    steps=None,
    rules=(0.0, 60.0),
    thresholds=None,
    precision=None,
):
    import yaml
    from detect_accuracy import best_threshold, collect, f1_at, score

    from pipeline.detect.bundle import load_detector
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.train import train
    from pipeline.detect.train_config import load_train_config, resolve_root
    from pipeline.errors import TankerWatchError

    cfg = load_train_config(config)
    if not cfg.real:
        raise TankerWatchError(f"{config}: no real dataset to fold over by port")
    root = resolve_root(cfg.real[0].root).resolve()
    all_ports = [d.name for d in scene_dirs(root)]
    ports = list(ports) if ports else all_ports
    unknown = sorted(set(ports) - set(all_ports))
    if unknown:
        raise TankerWatchError(f"{root}: ports not found: {', '.join(unknown)}")
    if len(ports) < 2:
        raise TankerWatchError("cross-validation needs at least two ports")
    if cfg.init:
        # a fine-tuning recipe: its starting weights must never have seen a port left out
        from pipeline.detect.bundle import read_spec, resolve_bundle_dir

        unseen = set(
            (read_spec(resolve_bundle_dir(cfg.init)).trained or {}).get("holdout_scenes") or []
        )
        seen = sorted(set(ports) - unseen)
        if seen:
            raise TankerWatchError(
                f"{config}: init {cfg.init} was trained on {', '.join(seen)}: a fold cannot "
                f"leave out a port its starting weights saw (--ports among: "
                f"{', '.join(sorted(unseen)) or 'none'})"
            )
    out.mkdir(parents=True, exist_ok=True)
    pooled: dict = {}
    folds: dict = {}
    for port in ports:
        fdir = out / f"fold-{port}"
        fdir.mkdir(exist_ok=True)
        cpath = fdir / "config.yaml"
        fold = fold_config(cfg, port, root, steps, precision)
        cpath.write_text(yaml.safe_dump(fold, sort_keys=False))
        if (
            not (fdir / "bundle" / "weights.safetensors").exists()
            or (fdir / "bundle" / "checkpoint").exists()
        ):
            train(cpath, fdir / "bundle")
        det = load_detector(fdir / "bundle")
        shipped = det.spec.thresholds.score
        coll = collect(root, det, [port], thresholds[0] if thresholds else None)
        pooled.update({port: (*coll[port], shipped)})
        folds[port] = {str(m): score(coll, shipped, m)["overall"] for m in rules}
    summary: dict = {
        "config": str(config),
        "ports": ports,
        "steps": steps or cfg.steps,
        "precision": precision or cfg.precision,
        "folds": folds,
        "rules": {},
    }
    for m in rules:
        key = str(m)
        per = [folds[p][key] for p in ports]
        pooled_coll = {p: v[:3] for p, v in pooled.items()}
        entry = {
            "f1": spread([o["f1"] for o in per]),
            "precision": spread([o["precision"] for o in per]),
            "recall": spread([o["recall"] for o in per]),
            "recall_alongside": spread(
                [(o.get("recall_alongside") or {}).get("recall") for o in per]
            ),
            "length_mae_m": spread([o["length_mae_m"] for o in per]),
            "pooled": score(pooled_coll, cfg.thresholds.score, m)["overall"],
        }
        if thresholds:
            chosen = {}
            for p in ports:
                t = best_threshold(pooled_coll, thresholds, m, set(ports) - {p})
                chosen[p] = {"threshold": t, "f1": f1_at(pooled_coll, t, m, {p})}
            entry["threshold_cv"] = chosen
        summary["rules"][key] = entry
    (out / "cv.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def print_summary(s: dict) -> None:
    for m, e in s["rules"].items():
        rule = "all vessels" if not float(m) else f"vessels >= {float(m):g} m"
        print(f"\n**{rule}** (leave-one-port-out, {len(s['ports'])} folds)\n")
        print("| port left out | precision | recall | F1 | recall alongside | length MAE m |")
        print("| --- | --- | --- | --- | --- | --- |")
        for p in s["ports"]:
            o = s["folds"][p][m]
            ra = (o.get("recall_alongside") or {}).get("recall")
            print(
                f"| {p} | {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} | "
                f"{'n/a' if ra is None else f'{ra:.3f}'} | {o['length_mae_m']} |"
            )
        f = e["f1"]
        print(f"\nF1 over folds: mean {f['mean']} sd {f['sd']} (min {f['min']}, max {f['max']});")
        print(
            f"pooled out-of-fold: F1 {e['pooled']['f1']} (P {e['pooled']['precision']}, "
            f"R {e['pooled']['recall']})"
        )
        if "threshold_cv" in e:
            print(
                "threshold chosen on the other folds: "
                + "; ".join(
                    f"{p} {c['threshold']:g} (F1 {c['f1']:.3f})"
                    for p, c in e["threshold_cv"].items()
                )
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ports", default=None, help="comma-separated (default: every port)")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    ap.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], help="override the recipe's precision"
    )
    ap.add_argument("--min-length", default="0,60")
    ap.add_argument("--thresholds", default=None)
    args = ap.parse_args()
    from pipeline.errors import TankerWatchError

    try:
        s = run_cv(
            args.config,
            args.out,
            ports=args.ports.split(",") if args.ports else None,
            steps=args.steps,
            rules=[float(v) for v in args.min_length.split(",")],
            thresholds=sorted(float(v) for v in args.thresholds.split(","))
            if args.thresholds
            else None,
            precision=args.precision,
        )
    except TankerWatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print_summary(s)


if __name__ == "__main__":
    main()
