"""Detect on a full-size synthetic Sentinel-2 tile: wall time, peak memory and the ratio to the
model's bare forward pass over the same tiles.

    .venv/bin/python benchmarks/pipeline_fullsize_tile.py [--size 10980] [--model NAME ...]
        [--variant SETTINGS ...] [--layout mixed|coast] [--work DIR] [--json OUT.json]
        [--max-rss-mib 4096] [--threads N] [--gdal-cache-mib M]

The tile (default 10980 x 10980 px at 10 m, a Sentinel-2 granule; bands B02 B03 B04 B08 B11,
uint16, UTM zone 53N, tiled DEFLATE GeoTIFF) is written by seeded code: per-pixel noise and
bright hulls on the water (no port simulator: 120 Mpx of it would take far longer than the
detection being measured). Layout ``mixed`` (the default) is a smooth land/water pattern of
1 km cells over the whole tile with 0.5 hulls per km2 of water, a worst case (water and hulls in
every window); ``coast`` is a granule over a coast: land on the west half behind a ragged
coastline, a few lakes, 0.05 hulls per km2 of sea.

``--variant`` (repeatable) measures the learned bundles with other inference settings, as in
benchmarks/detect_parity.py (``precision=fp32,tta_min_score=0,min_water_px=0`` is the inference
before #15); the variants run one after the other, alternating detect and forward children.

Each measurement runs in its own child process, so the peak resident memory (getrusage
ru_maxrss of that child) is the detect's own (each child first detects a small 300 px tile,
untimed, so lazy imports and the PROJ database are loaded before the clock starts):

- detect: ``pipeline.detect.infer.detect_scene(tile, detector)``, what `tankerwatch detect` and
  the batch runner do per scene (open, windowed reads, model per tile, decode, NMS, footprints);
- "truth ...": the detections against the tile's own hulls (recall, precision, length MAE;
  each hull takes the nearest detection within 30 m of its centre), so inference settings
  (``--variant``) are compared on accuracy as well as time;
- forward: the same windows read and prepared a few at a time (untimed; windows the detect path
  skips are skipped), then only the network timed: every pass the detect path makes on the
  window (``detector.forward``: flip averaging included, in the detector's precision), and apart
  one bare ``model(x)`` pass, with the windows side by side as the detect path runs them
  (``pipeline.detect.infer.window_workers``). For the classical baseline (no network) this times
  its ``detect_array`` on each tile instead.

Default detectors: the released bundle (models/tw-centernet-s2) when present, else a freshly
initialised bundle of the same architecture (pipeline.detect.bundle.save_bundle; speed does not
depend on weight values, only the number of detections decoded can, which is printed), and the
classical baseline. The script exits 1 when a child's peak memory exceeds --max-rss-mib.

Memory: besides the interpreter and libraries (about 0.8 GiB with torch), the largest share is
GDAL's block cache (GDAL_CACHEMAX, by default 5 % of physical memory), which fills as the windows
sweep the file; --gdal-cache-mib sets it for the children. Too small a cache for one row of
windows (the tile's width in 512 px blocks times about three block rows, some 170 MiB for a full
granule) makes GDAL decompress blocks again and again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import REPO, machine, markdown, resolve_models, write_json  # noqa: E402

BANDS = ("B02", "B03", "B04", "B08", "B11")
# Per-class DN medians from the simulator's calibration against sen2ships (BENCHMARKS.md).
WATER_DN = (1890, 2158, 1304, 852, 464)
LAND_DN = (3986, 5172, 5274, 13587, 12884)
HULL_DN = (6000, 6572, 6983, 8631, 7264)
NOISE_DN = (60, 60, 60, 80, 60)
EPSG = 32653  # UTM 53N, the zone of Vostochny
ORIGIN = (600000.0, 4800000.0)  # upper-left corner, as a real 53T granule's
GSD_M = 10.0
COARSE_PX = 128  # land/water pattern cell
HULLS_PER_KM2 = 0.5
COAST_HULLS_PER_KM2 = 0.05
ROWS_PER_WRITE = 512
WARMUP_PX = 300  # a small tile each child detects first, untimed


def _field(coarse, rows: slice, width: int):
    """The land/water field (bilinear interpolation of the coarse grid) for a band of rows."""
    import numpy as np

    y = (np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) / COARSE_PX
    x = (np.arange(width, dtype=np.float32) + 0.5) / COARSE_PX
    iy, ix = np.floor(y).astype(int), np.floor(x).astype(int)
    wy, wx = (y - iy)[:, None], (x - ix)[None, :]
    c00, c01 = coarse[iy][:, ix], coarse[iy][:, ix + 1]
    c10, c11 = coarse[iy + 1][:, ix], coarse[iy + 1][:, ix + 1]
    return (1 - wy) * ((1 - wx) * c00 + wx * c01) + wy * ((1 - wx) * c10 + wx * c11)


def _land_score(coarse, rows: slice, size: int, layout: str):
    """Above 0.6 is land. ``mixed``: the coarse field itself; ``coast``: the west half, with
    the field making the coastline ragged and leaving a few lakes."""
    field = _field(coarse, rows, size)
    if layout == "mixed":
        return field
    import numpy as np

    x = (np.arange(size, dtype=np.float32) + 0.5) / size
    score = 0.6 + 2.0 * (0.5 - x)[None, :] + 0.5 * (field - 0.5)
    return np.where(field > 0.93, 0.0, score)  # lakes inland


def _hulls(coarse, size: int, rng, layout: str = "mixed") -> list:
    """(cx, cy, length_px, beam_px, angle_rad) of hulls well inside the water."""
    density = HULLS_PER_KM2 if layout == "mixed" else COAST_HULLS_PER_KM2
    n = int(round(density * (size * GSD_M / 1000.0) ** 2))
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(20, size - 20, 2)
        fy = float(_land_score(coarse, slice(int(cy), int(cy) + 1), size, layout)[0, int(cx)])
        if fy > 0.45:  # land is above 0.6; keep hulls off the shore
            continue
        length = float(rng.uniform(3.0, 30.0))
        beam = max(1.0, length / float(rng.uniform(5.5, 7.5)))
        out.append((float(cx), float(cy), length, beam, float(rng.uniform(0, math.pi))))
    return out


def write_tile(path: Path, size: int, seed: int = 0, layout: str = "mixed") -> dict:
    """Write the synthetic tile block-row by block-row (bounded memory); returns its facts."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from pipeline.fsutil import atomic_path

    rng = np.random.default_rng(seed)
    cells = size // COARSE_PX + 2
    coarse = rng.random((cells, cells), dtype=np.float32)
    hulls = _hulls(coarse, size, rng, layout)
    water = np.array(WATER_DN, np.float32)[:, None, None]
    land = np.array(LAND_DN, np.float32)[:, None, None]
    hull = np.array(HULL_DN, np.float32)
    noise = np.array(NOISE_DN, np.float32)[:, None, None]
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": len(BANDS),
        "dtype": "uint16",
        "crs": f"EPSG:{EPSG}",
        "transform": Affine(GSD_M, 0.0, ORIGIN[0], 0.0, -GSD_M, ORIGIN[1]),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 2,
        "zlevel": 1,
        "BIGTIFF": "IF_SAFER",
    }
    land_px = 0
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, name in enumerate(BANDS, start=1):
            dst.set_band_description(i, name)
        for r0 in range(0, size, ROWS_PER_WRITE):
            rows = slice(r0, min(size, r0 + ROWS_PER_WRITE))
            is_land = _land_score(coarse, rows, size, layout) > 0.6
            land_px += int(is_land.sum())
            block = np.where(is_land[None], land, water)
            block += rng.standard_normal(block.shape, dtype=np.float32) * noise
            for cx, cy, length, beam, ang in hulls:
                half = 0.5 * length + 1
                if cy + half < rows.start or cy - half >= rows.stop:
                    continue
                y0, y1 = max(rows.start, int(cy - half)), min(rows.stop, int(cy + half) + 1)
                x0, x1 = max(0, int(cx - half)), min(size, int(cx + half) + 1)
                yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
                u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
                v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
                inside = (np.abs(u) <= length / 2) & (np.abs(v) <= beam / 2)
                sub = block[:, y0 - rows.start : y1 - rows.start, x0:x1]
                sub[:, inside] = hull[:, None]
            np.clip(block, 1, 65535, out=block)
            win = Window(0, rows.start, size, rows.stop - rows.start)
            dst.write(block.astype(np.uint16), window=win)
    return {
        "size_px": size,
        "layout": layout,
        "megapixels": round(size * size / 1e6, 2),
        "land_share": round(land_px / size / size, 3),
        "hulls": len(hulls),
        "file_mib": round(path.stat().st_size / 2**20, 1),
    }


