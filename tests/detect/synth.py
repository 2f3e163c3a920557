"""Seeded synthetic scenes for the detector tests: water, a strip of land, bright hulls."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

BANDS = ["B02", "B03", "B04", "B08"]
# reflectance of water and hull per band (B02, B03, B04, B08)
WATER = np.array([0.05, 0.06, 0.04, 0.02])
HULL = np.array([0.25, 0.26, 0.27, 0.30])


def ship_polygon(cx: float, cy: float, length_m: float, beam_m: float, heading_deg: float):
    """Oriented rectangle in a metric CRS centred on (cx, cy); heading clockwise from north."""
    from shapely.geometry import Polygon

    h = math.radians(heading_deg)
    ux, uy = math.sin(h) * length_m / 2, math.cos(h) * length_m / 2
    vx, vy = math.cos(h) * beam_m / 2, -math.sin(h) * beam_m / 2
    return Polygon(
        [
            (cx - ux - vx, cy - uy - vy),
            (cx + ux - vx, cy + uy - vy),
            (cx + ux + vx, cy + uy + vy),
            (cx - ux + vx, cy - uy + vy),
        ]
    )


def utm_scene(
    width: int = 256,
    height: int = 256,
    ships: list[tuple[float, float, float, float, float]] = (),
    epsg: int = 32652,
    origin: tuple[float, float] = (500000.0, 4750000.0),
    gsd: float = 10.0,
    seed: int = 0,
    supersample: int = 5,
):
    """Reflectance [4, h, w] on a UTM grid with ships given as (col, row, length_m, beam_m,
    heading_deg) in pixel coordinates of that grid; returns (refl, transform, crs, polygons)."""
    from rasterio.crs import CRS
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    transform = from_origin(origin[0], origin[1], gsd, gsd)
    polys = []
    for col, row, length_m, beam_m, heading in ships:
        x, y = transform @ (col, row)
        polys.append(ship_polygon(x, y, length_m, beam_m, heading))
    fine = from_origin(origin[0], origin[1], gsd / supersample, gsd / supersample)
    frac = np.zeros((height, width), np.float32)
    if polys:
        mask = rasterize(
            [(p, 1) for p in polys],
            out_shape=(height * supersample, width * supersample),
            transform=fine,
            dtype="uint8",
        ).astype(np.float32)
        frac = mask.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    refl = WATER[:, None, None] * (1 - frac) + HULL[:, None, None] * frac
    refl = refl + rng.normal(0, 0.003, size=refl.shape)
    return refl.astype(np.float32), transform, CRS.from_epsg(epsg), polys


def write_geotiff(
    path: Path,
    refl: np.ndarray,
    transform,
    crs,
    bands: list[str] | None = BANDS,
    offset: float = 0.0,
    as_float: bool = False,
    nodata=None,
):
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    if as_float:
        data = refl.astype(np.float32)
        dtype = "float32"
    else:
        data = np.clip(np.round(refl * 10000 + offset), 0, 65535).astype(np.uint16)
        dtype = "uint16"
    profile = {
        "driver": "GTiff",
        "width": refl.shape[2],
        "height": refl.shape[1],
        "count": refl.shape[0],
        "dtype": dtype,
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if bands:
            for i, b in enumerate(bands, start=1):
                dst.set_band_description(i, b)
    return path


def reproject_to(refl, transform, crs, dst_crs: str, res: float):
    """Warp a reflectance array onto another CRS (e.g. Web Mercator) at ``res`` CRS units."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    h, w = refl.shape[1:]
    from rasterio.transform import array_bounds

    bounds = array_bounds(h, w, transform)
    dt, dw, dh = calculate_default_transform(crs, dst_crs, w, h, *bounds, resolution=res)
    out = np.zeros((refl.shape[0], dh, dw), np.float32)
    reproject(
        refl,
        out,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dt,
        dst_crs=dst_crs,
        resampling=Resampling.bilinear,
    )
    return out, dt


def write_labels(path: Path, polys, crs, classes: list[str] | None = None) -> Path:
    from shapely.geometry import mapping

    from pipeline.detect.geometry import to_crs

    feats = []
    for i, p in enumerate(polys):
        g = to_crs(p, crs, "EPSG:4326")
        rect = p.minimum_rotated_rectangle
        xs, ys = rect.exterior.coords.xy
        sides = sorted(math.hypot(xs[k + 1] - xs[k], ys[k + 1] - ys[k]) for k in range(2))
        feats.append(
            {
                "type": "Feature",
                "geometry": mapping(g),
                "properties": {
                    "id": i,
                    "class": (classes[i] if classes else "vessel"),
                    "length_m": round(sides[1], 2),
                    "beam_m": round(sides[0], 2),
                },
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def sparse_geotiff(path: Path, size: int, res: float, crs="EPSG:32652", origin=None, bands=BANDS):
    """A ``size`` x ``size`` px uint16 GeoTIFF with no block written: it declares its size but
    holds a few hundred KiB (the tile index) on disk."""
    import rasterio
    from rasterio.transform import from_origin

    x, y = origin or (500000.0, 4750000.0)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": len(bands)}
    profile |= {"dtype": "uint16", "crs": crs, "transform": from_origin(x, y, res, res)}
    profile |= {"tiled": True, "blockxsize": 1024, "blockysize": 1024, "BIGTIFF": "YES"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile, SPARSE_OK=True) as dst:
        for i, b in enumerate(bands, start=1):
            dst.set_band_description(i, b)
    return path


def png_as_tif(path: Path) -> Path:
    """A plain PNG image saved under a .tif name."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path, format="PNG")
    return path
