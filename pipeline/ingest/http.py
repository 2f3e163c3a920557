"""HTTP with bounded retries and backoff, GDAL's HTTP settings, and URLs safe to print.

Used by the STAC source (SAS tokens; retries around each COG read) and the Sentinel Hub token
fetch. GDAL's own /vsicurl retries ignore ``Retry-After`` (GDAL 3.10), so GDAL is told not to
retry (:func:`gdal_http_env`) and a failed read is retried here, after :func:`probe` has asked
the server for the status and ``Retry-After`` of that URL. pystac-client and sentinelhub-py's
Catalog/Process requests retry with their own machinery, configured from the same
:class:`RetrySettings`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
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


def retry_after_s(value: str | None, unit_s: float = 1.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number (of ``unit_s`` seconds: RFC 9110
    says seconds; Sentinel Hub sends milliseconds) or an HTTP date; None when absent or bad."""
    if value is None:
        return None
    try:
        return max(0.0, float(value) * unit_s)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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
                f"HTTP {resp.status_code}", retry_after_s(resp.headers.get("Retry-After"))
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
    """GDAL options for COG reads over HTTP: only ranged reads, no listing, and no retries of
    GDAL's own: it would retry 429/503 without waiting for ``Retry-After``, so reads are retried
    by the caller (:func:`with_retries`, :func:`probe`)."""
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.jp2",
        "GDAL_HTTP_MAX_RETRY": "0",
        "GDAL_HTTP_TIMEOUT": str(int(max(policy.timeout_s, 1))),
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "VSI_CACHE": "TRUE",
        # forget a file's cached bytes when it is closed: a retry after a failed or cut-short
        # transfer fetches again instead of re-using what GDAL kept from the broken attempt
        "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",
    }


def probe(
    session, url: str, policy: RetrySettings, start: int | None = None
) -> tuple[int | None, float | None]:
    """Status and ``Retry-After`` of ``url`` now (a one-byte ranged GET at ``start``, default 0),
    to say why a GDAL read failed: GDAL reports a 503 as "not recognized as being in a supported
    file format" or "Read failed" and never shows the headers. (None, None) when the server
    does not answer."""
    import requests

    first = start or 0
    try:
        with session.get(
            url,
            headers={"Range": f"bytes={first}-{first}"},
            timeout=policy.timeout_s,
            stream=True,
        ) as resp:
            return resp.status_code, retry_after_s(resp.headers.get("Retry-After"))
    except requests.RequestException:
        return None, None


_GDAL_STATUS = re.compile(r"(?:HTTP (?:response|error) code\s*:\s*|response_code=)(\d{3})")
_GDAL_RANGE = re.compile(r"Request for (\d+)-\d+ failed")


def gdal_status(messages: list[str]) -> int | None:
    """The last HTTP status GDAL named in its messages, if any."""
    codes = [int(m) for text in messages for m in _GDAL_STATUS.findall(text)]
    return codes[-1] if codes else None


def gdal_range_start(messages: list[str]) -> int | None:
    """Where the last ranged request GDAL reported as failed began, if any."""
    starts = [int(m) for text in messages for m in _GDAL_RANGE.findall(text)]
    return starts[-1] if starts else None


@contextlib.contextmanager
def gdal_messages(clean: Callable[[str], str]) -> Iterator[list[str]]:
    """Hold GDAL's messages (rasterio's loggers: a warning per retry and per failed block)
    back from the console: they go to this module's debug log, passed through ``clean`` (which
    removes tokens from URLs), and into the list yielded, so a failure can be summed up in one
    line."""
    logger = logging.getLogger("rasterio")
    seen: list[str] = []

    class _ToDebug(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = clean(record.getMessage())
            seen.append(text)
            log.debug("GDAL: %s", text)

    handler = _ToDebug(level=logging.DEBUG)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
