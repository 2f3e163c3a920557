"""Cross-validation of a training recipe (configs/train/*.yaml) by port: one port or a group
of ports left out per fold.

    .venv/bin/python benchmarks/detect_cv.py --config configs/train/NAME.yaml --out DIR
        [--ports a,b,... | --folds a+b,c+d+e,... [--only a+b]] [--steps N]
        [--precision fp32|bf16|auto] [--min-length 0,60] [--thresholds 0.3,0.35,...]
        [--record BUNDLE [--record-note TEXT]]

For every port (scene) of the config's first real dataset (all of them, whatever the config
excludes or holds out; ``--ports`` to choose), the recipe is trained on the other ports (plus the
config's simulated chips) into DIR/fold-<port>/ (resumable: each fold is an ordinary ``train``
run with its own checkpoint) and scored on the port left out under each rule (strict, and
mission-size ``--min-length``), with recall alongside / in open water. The summary gives per
fold numbers and their mean and spread, and the out-of-fold predictions of all folds pooled;
with ``--thresholds``, the score threshold chosen leave-one-fold-out on those pooled out-of-fold
predictions. Written to DIR/cv.json and printed as markdown.

``--record BUNDLE`` writes the result into a bundle trained with the same recipe on every port
(its metrics.json ``cross_validation`` and card.md; refused for a bundle of another recipe).

``--folds`` groups ports: each group is left out together (DIR/fold-a+b/), so three folds can
cover every port at the cost of three trainings; every port is still scored by a model that
never saw it. A finished fold is not trained again, so several processes may each train one
fold (``--only a+b``, with the same ``--folds``) into the same DIR, and a last run without
``--only`` scores them together.

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
    cfg, ports: list[str], root: Path, steps: int | None, precision: str | None = None
) -> dict:
    """The recipe trained on every port of ``root`` except ``ports``, held out on ``ports``
    (``steps`` / ``precision``: overrides of the recipe's)."""
    from pipeline.detect.train_config import resolve_root

    data = cfg.model_dump(mode="json")
    real = []
    for r in data["real"]:
        r = dict(r)
        r["root"] = str(resolve_root(r["root"]).resolve())
        if Path(r["root"]) == root:
            r["scenes"] = None
            r["exclude"] = list(ports)
        real.append(r)
    data["real"] = real
    name = fold_name(ports)
    data["holdout"] = [{"root": str(root), "scenes": list(ports), "label": f"fold-{name}"}]
    data["name"] = f"{cfg.name}-cv-{'_'.join(ports)}"
    if steps:
        data["steps"] = steps
    if precision:
        data["precision"] = precision
    if data.get("simulated") and data["simulated"].get("root"):
        data["simulated"]["root"] = str(resolve_root(data["simulated"]["root"]).resolve())
    return data


def fold_name(ports: list[str]) -> str:
    return "+".join(ports)


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
    folds=None,
    only=None,
):
    """``ports``: leave each out in turn (default: every port); ``folds``: lists of ports left
    out together; ``only``: train that fold alone (its name) and return None (several
    processes side by side, then one run over all folds to score)."""
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
    if folds is not None and ports is not None:
        raise TankerWatchError("give ports or folds, not both")
    groups = [list(g) for g in folds] if folds else [[p] for p in (ports or all_ports)]
    ports = [p for g in groups for p in g]
    unknown = sorted(set(ports) - set(all_ports))
    if unknown:
        raise TankerWatchError(f"{root}: ports not found: {', '.join(unknown)}")
    repeated = sorted({p for p in ports if ports.count(p) > 1})
    if repeated:
        raise TankerWatchError(f"ports in more than one fold: {', '.join(repeated)}")
    if len(groups) < 2:
        raise TankerWatchError("cross-validation needs at least two folds")
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
    if only is not None and only not in [fold_name(g) for g in groups]:
        raise TankerWatchError(
            f"--only {only}: not a fold (folds: {', '.join(fold_name(g) for g in groups)})"
        )
    out.mkdir(parents=True, exist_ok=True)
    pooled: dict = {}
    per_fold: dict = {}
    per_port: dict = {}
    for group in groups:
        name = fold_name(group)
        if only is not None and name != only:
            continue
        fdir = out / f"fold-{name}"
        fdir.mkdir(exist_ok=True)
        cpath = fdir / "config.yaml"
        fold = fold_config(cfg, group, root, steps, precision)
        cpath.write_text(yaml.safe_dump(fold, sort_keys=False))
        if (
            not (fdir / "bundle" / "weights.safetensors").exists()
            or (fdir / "bundle" / "checkpoint").exists()
        ):
            train(cpath, fdir / "bundle")
        if only is not None:
            return None
        det = load_detector(fdir / "bundle")
        shipped = det.spec.thresholds.score
        coll = collect(root, det, group, thresholds[0] if thresholds else None)
        pooled.update({p: (*coll[p], shipped) for p in group})
        per_fold[name] = {str(m): score(coll, shipped, m)["overall"] for m in rules}
        for m in rules:
            for p, o in score(coll, shipped, m)["scenes"].items():
                per_port.setdefault(p, {})[str(m)] = o
    names = [fold_name(g) for g in groups]
    summary: dict = {
        "config": str(config),
        "ports": ports,
        "folds_ports": {fold_name(g): g for g in groups},
        "steps": steps or cfg.steps,
        "precision": precision or cfg.precision,
        "threshold": cfg.thresholds.score,
        # what a bundle recorded with this CV must have been trained with (--record)
        "recipe": fold_config(cfg, groups[0], root, steps, precision),
        "folds": per_fold,
        "port_scores": per_port,
        "rules": {},
    }
    for m in rules:
        key = str(m)
        per = [per_fold[n][key] for n in names]
        pooled_coll = {p: v[:3] for p, v in pooled.items()}
        entry = {
            "f1": spread([o["f1"] for o in per]),
            "precision": spread([o["precision"] for o in per]),
            "recall": spread([o["recall"] for o in per]),
            "recall_alongside": spread(
                [(o.get("recall_alongside") or {}).get("recall") for o in per]
            ),
            "length_mae_m": spread([o["length_mae_m"] for o in per]),
            "port_f1": spread([per_port[p][key]["f1"] for p in ports]),
            "pooled": score(pooled_coll, cfg.thresholds.score, m)["overall"],
        }
        if thresholds:
            chosen = {}
            for g in groups:
                t = best_threshold(pooled_coll, thresholds, m, set(ports) - set(g))
                chosen[fold_name(g)] = {"threshold": t, "f1": f1_at(pooled_coll, t, m, set(g))}
            entry["threshold_cv"] = chosen
            entry["threshold_all"] = best_threshold(pooled_coll, thresholds, m, set(ports))
        summary["rules"][key] = entry
    (out / "cv.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _row(label: str, o: dict) -> str:
    ra = (o.get("recall_alongside") or {}).get("recall")
    return (
        f"| {label} | {o['n_labels']} | {o['precision']:.3f} | {o['recall']:.3f} | "
        f"{o['f1']:.3f} | {'n/a' if ra is None else f'{ra:.3f}'} | {o['length_mae_m']} |"
    )


def print_summary(s: dict) -> None:
    folds = s.get("folds_ports") or {p: [p] for p in s["ports"]}
    for m, e in s["rules"].items():
        rule = "all vessels" if not float(m) else f"vessels >= {float(m):g} m"
        print(f"\n**{rule}** ({len(folds)} folds by port)\n")
        print("| left out | vessels | precision | recall | F1 | recall alongside | length MAE m |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, group in folds.items():
            print(_row(f"fold {name}", s["folds"][name][m]))
            if len(group) > 1:
                for p in group:
                    print(_row(f"  {p}", s["port_scores"][p][m]))
        f = e["f1"]
        print(f"\nF1 over folds: mean {f['mean']} sd {f['sd']} (min {f['min']}, max {f['max']});")
        if "port_f1" in e:
            f = e["port_f1"]
            print(f"F1 over ports: mean {f['mean']} sd {f['sd']} (min {f['min']}, max {f['max']});")
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
                + f"; on all folds pooled: {e['threshold_all']:g}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ports", default=None, help="comma-separated (default: every port)")
    ap.add_argument(
        "--folds", default=None, help="ports left out together: a+b,c+d+e (instead of --ports)"
    )
    ap.add_argument("--only", default=None, help="train this fold alone (a+b), score nothing")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    ap.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], help="override the recipe's precision"
    )
    ap.add_argument("--min-length", default="0,60")
    ap.add_argument(
        "--record",
        type=Path,
        default=None,
        help="a bundle trained with this recipe on every port: write the CV into its "
        "metrics.json and card",
    )
    ap.add_argument("--record-note", default="", help="a sentence for the card's CV section")
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
            folds=[g.split("+") for g in args.folds.split(",")] if args.folds else None,
            only=args.only,
        )
        if s is None:
            return
        if args.record:
            from pipeline.detect.card import record_cross_validation

            record_cross_validation(args.record, s, args.record_note)
    except TankerWatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print_summary(s)


if __name__ == "__main__":
    main()
