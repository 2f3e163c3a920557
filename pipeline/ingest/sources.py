"""The imagery sources by name (`--source`, `sources:` of a run config): one registry.

A new source is a :class:`pipeline.ingest.base.Source` subclass listed here.
"""

from __future__ import annotations

from pipeline.errors import TankerWatchError
from pipeline.ingest.base import Source
from pipeline.ingest.local import LocalSource
from pipeline.ingest.sentinelhub import SentinelHubSource
from pipeline.ingest.simulated import SimulatedSource
from pipeline.ingest.stac import StacSource

SOURCES: dict[str, type[Source]] = {
    cls.name: cls for cls in (SentinelHubSource, StacSource, LocalSource, SimulatedSource)
}


def source_class(name: str) -> type[Source]:
    """The source called ``name``; an unknown name is a one-line error listing the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise TankerWatchError(
            f"--source: unknown source '{name}' (use {', '.join(SOURCES)})"
        ) from None
