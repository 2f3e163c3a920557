"""A static STAC API with Sentinel-2-like COGs on loopback (pytest-httpserver).

Landing page, POST/GET /search (datetime + cloud filter, paginated with a 'next' link), COG
assets served with HTTP Range support (so GDAL reads only the blocks it needs), an optional
Planetary-Computer-style SAS token endpoint, and failures injected per path (429, 500, a
range response cut short, :func:`slow_down`).

Items look like Earth Search v1's: ``s2:processing_baseline``, ``earthsearch:boa_offset_applied``
(``sentinel-2-l2a`` only) and per-asset ``raster:bands`` with ``scale`` / ``offset``, which in
``sentinel-2-l2a`` advertise the product's -0.1 even where the offset is already applied."""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
from werkzeug import Request, Response

from pipeline.config import Port
from pipeline.ingest.grid import to_crs
from pipeline.records import iso, utc

SAS_TOKEN = "st=2024-01-01&se=2099-01-01&sig=SECRETSIGNATURE%3D"
ASSETS_ES = {
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B08": "nir",
    "B11": "swir16",
    "SCL": "scl",
}
TILE_PX = 2048  # 10 m pixels: a 20.48 km tile, the AOI is a small part of it


def tile_grid(port: Port, crs: str | None = None):
    """EPSG:32653 tile origin (60 m aligned, like S2 tiles) with the AOI well inside."""
    crs = crs or port.utm_crs()
    minx, miny, maxx, maxy = to_crs(port.aoi_shape, crs).bounds
    x0 = (int(minx) // 60) * 60 - 6000
    y1 = (int(maxy) // 60) * 60 + 7020
    return crs, x0, y1


def write_cog(
    path: Path, arr: np.ndarray, crs: str, x0: float, y1: float, res: float, nodata: float = 0
):
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = arr.shape
    with rasterio.open(
        path,
        "w",
        driver="COG",
        dtype=arr.dtype.name,
        count=1,
        height=h,
        width=w,
        crs=crs,
        transform=from_origin(x0, y1, res, res),
        nodata=nodata,
        compress="deflate",
        blocksize=256,
        overviews="NONE",
    ) as dst:
        dst.write(arr, 1)
    return path


def make_band_cogs(
    root: Path, port: Port, seed: int = 0, crs: str | None = None, add: int = 0
) -> dict:
    """B02..B11 COGs (10 m; B11 20 m), smooth seeded fields so they compress like real land;
    ``add``: DN added to every pixel (1000: ESA's BOA_ADD_OFFSET of baseline 04.00+ products)."""
    rng = np.random.default_rng(seed)
    crs, x0, y1 = tile_grid(port, crs)
    out = {}
    for band, res in (("B02", 10), ("B03", 10), ("B04", 10), ("B08", 10), ("B11", 20)):
        n = TILE_PX * 10 // res
        coarse = rng.integers(300, 1500, size=(n // 16, n // 16)).astype(np.uint16)
        arr = np.kron(coarse, np.ones((16, 16), dtype=np.uint16))
        arr += rng.integers(0, 32, size=arr.shape, dtype=np.uint16)  # texture, like real land
        arr += np.uint16(add)
        out[band] = write_cog(root / f"{band}.tif", arr, crs, x0, y1, res)
    return out


# Earth Search v1 sentinel-2-l2a, baseline 04.00+: the offset is already removed from the COGs,
# yet raster:bands keep the product's scale and offset
EARTH_SEARCH_L2A = {"s2:processing_baseline": "05.10", "earthsearch:boa_offset_applied": True}
REFLECTANCE_BANDS = {"scale": 0.0001, "offset": -0.1}


def raster_bands(key: str, scale_offset: dict | None) -> list[dict]:
    """An asset's ``raster:bands`` as Earth Search writes them."""
    if key.lower() == "scl":
        return [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]
    rb = {"nodata": 0, "data_type": "uint16", "bits_per_sample": 15, "spatial_resolution": 10}
    return [rb | (scale_offset or {})]


def make_scl_cog(
    path: Path, port: Port, cloud_rows_share: float = 0.0, crs: str | None = None
) -> Path:
    """20 m SCL: water below, land above; the bottom share of the AOI rows is cloud (9)."""
    crs, x0, y1 = tile_grid(port, crs)
    n = TILE_PX // 2
    scl = np.full((n, n), 6, dtype=np.uint8)
    scl[: n // 4] = 5
    if cloud_rows_share:
        minx, miny, maxx, maxy = to_crs(port.aoi_shape, crs).bounds
        top = int((y1 - maxy) / 20)
        bottom = int((y1 - miny) / 20) + 1
        cut = bottom - int((bottom - top) * cloud_rows_share)
        scl[cut:] = 9
    return write_cog(path, scl, crs, x0, y1, 20)


class FakeStacApi:
    def __init__(self, httpserver, prefix: str = "/stac", sas: bool = False):
        self.server = httpserver
        self.prefix = prefix
        self.items: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, list] = defaultdict(list)  # path or "search"/"sas" -> failures
        self.bytes_served: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self.busy_for: dict[str, float] = {}  # path -> seconds throttled from its next request
        self.busy_until: dict[str, float] = {}  # path -> when its throttling ends (monotonic)
        # path -> failures for ranged reads of image data (past the first 16 KiB: the header
        # and tile index are read fine, the tiles are not)
        self.fail_tiles: dict[str, list] = defaultdict(list)
        self.sas = sas
        self.searches: list[dict] = []  # search request bodies (POST) or arguments (GET)
        self.token_paths: list[str] = []
        self.token_headers: list[dict] = []
        self.require_key: str | None = None  # a subscription key the token endpoint demands
        p = re.escape(prefix)
        httpserver.expect_request(f"{prefix}/").respond_with_handler(self.landing)
        httpserver.expect_request(f"{prefix}").respond_with_handler(self.landing)
        httpserver.expect_request(f"{prefix}/search").respond_with_handler(self.search)
        httpserver.expect_request(re.compile(f"^{p}/cogs/.*")).respond_with_handler(self.cog)
        httpserver.expect_request(
            re.compile(f"^{p}/sas/token/.*"), method="GET"
        ).respond_with_handler(self.token)

    @property
    def url(self) -> str:
        return self.server.url_for(self.prefix)

    @property
    def sas_url(self) -> str:
        return self.server.url_for(f"{self.prefix}/sas/token")

    def add_file(self, name: str, path: Path) -> str:
        self.files[f"{self.prefix}/cogs/{name}"] = path.read_bytes()
        return self.server.url_for(f"{self.prefix}/cogs/{name}")

    def add_item(
        self,
        item_id: str,
        when: datetime,
        geometry: dict,
        assets: dict[str, str],
        cloud_cover: float = 5.0,
        collection: str = "sentinel-2-l2a",
        properties: dict | None = None,
        scale_offset: dict | None = None,
    ):
        """``properties``: the item's Sentinel-2 properties (default: Earth Search's L2A of
        baseline 05.10, offset applied); ``scale_offset``: the reflectance assets' raster:bands
        scale and offset (default: scale 0.0001, offset -0.1; {} for none)."""
        props = dict(EARTH_SEARCH_L2A if properties is None else properties)
        so = REFLECTANCE_BANDS if scale_offset is None else scale_offset
        self.items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": item_id,
                "collection": collection,
                "geometry": geometry,
                "bbox": _bbox(geometry),
                "properties": {"datetime": iso(when), "eo:cloud_cover": cloud_cover} | props,
                "assets": {
                    k: {
                        "href": v,
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                        "raster:bands": raster_bands(k, so),
                    }
                    for k, v in assets.items()
                },
                "links": [],
            }
        )

    def add_sar_item(
        self, item_id: str, when: datetime, geometry: dict, assets: dict[str, str], **props
    ):
        """A Planetary Computer sentinel-1-rtc item: sar:/sat:/s1: properties, no
        eo:cloud_cover, float32 assets with nodata -32768 (``props`` override / add fields)."""
        properties = {
            "datetime": iso(when),
            "platform": "SENTINEL-1A",
            "constellation": "Sentinel-1",
            "sar:instrument_mode": "IW",
            "sar:polarizations": [k.upper() for k in assets if k in ("vv", "vh")],
            "sar:product_type": "GRD",
            "sar:frequency_band": "C",
            "sat:orbit_state": "ascending",
            "sat:relative_orbit": 46,
            "sat:absolute_orbit": 52964,
            "s1:datatake_id": "412345",
            "s1:orbit_source": "RESORB",
            "proj:epsg": 32653,
        } | props
        self.items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": item_id,
                "collection": "sentinel-1-rtc",
                "geometry": geometry,
                "bbox": _bbox(geometry),
                "properties": properties,
                "assets": {
                    k: {
                        "href": v,
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                        "roles": ["data"],
                        "raster:bands": [{"nodata": -32768, "data_type": "float32"}],
                    }
                    for k, v in assets.items()
                },
                "links": [],
            }
        )

    def rate_limit(self, path: str, seconds: int) -> None:
        """From the next request for ``path`` on, answer every request for it with 503 SlowDown
        and ``Retry-After`` (whole seconds left) for ``seconds`` seconds, as a throttled service
        does."""
        self.busy_for[path] = seconds

    def _failure(self, key: str) -> Response | None:
        self.calls[key] += 1
        if key in self.busy_for:
            self.busy_until[key] = time.monotonic() + self.busy_for.pop(key)
        left = self.busy_until.get(key, 0.0) - time.monotonic()
        if left > 0:
            return slow_down(503, retry_after=str(math.ceil(left)))
        if self.fail[key]:
            kind = self.fail[key].pop(0)
            if kind == 429:
                return Response("slow down", status=429, headers={"Retry-After": "0"})
            if isinstance(kind, int):
                return Response("error", status=kind)
            if isinstance(kind, float):  # answer late: the client's timeout fires first
                time.sleep(kind)
                return None
            return kind
        return None

    def landing(self, request: Request) -> Response:
        base = self.url.rstrip("/")
        doc = {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "fake",
            "description": "test API",
            "conformsTo": [
                "https://api.stacspec.org/v1.0.0/core",
                "https://api.stacspec.org/v1.0.0/item-search",
                "https://api.stacspec.org/v1.0.0/item-search#query",
                "http://www.opengis.net/spec/ogcapi-features-1/conf/geojson",
            ],
            "links": [
                {"rel": "self", "href": base, "type": "application/json"},
                {"rel": "root", "href": base, "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{base}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
                {
                    "rel": "search",
                    "href": f"{base}/search",
                    "type": "application/geo+json",
                    "method": "GET",
                },
            ],
        }
        return Response(json.dumps(doc), content_type="application/json")

    def search(self, request: Request) -> Response:
        if (r := self._failure("search")) is not None:
            return r
        body = request.get_json() if request.method == "POST" else dict(request.args)
        if not body.get("token"):
            self.searches.append(body)
        lo, hi = (utc(x) for x in body["datetime"].split("/"))
        cc = (body.get("query") or {}).get("eo:cloud_cover")
        collections = body.get("collections") or []
        feats = [
            it
            for it in self.items
            if lo <= utc(it["properties"]["datetime"]) <= hi
            and (not collections or it["collection"] in collections)
            # a STAC API query on a property excludes the items that do not have it
            and (cc is None or it["properties"].get("eo:cloud_cover", math.inf) < cc["lt"])
        ]
        start = int(body.get("token") or 0)
        page = feats[start : start + 2]
        links = []
        if start + 2 < len(feats):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.url.rstrip('/')}/search",
                    "method": "POST",
                    "body": {**body, "token": str(start + 2)},
                    "merge": False,
                }
            )
        doc = {"type": "FeatureCollection", "features": page, "links": links}
        return Response(json.dumps(doc), content_type="application/geo+json")

    def token(self, request: Request) -> Response:
        if (r := self._failure("sas")) is not None:
            return r
        self.token_paths.append(request.path)
        self.token_headers.append(dict(request.headers))
        if self.require_key and request.headers.get("Ocp-Apim-Subscription-Key") != (
            self.require_key
        ):
            return Response('{"message": "Access denied"}', status=401)
        doc = {"msft:expiry": "2099-01-01T00:00:00Z", "token": SAS_TOKEN}
        return Response(json.dumps(doc), content_type="application/json")

    def cog(self, request: Request) -> Response:
        path = request.path
        if (r := self._failure(path)) is not None:
            return r
        if self.sas and request.query_string.decode() != SAS_TOKEN:
            return Response("AuthenticationFailed", status=403)
        data = self.files.get(path)
        if data is None:
            return Response("not found", status=404)
        rng = request.range
        if rng is None or request.method == "HEAD":
            # werkzeug drops the body of a HEAD response but keeps its Content-Length
            if request.method != "HEAD":
                self.bytes_served[path] += len(data)
            return Response(data, headers={"Accept-Ranges": "bytes"}, content_type="image/tiff")
        ranges = rng.range_for_length(len(data))
        if ranges is None:
            return Response(status=416)
        a, b = ranges
        if a >= 16384 and self.fail_tiles[path]:
            return self.fail_tiles[path].pop(0)
        chunk = data[a:b]
        self.bytes_served[path] += len(chunk)
        return Response(
            chunk,
            status=206,
            content_type="image/tiff",
            headers={"Content-Range": f"bytes {a}-{b - 1}/{len(data)}", "Accept-Ranges": "bytes"},
        )


def slow_down(status: int = 503, retry_after: str | None = "1") -> Response:
    """S3's answer to too many requests (the COGs of Earth Search live on S3): 503 SlowDown, an
    XML error body, and here a ``Retry-After`` as a CDN in front of the bucket sends it."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        "<Message>Please reduce your request rate.</Message></Error>"
    )
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Response(body, status=status, content_type="application/xml", headers=headers)


def cut_short(full_len: int = 16384) -> Response:
    """A 206 that promises ``full_len`` bytes and delivers a few before the connection ends."""
    import io

    resp = Response(
        io.BytesIO(b"II*\x00" + b"\x00" * 100),
        status=206,
        content_type="image/tiff",
        direct_passthrough=True,
    )
    resp.headers["Content-Length"] = str(full_len)
    resp.headers["Content-Range"] = f"bytes 0-{full_len - 1}/{full_len * 100}"
    return resp


def _bbox(geom: dict) -> list[float]:
    from shapely.geometry import shape

    return list(shape(geom).bounds)
