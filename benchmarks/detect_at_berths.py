"""The detector where the estimate needs it: tankers at load and discharge berths, per sensor.

    .venv/bin/python benchmarks/detect_at_berths.py --sim DIR [DIR...] [--model M]
        [--models S=M,...] [--every K] [--json OUT]

On a simulated scenario (``tankerwatch simulate --out DIR [--seed N]``), every scene holding a
tanker at a load or discharge berth (label role ``load`` / ``discharge``, at most half under
cloud) is detected with its sensor's model, and the labels are matched as in ``evaluate``
(centre within 30 m of the footprint, one-to-one). Printed per sensor and model: recall of those
berthed tankers, and the length / beam error of the matched ones (mean absolute, root mean
square, bias = mean, sd = spread around the bias), pooled over the simulations given. These
are the numbers behind ``coverage.detector_recall`` and
``portcalls.size_error`` in configs/estimate: measure them on a simulation with another seed than
the one you score the estimate on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.simulate.calibration import scene_sensor  # noqa: E402

BERTHED = ("load", "discharge")


def berthed_labels(folder: Path) -> list[dict]:
    from pipeline.detect.evaluate import OCCLUDED_IGNORE
    from pipeline.detect.geometry import read_labels

    raw = json.loads((folder / "labels.geojson").read_text())["features"]
    labels = read_labels(folder / "labels.geojson")
    return [
        lab | {"role": f["properties"].get("role")}
        for lab, f in zip(labels, raw, strict=True)
        if f["properties"].get("role") in BERTHED and lab["occluded"] <= OCCLUDED_IGNORE
    ]


def measure(sim: Path, models: dict[str, str | None], default: str | None, every: int = 1):
    from shapely.geometry import Point

    from pipeline.detect.bundle import load_detector
    from pipeline.detect.evaluate import _utm_of, match
    from pipeline.detect.geometry import to_crs
    from pipeline.detect.infer import detect_scene

    detectors: dict = {}
    rows: dict[tuple[str, str], list] = defaultdict(list)
    folders = sorted(p for p in (sim / "scenes").iterdir() if (p / "scene.tif").exists())
    for folder in folders[::every]:
        labels = berthed_labels(folder)
        if not labels:
            continue
        sensor = scene_sensor(folder)
        key = models.get(sensor, default)
        if key not in detectors:
            detectors[key] = load_detector(key)
        det = detectors[key]
        dets = detect_scene(folder / "scene.tif", det, scene_id=folder.name)
        crs = _utm_of([lab["geometry"] for lab in labels])
        pts = [to_crs(Point(d.lon, d.lat), "EPSG:4326", crs) for d in dets]
        shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
        found = {j: i for i, j, _ in match(pts, shapes)}
        for j, lab in enumerate(labels):
            d = dets[found[j]] if j in found else None
            rows[(sensor, det.model_id)].append(
                {
                    "found": d is not None,
                    "dl": None if d is None else d.length_m - float(lab["length_m"]),
                    "db": None if d is None else d.beam_m - float(lab["beam_m"]),
                }
            )
    return rows


def summarise(rows: list[dict]) -> dict:
    hit = [r for r in rows if r["found"]]
    out = {"tankers": len(rows), "found": len(hit), "recall": round(len(hit) / len(rows), 3)}
    for k, name in (("dl", "length"), ("db", "beam")):
        e = np.array([r[k] for r in hit], dtype=float)
        out[f"{name}_mae_m"] = round(float(np.abs(e).mean()), 1) if len(e) else None
        out[f"{name}_rms_m"] = round(float(np.sqrt((e**2).mean())), 1) if len(e) else None
        out[f"{name}_bias_m"] = round(float(e.mean()), 1) if len(e) else None
        out[f"{name}_sd_m"] = round(float(e.std()), 1) if len(e) else None
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, nargs="+", required=True, help="simulator output folders")
    ap.add_argument("--model", default=None, help="bundle for sensors not in --models")
    ap.add_argument("--models", default="commercial-3m=tw-centernet-3m", help="SENSOR=BUNDLE,...")
    ap.add_argument("--every", type=int, default=1, help="every k-th scene only")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    a = ap.parse_args(argv)
    models = dict(kv.split("=", 1) for kv in a.models.split(",") if kv.strip())
    rows: dict[tuple[str, str], list] = defaultdict(list)
    for sim in a.sim:
        for key, r in measure(sim, models, a.model, a.every).items():
            rows[key] += r
    print(
        "| sensor | model | tankers at berths | found | recall | length MAE / RMS / bias / sd m | "
        "beam MAE / RMS / bias / sd m |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    table = {}
    for (sensor, model), r in sorted(rows.items()):
        s = summarise(r)
        table[f"{sensor} {model}"] = s

        def f(v):
            return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v}"

        print(
            f"| {sensor} | {model} | {s['tankers']} | {s['found']} | {s['recall']:.2f} | "
            f"{f(s['length_mae_m'])} / {f(s['length_rms_m'])} / {f(s['length_bias_m'])} / "
            f"{f(s['length_sd_m'])} | {f(s['beam_mae_m'])} / {f(s['beam_rms_m'])} / "
            f"{f(s['beam_bias_m'])} / {f(s['beam_sd_m'])} |"
        )
    if a.json:
        a.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
