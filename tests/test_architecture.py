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


def _stage_edges(stage: str) -> dict[str, set[str]]:
    # CLI verbs still live in <stage>/commands.py until they move to pipeline/cli (#19 step b)
    out = {}
    for dst, mods in _edges(stage).items():
        mods = {m for m in mods if not m.endswith(".commands")}
        if mods:
            out[dst] = mods
    return out


@pytest.mark.parametrize(
    "stage",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason="#19 step c"))
        if s == "detect"
        else s
        for s in STAGES
    ],
)
def test_a_stage_imports_no_later_stage(stage):
    allowed = STAGE_MAY_IMPORT.get(stage, set())
    bad = {d: m for d, m in _stage_edges(stage).items() if d in STAGES and d not in allowed}
    assert not bad, f"{stage} imports {bad}"


def test_portcalls_does_not_import_estimate():
    assert "estimate" not in _stage_edges("portcalls"), _stage_edges("portcalls")["estimate"]


@pytest.mark.parametrize("unit", CORE)
def test_core_modules_import_no_stage(unit):
    bad = {d: m for d, m in _edges(unit).items() if d not in CORE}
    assert not bad, f"{unit} imports {bad}"


def test_the_graph_is_read():
    # guards the test itself: it must see the known edges
    assert "portcalls" in _edges("estimate")
    assert "records" in _edges("portcalls")
