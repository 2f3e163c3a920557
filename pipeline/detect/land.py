"""Land of a labelled scene, for scoring ships alongside (outline within 20 m of land) apart from
ships in open water.

A scene of a configured port (a simulated scene names it in item.json, ``tankerwatch:port``; a
real one may carry a ``PORT`` tag) uses that port's land polygons. Other scenes (sen2ships: no
port configs exist for its ports) take land from the image itself: NDWI = (green - NIR) /
(green + NIR) < 0, then land components smaller than ``MIN_LAND_KM2`` are dropped (hulls are
bright in NIR and would otherwise count as land: a ship at anchor, or a raft of several, is far
under 0.1 km2, while piers stay joined to the shore) and water holes under ``MAX_HOLE_KM2`` are
filled (dark roofs and shadows inside land). A hull moored alongside joins the shore component and
so stays land: its own outline is then at distance 0, which is the alongside case anyway.
The +1000 DN offset of newer L2A products cancels in green - NIR, so NDWI's sign needs no
normalisation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.errors import TankerWatchError


class NoLandBands(TankerWatchError):
    """A scene without the green and NIR bands that NDWI land needs."""


MIN_LAND_KM2 = 0.1
MAX_HOLE_KM2 = 0.01


def port_land(scene_dir: Path):
    """(land EPSG:4326, port name) from a scene's configured port, or (None, None)."""
    from pipeline.config import PORTS_DIR, load_port

    name = None
    item = scene_dir / "item.json"
    if item.exists():
        try:
            name = json.loads(item.read_text(encoding="utf-8"))["properties"].get(
                "tankerwatch:port"
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TankerWatchError(f"{item}: malformed STAC item ({exc})") from None
    if name is None and (scene_dir / "scene.tif").exists():
        import rasterio

        try:
            with rasterio.open(scene_dir / "scene.tif") as src:
                name = src.tags().get("PORT")
        except rasterio.errors.RasterioError as exc:
            raise TankerWatchError(f"{scene_dir / 'scene.tif'}: cannot read ({exc})") from None
    if not name or not (PORTS_DIR / f"{str(name).lower()}.yaml").exists():
        return None, None
    port = load_port(str(name).lower())
    return (port.land_shape if port.land else None), port.name


def _band(src, name: str) -> int:
    descs = [(d or "").upper() for d in src.descriptions]
    if name in descs:
        return descs.index(name) + 1
    raise NoLandBands(f"{src.name}: no band described as {name} (NDWI land needs B03, B08)")


def ndwi_land_mask(green: np.ndarray, nir: np.ndarray, valid: np.ndarray, px_km2: float):
    """Boolean land mask from NDWI < 0 with the small-component clean-up described above."""
    from scipy import ndimage

    g = green.astype(np.float64)
    n = nir.astype(np.float64)
    land = ((g - n) < 0) & valid
    lab, k = ndimage.label(land, structure=np.ones((3, 3)))
    if k:
        sizes = np.bincount(lab.ravel())
        keep = sizes * px_km2 >= MIN_LAND_KM2
        keep[0] = False
        land = keep[lab]
    water = ~land
    lab, k = ndimage.label(water)
    if k:
        sizes = np.bincount(lab.ravel())
        fill = sizes * px_km2 < MAX_HOLE_KM2
        fill[0] = False
        land |= fill[lab]
    return land


def ndwi_land(scene_tif: Path):
    """Land (shapely, EPSG:4326) of a scene from its own green and NIR bands."""
    import rasterio
    from rasterio import features
    from shapely.geometry import shape
    from shapely.ops import unary_union

    from pipeline.config import utm_epsg
    from pipeline.detect.geometry import to_crs

    try:
        with rasterio.open(scene_tif) as src:
            green = src.read(_band(src, "B03"))
            nir = src.read(_band(src, "B08"))
            transform, crs = src.transform, src.crs.to_string()
            h, w = src.height, src.width
    except rasterio.errors.RasterioError as exc:
        raise TankerWatchError(f"{scene_tif}: cannot read ({exc})") from None
    # ground area of a pixel at the scene centre (a Web-Mercator pixel is not 10 x 10 ground m)
    from shapely.geometry import box as sbox

    x0, y0 = transform @ (w // 2, h // 2)
    x1, y1 = transform @ (w // 2 + 1, h // 2 + 1)
    px = sbox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    ll = to_crs(px, crs, "EPSG:4326")
    px_km2 = to_crs(ll, "EPSG:4326", utm_epsg(ll.centroid.x, ll.centroid.y)).area / 1e6
    valid = (green > 0) & (nir > 0)
    mask = ndwi_land_mask(green, nir, valid, px_km2)
    if not mask.any():
        return None
    polys = [
        shape(geom)
        for geom, v in features.shapes(mask.astype(np.uint8), mask=mask, transform=transform)
        if v == 1
    ]
    return to_crs(unary_union(polys), crs, "EPSG:4326")


def scene_land(scene_dir: Path):
    """(land EPSG:4326 or None, source) for a dataset scene folder: its port's land polygons when
    it has a configured port, else NDWI land from the scene itself."""
    land, port = port_land(scene_dir)
    if port is not None:
        return land, f"port {port}"
    return ndwi_land(scene_dir / "scene.tif"), "ndwi"


def scene_land_or_none(scene_dir: Path):
    """As :func:`scene_land`, but (None, "unknown: <why>") for a scene whose land cannot be
    told (no green / NIR band): scoring goes on without the alongside split."""
    try:
        return scene_land(scene_dir)
    except NoLandBands as exc:
        return None, f"unknown: {exc}"
