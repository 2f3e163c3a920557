"""What a source is (:class:`Source`) and what it hands to the ingest loop: scene candidates
that load an AOI raster.

A source lists :class:`Candidate` scenes from cheap metadata (a catalogue search, file tags, a
STAC item) and only downloads when :meth:`Candidate.load` is called, so scenes already in the
catalogue cost nothing. ``load`` returns a :class:`Raster` clipped to the port AOI, or raises
:class:`SceneSkip` for a bad scene (recorded, the run goes on) or :class:`CredentialsError`
(the whole command stops).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.ingest.settings import SourceSettings
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
    # what identifies the bytes behind a scene when its id does not (a local file: path, size,
    # mtime); empty for catalogue scenes, whose id names immutable content
    content: str = ""

    def __post_init__(self) -> None:
        self.acquired = utc(self.acquired)

    @property
    def id(self) -> str:
        return scene_id(self.source, self.sensor, self.acquired, self.port.name)

    @property
    def skip_key(self) -> str:
        """The key a permanent skip is remembered under: the scene id, plus a digest of
        ``content`` when there is one, so a good copy of a bad file (same scene id) or a file
        replaced since is examined again."""
        if not self.content:
            return self.id
        import hashlib

        return f"{self.id}@{hashlib.sha256(self.content.encode()).hexdigest()[:16]}"


class Source(ABC):
    """One imagery source, declared as rslearn declares its data sources: the source's constants
    as class attributes and one method, ``candidates``, that lists the scenes of some ports and
    period from metadata only. The ingest loop (pipeline.ingest.core) does everything else.

    ``settings``: the source settings (endpoints, patterns, thresholds); ``folder``: the files of
    a folder source (``needs_folder``).
    """

    name: ClassVar[str]  # the --source name, and `source` of every scene it lists
    needs_folder: ClassVar[bool] = False

    def __init__(self, settings: SourceSettings, folder: Path | None = None):
        self.settings = settings
        self.folder = folder

    @abstractmethod
    def candidates(
        self, ports: list[Port], t0: datetime, t1: datetime, skipped: list[tuple[str, str]]
    ) -> list[Candidate]:
        """The scenes of ``ports`` acquired from ``t0`` to ``t1``; listings that cannot be read
        (a corrupt file) go to ``skipped`` as (key, reason) and the listing goes on."""
