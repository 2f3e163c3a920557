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
) -> None:
    """Write the HTML report: visit timeline, cumulative barrels vs the cap, vessels, evidence."""
    from pipeline.ledger.store import open_for_reading
    from pipeline.report.html import build_report

    with open_for_reading(db) as ledger:
        if run and ledger.run(run) is None:
            from pipeline.errors import TankerWatchError

            raise TankerWatchError(f"ledger at {ledger.display_url} has no run {run}")
        summary = build_report(ledger, out, run_id=run)
    missing = summary["missing_rasters"]
    typer.echo(
        f"wrote {out} ({summary['deliveries']} deliveries, {summary['chips']} evidence chips"
        + (f", {missing} images missing" if missing else "")
        + ")"
    )
