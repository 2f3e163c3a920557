"""`tankerwatch config check`: every kind of config file, told by its folder under configs/, and
the loader that validates it.

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


def check_config(path: Path | str) -> str:
    """Validate one config file; returns its kind. Raises TankerWatchError naming the problem."""
    loaders = kinds()
    path = Path(path)
    if not path.exists():
        raise TankerWatchError(f"{path}: file not found")
    kind = path.resolve().parent.name
    if path.suffix == ".csv":
        kind = "fleet"
    loader = loaders.get(kind)
    if loader is None:
        raise TankerWatchError(
            f"{path}: cannot tell what kind of config this is; expected it under configs/"
            f"{{{','.join(sorted(loaders))}}}/"
        )
    loader(path)
    return kind
