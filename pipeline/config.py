"""Pydantic models for every config file in configs/, and their loaders.

Every model forbids unknown keys. Loading errors become one TankerWatchError naming the file,
the field and the problem, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import TankerWatchError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where configs/ and models/ live; an installed (non-editable) copy points here with the variable.
HOME = Path(os.environ.get("TANKERWATCH_HOME", REPO_ROOT))
CONFIG_DIR = HOME / "configs"
PORTS_DIR = CONFIG_DIR / "ports"
FLEET_CSV = CONFIG_DIR / "fleet" / "vessels.csv"

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --------------------------------------------------------------------------- loading helpers


def _format_validation_error(path: Path | str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(err.errors()) - 1} more problems)" if len(err.errors()) > 1 else ""
    return f"{path}: field '{loc}': {msg}{more}"


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader, except that a date-like scalar that is no date (``2024-13-01``) stays
    a string: the model that reads it then names the field, where PyYAML would raise a bare
    ValueError without a file or a line."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


EXTENDS = "extends"  # a config mapping's key naming the file it starts from (its folder's)


def read_yaml(path: Path | str, _chain: tuple[Path, ...] = ()) -> Any:
    """A YAML file's data. A mapping with ``extends: BASE`` is BASE's data (a file beside it)
    with this file's keys laid over it, mapping into mapping, anything else replaced: a variant
    states only what it changes and never drifts from what it does not."""
    path = Path(path)
    data = _read_yaml_file(path)
    if not isinstance(data, dict) or EXTENDS not in data:
        return data
    ref = data.pop(EXTENDS)
    if not isinstance(ref, str) or not ref.strip():
        raise TankerWatchError(f"{path}: field '{EXTENDS}': the name of a YAML file beside it")
    base = path.parent / ref
    chain = (*_chain, path.resolve())
    if base.resolve() in chain:
        raise TankerWatchError(f"{path}: field '{EXTENDS}': {base} extends this file again")
    if not base.exists():
        raise TankerWatchError(f"{path}: field '{EXTENDS}': {base}: file not found")
    parent = read_yaml(base, chain)
    if not isinstance(parent, dict):
        raise TankerWatchError(f"{path}: field '{EXTENDS}': {base} is not a YAML mapping")
    return _laid_over(parent, data)


def _laid_over(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _laid_over(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TankerWatchError(f"{path}: file not found") from None
    except OSError as exc:
        raise TankerWatchError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise TankerWatchError(
            f"{path}:{where} invalid YAML ({getattr(exc, 'problem', exc)})"
        ) from None


def validate(model: type[M], data: Any, source: Path | str) -> M:
    """Validate ``data`` into ``model``, turning pydantic errors into one line naming the field."""
    if data is None:
        raise TankerWatchError(f"{source}: file is empty")
    try:
        return model.model_validate(data, context={"source": str(source)})
    except ValidationError as exc:
        raise TankerWatchError(_format_validation_error(source, exc)) from None


def load_yaml_model(model: type[M], path: Path | str) -> M:
    return validate(model, read_yaml(path), path)


# --------------------------------------------------------------------------- ports

Coordinates = list[tuple[float, float]]  # (lon, lat) ring, EPSG:4326


def _polygon(ring: Coordinates, what: str):
    from shapely.geometry import Polygon
    from shapely.validation import explain_validity

    if len(ring) < 3:
        raise ValueError(f"{what} needs at least 3 (lon, lat) points")
    for lon, lat in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"{what} has a point outside lon/lat range: ({lon}, {lat})")
    poly = Polygon(ring)
    if not poly.is_valid:
        raise ValueError(f"{what} is not a valid polygon: {explain_validity(poly)}")
    return poly


class Provenance(Strict):
    method: str = Field(description="how the geometry was made")
    precision_m: float = Field(gt=0, description="estimated horizontal error, metres")
    approximate: bool = True
    sources: list[str] = Field(default_factory=list)


class Berth(Strict):
    id: str
    name: str
    role: Literal["load", "discharge", "other"]
    product: str | None = None
    polygon: Coordinates
    provenance: Provenance | None = None

    @field_validator("polygon")
    @classmethod
    def _valid(cls, ring: Coordinates) -> Coordinates:
        _polygon(ring, "berth polygon")
        return ring

    @property
    def shape(self):
        return _polygon(self.polygon, f"berth {self.id}")


class Port(Strict):
    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    display_name: str
    country: str
    timezone: str
    role: Literal["load", "discharge"]
    aoi: Coordinates
    land: list[Coordinates]
    berths: list[Berth]
    provenance: Provenance

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(tz)
        except Exception:
            raise ValueError(f"unknown timezone '{tz}'") from None
        return tz

    @field_validator("aoi")
    @classmethod
    def _aoi(cls, ring: Coordinates) -> Coordinates:
        _polygon(ring, "AOI polygon")
        return ring

    @field_validator("land")
    @classmethod
    def _land(cls, rings: list[Coordinates]) -> list[Coordinates]:
        for i, ring in enumerate(rings):
            _polygon(ring, f"land polygon {i}")
        return rings

    @model_validator(mode="after")
    def _berths_inside(self) -> Port:
        aoi = _polygon(self.aoi, "aoi")
        ids = set()
        for i, berth in enumerate(self.berths):
            if berth.id in ids:
                raise ValueError(f"berths.{i}.id: duplicate berth id '{berth.id}'")
            ids.add(berth.id)
            if not aoi.contains(berth.shape):
                raise ValueError(f"berths.{i}.polygon: berth '{berth.id}' lies outside the AOI")
        return self

    @cached_property
    def aoi_shape(self):
        return _polygon(self.aoi, "aoi")

    @cached_property
    def land_shape(self):
        from shapely.ops import unary_union

        return unary_union([_polygon(r, "land") for r in self.land])

    def berth(self, berth_id: str) -> Berth:
        for b in self.berths:
            if b.id == berth_id:
                return b
        raise TankerWatchError(f"port '{self.name}': unknown berth '{berth_id}'")

    @property
    def centroid(self) -> tuple[float, float]:
        c = self.aoi_shape.centroid
        return (c.x, c.y)

    def utm_crs(self) -> str:
        """EPSG code of the UTM zone of the AOI centre (true ground metres)."""
        return utm_epsg(*self.centroid)


def utm_epsg(lon: float, lat: float) -> str:
    zone = min(60, max(1, int((lon + 180) // 6) + 1))  # lon 180 belongs to zone 60
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def load_port(name_or_path: str | Path) -> Port:
    """Load a port by name (configs/ports/<name>.yaml) or by path."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = PORTS_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            known = ", ".join(sorted(x.stem for x in PORTS_DIR.glob("*.yaml")))
            raise TankerWatchError(f"unknown port '{name_or_path}' (known: {known})")
    return load_yaml_model(Port, p)


