"""`tankerwatch ingest`: fill the scene catalogue from one imagery source."""

from __future__ import annotations

from pathlib import Path

import typer


def ingest(
    ports: str = typer.Option(
        ..., "--ports", help="Comma-separated port names (configs/ports) or port YAML paths."
    ),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (UTC)."),
    end: str = typer.Option(..., "--end", help="Last day, YYYY-MM-DD (UTC), inclusive."),
    source: str = typer.Option(
        ..., "--source", help="One of: sentinelhub, stac, local, simulated."
    ),
    path: Path | None = typer.Option(
        None, "--path", help="Folder of GeoTIFFs (local) or simulator output (simulated)."
    ),
    cache: Path = typer.Option(
        Path(".cache/tankerwatch"), "--cache", help="Scene cache folder (GeoTIFF + STAC item)."
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Ledger URL (default $TANKERWATCH_DB_URL, else sqlite:///tankerwatch.db).",
    ),
    settings: Path | None = typer.Option(
        None, "--settings", help="Source settings YAML (default configs/sources/default.yaml)."
    ),
) -> None:
    """Ingest imagery of ports for a period into the scene catalogue (ledger database)."""
    from pipeline.errors import TankerWatchError
    from pipeline.ingest import ingest as run_ingest
    from pipeline.ingest.core import period_bounds
    from pipeline.ingest.sources import source_class

    source_class(source)  # an unknown source fails before anything is opened
    period_bounds(start, end)  # fail on a bad period before opening anything
    from pipeline.config import load_ports
    from pipeline.ingest.settings import load_source_settings
    from pipeline.ledger.store import Ledger

    port_list = load_ports(ports)
    source_settings = load_source_settings(settings)
    with Ledger(db) as ledger:
        summary = run_ingest(
            port_list,
            start,
            end,
            source,
            ledger,
            cache_dir=cache,
            path=path,
            settings=source_settings,
            progress=True,
        )
    if summary.added == 0 and summary.known == 0 and summary.skipped:
        key, reason = summary.skipped[0]
        more = f" (and {len(summary.skipped) - 1} more skipped)" if len(summary.skipped) > 1 else ""
        raise TankerWatchError(f"nothing usable to ingest: {reason}{more}")
    typer.echo(summary.line())
    shown = 20
    for key, reason in summary.skipped[:shown]:
        typer.echo(f"skipped {key}: {reason}")
    if len(summary.skipped) > shown:
        typer.echo(
            f"... and {len(summary.skipped) - shown} more skipped "
            "(every skip and its reason is recorded in the ledger's skips table)"
        )
