"""HTTP with bounded retries and backoff, GDAL's HTTP settings, and URLs safe to print.

Used by the STAC source (SAS tokens; whole-scene retries around COG reads) and for GDAL's
/vsicurl reads (configured through :func:`gdal_http_env`). pystac-client and sentinelhub-py
retry with their own machinery, configured from the same :class:`RetrySettings`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from pipeline.errors import TankerWatchError
from pipeline.ingest.settings import RetrySettings

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped or truncated transfer)."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def safe_url(url: str) -> str:
    """The URL without query string or user info (signed URLs carry tokens in the query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def backoff_delays(policy: RetrySettings) -> list[float]:
    """Waits between attempts: backoff_s, 2x, 4x ... capped at max_backoff_s."""
    return [
        min(policy.backoff_s * (2**i), policy.max_backoff_s) for i in range(policy.max_attempts - 1)
    ]


def with_retries(fn: Callable[[], T], policy: RetrySettings, what: str) -> T:
    """Call ``fn``; retry on :class:`TransientError` with backoff, at most max_attempts times."""
    delays = backoff_delays(policy)
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except TransientError as exc:
            if attempt >= len(delays):
                raise TankerWatchError(
                    f"{what}: failed after {policy.max_attempts} attempts ({exc})"
                ) from None
            wait = delays[attempt]
            if exc.retry_after_s is not None:
                wait = min(max(wait, exc.retry_after_s), policy.max_backoff_s)
            log.info("%s: %s; retrying in %.1f s", what, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def get(session, url: str, policy: RetrySettings, what: str | None = None, **kwargs):
    """GET with retries on 429/5xx/timeouts/dropped connections; raises TankerWatchError on
    4xx (naming the URL without its query) or when attempts run out."""
    import requests

    label = what or safe_url(url)

    def once():
        try:
            resp = session.get(url, timeout=policy.timeout_s, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(type(exc).__name__) from None
        if resp.status_code in RETRY_STATUS:
            raise TransientError(
                f"HTTP {resp.status_code}", _retry_after(resp.headers.get("Retry-After"))
            )
        if resp.status_code in (401, 403):
            raise TankerWatchError(
                f"{safe_url(url)}: HTTP {resp.status_code}, access refused (check credentials)"
            )
        if resp.status_code >= 400:
            raise TankerWatchError(f"{safe_url(url)}: HTTP {resp.status_code}")
        return resp

    return with_retries(once, policy, label)


def gdal_http_env(policy: RetrySettings) -> dict[str, str]:
    """GDAL options for COG reads over HTTP: bounded retries, only ranged reads, no listing."""
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.jp2",
        "GDAL_HTTP_MAX_RETRY": str(policy.max_attempts - 1),
        "GDAL_HTTP_RETRY_DELAY": str(max(policy.backoff_s, 0.001)),
        "GDAL_HTTP_TIMEOUT": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "VSI_CACHE": "TRUE",
        # forget a file's cached bytes when it is closed: a retry after a failed or cut-short
        # transfer fetches again instead of re-using what GDAL kept from the broken attempt
        "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",
    }
