"""The dependency rule (docs/ARCHITECTURE.md): stages are functions over records; only the batch
runner and the ledger persist; data moves forward only, and no package imports itself in a circle.

Read from the source (every import statement, also those inside functions), so a lazy import
cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"

STAGES = ("ingest", "simulate", "detect", "portcalls", "estimate")
# a stage may import these stages (data moves forward: estimation reads port-call parameters)
STAGE_MAY_IMPORT = {"estimate": {"portcalls"}}
# shared foundations: records, configs, record files, helpers; they import no stage
CORE = ("records", "recordio", "config", "errors", "fsutil", "geo", "bands")
# what persists (the ledger, the batch runner) and what sits on top (CLI, demo, report)
PERSIST_AND_ABOVE = ("ledger", "run", "cli", "demo", "report", "config_check")


def _unit(module: str) -> str | None:
    """'pipeline.portcalls.visits' -> 'portcalls'; None outside the package."""
    parts = module.split(".")
    if parts[0] != "pipeline" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PIPELINE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every pipeline module that ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}  # `from pipeline import run`
    return {m for m in out if m.split(".")[0] == "pipeline"}


def _graph() -> dict[str, dict[str, set[str]]]:
    """unit -> {imported unit -> modules of the unit that import it}."""
    graph: dict[str, dict[str, set[str]]] = {}
    known = {p.stem for p in PIPELINE.glob("*.py")} | {
        p.name for p in PIPELINE.iterdir() if (p / "__init__.py").exists()
    }
    for path in sorted(PIPELINE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        src = _unit(_module_name(path))
        if src is None:  # pipeline/__init__.py
            continue
        for mod in _imports(path):
            dst = _unit(mod)
            if dst is not None and dst != src and dst in known:
                graph.setdefault(src, {}).setdefault(dst, set()).add(_module_name(path))
    return graph


GRAPH = _graph()


def _edges(src: str) -> dict[str, set[str]]:
    return GRAPH.get(src, {})


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_later_stage(stage):
    allowed = STAGE_MAY_IMPORT.get(stage, set())
    bad = {d: m for d, m in _edges(stage).items() if d in STAGES and d not in allowed}
    assert not bad, f"{stage} imports {bad}"


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_the_ledger_the_runner_or_the_cli(stage):
    bad = {d: m for d, m in _edges(stage).items() if d in PERSIST_AND_ABOVE}
    assert not bad, f"{stage} imports {bad}"


def test_detect_does_not_import_simulate():
    # the model does not depend on how its training data is made
    assert "simulate" not in _edges("detect"), _edges("detect")["simulate"]


def test_portcalls_does_not_import_estimate():
    assert "estimate" not in _edges("portcalls"), _edges("portcalls")["estimate"]


def test_only_the_cli_imports_the_cli():
    bad = {src: e["cli"] for src, e in GRAPH.items() if "cli" in e}
    assert not bad, bad


def test_the_ledger_imports_no_stage_runner_or_cli():
    bad = {d: m for d, m in _edges("ledger").items() if d not in CORE}
    assert not bad, bad


def _cycles() -> list[list[str]]:
    found, path, state = [], [], {}

    def visit(u: str) -> None:
        state[u] = "open"
        path.append(u)
        for v in sorted(_edges(u)):
            if state.get(v) == "open":
                found.append(path[path.index(v) :] + [v])
            elif v not in state:
                visit(v)
        path.pop()
        state[u] = "done"

    for u in sorted(GRAPH):
        if u not in state:
            visit(u)
    return found


def test_no_package_cycle():
    assert not _cycles(), " ; ".join(" -> ".join(c) for c in _cycles())


def test_the_cycle_finder_finds_cycles(monkeypatch):
    monkeypatch.setitem(GRAPH, "records", {**GRAPH.get("records", {}), "ledger": {"x"}})
    assert _cycles()


@pytest.mark.parametrize("unit", CORE)
def test_core_modules_import_no_stage(unit):
    bad = {d: m for d, m in _edges(unit).items() if d not in CORE}
    assert not bad, f"{unit} imports {bad}"


def test_the_graph_is_read():
    # guards the test itself: it must see the known edges
    assert "portcalls" in _edges("estimate")
    assert "records" in _edges("portcalls")
    assert "ledger" in _edges("run") and "run" in _edges("cli")


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_package_exports_its_entry_function(stage):
    import importlib

    entry = {
        "ingest": "ingest",
        "simulate": "simulate",
        "detect": "detect_scene",
        "portcalls": "build_visits",
        "estimate": "run_estimate",
    }[stage]
    package = importlib.import_module(f"pipeline.{stage}")
    assert entry in package.__all__ and callable(getattr(package, entry))
