"""Local GeoTIFFs of any CRS, GSD and band set (commercial imagery, the sen2ships layout, ...).

Which port a file belongs to is decided by geometry: a file is a scene of every requested port
whose AOI its footprint intersects (so ``--ports`` also accepts a port YAML path, e.g. an AOI
drawn around a sen2ships scene). Files of no requested port are ignored, not errors.

The acquisition time comes, first found wins, from the GeoTIFF tags (``ACQUIRED``, then
``TIFFTAG_DATETIME``), from a sidecar JSON (``<name>.json``, or ``item.json`` in the same folder:
a STAC item's ``properties.datetime`` or a top-level ``acquired``/``datetime``), or from the
file name with the regexes of ``local.patterns``. Pixels are read in a window over the AOI only
and kept in the file's own CRS and pixel grid (no resampling); ``gsd_m`` is the true ground size.

Cloud mask: a band described ``SCL``, or a sidecar ``<name>_scl.tif`` / ``scl.tif`` beside a
``scene.tif``, or s2cloudless when the file has the ten L1C bands it needs, else none
(``local.without_cloud_mask`` says how berths of such files count).

Sentinel-1 files (bands VV / VH, or SNAP's ``Sigma0_VV``, ``Gamma0_VH_db``, ...): no cloud mask;
a band named ``mask`` / ``shadowMask`` / ``layover_shadow_mask`` (non-zero = not seen) obscures
what it covers. What the pixels are comes from the tags ``SAR_QUANTITY`` / ``SAR_SCALE``, the
band names, or a sidecar STAC item (``tankerwatch:sar_quantity`` / ``tankerwatch:sar_scale``,
and its ``sat:`` / ``sar:`` / ``view:`` fields); dB vs linear is read off the values when
nothing says, and sigma0 assumed (``local.sar_quantity``), each recorded as such. DN, VV-only,
all-zero files are skipped with the reason (pipeline.ingest.sar). A folder whose files all lie
outside the requested ports is an error naming the first file and where its CRS puts it.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.bands import band_indexes, canonical_band
from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.ingest.base import Candidate, Raster, SceneSkip, Source
from pipeline.ingest.grid import aoi_window, footprint
from pipeline.ingest.sar import (
    MASK_BANDS,
    Declared,
    band_name,
    calibrated,
    is_sar,
    metadata_fields,
    norm_quantity,
    norm_scale,
)
from pipeline.ingest.settings import LocalSettings
from pipeline.records import utc

log = logging.getLogger(__name__)

GEOTIFF_DRIVERS = ("GTiff", "COG")
# the AOI window of one file is read whole: a file that would need more than this (a 200000 px
# raster over the port, imagery at a few cm) is skipped with its size instead of exhausting
# memory and ending the run for every other scene
MAX_AOI_BYTES = 1 << 30


def open_geotiff(path: Path):
    """rasterio.open for a file that must be a GeoTIFF: SceneSkip (one line naming the file)
    for any other format, e.g. a PNG renamed .tif, without GDAL's georeferencing warnings."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = rasterio.open(path)
    if src.driver not in GEOTIFF_DRIVERS:
        src.close()
        raise SceneSkip(f"{path}: not a GeoTIFF (a {src.driver} file)")
    return src


def is_mask_file(path: Path) -> bool:
    stem = path.stem.lower()
    return stem in LocalSource.MASK_NAMES or any(
        stem.endswith(f"_{m}") for m in LocalSource.MASK_NAMES
    )


def mask_file_for(path: Path) -> Path | None:
    for cand in (path.with_name(f"{path.stem}_scl.tif"), path.with_name("scl.tif")):
        if cand.exists() and cand != path:
            if cand.name == "scl.tif" and path.name != "scene.tif":
                continue
            return cand
    return None


