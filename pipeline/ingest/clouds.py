"""Valid-data and cloud fractions over the AOI, and per-berth clear/obscured observations.

Cloud, shadow and haze come from the Sentinel-2 scene classification (SCL: the L2A product, the
simulator's scl.tif, or Sentinel Hub's SCL band), from s2cloudless when a file carries the L1C
bands it needs, and are absent for radar (Sentinel-1 sees through cloud) or for files with no
mask at all (the settings say how to treat their berths).

Definitions (all over pixels of the scene grid):
- AOI ``valid_fraction`` = valid pixels inside the AOI polygon / pixels of the AOI polygon;
- AOI ``cloud_fraction`` = cloudy valid pixels / valid pixels, inside the AOI;
- AOI clear fraction = valid_fraction x (1 - cloud_fraction); below ``min_clear_fraction`` the
  scene is skipped;
- a berth is looked at through its polygon buffered by ``berth_margin_m``: no valid pixel there
  means the berth is outside the scene footprint (no observation); otherwise it is ``clear`` when
  every pixel is valid and its cloud fraction is below ``berth_max_cloud_fraction``, else
  ``obscured``. ``clear_fraction`` of the observation = valid, cloud-free share of those pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pipeline.config import Port
from pipeline.ingest.base import Raster
from pipeline.ingest.grid import to_crs
from pipeline.ingest.settings import CloudSettings
from pipeline.records import Observation

# the bands s2cloudless needs, in its order
S2CLOUDLESS_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]


def rasterize(geom, crs: str, transform, shape: tuple[int, int], src_crs="EPSG:4326"):
    """Boolean mask of ``geom`` (EPSG:4326 unless said) on a grid; pixels touched count."""
    from rasterio.features import geometry_mask

    g = to_crs(geom, crs, src_crs)
    if g.is_empty:
        return np.zeros(shape, dtype=bool)
    return geometry_mask([g], out_shape=shape, transform=transform, invert=True, all_touched=True)


def cloud_mask(raster: Raster, settings: CloudSettings) -> np.ndarray | None:
    """Cloud/shadow/haze pixels, or None when the raster has no way to tell."""
    if raster.cloud is not None:
        return raster.cloud.astype(bool)
    if raster.scl is not None:
        return np.isin(raster.scl, settings.cloud_classes)
    return None


def s2cloudless_mask(raster: Raster, threshold: float) -> np.ndarray | None:
    """s2cloudless cloud mask when the raster has every L1C band it needs, else None.

    Inputs are reflectances (DN / 10000); the pixel classifier runs without its spatial
    averaging/dilation on small AOIs (s2cloudless' documented 10 m defaults would smear a few
    hundred pixels).
    """
    if not all(b in raster.bands for b in S2CLOUDLESS_BANDS):
        return None
    from s2cloudless import S2PixelCloudDetector

    idx = [raster.bands.index(b) for b in S2CLOUDLESS_BANDS]
    stack = np.moveaxis(raster.data[idx].astype(np.float32) / 10000.0, 0, -1)[None]
    detector = S2PixelCloudDetector(threshold=threshold, average_over=0, dilation_size=0)
    prob = detector.get_cloud_probability_maps(stack)[0]
    return (prob > threshold) & raster.valid


@dataclass
class Fractions:
    valid_fraction: float
    cloud_fraction: float

    @property
    def clear_fraction(self) -> float:
        return self.valid_fraction * (1.0 - self.cloud_fraction)


def aoi_fractions(raster: Raster, port: Port, settings: CloudSettings) -> Fractions:
    aoi = rasterize(port.aoi_shape, raster.crs, raster.transform, raster.shape)
    n_aoi = int(aoi.sum())
    if n_aoi == 0:
        return Fractions(0.0, 0.0)
    valid = raster.valid & aoi
    n_valid = int(valid.sum())
    clouds = cloud_mask(raster, settings)
    n_cloud = int((clouds & valid).sum()) if clouds is not None else 0
    # the AOI polygon may extend beyond the raster: count those pixels as missing data
    aoi_r = to_crs(port.aoi_shape, raster.crs)
    cover = aoi_r.intersection(_extent(raster)).area / aoi_r.area if aoi_r.area else 0.0
    valid_fraction = (n_valid / n_aoi) * min(1.0, cover)
    cloud_fraction = n_cloud / n_valid if n_valid else 0.0
    return Fractions(round(valid_fraction, 4), round(cloud_fraction, 4))


def _extent(raster: Raster):
    """The raster's extent as a polygon in its own CRS."""
    from shapely.geometry import box

    rows, cols = raster.shape
    x0, y0 = raster.transform @ (0, 0)
    x1, y1 = raster.transform @ (cols, rows)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def berth_observations(
    raster: Raster,
    port: Port,
    settings: CloudSettings,
    scene_id: str,
    acquired: datetime,
    sensor: str,
    gsd_m: float,
    no_mask_state: str = "clear",
) -> list[Observation]:
    """One observation per berth whose (buffered) polygon meets valid data of the scene."""
    from rasterio.features import geometry_mask

    clouds = cloud_mask(raster, settings)
    extent = _extent(raster)
    out = []
    for berth in port.berths:
        shape = to_crs(berth.shape, raster.crs)
        if settings.berth_margin_m > 0:
            shape = shape.buffer(settings.berth_margin_m)
        mask = geometry_mask([shape], raster.shape, raster.transform, invert=True, all_touched=True)
        n = int(mask.sum())
        n_valid = int((mask & raster.valid).sum())
        if n == 0 or n_valid == 0:
            continue  # outside the scene footprint: no observation at all
        fully_inside = n_valid == n and extent.contains(shape)
        if clouds is None:
            n_cloud = 0
            state = no_mask_state if fully_inside else "obscured"
            if raster.cloud_source == "sar":
                state = "clear" if fully_inside else "obscured"
        else:
            n_cloud = int((mask & raster.valid & clouds).sum())
            cloudy = n_cloud / n_valid
            state = (
                "clear"
                if fully_inside and cloudy < settings.berth_max_cloud_fraction
                else ("obscured")
            )
        clear = (n_valid - n_cloud) / n
        if not extent.contains(shape):
            clear *= extent.intersection(shape).area / shape.area
        out.append(
            Observation(
                scene_id=scene_id,
                port=port.name,
                berth=berth.id,
                acquired=acquired,
                state=state,
                clear_fraction=round(clear, 4),
                sensor=sensor,
                gsd_m=gsd_m,
            )
        )
    return out
