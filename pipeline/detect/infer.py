"""Tiled detection over a whole scene: windowed reads of a UTM VRT at the model GSD (bounded
memory whatever the scene size), overlap between tiles, and cross-tile duplicate suppression with
torchvision.ops.nms on point-centred squares (point-distance NMS).

A reader thread reads (and, for a detector with ``prepare``, normalises) the next windows while
the detector runs on the current one. Windows that are all nodata, or have fewer water pixels
(NDWI > 0: green brighter than near-infrared) than the detector's ``min_water_px``, are not
given to the detector.

A learned detector on the CPU given N > 1 torch threads runs N windows side by side, each on one
thread (``window_workers``), instead of one window at a time over N threads: no thread waits
for another inside a layer, which on a busy machine makes N intra-op threads several times
slower than one (on a quiet one the two are equal; BENCHMARKS.md, "Runtimes side by side").
Results are taken in window order, so the detections are those of one window at a time.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from pipeline.detect.detector import Detector
from pipeline.detect.geometry import Box, footprint_lonlat, heading_from_pixel_angle
from pipeline.detect.raster import bound_block_cache, open_scene
from pipeline.errors import TankerWatchError
from pipeline.records import Detection

log = logging.getLogger(__name__)


def scene_path(path: Path | str) -> Path:
    path = Path(path)
    if path.is_dir():
        if (path / "scene.tif").exists():
            return path / "scene.tif"
        raise TankerWatchError(f"{path}: folder has no scene.tif")
    return path


def default_scene_id(path: Path) -> str:
    return path.parent.name if path.name == "scene.tif" else path.stem


def point_nms(dets: list[dict], radius_px: float) -> list[dict]:
    """Keep the best-scoring detection among those whose centres lie within ``radius_px`` of each
    other along both axes (torchvision.ops.nms on squares of side ``radius_px``)."""
    if len(dets) <= 1:
        return list(dets)
    import torch
    from torchvision.ops import nms

    c = torch.tensor([[d["cx"], d["cy"]] for d in dets], dtype=torch.float64)
    h = radius_px / 2.0
    boxes = torch.cat([c - h, c + h], dim=1)
    scores = torch.tensor([d["score"] for d in dets], dtype=torch.float64)
    keep = nms(boxes, scores, 0.0)
    return [dets[i] for i in keep.tolist()]


READ_AHEAD = 2  # windows read ahead of the detector (a detector's ``read_ahead`` overrides)


def water_bands(detector) -> tuple[int, int] | None:
    """Indexes of green (B03) and near-infrared (B08) among the detector's bands, if it has
    both (the water test needs them)."""
    from pipeline.bands import canonical_band

    names = [canonical_band(b) for b in detector.bands]
    if "B03" in names and "B08" in names:
        return names.index("B03"), names.index("B08")
    return None


def water_pixels(refl: np.ndarray, valid: np.ndarray, bands: tuple[int, int]) -> int:
    """Valid pixels with NDWI = (green - nir) / (green + nir) > 0 (the sign of the product, as
    the baseline's own test with its 1e-6, without a division)."""
    green, nir = refl[bands[0]], refl[bands[1]]
    return int(np.count_nonzero(((green - nir) * (green + nir + 1e-6) > 0) & valid))


def read_ahead(items: Iterator, depth: int = READ_AHEAD) -> Iterator:
    """Iterate ``items`` in a thread, up to ``depth`` items ahead of the consumer (GDAL and
    numpy release the GIL while they decode and convert). An exception in the thread is raised
    in the consumer; a consumer that stops early stops the thread."""
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))

    thread = threading.Thread(target=run, name="tankerwatch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def window_workers(detector, n_windows: int) -> int:
    """Windows detected side by side: the detector's ``workers`` when it sets one, else for a
    learned detector on the CPU torch's thread count (each window then runs on one thread), at
    most ``n_windows``; 1 (one window at a time, on all torch threads) otherwise."""
    workers = getattr(detector, "workers", None)
    if workers is None:
        device = str(getattr(detector, "device", "cpu")).split(":")[0]
        if getattr(detector, "kind", "") != "learned" or device != "cpu":
            return 1
        import torch

        workers = torch.get_num_threads()
    return max(1, min(int(workers), n_windows))


@contextlib.contextmanager
def one_thread_workers(n: int):
    """A pool of ``n`` threads that each run torch on one thread. The calling thread keeps
    its own thread count (torch's default for threads started later is restored on exit)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    own = torch.get_num_threads()
    pool = ThreadPoolExecutor(
        n, thread_name_prefix="tankerwatch-detect", initializer=torch.set_num_threads, initargs=(1,)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(own)


def ordered_map(pool, fn: Callable, items: Iterator, ahead: int) -> Iterator:
    """(item, fn(item)) for each item, computed in ``pool`` up to ``ahead`` items at once,
    yielded in the items' order (an exception in fn is raised here, in order)."""
    pending: collections.deque = collections.deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            first, fut = pending.popleft()
            yield first, fut.result()
    while pending:
        first, fut = pending.popleft()
        yield first, fut.result()


def land_raster(grid, land, window) -> np.ndarray:
    """Boolean [h, w] of ``land`` (shapely, EPSG:4326) on a window of the scene grid (pixel
    centres inside; all False without land)."""
    from rasterio.features import geometry_mask
    from rasterio.windows import transform as window_transform

    from pipeline.detect.geometry import to_crs

    shape = (int(window.height), int(window.width))
    if land is None:
        return np.zeros(shape, dtype=bool)
    g = to_crs(land, "EPSG:4326", grid.crs)
    if g.is_empty:
        return np.zeros(shape, dtype=bool)
    return geometry_mask([g], shape, window_transform(window, grid.transform), invert=True)


def windows_to_detect(grid, detector: Detector, stats: dict, land=None) -> Iterator:
    """(window, refl, valid, prepared) of the windows worth detecting on, in row order. A
    detector with ``uses_land`` (SAR CFAR) gets ``land`` rasterised on each window as
    ``prepared`` (its detect_array takes it as ``land=``)."""
    water = water_bands(detector)
    min_water = int(getattr(detector, "min_water_px", 0) or 0)
    prepare = getattr(detector, "prepare", None)
    wants_land = bool(getattr(detector, "uses_land", False))
    for win in grid.windows(detector.tile, detector.overlap):
        refl, valid = grid.read(win)
        if wants_land:
            if not valid.any():
                stats["nodata"] += 1
                continue
            stats["valid"] += 1
            yield win, refl, valid, ("land", land_raster(grid, land, win))
            continue
        if not valid.any():
            stats["nodata"] += 1
            continue
        stats["valid"] += 1
        if min_water and water is not None and water_pixels(refl, valid, water) < min_water:
            stats["dry"] += 1
            continue
        yield win, refl, valid, (prepare(refl, valid) if prepare is not None else None)


def detect_grid(grid, detector: Detector, stats: dict | None = None, land=None) -> list[dict]:
    """All detections of an opened scene grid, in that grid's pixel space (after NMS).
    ``stats`` (a dict) receives the window counts: nodata, valid, dry (skipped), detected.
    ``land`` (shapely, EPSG:4326) is handed to detectors that use it (``uses_land``)."""
    margin = detector.overlap / 2.0
    bound_block_cache(grid, detector.tile)
    counts = {"nodata": 0, "valid": 0, "dry": 0, "detected": 0}
    dets: list[dict] = []
    n_windows = grid.n_windows(detector.tile, detector.overlap)
    workers = window_workers(detector, n_windows)
    depth = getattr(detector, "read_ahead", READ_AHEAD)
    if n_windows == 1:
        depth = 0  # nothing to read while the one window is detected: no reader thread
    elif depth > 0:
        depth = max(depth, workers)
    windows = read_ahead(windows_to_detect(grid, detector, counts, land), depth)

    def run(item) -> list[dict]:
        _, refl, valid, prepared = item
        if isinstance(prepared, tuple) and prepared[0] == "land":
            return detector.detect_array(refl, valid, land=prepared[1])
        if prepared is not None:
            return detector.detect_prepared(prepared, valid)
        return detector.detect_array(refl, valid)

    with contextlib.ExitStack() as stack:
        stack.callback(windows.close)  # stops the reader thread, after the workers
        if workers > 1:
            pool = stack.enter_context(one_thread_workers(workers))
            results = ordered_map(pool, run, windows, 2 * workers)
        else:
            results = ((item, run(item)) for item in windows)
        for (win, _, _, _), found in results:
            counts["detected"] += 1
            x0, y0 = int(win.col_off), int(win.row_off)
            w, h = int(win.width), int(win.height)
            lo_x = 0 if x0 == 0 else margin
            lo_y = 0 if y0 == 0 else margin
            hi_x = w if x0 + w >= grid.width else w - margin
            hi_y = h if y0 + h >= grid.height else h - margin
            dets += _in_core(found, x0, y0, lo_x, lo_y, hi_x, hi_y)
    if stats is not None:
        stats.update(counts)
    if not counts["valid"]:
        raise TankerWatchError(f"{grid.path}: all pixels are nodata")
    return point_nms(dets, detector.nms_radius_m / grid.gsd_m)


def _in_core(found, x0, y0, lo_x, lo_y, hi_x, hi_y) -> list[dict]:
    """The detections of a window whose centre lies in its core, in scene pixels."""
    out = []
    for d in found:
        if lo_x <= d["cx"] < hi_x and lo_y <= d["cy"] < hi_y:
            d = dict(d)
            d["cx"] += x0
            d["cy"] += y0
            out.append(d)
    return out


def detect_scene(
    path: Path | str,
    detector: Detector,
    land=None,
    chips_dir: Path | str | None = None,
    scene_id: str | None = None,
    stats: dict | None = None,
    berths=None,
    berth_score: float | None = None,
) -> list[Detection]:
    """Detect vessels in one scene (GeoTIFF, or a dataset folder holding scene.tif).

    land: optional shapely geometry in EPSG:4326; detections whose centre lies on it are dropped
    (and a detector with ``uses_land``, the SAR CFAR, masks it out of its background).
    chips_dir: optional folder for one PNG evidence crop per detection.
    stats: optional dict receiving the window counts (see detect_grid).
    berths, berth_score: optional shapely geometry in EPSG:4326 (the zones of the oil berths)
    and a score below the detector's threshold: peaks centred inside ``berths`` are kept down to
    ``berth_score`` (a detector without ``with_score``, or a berth score at or above its
    threshold, changes nothing). Raises TankerWatchError for a berth score outside (0, 1).
    """
    path = scene_path(path)
    sid = scene_id or default_scene_id(path)
    threshold = getattr(detector, "score_threshold", None)
    zone = None
    if berths is not None and berth_score is not None:
        if not 0 < berth_score < 1:
            raise TankerWatchError(f"berth score {berth_score} is not inside (0, 1)")
        if threshold is not None and berth_score < threshold and hasattr(detector, "with_score"):
            zone = berths
            detector = detector.with_score(berth_score)
    with open_scene(path, detector.bands, detector.gsd_m) as grid:
        raw = detect_grid(grid, detector, stats, land)
        raw = off_land(raw, grid, land)
        if zone is not None:
            raw = above_or_at_berths(raw, grid, zone, threshold)
        spec = getattr(detector, "length_spec", None)
        if spec is not None and spec.mode != "regression":
            from pipeline.detect.hull import hull_lengths

            raw = hull_lengths(grid, raw, spec, detector.bands, land)
        out = detection_records(raw, grid, sid, detector.model_id)
        if chips_dir is not None:
            for d, det in zip(raw, out, strict=True):
                box = Box(d["cx"], d["cy"], d["length"], d["beam"], d["angle"])
                write_chip(grid, box, Path(chips_dir) / f"{sid}_{det.id}.png")
    out.sort(key=lambda d: -d.score)
    return out


def centres_in(raw: list[dict], grid, shape) -> list[bool]:
    """Whether each pixel-space detection's centre lies in ``shape`` (shapely, EPSG:4326)."""
    if not raw:
        return []
    from shapely.geometry import Point
    from shapely.prepared import prep

    from pipeline.geo import transformer

    prepared = prep(shape)
    tr = transformer(grid.crs, "EPSG:4326")
    return [
        prepared.contains(Point(*tr.transform(*(grid.transform @ (d["cx"], d["cy"]))))) for d in raw
    ]


def off_land(raw: list[dict], grid, land) -> list[dict]:
    """The pixel-space detections of a grid whose centre is not on ``land`` (shapely, EPSG:4326;
    None keeps all)."""
    if land is None:
        return list(raw)
    return [d for d, on in zip(raw, centres_in(raw, grid, land), strict=True) if not on]


def above_or_at_berths(raw: list[dict], grid, berths, threshold: float) -> list[dict]:
    """The pixel-space detections scoring at least ``threshold``, and those below it whose centre
    lies in ``berths`` (shapely, EPSG:4326: the oil berths' zones)."""
    inside = centres_in(raw, grid, berths)
    return [d for d, at in zip(raw, inside, strict=True) if d["score"] >= threshold or at]


def detection_records(raw: list[dict], grid, scene_id: str, model_id: str) -> list[Detection]:
    """Detection records (EPSG:4326 footprints, ground metres) of pixel-space detections."""
    out: list[Detection] = []
    for d in raw:
        box = Box(d["cx"], d["cy"], d["length"], d["beam"], d["angle"], d.get("cls", "vessel"))
        poly, lon, lat = footprint_lonlat(box, grid.crs, grid.transform)
        out.append(
            Detection(
                scene_id=scene_id,
                geometry=poly.wkt,
                lon=lon,
                lat=lat,
                length_m=round(box.length * grid.gsd_m, 2),
                beam_m=round(box.beam * grid.gsd_m, 2),
                heading_deg=round(heading_from_pixel_angle(box.angle), 2),
                score=round(float(d["score"]), 4),
                cls=box.cls,
                model=model_id,
            )
        )
    return out


def write_chip(grid, box: Box, target: Path, size_px: int = 64) -> None:
    """An RGB PNG crop (percentile stretch) centred on a detection, as evidence."""
    from PIL import Image
    from rasterio.windows import Window

    from pipeline.fsutil import atomic_path

    half = size_px // 2
    x0 = int(np.clip(box.cx - half, 0, max(0, grid.width - size_px)))
    y0 = int(np.clip(box.cy - half, 0, max(0, grid.height - size_px)))
    win = Window(x0, y0, min(size_px, grid.width - x0), min(size_px, grid.height - y0))
    refl, _ = grid.read(win)
    rgb = refl[[2, 1, 0]] if refl.shape[0] >= 3 else np.repeat(refl[:1], 3, axis=0)
    hi = float(np.percentile(rgb, 99.5)) or 1.0
    img = (np.clip(rgb / hi, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    with atomic_path(target) as tmp:
        Image.fromarray(img).resize((img.shape[1] * 4, img.shape[0] * 4), Image.NEAREST).save(tmp)
