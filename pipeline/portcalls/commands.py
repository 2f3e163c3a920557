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


def check_inputs(detections, det_path, scenes, scenes_path, observations, obs_path, ports):
    """One-line errors naming file and row: unknown scene, port or berth.

    Records of a port that has a config but was not selected are left out; a port with no config
    is an error. Returns the (detections, scenes, observations) of the selected ports.
    """
    from pipeline.config import PORTS_DIR
    from pipeline.errors import TankerWatchError

    known_scenes = {s.id for s in scenes}
    berths = {p.name: {b.id for b in p.berths} for p in ports}
    configured = {p.stem for p in PORTS_DIR.glob("*.yaml")} | set(berths)
    for i, s in enumerate(scenes, start=1):
        if s.port not in configured:
            raise TankerWatchError(
                f"{scenes_path} scene {i} ({s.id}): port '{s.port}' has no port config"
            )
    for i, d in enumerate(detections, start=1):
        if d.scene_id not in known_scenes:
            raise TankerWatchError(
                f"{det_path} feature {i}: scene '{d.scene_id}' is not in the scene catalogue "
                f"{scenes_path}"
            )
    for i, o in enumerate(observations, start=2):
        if o.port not in configured:
            raise TankerWatchError(f"{obs_path} row {i}: port '{o.port}' has no port config")
        if o.port not in berths:
            continue
        if o.berth not in berths[o.port]:
            raise TankerWatchError(
                f"{obs_path} row {i}: berth '{o.berth}' is unknown to port '{o.port}' "
                f"(known: {', '.join(sorted(berths[o.port]))})"
            )
    keep = {s.id for s in scenes if s.port in berths}
    return (
        [d for d in detections if d.scene_id in keep],
        [s for s in scenes if s.id in keep],
        [o for o in observations if o.port in berths],
    )


def one_model_per_sensor(dets, scenes, model: str | None, where: str) -> list:
    """Keep the detections of the chosen model(s) (``model``: comma-separated ids, or None for
    all) and refuse sightings of one sensor by two detectors: a visit's size and timeline must
    come from one consistent measurement (a 3 m and a 10 m detector may each have their sensor)."""
    from pipeline.errors import TankerWatchError

    if model:
        wanted = {m.strip() for m in model.split(",") if m.strip()}
        dets = [d for d in dets if d.model in wanted]
    sensor_of = {s.id: s.sensor for s in scenes}
    by_sensor: dict[str, set[str]] = {}
    for d in dets:
        by_sensor.setdefault(sensor_of.get(d.scene_id, "?"), set()).add(d.model)
    for sensor, models in sorted(by_sensor.items()):
        if len(models) > 1:
            raise TankerWatchError(
                f"{where}: {sensor} scenes have detections of several models "
                f"({', '.join(sorted(models))}): choose with --model (comma-separated, one per "
                "sensor)"
            )
    return dets


def load_inputs(detections, observations, scenes, db, model, ports):
    """(detections, scenes, observations) from files or from the ledger, checked."""
    from pipeline.errors import TankerWatchError
    from pipeline.recordio import read_detections, read_observations, read_scenes

    names = [p.name for p in ports]
    if db:
        if detections or observations or scenes:
            raise TankerWatchError("give either --db or --detections/--observations/--scenes")
        from pipeline.ledger.store import open_for_reading

        with open_for_reading(db) as ledger:
            sc = ledger.scenes(ports=names)
            obs = ledger.observations(ports=names)
            dets = ledger.detections(ports=names)
        dets = one_model_per_sensor(dets, sc, model, "the ledger")
        return check_inputs(
            dets, "ledger detections", sc, "ledger scenes", obs, "ledger observations", ports
        )
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
    model: str = typer.Option(
        None, "--model", help="Only detections of these models (comma-separated, one per sensor)."
    ),
    params: Path = typer.Option(None, "--params", help="configs/estimate YAML (default shipped)."),
    out: Path = typer.Option(..., "--out", "-o", help="visits.csv to write."),
    voyages: Path = typer.Option(None, "--voyages", help="Also link voyages; write this CSV."),
) -> None:
    """Build visits at berths (and optionally voyages) from detections over time."""
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.recordio import write_visits, write_voyages

    p = load_params(params)
    port_cfgs = resolve_ports(ports)
    dets, sc, obs = load_inputs(detections, observations, scenes, db, model, port_cfgs)
    visits = build_visits(dets, sc, obs, port_cfgs, p)
    write_visits(out, visits)
    msg = f"{len(visits)} visits ({sum(v.role == 'load' for v in visits)} at load berths) -> {out}"
    if voyages:
        links = link_voyages(visits, p)
        write_voyages(voyages, links)
        msg += f"; {len(links)} voyages -> {voyages}"
    typer.echo(msg)
