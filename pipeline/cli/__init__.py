"""The `tankerwatch` command line: a thin typer app.

Each verb parses options and calls one stage function (or, for what is kept in the ledger, one
run-level function of pipeline.run). The verbs live in this package, one module per stage
(`pipeline/cli/<stage>.py`), so no stage imports the command line; this module only assembles
them, sets up logging and turns user errors into one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(debug))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("pipeline").setLevel(logging.DEBUG if debug else logging.INFO)


class _OneLine(logging.Formatter):
    """A log record as one line, however long (a console-width layout would fold a warning
    naming a long path over many lines): ``warning: ...``; with --debug, time and logger name
    first and the traceback of a record that carries one."""

    def __init__(self, debug: bool):
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split()) if not self.debug else record.getMessage()
        level = record.levelname.lower()
        if self.debug:
            line = f"{self.formatTime(record, '%H:%M:%S')} {level} {record.name}: {text}"
            if record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
            return line
        return text if record.levelno < logging.WARNING else f"{level}: {text}"


@config_app.command("check")
def config_check(
    files: list[Path] = typer.Argument(..., help="Config files to validate."),
    kind: str = typer.Option(
        None,
        "--kind",
        help="ports, fleet, scenarios, train, runs, estimate or sources (default: the folder "
        "under configs/, fleet for a CSV, else told from the file's keys).",
    ),
) -> None:
    """Validate config files (ports, fleet registry, scenarios, train, runs, estimate, sources)."""
    from pipeline.config_check import check_config

    for f in files:
        kind_found = check_config(f, kind)
        typer.echo(f"ok   {f} ({kind_found})")


def _register() -> None:
    from pipeline.cli import (
        detect,
        estimate,
        export,
        ingest,
        portcalls,
        ports,
        report,
        run,
        simulate,
    )

    app.command("simulate")(simulate.simulate)
    app.command("ingest")(ingest.ingest)
    app.command("detect")(detect.detect)
    app.command("train")(detect.train)
    app.command("evaluate")(detect.evaluate)
    app.command("portcalls")(portcalls.portcalls)
    app.command("estimate")(estimate.estimate)
    app.command("run")(run.run)
    app.command("demo")(run.demo)
    app.command("export")(export.export)
    app.command("report")(report.report)
    app.add_typer(ports.ports_app, name="ports")


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
