"""Detector accuracy, learned bundle vs classical baseline, side by side, under the strict and the
mission-size rules, with recall alongside / in open water and length MAE per size class.

    .venv/bin/python benchmarks/detect_accuracy.py [--model NAME[,NAME...]] [--real DIR | --no-real]
        [--all-real] [--sim DIR] [--sim-max N] [--sim-sensor SENSOR] [--min-length 0,60]
        [--thresholds 0.2,0.25,...] [--no-baseline] [--json OUT]

- real: the sen2ships scenes the bundle did NOT train on (read from its model.yaml), plus every
  scene for the baseline's reference row; ``--all-real``: all seven ports, per port (the ports a
  bundle trained on are marked "trained on");
- sim: a simulated dataset (`tankerwatch simulate --out DIR`, default scenario), scored on up to
  --sim-max scenes (evenly spaced, for time), optionally only the scenes of one sensor
  (``--sim-sensor commercial-3m``: the 3 m scenes);
- ``--min-length``: the rules to score (0: strict, every label; 60: mission-sized vessels, see
  ``tankerwatch evaluate --min-length``), all from the same detections;
- ``--thresholds``: each bundle detects once at the lowest threshold given and is scored at each
  (greedy point NMS keeps the same survivors above a threshold whatever lies below it): F1 per
  threshold, per port, and the threshold chosen leave-one-port-out (on the other ports, pooled)
  scored on the port left out; on simulated scenes, chosen on the even scenes and scored on the
  odd ones and the other way round.
Several bundles (comma-separated) are scored side by side with the baseline, in one run. Prints
markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def f3(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def f1d(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def split(r: dict | None) -> str:
    return "n/a" if not r or not r["n"] else f"{r['recall']:.2f} ({r['tp']}/{r['n']})"


def row(label: str, name: str, o: dict) -> str:
    sizes = o.get("length_mae_by_size", {})
    by_size = (
        " | ".join(f"{f1d(v['mae_m'])} ({v['n']})" for v in sizes.values())
        if sizes
        else "n/a | n/a | n/a"
    )
    return (
        f"| {label} | {name} | {o['n_labels']} | {f3(o['precision'])} | {f3(o['recall'])} | "
        f"{f3(o['f1'])} | {f3(o['map50'])} | {f1d(o['length_mae_m'])} | "
        f"{split(o.get('recall_alongside'))} | {split(o.get('recall_open'))} | {by_size} |"
    )


HEADER = (
    "| data | detector | vessels | precision | recall | F1 | mAP@0.5 | length MAE m | "
    "recall alongside | recall open water | length MAE 60-120 m (n) | 120-200 m (n) | "
    "> 200 m (n) |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
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


_LAND: dict[Path, object] = {}


def collect(root: Path, det, scenes: list[str] | None, lowest: float | None) -> dict:
    """{scene: (detections, labels, land)} with the bundle's threshold lowered to ``lowest``."""
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.geometry import read_labels
    from pipeline.detect.infer import detect_scene
    from pipeline.detect.land import scene_land

    spec = getattr(det, "spec", None)
    if lowest is not None and spec is not None:
        spec.thresholds.score = lowest
    out = {}
    for d in scene_dirs(root):
        if scenes is not None and d.name not in scenes:
            continue
        key = d.resolve()
        if key not in _LAND:
            _LAND[key] = scene_land(d)[0]
        dets = detect_scene(d / "scene.tif", det, scene_id=d.name)
        out[d.name] = (dets, read_labels(d / "labels.geojson"), _LAND[key])
    return out


_SCORED: dict = {}


