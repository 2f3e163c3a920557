"""`tankerwatch ingest`: fill the scene catalogue from one imagery source."""

from __future__ import annotations

from pathlib import Path

import typer


def ingest(
    ports: str | None = typer.Option(
        None,
        "--ports",
        help="Comma-separated port names (configs/ports) or port YAML paths (imagery sources).",
    ),
    start: str | None = typer.Option(
        None, "--start", help="First day, YYYY-MM-DD (UTC) (imagery sources)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="Last day, YYYY-MM-DD (UTC), inclusive (imagery sources)."
    ),
    source: str = typer.Option(
        ..., "--source", help="One of: sentinelhub, stac, local, simulated, ais."
    ),
    path: list[Path] | None = typer.Option(
        None,
        "--path",
        help="Folder of GeoTIFFs (local) or simulator output (simulated); for ais, AIS files "
        "or folders of them (repeat --path for several).",
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
    """Ingest imagery of ports for a period into the scene catalogue (ledger database), or AIS
    transponder records (--source ais) into the ledger."""
    from pipeline.errors import TankerWatchError

    if source == "ais":
        _ingest_ais(path or [], db)
        return
    missing = [n for n, v in (("--ports", ports), ("--start", start), ("--end", end)) if not v]
    if missing:
        raise TankerWatchError(f"ingest --source {source}: {', '.join(missing)} required")
    if path and len(path) > 1:
        raise TankerWatchError(f"ingest --source {source}: one --path only")
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
            path=path[0] if path else None,
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


def _ingest_ais(paths: list[Path], db: str | None) -> None:
    from pipeline.ledger.store import Ledger
    from pipeline.run.ais import keep_ais, read_ais_files

    files = read_ais_files(paths)  # a file that is not AIS fails before the ledger is opened
    with Ledger(db) as ledger:
        summary = keep_ais(files, ledger)
    for line in summary.lines():
        typer.echo(line)
