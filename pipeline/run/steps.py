"""The run-level steps over the ledger, shared by `tankerwatch run` and the `--db` paths of
`tankerwatch portcalls` and `tankerwatch estimate`: read a ledger's records for port calls, and
save an estimate as a run under the one run-id recipe.

Stages never touch the ledger; these functions read records out of it, hand them to the stage
functions, and write the results back in one transaction (pipeline.ledger.store).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pipeline.records import Detection, Observation, Scene, Visit

if TYPE_CHECKING:
    from pipeline.config import Port, Vessel
    from pipeline.estimate import EstimateResult
    from pipeline.estimate.params import EstimateParams
    from pipeline.ledger.store import Ledger


@dataclass
class LedgerInputs:
    """What port calls are built from: the scenes of the ports in the period, their berth
    observations and the detections of one model per sensor."""

    detections: list[Detection]
    scenes: list[Scene]
    observations: list[Observation]

    @property
    def model(self) -> str:
        """The models of the detections, comma-separated (sorted)."""
        return ",".join(sorted({d.model for d in self.detections}))


def ledger_inputs(
    ledger: Ledger,
    ports: list[Port],
    start: date | None = None,
    end: date | None = None,
    models: str | None = None,
    sensor_models: dict[str, str] | None = None,
) -> LedgerInputs:
    """The ledger's records of ``ports`` acquired from ``start`` to ``end`` (inclusive days; None:
    open), checked (pipeline.portcalls.check_inputs).

    Detections: with ``sensor_models`` (sensor -> model id, as a run assigns them), each scene's
    detections by its sensor's model; else those of ``models`` (comma-separated model ids; None:
    every model), refusing one sensor seen by two models.
    """
    from pipeline.portcalls import check_inputs, one_model_per_sensor

    names = [p.name for p in ports]
    scenes = ledger.scenes(ports=names, start=start, end=end)
    in_period = {s.id for s in scenes}
    observations = [o for o in ledger.observations(ports=names) if o.scene_id in in_period]
    detections = [d for d in ledger.detections(ports=names) if d.scene_id in in_period]
    if sensor_models is not None:
        model_of = {s.id: sensor_models.get(s.sensor) for s in scenes}
        detections = [d for d in detections if model_of[d.scene_id] == d.model]
    detections = one_model_per_sensor(detections, scenes, models, "the ledger")
    dets, sc, obs = check_inputs(
        detections,
        "ledger detections",
        scenes,
        "ledger scenes",
        observations,
        "ledger observations",
        ports,
    )
    return LedgerInputs(dets, sc, obs)


def ledger_observations(
    ledger: Ledger, ports: list[Port], start: date | None = None, end: date | None = None
) -> list[Observation]:
    """The berth observations of the scenes of ``ports`` in the period (None: open)."""
    from pipeline.portcalls.inputs import one_scene_per_pass

    names = [p.name for p in ports]
    scenes = ledger.scenes(ports=names, start=start, end=end)
    in_period = {s.id for s in scenes}
    obs = [o for o in ledger.observations(ports=names) if o.scene_id in in_period]
    return one_scene_per_pass([], scenes, obs)[2]


def persistent_into_ledger(ledger: Ledger, inputs: LedgerInputs, params: Any) -> dict[str, str]:
    """Find the detections of persistent objects among ``inputs`` (pipeline.portcalls.persistent)
    and keep the verdict in the ledger (``detections.persistent``: the reason, NULL for the
    others of these scenes); returns detection id -> reason, for ``build_visits``."""
    from pipeline.portcalls.persistent import find_persistent

    flags = find_persistent(inputs.detections, inputs.scenes, params)
    ledger.set_persistent([s.id for s in inputs.scenes], flags)
    return flags


def model_name(models: str | None) -> str:
    """A run's model: its model ids sorted, comma-separated, each once (the run-id recipe;
    `run` names its run by the sorted set of its detectors' ids the same way)."""
    return ",".join(sorted({m.strip() for m in (models or "").split(",") if m.strip()}))


def visits_digest(visits: list[Visit]) -> str:
    """A short hash of visits given from outside the ledger (a visits.csv), for the run id."""
    text = "\n".join(repr(sorted(v.to_dict().items())) for v in visits)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_config(
    ports: list[Port],
    params: EstimateParams,
    registry: list[Vessel],
    seed: int = 0,
    start: date | None = None,
    end: date | None = None,
    visits: str | None = None,
) -> dict[str, Any]:
    """What determines a run's figures, and so its id (``Ledger.begin_run`` hashes it with the
    model and the code version): the ports, the period, the estimate parameters, the registry,
    the Monte Carlo seed, and ``visits`` (the digest of visits read from a file, None when they
    are built from the ledger). Where or how it ran (executor, database, cache, sources, run
    name) does not, so the same inputs give the same run from `run` and from `estimate --db`."""
    from pipeline.estimate.registry import registry_digest

    return {
        "ports": sorted(p.name for p in ports),
        "start": None if start is None else start.isoformat(),
        "end": None if end is None else end.isoformat(),
        "estimate": params.model_dump(mode="json"),
        "registry": registry_digest(registry),
        "seed": seed,
        "visits": visits,
    }


