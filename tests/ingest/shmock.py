"""A Sentinel Hub look-alike on loopback (pytest-httpserver): OAuth token, Catalog search and
Process API endpoints, speaking the JSON and GeoTIFF the real service does, with failures
(429, 500, truncated bodies, refused credentials) injected per endpoint."""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
from werkzeug import Request, Response

from pipeline.records import iso, utc

CLIENT_ID, CLIENT_SECRET = "test-client", "s3cret-value-never-logged"
BASELINE_04 = datetime(2022, 1, 25, tzinfo=UTC)  # Sentinel-2 processing baseline 04.00 from then


def _jwt(claims: dict) -> str:
    """A JWT-shaped access token (sentinelhub-py reads the 'azp' claim); unsigned, test only."""
    import base64

    payload = json.dumps(claims)
    payload += " " * (-len(payload) % 3)  # base64 without padding
    return "e30." + base64.b64encode(payload.encode()).decode() + ".sig"


TOKEN = _jwt({"azp": CLIENT_ID, "sub": "tester"})


def tiff_bytes(arr: np.ndarray, crs: str, bbox, dtype: str) -> bytes:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_bounds

    count, h, w = arr.shape
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            count=count,
            height=h,
            width=w,
            dtype=dtype,
            crs=crs,
            transform=from_bounds(*bbox, w, h),
        ) as dst:
            dst.write(arr.astype(dtype))
        return bytes(mem.read())
    del rasterio


