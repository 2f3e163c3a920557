"""Peak memory of `tankerwatch detect` on a full 10980 x 10980 Sentinel-2 tile (synthetic: seeded
water, a coast, a few hundred hulls; uint16 DN, 4 bands, tiled + deflate GeoTIFF, UTM 10 m).

    .venv/bin/python benchmarks/detect_memory.py [--size 10980] [--model NAME] [--keep DIR]

Reports the detect process's peak resident memory (VmHWM, polled; ru_maxrss at the end), wall
time and detections. ``--max-seconds`` stops a slow run early and reports the peak so far
(memory per tile is constant, so the peak is reached within the first tiles).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def write_tile(path: Path, size: int, seed: int = 0) -> int:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32652",
        "transform": from_origin(300000, 4800000, 10, 10),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "nodata": 0,
    }
    water = np.array([500, 600, 400, 200], np.uint16)
    land = np.array([900, 1100, 1200, 2500], np.uint16)
    hull = np.array([2500, 2600, 2700, 3000], np.uint16)
    n_ships = 0
    block = 1098 if size % 1098 == 0 else 512
    with rasterio.open(path, "w", **profile) as dst:
        for i, name in enumerate(["B02", "B03", "B04", "B08"], start=1):
            dst.set_band_description(i, name)
        for y in range(0, size, block):
            for x in range(0, size, block):
                h, w = min(block, size - y), min(block, size - x)
                arr = np.empty((4, h, w), np.uint16)
                is_land = x + w / 2 < size * 0.3
                base = land if is_land else water
                arr[:] = base[:, None, None]
                arr += rng.integers(0, 40, size=arr.shape, dtype=np.uint16)
                if not is_land:
                    for _ in range(rng.integers(0, 3)):
                        cy, cx = rng.integers(10, h - 10), rng.integers(20, w - 20)
                        arr[:, cy - 1 : cy + 2, cx - 8 : cx + 8] = hull[:, None, None]
                        n_ships += 1
                dst.write(arr, window=Window(x, y, w, h))
    return n_ships


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--model", default=None)
    ap.add_argument("--keep", default=None)
    ap.add_argument(
        "--max-seconds", type=float, default=0, help="stop detect after this long (peak so far)"
    )
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="s2tile-"))
    tmp.mkdir(parents=True, exist_ok=True)
    tif = tmp / "tile.tif"
    if not tif.exists():
        t = time.perf_counter()
        n = write_tile(tif, args.size)
        print(
            f"wrote {tif} ({tif.stat().st_size / 1e6:.0f} MB, {n} hulls) in "
            f"{time.perf_counter() - t:.0f} s"
        )
    cmd = [sys.executable, "-m", "pipeline.cli", "detect", str(tif), "--out", str(tmp / "d.gpkg")]
    if args.model:
        cmd += ["--model", args.model]
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    peak_kib = 0
    finished = True
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            hwm = [ln for ln in status.splitlines() if ln.startswith("VmHWM:")]
            if hwm:
                peak_kib = max(peak_kib, int(hwm[0].split()[1]))
        except OSError:
            pass
        if args.max_seconds and time.perf_counter() - t > args.max_seconds:
            proc.terminate()
            finished = False
            break
        time.sleep(0.5)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    peak_kib = max(peak_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print((out.strip().splitlines() or [err.strip()[-300:]])[-1])
    mpx = args.size * args.size / 1e6
    state = "complete" if finished else f"stopped after {args.max_seconds} s"
    print(
        f"| {args.model or 'default'} | {args.size} x {args.size} | {mpx:.0f} | {state} | "
        f"{wall:.0f} | {peak_kib / 1024:.0f} |"
    )


if __name__ == "__main__":
    main()