# --------------------------------------------------------------------------- child processes


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _load(model: str, variant: str | None):
    from pipeline.detect.bundle import load_detector

    if not variant or model == "baseline":
        return load_detector(model)
    from detect_parity import make_detector, parse_variant

    return make_detector(model, parse_variant(variant))


def child_detect(tile: Path, model: str, warm: Path, variant: str | None = None) -> dict:
    import os

    import torch

    from pipeline.detect.infer import detect_scene

    t = time.perf_counter()
    det = _load(model, variant)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    detect_scene(warm, det)  # one-time costs (lazy imports, PROJ database) out of the timing
    warmup_s = time.perf_counter() - t
    load_before = os.getloadavg()[0]
    stats: dict = {}
    # input pixels through the network (every pass: flips and crops included), for the FLOPs
    model_px = [0]
    if det.kind == "learned":

        def count(module, inputs):
            x = inputs[0]
            model_px[0] += x.shape[0] * x.shape[-2] * x.shape[-1]

        det.model.register_forward_pre_hook(count)
    t, cpu = time.perf_counter(), time.process_time()
    dets = detect_scene(tile, det, stats=stats)
    detect_s = time.perf_counter() - t
    cpu_s = time.process_time() - cpu
    if os.environ.get("TW_BENCH_DETECTIONS"):  # for the parent's agreement check
        rows = [[d.lon, d.lat, d.length_m, d.score] for d in dets]
        Path(os.environ["TW_BENCH_DETECTIONS"]).write_text(json.dumps(rows))
    return {
        "detector": det.name,
        "precision": getattr(getattr(det, "precision", None), "name", "-"),
        "tile": det.tile,
        "overlap": det.overlap,
        "load_s": load_s,
        "warmup_s": warmup_s,
        "detect_s": detect_s,
        "detect_cpu_s": cpu_s,
        "model_px": model_px[0],
        "detections": len(dets),
        "windows": stats,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mib": _peak_rss_mib(),
        "loadavg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def child_forward(tile: Path, model: str, warm: Path, variant: str | None = None) -> dict:
    """Read and prepare each window the detect path detects on (timed apart), then time the
    network alone on it: all its passes (``detector.forward``) and one bare ``model(x)`` (the
    baseline: its detect_array, having no network)."""
    import contextlib
    import os

    import torch

    from pipeline.detect.infer import (
        detect_scene,
        one_thread_workers,
        window_workers,
        windows_to_detect,
    )
    from pipeline.detect.raster import open_scene

    det = _load(model, variant)
    detect_scene(warm, det)  # the same warm-up as the detect child
    read_s = core_s = single_s = core_cpu_s = 0.0
    n_tiles = 0
    tile_mpx = 0.0
    load_before = os.getloadavg()[0]
    counts = {"nodata": 0, "valid": 0, "dry": 0}

    def single(x):
        with torch.inference_mode(), det.precision.autocast():
            det.model(x)

    with contextlib.ExitStack() as stack:
        grid = stack.enter_context(open_scene(tile, det.bands, det.gsd_m))
        # the windows side by side as the detect path runs them (a chunk of them read first)
        workers = window_workers(det, grid.n_windows(det.tile, det.overlap))
        pool = stack.enter_context(one_thread_workers(workers)) if workers > 1 else None
        run = (lambda fn, xs: list(pool.map(fn, xs))) if pool else (lambda fn, xs: [*map(fn, xs)])
        reads = windows_to_detect(grid, det, counts)
        done = False
        while not done:
            chunk = []
            t = time.perf_counter()
            while len(chunk) < 4 * workers:
                item = next(reads, None)
                if item is None:
                    done = True
                    break
                chunk.append(item)
            read_s += time.perf_counter() - t
            n_tiles += len(chunk)
            tile_mpx += sum(refl.shape[1] * refl.shape[2] for _, refl, _, _ in chunk) / 1e6
            if det.kind == "learned":
                xs = [prepared for _, _, _, prepared in chunk]
                t, cpu = time.perf_counter(), time.process_time()
                run(det.forward, xs)
                core_s += time.perf_counter() - t
                core_cpu_s += time.process_time() - cpu
                t = time.perf_counter()
                run(single, xs)
                single_s += time.perf_counter() - t
            else:
                t, cpu = time.perf_counter(), time.process_time()
                run(lambda it: det.detect_array(it[1], it[2]), chunk)
                core_s += time.perf_counter() - t
                core_cpu_s += time.process_time() - cpu
                single_s = core_s
        grid_mpx = grid.width * grid.height / 1e6
    return {
        "detector": det.name,
        "kind": det.kind,
        "tiles": n_tiles,
        "tile_mpx": tile_mpx,
        "grid_mpx": grid_mpx,
        "read_s": read_s,
        "core_s": core_s,
        "core_cpu_s": core_cpu_s,
        "single_pass_s": single_s,
        "peak_rss_mib": _peak_rss_mib(),
        "loadavg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def tile_truth(size: int, seed: int, layout: str) -> list:
    """The hulls ``write_tile`` draws for this size, seed and layout, in the same order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cells = size // COARSE_PX + 2
    coarse = rng.random((cells, cells), dtype=np.float32)
    return _hulls(coarse, size, rng, layout)


def score_on_truth(dets_file: Path, hulls: list, radius_m: float = 30.0) -> dict:
    """Recall, precision and length MAE of a child's detections against the tile's own hulls:
    each hull takes the nearest detection within ``radius_m`` of its centre (one each)."""
    import numpy as np
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    rows = json.loads(dets_file.read_text())
    if not rows or not hulls:
        return {"recall": 0.0, "precision": 0.0, "length_mae_m": None}
    hx = np.array([ORIGIN[0] + h[0] * GSD_M for h in hulls])
    hy = np.array([ORIGIN[1] - h[1] * GSD_M for h in hulls])
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)
    x, y = to_utm.transform([r[0] for r in rows], [r[1] for r in rows])
    dist, idx = cKDTree(np.c_[hx, hy]).query(np.c_[x, y])
    best: dict = {}
    for k in np.nonzero(dist <= radius_m)[0]:
        if idx[k] not in best or dist[k] < dist[best[idx[k]]]:
            best[idx[k]] = k
    errors = [abs(rows[k][2] - hulls[j][2] * GSD_M) for j, k in best.items()]
    return {
        "recall": round(len(best) / len(hulls), 4),
        "precision": round(len(best) / len(rows), 4),
        "length_mae_m": round(float(np.mean(errors)), 2) if errors else None,
    }


def agreement_with(reference: Path, other: Path) -> str:
    """same/lost/new and the largest length difference of two children's detections."""
    from types import SimpleNamespace

    from detect_parity import agreement

    def load(p: Path):
        return [
            SimpleNamespace(lon=a, lat=b, length_m=c) for a, b, c, _ in json.loads(p.read_text())
        ]

    a = agreement(load(reference), load(other))
    dlen = max(a["dlen"]) if a["dlen"] else 0.0
    return f"{a['matched']}/{a['lost']}/{a['new']} (max |d length| {dlen:.1f} m)"


def run_child(mode: str, tile: Path, model: str, warm: Path, args, variant=None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--tile", str(tile), "--model", model]
    cmd += ["--warm", str(warm), "--threads", str(args.threads)]
    if variant:
        cmd += ["--variant", variant]
    gdal_cache_mib = args.gdal_cache_mib
    env = dict(os.environ)
    if mode == "detect":
        env["TW_BENCH_DETECTIONS"] = str(args.dets_dir / f"{abs(hash((model, variant)))}.json")
    if gdal_cache_mib:  # GDAL reads a plain number under 100000 as megabytes
        env["GDAL_CACHEMAX"] = str(gdal_cache_mib)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    if res.returncode != 0:
        raise SystemExit(f"child {mode} {model} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10980, help="tile side in pixels")
    ap.add_argument("--model", action="append", help="detector (repeatable); 'fresh' = new init")
    ap.add_argument("--train-config", help="architecture of the fresh bundle (TrainConfig YAML)")
    ap.add_argument("--work", help="folder for the tile (kept); default a temporary folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=["mixed", "coast"], default="mixed")
    ap.add_argument(
        "--variant", action="append", help="inference settings of the learned bundles (repeatable)"
    )
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--max-rss-mib", type=float, default=4096.0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--gdal-cache-mib", type=int, help="GDAL_CACHEMAX of the children (default: GDAL's)"
    )
    ap.add_argument("--child", choices=["detect", "forward"], help=argparse.SUPPRESS)
    ap.add_argument("--tile", help=argparse.SUPPRESS)
    ap.add_argument("--warm", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        fn = child_detect if args.child == "detect" else child_forward
        variant = args.variant[0] if args.variant else None
        print(json.dumps(fn(Path(args.tile), args.model[0], Path(args.warm), variant)))
        return 0

    with tempfile.TemporaryDirectory(prefix="tw-fullsize-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        suffix = "" if args.layout == "mixed" else f"-{args.layout}"
        tile = work / f"s2-synthetic-{args.size}-seed{args.seed}{suffix}.tif"
        facts_file = tile.with_suffix(".json")
        t = time.perf_counter()
        if tile.exists() and facts_file.exists():
            facts = json.loads(facts_file.read_text()) | {"reused": True}
        else:
            facts = write_tile(tile, args.size, args.seed, args.layout)
            facts["write_s"] = round(time.perf_counter() - t, 1)
            write_json(str(facts_file), facts)
        print(f"tile {tile}: {facts}", flush=True)
        warm = work / f"s2-synthetic-{WARMUP_PX}-seed{args.seed}.tif"
        if not warm.exists():
            write_tile(warm, WARMUP_PX, args.seed)
        rows = []
        args.dets_dir = Path(tempfile.mkdtemp(prefix="dets-", dir=work))
        first: dict = {}
        for label, arg in resolve_models(args.model, work, args.train_config):
            variants = [None] if arg == "baseline" else (args.variant or [None])
            for variant in variants:
                d = run_child("detect", tile, arg, warm, args, variant)
                f = run_child("forward", tile, arg, warm, args, variant)
                dets_file = args.dets_dir / f"{abs(hash((arg, variant)))}.json"
                first.setdefault(arg, dets_file)
                row = {
                    "detector": d["detector"] + (" (fresh init)" if label == "fresh" else ""),
                    "variant": variant or "bundle's",
                    "precision": d["precision"],
                    "tile/overlap": f"{d['tile']}/{d['overlap']}",
                    "tiles": f["tiles"],
                    "grid_mpx": round(f["grid_mpx"], 1),
                    "detect_s": round(d["detect_s"], 3),
                    "mpx_per_s": round(f["grid_mpx"] / d["detect_s"], 2),
                    "forward_s": round(f["core_s"], 3),
                    "single_pass_s": round(f["single_pass_s"], 3),
                    "detect/forward": round(d["detect_s"] / f["core_s"], 2),
                    "detect_cpu_s": round(d["detect_cpu_s"], 1),
                    "forward_cpu_s": round(f["core_cpu_s"], 1),
                    "detect/forward CPU": round(d["detect_cpu_s"] / max(1e-9, f["core_cpu_s"]), 2),
                    "model_gpx": round(d["model_px"] / 1e9, 3),
                    "read_s": round(f["read_s"], 1),
                    "peak_rss_mib": round(d["peak_rss_mib"]),
                    "forward_peak_rss_mib": round(f["peak_rss_mib"]),
                    "detections": d["detections"],
                    "same/lost/new vs first": agreement_with(first[arg], dets_file),
                    **{
                        f"truth {k}": v
                        for k, v in score_on_truth(
                            dets_file, tile_truth(args.size, args.seed, args.layout)
                        ).items()
                    },
                    "windows": d.get("windows"),
                    "load_s": round(d["load_s"], 2),
                    "warmup_s": round(d["warmup_s"], 2),
                    "torch_threads": d["torch_threads"],
                    "gdal_cache_mib": args.gdal_cache_mib or "default",
                    "loadavg": f"{d['loadavg'][0]}-{d['loadavg'][1]} / "
                    f"{f['loadavg'][0]}-{f['loadavg'][1]}",
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    cols = [
        "detector",
        "variant",
        "tile/overlap",
        "tiles",
        "grid_mpx",
        "detect_s",
        "mpx_per_s",
        "forward_s",
        "single_pass_s",
        "detect/forward",
        "detect_cpu_s",
        "forward_cpu_s",
        "detect/forward CPU",
        "read_s",
        "peak_rss_mib",
        "detections",
        "same/lost/new vs first",
        "truth recall",
        "truth precision",
        "truth length_mae_m",
        "loadavg",
    ]
    print(markdown(rows, cols))
    write_json(args.json, {"tile": facts, "rows": rows, "machine": machine()})
    over = [r for r in rows if r["peak_rss_mib"] > args.max_rss_mib]
    if over:
        print(f"peak memory over {args.max_rss_mib:.0f} MiB: {[r['detector'] for r in over]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
