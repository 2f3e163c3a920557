"""The unit of work of a run's detect step: one scene, detected and written in one transaction.

Tasks are plain picklable records, so they run on the local executor or on Dask workers alike;
each process loads a detector once and reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_WORKER_CACHE: dict[str, Any] = {}


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
        land = load_port(task.port).land_shape if task.land_mask else None
        detections = detect_scene(task.path, det, land=land, scene_id=task.scene_id)
        ledger.add_detections(task.scene_id, det.model_id, detections)
        return len(detections)
    finally:
        ledger.close()