def scene_scores(collected: dict, threshold: float | None, min_length: float, names=None) -> dict:
    """score_scene of each scene at ``threshold`` (None: as detected), cached: a sweep scores the
    same detections many times."""
    from pipeline.detect.evaluate import score_scene

    per = {}
    for name, (dets, labels, land) in collected.items():
        if names is not None and name not in names:
            continue
        key = (id(dets), threshold, min_length)
        if key not in _SCORED:
            kept = [d for d in dets if threshold is None or d.score >= threshold]
            s = score_scene(kept, labels, min_length_m=min_length, land=land)
            if land is None:
                s["alongside"], s["open"] = {"tp": 0, "fn": 0}, {"tp": s["tp"], "fn": s["fn"]}
            _SCORED[key] = (dets, s)  # holding dets keeps its id from being reused
        per[name] = _SCORED[key][1]
    return per


def score(collected: dict, threshold: float | None, min_length: float, names=None) -> dict:
    """{"overall", "scenes"} like evaluate_dataset, at ``threshold`` (None: as detected)."""
    from pipeline.detect.evaluate import summarise

    per = scene_scores(collected, threshold, min_length, names)
    return {"overall": summarise(per), "scenes": {k: summarise({k: v}) for k, v in per.items()}}


def f1_at(collected: dict, threshold: float, min_length: float, names=None) -> float:
    """F1 alone (no mAP: cheap enough for sweeps)."""
    per = scene_scores(collected, threshold, min_length, names).values()
    tp, fp, fn = (sum(s[k] for s in per) for k in ("tp", "fp", "fn"))
    return round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (
        f"{statistics.mean(values):.3f} ± {sd:.3f} (min {min(values):.3f}, max {max(values):.3f})"
    )


def best_threshold(collected, thresholds, min_length, names) -> float:
    f1 = [(f1_at(collected, t, min_length, names), t) for t in thresholds]
    return max(f1, key=lambda x: (x[0], -abs(x[1] - 0.4)))[1]


def sweep(label: str, collected: dict, thresholds, shipped: float, groups: dict, rules):
    """F1 per threshold (pooled and per group) and the cross-validated choice."""
    res = {}
    for m in rules:
        rule = "all vessels" if not m else f"vessels >= {m:g} m"
        print(f"\n**{label}, rule: {rule}**: F1 by score threshold\n")
        print("| scenes | " + " | ".join(f"{t:g}" for t in thresholds) + " |")
        print("| --- |" + " --- |" * len(thresholds))
        table = {}
        every = set().union(*groups.values())
        for g, names in [("all", every), *groups.items()]:
            f1s = [f1_at(collected, t, m, names) for t in thresholds]
            table[g] = dict(zip(map(str, thresholds), f1s, strict=True))
            print(f"| {g} | " + " | ".join(f"{v:.3f}" for v in f1s) + " |", flush=True)
        # cross-validation over the groups: choose on the others, score the one left out
        cv = {}
        for g, names in groups.items():
            others = {n for h, ns in groups.items() if h != g for n in ns}
            t = best_threshold(collected, thresholds, m, others)
            cv[g] = {
                "threshold": t,
                "f1_at_chosen": f1_at(collected, t, m, names),
                "f1_at_shipped": f1_at(collected, shipped, m, names),
            }
        print(
            "\nleft out -> threshold chosen on the others: F1 there (F1 at the shipped "
            f"{shipped:g}): "
            + "; ".join(
                f"{g} -> {c['threshold']:g}: {c['f1_at_chosen']:.3f} ({c['f1_at_shipped']:.3f})"
                for g, c in cv.items()
            )
        )
        res[str(m)] = {"f1_by_threshold": table, "cv": cv}
    return res


def report(label: str, collected: dict, det_name: str, threshold, rules, per_port: bool, tag=None):
    out = {}
    for m in rules:
        r = score(collected, threshold, m)
        rule = "all vessels" if not m else f"vessels >= {m:g} m"
        print(row(f"{label}, {rule}", det_name, r["overall"]), flush=True)
        if per_port:
            for name, o in r["scenes"].items():
                mark = f" ({tag(name)})" if tag and tag(name) else ""
                print(row(f"{label} / {name}{mark}, {rule}", det_name, o), flush=True)
        out[str(m)] = r
    return out


