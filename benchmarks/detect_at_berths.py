"""The detector where the estimate needs it: tankers at load and discharge berths, per sensor.

    .venv/bin/python benchmarks/detect_at_berths.py --sim DIR [DIR...] [--model M]
        [--models S=M,...] [--sensors S,...] [--every K] [--json OUT] [--write-bundle]

On a simulated scenario (``tankerwatch simulate --out DIR [--seed N]``), every scene holding a
tanker at a load or discharge berth (label role ``load`` / ``discharge``, at most half under
cloud) is detected with its sensor's model, and the labels are matched as in ``evaluate``
(centre within 30 m of the footprint, one-to-one). Printed per sensor and model: recall of those
berthed tankers, and the length / beam error of the matched ones (mean absolute, root mean
square, bias = mean, sd = spread around the bias), pooled over the simulations given. These
are the numbers behind ``portcalls.detector_recall`` (per sensor) and
``portcalls.size_error`` in configs/estimate: measure them on a simulation with another seed than
the one you score the estimate on.

``--write-bundle`` writes the numbers into each measured bundle as ``berths.json`` (format
``tankerwatch-berth-calibration/1``, docs/ARCHITECTURE.md): the run reads it and the estimate
takes its recall and size error as the detector's priors, so a retrained bundle needs only this
re-measurement, never a hand-edited configs/estimate.
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


from pipeline.detect.berth_calibration import CALIBRATION_FILE, CALIBRATION_FORMAT  # noqa: E402


def measure(
    sim: Path,
    models: dict[str, str | None],
    default: str | None,
    every: int = 1,
    sensors: set[str] | None = None,
):
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
        if sensors and sensor not in sensors:
            continue
        key = models.get(sensor, default)
        if key not in detectors:
            detectors[key] = load_detector(key)
        det = detectors[key]
        land = None
        if getattr(det, "uses_land", False):  # the SAR CFAR masks the port's land itself
            from pipeline.detect.land import scene_land_or_none

            land = scene_land_or_none(folder)[0]
        dets = detect_scene(folder / "scene.tif", det, scene_id=folder.name, land=land)
        crs = _utm_of([lab["geometry"] for lab in labels])
        pts = [to_crs(Point(d.lon, d.lat), "EPSG:4326", crs) for d in dets]
        shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
        found = {j: i for i, j, _ in match(pts, shapes)}
        for j, lab in enumerate(labels):
            d = dets[found[j]] if j in found else None
            rows[(sensor, det.model_id)].append(
                {
                    "sim": str(sim),
                    "bundle": key,
                    "gsd_m": _gsd(folder),
                    "found": d is not None,
                    "dl": None if d is None else d.length_m - float(lab["length_m"]),
                    "db": None if d is None else d.beam_m - float(lab["beam_m"]),
                }
            )
    return rows


def _sim_name(sim: Path) -> str:
    """'<scenario> seed <n>' from a simulation's manifest (the folder name without one)."""
    try:
        m = json.loads((sim / "simulation.json").read_text())
        return f"{m['scenario']} seed {m['seed']}"
    except (OSError, ValueError, KeyError):
        return sim.name


def _gsd(folder: Path) -> float | None:
    item = folder / "item.json"
    return float(json.loads(item.read_text())["properties"]["gsd"]) if item.exists() else None


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


def calibration_documents(rows: dict[tuple[str, str], list], argv: list[str]) -> dict:
    """bundle path -> its berths.json document (one entry per sensor measured with it)."""
    from datetime import UTC, datetime

    from pipeline.detect.bundle import read_spec, resolve_bundle_dir

    docs: dict = {}
    for (sensor, _model), r in sorted(rows.items()):
        bundle = r[0]["bundle"]
        if bundle == "baseline":
            continue  # the classical detector has no bundle folder to carry the file
        folder = resolve_bundle_dir(bundle)
        spec = read_spec(folder).model_dump(mode="json")
        s = summarise(r)
        by_sim = {}
        for x in r:
            by_sim.setdefault(_sim_name(Path(x["sim"])), []).append(x["found"])
        gsd = [x["gsd_m"] for x in r if x["gsd_m"]]
        doc = docs.setdefault(
            folder,
            {
                "format": CALIBRATION_FORMAT,
                "model": spec["name"],
                "weights_sha256": spec["weights"]["sha256"],
                "measured": {
                    "command": "python benchmarks/detect_at_berths.py " + " ".join(argv),
                    "simulations": sorted(by_sim),
                    "when_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "sensors": {},
            },
        )
        doc["sensors"][sensor] = {
            "gsd_m": float(np.median(gsd)) if gsd else float(spec["gsd_m"]),
            "tankers": s["tankers"],
            "found": s["found"],
            "recall_by_simulation": [round(sum(v) / len(v), 3) for _, v in sorted(by_sim.items())],
            "matched": s["found"],
            "length_bias_m": s["length_bias_m"],
            "length_sd_m": s["length_sd_m"],
            "beam_bias_m": s["beam_bias_m"],
            "beam_sd_m": s["beam_sd_m"],
        }
    return docs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, nargs="+", required=True, help="simulator output folders")
    ap.add_argument("--model", default=None, help="bundle for sensors not in --models")
    ap.add_argument("--models", default="commercial-3m=tw-centernet-3m", help="SENSOR=BUNDLE,...")
    ap.add_argument("--every", type=int, default=1, help="every k-th scene only")
    ap.add_argument("--sensors", default=None, help="measure these sensors only (comma-separated)")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    ap.add_argument(
        "--write-bundle", action="store_true", help="write berths.json into each measured bundle"
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    models = dict(kv.split("=", 1) for kv in a.models.split(",") if kv.strip())
    rows: dict[tuple[str, str], list] = defaultdict(list)
    for sim in a.sim:
        only = {s.strip() for s in a.sensors.split(",") if s.strip()} if a.sensors else None
        for key, r in measure(sim, models, a.model, a.every, only).items():
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
    if a.write_bundle:
        from pipeline.fsutil import atomic_write_text

        for folder, doc in calibration_documents(rows, argv).items():
            atomic_write_text(folder / CALIBRATION_FILE, json.dumps(doc, indent=1) + "\n")
            print(f"wrote {folder / CALIBRATION_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