@dataclass
class SavedRun:
    run_id: str
    result: EstimateResult
    evidence_scenes: dict[str, list[str]]  # delivery id -> scene ids of its evidence
    visits: list[Visit] | None = None  # as saved: discharge calls seen only by AIS included
    voyages: list | None = None  # as estimated: linked by AIS tracks where the ledger has AIS


def estimate_with_ledger_ais(
    ledger: Ledger,
    visits: list[Visit],
    voyages: list,
    observations: list[Observation],
    registry: list[Vessel],
    params: EstimateParams,
    ports: list[Port],
    model: str,
    seed: int = 0,
    start: date | None = None,
    end: date | None = None,
    run_id: str = "",
    detections: list[Detection] | None = None,
) -> tuple[EstimateResult, list[Visit], list]:
    """The estimate with what the ledger's AIS says (nothing written): matched calls named (and
    sized) by their transponder, dark ones flagged, vessels reported elsewhere weighed down,
    voyages linked by the transponders' tracks (discharge calls only AIS saw kept as visits),
    complete stays at load berths in the dwell fit, departure draughts read into cargo.
    Returns the result and the visits and voyages it was made from."""
    from pipeline.estimate import run_estimate
    from pipeline.estimate.core import season_bounds
    from pipeline.portcalls.voyages import ais_discharge_visits, link_voyages
    from pipeline.run.ais import ais_context, departure_draughts_from_ledger, load_berth_stays

    horizon = max((w.max_h for w in params.voyages.windows.values()), default=0.0)
    ais = ais_context(ledger, visits, ports, start, end, registry=registry, voyage_h=horizon)
    identities = ais.identities
    if identities:
        voyages = link_voyages(visits, params, ais=identities, positions=ais.positions, ports=ports)
        visits = visits + ais_discharge_visits(voyages)
    draughts = (
        departure_draughts_from_ledger(ledger, visits, identities, params.volume.draught)
        if identities and params.volume.draught is not None
        else None
    )
    stays = load_berth_stays(
        ledger, ports, start, end, params.portcalls.min_length_m, params.portcalls.max_length_m
    )
    result = run_estimate(
        visits,
        voyages,
        observations,
        registry,
        params,
        seed=seed,
        run_id=run_id,
        model=model,
        ports=ports,
        ais=identities or None,
        ais_stays=stays,
        season=season_bounds(start, end),
        detections=(
            detections
            if detections is not None
            else ledger.detections(ids=[e for v in visits for e in v.evidence])
        ),
        draughts=draughts,
    )
    return result, visits, voyages


def estimate_into_ledger(
    ledger: Ledger,
    visits: list[Visit],
    voyages: list,
    observations: list[Observation],
    registry: list[Vessel],
    params: EstimateParams,
    ports: list[Port],
    model: str,
    seed: int = 0,
    start: date | None = None,
    end: date | None = None,
    visits_from_file: str | None = None,
    detections: list[Detection] | None = None,
) -> SavedRun:
    """Begin the run (see ``run_config``), estimate, and save visits, deliveries, evidence,
    coverage and the estimate's notes as that run (replacing its rows; other runs' deliveries
    are superseded). ``detections``: those the visits were built from, where the caller holds
    them (else the visits' evidence is read from the ledger)."""
    config = run_config(ports, params, registry, seed, start, end, visits_from_file)
    run_id = ledger.begin_run(config, model)
    result, visits, voyages = estimate_with_ledger_ais(
        ledger, visits, voyages, observations, registry, params, ports, model, seed, start, end,
        run_id, detections,
    )  # fmt: skip
    ledger.save_estimate(run_id, visits, result.deliveries, result.coverage, result.notes)
    evidence = ledger.evidence(result.deliveries)
    return SavedRun(run_id, result, {k: e["scenes"] for k, e in evidence.items()}, visits, voyages)


def portcalls_from_ledger(
    db: str,
    ports: list[Port],
    params: Any,
    start: date | None = None,
    end: date | None = None,
    models: str | None = None,
) -> list[Visit]:
    """`tankerwatch portcalls --db`: visits from a ledger's records (read only)."""
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls import build_visits

    with open_for_reading(db) as ledger:
        inputs = ledger_inputs(ledger, ports, start, end, models=models)
    return build_visits(inputs.detections, inputs.scenes, inputs.observations, ports, params)


