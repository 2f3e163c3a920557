"""Sentinel Hub / Copernicus Data Space Ecosystem through sentinelhub-py.

``SentinelHubCatalog.search`` lists acquisitions over the AOI and period (Sentinel-2 L2A with a
cloud-cover filter; Sentinel-1 IW GRD), features of one satellite pass are merged, and one
``SentinelHubRequest`` (Process API) per pass returns B02, B03, B04, B08, B11, SCL and dataMask
(or VV, VH, localIncidenceAngle, shadowMask, dataMask) at 10 m on the port's UTM grid as a
GeoTIFF.

Sentinel-1: the catalogue search is limited to IW, dual-pol VV+VH, high resolution
(``DataCollection.SENTINEL1_IW``); the Process API calibrates to ``sentinelhub.s1_backcoeff``
(SIGMA0_ELLIPSOID by default, or GAMMA0_TERRAIN), linear power, orthorectified on
``sentinelhub.s1_dem`` (:func:`s1_processing`). Radar shadow / layover (``shadowMask``) is not
an observation; the mean local incidence angle over the AOI is kept as ``view:incidence_angle``
and the catalogue's orbit direction and relative orbit in the item (pipeline.ingest.sar).

Base and token URLs come from the settings (Sentinel Hub or CDSE); collections are derived with
``DataCollection.define_from(..., service_url=base_url)`` so the base URL is honoured. Credentials
come from ``SH_CLIENT_ID`` / ``SH_CLIENT_SECRET`` (or the sentinelhub-py profile) and are never
logged, printed or written. Retries: the token fetch is retried here on 429/5xx, waiting as
long as ``Retry-After`` asks (milliseconds, at Sentinel Hub); Catalog and Process requests use
sentinelhub-py's own (``max_download_attempts``, ``download_sleep_time``, ``max_retries`` for
429, all taken from ``retry:``), plus a bounded retry of the whole pass when the returned GeoTIFF
is unreadable (a truncated body).

Sentinel-2 DN come harmonised (``harmonizeValues: true``, the service's default, asked for
explicitly): reflectance x 10000 without the +1000 offset of processing baseline 04.00+, the
cache's convention (the STAC source converts to it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.ingest.base import Candidate, CredentialsError, Raster, SceneSkip, Source
from pipeline.ingest.grid import aoi_grid
from pipeline.ingest.http import TransientError, retry_after_s, safe_url, with_retries
from pipeline.ingest.sar import Declared, calibrated, incidence_mean, metadata_fields
from pipeline.ingest.settings import RetrySettings, SourceSettings
from pipeline.records import utc

log = logging.getLogger(__name__)


def sh_config(settings: SourceSettings):
    """SHConfig for the configured deployment; credentials from the environment or profile."""
    from sentinelhub import SHConfig

    sh = settings.sentinelhub
    cid, secret = os.environ.get("SH_CLIENT_ID"), os.environ.get("SH_CLIENT_SECRET")
    if cid and secret:
        cfg = SHConfig(use_defaults=True, sh_client_id=cid, sh_client_secret=secret)
    elif os.path.exists(SHConfig.get_config_location()):  # a sentinelhub-py profile
        try:
            cfg = SHConfig()
        except KeyError as exc:
            raise TankerWatchError(
                f"{SHConfig.get_config_location()}: {exc.args[0] if exc.args else exc}"
            ) from None
    else:  # never let sentinelhub-py create a config file in the user's home
        cfg = SHConfig(use_defaults=True)
    if not (cfg.sh_client_id and cfg.sh_client_secret):
        raise TankerWatchError(
            "Sentinel Hub credentials missing: set SH_CLIENT_ID and SH_CLIENT_SECRET "
            f"(OAuth client of {safe_url(sh.base_url)})"
        )
    cfg.sh_base_url = sh.base_url.rstrip("/")
    cfg.sh_token_url = sh.token_url
    r = settings.retry
    cfg.max_download_attempts = r.max_attempts
    cfg.download_sleep_time = r.backoff_s
    cfg.download_timeout_seconds = r.timeout_s
    cfg.max_retries = r.max_attempts  # bounds retries on 429 (Too Many Requests)
    return cfg


def collection(name: str, base_url: str):
    """The named collection bound to ``base_url`` (DataCollection.define_from)."""
    from sentinelhub import DataCollection

    base = {
        "sentinel-2-l2a": DataCollection.SENTINEL2_L2A,
        "sentinel-1-grd": DataCollection.SENTINEL1_IW,
    }[name]
    tag = hashlib.sha1(base_url.encode()).hexdigest()[:10]
    alias = f"TW_{name.replace('-', '_').upper()}_{tag}"
    try:
        return DataCollection[alias]
    except KeyError:
        return base.define_from(alias, service_url=base_url)


def _status(exc: BaseException) -> int | None:
    for e in (exc, getattr(exc, "request_exception", None), exc.__cause__):
        resp = getattr(e, "response", None)
        if resp is not None and getattr(resp, "status_code", None) is not None:
            return int(resp.status_code)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# Sentinel Hub's Retry-After counts milliseconds (its rate-limiting docs; sentinelhub-py reads
# it so too), not the seconds of RFC 9110
SH_RETRY_AFTER_UNIT_S = 0.001


def _token_session_class():
    from sentinelhub import SentinelHubSession

    class TokenSession(SentinelHubSession):
        """A SentinelHubSession that looks at the HTTP status before the OAuth error body (a 429
        with a JSON ``error`` is rate limiting, not refused credentials) and fetches every token,
        refreshes included, through our retries, which honour ``Retry-After``; sentinelhub-py's
        own retries (no Retry-After, 5xx only) are turned off for it."""

        def __init__(self, config, policy: RetrySettings):
            self.policy = policy
            config = config.copy()
            config.max_download_attempts = 1
            super().__init__(config=config)

        @staticmethod
        def _compliance_hook(response):
            if response.status_code == 429 or response.status_code >= 500:
                response.raise_for_status()
            return SentinelHubSession._compliance_hook(response)

        def _collect_new_token(self):
            url = safe_url(self.config.sh_token_url)
            fetch = super()._collect_new_token
            return with_retries(
                lambda: _token_once(fetch, url), self.policy, f"Sentinel Hub token endpoint {url}"
            )

    return TokenSession


def _token_once(fetch, url: str):
    import requests
    from oauthlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error
    from sentinelhub.exceptions import DownloadFailedException

    try:
        return fetch()
    except InsecureTransportError:
        raise TankerWatchError(f"{url}: token URL must use https") from None
    except OAuth2Error as exc:
        raise CredentialsError(
            f"{url}: credentials refused ({exc.error}); check SH_CLIENT_ID / SH_CLIENT_SECRET"
        ) from None
    except (DownloadFailedException, requests.RequestException) as exc:
        code = _status(exc)
        if code in (401, 403):
            raise CredentialsError(
                f"{url}: HTTP {code}, credentials refused; check SH_CLIENT_ID / SH_CLIENT_SECRET"
            ) from None
        if code is None or code == 429 or code >= 500:
            raise TransientError(
                f"HTTP {code}" if code else type(exc).__name__, _retry_after(exc)
            ) from None
        raise TankerWatchError(f"{url}: HTTP {code} from the token endpoint") from None


def _retry_after(exc: BaseException) -> float | None:
    for e in (exc, getattr(exc, "request_exception", None), exc.__cause__):
        resp = getattr(e, "response", None)
        if resp is not None and getattr(resp, "headers", None) is not None:
            return retry_after_s(resp.headers.get("Retry-After"), SH_RETRY_AFTER_UNIT_S)
    return None


def open_session(cfg, settings: SourceSettings):
    """Fetch an OAuth token (bounded retries on 429/5xx, honouring Retry-After); bad
    credentials: CredentialsError."""
    from sentinelhub import SentinelHubDownloadClient

    # requests-oauthlib logs the token request body (client secret included) at DEBUG
    for name in ("requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    session = _token_session_class()(cfg, settings.retry)
    SentinelHubDownloadClient.cache_session(session)
    return session


def _service_error(exc: BaseException, url: str) -> TankerWatchError:
    code = _status(exc)
    if code in (401, 403):
        return CredentialsError(f"{url}: HTTP {code}, access refused (check credentials)")
    what = f"HTTP {code}" if code else type(exc).__name__
    return TankerWatchError(f"{url}: request failed ({what})")


def search(cfg, settings: SourceSettings, coll_name: str, port: Port, t0, t1) -> list[dict]:
    from sentinelhub import CRS, BBox, SentinelHubCatalog

    catalog = SentinelHubCatalog(config=cfg)
    url = safe_url(f"{catalog.service_url}/search")
    coll = collection(coll_name, cfg.sh_base_url)
    flt = None
    fields = ["id", "properties.datetime", "properties.eo:cloud_cover"]
    if coll_name == "sentinel-2-l2a":
        flt = f"eo:cloud_cover < {settings.sentinelhub.max_cloud_cover:g}"
    else:  # the collection (SENTINEL1_IW) adds its own filter: IW, dual-pol VV+VH, HIGH
        fields += [f"properties.{k}" for k in S1_CATALOG_FIELDS]
    try:
        results = catalog.search(
            coll,
            bbox=BBox(port.aoi_shape.bounds, crs=CRS.WGS84),
            time=(t0, t1),
            filter=flt,
            fields={"include": fields},
        )
        return list(results)
    except Exception as exc:  # sentinelhub-py wraps requests errors in its own types
        if isinstance(exc, TankerWatchError):
            raise
        raise _service_error(exc, url) from None


# Catalog fields of a Sentinel-1 acquisition kept in the scene's item (what arrives is kept;
# a relative orbit missing is derived from the absolute orbit and platform)
S1_CATALOG_FIELDS = [
    "platform",
    "sat:orbit_state",
    "sat:relative_orbit",
    "sat:absolute_orbit",
    "sar:instrument_mode",
    "sar:polarizations",
    "s1:polarization",
    "s1:resolution",
    "s1:timeliness",
]


def group_features(features: list[dict], minutes: float) -> list[list[dict]]:
    """Catalogue features of one satellite pass (tiles of one datatake) grouped together,
    in time order."""
    feats = sorted(features, key=lambda f: utc(f["properties"]["datetime"]))
    groups: list[list[dict]] = []
    for f in feats:
        t = utc(f["properties"]["datetime"])
        if groups and t - utc(groups[-1][0]["properties"]["datetime"]) <= timedelta(
            minutes=minutes
        ):
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


def group_passes(features: list[dict], minutes: float) -> list[list[datetime]]:
    """Acquisition times of one satellite pass (tiles of one datatake) grouped together."""
    return [
        [utc(f["properties"]["datetime"]) for f in g] for g in group_features(features, minutes)
    ]


class SentinelHubSource(Source):
    """Sentinel Hub or CDSE (base and token URLs from the settings): one scene per satellite pass
    of each configured collection."""

    name = "sentinelhub"
    S2_BANDS = ["B02", "B03", "B04", "B08", "B11"]
    S1_BANDS = ["VV", "VH"]

    EVALSCRIPT_S2 = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B02", "B03", "B04", "B08", "B11", "SCL", "dataMask"], units: "DN"}],
    output: {bands: 7, sampleType: "UINT16"}
  };
}
function evaluatePixel(s) {
  return [s.B02, s.B03, s.B04, s.B08, s.B11, s.SCL, s.dataMask];
}
"""

    # VV, VH in their only unit, LINEAR_POWER, calibrated to the backscatter coefficient the
    # request's processing options name (s1_processing); localIncidenceAngle (degrees) and
    # shadowMask (radar shadow / layover) are Sentinel-1 meta-bands of orthorectified requests
    # (sentinelhub-py lists these names and units in data_collections_bands)
    EVALSCRIPT_S1 = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["VV", "VH", "localIncidenceAngle", "shadowMask", "dataMask"]}],
    output: {bands: 5, sampleType: "FLOAT32"}
  };
}
function evaluatePixel(s) {
  return [s.VV, s.VH, s.localIncidenceAngle, s.shadowMask, s.dataMask];
}
"""

    # sensor names are the collection ids, as the simulator writes them
    SENSOR = {"sentinel-2-l2a": "sentinel-2-l2a", "sentinel-1-grd": "sentinel-1-grd"}

    def candidates(self, ports, t0, t1, skipped) -> list[Candidate]:
        settings = self.settings
        cfg = sh_config(settings)
        open_session(cfg, settings)
        out: list[Candidate] = []
        for port in ports:
            for coll_name in settings.sentinelhub.collections:
                feats = search(cfg, settings, coll_name, port, t0, t1)
                for group in group_features(feats, settings.sentinelhub.group_minutes):
                    times = [utc(f["properties"]["datetime"]) for f in group]
                    acquired = times[0].replace(microsecond=0)
                    props = {"tankerwatch:collection": coll_name}
                    if coll_name == "sentinel-1-grd":
                        props.update(metadata_fields(group[0].get("properties", {})))
                    out.append(
                        Candidate(
                            source="sentinelhub",
                            sensor=self.SENSOR[coll_name],
                            acquired=acquired,
                            port=port,
                            load=_loader(cfg, settings, coll_name, port, times, props),
                            origin=f"{safe_url(cfg.sh_base_url)} {coll_name}",
                            properties=props,
                        )
                    )
        return out


def _loader(cfg, settings, coll_name, port, times, props=None):
    return lambda: fetch(cfg, settings, coll_name, port, times, props)


def s1_processing(settings: SourceSettings) -> dict:
    """The Process API's Sentinel-1 processing options: calibrated backscatter (sigma0 on the
    ellipsoid, or terrain-flattened gamma0), orthorectified on a DEM (Range-Doppler terrain
    correction), thermal noise removed (the service always does), no speckle filter."""
    sh = settings.sentinelhub
    return {
        "backCoeff": sh.s1_backcoeff,
        "orthorectify": True,
        "demInstance": sh.s1_dem,
        "speckleFilter": {"type": "NONE"},
    }


def fetch(cfg, settings: SourceSettings, coll_name: str, port: Port, times, props=None) -> Raster:
    """One Process API request for the pass; a GeoTIFF on the port's UTM grid."""
    from sentinelhub import CRS, BBox, MimeType, MosaickingOrder, SentinelHubRequest

    crs, transform, width, height = aoi_grid(port, settings.sentinelhub.resolution_m)
    x0, y1 = transform.c, transform.f
    x1, y0 = x0 + width * transform.a, y1 + height * transform.e
    bbox = BBox((x0, y0, x1, y1), crs=CRS(int(crs.split(":")[1])))
    coll = collection(coll_name, cfg.sh_base_url)
    s2 = coll_name == "sentinel-2-l2a"
    extra = (
        {"processing": {"harmonizeValues": True}} if s2 else {"processing": s1_processing(settings)}
    )
    request = SentinelHubRequest(
        evalscript=SentinelHubSource.EVALSCRIPT_S2 if s2 else SentinelHubSource.EVALSCRIPT_S1,
        input_data=[
            SentinelHubRequest.input_data(
                data_collection=coll,
                time_interval=(times[0] - timedelta(minutes=1), times[-1] + timedelta(minutes=1)),
                mosaicking_order=MosaickingOrder.LEAST_CC if s2 else None,
                other_args=extra or None,
            )
        ],
        responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
        bbox=bbox,
        size=(width, height),
        config=cfg,
    )
    url = safe_url(f"{cfg.sh_base_url}/api/v1/process")

    def once() -> np.ndarray:
        try:
            resp = request.get_data(decode_data=False, redownload=True)[0]
        except Exception as exc:
            err = _service_error(exc, url)
            if isinstance(err, CredentialsError):
                raise err from None
            raise SceneSkip(f"{err} after {settings.retry.max_attempts} attempts", False) from None
        return _decode_tiff(resp.content, (7 if s2 else 5, height, width), url)

    try:
        arr = with_retries(once, settings.retry, url)
    except TankerWatchError as exc:
        if isinstance(exc, CredentialsError):
            raise
        raise SceneSkip(str(exc), permanent=False) from None
    if s2:
        data = arr[:5].astype(np.uint16)
        scl = arr[5].astype(np.uint8)
        valid = (arr[6] > 0) & (scl != 0)
        props = {"tankerwatch:dn": "harmonised", "tankerwatch:harmonize_values": True}
        return Raster(
            data,
            list(SentinelHubSource.S2_BANDS),
            crs,
            transform,
            0,
            valid,
            scl=scl,
            properties=props,
        )
    data = arr[:2].astype(np.float32)
    valid = arr[4] > 0
    shadow = arr[3] > 0  # radar shadow / layover: no observation there
    metadata = dict(props or {})
    metadata.pop("tankerwatch:collection", None)
    incidence = incidence_mean(arr[2], valid)
    if incidence is not None:
        metadata["view:incidence_angle"] = incidence
        metadata["tankerwatch:incidence_from"] = "localIncidenceAngle, mean over the AOI"
    raster = Raster(
        data,
        list(SentinelHubSource.S1_BANDS),
        crs,
        transform,
        0,
        valid,
        cloud_source="sar",
        properties={
            "tankerwatch:sh_processing": s1_processing(settings),
        },
    )
    backcoeff = settings.sentinelhub.s1_backcoeff
    declared = Declared(
        quantity="sigma0" if backcoeff.startswith("SIGMA0") else "gamma0",
        scale="linear",
        quantity_from=f"Process API backCoeff {backcoeff}",
        scale_from="Process API units LINEAR_POWER",
        metadata=metadata,
    )
    return calibrated(
        raster,
        declared,
        f"{url} sentinel-1-grd {times[0]:%Y-%m-%dT%H:%M:%SZ}",
        port.name,
        settings.sar.allow_single_pol,
        layover_shadow=shadow,
    )


def _decode_tiff(content: bytes, shape: tuple[int, int, int], url: str) -> np.ndarray:
    """Decode a Process API GeoTIFF; an unreadable or mis-sized body is a TransientError."""
    import rasterio
    from rasterio.errors import RasterioError

    with tempfile.TemporaryDirectory(prefix="tw-sh-") as tmp:
        path = Path(tmp) / "response.tif"
        path.write_bytes(content)
        try:
            with rasterio.open(path) as src:
                arr = src.read()
        except (RasterioError, OSError) as exc:
            raise TransientError(
                f"unreadable GeoTIFF from {url} ({len(content)} bytes: {_first_line(exc)})"
            ) from None
    if arr.shape != shape:
        raise TransientError(f"GeoTIFF from {url} has shape {arr.shape}, expected {shape}")
    return arr
