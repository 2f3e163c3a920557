"""`tankerwatch run` and `tankerwatch demo`."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    config: Path = typer.Option(..., "--config", "-c", help="configs/runs/<name>.yaml"),
    executor: str = typer.Option(None, "--executor", help="local or dask (overrides config)."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler tcp://HOST:PORT (default: a LocalCluster)."
    ),
    workers: int = typer.Option(None, "--workers", help="LocalCluster workers."),
    db: str = typer.Option(None, "--db", help="Ledger URL (overrides config and env)."),
) -> None:
    """Chain ingest, detect, portcalls and estimate into the ledger, for new scenes only."""
    from rich.console import Console

    from pipeline.run import load_run_config, run_pipeline, summary_table

    cfg = load_run_config(config)
    updates = {
        k: v
        for k, v in dict(executor=executor, scheduler=scheduler, workers=workers, db=db).items()
        if v is not None
    }
    if scheduler:
        updates["executor"] = "dask"
    if updates:
        cfg = cfg.model_validate({**cfg.model_dump(), **updates})
    summary = run_pipeline(cfg)
    Console().print(summary_table(summary))


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder."),
    executor: str = typer.Option("local", "--executor", help="local or dask."),
    model: str = typer.Option(
        None, "--model", help="Detector bundle for every sensor (default: the released ones)."
    ),
) -> None:
    """Simulate the default scenario and run the whole pipeline on it, scored against truth."""
    from rich.console import Console

    from pipeline.demo import comparison_table, run_demo, sensor_table
    from pipeline.run import summary_table

    result = run_demo(out, executor=executor, model=model)
    console = Console()
    console.print(summary_table(result["summary"]))
    console.print(comparison_table(result))
    by_sensors = sensor_table(result)
    if by_sensors is not None:
        console.print(by_sensors)
    o = result["out"]
    console.print(
        f"wrote {o / 'deliveries.csv'}, {o / 'monthly.csv'}, {o / 'caps.csv'}, "
        f"{o / 'report.html'}, {o / 'ledger.db'}"
    )