def load_ports(names: str | list[str]) -> list[Port]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise TankerWatchError("no port given")
    return [load_port(n) for n in names]


# --------------------------------------------------------------------------- fleet registry

REGISTRY_COLUMNS = ["name", "imo", "flag", "length_m", "beam_m", "dwt", "product", "source"]


class Vessel(Strict):
    name: str = Field(min_length=1)
    imo: str | None = Field(default=None, pattern=r"^\d{7}$")
    flag: str | None = None
    length_m: float | None = Field(default=None, gt=0, lt=500)
    beam_m: float | None = Field(default=None, gt=0, lt=80)
    dwt: float | None = Field(default=None, gt=0, lt=600_000)
    product: str | None = None
    source: str = Field(min_length=1)

    @field_validator("imo", "flag", "length_m", "beam_m", "dwt", "product", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v


def load_registry(path: Path | str = FLEET_CSV) -> list[Vessel]:
    """Read a vessel registry CSV; a malformed row is one error naming the file and row."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REGISTRY_COLUMNS if c not in header]
            if missing:
                raise TankerWatchError(f"{path}: missing columns {', '.join(missing)}")
            extra = [c for c in header if c not in REGISTRY_COLUMNS]
            if extra:
                raise TankerWatchError(f"{path}: unknown columns {', '.join(extra)}")
            vessels = []
            for line_no, row in enumerate(reader, start=2):
                try:
                    vessels.append(Vessel.model_validate(row))
                except ValidationError as exc:
                    raise TankerWatchError(
                        _format_validation_error(f"{path} row {line_no}", exc)
                    ) from None
    except FileNotFoundError:
        raise TankerWatchError(f"{path}: file not found") from None
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit(), a stray NUL
        raise TankerWatchError(
            f"{path} line {reader.reader.line_num}: not a readable CSV ({exc})"
        ) from None
    names = [v.name for v in vessels]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise TankerWatchError(f"{path}: duplicate vessel names {', '.join(sorted(dup))}")
    return vessels


def parse_date(value: str | date, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TankerWatchError(f"{what}: '{value}' is not a date (YYYY-MM-DD)") from None
