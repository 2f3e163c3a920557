"""Inference variants side by side on the same scenes: accuracy (F1, length MAE against the
labels), agreement with a reference variant (the same detections?) and time.

    .venv/bin/python benchmarks/detect_parity.py [--model NAME] [--real DIR | --no-real]
        [--sim DIR --sim-max N --sim-sensor SENSOR] [--variants SPEC;SPEC...] [--threads N]
        [--json OUT]

A variant is a comma-separated list of inference settings applied over the bundle's own
(``precision=bf16,tta_min_score=0.2,tile=1024,overlap=96,min_water_px=16``; ``tta=false``;
``tta_max_score=0.8``: no flips around candidates the plain pass is sure of; ``tta_flips=1``;
``read_ahead=0``: no reader thread; ``workers=1``: one window at a time on all torch threads,
as before windows ran side by side).
The first variant is the reference the others are compared with (by default every pass on every
window in fp32: the inference before these settings existed). Every scene is detected by every
variant before the next scene (in an order that rotates from scene to scene), so load on the
shared machine falls on all variants alike; times are also reported as ratios to the reference.

Agreement: detections of a variant matched one-to-one to the reference's within 15 m (Hungarian
assignment); "new" and "lost" are the unmatched ones; |d length| over the matched pairs.
"network Mpx" counts the input pixels of every pass of the variant's network (flips and crops
included); "CPU s" is the process's CPU time (reader thread included).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import REPO, machine, markdown, write_json  # noqa: E402

# the reference: every pass everywhere, in fp32 (the inference before #15)
REFERENCE = "precision=fp32,tta_min_score=0,min_water_px=0"
DEFAULT_VARIANTS = (
    REFERENCE,
    "precision=bf16,tta_min_score=0,min_water_px=0",
    "precision=bf16,tta_min_score=0.1,min_water_px=0",
    "precision=bf16,tta_min_score=0.2,min_water_px=0",
    "precision=bf16,tta=false,min_water_px=0",
    "precision=bf16,tta_min_score=0,min_water_px=16",
    "precision=bf16,tta_min_score=0,min_water_px=0,overlap=64",
    "precision=bf16,tta_min_score=0,min_water_px=0,tile=1024,overlap=96",
    "precision=bf16,tta_min_score=0,min_water_px=0,tile=1024,overlap=128",
)
AGREE_M = 15.0


def parse_variant(text: str) -> dict:
    out: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part == "ref":
            continue
        key, _, value = part.partition("=")
        if key == "precision":
            out[key] = value
        elif key == "tta":
            out[key] = value.lower() in ("1", "true", "yes", "on")
        elif key in ("tta_min_score", "tta_max_score"):
            out[key] = float(value)
        elif key in (
            "tile",
            "overlap",
            "min_water_px",
            "read_ahead",
            "workers",
            "tta_flips",
            "tta_context_px",
            "tta_block_px",
        ):
            out[key] = int(value)
        else:
            raise SystemExit(f"variant '{text}': unknown setting '{key}'")
    return out


def make_detector(model: str, settings: dict):
    """The bundle with ``settings`` replacing its inference settings (one shared network)."""
    from pipeline.detect.bundle import LearnedDetector, load_detector

    base = load_detector(model, precision="fp32")
    inference = dict(base.spec.inference.model_dump())
    own = ("precision", "read_ahead", "workers")
    inference.update({k: v for k, v in settings.items() if k not in own})
    inference["precision"] = settings.get("precision", "fp32")
    spec = base.spec.model_copy(
        update={"inference": type(base.spec.inference).model_validate(inference)}
    )
    det = LearnedDetector(spec, base.model, base.path, base.device)
    if "read_ahead" in settings:  # windows the tiling loop reads ahead (0: no reader thread)
        det.read_ahead = settings["read_ahead"]
    if "workers" in settings:  # windows detected side by side (see pipeline.detect.infer)
        det.workers = settings["workers"]
    return det


def scenes_of(root: Path, sensor: str | None, limit: int | None) -> list[Path]:
    from pipeline.detect.data import scene_dirs

    if sensor:
        from pipeline.simulate.calibration import simulated_scene_dirs

        dirs = simulated_scene_dirs(root, sensor)
    else:
        dirs = scene_dirs(root)
    if limit and len(dirs) > limit:
        step = len(dirs) / limit
        dirs = [dirs[int(i * step)] for i in range(limit)]
    return dirs


def agreement(ref: list, other: list) -> dict:
    """One-to-one matches of two detection lists (Detection records) within AGREE_M."""
    from scipy.optimize import linear_sum_assignment

    if not ref or not other:
        return {"matched": 0, "lost": len(ref), "new": len(other), "dlen": []}
    lat0 = math.radians(ref[0].lat)
    cost = [
        [
            math.hypot((a.lon - b.lon) * 111_320 * math.cos(lat0), (a.lat - b.lat) * 110_574)
            for b in other
        ]
        for a in ref
    ]
    rows, cols = linear_sum_assignment(cost)
    pairs = [(i, j) for i, j in zip(rows, cols, strict=True) if cost[i][j] <= AGREE_M]
    return {
        "matched": len(pairs),
        "lost": len(ref) - len(pairs),
        "new": len(other) - len(pairs),
        "dlen": [abs(ref[i].length_m - other[j].length_m) for i, j in pairs],
    }


def run_set(label: str, dirs: list[Path], detectors: list, names: list[str]) -> list[dict]:
    from pipeline.detect.evaluate import score_scene, summarise
    from pipeline.detect.geometry import read_labels
    from pipeline.detect.infer import detect_scene

    n = len(detectors)
    per_scene = [dict() for _ in range(n)]
    seconds = [0.0] * n
    cpu = [0.0] * n
    pixels = [count_pixels(det) for det in detectors]
    dets = [dict() for _ in range(n)]
    windows = [{"detected": 0, "dry": 0, "valid": 0} for _ in range(n)]
    for k, d in enumerate(dirs):
        labels = read_labels(d / "labels.geojson")
        for i in [(k + j) % n for j in range(n)]:
            t, c = time.perf_counter(), time.process_time()
            stats: dict = {}
            found = detect_scene(d / "scene.tif", detectors[i], scene_id=d.name, stats=stats)
            seconds[i] += time.perf_counter() - t
            cpu[i] += time.process_time() - c
            for key in windows[i]:
                windows[i][key] += stats.get(key, 0)
            dets[i][d.name] = found
            per_scene[i][d.name] = score_scene(found, labels)
    rows = []
    for i in range(n):
        o = summarise(per_scene[i])
        agree = {"matched": 0, "lost": 0, "new": 0, "dlen": []}
        for name in dets[0]:
            a = agreement(dets[0][name], dets[i][name])
            for key in ("matched", "lost", "new"):
                agree[key] += a[key]
            agree["dlen"] += a["dlen"]
        ref = rows[0] if rows else None
        f1, mae = o["f1"], o["length_mae_m"]
        rows.append(
            {
                "data": label,
                "variant": names[i],
                "vessels": o["n_labels"],
                "detections": o["n_predictions"],
                "F1": f1,
                "dF1": None if ref is None else round(f1 - ref["F1"], 4),
                "length MAE m": mae,
                "dMAE m": (
                    None
                    if ref is None or mae is None or ref["length MAE m"] is None
                    else round(mae - ref["length MAE m"], 2)
                ),
                "same/lost/new": f"{agree['matched']}/{agree['lost']}/{agree['new']}",
                "max |dlen| m": round(max(agree["dlen"]), 2) if agree["dlen"] else 0.0,
                "s": round(seconds[i], 2),
                "time / ref": round(seconds[i] / seconds[0], 3) if seconds[0] else None,
                "CPU s": round(cpu[i], 2),
                "CPU / ref": round(cpu[i] / cpu[0], 3) if cpu[0] else None,
                "network Mpx": round(pixels[i][0] / 1e6, 1) if pixels[i] else None,
                "windows detected/valid": f"{windows[i]['detected']}/{windows[i]['valid']}",
            }
        )
    return rows


COLUMNS = [
    "data",
    "variant",
    "vessels",
    "detections",
    "F1",
    "dF1",
    "length MAE m",
    "dMAE m",
    "same/lost/new",
    "max |dlen| m",
    "windows detected/valid",
    "network Mpx",
    "s",
    "time / ref",
    "CPU s",
    "CPU / ref",
]


def count_pixels(detector) -> list[int] | None:
    """A one-item list counting the input pixels of every pass of the detector's network
    (flipped passes and crops included: the work the variant asks of the network)."""
    model = getattr(detector, "model", None)
    if model is None:
        return None
    seen = [0]

    def hook(_module, inputs, _output) -> None:
        seen[0] += int(inputs[0].shape[0] * inputs[0].shape[-2] * inputs[0].shape[-1])

    model.register_forward_hook(hook)
    return seen


def main() -> None:
    import torch

    from pipeline.detect.bundle import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "sen2ships"))
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--sim", help="a simulated dataset (tankerwatch simulate --out DIR)")
    ap.add_argument("--sim-max", type=int, default=60)
    ap.add_argument("--sim-sensor", help="only the simulated scenes of this sensor")
    ap.add_argument("--variants", help="';'-separated variants (default: a standard set)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.variants.split(";") if args.variants else list(DEFAULT_VARIANTS)
    detectors = [make_detector(args.model, parse_variant(v)) for v in names]
    start = os.getloadavg()
    print(f"model {detectors[0].model_id}; torch threads {args.threads}; load {start}", flush=True)
    rows = []
    real = Path(args.real)
    if not args.no_real and real.is_dir():
        rows += run_set("sen2ships (7 ports)", scenes_of(real, None, None), detectors, names)
        print(markdown(rows, COLUMNS), flush=True)
    if args.sim:
        dirs = scenes_of(Path(args.sim), args.sim_sensor, args.sim_max)
        what = f"simulated, {len(dirs)} {args.sim_sensor or ''} scenes".replace("  ", " ")
        sim_rows = run_set(what, dirs, detectors, names)
        print(markdown(sim_rows, COLUMNS), flush=True)
        rows += sim_rows
    end = os.getloadavg()
    print(f"load at start {start}, at end {end}")
    write_json(args.json, {"rows": rows, "machine": machine(), "load_start": start})


if __name__ == "__main__":
    main()
