"""STAC APIs with Sentinel-2 L2A COGs: Earth Search (open) and Planetary Computer (signed).

pystac-client searches the endpoint for items over the AOI and period (``eo:cloud_cover`` below
``max_cloud_cover``); items of one pass (tiles of one datatake) are merged and the tile covering
most of the AOI is used. Each band asset is read with rasterio over HTTP (GDAL /vsicurl ranged
reads) for the AOI window only, never the whole tile, onto the port's 10 m UTM grid; the 20 m
SCL (and B11) are resampled with nearest neighbour onto that grid. Each asset read is retried on
its own (429/5xx, waiting as long as ``Retry-After`` asks; GDAL's own retries would not), and
band DN are harmonised to reflectance x 10000 without the +1000 offset of processing baseline
04.00+ (:func:`radiometry`), the convention of Sentinel Hub and of the cache.

Sentinel-1 (an endpoint of ``kind: sar``, e.g. Planetary Computer's ``sentinel-1-rtc``:
gamma0, terrain corrected, linear power, float32 COGs on UTM grids) is searched without the
cloud filter (radar items have no ``eo:cloud_cover``); VV and VH (and a layover/shadow MASK
asset, where the endpoint names one) are read onto the same port grid with nearest neighbour,
integer (DN) assets are refused, and the pixels pass through :mod:`pipeline.ingest.sar`.
Catalogues of uncalibrated GRD (PC's and Earth Search's ``sentinel-1-grd``) are refused when the
settings are loaded.

Planetary Computer assets are signed with a SAS token from its token endpoint
(``GET {sas_url}/{collection}`` -> ``{"token": ..., "msft:expiry": ...}``), fetched with plain
HTTP and appended to the asset URLs; with ``PC_SDK_SUBSCRIPTION_KEY`` set, the token request
carries it (``Ocp-Apim-Subscription-Key``), as the planetary-computer SDK does. The SDK itself
is not used: its ``sign`` asks for tokens per storage account and container and signs only
``*.blob.core.windows.net`` URLs (so it cannot be pointed at a test server), and keeps tokens
in a module-global cache. The token (and key) never appear in logs, errors, the cache or the
catalogue (URLs are printed without their query string).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from datetime import UTC, datetime, timedelta

import numpy as np

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.ingest.base import Candidate, CredentialsError, Raster, SceneSkip, Source
from pipeline.ingest.grid import aoi_grid
from pipeline.ingest.http import (
    RETRY_STATUS,
    TransientError,
    gdal_http_env,
    gdal_messages,
    gdal_range_start,
    gdal_status,
    get,
    probe,
    safe_url,
)
from pipeline.ingest.http import with_retries as _with_retries
from pipeline.ingest.sar import Declared, calibrated, check_polarizations, metadata_fields
from pipeline.ingest.settings import RetrySettings, SourceSettings, StacEndpoint
from pipeline.records import utc

log = logging.getLogger(__name__)


SUBSCRIPTION_KEY_ENV = "PC_SDK_SUBSCRIPTION_KEY"


class SasSigner:
    """Planetary Computer SAS tokens, one per collection, renewed before they expire."""

    def __init__(self, endpoint: StacEndpoint, policy: RetrySettings):
        import requests

        self.endpoint = endpoint
        self.policy = policy
        self.session = requests.Session()
        self._tokens: dict[str, tuple[str, datetime]] = {}

    def token(self, collection: str) -> str:
        now = datetime.now(UTC)
        cached = self._tokens.get(collection)
        if cached and cached[1] - now > timedelta(minutes=5):
            return cached[0]
        url = f"{self.endpoint.sas_url.rstrip('/')}/{collection}"
        # some collections (sentinel-1-rtc) give tokens only to a Planetary Computer account:
        # its subscription key, from the variable the planetary-computer SDK reads
        key = os.environ.get(SUBSCRIPTION_KEY_ENV, "").strip()
        headers = {"Ocp-Apim-Subscription-Key": key} if key else None
        try:
            resp = get(
                self.session,
                url,
                self.policy,
                what=f"SAS token endpoint {safe_url(url)}",
                headers=headers,
            )
        except TankerWatchError as exc:
            if "access refused" in str(exc):
                hint = (
                    f"; set {SUBSCRIPTION_KEY_ENV} to a Planetary Computer subscription key"
                    if not key
                    else f" (check {SUBSCRIPTION_KEY_ENV})"
                )
                raise CredentialsError(f"{exc}{hint}") from None
            raise
        try:
            doc = resp.json()
            token = doc["token"]
            expiry = utc(doc.get("msft:expiry") or (now + timedelta(minutes=30)).isoformat())
        except (ValueError, KeyError, TypeError):
            raise TankerWatchError(f"{safe_url(url)}: not a SAS token response") from None
        self._tokens[collection] = (token, expiry)
        return token

    def sign(self, href: str, collection: str) -> str:
        token = self.token(collection).lstrip("?")
        return f"{href}{'&' if '?' in href else '?'}{token}"


def open_client(ep: StacEndpoint, policy: RetrySettings):
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO
    from urllib3.util.retry import Retry

    retry = Retry(
        total=policy.max_attempts - 1,
        backoff_factor=policy.backoff_s,
        backoff_max=policy.max_backoff_s,
        status_forcelist=sorted(RETRY_STATUS),
        allowed_methods=None,  # POST searches too
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    io = StacApiIO(timeout=policy.timeout_s, max_retries=retry)
    try:
        # Client.open re-sets the StacApiIO's timeout from its own argument: pass it there too
        return Client.open(ep.url, stac_io=io, timeout=policy.timeout_s)
    except Exception as exc:  # pystac-client raises APIError / requests errors / ValueError
        raise _api_error(ep.url, exc) from None


def _api_error(url: str, exc: BaseException) -> TankerWatchError:
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    code = getattr(exc, "status_code", None)
    if code in (401, 403):
        return CredentialsError(f"{safe_url(url)}: HTTP {code}, access refused")
    return TankerWatchError(f"{safe_url(url)}: STAC API request failed ({text})")


def search(client, ep: StacEndpoint, settings: SourceSettings, port: Port, t0, t1) -> list:
    try:
        # radar items have no eo:cloud_cover: a query on it would exclude every one of them
        query = (
            None if ep.kind == "sar" else {"eo:cloud_cover": {"lt": settings.stac.max_cloud_cover}}
        )
        results = client.search(
            collections=[ep.collection],
            intersects=port.aoi_shape.__geo_interface__,
            datetime=[t0, t1],
            query=query,
            max_items=10_000,
        )
        return list(results.items())
    except Exception as exc:
        raise _api_error(f"{ep.url.rstrip('/')}/search", exc) from None


def _coverage(item, port: Port) -> float:
    from shapely.geometry import shape

    try:
        geom = shape(item.geometry)
    except Exception:
        return 0.0
    return geom.intersection(port.aoi_shape).area / port.aoi_shape.area


def group_items(items: list, port: Port, minutes: float) -> list:
    """One item per pass: the tile covering most of the AOI (ties: lowest cloud cover)."""
    items = sorted(items, key=lambda it: utc(it.datetime))
    groups: list[list] = []
    for it in items:
        if groups and utc(it.datetime) - utc(groups[-1][0].datetime) <= timedelta(minutes=minutes):
            groups[-1].append(it)
        else:
            groups.append([it])
    best = []
    for g in groups:
        best.append(
            max(
                g,
                key=lambda it: (
                    round(_coverage(it, port), 3),
                    -float(it.properties.get("eo:cloud_cover", 100.0)),
                ),
            )
        )
    return best


class StacSource(Source):
    """A STAC API of Sentinel-2 L2A COGs or Sentinel-1 calibrated backscatter COGs (the
    settings' endpoint): one scene per pass, read from the item covering most of the AOI."""

    name = "stac"

    def candidates(self, ports, t0, t1, skipped) -> list[Candidate]:
        settings = self.settings
        ep = settings.stac.endpoints[settings.stac.endpoint]
        client = open_client(ep, settings.retry)
        signer = SasSigner(ep, settings.retry) if ep.signing == "planetary-computer" else None
        out: list[Candidate] = []
        for port in ports:
            items = search(client, ep, settings, port, t0, t1)
            for item in group_items(items, port, settings.stac.group_minutes):
                if _coverage(item, port) <= 0:
                    continue
                wanted = ["VV"] if ep.kind == "sar" else [*settings.stac.bands, "SCL"]
                missing = [b for b in wanted if ep.assets[b] not in item.assets]
                props = {
                    "tankerwatch:stac_item": item.id,
                    "tankerwatch:stac_api": safe_url(ep.url),
                    "tankerwatch:stac_collection": ep.collection,
                }
                if ep.kind == "sar":
                    props.update(metadata_fields(item.properties))
                else:
                    props["tankerwatch:tile_cloud_cover"] = item.properties.get("eo:cloud_cover")
                out.append(
                    Candidate(
                        source="stac",
                        sensor=ep.sensor_name,
                        acquired=utc(item.datetime).replace(microsecond=0),
                        port=port,
                        load=_loader(item, ep, signer, settings, port, missing),
                        origin=f"{safe_url(ep.url)} {ep.collection}/{item.id}",
                        properties=props,
                    )
                )
        return out


def _loader(item, ep, signer, settings, port, missing):
    def load() -> Raster:
        if missing:
            raise SceneSkip(f"STAC item {item.id}: no asset for {', '.join(missing)}")
        if ep.kind == "sar":
            return fetch_sar(item, ep, signer, settings, port)
        return fetch(item, ep, signer, settings, port)

    return load


def read_asset(
    href: str, crs: str, transform, width: int, height: int, masked: bool = False
) -> np.ndarray:
    """Read one asset onto the target grid, fetching only the blocks over the window.

    Same CRS: a windowed read (decimated/upsampled with nearest); other CRS: a WarpedVRT, which
    also reads only the source window it needs. ``masked``: a masked array whose mask is the
    file's nodata and the area outside it (SAR: nodata values such as -32768 are not data).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import from_bounds

    x0, y1 = transform.c, transform.f
    x1, y0 = x0 + width * transform.a, y1 + height * transform.e
    with rasterio.open(href) as src:
        nodata = src.nodata
        if src.crs is not None and src.crs.to_string() == crs:
            win = from_bounds(x0, y0, x1, y1, transform=src.transform)
            arr = src.read(
                1,
                window=win,
                out_shape=(height, width),
                resampling=Resampling.nearest,
                boundless=True,
                fill_value=0,
            )
        else:
            with WarpedVRT(
                src,
                crs=crs,
                transform=transform,
                width=width,
                height=height,
                resampling=Resampling.nearest,
            ) as vrt:
                arr = vrt.read(1)
    if not masked:
        return arr
    # (rasterio's boundless masked reads do not mask the file's nodata: done here; the area
    # outside the file is 0, or nodata through the WarpedVRT)
    if nodata is None:
        return np.ma.masked_array(arr, mask=np.zeros(arr.shape, bool))
    off = np.isnan(arr) if np.isnan(nodata) else arr == nodata
    return np.ma.masked_array(arr, mask=off)


@contextlib.contextmanager
def _quiet_rasterio(active: bool):
    """rasterio's DEBUG messages print dataset names, and urllib3's print request lines, i.e.
    signed URLs: hold them back."""
    loggers = [logging.getLogger(n) for n in ("rasterio", "urllib3")]
    old = [lg.level for lg in loggers]
    if active:
        for lg, level in zip(loggers, old, strict=True):
            lg.setLevel(max(logging.INFO, level))
    try:
        yield
    finally:
        for lg, level in zip(loggers, old, strict=True):
            lg.setLevel(level)


# Sentinel-2 processing baseline 04.00 (25 January 2022) on: L2A reflectance = (DN - 1000) / 10000
BOA_ADD_OFFSET = -0.1  # reflectance (ESA's BOA_ADD_OFFSET of -1000 DN x QUANTIFICATION 1/10000)
DN_PER_REFLECTANCE = 10_000.0


def _baseline(value) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def radiometry(item, asset_key: str) -> tuple[float, float]:
    """(scale, offset) that turn this asset's pixels into reflectance (``DN * scale + offset``).

    The cache holds harmonised DN, reflectance x 10000 without the +1000 offset, as Sentinel
    Hub returns them (``harmonizeValues``, its default). What the pixels hold depends on the
    catalogue: before baseline 04.00 there is no offset; Earth Search's ``sentinel-2-l2a`` says
    with ``earthsearch:boa_offset_applied: true`` that it has already removed it (its
    ``raster:bands`` still advertise the product's -0.1, which must then not be applied again);
    ``false``, Earth Search's ``sentinel-2-c1-l2a`` (raw DN, offset and scale in ``raster:bands``)
    and Planetary Computer (raw DN, no ``raster:bands`` offset) keep it in the pixels.
    """
    props = item.properties
    asset = item.assets[asset_key]
    rb = (asset.extra_fields.get("raster:bands") or [{}])[0] or {}
    scale = float(rb.get("scale") or 1.0 / DN_PER_REFLECTANCE)
    offset = float(rb.get("offset") or 0.0)
    baseline = _baseline(props.get("s2:processing_baseline"))
    if props.get("earthsearch:boa_offset_applied") is True:
        offset = 0.0
    elif baseline is not None and baseline < 4.0:
        offset = 0.0
    elif offset == 0.0 and baseline is not None:
        offset = BOA_ADD_OFFSET  # raw DN of baseline 04.00+, no raster:bands to say so
    return scale, offset


def harmonise(raw: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Harmonised uint16 DN (reflectance x 10000) from raw DN; 0 stays nodata, and data that
    would fall to 0 or below (dark water minus the offset) is held at 1, so it stays data."""
    gain, add = scale * DN_PER_REFLECTANCE, offset * DN_PER_REFLECTANCE
    if gain == 1.0 and add == 0.0:
        return raw.astype(np.uint16)
    out = np.rint(raw.astype(np.float64) * gain + add)
    out = np.clip(out, 1, np.iinfo(np.uint16).max)
    return np.where(raw != 0, out, 0).astype(np.uint16)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exceptions ``exc`` was raised from (rasterio: "Read failed. See previous exception
    for details.", the details being in the one before)."""
    out: list[BaseException] = []
    e = exc.__cause__ or exc.__context__
    while e is not None and len(out) < 10:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def read_assets(
    item, ep: StacEndpoint, signer, settings: SourceSettings, names, grid, masked=False
) -> list:
    """Each named asset (canonical band name -> ``ep.assets``) read onto ``grid`` (crs,
    transform, width, height), each read retried on its own; a read that fails for good is a
    transient SceneSkip, refused access a CredentialsError."""
    import rasterio
    import requests
    from rasterio.errors import RasterioError

    crs, transform, width, height = grid
    session = requests.Session()

    def href_of(name: str) -> str:
        href = item.assets[ep.assets[name]].href
        if signer is not None:
            href = signer.sign(href, ep.collection)
        return href

    def clean(text: str) -> str:
        if signer is not None:  # never show the SAS token
            text = text.replace(signer.token(ep.collection), "***")
        return text

    def read_once(name: str) -> np.ndarray:
        href = href_of(name)
        url = safe_url(href)
        with gdal_messages(lambda t: clean(t.replace(href, url))) as said:
            try:
                return read_asset(href, crs, transform, width, height, masked)
            except (RasterioError, OSError) as exc:
                failure = clean(str(exc).replace(href, url))
                said += [clean(str(e).replace(href, url)) for e in _chain(exc)]
        # ask again for the first byte GDAL did not get (the header, or a tile)
        status, retry_after = probe(session, href, settings.retry, gdal_range_start(said))
        if status is None or status < 400:  # answers now: what did GDAL get?
            status = gdal_status([*said, failure])
        if status in (401, 403):
            raise CredentialsError(f"{url}: HTTP {status}, access refused")
        # (GDAL itself says "not recognized as being in a supported file format" for a 503)
        if status in RETRY_STATUS:
            raise TransientError(f"{url}: HTTP {status}", retry_after)
        if status is not None and status >= 400:
            raise TankerWatchError(f"{url}: HTTP {status}")
        first = (failure.strip().splitlines() or [""])[0][:160]
        raise TransientError(f"{url}: {first}")  # a dropped or cut-short transfer

    arrays = []
    with (
        session,
        rasterio.Env(**gdal_http_env(settings.retry)),
        _quiet_rasterio(signer is not None),
    ):
        for name in names:
            try:
                arrays.append(
                    _with_retries(
                        lambda name=name: read_once(name),
                        settings.retry,
                        f"STAC item {item.id} {name}",
                    )
                )
            except CredentialsError:
                raise
            except TankerWatchError as exc:
                raise SceneSkip(str(exc), permanent=False) from None
    return arrays


def fetch(item, ep: StacEndpoint, signer, settings: SourceSettings, port: Port) -> Raster:
    crs, transform, width, height = aoi_grid(port, settings.stac.resolution_m)
    names = [*settings.stac.bands, "SCL"]
    arrays = read_assets(item, ep, signer, settings, names, (crs, transform, width, height))
    raw = np.stack(arrays[:-1]).astype(np.uint16)
    scl = arrays[-1].astype(np.uint8)
    valid = (scl != 0) & np.any(raw != 0, axis=0)
    data = np.empty_like(raw)
    removed: dict[str, float] = {}
    for i, name in enumerate(settings.stac.bands):
        scale, offset = radiometry(item, ep.assets[name])
        data[i] = harmonise(raw[i], scale, offset)
        removed[name] = round(-offset * DN_PER_REFLECTANCE, 3)
    props = {
        "tankerwatch:stac_assets": [safe_url(item.assets[ep.assets[n]].href) for n in names],
        # what the cached DN mean, and what was done to the catalogue's pixels to get there
        "tankerwatch:dn": "harmonised",
        "tankerwatch:boa_offset_removed_dn": removed,
        **{
            k: item.properties[k]
            for k in ("s2:processing_baseline", "earthsearch:boa_offset_applied")
            if k in item.properties
        },
    }
    return Raster(
        data, list(settings.stac.bands), crs, transform, 0, valid, scl=scl, properties=props
    )


def _nodata(item, key: str) -> float | None:
    rb = (item.assets[key].extra_fields.get("raster:bands") or [{}])[0] or {}
    value = rb.get("nodata")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def fetch_sar(item, ep: StacEndpoint, signer, settings: SourceSettings, port: Port) -> Raster:
    """VV (and VH, and the layover/shadow MASK when the endpoint names one) of a calibrated
    Sentinel-1 item on the port's 10 m UTM grid; pixels in the cache's SAR convention
    (:func:`pipeline.ingest.sar.calibrated`). No cloud mask: radar sees through cloud."""
    crs, transform, width, height = aoi_grid(port, settings.stac.resolution_m)
    pols = [p for p in ("VV", "VH") if p in ep.assets and ep.assets[p] in item.assets]
    mask_key = ep.assets.get("MASK")
    names = pols + (["MASK"] if mask_key and mask_key in item.assets else [])
    origin = f"STAC item {item.id}"
    # a VV-only item is refused before anything is read
    check_polarizations(pols, origin, settings.sar.allow_single_pol)
    grid = (crs, transform, width, height)
    arrays = read_assets(item, ep, signer, settings, pols, grid, masked=True)
    if "MASK" in names:  # read as it is: its own nodata (OPERA: 255, invalid) is not seen either
        arrays += read_assets(item, ep, signer, settings, ["MASK"], grid)
    for name, arr in zip(names, arrays, strict=True):
        if name != "MASK" and arr.dtype.kind in "iub":
            raise SceneSkip(
                f"{origin}: asset {ep.assets[name]} holds {arr.dtype.name} pixels, not calibrated "
                f"backscatter (float); uncalibrated DN? ({ep.collection})"
            )
    # the files' nodata (and outside them) as NaN: not data
    data = np.stack([np.ma.filled(a.astype(np.float32), np.nan) for a in arrays[: len(pols)]])
    valid = np.ones((height, width), dtype=bool)
    for name, band in zip(pols, data, strict=True):
        nd = _nodata(item, ep.assets[name])
        ok = np.isfinite(band) & (band != 0)
        if nd is not None and math.isfinite(nd):
            ok &= band != nd
        valid &= ok
    shadow = None
    if "MASK" in names:
        shadow = arrays[names.index("MASK")] != 0
    raster = Raster(
        data,
        pols,
        crs,
        transform,
        0,
        valid,
        cloud_source="sar",
        properties={
            "tankerwatch:stac_assets": [safe_url(item.assets[ep.assets[n]].href) for n in names],
        },
    )
    declared = Declared(
        quantity=ep.sar_quantity,
        scale=ep.sar_scale,
        quantity_from=f"catalogue ({ep.collection})",
        scale_from=f"catalogue ({ep.collection})",
        metadata=metadata_fields(item.properties),
    )
    return calibrated(
        raster,
        declared,
        origin,
        port.name,
        settings.sar.allow_single_pol,
        layover_shadow=shadow,
    )
