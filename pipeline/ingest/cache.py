"""The scene cache: one AOI GeoTIFF per scene, its mask, and a STAC item beside it.

Layout (``CACHE`` is ``--cache``, default ``.cache/tankerwatch``)::

    CACHE/<port>/<scene_id>/scene.tif   bands clipped to the port AOI, band descriptions set
                                        (B02, B03, B04, B08, B11 / VV, VH / the file's own),
                                        nodata 0, tiled + deflate, tags PORT ACQUIRED SOURCE SENSOR
    CACHE/<port>/<scene_id>/scl.tif     uint8 Sentinel-2 SCL codes on exactly the same grid
                                        (a separate file, not a band: band indexes of scene.tif
                                        stay pure reflectance); absent when the source has none
    CACHE/<port>/<scene_id>/cloud.tif   uint8 0 nodata / 1 clear / 2 cloud, only when the mask
                                        came from s2cloudless; for SAR, 2 = layover / shadow
    CACHE/<port>/<scene_id>/item.json   STAC item (pystac): datetime, gsd, proj:epsg,
                                        eo:cloud_cover, tankerwatch:* fields, assets
    CACHE/<port>/<scene_id>/skipped.json  a scene judged unusable (reason, and the candidate's
                                        skip_key: for a local file its path, size and mtime),
                                        so re-runs skip it until that content changes

Every file is written under a temporary name and renamed when complete; item.json is written
last, so a folder without item.json is an interrupted download and is fetched again. The
temporary files of a killed run are removed at the start of the next ingest
(``pipeline.fsutil.remove_stale_temps``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path, atomic_write_text, ensure_dir
from pipeline.ingest.base import Candidate, Raster
from pipeline.ingest.clouds import Fractions
from pipeline.ingest.grid import footprint
from pipeline.records import Scene, iso

DEFAULT_CACHE = ".cache/tankerwatch"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
]
SAR_EXTENSIONS = [
    "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]
# item properties write_scene sets itself; the rest came from the source and are restored
# when an interrupted run re-uses a cached scene
_OWN_PROPERTIES = {
    "gsd",
    "proj:epsg",
    "proj:shape",
    "proj:transform",
    "proj:wkt2",
    "eo:cloud_cover",
    "datetime",
    "tankerwatch:port",
    "tankerwatch:sensor",
    "tankerwatch:source",
    "tankerwatch:origin",
    "tankerwatch:valid_fraction",
    "tankerwatch:cloud_fraction",
    "tankerwatch:cloud_mask",
}


def scene_dir(cache_dir: Path | str, candidate: Candidate) -> Path:
    return Path(cache_dir) / candidate.port.name / candidate.id


def skipped_reason(cache_dir: Path | str, candidate: Candidate) -> str | None:
    """Why this candidate was judged unusable before, or None: a mark left by other content
    under the same scene id (another file, or this file before it was replaced) does not count."""
    path = scene_dir(cache_dir, candidate) / "skipped.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("key", candidate.id) != candidate.skip_key:
            return None
        return doc["reason"]
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def mark_skipped(cache_dir: Path | str, candidate: Candidate, reason: str) -> None:
    d = ensure_dir(scene_dir(cache_dir, candidate))
    doc = {
        "scene_id": candidate.id,
        "key": candidate.skip_key,
        "origin": candidate.origin,
        "reason": reason,
        "at": iso(datetime.now(UTC)),
    }
    atomic_write_text(d / "skipped.json", json.dumps(doc, indent=2) + "\n")


def _write_tif(path: Path, data: np.ndarray, raster: Raster, descriptions, nodata, tags) -> None:
    import rasterio

    count, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "dtype": data.dtype.name,
        "count": count,
        "height": height,
        "width": width,
        "crs": raster.crs,
        "transform": raster.transform,
        "nodata": nodata,
        "compress": "deflate",
        "tiled": width >= 256 and height >= 256,
    }
    if profile["tiled"]:
        profile.update(blockxsize=256, blockysize=256)
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for i, d in enumerate(descriptions, start=1):
                dst.set_band_description(i, d)
            dst.update_tags(**tags)


def write_scene(
    cache_dir: Path | str, candidate: Candidate, raster: Raster, fr: Fractions, gsd_m: float
) -> Scene:
    """Write scene.tif (+ scl.tif / cloud.tif) and item.json; return the Scene record."""
    import pystac

    d = ensure_dir(scene_dir(cache_dir, candidate))
    tags = {
        "PORT": candidate.port.name,
        "ACQUIRED": iso(candidate.acquired),
        "SOURCE": candidate.source,
        "SENSOR": candidate.sensor,
    }
    if raster.properties.get("tankerwatch:dn") == "harmonised":
        tags["BOA_ADD_OFFSET"] = "0"  # the detector then never guesses the +1000 offset
    if raster.properties.get("tankerwatch:sar_quantity"):
        # what the SAR pixels are, readable from the GeoTIFF alone (pipeline.ingest.sar)
        tags["SAR_QUANTITY"] = str(raster.properties["tankerwatch:sar_quantity"])
        tags["SAR_SCALE"] = "linear"
    data = raster.data
    # nodata 0 unless the source declared a (finite) value: a NaN nodata would make every
    # cached pixel compare as data when read back
    nodata = raster.nodata if raster.nodata is not None and np.isfinite(raster.nodata) else 0
    data = np.where(raster.valid[None], data, np.asarray(nodata, dtype=data.dtype)).astype(
        data.dtype
    )
    _write_tif(d / "scene.tif", data, raster, raster.bands, nodata, tags)
    assets = {
        "image": pystac.Asset(
            href="scene.tif",
            media_type=pystac.MediaType.GEOTIFF,
            roles=["data"],
            extra_fields={"tankerwatch:bands": list(raster.bands)},
        )
    }
    if raster.scl is not None:
        scl = np.where(raster.valid, raster.scl, 0).astype(np.uint8)[None]
        _write_tif(d / "scl.tif", scl, raster, ["SCL"], 0, tags)
        assets["scl"] = pystac.Asset(
            href="scl.tif", media_type=pystac.MediaType.GEOTIFF, roles=["cloud", "data-mask"]
        )
    elif raster.cloud is not None:
        cloud = np.where(raster.valid, np.where(raster.cloud, 2, 1), 0).astype(np.uint8)[None]
        _write_tif(d / "cloud.tif", cloud, raster, ["cloud"], 0, tags)
        assets["cloud"] = pystac.Asset(
            href="cloud.tif", media_type=pystac.MediaType.GEOTIFF, roles=["cloud"]
        )

    sar = raster.cloud_source == "sar"
    geom = footprint(raster.crs, raster.transform, raster.shape)
    epsg = _epsg(raster.crs)
    props = {
        "gsd": gsd_m,
        "proj:epsg": epsg,
        "proj:shape": list(raster.shape),
        "proj:transform": list(raster.transform)[:6],
        # radar sees through cloud: what obscures a SAR scene is layover / shadow, kept apart
        "eo:cloud_cover": 0.0 if sar else round(100.0 * fr.cloud_fraction, 2),
        "tankerwatch:port": candidate.port.name,
        "tankerwatch:sensor": candidate.sensor,
        "tankerwatch:source": candidate.source,
        "tankerwatch:origin": candidate.origin,
        "tankerwatch:valid_fraction": fr.valid_fraction,
        "tankerwatch:cloud_fraction": fr.cloud_fraction,
        "tankerwatch:cloud_mask": raster.cloud_source,
        **{k: v for k, v in candidate.properties.items() if _jsonable(v)},
        **{k: v for k, v in raster.properties.items() if _jsonable(v)},
    }
    if sar:
        props["tankerwatch:layover_shadow_fraction"] = fr.cloud_fraction
    if epsg is None:
        props["proj:wkt2"] = raster.crs
    extensions = list(STAC_EXTENSIONS)
    if sar:
        extensions += SAR_EXTENSIONS
    item = pystac.Item(
        id=candidate.id,
        geometry=geom.__geo_interface__,
        bbox=list(geom.bounds),
        datetime=candidate.acquired,
        properties=props,
        stac_extensions=extensions,
    )
    for key, asset in assets.items():
        item.add_asset(key, asset)
    atomic_write_text(d / "item.json", json.dumps(item.to_dict(), indent=2) + "\n")
    (d / "skipped.json").unlink(missing_ok=True)  # another file's mark under this scene id
    return scene_record(candidate, raster, fr, gsd_m, d)


def scene_record(candidate, raster: Raster, fr: Fractions, gsd_m: float, d: Path) -> Scene:
    return Scene(
        id=candidate.id,
        source=candidate.source,
        sensor=candidate.sensor,
        acquired=candidate.acquired,
        port=candidate.port.name,
        path=str((d / "scene.tif").resolve()),
        crs=raster.crs,
        gsd_m=gsd_m,
        bands=list(raster.bands),
        valid_fraction=fr.valid_fraction,
        cloud_fraction=fr.cloud_fraction,
        width=raster.shape[1],
        height=raster.shape[0],
        stac_path=str((d / "item.json").resolve()),
    )


def load_cached(cache_dir: Path | str, candidate: Candidate) -> Raster | None:
    """The cached raster of a scene written completely by an earlier run (item.json present),
    so an interrupted run resumes without downloading again; None when not cached."""
    import rasterio

    d = scene_dir(cache_dir, candidate)
    if not (d / "item.json").exists() or not (d / "scene.tif").exists():
        return None
    try:
        item = json.loads((d / "item.json").read_text())
        with rasterio.open(d / "scene.tif") as src:
            data = src.read()
            bands = [b or f"band{i}" for i, b in enumerate(src.descriptions, start=1)]
            crs, transform, nodata = src.crs.to_string(), src.transform, src.nodata
        scl = cloud = None
        if (d / "scl.tif").exists():
            with rasterio.open(d / "scl.tif") as src:
                scl = src.read(1)
        elif (d / "cloud.tif").exists():
            with rasterio.open(d / "cloud.tif") as src:
                cloud = src.read(1) == 2
    except (OSError, ValueError, rasterio.errors.RasterioError):
        return None  # damaged cache: fetch again
    nd = nodata if nodata is not None else 0
    valid = np.any((data != nd) & np.isfinite(data), axis=0)
    return Raster(
        data=data,
        bands=bands,
        crs=crs,
        transform=transform,
        nodata=nodata,
        valid=valid,
        scl=scl,
        cloud=cloud,
        cloud_source=item.get("properties", {}).get("tankerwatch:cloud_mask", "scl"),
        properties={
            k: v for k, v in item.get("properties", {}).items() if k not in _OWN_PROPERTIES
        },
    )


def _epsg(crs: str) -> int | None:
    from pyproj import CRS

    try:
        return CRS.from_user_input(crs).to_epsg()
    except Exception as exc:
        raise TankerWatchError(f"unusable CRS {crs!r}: {exc}") from None


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False
