"""Run configs (configs/runs/*.yaml): what a `tankerwatch run` covers and where it runs."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from pipeline.config import HOME, Strict, load_yaml_model
from pipeline.errors import TankerWatchError


class SourceSpec(Strict):
    source: str = Field(description="a source of pipeline.ingest.sources")
    path: str | None = Field(default=None, description="folder for local / simulated sources")
    settings: str | None = Field(default=None, description="optional source settings YAML")

    @field_validator("source")
    @classmethod
    def _known_source(cls, name: str) -> str:
        from pipeline.ingest.sources import SOURCES

        if name not in SOURCES:
            raise ValueError(f"unknown source '{name}' (known: {', '.join(SOURCES)})")
        return name


class RunConfig(Strict):
    name: str
    ports: list[str] = Field(min_length=1)
    start: date
    end: date
    sources: list[SourceSpec] = Field(min_length=1)
    model: str | None = Field(default=None, description="bundle name or path; default released")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="per-sensor bundles (sensor name -> bundle), overriding `model` for them",
    )
    db: str | None = Field(
        default=None,
        description="ledger URL; default $TANKERWATCH_DB_URL",
        repr=False,  # it may hold a password
    )
    cache: str = ".cache/tankerwatch"
    registry: str = "configs/fleet/vessels.csv"
    estimate: str | None = Field(default=None, description="estimate parameters YAML")
    land_mask: bool = True
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    workers: int = Field(default=2, ge=1)
    threads: int = Field(
        default=1, ge=1, description="torch threads per detection task (scenes run in parallel)"
    )
    seed: int = 0

    @field_validator("ports")
    @classmethod
    def _known_ports(cls, ports: list[str]) -> list[str]:
        known = {p.stem for p in (HOME / "configs" / "ports").glob("*.yaml")}
        for i, p in enumerate(ports):
            if p not in known:
                raise ValueError(
                    f"item {i}: unknown port '{p}' (known: {', '.join(sorted(known))})"
                )
        return ports

    def model_for(self, sensor: str) -> str | None:
        return self.models.get(sensor, self.model)

    def check_period(self) -> None:
        if self.end < self.start:
            raise TankerWatchError(
                f"run '{self.name}': end {self.end} is before start {self.start}"
            )


def load_run_config(path: Path | str) -> RunConfig:
    cfg = load_yaml_model(RunConfig, path)
    if cfg.end < cfg.start:
        raise TankerWatchError(f"{path}: field 'end': {cfg.end} is before start {cfg.start}")
    return cfg


def resolve(path: str | None, base: Path = HOME) -> str | None:
    if path is None:
        return None
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (base / p))
