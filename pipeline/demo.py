"""`tankerwatch demo`: the whole pipeline on the built-in default scenario, scored against truth.

Simulates configs/scenarios/vostochny-dprk-2024.yaml (kept in DIR/simulation and reused the
next time), runs ingest -> detect -> portcalls -> estimate into DIR/ledger.db with the released
models (tw-centernet-s2 for Sentinel-2, tw-centernet-3m for the daily 3 m sensor, the CFAR
detector for Sentinel-1; ``model`` replaces all three), writes the exports and the report, and
prints the estimate beside the simulator's truth and, when the scenario has Sentinel-1, what
Sentinel-2 alone, Sentinel-2 + Sentinel-1 and every sensor each give.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.config import CONFIG_DIR
from pipeline.records import utc

DEFAULT_SCENARIO = CONFIG_DIR / "scenarios" / "vostochny-dprk-2024.yaml"
# the released detector of the daily 3 m sensor, at that sensor's own resolution
# and the classical CFAR for Sentinel-1 SAR (VV+VH sigma0)
SENSOR_MODELS = {"commercial-3m": "tw-centernet-3m", "sentinel-1-grd": "cfar"}


@dataclass
class Truth:
    calls: int
    barrels: float
    cap_passed: datetime | None


def read_truth(sim_dir: Path, load_port: str, cap_bbl: float) -> Truth:
    """Load calls, barrels and the date the refined cap was passed, from the simulator's truth."""
    with (sim_dir / "truth" / "deliveries.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["load_port"] == load_port]
    rows.sort(key=lambda r: r["departed_utc"])
    total, passed = 0.0, None
    for r in rows:
        total += float(r["loaded_bbl"])
        if passed is None and total > cap_bbl:
            passed = utc(r["departed_utc"])
    return Truth(calls=len(rows), barrels=total, cap_passed=passed)


def run_demo(
    out: Path,
    scenario: Path = DEFAULT_SCENARIO,
    executor: str = "local",
    model: str | None = None,
    progress: bool = True,
) -> dict:
    from pipeline.estimate.params import load_params
    from pipeline.fsutil import ensure_dir
    from pipeline.ledger.export import export
    from pipeline.ledger.store import Ledger
    from pipeline.report.html import build_report
    from pipeline.run import RunConfig, SourceSpec, resolve, run_pipeline
    from pipeline.simulate import simulate
    from pipeline.simulate.scenario import load_scenario

    out = ensure_dir(out).resolve()
    sc = load_scenario(scenario)
    sim_dir = out / "simulation"
    simulate(sc, sim_dir, progress=progress)
    db = f"sqlite:///{out / 'ledger.db'}"
    cfg = RunConfig(
        name=f"demo-{sc.name}",
        ports=sorted({sc.load_port, *(d.port for d in sc.discharge)}),
        start=sc.start,
        end=sc.end,
        sources=[SourceSpec(source="simulated", path=str(sim_dir))],
        model=model,
        models={} if model else SENSOR_MODELS,
        db=db,
        cache=str(out / "cache"),
        # the simulator's fleet: registry rows with the dimensions it completed (marked simulated)
        registry=str(sim_dir / "truth" / "fleet.csv"),
        executor=executor,
    )
    if (sim_dir / "ais").is_dir():  # the scenario's AIS: matched, named, dark calls flagged
        from pipeline.run.ais import ingest_ais

        with Ledger(db) as ledger:
            ingest_ais([sim_dir / "ais"], ledger)
    summary = run_pipeline(cfg, progress=progress)
    with Ledger(db) as ledger:
        for kind in ("deliveries", "monthly", "caps"):
            export(ledger, kind, out / f"{kind}.csv")
        build_report(ledger, out / "report.html")
    params = load_params(resolve(cfg.estimate))
    cap_bbl = params.caps.refined_bbl  # the cap the estimate used
    return {
        "summary": summary,
        "truth": read_truth(sim_dir, sc.load_port, cap_bbl),
        "out": out,
        "cap_bbl": cap_bbl,
        "sensor_sets": sensor_sets(cfg, params, [p.name for p in sc.sensors]),
    }


SENTINEL2, SENTINEL1 = "sentinel-2-l2a", "sentinel-1-grd"


def sensor_sets(cfg, params, sensors: list[str]) -> list:
    """Sentinel-2 alone, Sentinel-2 + Sentinel-1, and every sensor of the scenario, estimated
    from the run's ledger side by side (pipeline.run.steps.estimate_by_sensors); empty when the
    scenario has no Sentinel-1."""
    from pipeline.config import load_port, load_registry
    from pipeline.ledger.store import Ledger
    from pipeline.run.steps import estimate_by_sensors

    if SENTINEL1 not in sensors or SENTINEL2 not in sensors:
        return []
    sets = [(SENTINEL2,), (SENTINEL2, SENTINEL1)]
    if len(set(sensors)) > 2:
        sets.append(tuple(dict.fromkeys(sensors)))
    ports = [load_port(p) for p in cfg.ports]
    registry = load_registry(cfg.registry)
    with Ledger(cfg.db) as ledger:
        return estimate_by_sensors(
            ledger, ports, params, registry, sets, cfg.start, cfg.end, seed=cfg.seed
        )


def sensor_table(result: dict):
    """What each set of sensors buys: scenes, load calls found, p_seen, the corrected calls and
    the corrected barrels' P10-P90 width (None when the scenario has no Sentinel-1)."""
    from rich.table import Table

    rows = result.get("sensor_sets") or []
    if not rows:
        return None
    table = Table(title="Demo: what each set of sensors buys (the same run, imagery subsets)")
    for col in (
        "sensors",
        "scenes",
        "load calls found",
        "p_seen",
        "calls P10-P50-P90",
        "barrels P10-P90 width",
    ):
        table.add_column(col, justify="left" if col == "sensors" else "right")
    names = {SENTINEL2: "S2", SENTINEL1: "S1", "commercial-3m": "3 m"}
    for r in rows:
        calls = " - ".join(f"{x:.0f}" for x in r.calls_corrected) if r.calls_corrected else "n/a"
        width = f"{r.barrels_width:,.0f}" if r.barrels_width is not None else "n/a"
        table.add_row(
            " + ".join(names.get(x, x) for x in r.sensors),
            str(r.scenes),
            str(r.load_visits),
            f"{r.p_seen:.2f}" if r.p_seen is not None else "n/a",
            calls,
            width,
        )
    return table


def cap_date(coverage: dict, scenario: str) -> str:
    for row in coverage.get("caps", []):
        if row.get("product_class") == "refined" and row.get("scenario") == scenario:
            return (row.get("cap_passed_utc") or "not passed")[:10]
    return "n/a"


def comparison_table(result: dict):
    from rich.table import Table

    from pipeline.recordio import whole_calls
    from pipeline.report.figures import corrected_cap_row, corrected_cap_text

    s, truth, cap_bbl = result["summary"], result["truth"], result["cap_bbl"]
    t = s.coverage.get("totals", {})
    table = Table(title="Demo: estimate against the simulator's truth (load calls at the terminal)")
    for col in ("", "truth", "observed in images", "coverage-corrected P50 (P10-P90)"):
        table.add_column(col, justify="right" if col else "left")
    w = whole_calls(t)
    corrected_calls = (
        f"{w['calls_corrected_p50']} ({w['calls_corrected_p10']}-{w['calls_corrected_p90']})"
        if t.get("calls_corrected_p50") is not None
        else "n/a"
    )
    corrected_bbl = (
        f"{t['barrels_corrected_p50']:,.0f} ({t['barrels_corrected_p10']:,.0f}-"
        f"{t['barrels_corrected_p90']:,.0f})"
        if t.get("barrels_corrected_p50") is not None
        else "n/a"
    )
    table.add_row("calls", f"{truth.calls}", f"{t.get('calls_observed', 0)}", corrected_calls)
    table.add_row(
        "barrels",
        f"{truth.barrels:,.0f}",
        f"{t.get('barrels_observed_p50', 0):,.0f}",
        corrected_bbl,
    )
    table.add_row(
        f"refined cap ({cap_bbl:,.0f} bbl) passed",
        truth.cap_passed.date().isoformat() if truth.cap_passed else "not passed",
        f"{cap_date(s.coverage, 'p50')} (90 % loaded: {cap_date(s.coverage, '90')})",
        corrected_cap_text(corrected_cap_row(s.coverage.get("caps") or [])),
    )
    return table
