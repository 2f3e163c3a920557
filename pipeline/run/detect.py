"""The unit of work of a run's detect step: one scene, detected and written in one transaction.

Tasks are plain picklable records, so they run on the local executor or on Dask workers alike;
each process loads a detector once and reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_WORKER_CACHE: dict[str, Any] = {}
# peaks below the detector's threshold are kept (down to its ``berth_score``) when centred within
# this of a load or discharge berth polygon the scene sees clear: port calls' berth_margin_m
# (configs/estimate, 30 m), beyond which a hull meets no berth, so nothing further out can
# become a sighting
BERTH_ZONE_M = 30.0
# the land mask spares the quay this close to a load or discharge berth polygon: at 10 m a hull
# moored alongside merges with the pier edge and its detected centre lies a few metres inside
# the drawn land (#13: 23 of 88 Sentinel-2 images of tankers at the tuning runs' load berth lost
# so); port calls' alongside test (alongside_m, 15 m off the berth) decides what such a
# detection is. Optical detectors only: a radar detector keeps the drawn land, since the CFAR's
# background and shore tests take the spared quay for water and report the pier's own returns
# and the neighbouring berth's hull there (the default scenario: 8 false load visits, each one
# Sentinel-1 sighting while a cargo ship lay at the next berth)
BERTH_QUAY_M = 15.0


def detector(model: str | None, threads: int | None = None):
    """One detector per process (Dask workers load it once, then reuse it)."""
    if threads:
        # Port scenes are small: one thread per task wastes far less time in thread
        # synchronisation than torch's default of one per core (see BENCHMARKS.md).
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    key = model or ""
    if key not in _WORKER_CACHE:
        from pipeline.detect import load_detector

        _WORKER_CACHE[key] = load_detector(model)
    return _WORKER_CACHE[key]


@dataclass(frozen=True)
class SceneTask:
    scene_id: str
    path: str
    port: str
    # the full ledger URL, password included: kept out of the repr, which Dask and --debug print
    db_url: str = field(repr=False)
    model: str | None
    land_mask: bool
    threads: int = 1
    berth_zone: bool = True  # keep peaks down to the bundle's berth_score at the oil berths


def berth_zone(port, margin_m: float = BERTH_ZONE_M, hidden: frozenset[str] = frozenset()):
    """The port's load and discharge berth polygons grown by ``margin_m`` (EPSG:4326), less the
    berths named in ``hidden``; None when none is left."""
    from shapely.ops import unary_union

    from pipeline.geo import apply, transformer

    shapes = [
        b.shape for b in port.berths if b.role in ("load", "discharge") and b.id not in hidden
    ]
    if not shapes:
        return None
    crs = port.utm_crs()
    grown = apply(transformer("EPSG:4326", crs), unary_union(shapes)).buffer(margin_m)
    return apply(transformer(crs, "EPSG:4326"), grown)


def land_mask(port, quay_m: float = BERTH_QUAY_M):
    """The port's land for masking detections (EPSG:4326): its land polygons less the quay within
    ``quay_m`` of each load or discharge berth polygon."""
    from shapely.ops import unary_union

    from pipeline.geo import apply, transformer

    land = port.land_shape
    shapes = [b.shape for b in port.berths if b.role in ("load", "discharge")]
    if not shapes or quay_m <= 0:
        return land
    crs = port.utm_crs()
    quay = apply(transformer("EPSG:4326", crs), unary_union(shapes)).buffer(quay_m)
    return land.difference(apply(transformer(crs, "EPSG:4326"), quay))


def spares_quay(det) -> bool:
    """Whether the land mask spares the oil berths' quay for ``det``: an optical detector, not
    one that models the land itself (the CFAR) or reads radar bands."""
    from pipeline.bands import SAR_BANDS

    if getattr(det, "uses_land", False):
        return False
    return not any(b in SAR_BANDS for b in getattr(det, "bands", ()))


def hidden_berths(observations) -> frozenset[str]:
    """The berths a scene's observations say it did not see clear (cloud, no data). The berth
    score is for hulls in clear images: it was measured on them, and under cloud a peak below
    the threshold is often a cloud's edge (#13: all 4 false load visits of 48 tuning chain
    seasons were such Sentinel-2 peaks, 5 of the 12 such peaks in their load visits). A berth
    of the scene with no observation at all is not hidden."""
    clear: dict[str, bool] = {}
    for o in observations:
        clear[o.berth] = clear.get(o.berth, False) or o.state == "clear"
    return frozenset(b for b, c in clear.items() if not c)


def detector_with_score(det, score: float):
    """``det`` reporting every peak down to ``score`` (a bundle; others unchanged)."""
    return det.with_score(score) if hasattr(det, "with_score") else det


def detect_one_scene(task: SceneTask) -> int:
    """Read one scene, detect, write its detections in one transaction; returns their number."""
    from pipeline.config import load_port
    from pipeline.detect import detect_scene
    from pipeline.ledger.store import Ledger

    det = detector(task.model, task.threads)
    ledger = Ledger(task.db_url)
    try:
        if ledger.scene_done(task.scene_id, det.model_id):
            return 0
        port = load_port(task.port)
        land = None
        if task.land_mask:
            land = land_mask(port) if spares_quay(det) else port.land_shape
        score = getattr(det, "berth_score", None) if task.berth_zone else None
        zone = None
        if score is not None:
            seen = ledger.observations(ports=[port.name], scene_id=task.scene_id)
            zone = berth_zone(port, hidden=hidden_berths(seen))
        detections = detect_scene(
            task.path,
            det,
            land=land,
            scene_id=task.scene_id,
            berths=zone,
            berth_score=score,
        )
        ledger.add_detections(task.scene_id, det.model_id, detections)
        return len(detections)
    finally:
        ledger.close()
