"""Reading scenes for the detector: bands by name, any CRS/GSD warped to a local UTM grid at the
model's GSD (so one pixel is a fixed number of true ground metres), robust normalisation.

Every read is windowed, through a rasterio ``WarpedVRT`` (or straight from the file when it is
already on that grid), so memory stays bounded whatever the scene size; GDAL's block cache is
bounded too (``bound_block_cache``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.bands import SAR_BANDS, band_indexes, canonical_band
from pipeline.config import utm_epsg
from pipeline.errors import TankerWatchError

# L2A processing baseline 04.00+ adds this offset to every digital number.
L2A_OFFSET = 1000.0
DN_SCALE = 10000.0
# GDAL's block cache during detection when GDAL_CACHEMAX is not set: at least this, more when a
# row of windows needs it (so each block is decompressed once), never above the cap
BLOCK_CACHE_MIN_MIB = 256
BLOCK_CACHE_MAX_MIB = 1024
# Refused before any pixel is read (one line naming the file, not an allocation of hundreds of
# GiB that takes a whole batch down): a scene whose grid at the model GSD has more pixels than
# this (a Sentinel-2 tile at 10 m has 1.2e8; this is ~316 km square at 10 m) ...
MAX_GRID_PIXELS = 1_000_000_000
# ... and a file so much finer than the model GSD that GDAL's warper, which reads the whole
# source footprint of one output block at once, would need more memory than this for one block
MAX_WARP_BLOCK_BYTES = 1 << 30


@dataclass
class SceneGrid:
    """A scene opened for detection: the source dataset and a VRT onto a UTM grid."""

    path: Path
    src: object  # rasterio DatasetReader
    vrt: object  # rasterio WarpedVRT in UTM at gsd_m
    indexes: list[int]
    offset: float  # DN offset subtracted before scaling to reflectance
    scale: float  # divide by this to get reflectance (1.0 for reflectance floats)
    gsd_m: float
    direct: bool = False  # the file is already on the UTM grid: read it without warping

    @property
    def width(self) -> int:
        return self.vrt.width

    @property
    def height(self) -> int:
        return self.vrt.height

    @property
    def crs(self):
        return self.vrt.crs

    @property
    def transform(self):
        return self.vrt.transform

    def close(self) -> None:
        self.vrt.close()
        self.src.close()

    def __enter__(self) -> SceneGrid:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, window) -> tuple[np.ndarray, np.ndarray]:
        """(reflectance float32 [bands, h, w], valid bool [h, w]) for a window of the UTM grid."""
        from rasterio.errors import RasterioError

        reader = self.src if self.direct else self.vrt
        try:
            raw = reader.read(self.indexes, window=window, boundless=False, masked=True)
        except (RasterioError, MemoryError) as exc:
            raise TankerWatchError(f"{self.path}: cannot read pixels ({_short(exc)})") from None
        valid = ~np.ma.getmaskarray(raw).any(axis=0)
        if self.direct and self.src.nodata is None:
            # what the VRT does for such files (it declares 0 as nodata): same pixels valid
            valid &= (raw.data != 0).all(axis=0)
        if raw.dtype.kind == "f":
            # NaN / inf in a float file are nodata whatever the declared nodata value (one NaN
            # in a tile turns a network's whole output into NaN)
            valid &= np.isfinite(raw.data).all(axis=0)
        refl = np.asarray(raw.data, dtype=np.float32)
        if refl is raw.data:  # float32 files: do not scale the masked array's buffer in place
            refl = refl.copy()
        if self.offset:
            refl -= np.float32(self.offset)
        if self.scale != 1.0:
            refl /= np.float32(self.scale)
        refl[:, ~valid] = 0.0
        return refl, valid

    def block_cache_bytes(self, rows: int) -> int:
        """Bytes of GDAL blocks that ``rows`` rows of the grid touch across the whole source
        width (the rows of one row of windows, plus a block row on either side)."""
        bh = self.src.block_shapes[0][0]
        src_rows = rows * self.gsd_m / max(1e-9, abs(self.src.res[1])) + 2 * bh
        itemsize = np.dtype(self.src.dtypes[0]).itemsize
        return int(src_rows * self.src.width * self.src.count * itemsize)

    def _starts(self, tile: int, overlap: int) -> tuple[range, range]:
        step = max(1, tile - overlap)
        return (
            range(0, max(1, self.height - overlap), step),
            range(0, max(1, self.width - overlap), step),
        )

    def n_windows(self, tile: int, overlap: int) -> int:
        """How many windows ``windows`` yields."""
        ys, xs = self._starts(tile, overlap)
        return len(ys) * len(xs)

    def windows(self, tile: int, overlap: int) -> Iterator:
        from rasterio.windows import Window

        ys, xs = self._starts(tile, overlap)
        for y in ys:
            for x in xs:
                yield Window(x, y, min(tile, self.width - x), min(tile, self.height - y))


def _detect_offset(
    src, indexes: list[int], path: Path, bands: list[str] | None = None
) -> tuple[float, float]:
    """Decide how to turn pixel values into reflectance: (offset, scale). Radar bands
    (``SAR_BANDS``) are backscatter, read as they are, without sampling the file (for a small
    Sentinel-1 port scene the sample cost a seventh of the CFAR's time per scene)."""
    if bands and all(canonical_band(b).upper() in SAR_BANDS for b in bands):
        return 0.0, 1.0
    tags = {k.upper(): v for k, v in src.tags().items()}
    dtype = np.dtype(src.dtypes[indexes[0] - 1])
    if dtype.kind == "f":
        # Floats: reflectance (0..~1.5) or DN stored as float; sample decides.
        sample = _sample(src, indexes)
        if sample.size == 0:
            raise TankerWatchError(f"{path}: all pixels are nodata")
        if float(np.nanpercentile(sample, 50)) <= 5.0:
            return 0.0, 1.0
    for key in ("BOA_ADD_OFFSET", "L2A_OFFSET", "DN_OFFSET"):
        if key in tags:
            try:
                return abs(float(tags[key])), DN_SCALE
            except ValueError:
                pass
    sample = _sample(src, indexes)
    if sample.size == 0:
        raise TankerWatchError(f"{path}: all pixels are nodata")
    # Heuristic: with the +1000 offset no valid pixel of the darkest band goes below ~1000
    # (dark water in B08/B11 reads a few hundred DN without it).
    darkest = min(float(np.percentile(sample[i], 0.5)) for i in range(sample.shape[0]))
    return (L2A_OFFSET if darkest >= L2A_OFFSET else 0.0), DN_SCALE


SAMPLE_BLOCKS = 4  # a 4 x 4 grid of blocks spread over a large file without overviews
SAMPLE_DECIMATED_MAX_PX = 4_000_000
SAMPLE_MIN_VALID = 1000


def _sample(src, indexes: list[int]) -> np.ndarray:
    """Valid pixels (bands x n) to estimate value ranges cheaply: a decimated read of a small
    file or of one with overviews; else whole blocks spread over the file (a decimated read of
    a full Sentinel-2 granule without overviews decompresses every block several times: 28 s),
    falling back to the decimated read when those blocks hold too few valid pixels."""
    if src.width * src.height > SAMPLE_DECIMATED_MAX_PX and not src.overviews(indexes[0]):
        data = _valid_pixels(_block_sample(src, indexes))
        if data.shape[1] >= SAMPLE_MIN_VALID:
            return data
    from rasterio.enums import Resampling

    h = max(1, min(src.height, 256))
    w = max(1, min(src.width, 256))
    arr = src.read(
        indexes, out_shape=(len(indexes), h, w), masked=True, resampling=Resampling.nearest
    )
    return _valid_pixels(arr)


def _block_sample(src, indexes: list[int]) -> np.ma.MaskedArray:
    from rasterio.windows import Window

    bh, bw = src.block_shapes[0]
    bh, bw = max(bh, 256), max(bw, 256)  # strips: read 256 rows
    parts = []
    for fy in np.linspace(0, 1, SAMPLE_BLOCKS):
        for fx in np.linspace(0, 1, SAMPLE_BLOCKS):
            # block-aligned windows, so each costs one block's decompression
            y = int(fy * max(0, src.height - bh)) // bh * bh
            x = int(fx * max(0, src.width - bw)) // bw * bw
            win = Window(x, y, min(bw, src.width - x), min(bh, src.height - y))
            a = src.read(indexes, window=win, masked=True)[:, ::4, ::4]
            parts.append(a.reshape(len(indexes), -1))
    return np.ma.concatenate(parts, axis=1)


def _valid_pixels(arr: np.ma.MaskedArray) -> np.ndarray:
    mask = np.ma.getmaskarray(arr).any(axis=0)
    data = np.asarray(arr.data, dtype=np.float64)
    ok = ~mask & np.isfinite(data).all(axis=0) & (data != 0).any(axis=0)
    return data[:, ok]


_cache_bytes = 0  # what bound_block_cache last set (0: not yet)


def bound_block_cache(grid: SceneGrid, rows: int) -> None:
    """Bound GDAL's block cache (process-wide; by default 5 % of physical memory, which a
    sweep over a large file fills): enough for one row of windows of ``rows`` grid rows across
    the file, at least BLOCK_CACHE_MIN_MIB, at most BLOCK_CACHE_MAX_MIB; it only grows from
    there, so a scene never shrinks the cache another one needs. A user's GDAL_CACHEMAX wins."""
    global _cache_bytes
    if os.environ.get("GDAL_CACHEMAX"):
        return
    from rasterio.env import set_gdal_config

    want = min(
        BLOCK_CACHE_MAX_MIB << 20,
        max(BLOCK_CACHE_MIN_MIB << 20, grid.block_cache_bytes(rows), _cache_bytes),
    )
    if want != _cache_bytes:
        set_gdal_config("GDAL_CACHEMAX", want)
        _cache_bytes = want


def open_scene(path: Path | str, bands: list[str], gsd_m: float) -> SceneGrid:
    """Open a scene, check it, and set up a windowed VRT in the local UTM zone at ``gsd_m``.

    Raises TankerWatchError (one line naming the file) for a .tif that is not a GeoTIFF, no
    CRS, missing bands, all nodata, an unreadable file, or one too large (``check_size``,
    ``check_warp``): checked before any pixel is read.
    """
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import calculate_default_transform, transform_bounds

    path = Path(path)
    if not path.exists():
        raise TankerWatchError(f"{path}: file not found")
    try:
        src = open_quietly(path)
    except Exception as exc:
        raise TankerWatchError(f"{path}: cannot read raster ({_short(exc)})") from None
    try:
        if path.suffix.lower() in (".tif", ".tiff") and src.driver not in GEOTIFF_DRIVERS:
            raise TankerWatchError(f"{path}: not a GeoTIFF (a {src.driver} file)")
        if src.crs is None:
            raise TankerWatchError(f"{path}: raster has no CRS")
        if src.transform.is_identity:
            raise TankerWatchError(f"{path}: raster has no geotransform")
        indexes = band_indexes(list(src.descriptions), bands, str(path))
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        lon, lat = (west + east) / 2, (south + north) / 2
        dst_crs = CRS.from_string(utm_epsg(lon, lat))
        src_is_target = src.crs == dst_crs and all(
            math.isclose(abs(r), gsd_m, rel_tol=1e-6) for r in src.res
        )
        if src_is_target:
            transform, width, height = src.transform, src.width, src.height
        else:
            transform, width, height = calculate_default_transform(
                src.crs, dst_crs, src.width, src.height, *src.bounds, resolution=gsd_m
            )
        check_size(path, src, width, height, gsd_m)
        nodata = src.nodata if src.nodata is not None else 0
        vrt = WarpedVRT(
            src,
            crs=dst_crs,
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.bilinear,
            src_nodata=nodata,
            nodata=nodata,
        )
    except TankerWatchError:
        src.close()
        raise
    except Exception as exc:
        src.close()
        raise TankerWatchError(f"{path}: cannot open raster ({_short(exc)})") from None
    try:
        if not src_is_target:
            check_warp(path, src, vrt)
        try:
            offset, scale = _detect_offset(src, indexes, path, bands)
        except TankerWatchError:
            raise
        except Exception as exc:
            raise TankerWatchError(f"{path}: cannot read pixels ({_short(exc)})") from None
    except TankerWatchError:
        vrt.close()
        src.close()
        raise
    return SceneGrid(path, src, vrt, indexes, offset, scale, gsd_m, direct=src_is_target)


GEOTIFF_DRIVERS = ("GTiff", "COG")


def open_quietly(path: Path | str):
    """rasterio.open without the NotGeoreferencedWarning (two lines of noise before our own
    one-line message about the same file)."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def check_size(path: Path, src, width: int, height: int, gsd_m: float) -> None:
    """Refuse a scene whose grid at the model GSD is larger than MAX_GRID_PIXELS."""
    if width * height > MAX_GRID_PIXELS:
        raise TankerWatchError(
            f"{path}: too large: {src.width} x {src.height} px, {width * gsd_m / 1000:.0f} x "
            f"{height * gsd_m / 1000:.0f} km on the {gsd_m:g} m grid ({width * height:.2e} px, "
            f"the limit is {MAX_GRID_PIXELS:.0e}); crop it to the port area"
        )


def check_warp(path: Path, src, vrt) -> None:
    """Refuse a file so much finer than the grid that warping one block needs more than
    MAX_WARP_BLOCK_BYTES (GDAL reads the block's whole source footprint at once)."""
    bh, bw = vrt.block_shapes[0]
    ry, rx = src.height / max(1, vrt.height), src.width / max(1, vrt.width)
    itemsize = max(np.dtype(d).itemsize for d in src.dtypes)
    need = math.ceil(bh * ry + 2) * math.ceil(bw * rx + 2) * src.count * itemsize
    if need > MAX_WARP_BLOCK_BYTES:
        raise TankerWatchError(
            f"{path}: pixels {max(rx, ry):.0f} times finer than the {vrt.res[0]:g} m grid "
            f"({src.width} x {src.height} px): warping would need {need / 2**30:.0f} GiB per "
            f"block; resample it first (e.g. gdalwarp -tr {vrt.res[0]:g} {vrt.res[0]:g} -r average)"
        )


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def read_full(path: Path | str, bands: list[str], gsd_m: float):
    """Whole scene on the UTM grid: (reflectance [b,h,w], valid [h,w], crs, transform)."""
    from rasterio.windows import Window

    with open_scene(path, bands, gsd_m) as g:
        refl, valid = g.read(Window(0, 0, g.width, g.height))
        return refl, valid, g.crs, g.transform


def normalise(refl: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Model input from reflectance: a fixed log-like stretch that keeps bright hulls apart from
    water without saturating, identical at train and prediction time (no per-tile statistics, so
    a tile with a lot of land reads the same as one with open water)."""
    x = np.clip(refl, 0.0, 2.0)
    finite = np.isfinite(x)
    if not finite.all():  # NaN is nodata (clip already took inf to the range)
        x = np.where(finite, x, 0.0)
    out = np.log1p(x * 20.0) / math.log1p(20.0) * 2.0 - 1.0
    if valid is not None:
        out[:, ~valid] = -1.0
    if not finite.all():
        out[~finite] = -1.0
    return out.astype(np.float32, copy=False)


SAR_DB_MIN = -35.0  # below the Sentinel-1 IW noise floor (NESZ about -22 to -26 dB) ...
SAR_DB_MAX = 10.0  # ... and above all but the brightest double-bounce corners


def normalise_sar_db(
    sigma0: np.ndarray,
    valid: np.ndarray | None = None,
    db_min: float = SAR_DB_MIN,
    db_max: float = SAR_DB_MAX,
) -> np.ndarray:
    """Model input from calibrated SAR backscatter (linear power, sigma0 or gamma0): 10 log10,
    clipped to [db_min, db_max], scaled linearly to [-1, 1]. Nodata (``valid`` False, NaN) and
    values that have no dB (zero, negative) read -1, as the floor does. Fixed, like
    :func:`normalise`: no per-tile statistics."""
    x = np.asarray(sigma0, dtype=np.float32)
    ok = np.isfinite(x) & (x > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(np.where(ok, x, np.float32(1.0)))
    out = (np.clip(db, db_min, db_max) - db_min) * (2.0 / (db_max - db_min)) - 1.0
    out[~ok] = -1.0
    if valid is not None:
        out[:, ~valid] = -1.0
    return out.astype(np.float32, copy=False)
