"""The Sentinel-1 CFAR against its implementation at another git revision, side by side: the
same scenes through both, the same detections (bit for bit) and the time each takes.

    PYTHONPATH=. python benchmarks/cfar_speed.py --sim DIR [DIR ...] [--ref main]
        [--rounds 3] [--json OUT]

DIR: simulations holding Sentinel-1 scenes (benchmarks/sar_cfar.py's WORK/seed-N, or
``tankerwatch simulate``'s); every Sentinel-1 scene is detected with its port's land, as the
runner does (``detect_scene(..., land=)``). The reference is ``pipeline/detect/cfar.py`` and
``pipeline/detect/geometry.py`` (its ``box_of_pixels``) as they are at ``--ref``, loaded beside
the current code; the rest of the detect path (reads, tiling, footprints) is the current one
for both, so the difference is the CFAR's own. Each round detects every scene with both, in an
order that alternates from scene to scene; times are per scene, wall and process CPU, for the
whole ``detect_scene`` and for the detector's ``detect_array`` alone. "identical" counts the
scenes whose detections are equal in every field (geometry, position, sizes, heading, score).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import machine, markdown, module_at_revision, write_json  # noqa: E402


def sar_scenes(sims: list[Path]) -> list[Path]:
    out = []
    for sim in sims:
        for item in sorted(sim.glob("scenes/*/item.json")):
            props = json.loads(item.read_text())["properties"]
            if props.get("tankerwatch:sensor") == "sentinel-1-grd":
                out.append(item.parent)
    return out


class Timed:
    """A detector whose ``detect_array`` adds its wall and CPU seconds to ``seconds``."""

    def __init__(self, detector):
        self.detector = detector
        self.seconds = [0.0, 0.0]

    def __getattr__(self, name):
        return getattr(self.detector, name)

    def detect_array(self, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        try:
            return self.detector.detect_array(*args, **kwargs)
        finally:
            self.seconds[0] += time.perf_counter() - t
            self.seconds[1] += time.process_time() - c


def fields(dets) -> list[tuple]:
    return [
        (d.geometry, d.lon, d.lat, d.length_m, d.beam_m, d.heading_deg, d.score, d.cls)
        for d in dets
    ]


def main() -> int:
    from pipeline.detect.cfar import CfarDetector
    from pipeline.detect.infer import detect_scene
    from pipeline.detect.land import scene_land_or_none

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", nargs="+", required=True)
    ap.add_argument("--ref", default="main", help="git revision of the reference CFAR")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    old_geometry = module_at_revision(args.ref, "pipeline/detect/geometry.py", "_ref_geometry")
    old_cfar = module_at_revision(
        args.ref,
        "pipeline/detect/cfar.py",
        "_ref_cfar",
        box_of_pixels=old_geometry.box_of_pixels,
    )
    names = [f"reference ({args.ref})", "current"]
    detectors = [Timed(old_cfar.CfarDetector()), Timed(CfarDetector())]
    scenes = sar_scenes([Path(s) for s in args.sim])
    if not scenes:
        print("no Sentinel-1 scenes under " + ", ".join(args.sim), file=sys.stderr)
        return 2
    lands = [scene_land_or_none(d)[0] for d in scenes]
    for det in detectors:  # untimed: imports, PROJ, the first scene's caches
        detect_scene(scenes[0] / "scene.tif", det, land=lands[0])
        det.seconds = [0.0, 0.0]
    start = os.getloadavg()
    print(f"{len(scenes)} scenes, {args.rounds} rounds; load {start}", flush=True)
    wall = [[] for _ in detectors]
    cpu = [[] for _ in detectors]
    found: list[list] = [[None] * len(scenes) for _ in detectors]
    for r in range(args.rounds):
        for k, (d, land) in enumerate(zip(scenes, lands, strict=True)):
            for i in [(k + r + j) % 2 for j in range(2)]:
                t, c = time.perf_counter(), time.process_time()
                dets = detect_scene(d / "scene.tif", detectors[i], land=land)
                wall[i].append(time.perf_counter() - t)
                cpu[i].append(time.process_time() - c)
                if found[i][k] is None:
                    found[i][k] = fields(dets)
    end = os.getloadavg()
    identical = sum(a == b for a, b in zip(found[0], found[1], strict=True))
    n_runs = len(scenes) * args.rounds
    rows = []
    for i, det in enumerate(detectors):
        rows.append(
            {
                "implementation": names[i],
                "scenes": len(scenes),
                "detections": sum(len(f) for f in found[i]),
                "identical scenes": f"{identical}/{len(scenes)}",
                "detect_scene ms (wall, median)": round(1000 * statistics.median(wall[i]), 1),
                "detect_scene ms (CPU, mean)": round(1000 * statistics.fmean(cpu[i]), 1),
                "CPU spread ms (p10-p90)": "{:.1f}-{:.1f}".format(
                    *(1000 * q for q in _p10_p90(cpu[i]))
                ),
                "detect_array ms (CPU, mean)": round(1000 * det.seconds[1] / n_runs, 1),
                "detect_array ms (wall, mean)": round(1000 * det.seconds[0] / n_runs, 1),
            }
        )
    for row in rows:
        row["CPU vs reference"] = round(
            rows[0]["detect_scene ms (CPU, mean)"] / row["detect_scene ms (CPU, mean)"], 2
        )
        row["detect_array CPU vs reference"] = round(
            rows[0]["detect_array ms (CPU, mean)"] / row["detect_array ms (CPU, mean)"], 2
        )
    print(markdown(rows, list(rows[0])))
    print(f"load at start {start}, at end {end}")
    write_json(
        args.json,
        {"rows": rows, "machine": machine(), "load_start": start, "load_end": end},
    )
    return 0 if identical == len(scenes) else 1


def _p10_p90(values: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(values, n=10)
    return qs[0], qs[-1]


if __name__ == "__main__":
    raise SystemExit(main())