def estimate_from_ledger(
    db: str,
    ports: list[Port],
    params: EstimateParams,
    registry: list[Vessel],
    seed: int = 0,
    start: date | None = None,
    end: date | None = None,
    models: str | None = None,
    visits: list[Visit] | None = None,
    observations: list[Observation] | None = None,
    visits_from_file: str | None = None,
) -> tuple[SavedRun, list[Visit], list]:
    """`tankerwatch estimate --db`: visits built from the ledger's records (or ``visits`` given,
    with the ledger's observations unless ``observations`` are given), estimated and saved as a
    run, exactly as `tankerwatch run` does. Returns the saved run, the visits and voyages."""
    from pipeline.ledger.store import Ledger
    from pipeline.portcalls import build_visits, link_voyages

    with Ledger(db) as ledger:
        detections = None  # visits given: their evidence is read by estimate_into_ledger
        if visits is None:
            inputs = ledger_inputs(ledger, ports, start, end, models=models)
            detections = inputs.detections
            flags = persistent_into_ledger(ledger, inputs, params)
            visits = build_visits(
                inputs.detections, inputs.scenes, inputs.observations, ports, params, flags
            )
            obs = inputs.observations
            # the models named (as `run` names a run: sorted, once each, found something or
            # not), else the models of the detections
            model = model_name(models) or inputs.model
        else:
            obs = observations
            if obs is None:
                obs = ledger_observations(ledger, ports, start, end)
            model = model_name(models)
        voyages = link_voyages(visits, params)
        saved = estimate_into_ledger(
            ledger,
            visits,
            voyages,
            obs,
            registry,
            params,
            ports,
            model,
            seed=seed,
            start=start,
            end=end,
            visits_from_file=visits_from_file,
            detections=detections,
        )
    return saved, saved.visits, saved.voyages


@dataclass
class SensorSetEstimate:
    """What a subset of the imagery buys: the estimate made from those sensors' scenes only."""

    sensors: tuple[str, ...]
    scenes: int
    load_visits: int  # visits at the load port's load berths (the calls found)
    p_seen: float | None
    calls_corrected: tuple[float, float, float] | None  # P10, P50, P90
    barrels_corrected: tuple[float, float, float] | None

    @property
    def barrels_width(self) -> float | None:
        b = self.barrels_corrected
        return None if b is None else b[2] - b[0]


def estimate_by_sensors(
    ledger: Ledger,
    ports: list[Port],
    params: EstimateParams,
    registry: list[Vessel],
    sensor_sets: list[tuple[str, ...]],
    start: date | None = None,
    end: date | None = None,
    sensor_models: dict[str, str] | None = None,
    seed: int = 0,
    ais_stays: bool = True,
) -> list[SensorSetEstimate]:
    """For each set of sensor names, port calls and the estimate from the ledger's records of
    those sensors' scenes alone (read only: nothing is saved). AIS names no call here, so the
    sets differ by the imagery only; with ``ais_stays`` the transponders' stays at the load
    berths inform every set's dwell alike (pipeline.run.ais.load_berth_stays). The demo prints
    them side by side."""
    from pipeline.estimate import run_estimate
    from pipeline.estimate.core import season_bounds
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.run.ais import load_berth_stays

    inputs = ledger_inputs(ledger, ports, start, end, sensor_models=sensor_models)
    stays = (
        load_berth_stays(
            ledger, ports, start, end, params.portcalls.min_length_m, params.portcalls.max_length_m
        )
        if ais_stays
        else []
    )
    load_roles = {(p.name, b.id) for p in ports for b in p.berths if b.role == "load"}
    out = []
    for wanted in sensor_sets:
        keep = {s.id for s in inputs.scenes if s.sensor in wanted}
        scenes = [s for s in inputs.scenes if s.id in keep]
        obs = [o for o in inputs.observations if o.scene_id in keep]
        dets = [d for d in inputs.detections if d.scene_id in keep]
        visits = build_visits(dets, scenes, obs, ports, params)
        voyages = link_voyages(visits, params)
        res = run_estimate(
            visits, voyages, obs, registry, params, seed=seed, ports=ports, ais_stays=stays,
            season=season_bounds(start, end), detections=dets,
        )  # fmt: skip
        t = res.coverage.get("totals", {})
        calls = bbl = None
        if t.get("calls_corrected_p50") is not None:
            calls = tuple(float(t[f"calls_corrected_p{q}"]) for q in (10, 50, 90))
            bbl = tuple(float(t[f"barrels_corrected_p{q}"]) for q in (10, 50, 90))
        out.append(
            SensorSetEstimate(
                sensors=tuple(wanted),
                scenes=len(scenes),
                load_visits=sum((v.port, v.berth) in load_roles for v in visits),
                p_seen=res.coverage.get("p_seen"),
                calls_corrected=calls,
                barrels_corrected=bbl,
            )
        )
    return out
