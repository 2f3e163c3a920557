"""Seeded test imagery: GeoTIFFs over a configured port's AOI, in the simulator's layout or as
loose files, with SCL masks whose cloud placement the tests choose."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.config import Port, load_port
from pipeline.ingest.grid import aoi_grid, to_crs
from pipeline.records import iso

BANDS = ["B02", "B03", "B04", "B08", "B11"]


def port(name: str = "vostochny") -> Port:
    return load_port(name)


def grid(p: Port, res: float = 10.0, pad_px: int = 20):
    """A grid a little larger than the AOI (like a real tile cut)."""
    from rasterio.transform import from_origin

    crs, tr, w, h = aoi_grid(p, res)
    return (
        crs,
        from_origin(tr.c - pad_px * res, tr.f + pad_px * res, res, res),
        w + 2 * pad_px,
        (h + 2 * pad_px),
    )


def berth_pixels(p: Port, berth_id: str, crs: str, transform, shape, margin_m: float = 60.0):
    from rasterio.features import geometry_mask

    g = to_crs(p.berth(berth_id).shape, crs).buffer(margin_m)
    return geometry_mask([g], out_shape=shape, transform=transform, invert=True, all_touched=True)


def make_arrays(
    p: Port, seed: int, cloudy_berths=(), cloud_fraction=0.0, nodata_left=0.0, res: float = 10.0
):
    """(data uint16 (5,h,w), scl uint8, crs, transform): water/land SCL, clouds over the named
    berths plus a random share of the scene, and nodata on the left ``nodata_left`` share."""
    rng = np.random.default_rng(seed)
    crs, tr, w, h = grid(p, res)
    data = rng.integers(300, 1500, size=(len(BANDS), h, w), dtype=np.uint16)
    scl = np.full((h, w), 6, dtype=np.uint8)
    scl[: h // 3] = 5
    cloud = np.zeros((h, w), dtype=bool)
    if cloud_fraction > 0:
        rows = int(h * cloud_fraction)
        cloud[h - rows :] = True
    for b in cloudy_berths:
        cloud |= berth_pixels(p, b, crs, tr, (h, w))
    scl[cloud] = 9
    data[:, cloud] = 6000
    if nodata_left > 0:
        cols = int(w * nodata_left)
        scl[:, :cols] = 0
        data[:, :, :cols] = 0
    return data, scl, crs, tr


def write_tif(path: Path, data: np.ndarray, crs, transform, names, nodata=0, tags=None):
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    count, h, w = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype=data.dtype.name,
        count=count,
        height=h,
        width=w,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data)
        for i, n in enumerate(names or [], start=1):
            dst.set_band_description(i, n)
        if tags:
            dst.update_tags(**tags)
    return path


def simulator_scene(
    root: Path, p: Port, when: datetime, seed: int, sensor: str = "sentinel-2-l2a", **kw
):
    """One scene in the simulator layout: scenes/<id>/scene.tif, scl.tif, item.json."""
    data, scl, crs, tr = make_arrays(p, seed, **kw)
    sid = f"sim_{p.name}_{when:%Y%m%dT%H%M%S}"
    d = root / "scenes" / sid
    write_tif(d / "scene.tif", data, crs, tr, BANDS)
    write_tif(d / "scl.tif", scl[None], crs, tr, ["SCL"])
    (d / "labels.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": sid,
        "geometry": p.aoi_shape.__geo_interface__,
        "bbox": list(p.aoi_shape.bounds),
        "properties": {
            "datetime": iso(when),
            "gsd": 10.0,
            "proj:epsg": int(crs.split(":")[1]),
            "eo:cloud_cover": float(100 * (scl >= 8).mean()),
            "tankerwatch:port": p.name,
            "tankerwatch:sensor": sensor,
        },
        "assets": {"image": {"href": "scene.tif"}, "scl": {"href": "scl.tif"}},
        "links": [],
    }
    (d / "item.json").write_text(json.dumps(item))
    return d


def sar_arrays(p: Port, seed: int, scale: str = "linear", res: float = 10.0):
    """(VV, VH float32 (2,h,w), crs, transform): speckled sigma0 (4.4 looks), sea about
    -18 / -25 dB, land (the northern third) -8 / -15 dB; in dB when ``scale`` is "db"."""
    rng = np.random.default_rng(seed)
    crs, tr, w, h = grid(p, res)
    out = []
    for sea_db, land_db in ((-18.0, -8.0), (-25.0, -15.0)):
        mean = np.full((h, w), 10 ** (sea_db / 10))
        mean[: h // 3] = 10 ** (land_db / 10)
        out.append(rng.gamma(4.4, mean / 4.4))
    arr = np.stack(out)
    if scale == "db":
        arr = 10 * np.log10(arr)
    return arr.astype(np.float32), crs, tr