class FakeSentinelHub:
    """``acquisitions``: {collection id: [(datetime, cloudy berth mask fn or cloud share)]}."""

    def __init__(self, httpserver, acquisitions: dict[str, list[datetime]], clouds=None):
        self.server = httpserver
        self.acq = {k: sorted(utc(t) for t in v) for k, v in acquisitions.items()}
        self.clouds = clouds or {}  # datetime -> fraction of rows (from the bottom) that is cloud
        self.fail: dict[str, list] = defaultdict(list)  # endpoint -> queued failures
        self.calls: dict[str, int] = defaultdict(int)
        self.bodies: list[dict] = []
        self.search_bodies: list[dict] = []
        # Sentinel-1: the catalogue properties of every acquisition (Catalog API: sat:, sar:,
        # s1: fields), the share of AOI rows (from the top) in radar shadow, and what the
        # Process API would return for VV/VH ("calibrated", or "dn" for a misconfigured one)
        self.s1_properties = {
            "platform": "sentinel-1a",
            "sat:orbit_state": "descending",
            "sat:absolute_orbit": 52914,
            "sar:instrument_mode": "IW",
            "sar:polarizations": ["VV", "VH"],
            "s1:polarization": "DV",
            "s1:resolution": "HIGH",
            "s1:timeliness": "NRT3h",
        }
        self.s1_shadow_rows = 0.0
        self.s1_values = "calibrated"
        self.seen_auth: list[str] = []
        httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(self.token)
        httpserver.expect_request(
            "/api/v1/catalog/1.0.0/search", method="POST"
        ).respond_with_handler(self.search)
        httpserver.expect_request("/api/v1/process", method="POST").respond_with_handler(
            self.process
        )

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    @property
    def token_url(self) -> str:
        return self.server.url_for("/oauth/token")

    def _failure(self, endpoint: str) -> Response | None:
        self.calls[endpoint] += 1
        if self.fail[endpoint]:
            kind = self.fail[endpoint].pop(0)
            if kind == 429:
                return rate_limited()
            if isinstance(kind, int):
                return Response("Forbidden" if kind == 403 else "server error", status=kind)
            if isinstance(kind, float):  # answer late: the client's timeout fires first
                time.sleep(kind)
                return None
            return kind  # a prepared Response
        return None

    def token(self, request: Request) -> Response:
        if (r := self._failure("token")) is not None:
            return r
        form = request.form
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Response(
                json.dumps({"error": "invalid_client", "error_description": "Invalid client"}),
                status=401,
                content_type="application/json",
            )
        body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
        return Response(json.dumps(body), content_type="application/json")

    def _authorised(self, request: Request) -> bool:
        self.seen_auth.append(request.headers.get("Authorization", ""))
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def search(self, request: Request) -> Response:
        if (r := self._failure("search")) is not None:
            return r
        if not self._authorised(request):
            return Response("unauthorized", status=401)
        body = request.get_json()
        self.search_bodies.append(body)
        coll = body["collections"][0]
        lo, hi = (utc(x) for x in body["datetime"].split("/"))
        times = [t for t in self.acq.get(coll, []) if lo <= t <= hi]
        # paginate two at a time, like the real service's 'next' token
        start = int(body.get("next") or 0)
        page = times[start : start + 2]
        feats = []
        for i, t in enumerate(page):
            # two tiles of the same pass, seconds apart, for the first feature of each page
            for dt_s in (0, 3) if i == 0 else (0,):
                feats.append(
                    {
                        "type": "Feature",
                        "id": f"{coll}-{iso(t)}-{dt_s}",
                        "properties": {
                            "datetime": iso(t.replace(second=t.second + dt_s)),
                            **(
                                {"eo:cloud_cover": 10.0}
                                if coll == "sentinel-2-l2a"
                                else self.s1_properties
                            ),
                        },
                    }
                )
        nxt = start + 2 if start + 2 < len(times) else None
        ctx = {"limit": body.get("limit"), "returned": len(feats)}
        if nxt is not None:
            ctx["next"] = nxt
        return Response(
            json.dumps({"type": "FeatureCollection", "features": feats, "context": ctx}),
            content_type="application/geo+json",
        )

    def process(self, request: Request) -> Response:
        if (r := self._failure("process")) is not None:
            return r
        if not self._authorised(request):
            return Response("unauthorized", status=401)
        body = request.get_json()
        self.bodies.append(body)
        bounds = body["input"]["bounds"]
        bbox = bounds["bbox"]
        crs = "EPSG:" + bounds["properties"]["crs"].rsplit("/", 1)[-1]
        w, h = body["output"]["width"], body["output"]["height"]
        data = body["input"]["data"][0]
        lo = utc(data["dataFilter"]["timeRange"]["from"])
        rng = np.random.default_rng(int(lo.timestamp()))
        if "VV" in body["evalscript"]:
            processing = data.get("processing", {})
            wants_geometry = any(
                b in body["evalscript"] for b in ("localIncidenceAngle", "shadowMask")
            )
            if wants_geometry and str(processing.get("orthorectify")).lower() != "true":
                # the service: these bands exist only for orthorectified requests
                return Response(
                    json.dumps({"error": {"status": 400, "reason": "Bad Request"}}),
                    status=400,
                    content_type="application/json",
                )
            # speckled sea clutter: sigma0 about -18 dB (VV), -25 dB (VH), exponential
            vv = rng.exponential(10 ** (-1.8), (h, w))
            vh = rng.exponential(10 ** (-2.5), (h, w))
            if self.s1_values == "dn":  # amplitude DN of an uncalibrated GRD
                vv, vh = rng.integers(20, 900, (h, w)), rng.integers(10, 400, (h, w))
            lia = np.tile(np.linspace(33.0, 37.0, w), (h, 1))  # across range
            shadow = np.zeros((h, w))
            shadow[: int(h * self.s1_shadow_rows)] = 1
            arr = np.stack([vv, vh, lia, shadow, np.ones((h, w))])
            payload = tiff_bytes(arr, crs, bbox, "float32")
        else:
            refl = rng.integers(300, 1500, size=(5, h, w))
            # harmonizeValues (default true) removes the +1000 DN of baseline 04.00+ products
            harmonise = data.get("processing", {}).get("harmonizeValues", True)
            if not harmonise and lo >= BASELINE_04:
                refl = refl + 1000
            scl = np.full((h, w), 6)
            share = next(
                (c for t, c in self.clouds.items() if abs((utc(t) - lo).total_seconds()) < 180), 0.0
            )
            if share:
                scl[h - int(h * share) :] = 9
            arr = np.concatenate([refl, scl[None], np.ones((1, h, w))])
            payload = tiff_bytes(arr, crs, bbox, "uint16")
        return Response(payload, content_type="image/tiff")


def rate_limited(retry_after_ms: int = 5) -> Response:
    """Sentinel Hub's 429: its JSON error body and Retry-After in milliseconds."""
    body = {
        "error": {
            "status": 429,
            "reason": "Too Many Requests",
            "message": "You have exceeded your rate limit",
            "code": "RATE_LIMIT_EXCEEDED",
        }
    }
    return Response(
        json.dumps(body),
        status=429,
        content_type="application/json",
        headers={"Retry-After": str(retry_after_ms)},
    )


def truncated(payload_len: int = 100_000, sent: bytes = b"II*\x00" + b"\x00" * 500) -> Response:
    """A response that promises ``payload_len`` bytes and sends fewer before closing."""
    resp = Response(io.BytesIO(sent), content_type="image/tiff", direct_passthrough=True)
    resp.headers["Content-Length"] = str(payload_len)
    return resp


def short_tiff() -> Response:
    """A complete HTTP body holding the first bytes of a GeoTIFF only (server-side truncation)."""
    return Response(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 64, content_type="image/tiff")
