"""The `tankerwatch` command line: a thin typer app.

Each verb parses options and calls one stage function. The verbs live next to their stage
(`pipeline/<stage>/commands.py`) so a stage and its command change together; this module only
assembles them, sets up logging and turns user errors into one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler

from pipeline import __version__
from pipeline.errors import TankerWatchError

app = typer.Typer(
    name="tankerwatch",
    help="Satellite imagery of ports -> an auditable ledger of oil deliveries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect and validate config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

err_console = Console(stderr=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tankerwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=debug)],
        force=True,
    )
    logging.getLogger("pipeline").setLevel(logging.DEBUG if debug else logging.INFO)


@config_app.command("check")
def config_check(files: list[Path] = typer.Argument(..., help="Config files to validate.")) -> None:
    """Validate config files (ports, fleet registry, scenarios, train, runs)."""
    from pipeline.config import check_config

    for f in files:
        kind = check_config(f)
        typer.echo(f"ok   {f} ({kind})")


def _register() -> None:
    from pipeline import run_commands
    from pipeline.detect import commands as detect_cmds
    from pipeline.estimate import commands as estimate_cmds
    from pipeline.ingest import commands as ingest_cmds
    from pipeline.ledger import commands as ledger_cmds
    from pipeline.portcalls import commands as portcalls_cmds
    from pipeline.report import commands as report_cmds
    from pipeline.simulate import commands as simulate_cmds

    app.command("simulate")(simulate_cmds.simulate)
    app.command("ingest")(ingest_cmds.ingest)
    app.command("detect")(detect_cmds.detect)
    app.command("train")(detect_cmds.train)
    app.command("evaluate")(detect_cmds.evaluate)
    app.command("portcalls")(portcalls_cmds.portcalls)
    app.command("estimate")(estimate_cmds.estimate)
    app.command("run")(run_commands.run)
    app.command("demo")(run_commands.demo)
    app.command("export")(ledger_cmds.export)
    app.command("report")(report_cmds.report)


_register()


def main() -> None:
    try:
        app()
    except TankerWatchError as exc:
        if _state["debug"]:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
