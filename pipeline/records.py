"""The records passed between stages (see DESIGN.md, "Records").

Plain dataclasses: every stage takes and returns these, so a stage can run alone on files and
no stage reaches into another's internals. Times are timezone-aware UTC; lengths are true
ground metres.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

ObservationState = Literal["clear", "obscured"]


def utc(value: datetime | str) -> datetime:
    """Parse or normalise a time to timezone-aware UTC (naive input is taken as UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str:
    """ISO 8601 UTC with a trailing Z, or an empty string for None."""
    if value is None:
        return ""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(*parts: object, length: int = 16) -> str:
    """A short deterministic id from the given parts (same parts, same id, on any machine)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:length]


def scene_id(source: str, sensor: str, acquired: datetime, port: str) -> str:
    """Stable, readable scene id: source, sensor, acquisition time and AOI (port)."""
    return f"{port}_{sensor}_{utc(acquired).strftime('%Y%m%dT%H%M%S')}_{source}"


@dataclass
class _Record:
    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = iso(v) if isinstance(v, datetime) else v
        return out


@dataclass
class Scene(_Record):
    id: str
    source: str
    sensor: str
    acquired: datetime
    port: str
    path: str
    crs: str
    gsd_m: float
    bands: list[str]
    valid_fraction: float
    cloud_fraction: float
    width: int = 0
    height: int = 0
    stac_path: str | None = None


@dataclass
class Detection(_Record):
    scene_id: str
    geometry: str  # WKT polygon, EPSG:4326 (oriented footprint)
    lon: float
    lat: float
    length_m: float
    beam_m: float
    heading_deg: float
    score: float
    cls: str
    model: str
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = stable_id(self.scene_id, self.model, round(self.lon, 6), round(self.lat, 6))


@dataclass
class Observation(_Record):
    scene_id: str
    port: str
    berth: str
    acquired: datetime
    state: ObservationState
    clear_fraction: float
    sensor: str = ""
    gsd_m: float = 0.0


@dataclass
class Visit(_Record):
    port: str
    berth: str
    vessel_key: str
    first_seen: datetime
    last_seen: datetime
    arrived_after: datetime | None
    departed_before: datetime | None
    n_obs: int
    length_m: float  # the sightings' weighted mean, less the detector's bias (size_error)
    beam_m: float
    evidence: list[str] = field(default_factory=list)  # detection ids
    role: str = "load"
    id: str = ""
    length_sigma_m: float = 0.0  # 1-sigma error of length_m/beam_m (0: unknown, use the config's)
    beam_sigma_m: float = 0.0
    sightings: list[str] = field(default_factory=list)  # scene ids of the sightings, in order

    def __post_init__(self) -> None:
        if not self.id:
            self.id = stable_id(self.port, self.berth, iso(self.first_seen), self.vessel_key)


@dataclass
class Delivery(_Record):
    id: str
    vessel: str  # identified name, or "unidentified"
    imo: str | None
    id_probability: float
    load_visit: str
    discharge_visit: str | None
    barrels_p10: float
    barrels_p50: float
    barrels_p90: float
    barrels_33: float
    barrels_50: float
    barrels_90: float
    product: str
    method: str
    run_id: str
    model: str
    superseded_by: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    dark: bool | None = None  # no transponder matched the call's hull (None: no AIS data)
    ais_mmsi: int | None = None  # the matched transponder, when AIS named the vessel


@dataclass(frozen=True)
class SensorCalibration:
    """One detector on one sensor, measured on tankers at load and discharge berths of
    simulations (a detector bundle's berths.json): recall in clear images, and the mean
    (bias) and spread (sd) of its length and beam errors, measured minus true."""

    sensor: str
    model: str
    gsd_m: float
    tankers: int
    found: int
    recall_by_simulation: tuple[float, ...]
    length_bias_m: float
    length_sd_m: float
    beam_bias_m: float
    beam_sd_m: float
    source: str
    # tankers behind each recall_by_simulation share (empty in files written before they were
    # kept): with them the recall prior's spread is the between-season spread (beta-binomial)
    tankers_by_simulation: tuple[int, ...] = ()
    # the spread of one call's length errors about their own mean, the calls measured more than
    # once, and the share of the length variance that repeats between images of one stay
    # (1 - (within / sd)^2); None in files written before they were measured
    length_within_call_sd_m: float | None = None
    calls_repeated: int = 0
    systematic_frac: float | None = None
    # tankers and those found per bin of true hull length: (upper edges m, tankers, found), the
    # last bin open above; None in files written before it was measured
    recall_by_length: tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def recall(self) -> float:
        return self.found / self.tankers if self.tankers else 0.0