def main() -> None:
    from pipeline.detect.bundle import DEFAULT_MODEL, load_detector

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL, help="bundle(s), comma-separated")
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "sen2ships"))
    ap.add_argument("--no-real", action="store_true", help="skip the real scenes")
    ap.add_argument("--all-real", action="store_true", help="all real ports, per port")
    ap.add_argument("--sim", default=None)
    ap.add_argument("--sim-max", type=int, default=120)
    ap.add_argument("--sim-sensor", default=None, help="only the simulated scenes of this sensor")
    ap.add_argument("--min-length", default="0,60", help="rules: minimum lengths, comma-separated")
    ap.add_argument("--thresholds", default=None, help="score thresholds to sweep")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", default=None, help="write all results here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    rules = [float(v) for v in args.min_length.split(",")]
    thresholds = sorted(float(v) for v in args.thresholds.split(",")) if args.thresholds else None
    detectors = [load_detector(m) for m in args.model.split(",") if m]
    if not args.no_baseline:
        detectors.append(load_detector("baseline"))
    held = list(detectors[0].spec.trained.get("holdout_scenes") or []) or None
    results: dict = {}
    print(HEADER)
    real = Path(args.real)
    sweeps = []
    if not args.no_real and real.is_dir():
        names = None if args.all_real else held
        label = "sen2ships " + ("all ports" if names is None else f"held out ({', '.join(names)})")
        for det in detectors:
            spec = getattr(det, "spec", None)
            shipped = spec.thresholds.score if spec else None
            trained_held = list(spec.trained.get("holdout_scenes") or []) if spec else []
            tag = (lambda n, h=trained_held: "" if n in h else "trained on") if spec else None
            coll = collect(real, det, names, thresholds[0] if thresholds and spec else None)
            results[f"real/{det.name}"] = report(
                label, coll, det.name, shipped, rules, args.all_real, tag
            )
            if args.all_real and trained_held:
                for m in rules:
                    r = score(coll, shipped, m, set(trained_held))
                    rl = "all vessels" if not m else f"vessels >= {m:g} m"
                    print(
                        row(
                            f"sen2ships held out ({', '.join(trained_held)}), {rl}",
                            det.name,
                            r["overall"],
                        )
                    )
                    f1s = [r["scenes"][n]["f1"] for n in trained_held]
                    results[f"real/{det.name}"][f"heldout/{m}"] = r
                    results[f"real/{det.name}"][f"heldout_spread/{m}"] = f1s
            if thresholds and spec:
                ports = sorted(coll)
                sweeps.append((f"sen2ships, {det.name}", coll, shipped, {p: {p} for p in ports}))
                if trained_held:
                    held_groups = {p: {p} for p in trained_held}
                    sweeps.append(
                        (f"sen2ships held-out ports only, {det.name}", coll, shipped, held_groups)
                    )
    if args.sim:
        sub = subset(Path(args.sim), args.sim_max, args.sim_sensor)
        n = len(list((sub / "scenes").iterdir()))
        what = f"{n} {args.sim_sensor} scenes" if args.sim_sensor else f"{n} scenes"
        for det in detectors:
            spec = getattr(det, "spec", None)
            shipped = spec.thresholds.score if spec else None
            coll = collect(sub, det, None, thresholds[0] if thresholds and spec else None)
            label = f"simulated default scenario ({what})"
            results[f"sim/{det.name}"] = report(label, coll, det.name, shipped, rules, False)
            if thresholds and spec:
                names = sorted(coll)
                halves = {"even scenes": set(names[0::2]), "odd scenes": set(names[1::2])}
                sweeps.append((f"{label}, {det.name}", coll, shipped, halves))
    for label, coll, shipped, groups in sweeps:
        results[f"sweep/{label}"] = sweep(label, coll, thresholds, shipped, groups, rules)
    for key, r in results.items():
        for m in rules:
            if "scenes" in r.get(str(m), {}) and len(r[str(m)]["scenes"]) <= 12:
                f1s = [o["f1"] for o in r[str(m)]["scenes"].values()]
                print(f"\n{key}, rule {m:g} m: F1 over scenes {spread(f1s)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
