"""Shared pieces of the benchmarks/pipeline_*.py scripts: which detector to measure, a freshly
initialised bundle when no released one exists yet, markdown tables and JSON results."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FRESH = "fresh"  # --model value: a freshly initialised bundle of the release architecture


def released_available() -> bool:
    from pipeline.detect.bundle import DEFAULT_MODEL, MODELS_DIR

    return (MODELS_DIR / DEFAULT_MODEL / "model.yaml").exists()


def fresh_bundle(folder: Path, train_config: str | None = None, seed: int = 0) -> Path:
    """A bundle of the architecture a training config would produce (the TrainConfig defaults
    when ``train_config`` is None), with freshly initialised weights, written by
    pipeline.detect.bundle.save_bundle. Speed does not depend on the weight values; only the
    number of detections decoded can (see the scripts' notes)."""
    import torch

    from pipeline.detect.bundle import save_bundle
    from pipeline.detect.train_config import TrainConfig, load_train_config

    if train_config:
        cfg = load_train_config(train_config)
    else:  # the defaults (training data must be named, though unused here)
        cfg = TrainConfig(name="defaults", simulated={"n": 1})
    torch.manual_seed(seed)
    model = cfg.architecture.build().eval()
    fields = {
        "name": f"fresh-init-{cfg.name}",
        "architecture": cfg.architecture.model_dump(mode="json"),
        "bands": cfg.bands,
        "gsd_m": cfg.gsd_m,
        "thresholds": cfg.thresholds.model_dump(mode="json"),
        "inference": cfg.inference.model_dump(mode="json"),
        "trained": {"note": "freshly initialised weights, for speed benchmarks only"},
    }
    save_bundle(folder, model, fields)
    return folder


def resolve_models(requested: list[str] | None, work: Path, train_config: str | None) -> list:
    """(label, load argument) pairs. Default: the released bundle if models/ holds it, else a
    freshly initialised one of the same architecture; and the classical baseline."""
    from pipeline.detect.bundle import DEFAULT_MODEL

    if not requested:
        requested = [DEFAULT_MODEL if released_available() else FRESH, "baseline"]
    out = []
    for name in requested:
        if name == FRESH:
            out.append((FRESH, str(fresh_bundle(work / "fresh-bundle", train_config))))
        else:
            out.append((name, name))
    return out


def snapshot(model: str | None, work: Path) -> tuple[str | None, str | None]:
    """Copy a bundle into ``work`` so that every run of a benchmark (Dask workers included) uses
    the same weights even if models/ is retrained meanwhile; returns (load argument, sha256 of
    the weights). The baseline passes through unchanged."""
    import shutil

    from pipeline.detect.bundle import read_spec, resolve_bundle_dir

    if model == "baseline":
        return model, None
    src = resolve_bundle_dir(model)
    spec = read_spec(src)
    dst = work / "model-snapshot" / spec.name
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in ("model.yaml", spec.weights.file):
        shutil.copy2(src / name, dst / name)
    return str(dst), spec.weights.sha256


def machine() -> dict:
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "when_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def markdown(rows: list[dict], columns: list[str]) -> str:
    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return "-" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: str | None, result: dict) -> None:
    if not path:
        return
    from pipeline.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=2, default=str) + "\n")


def warm_footprints() -> None:
    """Load pyproj's database and shapely once (what the first detection's footprint costs), so a
    warm-up run that happens to detect nothing still warms them."""
    from affine import Affine
    from rasterio.crs import CRS

    from pipeline.detect.geometry import Box, footprint_lonlat

    footprint_lonlat(Box(10, 10, 5, 2, 0.3), CRS.from_epsg(32653), Affine(10, 0, 6e5, 0, -10, 48e5))


def module_at_revision(rev: str, relpath: str, name: str, **overrides):
    """The module ``relpath`` (e.g. ``pipeline/detect/cfar.py``) as it is at git revision
    ``rev`` of this repository, imported under ``name`` beside the current code, with the
    names in ``overrides`` replaced after it is loaded (e.g. a helper it imports, taken from
    the same revision), so an old implementation can be timed against the new one in one
    process."""
    import importlib.util
    import subprocess

    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:{relpath}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    exec(compile(source, f"{rev}:{relpath}", "exec"), module.__dict__)
    for key, value in overrides.items():
        setattr(module, key, value)
    return module
