"""Geometry of the AOI grid: the port's UTM grid, AOI windows in any CRS, true ground GSD."""

from __future__ import annotations

import math

from pipeline.config import Port


def to_crs(geom, crs: str, src_crs: str = "EPSG:4326"):
    """Transform a shapely geometry between CRSs (pyproj, always lon/lat axis order)."""
    from pipeline.geo import reproject

    return reproject(geom, src_crs, crs)


def aoi_grid(port: Port, resolution_m: float) -> tuple[str, object, int, int]:
    """The AOI on the port's UTM grid: (crs, transform, width, height), snapped to the pixel."""
    from rasterio.transform import from_origin

    crs = port.utm_crs()
    minx, miny, maxx, maxy = to_crs(port.aoi_shape, crs).bounds
    r = resolution_m
    x0, y0 = math.floor(minx / r) * r, math.floor(miny / r) * r
    x1, y1 = math.ceil(maxx / r) * r, math.ceil(maxy / r) * r
    width, height = int(round((x1 - x0) / r)), int(round((y1 - y0) / r))
    return crs, from_origin(x0, y1, r, r), width, height


def aoi_window(dataset, port: Port):
    """The window of ``dataset`` (rasterio) covering the port AOI, rounded out to whole pixels
    and cut to the dataset; None when the AOI and the dataset do not overlap."""
    from rasterio.windows import Window, from_bounds

    geom = to_crs(port.aoi_shape, dataset.crs.to_string())
    win = from_bounds(*geom.bounds, transform=dataset.transform)
    c0, r0 = math.floor(win.col_off), math.floor(win.row_off)
    c1, r1 = math.ceil(win.col_off + win.width), math.ceil(win.row_off + win.height)
    win = Window(c0, r0, c1 - c0, r1 - r0)
    full = Window(0, 0, dataset.width, dataset.height)
    try:
        win = win.intersection(full)
    except Exception:  # rasterio raises WindowError when they do not intersect
        return None
    if win.width < 1 or win.height < 1:
        return None
    return Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))


def footprint(crs: str, transform, shape: tuple[int, int]):
    """The raster's extent as an EPSG:4326 polygon."""
    from shapely.geometry import box

    rows, cols = shape
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (cols, rows)
    return to_crs(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), "EPSG:4326", crs)


def ground_gsd_m(crs: str, transform, shape: tuple[int, int]) -> float:
    """True ground size of one pixel (mean of x and y steps) at the raster centre, in metres.

    Web-Mercator pixels of 10 units are 10 x cos(latitude) ground metres; UTM pixels are metres.
    """
    from pyproj import Geod, Transformer

    rows, cols = shape
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    c, r = cols / 2.0, rows / 2.0
    pts = [transform @ (c, r), transform @ (c + 1, r), transform @ (c, r + 1)]
    (lon0, lat0), (lon1, lat1), (lon2, lat2) = (tr.transform(x, y) for x, y in pts)
    geod = Geod(ellps="WGS84")
    dx = geod.inv(lon0, lat0, lon1, lat1)[2]
    dy = geod.inv(lon0, lat0, lon2, lat2)[2]
    return round((dx + dy) / 2.0, 3)
