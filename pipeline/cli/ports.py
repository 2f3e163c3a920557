"""`tankerwatch ports trace`: a port's land and berths traced from its images, as a draft port
config (YAML) with a PNG to review it on."""

from __future__ import annotations

from pathlib import Path

import typer

ports_app = typer.Typer(help="Port configs: trace one from its images.", no_args_is_help=True)


@ports_app.command("trace")
def trace(
    scenes: list[Path] = typer.Argument(
        None, help="Scene folders or GeoTIFFs (a folder of scene folders is walked)."
    ),
    port: str = typer.Option(..., "--port", help="The configured port (name or YAML path)."),
    db: str = typer.Option(None, "--db", help="Trace from a ledger's scenes and detections."),
    detections: Path = typer.Option(
        None, "--detections", help="With SCENES: their detections (from `detect`) for berths."
    ),
    start: str = typer.Option(None, "--start", help="With --db: scenes from this day (UTC)."),
    end: str = typer.Option(None, "--end", help="With --db: scenes up to this day (inclusive)."),
    model: str = typer.Option(None, "--model", help="Only detections of these models."),
    params: Path = typer.Option(None, "--params", help="configs/estimate YAML (default shipped)."),
    out: Path = typer.Option(..., "--out", "-o", help="Draft port YAML to write (PNG beside it)."),
) -> None:
    """Trace land (median water index) and berths (hulls alongside land again and again)."""
    import yaml

    from pipeline.cli.portcalls import period
    from pipeline.config import Port, load_port, validate
    from pipeline.errors import TankerWatchError
    from pipeline.estimate.params import load_params
    from pipeline.fsutil import atomic_write_bytes, atomic_write_text
    from pipeline.portcalls.trace import (
        TraceParams,
        draft_port,
        port_yaml,
        stack_from_paths,
        trace_png,
        trace_port,
    )

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise TankerWatchError(f"--out {out}: give a .yaml file")
    cfg = load_port(port)
    p = load_params(params)
    t0, t1 = period(start, end, db)
    tp = TraceParams()
    if db:
        if scenes or detections:
            raise TankerWatchError("give either --db or SCENES (with --detections)")
        from pipeline.run.trace import trace_from_ledger

        tr = trace_from_ledger(db, cfg, p, t0, t1, models=model, trace_params=tp)
    else:
        if not scenes:
            raise TankerWatchError("no scenes: give SCENES (scene folders or GeoTIFFs) or --db URL")
        stack = stack_from_paths(scenes)
        dets, recs, flags = None, None, None
        if detections is not None:
            from pipeline.portcalls.persistent import find_persistent
            from pipeline.recordio import read_detections

            dets = read_detections(detections)
            recs = stack_records(stack, cfg.name)
            unknown = {d.scene_id for d in dets} - {r.id for r in recs}
            if unknown:
                raise TankerWatchError(
                    f"{detections}: detections of scenes not given ({sorted(unknown)[0]} and "
                    f"{len(unknown) - 1} more); give their folders too"
                )
            flags = find_persistent(dets, recs, p)
        tr = trace_port(
            cfg, stack, dets, recs, tp, persistent=flags, size_error_for=p.portcalls.size_error_for
        )
    draft = draft_port(tr, cfg)
    header = (
        f"# {cfg.display_name}: port config DRAFT traced from {tr.n_scenes} scenes by "
        "`tankerwatch ports trace`.\n# Review it on the PNG beside this file (traced land in "
        "yellow, berths in red/orange), name the\n# traced-N berths and their roles, then "
        f"validate with: tankerwatch config check {out.name}\n"
    )
    text = port_yaml(draft, header)
    validate(Port, yaml.safe_load(text), out)  # the draft loads as a port config
    atomic_write_text(out, text)
    png = out.with_suffix(".png")
    atomic_write_bytes(png, trace_png(tr))
    typer.echo(
        f"traced {cfg.name} from {tr.n_scenes} scenes: {len(draft['land'])} land polygons, "
        f"{len(tr.berths)} berths ({', '.join(b.id for b in tr.berths) or 'none'}), "
        f"precision {draft['provenance']['precision_m']} m -> {out}, {png}"
    )
    for note in tr.notes:
        typer.echo(f"note: {note}")


def stack_records(stack, port: str):
    """Scene records for the detections of scenes given as files (ids from their STAC items,
    else the GeoTIFF's tags, as ingest names them)."""
    import rasterio

    from pipeline.detect.infer import default_scene_id
    from pipeline.errors import TankerWatchError
    from pipeline.records import Scene

    out = []
    for sc in stack:
        with rasterio.open(sc.path) as src:
            tags = src.tags()
            gsd = abs(src.transform.a)
            crs = src.crs.to_string() if src.crs else ""
        if sc.acquired is None:
            raise TankerWatchError(
                f"{sc.path}: no acquisition time (STAC item.json datetime or ACQUIRED tag); "
                "berths need the times of the images"
            )
        out.append(
            Scene(
                id=default_scene_id(sc.path),  # as `detect` names a scene given as a file
                source=tags.get("SOURCE", "local"),
                sensor=sc.sensor or tags.get("SENSOR", ""),
                acquired=sc.acquired,
                port=port,
                path=str(sc.path),
                crs=crs,
                gsd_m=gsd,
                bands=[],
                valid_fraction=1.0,
                cloud_fraction=sc.cloud or 0.0,
            )
        )
    return out
