"""Batch orchestration: ingest -> detect -> portcalls -> estimate -> ledger, over a run config.

Only scenes not yet processed with the run's model are detected, so a run can be repeated,
extended with new imagery, or resumed after an interruption without duplicates. A run may name
one model per sensor (``models``): a detector at the imagery's own resolution sees far more of a
small tanker in 3 m images than one that resamples them to 10 m. Detection runs
one scene per task on an executor (local or Dask); each task writes its detections in one
transaction. Port calls and estimation then run over everything in the ledger for the ports.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from pipeline.config import HOME, Strict, load_ports, load_yaml_model, register_checker
from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)


class SourceSpec(Strict):
    source: Literal["sentinelhub", "stac", "local", "simulated"]
    path: str | None = Field(default=None, description="folder for local / simulated sources")
    settings: str | None = Field(default=None, description="optional source settings YAML")


class RunConfig(Strict):
    name: str
    ports: list[str] = Field(min_length=1)
    start: date
    end: date
    sources: list[SourceSpec] = Field(min_length=1)
    model: str | None = Field(default=None, description="bundle name or path; default released")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="per-sensor bundles (sensor name -> bundle), overriding `model` for them",
    )
    db: str | None = Field(default=None, description="ledger URL; default $TANKERWATCH_DB_URL")
    cache: str = ".cache/tankerwatch"
    registry: str = "configs/fleet/vessels.csv"
    estimate: str | None = Field(default=None, description="estimate parameters YAML")
    land_mask: bool = True
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    workers: int = Field(default=2, ge=1)
    threads: int = Field(
        default=1, ge=1, description="torch threads per detection task (scenes run in parallel)"
    )
    seed: int = 0

    @field_validator("ports")
    @classmethod
    def _known_ports(cls, ports: list[str]) -> list[str]:
        known = {p.stem for p in (HOME / "configs" / "ports").glob("*.yaml")}
        for i, p in enumerate(ports):
            if p not in known:
                raise ValueError(
                    f"item {i}: unknown port '{p}' (known: {', '.join(sorted(known))})"
                )
        return ports

    def model_for(self, sensor: str) -> str | None:
        return self.models.get(sensor, self.model)

    def check_period(self) -> None:
        if self.end < self.start:
            raise TankerWatchError(
                f"run '{self.name}': end {self.end} is before start {self.start}"
            )


def load_run_config(path: Path | str) -> RunConfig:
    cfg = load_yaml_model(RunConfig, path)
    if cfg.end < cfg.start:
        raise TankerWatchError(f"{path}: field 'end': {cfg.end} is before start {cfg.start}")
    return cfg


register_checker("runs", load_run_config)


def resolve(path: str | None, base: Path = HOME) -> str | None:
    if path is None:
        return None
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (base / p))


@dataclass
class RunSummary:
    run_id: str = ""
    scenes: int = 0
    scenes_new: int = 0
    scenes_skipped: int = 0
    detected: int = 0  # scenes detected in this run without error
    detections: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    visits: int = 0
    deliveries: int = 0
    coverage: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


_WORKER_CACHE: dict[str, Any] = {}


def _detector(model: str | None, threads: int | None = None):
    """One detector per process (Dask workers load it once, then reuse it)."""
    if threads:
        # Port scenes are small: one thread per task wastes far less time in thread
        # synchronisation than torch's default of one per core (see BENCHMARKS.md).
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    key = model or ""
    if key not in _WORKER_CACHE:
        from pipeline.detect.bundle import load_detector

        _WORKER_CACHE[key] = load_detector(model)
    return _WORKER_CACHE[key]


@dataclass(frozen=True)
class SceneTask:
    scene_id: str
    path: str
    port: str
    db_url: str
    model: str | None
    land_mask: bool
    threads: int = 1


def detect_one_scene(task: SceneTask) -> int:
    """The unit of work: read one scene, detect, write its detections in one transaction."""
    from pipeline.config import load_port
    from pipeline.detect.infer import detect_scene
    from pipeline.ledger.store import Ledger

    detector = _detector(task.model, task.threads)
    ledger = Ledger(task.db_url)
    try:
        if ledger.scene_done(task.scene_id, detector.model_id):
            return 0
        land = load_port(task.port).land_shape if task.land_mask else None
        detections = detect_scene(task.path, detector, land=land, scene_id=task.scene_id)
        ledger.add_detections(task.scene_id, detector.model_id, detections)
        return len(detections)
    finally:
        ledger.close()


def _config_for_run_id(cfg: RunConfig, params_digest: str, registry_digest: str) -> dict:
    """What determines a run's results. Where it ran (executor, database) does not, so the
    same inputs give the same run id on the local executor and on Dask."""
    keep = cfg.model_dump(
        mode="json", exclude={"executor", "scheduler", "workers", "threads", "db", "cache"}
    )
    keep["estimate_params"] = params_digest
    keep["registry_digest"] = registry_digest
    return keep


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


def run_pipeline(cfg: RunConfig, progress: bool = True) -> RunSummary:
    """Chain ingest, detect, portcalls and estimate into the ledger; returns a summary."""
    import time

    from pipeline.config import load_registry
    from pipeline.estimate import run_estimate
    from pipeline.estimate.params import load_params
    from pipeline.estimate.registry import registry_digest
    from pipeline.executors import make_executor
    from pipeline.ingest.core import ingest
    from pipeline.ledger.store import Ledger
    from pipeline.portcalls import build_visits, link_voyages

    cfg.check_period()
    ports = load_ports(cfg.ports)
    params = load_params(resolve(cfg.estimate))
    registry = load_registry(resolve(cfg.registry))
    summary = RunSummary()
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary.timings_s[stage] = round(now - clock, 2)
        clock = now

    # A Dask scheduler that does not answer should fail the run before any work is done.
    with (
        make_executor(cfg.executor, cfg.scheduler, cfg.workers) as executor,
        Ledger(cfg.db) as ledger,
    ):
        db_url = ledger.url
        clock = time.perf_counter()  # starting the executor is not part of any stage
        for spec in cfg.sources:
            ingest(
                ports,
                cfg.start,
                cfg.end,
                spec.source,
                ledger,
                cache_dir=resolve(cfg.cache),
                path=resolve(spec.path),
                settings=resolve(spec.settings),
                progress=progress,
            )
        lap("ingest")
        scenes = ledger.scenes(ports=cfg.ports, start=cfg.start, end=cfg.end)
        summary.scenes = len(scenes)
        summary.scenes_skipped = len(ledger.skips(ports=cfg.ports))

        # one detector per sensor (most runs: the same one for all)
        keys = {cfg.model_for(s.sensor) for s in scenes} or {cfg.model}
        model_id = {key: _detector(key).model_id for key in keys}
        model_name = ",".join(sorted(set(model_id.values())))
        done = {mid: ledger.processed_scenes(mid) for mid in set(model_id.values())}
        todo = [
            SceneTask(s.id, s.path, s.port, db_url, key, cfg.land_mask, cfg.threads)
            for s in scenes
            for key in [cfg.model_for(s.sensor)]
            if s.id not in done[model_id[key]]
        ]
        summary.scenes_new = len(todo)
        if todo:
            outcomes = executor.map(detect_one_scene, todo)
            if progress:
                with _progress() as bar:
                    job = bar.add_task(f"detect ({model_name})", total=len(todo))
                    for task, n, err in outcomes:
                        _tally(summary, task, n, err)
                        bar.advance(job)
            else:
                for task, n, err in outcomes:
                    _tally(summary, task, n, err)
        lap("detect")

        scene_model = {s.id: model_id[cfg.model_for(s.sensor)] for s in scenes}
        detections = [
            d
            for mid in sorted(set(model_id.values()))
            for d in ledger.detections(ports=cfg.ports, model=mid)
            if scene_model.get(d.scene_id) == mid
        ]
        observations = [
            o for o in ledger.observations(ports=cfg.ports) if o.scene_id in scene_model
        ]
        summary.detections = len(detections)
        visits = build_visits(detections, scenes, observations, ports, params)
        voyages = link_voyages(visits, params)
        summary.visits = len(visits)
        lap("portcalls")

        config = _config_for_run_id(cfg, params.digest(), registry_digest(registry))
        run_id = ledger.begin_run(config, model_name)
        result = run_estimate(
            visits,
            voyages,
            observations,
            registry,
            params,
            seed=cfg.seed,
            run_id=run_id,
            model=model_name,
            ports=ports,
        )
        ledger.save_estimate(run_id, visits, result.deliveries, result.coverage)
        summary.run_id = run_id
        summary.deliveries = len(result.deliveries)
        summary.coverage = result.coverage
        lap("estimate")
    return summary


def _tally(summary: RunSummary, task: SceneTask, n: Any, err: BaseException | None) -> None:
    if err is None:
        summary.detected += 1
        return
    reason = str(err) if isinstance(err, TankerWatchError) else f"{type(err).__name__}: {err}"
    log.warning("scene %s not processed: %s", task.scene_id, reason)
    summary.failed.append((task.scene_id, reason))


def summary_table(summary: RunSummary):
    from rich.table import Table

    t = summary.coverage.get("totals", {}) if summary.coverage else {}
    table = Table(title=f"run {summary.run_id}", show_header=False)
    rows = [
        (
            "scenes in period",
            f"{summary.scenes} ({summary.scenes_new} newly detected, "
            f"{len(summary.failed)} failed, {summary.scenes_skipped} skipped at ingest)",
        ),
        ("detections", f"{summary.detections}"),
        ("visits", f"{summary.visits}"),
        ("deliveries", f"{summary.deliveries}"),
    ]
    if t:
        rows.append(("calls observed", f"{t.get('calls_observed', 0)}"))
        if t.get("calls_corrected_p50") is not None:
            rows.append(
                (
                    "calls corrected (P10-P50-P90)",
                    f"{t['calls_corrected_p10']:.0f} - {t['calls_corrected_p50']:.0f} - "
                    f"{t['calls_corrected_p90']:.0f}",
                )
            )
        rows.append(("barrels observed (P50)", f"{t.get('barrels_observed_p50', 0):,.0f}"))
        if t.get("barrels_corrected_p50") is not None:
            rows.append(
                (
                    "barrels corrected (P10-P50-P90)",
                    f"{t['barrels_corrected_p10']:,.0f} - {t['barrels_corrected_p50']:,.0f} - "
                    f"{t['barrels_corrected_p90']:,.0f}",
                )
            )
    rows.append(("time per stage (s)", ", ".join(f"{k} {v}" for k, v in summary.timings_s.items())))
    for k, v in rows:
        table.add_row(k, v)
    return table