def _sidecar(path: Path) -> dict | None:
    for cand in (path.with_suffix(".json"), path.with_name("item.json")):
        if cand.exists():
            try:
                return json.loads(cand.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SceneSkip(f"{cand}: unreadable sidecar JSON ({exc})") from None
    return None


def _parse_time(value: str) -> datetime | None:
    value = value.strip()
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return utc(datetime.strptime(value, fmt))
        except ValueError:
            pass
    try:
        return utc(value)
    except ValueError:
        return None


def acquisition_time(path: Path, tags: dict, settings: LocalSettings) -> tuple[datetime, str]:
    """(time, where it came from) or SceneSkip when no source gives one."""
    for key in ("ACQUIRED", "TIFFTAG_DATETIME", "DATETIME"):
        if tags.get(key):
            t = _parse_time(tags[key])
            if t is not None:
                return t, f"tag {key}"
    side = _sidecar(path)
    if side:
        props = side.get("properties", {}) if isinstance(side.get("properties"), dict) else {}
        for v in (props.get("datetime"), side.get("acquired"), side.get("datetime")):
            if isinstance(v, str) and (t := _parse_time(v)) is not None:
                return t, "sidecar JSON"
    for pattern in settings.patterns:
        m = re.search(pattern, path.name)
        if m:
            g = {k: v for k, v in m.groupdict().items() if v}
            if "date" in g:
                t = _parse_time(f"{g['date'].replace('-', '')}T{g.get('time') or '000000'}")
            else:
                try:
                    parts = [int(g.get(k, 0)) for k in ("year", "month", "day")]
                    parts += [int(g.get(k, 0)) for k in ("hour", "minute", "second")]
                    t = utc(datetime(*parts))
                except (TypeError, ValueError):
                    t = None
            if t is not None:
                return t, f"file name pattern {pattern!r}"
    raise SceneSkip(
        f"{path}: no acquisition time (no ACQUIRED/TIFFTAG_DATETIME tag, no sidecar JSON, "
        "file name matches no local.patterns regex)"
    )


def band_label(description: str | None) -> str:
    """A band's name from its description: Sentinel-2 aliases canonical, calibrated SAR band
    names of SNAP and similar tools (``Sigma0_VV_db``) by their polarization."""
    if not description:
        return ""
    sar = band_name(description)
    return sar[0] if sar else canonical_band(description)


def sar_declared(tags: dict, side: dict | None, descriptions) -> Declared:
    """What a SAR file says about its pixels: GeoTIFF tags (``SAR_QUANTITY`` sigma0 | gamma0,
    ``SAR_SCALE`` linear | db, as the cache writes them), SNAP-style band names
    (``Sigma0_VV``, ``Gamma0_VH_db``), or a sidecar STAC item (``tankerwatch:sar_quantity``,
    ``tankerwatch:sar_scale``); the sidecar's orbit / incidence fields are kept."""
    d = Declared()
    for key in ("SAR_QUANTITY", "CALIBRATION", "BACKSCATTER"):
        if d.quantity is None and (q := norm_quantity(tags.get(key))):
            d.quantity, d.quantity_from = q, f"tag {key}"
    for key in ("SAR_SCALE", "SCALE", "UNITS"):
        if d.scale is None and (sc := norm_scale(tags.get(key))):
            d.scale, d.scale_from = sc, f"tag {key}"
    for desc in descriptions:
        parsed = band_name(desc or "")
        if parsed:
            if d.quantity is None:
                d.quantity, d.quantity_from = parsed[1], f"band name {desc}"
            if d.scale is None:
                d.scale, d.scale_from = parsed[2], f"band name {desc}"
    props = (side or {}).get("properties") if isinstance(side, dict) else None
    if isinstance(props, dict):
        # (the simulator writes tankerwatch:backscatter / tankerwatch:backscatter_scale)
        for key in ("tankerwatch:sar_quantity", "tankerwatch:backscatter"):
            if d.quantity is None and (q := norm_quantity(props.get(key))):
                d.quantity, d.quantity_from = q, f"sidecar {key}"
        for key in ("tankerwatch:sar_scale", "tankerwatch:backscatter_scale"):
            if d.scale is None and (sc := norm_scale(props.get(key))):
                d.scale, d.scale_from = sc, f"sidecar {key}"
        d.metadata = metadata_fields(props)
    return d


def _sensor(tags: dict, side: dict | None, bands: list[str], default: str) -> str:
    if tags.get("SENSOR"):
        return tags["SENSOR"]
    props = (side or {}).get("properties", {}) if side else {}
    if isinstance(props, dict) and props.get("tankerwatch:sensor"):
        return str(props["tankerwatch:sensor"])
    if "VV" in bands or "VH" in bands:
        return "sentinel-1-grd"
    return default


def read_aoi(
    path: Path,
    port: Port,
    required: list[str] | None,
    mask_path: Path | None = None,
) -> Raster:
    """Read the AOI window of a GeoTIFF (and its aligned mask); SceneSkip names what is wrong."""
    from rasterio.errors import RasterioError

    try:
        with open_geotiff(path) as src:
            if src.crs is None:
                raise SceneSkip(f"{path}: GeoTIFF has no CRS")
            names = [band_label(d) for d in src.descriptions]
            if required:
                try:
                    band_indexes(list(src.descriptions), required, str(path))
                except TankerWatchError as exc:
                    raise SceneSkip(str(exc)) from None
            elif not any(names):
                raise SceneSkip(f"{path}: bands have no descriptions (names)")
            win = aoi_window(src, port)
            if win is None:
                raise SceneSkip(f"{path}: does not overlap the AOI of port '{port.name}'")
            _check_window(path, src, win, port)
            data = src.read(window=win)
            dmask = src.dataset_mask(window=win) > 0
            transform = src.window_transform(win)
            crs = src.crs.to_string()
            nodata = src.nodata
    except SceneSkip:
        raise
    except (RasterioError, OSError, ValueError) as exc:
        raise SceneSkip(f"{path}: unreadable or corrupt GeoTIFF ({str(exc)[:160]})") from None

    valid = dmask
    if nodata is None:
        valid = valid & np.any(data != 0, axis=0)
    if data.dtype.kind == "f":
        # NaN / inf are nodata whatever the file declares; keep them out of the numbers too
        finite = np.isfinite(data)
        valid = valid & finite.all(axis=0)
        if not finite.all():
            fill = nodata if nodata is not None and np.isfinite(nodata) else 0
            data = np.where(finite, data, np.asarray(fill, dtype=data.dtype))
    scl = None
    masks = [i for i, n in enumerate(names) if n.lower() in MASK_BANDS]
    if masks and is_sar(names):  # a SAR product's layover / shadow mask band
        i = masks[0]
        layover_shadow = data[i] != 0
        keep = [j for j in range(len(names)) if j != i]
        data, names = data[keep], [names[j] for j in keep]
        valid = dmask & (np.any(data != 0, axis=0) if nodata is None else True)
        if data.dtype.kind == "f":
            valid = valid & np.isfinite(data).all(axis=0)
        return Raster(
            data=data,
            bands=[n or f"band{k}" for k, n in enumerate(names, start=1)],
            crs=crs,
            transform=transform,
            nodata=nodata,
            valid=valid,
            cloud=layover_shadow,
            cloud_source="sar",
        )
    if "SCL" in names:
        i = names.index("SCL")
        scl = data[i].astype(np.uint8)
        keep = [j for j in range(len(names)) if j != i]
        data, names = data[keep], [names[j] for j in keep]
    elif mask_path is not None:
        scl = _read_aligned(mask_path, crs, transform, data.shape[1:])
    if scl is not None:
        valid = valid & (scl != 0)
    names = [n or f"band{i}" for i, n in enumerate(names, start=1)]
    return Raster(
        data=data,
        bands=names,
        crs=crs,
        transform=transform,
        nodata=nodata,
        valid=valid,
        scl=scl,
        cloud_source="sar" if ("VV" in names or "VH" in names) else "scl",
    )


def _check_window(path: Path, src, win, port: Port) -> None:
    h, w = int(np.ceil(win.height)), int(np.ceil(win.width))
    itemsize = max(np.dtype(d).itemsize for d in src.dtypes)
    need = h * w * src.count * itemsize
    if need > MAX_AOI_BYTES:
        raise SceneSkip(
            f"{path}: too large: the AOI of port '{port.name}' is {w} x {h} px x {src.count} "
            f"bands in this file ({need / 2**30:.1f} GiB, the limit is "
            f"{MAX_AOI_BYTES / 2**30:.0f} GiB); resample it to a coarser pixel size"
        )


def _read_aligned(mask_path: Path, crs: str, transform, shape) -> np.ndarray:
    """The mask resampled (nearest) onto the scene window's grid."""
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.warp import Resampling, reproject

    out = np.zeros(shape, dtype=np.uint8)
    try:
        with rasterio.open(mask_path) as src:
            reproject(
                source=rasterio.band(src, 1),
                destination=out,
                dst_transform=transform,
                dst_crs=crs,
                resampling=Resampling.nearest,
            )
    except (RasterioError, OSError) as exc:
        raise SceneSkip(f"{mask_path}: unreadable mask ({str(exc)[:160]})") from None
    return out


class LocalSource(Source):
    """GeoTIFFs in a folder (``local.glob``), each a scene of every requested port it covers."""

    name = "local"
    needs_folder = True
    MASK_NAMES = ("scl", "cloud")  # sidecar masks <name>_scl.tif, scl.tif, ...: not scenes

    def candidates(self, ports, t0, t1, skipped) -> list[Candidate]:
        """Scenes in the folder of the requested ports and period; unreadable files go to
        ``skipped`` as (path, reason)."""
        settings = self.settings
        from rasterio.errors import RasterioError

        files = sorted(p for p in self.folder.glob(settings.local.glob) if p.is_file())
        files = [p for p in files if not is_mask_file(p)]
        out: list[Candidate] = []
        outside: list[tuple[Path, str, object]] = []  # files of no requested port
        for path in files:
            try:
                try:
                    with open_geotiff(path) as src:
                        if src.crs is None:
                            raise SceneSkip(f"{path}: GeoTIFF has no CRS")
                        tags = src.tags()
                        descriptions = list(src.descriptions)
                        names = [band_label(d) for d in descriptions]
                        crs_name = src.crs.to_string()
                        foot = _footprint(path, crs_name, src.transform, (src.height, src.width))
                except (RasterioError, OSError) as exc:
                    raise SceneSkip(
                        f"{path}: unreadable or corrupt GeoTIFF ({str(exc)[:160]})"
                    ) from None
                acquired, _where = acquisition_time(path, tags, settings.local)
                side = _sidecar(path)
            except SceneSkip as skip:
                skipped.append((str(path), skip.reason))
                continue
            if not (t0 <= acquired <= t1):
                continue
            sensor = _sensor(tags, side, names, settings.local.sensor)
            sar = is_sar(names)
            required = (
                None if sar or sensor.startswith("sentinel-1") else (settings.local.required_bands)
            )
            mask = mask_file_for(path)
            declared = sar_declared(tags, side, descriptions) if sar else None
            hits = [port for port in ports if foot.intersects(port.aoi_shape)]
            if not hits:
                outside.append((path, crs_name, foot))
            for port in hits:
                out.append(
                    Candidate(
                        source="local",
                        sensor=sensor,
                        acquired=acquired,
                        port=port,
                        load=_loader(path, port, required, mask, declared, settings),
                        origin=str(path.resolve()),
                        content=file_content(path, mask),
                    )
                )
        if not out and not skipped and outside:
            # nothing of these ports: say where the files are, a wrong CRS shows there
            path, crs_name, foot = outside[0]
            c = foot.centroid
            more = f" (and {len(outside) - 1} more files)" if len(outside) > 1 else ""
            raise TankerWatchError(
                f"no local scenes of {', '.join(p.name for p in ports)} between {t0.date()} "
                f"and {t1.date()} in {self.folder}: {path} lies at lon {c.x:.3f}, lat "
                f"{c.y:.3f} by its CRS {crs_name}, outside their AOI{more}; wrong CRS?"
            )
        return out


def file_content(path: Path, mask: Path | None) -> str:
    """What a skip of this file is remembered under: path, size and mtime of the file and of
    its mask, so a copy, a replaced file or a new mask is examined again."""
    parts = []
    for p in (path, mask):
        if p is not None:
            try:
                st = p.stat()
                parts.append(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}")
            except OSError:  # gone since the listing: its load says so
                parts.append(str(p))
    return "\n".join(parts)


def _footprint(path: Path, crs: str, transform, shape):
    """The file's footprint in lon/lat; SceneSkip when its coordinates do not fit its CRS
    (metres declared as degrees, a CRS that cannot be transformed to lon/lat)."""
    try:
        foot = footprint(crs, transform, shape)
        ok = foot.is_valid and not foot.is_empty and np.isfinite(foot.bounds).all()
        minx, miny, maxx, maxy = foot.bounds
        ok = ok and -180.0 <= minx and maxx <= 180.0 and -90.0 <= miny and maxy <= 90.0
    except Exception:  # pyproj / shapely: any failure means the same thing here
        ok = False
    if not ok:
        raise SceneSkip(
            f"{path}: its coordinates do not fit its CRS {crs} (no lon/lat footprint); wrong CRS?"
        )
    return foot


def _loader(path: Path, port: Port, required, mask_path, declared=None, settings=None):
    if declared is None:
        return lambda: read_aoi(path, port, required, mask_path)

    def load() -> Raster:
        raster = read_aoi(path, port, required, mask_path)
        return sar_raster(raster, declared, str(path), port.name, settings)

    return load


def sar_raster(raster: Raster, declared: Declared, origin: str, port_name: str, settings):
    """A VV/VH raster read from a file, in the cache's SAR convention (pipeline.ingest.sar)."""
    return calibrated(
        raster,
        declared,
        origin,
        port_name,
        settings.sar.allow_single_pol,
        default_quantity=settings.local.sar_quantity,
        layover_shadow=raster.cloud,
    )
