"""Ledger URLs: defaults, the environment variable, and printing them without the password."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from pipeline.errors import TankerWatchError

DEFAULT_URL = "sqlite:///tankerwatch.db"
ENV_URL = "TANKERWATCH_DB_URL"


def to_url(url: str | Path | URL | None) -> URL:
    """None -> $TANKERWATCH_DB_URL, else sqlite:///tankerwatch.db; a plain path means SQLite.

    Raises TankerWatchError for a string that is not a database URL.
    """
    if isinstance(url, URL):
        return url
    if url is None:
        url = os.environ.get(ENV_URL) or DEFAULT_URL
    if isinstance(url, Path) or "://" not in str(url):
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    try:
        u = make_url(str(url))
    except Exception:
        raise TankerWatchError(
            f"ledger URL {mask_url(str(url))} is not a valid database URL"
        ) from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def resolve_url(url: str | Path | URL | None) -> str:
    """The full URL string (see ``to_url``); it may hold a password: never print it."""
    return to_url(url).render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe to print."""
    try:
        u = url if isinstance(url, URL) else make_url(str(url))
        if u.get_backend_name() == "sqlite" and u.database:
            return f"{u.drivername}:///{u.database}"
        return u.render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
