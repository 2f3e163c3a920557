"""`tankerwatch portcalls`: detections + observations + scene catalogue -> visits (and voyages)."""

from __future__ import annotations

from pathlib import Path

import typer

ALL_PORTS = "all"


def resolve_ports(ports: str):
    from pipeline.config import PORTS_DIR, load_ports

    if ports.strip() == ALL_PORTS:
        ports = ",".join(sorted(p.stem for p in PORTS_DIR.glob("*.yaml")))
    return load_ports(ports)


def period(start: str | None, end: str | None, db: str | None):
    """--start/--end (inclusive days) as dates; they select the ledger's scenes (--db only)."""
    from pipeline.config import parse_date
    from pipeline.errors import TankerWatchError

    if (start or end) and not db:
        raise TankerWatchError("--start/--end select scenes of a ledger: give --db URL")
    s = parse_date(start, "--start") if start else None
    e = parse_date(end, "--end") if end else None
    if s and e and e < s:
        raise TankerWatchError(f"empty period: --end {e} is before --start {s}")
    return s, e


def file_inputs(detections, observations, scenes, model, ports):
    """(detections, scenes, observations) from files, checked."""
    from pipeline.errors import TankerWatchError
    from pipeline.portcalls import check_inputs, one_model_per_sensor
    from pipeline.recordio import read_detections, read_observations, read_scenes

    missing = [
        flag
        for flag, v in (
            ("--detections", detections),
            ("--observations", observations),
            ("--scenes", scenes),
        )  # fmt: skip
        if v is None
    ]
    if missing:
        raise TankerWatchError(f"missing {', '.join(missing)} (or give --db URL)")
    sc = read_scenes(scenes)
    obs = read_observations(observations)
    dets = one_model_per_sensor(read_detections(detections), sc, model, str(detections))
    return check_inputs(dets, detections, sc, scenes, obs, observations, ports)


def portcalls(
    detections: Path = typer.Option(
        None, "--detections", help="Detections (.geojson/.parquet/.gpkg from `detect`)."
    ),
    observations: Path = typer.Option(
        None, "--observations", help="Berth observations CSV (clear/obscured per scene)."
    ),
    scenes: Path = typer.Option(None, "--scenes", help="Scene catalogue (.csv or .json)."),
    ports: str = typer.Option(
        ALL_PORTS, "--ports", help="Comma-separated port names or config paths ('all')."
    ),
    db: str = typer.Option(None, "--db", help="Read scenes/observations/detections from a ledger."),
    start: str = typer.Option(None, "--start", help="With --db: scenes from this day (UTC)."),
    end: str = typer.Option(None, "--end", help="With --db: scenes up to this day (inclusive)."),
    model: str = typer.Option(
        None, "--model", help="Only detections of these models (comma-separated, one per sensor)."
    ),
    params: Path = typer.Option(None, "--params", help="configs/estimate YAML (default shipped)."),
    out: Path = typer.Option(..., "--out", "-o", help="visits.csv to write."),
    voyages: Path = typer.Option(None, "--voyages", help="Also link voyages; write this CSV."),
) -> None:
    """Build visits at berths (and optionally voyages) from detections over time."""
    from pipeline.errors import TankerWatchError
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.recordio import write_visits, write_voyages

    p = load_params(params)
    port_cfgs = resolve_ports(ports)
    t0, t1 = period(start, end, db)
    if db:
        if detections or observations or scenes:
            raise TankerWatchError("give either --db or --detections/--observations/--scenes")
        from pipeline.run.steps import portcalls_from_ledger

        visits = portcalls_from_ledger(db, port_cfgs, p, t0, t1, models=model)
    else:
        dets, sc, obs = file_inputs(detections, observations, scenes, model, port_cfgs)
        visits = build_visits(dets, sc, obs, port_cfgs, p)
    write_visits(out, visits)
    msg = f"{len(visits)} visits ({sum(v.role == 'load' for v in visits)} at load berths) -> {out}"
    if voyages:
        links = link_voyages(visits, p)
        write_voyages(voyages, links)
        msg += f"; {len(links)} voyages -> {voyages}"
    typer.echo(msg)
