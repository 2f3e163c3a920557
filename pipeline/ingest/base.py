"""What every source hands to the ingest loop: scene candidates that load an AOI raster.

A source lists :class:`Candidate` scenes from cheap metadata (a catalogue search, file tags, a
STAC item) and only downloads when :meth:`Candidate.load` is called, so scenes already in the
catalogue cost nothing. ``load`` returns a :class:`Raster` clipped to the port AOI, or raises
:class:`SceneSkip` for a bad scene (recorded, the run goes on) or :class:`CredentialsError`
(the whole command stops).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.records import scene_id, utc


class SceneSkip(Exception):
    """This scene cannot be used (corrupt, no CRS, missing bands, all nodata, too cloudy).

    ``permanent`` skips are remembered in the cache so a re-run does not download them again;
    transient ones (network gave up) are retried on the next run.
    """

    def __init__(self, reason: str, permanent: bool = True):
        super().__init__(" ".join(reason.split()))
        self.reason = str(self)
        self.permanent = permanent


class CredentialsError(TankerWatchError):
    """Credentials refused (401/403): nothing else can succeed, the command stops."""


@dataclass
class Raster:
    """An AOI raster: ``data`` (bands, rows, cols) named by ``bands``; masks on the same grid."""

    data: np.ndarray
    bands: list[str]
    crs: str
    transform: Any  # affine.Affine
    nodata: float | None
    valid: np.ndarray  # bool: pixel has data
    scl: np.ndarray | None = None  # uint8 Sentinel-2 scene classification, same grid
    cloud: np.ndarray | None = None  # bool: cloud / shadow / haze (when not derived from scl)
    cloud_source: str = "scl"  # scl | s2cloudless | none | sar
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.data.shape[1]), int(self.data.shape[2])


@dataclass
class Candidate:
    source: str
    sensor: str
    acquired: datetime
    port: Port
    load: Callable[[], Raster]
    origin: str  # provenance: a file path or a URL without query string
    properties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.acquired = utc(self.acquired)

    @property
    def id(self) -> str:
        return scene_id(self.source, self.sensor, self.acquired, self.port.name)
