"""`tankerwatch run`: ingest -> detect -> portcalls -> estimate -> ledger, over a run config.

Only scenes not yet processed with the run's model are detected, so a run can be repeated,
extended with new imagery, or resumed after an interruption without duplicates. A run may name
one model per sensor (``models``): a detector at the imagery's own resolution sees far more of a
small tanker in 3 m images than one that resamples them to 10 m. Detection runs one scene per
task on an executor (local or Dask); each task writes its detections in one transaction. Port
calls and estimation then run over the ledger's records of the ports in the run's period
(pipeline.run.steps, the same steps as `portcalls --db` and `estimate --db`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import load_ports
from pipeline.errors import TankerWatchError
from pipeline.run.config import RunConfig, resolve
from pipeline.run.detect import SceneTask, detect_one_scene, detector

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str = ""
    scenes: int = 0
    scenes_new: int = 0
    scenes_skipped: int = 0
    detected: int = 0  # scenes detected in this run without error
    detections: int = 0
    persistent: int = 0  # detections of persistent objects (kept, flagged, not in visits)
    failed: list[tuple[str, str]] = field(default_factory=list)
    visits: int = 0
    deliveries: int = 0
    coverage: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


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
    from pipeline.estimate.params import load_params
    from pipeline.ingest import ingest
    from pipeline.ingest.settings import load_source_settings
    from pipeline.ledger.store import Ledger
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.run.executors import make_executor
    from pipeline.run.steps import estimate_into_ledger, ledger_inputs, persistent_into_ledger

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
                settings=load_source_settings(resolve(spec.settings)),
                progress=progress,
            )
        lap("ingest")
        scenes = ledger.scenes(ports=cfg.ports, start=cfg.start, end=cfg.end)
        summary.scenes = len(scenes)
        summary.scenes_skipped = len(ledger.skips(ports=cfg.ports))

        # one detector per sensor (most runs: the same one for all)
        keys = {cfg.model_for(s.sensor) for s in scenes} or {cfg.model}
        model_id = {key: detector(key).model_id for key in keys}
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

        sensor_models = {s.sensor: model_id[cfg.model_for(s.sensor)] for s in scenes}
        inputs = ledger_inputs(ledger, ports, cfg.start, cfg.end, sensor_models=sensor_models)
        summary.detections = len(inputs.detections)
        # fixed objects (pier heads, pontoons, moored barges): flagged in the ledger, no visits
        flags = persistent_into_ledger(ledger, inputs, params)
        summary.persistent = len(flags)
        visits = build_visits(
            inputs.detections, inputs.scenes, inputs.observations, ports, params, flags
        )
        voyages = link_voyages(visits, params)
        summary.visits = len(visits)
        lap("portcalls")

        saved = estimate_into_ledger(
            ledger,
            visits,
            voyages,
            inputs.observations,
            registry,
            params,
            ports,
            model_name,
            seed=cfg.seed,
            start=cfg.start,
            end=cfg.end,
            detections=inputs.detections,
        )
        run_id, result = saved.run_id, saved.result
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
    reason = " ".join(reason.split())  # one line per failed scene, whatever the exception said
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
        ("detections", f"{summary.detections} ({summary.persistent} of persistent objects)"),
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
