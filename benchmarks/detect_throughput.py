"""Detector throughput in megapixels per second (pixels of the 10 m model grid), model alone vs
the whole detect path (open + warp to UTM + windowed reads + model + NMS + footprints), for the
learned bundle and the classical baseline side by side, on the same scenes.

    .venv/bin/python benchmarks/detect_throughput.py [--model NAME] [--scenes DIR] [--repeat 1]

"Model alone" runs the detector on tiles already in memory (the same tiles the detect path
reads). "detect" calls pipeline.detect.infer.detect_scene on the file, as `tankerwatch detect`
does per scene; "CLI" also times one `tankerwatch detect` subprocess over all scenes (includes
interpreter start-up and imports).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def tiles_of(path: Path, detector):
    from pipeline.detect.raster import open_scene

    with open_scene(path, detector.bands, detector.gsd_m) as g:
        tiles = [g.read(w) for w in g.windows(detector.tile, detector.overlap)]
        return tiles, g.width * g.height


def bench(detector, scenes: list[Path], repeat: int) -> dict:
    from pipeline.detect.infer import detect_scene

    model_s = detect_s = 0.0
    mpx = 0.0
    n_det = 0
    for p in scenes:
        tiles, npx = tiles_of(p, detector)
        mpx += npx / 1e6
        for _ in range(repeat):
            t = time.perf_counter()
            for refl, valid in tiles:
                detector.detect_array(refl, valid)
            model_s += time.perf_counter() - t
            t = time.perf_counter()
            n_det = len(detect_scene(p, detector))
            detect_s += time.perf_counter() - t
    mpx *= repeat
    return {"mpx": mpx, "model_mpx_s": mpx / model_s, "detect_mpx_s": mpx / detect_s, "n": n_det}


def cli_time(model: str, scenes: list[Path]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "detect",
                *map(str, scenes),
                "--model",
                model,
                "--out",
                str(Path(tmp) / "d.geojson"),
            ],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        return time.perf_counter() - t


def main() -> None:
    import torch

    from pipeline.detect.bundle import DEFAULT_MODEL, load_detector

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--scenes", default=str(REPO.parent / "shared" / "data" / "sen2ships"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.scenes)
    scenes = sorted(root.glob("*/scene.tif")) or sorted(root.glob("scenes/*/scene.tif"))
    print(f"{len(scenes)} scenes from {root}; torch threads {torch.get_num_threads()}")
    print(
        "| detector | model-grid MPx | model alone MPx/s | detect path MPx/s | CLI MPx/s "
        "(incl. start-up) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in (args.model, "baseline"):
        det = load_detector(name)
        r = bench(det, scenes, args.repeat)
        cli_s = cli_time(name, scenes)
        print(
            f"| {det.name} | {r['mpx']:.1f} | {r['model_mpx_s']:.2f} | {r['detect_mpx_s']:.2f} | "
            f"{r['mpx'] / args.repeat / cli_s:.2f} |"
        )


if __name__ == "__main__":
    main()
