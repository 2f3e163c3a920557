"""`tankerwatch config check`: every kind of config file, told by --kind, by its folder under
configs/ or by its keys, and the loader that validates it.

It sits above the stages (it knows each stage's config model), so that pipeline.config, which
every stage imports, imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.errors import TankerWatchError


def kinds() -> dict[str, Callable[[Path], object]]:
    """Folder name under configs/ -> loader(path)."""
    from pipeline.config import load_port, load_registry
    from pipeline.detect.train_config import load_train_config
    from pipeline.estimate.params import load_params
    from pipeline.ingest.settings import load_source_settings
    from pipeline.run.config import load_run_config
    from pipeline.simulate.scenario import load_scenario

    return {
        "ports": load_port,
        "fleet": load_registry,
        "scenarios": load_scenario,
        "train": load_train_config,
        "runs": load_run_config,
        "estimate": load_params,
        "sources": load_source_settings,
    }


def models() -> dict[str, type]:
    """Kind -> the pydantic model of its YAML files (every kind but the fleet CSV)."""
    from pipeline.config import Port
    from pipeline.detect.train_config import TrainConfig
    from pipeline.estimate.params import EstimateParams
    from pipeline.ingest.settings import SourceSettings
    from pipeline.run.config import RunConfig
    from pipeline.simulate.scenario import Scenario

    return {
        "ports": Port,
        "scenarios": Scenario,
        "train": TrainConfig,
        "runs": RunConfig,
        "estimate": EstimateParams,
        "sources": SourceSettings,
    }


def kind_from_content(path: Path) -> str:
    """The kind whose model knows the most of the file's top-level keys; a file that matches
    no kind, or two equally, is an error asking for --kind."""
    from pipeline.config import read_yaml

    data = read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise TankerWatchError(
            f"{path}: cannot tell what kind of config this is (not a YAML mapping); give --kind"
        )
    keys = set(map(str, data))
    score = {kind: len(keys & set(model.model_fields)) for kind, model in models().items()}
    ranked = sorted(score, key=score.get, reverse=True)
    best, second = ranked[0], ranked[1]
    if score[best] == 0 or score[best] == score[second]:
        tied = sorted(k for k in ranked if score[k] == score[best])
        why = "no known keys" if score[best] == 0 else f"it could be {' or '.join(tied)}"
        raise TankerWatchError(
            f"{path}: cannot tell what kind of config this is ({why}); give --kind"
        )
    return best


def check_config(path: Path | str, kind: str | None = None) -> str:
    """Validate one config file; returns its kind. Raises TankerWatchError naming the problem.

    The kind is ``kind`` when given, else "fleet" for a CSV, else the file's folder when it is
    named after a kind (as under configs/), else told from the file's keys."""
    loaders = kinds()
    path = Path(path)
    if kind is not None and kind not in loaders:
        raise TankerWatchError(f"--kind {kind}: unknown (use one of {', '.join(sorted(loaders))})")
    if not path.exists():
        raise TankerWatchError(f"{path}: file not found")
    if kind is None:
        folder = path.resolve().parent.name
        if path.suffix.lower() == ".csv":
            kind = "fleet"
        elif folder in loaders:
            kind = folder
        else:
            kind = kind_from_content(path)
    loaders[kind](path)
    return kind
