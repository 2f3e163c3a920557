"""The demo's detect stage per precision, side by side: the scenes of a simulation through the
detector the demo gives their sensor (tw-centernet-s2 for Sentinel-2, tw-centernet-3m for the
3 m sensor, the CFAR for Sentinel-1), each scene once per precision in an order that rotates
from scene to scene, with the runner's one torch thread per task.

    .venv/bin/python benchmarks/detect_stage.py --sim DIR [--precisions fp32,auto]
        [--per-sensor N] [--baseline REV] [--baseline-inference SETTINGS] [--json OUT]

DIR is a simulation (``tankerwatch simulate --out DIR``; the demo's is the default scenario).
Timed per scene: ``detect_scene`` with the port's land, what the runner's task does between
opening its ledger and writing the detections (the ledger's own work is the same for every
precision and left out). ``--per-sensor N`` takes N scenes of each sensor spread over the
period (0: all). Each detector first detects one scene untimed. The CFAR has no precision: its
two timings show the noise of the measurement. The detections of each precision are compared
with the first's (same / lost / new within 15 m, as benchmarks/detect_parity.py).

``--baseline REV`` (a git revision): the first precision runs the detect path of that revision
instead of the current one: its ``pipeline/detect`` infer, raster, geometry and cfar modules,
loaded beside the current code (the learned bundle's own code is the current one, which at the
bundle's settings computes what the revision did). So ``--precisions fp32,auto --baseline
main`` compares the demo's detect stage as the fp32 baseline ran it with what it is now, scene
by scene in one run. ``--baseline-inference`` sets the first precision's inference settings
where the bundle's have changed since (the current code then computes what the revision did
with them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import machine, markdown, module_at_revision, write_json  # noqa: E402


def baseline_path(rev: str):
    """(detect_scene, CfarDetector) of revision ``rev``: its infer, raster, geometry and cfar
    modules, each wired to the others of the same revision."""
    geometry = module_at_revision(rev, "pipeline/detect/geometry.py", "_base_geometry")
    raster = module_at_revision(rev, "pipeline/detect/raster.py", "_base_raster")
    infer = module_at_revision(
        rev,
        "pipeline/detect/infer.py",
        "_base_infer",
        open_scene=raster.open_scene,
        bound_block_cache=raster.bound_block_cache,
        Box=geometry.Box,
        footprint_lonlat=geometry.footprint_lonlat,
        heading_from_pixel_angle=geometry.heading_from_pixel_angle,
    )
    cfar = module_at_revision(
        rev, "pipeline/detect/cfar.py", "_base_cfar", box_of_pixels=geometry.box_of_pixels
    )
    return infer.detect_scene, cfar.CfarDetector


def baseline_label(args, first: bool, model: str) -> str:
    """What the first precision's row ran when it is a baseline: the revision, the settings."""
    if not first:
        return ""
    label = f" @ {args.baseline}" if args.baseline else ""
    if args.baseline_inference and model != "cfar":
        label += f" [{args.baseline_inference}]"
    return label


def scenes_by_sensor(sim: Path, per_sensor: int) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for tif in sorted((sim / "scenes").glob("*/scene.tif")):
        props = json.loads((tif.parent / "item.json").read_text())["properties"]
        out.setdefault(props["tankerwatch:sensor"], []).append(tif.parent)
    if per_sensor:
        for sensor, dirs in out.items():
            if len(dirs) > per_sensor:
                step = len(dirs) / per_sensor
                out[sensor] = [dirs[int(i * step)] for i in range(per_sensor)]
    return out


