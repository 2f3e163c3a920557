"""Tiled detection over a whole scene: windowed reads of a UTM VRT at the model GSD (bounded
memory whatever the scene size), overlap between tiles, and cross-tile duplicate suppression with
torchvision.ops.nms on point-centred squares (point-distance NMS)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipeline.detect.detector import Detector
from pipeline.detect.geometry import Box, footprint_lonlat, heading_from_pixel_angle
from pipeline.detect.raster import open_scene
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


def detect_grid(grid, detector: Detector) -> list[dict]:
    """All detections of an opened scene grid, in that grid's pixel space (after NMS)."""
    tile, overlap = detector.tile, detector.overlap
    margin = overlap / 2.0
    dets: list[dict] = []
    any_valid = False
    for win in grid.windows(tile, overlap):
        refl, valid = grid.read(win)
        if not valid.any():
            continue
        any_valid = True
        x0, y0 = int(win.col_off), int(win.row_off)
        w, h = int(win.width), int(win.height)
        lo_x = 0 if x0 == 0 else margin
        lo_y = 0 if y0 == 0 else margin
        hi_x = w if x0 + w >= grid.width else w - margin
        hi_y = h if y0 + h >= grid.height else h - margin
        for d in detector.detect_array(refl, valid):
            if lo_x <= d["cx"] < hi_x and lo_y <= d["cy"] < hi_y:
                d = dict(d)
                d["cx"] += x0
                d["cy"] += y0
                dets.append(d)
    if not any_valid:
        raise TankerWatchError(f"{grid.path}: all pixels are nodata")
    return point_nms(dets, detector.nms_radius_m / grid.gsd_m)


def detect_scene(
    path: Path | str,
    detector: Detector,
    land=None,
    chips_dir: Path | str | None = None,
    scene_id: str | None = None,
) -> list[Detection]:
    """Detect vessels in one scene (GeoTIFF, or a dataset folder holding scene.tif).

    land: optional shapely geometry in EPSG:4326; detections whose centre lies on it are dropped.
    chips_dir: optional folder for one PNG evidence crop per detection.
    """
    path = scene_path(path)
    sid = scene_id or default_scene_id(path)
    with open_scene(path, detector.bands, detector.gsd_m) as grid:
        raw = detect_grid(grid, detector)
        prepared = None
        if land is not None:
            from shapely.prepared import prep

            prepared = prep(land)
        out: list[Detection] = []
        for d in raw:
            box = Box(d["cx"], d["cy"], d["length"], d["beam"], d["angle"], d.get("cls", "vessel"))
            poly, lon, lat = footprint_lonlat(box, grid.crs, grid.transform)
            if prepared is not None:
                from shapely.geometry import Point

                if prepared.contains(Point(lon, lat)):
                    continue
            det = Detection(
                scene_id=sid,
                geometry=poly.wkt,
                lon=lon,
                lat=lat,
                length_m=round(box.length * grid.gsd_m, 2),
                beam_m=round(box.beam * grid.gsd_m, 2),
                heading_deg=round(heading_from_pixel_angle(box.angle), 2),
                score=round(float(d["score"]), 4),
                cls=box.cls,
                model=detector.model_id,
            )
            out.append(det)
            if chips_dir is not None:
                write_chip(grid, box, Path(chips_dir) / f"{sid}_{det.id}.png")
    out.sort(key=lambda d: -d.score)
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
