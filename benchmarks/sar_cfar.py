"""The SAR CFAR detector on simulated Sentinel-1 scenes of the default scenario's ports.

    PYTHONPATH=. python benchmarks/sar_cfar.py --seeds 21,22,23 --work /tmp/sar-cfar [--fit]

For each seed: the default scenario cut to Sentinel-1 only and to 2024-04-01..2024-05-15
(about 40 scenes over the four ports), simulated into WORK/seed-N (kept and reused), then

- `tankerwatch evaluate`'s scoring (pipeline.detect.evaluate.evaluate_dataset, vessels >= 50 m):
  precision, recall, F1, length and beam MAE, recall alongside / in open water;
- recall at berths: labels whose role is a berth role (load, discharge, other), any length;
- with --fit: the least-squares line of bright extent against true length over the matched
  detections (the CfarDetector's ``length_gain`` / ``length_bias_m`` come from the tuning seeds
  11 and 12), measured with the correction switched off.

Prints one JSON line per seed and the mean and spread over seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import date
from pathlib import Path

import numpy as np

BERTH_ROLES = ("load", "discharge", "other")


def simulate_seed(seed: int, work: Path) -> Path:
    from pipeline.simulate.run import simulate
    from pipeline.simulate.scenario import load_scenario

    sc = load_scenario()
    plan = [p for p in sc.sensors if p.name == "sentinel-1-grd"]
    sc = sc.model_copy(
        update={"sensors": plan, "start": date(2024, 4, 1), "end": date(2024, 5, 15), "ais": None}
    )
    return simulate(sc, work / f"seed-{seed}", seed=seed)


def berth_recall(root: Path, detector) -> dict:
    """Recall of the labels at berths (role load / discharge / other), any length."""
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.evaluate import match
    from pipeline.detect.geometry import to_crs
    from pipeline.detect.infer import detect_scene
    from pipeline.detect.land import scene_land_or_none

    found = total = 0
    pairs = []
    for d in scene_dirs(root):
        fc = json.loads((d / "labels.geojson").read_text())
        land, _ = scene_land_or_none(d)
        dets = detect_scene(d / "scene.tif", detector, land=land)
        if not fc["features"]:
            continue
        from shapely.geometry import Point, shape

        from pipeline.detect.evaluate import _utm_of

        geoms = [shape(f["geometry"]) for f in fc["features"]]
        crs = _utm_of(geoms)
        shapes = [to_crs(g, "EPSG:4326", crs) for g in geoms]
        pts = [to_crs(Point(x.lon, x.lat), "EPSG:4326", crs) for x in dets]
        matched = {j: i for i, j, _ in match(pts, shapes)}
        for j, f in enumerate(fc["features"]):
            p = f["properties"]
            if j in matched:
                pairs.append((dets[matched[j]].length_m, p["length_m"]))
            if p.get("role") in BERTH_ROLES:
                total += 1
                found += j in matched
    return {"berth_recall": round(found / total, 4) if total else None, "berth_n": total}, pairs


def main() -> None:
    from pipeline.detect.cfar import CfarDetector
    from pipeline.detect.evaluate import evaluate_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="21,22,23")
    ap.add_argument("--work", default="/tmp/sar-cfar")
    ap.add_argument("--fit", action="store_true", help="fit the length relation (no correction)")
    args = ap.parse_args()
    work = Path(args.work)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        root = simulate_seed(seed, work)
        det = CfarDetector()
        if args.fit:
            det.length_bias_m, det.length_gain, det.beam_bias_m = 0.0, 1.0, 0.0
        res = evaluate_dataset(root, det, min_length_m=50.0, on_skip=lambda *a: None)
        o = res["overall"]
        br, pairs = berth_recall(root, det)
        row = {
            "seed": seed,
            "scenes": len(res["scenes"]),
            **{k: o[k] for k in ("precision", "recall", "f1", "length_mae_m", "beam_mae_m")},
            **{k: o[k] for k in ("tp", "fp", "fn")},
            "recall_alongside": o.get("recall_alongside", {}).get("recall"),
            "recall_open": o.get("recall_open", {}).get("recall"),
            **br,
        }
        if args.fit and pairs:
            m, t = np.array(pairs).T
            gain, bias = np.polyfit(t, m, 1)
            row["fit"] = {"gain": round(float(gain), 3), "bias_m": round(float(bias), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    for k in ("precision", "recall", "f1", "length_mae_m", "berth_recall", "recall_alongside"):
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"{k}: mean {statistics.mean(vals):.3f}, min {min(vals):.3f}, sd {sd:.3f}")


if __name__ == "__main__":
    main()
