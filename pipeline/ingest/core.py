"""The ingest loop shared by every source: list candidates, skip what the catalogue already has,
load the rest, measure clear fractions, cache GeoTIFF + STAC item, write the catalogue.

Python API (the batch runner calls this)::

    ingest(ports, start, end, source, catalogue, cache_dir, path=None, settings=None)
        -> IngestSummary
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol

from pipeline.config import Port, parse_date
from pipeline.errors import TankerWatchError
from pipeline.fsutil import remove_stale_temps
from pipeline.ingest import cache
from pipeline.ingest.base import Candidate, CredentialsError, Raster, SceneSkip
from pipeline.ingest.clouds import aoi_fractions, berth_observations, s2cloudless_mask
from pipeline.ingest.grid import ground_gsd_m
from pipeline.ingest.settings import SourceSettings, load_source_settings
from pipeline.ingest.sources import source_class
from pipeline.records import Observation, Scene

log = logging.getLogger(__name__)


class Catalogue(Protocol):
    """Where ingest writes (pipeline.ledger.store.Ledger is one): scenes with their berth
    observations, and the scenes that could not be used."""

    def has_scene(self, scene_id: str) -> bool: ...
    def add_scene(self, scene: Scene, observations: list[Observation]) -> bool: ...
    def has_skip(self, key: str) -> bool: ...
    def add_skip(self, key: str, port: str, source: str, reason: str) -> None: ...


@dataclass
class IngestSummary:
    source: str
    ports: list[str]
    start: date
    end: date
    found: int = 0  # candidate scenes listed by the source for the ports and period
    added: int = 0  # new scenes written to the catalogue
    known: int = 0  # already in the catalogue (or judged unusable before): nothing downloaded
    downloaded: int = 0  # scenes fetched from the source in this run
    from_cache: int = 0  # scenes re-used from a complete cache folder (interrupted run)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (scene id, reason)
    observations: int = 0
    scene_ids: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.source}: {self.found} scenes found for {','.join(self.ports)} "
            f"{self.start}..{self.end}; {self.added} added ({self.observations} berth "
            f"observations), {self.known} already known, {len(self.skipped)} skipped"
        )


def period_bounds(start: date | str, end: date | str) -> tuple[datetime, datetime]:
    """Inclusive UTC bounds of a period of whole days; an end before the start is an error."""
    s, e = parse_date(start, "--start"), parse_date(end, "--end")
    if e < s:
        raise TankerWatchError(f"empty period: --end {e} is before --start {s}")
    return datetime.combine(s, time.min, tzinfo=UTC), datetime.combine(e, time.max, tzinfo=UTC)


def _add_cloud_mask(raster: Raster, settings: SourceSettings) -> None:
    if raster.scl is None and raster.cloud is None and raster.cloud_source != "sar":
        mask = s2cloudless_mask(raster, settings.clouds.s2cloudless_threshold)
        if mask is not None:
            raster.cloud, raster.cloud_source = mask, "s2cloudless"
        else:
            raster.cloud_source = "none"


def ingest(
    ports: list[Port],
    start: date | str,
    end: date | str,
    source: str,
    ledger: Catalogue,
    cache_dir: Path | str = cache.DEFAULT_CACHE,
    path: Path | str | None = None,
    settings: SourceSettings | None = None,
    progress: bool = False,
) -> IngestSummary:
    """Fill the catalogue ``ledger`` with the scenes of ``ports`` acquired from ``start`` to
    ``end`` (inclusive dates) from ``source`` (a name of pipeline.ingest.sources; ``path``: the
    folder of a folder source; ``settings``: default configs/sources/default.yaml).

    Scenes already catalogued (or remembered as unusable) are not downloaded again. A bad scene
    among many is recorded with ``ledger.add_skip`` and the run goes on; bad credentials, an
    unknown port, an empty period or no scene at all raise TankerWatchError.
    """
    source_cls = source_class(source)
    if settings is None:
        settings = load_source_settings(None)
    if not ports:
        raise TankerWatchError("no port given")
    t0, t1 = period_bounds(start, end)
    folder = None
    if source_cls.needs_folder:
        if path is None:
            raise TankerWatchError(f"--source {source} needs --path DIR")
        folder = Path(path)
        if not folder.is_dir():
            raise TankerWatchError(f"{path}: folder not found")
    summary = IngestSummary(
        source=source, ports=[p.name for p in ports], start=t0.date(), end=t1.date()
    )
    # files a killed run was writing into the cache (their final names were never written);
    # every cache write is under CACHE/<port>/, so only this ingest's ports are walked
    for port in ports:
        remove_stale_temps(Path(cache_dir) / port.name)
    cands = list(source_cls(settings, folder).candidates(ports, t0, t1, summary.skipped))
    summary.found = len(cands) + len(summary.skipped)
    if not cands and not summary.skipped:
        raise TankerWatchError(
            f"no {source} scenes of {', '.join(summary.ports)} between {summary.start} and "
            f"{summary.end}" + (f" in {path}" if path else "")
        )
    for key, reason in summary.skipped:  # listing-time skips (unreadable files ...)
        ledger.add_skip(key, summary.ports[0] if len(ports) == 1 else "", source, reason)

    iterator: Iterable[Candidate] = cands
    if progress and cands:
        from rich.progress import track

        iterator = track(cands, description=f"ingest {source}", transient=True)
    for cand in iterator:
        _one(cand, ledger, Path(cache_dir), settings, summary)
    log.debug(summary.line())
    return summary


def _one(
    cand: Candidate, ledger, cache_dir: Path, settings: SourceSettings, summary: IngestSummary
):
    sid = cand.id
    if ledger.has_scene(sid):
        summary.known += 1
        return
    reason = cache.skipped_reason(cache_dir, cand)
    if reason is not None or ledger.has_skip(cand.skip_key):
        summary.known += 1
        if reason is not None:
            ledger.add_skip(cand.skip_key, cand.port.name, cand.source, reason)
        return
    raster = cache.load_cached(cache_dir, cand)
    try:
        if raster is not None:
            summary.from_cache += 1
        else:
            raster = cand.load()
            summary.downloaded += 1
        _add_cloud_mask(raster, settings)
        if not raster.valid.any():
            raise SceneSkip(f"{cand.origin}: no valid pixels in the port AOI (all nodata)")
        fr = aoi_fractions(raster, cand.port, settings.clouds)
        gsd = ground_gsd_m(raster.crs, raster.transform, raster.shape)
        obs = berth_observations(
            raster,
            cand.port,
            settings.clouds,
            sid,
            cand.acquired,
            cand.sensor,
            gsd,
            no_mask_state=settings.local.without_cloud_mask,
        )
        # a scene that shows a berth clearly is kept however little of the AOI it covers
        # (commercial chips, a tile edge); otherwise it must be clear enough over the AOI
        if fr.clear_fraction < settings.clouds.min_clear_fraction and not any(
            o.state == "clear" for o in obs
        ):
            raise SceneSkip(
                f"{cand.origin}: AOI clear fraction {fr.clear_fraction:.2f} below "
                f"min_clear_fraction {settings.clouds.min_clear_fraction:.2f} "
                f"(valid {fr.valid_fraction:.2f}, cloud {fr.cloud_fraction:.2f}) "
                "and no berth clearly seen"
            )
        scene = cache.write_scene(cache_dir, cand, raster, fr, gsd)
    except SceneSkip as skip:
        _skip(cand, ledger, cache_dir, summary, skip.reason, skip.permanent)
        return
    except CredentialsError:
        raise
    except TankerWatchError as exc:  # e.g. a download that failed after every retry
        _skip(cand, ledger, cache_dir, summary, str(exc), permanent=False)
        return
    except MemoryError:  # one scene too large for this machine must not end the run
        reason = f"{cand.origin}: out of memory reading the scene"
        _skip(cand, ledger, cache_dir, summary, reason, permanent=False)
        return
    if ledger.add_scene(scene, obs):
        summary.added += 1
        summary.observations += len(obs)
        summary.scene_ids.append(sid)
    else:
        summary.known += 1


def _skip(cand, ledger, cache_dir, summary, reason: str, permanent: bool) -> None:
    log.debug("skipped %s: %s", cand.id, reason)
    summary.skipped.append((cand.id, reason))
    if permanent:
        cache.mark_skipped(cache_dir, cand, reason)
        ledger.add_skip(cand.skip_key, cand.port.name, cand.source, reason)
    else:
        # remembered for the record, but not under the scene id: the next run tries again
        ledger.add_skip(f"{cand.id}:retry", cand.port.name, cand.source, reason)
