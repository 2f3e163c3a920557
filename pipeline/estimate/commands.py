"""`tankerwatch estimate`: visits (+ registry, observations) -> deliveries and coverage summary."""

from __future__ import annotations

from pathlib import Path

import typer


def estimate(
    visits: Path = typer.Option(None, "--visits", help="visits.csv from `portcalls`."),
    registry: Path = typer.Option(
        None, "--registry", help="Vessel registry CSV (default shipped)."
    ),
    observations: Path = typer.Option(
        None, "--observations", help="Berth observations CSV (for the calls the images missed)."
    ),
    db: str = typer.Option(
        None, "--db", help="Ledger URL: read its records, build visits, save the estimate there."
    ),
    ports: str = typer.Option("all", "--ports", help="Comma-separated port names ('all')."),
    model: str = typer.Option(
        None, "--model", help="With --db: only detections of these models (comma-separated)."
    ),
    params: Path = typer.Option(None, "--params", help="configs/estimate YAML (default shipped)."),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed (same seed, same numbers)."),
    out: Path = typer.Option(None, "--out", "-o", help="deliveries.csv to write."),
    summary: Path = typer.Option(None, "--summary", help="coverage.json to write."),
) -> None:
    """Identify vessels, estimate barrels (scenarios + Monte Carlo), coverage and UN caps."""
    from pipeline.config import FLEET_CSV, load_registry
    from pipeline.errors import TankerWatchError
    from pipeline.estimate import run_estimate
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.portcalls.commands import load_inputs, resolve_ports
    from pipeline.recordio import (
        read_observations,
        read_visits,
        write_deliveries,
        write_json,
    )

    p = load_params(params)
    reg = load_registry(registry or FLEET_CSV)
    port_cfgs = resolve_ports(ports)
    known = {pc.name: {b.id for b in pc.berths} for pc in port_cfgs}
    if db is None and visits is None:
        raise TankerWatchError("give --visits FILE (or --db URL)")
    if db is None and out is None and summary is None:
        raise TankerWatchError("nothing to write: give --out and/or --summary (or --db URL)")
    run_id, model_name = "", model or ""
    if db and visits is None:
        dets, _sc, obs = load_inputs(None, None, None, db, model, port_cfgs)
        vis = build_visits(dets, _sc, obs, port_cfgs, p)
        model_name = ",".join(sorted({d.model for d in dets})) or (model or "")
    else:
        vis = read_visits(visits)
        for i, v in enumerate(vis, start=2):
            if v.port not in known or v.berth not in known[v.port]:
                raise TankerWatchError(
                    f"{visits} row {i}: berth '{v.berth}' of port '{v.port}' is unknown to the "
                    "port configs"
                )
        if observations:
            obs = read_observations(observations)
            for i, o in enumerate(obs, start=2):
                if o.port not in known or o.berth not in known[o.port]:
                    raise TankerWatchError(
                        f"{observations} row {i}: berth '{o.berth}' of port '{o.port}' is unknown "
                        "to the port configs"
                    )
        elif db:
            from pipeline.ledger.store import open_for_reading

            with open_for_reading(db) as ledger:
                obs = ledger.observations(ports=list(known))
        else:
            obs = []
    links = link_voyages(vis, p)
    ledger = None
    if db:
        from pipeline.estimate.registry import registry_digest
        from pipeline.ledger.store import Ledger

        ledger = Ledger(db)
        config = {
            "estimate": p.model_dump(mode="json"),
            "registry": registry_digest(reg),
            "seed": seed,
            "ports": sorted(known),
        }
        run_id = ledger.begin_run(config, model_name)
    result = run_estimate(vis, links, obs, reg, p, seed=seed, run_id=run_id, model=model_name,
                          ports=port_cfgs)  # fmt: skip
    scenes = None
    if ledger is not None:
        with ledger:
            ledger.save_estimate(run_id, vis, result.deliveries, result.coverage)
            scenes = {k: e["scenes"] for k, e in ledger.evidence(result.deliveries).items()}
    if out:
        write_deliveries(out, result.deliveries, vis, scenes)
    if summary:
        write_json(summary, result.coverage)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    t = result.coverage["totals"]
    line = (
        f"{len(result.deliveries)} deliveries from {len(vis)} visits ({len(links)} voyages); "
        f"observed {t['calls_observed']} calls, {t['barrels_observed_p50']:,.0f} bbl (P50)"
    )
    if t["calls_corrected_p50"] is not None:
        line += (
            f"; corrected {t['calls_corrected_p10']:.0f}-{t['calls_corrected_p90']:.0f} calls, "
            f"{t['barrels_corrected_p10']:,.0f}-{t['barrels_corrected_p90']:,.0f} bbl (P10-P90), "
            f"p_seen {result.coverage['p_seen']:.2f}"
        )
    if run_id:
        line += f"; run {run_id} saved to the ledger"
    typer.echo(line)