def main() -> int:
    import torch

    from pipeline.config import load_port
    from pipeline.demo import SENSOR_MODELS
    from pipeline.detect.bundle import DEFAULT_MODEL, load_detector
    from pipeline.detect.infer import detect_scene

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", required=True)
    ap.add_argument("--precisions", default="fp32,auto")
    ap.add_argument("--per-sensor", type=int, default=0)
    ap.add_argument("--baseline", help="git revision whose detect path the first precision runs")
    ap.add_argument(
        "--baseline-inference",
        help="inference settings the first precision's learned bundles run with, as "
        "benchmarks/detect_parity.py variants (e.g. 'tta_context_px=96,tta_block_px=64': the "
        "flipped crops before #15's narrower context)",
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the run config's threads: 1 per detection task
    precisions = args.precisions.split(",")
    scenes = scenes_by_sensor(Path(args.sim), args.per_sensor)
    models = {s: SENSOR_MODELS.get(s, DEFAULT_MODEL) for s in scenes}
    detectors = {(s, p): load_detector(models[s], precision=p) for s in scenes for p in precisions}
    if args.baseline_inference:
        from detect_parity import make_detector, parse_variant

        settings = parse_variant(args.baseline_inference) | {"precision": precisions[0]}
        for s in scenes:
            if models[s] != "cfar":
                detectors[s, precisions[0]] = make_detector(models[s], settings)
    paths = {p: detect_scene for p in precisions}
    if args.baseline:
        base_detect, base_cfar = baseline_path(args.baseline)
        paths[precisions[0]] = base_detect
        for s in scenes:
            if models[s] == "cfar":
                detectors[s, precisions[0]] = base_cfar()
    lands: dict = {}
    for sensor, dirs in scenes.items():  # one-time costs (lazy imports, PROJ) out of the timing
        port = json.loads((dirs[0] / "item.json").read_text())["properties"]["tankerwatch:port"]
        lands[port] = load_port(port).land_shape
        for p in precisions:
            paths[p](dirs[0] / "scene.tif", detectors[sensor, p], land=lands[port])
    seconds = {(s, p): 0.0 for s in scenes for p in precisions}
    cpu = {(s, p): 0.0 for s in scenes for p in precisions}
    found: dict = {(s, p): {} for s in scenes for p in precisions}
    load_start = os.getloadavg()
    print(f"{sum(map(len, scenes.values()))} scenes; load {load_start}", flush=True)
    k = 0
    for sensor, dirs in scenes.items():
        for d in dirs:
            port = json.loads((d / "item.json").read_text())["properties"]["tankerwatch:port"]
            if port not in lands:
                lands[port] = load_port(port).land_shape
            for j in range(len(precisions)):
                p = precisions[(k + j) % len(precisions)]
                t, c = time.perf_counter(), time.process_time()
                dets = paths[p](d / "scene.tif", detectors[sensor, p], land=lands[port])
                seconds[sensor, p] += time.perf_counter() - t
                cpu[sensor, p] += time.process_time() - c
                found[sensor, p][d.name] = dets
            k += 1
    from detect_parity import agreement

    rows = []
    for sensor, dirs in scenes.items():
        for p in precisions:
            det = detectors[sensor, p]
            agree = {"matched": 0, "lost": 0, "new": 0}
            for name, ref in found[sensor, precisions[0]].items():
                a = agreement(ref, found[sensor, p][name])
                for key in agree:
                    agree[key] += a[key]
            rows.append(
                {
                    "sensor": sensor,
                    "detector": det.name,
                    "precision": getattr(getattr(det, "precision", None), "name", "-"),
                    "requested": p + baseline_label(args, p == precisions[0], models[sensor]),
                    "scenes": len(dirs),
                    "s": round(seconds[sensor, p], 2),
                    "ms per scene": round(1000 * seconds[sensor, p] / max(1, len(dirs)), 1),
                    "vs first": round(seconds[sensor, precisions[0]] / seconds[sensor, p], 2),
                    "CPU ms per scene": round(1000 * cpu[sensor, p] / max(1, len(dirs)), 1),
                    "CPU vs first": round(cpu[sensor, precisions[0]] / cpu[sensor, p], 2),
                    "detections": sum(map(len, found[sensor, p].values())),
                    "same/lost/new vs first": f"{agree['matched']}/{agree['lost']}/{agree['new']}",
                }
            )
    for p in precisions:
        total = sum(seconds[s, p] for s in scenes)
        first = sum(seconds[s, precisions[0]] for s in scenes)
        cpu_total = sum(cpu[s, p] for s in scenes)
        cpu_first = sum(cpu[s, precisions[0]] for s in scenes)
        rows.append(
            {
                "sensor": "all",
                "requested": p,
                "scenes": sum(map(len, scenes.values())),
                "s": round(total, 2),
                "vs first": round(first / total, 2),
                "CPU vs first": round(cpu_first / cpu_total, 2),
            }
        )
    cols = ["sensor", "detector", "requested", "precision", "scenes", "s", "ms per scene"]
    cols += ["vs first", "CPU ms per scene", "CPU vs first", "detections"]
    cols += ["same/lost/new vs first"]
    print(markdown(rows, cols))
    print(f"load at start {load_start}, at end {os.getloadavg()}")
    write_json(args.json, {"rows": rows, "machine": machine(), "load_start": load_start})
    return 0


if __name__ == "__main__":
    sys.exit(main())
