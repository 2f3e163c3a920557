"""`tankerwatch export`: tables and GIS layers from the ledger."""

from __future__ import annotations

from pathlib import Path

import typer

KIND_HELP = (
    "deliveries, monthly, caps or runs (CSV); detections or visits "
    "(GeoParquet .parquet or GeoPackage .gpkg)"
)


def export(
    kind: str = typer.Argument(..., help=KIND_HELP, metavar="KIND"),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (written atomically)."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Ledger URL or SQLite path (default $TANKERWATCH_DB_URL, else sqlite:///tankerwatch.db).",
    ),
    run: str | None = typer.Option(
        None, "--run", help="Export this run instead of the current one (reproduce old figures)."
    ),
    model: str | None = typer.Option(None, "--model", help="detections: only this model's."),
) -> None:
    """Export deliveries, monthly, caps or runs tables (CSV), or detections / visits (GIS)."""
    from pipeline.errors import TankerWatchError
    from pipeline.ledger.export import KINDS
    from pipeline.ledger.export import export as do_export
    from pipeline.ledger.store import open_for_reading

    if kind not in KINDS:
        raise TankerWatchError(f"unknown export '{kind}' (choose one of: {', '.join(KINDS)})")
    with open_for_reading(db) as ledger:
        n = do_export(ledger, kind, out, run_id=run, model=model)
    typer.echo(f"wrote {out} ({n} {kind} rows)")
