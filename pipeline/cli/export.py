"""`tankerwatch export`: tables and GIS layers from the ledger."""

from __future__ import annotations

from pathlib import Path

import typer

KIND_HELP = (
    "deliveries, monthly, caps, runs or ais-matches (CSV); detections or visits "
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

    if kind == "ais-matches":
        _export_ais_matches(out, db, model)
        return
    if kind not in KINDS:
        known = ", ".join((*KINDS, "ais-matches"))
        raise TankerWatchError(f"unknown export '{kind}' (choose one of: {known})")
    with open_for_reading(db) as ledger:
        n = do_export(ledger, kind, out, run_id=run, model=model)
    typer.echo(f"wrote {out} ({n} {kind} rows)")


def _export_ais_matches(out: Path, db: str | None, model: str | None) -> None:
    from pipeline.config import load_ports
    from pipeline.ledger.store import open_for_reading
    from pipeline.recordio import write_table
    from pipeline.run.ais import MATCH_COLUMNS, ais_match_rows

    with open_for_reading(db) as ledger:
        names = sorted({s.port for s in ledger.scenes()})
        rows = ais_match_rows(ledger, load_ports(names), models=model) if names else []
    n = write_table(out, MATCH_COLUMNS, rows)
    typer.echo(f"wrote {out} ({n} ais-matches rows)")
