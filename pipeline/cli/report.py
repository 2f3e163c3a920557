"""`tankerwatch report`: a self-contained HTML report (charts also as PNG) from the ledger."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    out: Path = typer.Option(
        Path("report.html"), "--out", "-o", help="HTML file to write; PNG charts go beside it."
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Ledger URL or SQLite path (default $TANKERWATCH_DB_URL, else sqlite:///tankerwatch.db).",
    ),
    run: str | None = typer.Option(
        None, "--run", help="Report on this run instead of the current one."
    ),
    ports: str | None = typer.Option(
        None,
        "--ports",
        help="Comma-separated port names or config paths the map draws (default: the run's "
        "ports, from configs/ports). A traced draft YAML can be checked this way.",
    ),
    map_scene: list[str] = typer.Option(
        [],
        "--map-scene",
        help="Scene id to show on its port's map (repeat, one per port; default: the scene "
        "with the most detections at berths, then the clearest, then the latest).",
    ),
) -> None:
    """Write the HTML report: visit timeline, cumulative barrels vs the cap, vessels, a map of
    the port geometry over a scene, evidence."""
    from pipeline.config import load_ports
    from pipeline.ledger.store import open_for_reading
    from pipeline.report.html import build_report

    port_list = load_ports(ports) if ports else None
    with open_for_reading(db) as ledger:
        if run and ledger.run(run) is None:
            from pipeline.errors import TankerWatchError

            raise TankerWatchError(f"ledger at {ledger.display_url} has no run {run}")
        summary = build_report(ledger, out, run_id=run, ports=port_list, map_scenes=list(map_scene))
    missing = summary["missing_rasters"]
    typer.echo(
        f"wrote {out} ({summary['deliveries']} deliveries, {summary['chips']} evidence chips"
        + (f", {missing} images missing" if missing else "")
        + ")"
    )
    for m in summary["maps"]:
        typer.echo(
            f"map of {m['port']}: scene {m['scene'] or 'none'}, {m['detections']} detections, "
            f"{m['visits']} visits, {m['berths']} berths"
            + ("" if m["image"] or not m["scene"] else ", scene image missing")
        )
