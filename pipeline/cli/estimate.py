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
        None,
        "--db",
        help="Ledger URL: read its records, build visits, save the estimate there as a run "
        "(the run id `tankerwatch run` gives the same ports, period, parameters and registry).",
    ),
    ports: str = typer.Option("all", "--ports", help="Comma-separated port names ('all')."),
    start: str = typer.Option(None, "--start", help="With --db: scenes from this day (UTC)."),
    end: str = typer.Option(None, "--end", help="With --db: scenes up to this day (inclusive)."),
    model: str = typer.Option(
        None, "--model", help="With --db: only detections of these models (comma-separated)."
    ),
    params: Path = typer.Option(None, "--params", help="configs/estimate YAML (default shipped)."),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed (same seed, same numbers)."),
    out: Path = typer.Option(None, "--out", "-o", help="deliveries.csv to write."),
    summary: Path = typer.Option(None, "--summary", help="coverage.json to write."),
    caps: Path = typer.Option(
        None, "--caps", help="caps.csv to write (the columns of `tankerwatch export caps`)."
    ),
) -> None:
    """Identify vessels, estimate barrels (scenarios + Monte Carlo), coverage and UN caps."""
    from pipeline.cli.portcalls import period, resolve_ports
    from pipeline.config import FLEET_CSV, load_registry
    from pipeline.errors import TankerWatchError
    from pipeline.estimate import run_estimate
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import link_voyages
    from pipeline.recordio import (
        read_observations,
        read_visits,
        write_caps,
        write_deliveries,
        write_json,
    )

    p = load_params(params)
    reg = load_registry(registry or FLEET_CSV)
    port_cfgs = resolve_ports(ports)
    known = {pc.name: {b.id for b in pc.berths} for pc in port_cfgs}
    if db is None and visits is None:
        raise TankerWatchError("give --visits FILE (or --db URL)")
    if db is None and out is None and summary is None and caps is None:
        raise TankerWatchError("nothing to write: give --out, --summary or --caps (or --db URL)")
    t0, t1 = period(start, end, db)
    vis = obs = None
    if visits is not None:
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
    run_id, scenes = "", None
    if db:
        from pipeline.run.steps import estimate_from_ledger, visits_digest

        saved, vis, links = estimate_from_ledger(
            db,
            port_cfgs,
            p,
            reg,
            seed=seed,
            start=t0,
            end=t1,
            models=model,
            visits=vis,
            observations=obs,
            visits_from_file=None if vis is None else visits_digest(vis),
        )
        run_id, result, scenes = saved.run_id, saved.result, saved.evidence_scenes
    else:
        links = link_voyages(vis, p)
        result = run_estimate(vis, links, obs or [], reg, p, seed=seed, model=model or "",
                              ports=port_cfgs)  # fmt: skip
    if out:
        write_deliveries(out, result.deliveries, vis, scenes)
    if summary:
        write_json(summary, result.coverage)
    if caps:
        write_caps(caps, result.coverage, run_id)
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
