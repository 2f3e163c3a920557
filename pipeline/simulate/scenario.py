"""Simulator scenarios (configs/scenarios/*.yaml): a pydantic model and its loader.

A scenario names the period, the load port and berth, the discharge ports, the fleet (vessel
names from the registry), the call pattern, the bystander traffic and the sensors. Loading checks
what pydantic cannot: that every port and berth exists, every vessel is in the registry and
the period runs forwards. Every problem is one TankerWatchError naming the file and the field.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, model_validator

from pipeline.config import (
    REPO_ROOT,
    Strict,
    load_port,
    load_registry,
    load_yaml_model,
)
from pipeline.errors import TankerWatchError

SCENARIO_DIR = REPO_ROOT / "configs" / "scenarios"
DEFAULT_SCENARIO = SCENARIO_DIR / "vostochny-dprk-2024.yaml"


class Range(Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Fleet(Strict):
    registry: str = Field(default="configs/fleet/vessels.csv", description="registry CSV")
    vessels: list[str] = Field(default_factory=list, description="names; empty = whole registry")
    dwt_t: Range = Field(default_factory=lambda: Range(min=1000, max=9000))
    dwt_median_t: float = Field(default=2500, gt=0, description="most tankers at the low end")


class Discharge(Strict):
    port: str
    berth: str = "oil-1"
    weight: float = Field(default=1.0, gt=0, description="share of deliveries (relative)")
    distance_nm: float = Field(gt=0, description="sea distance from the load port")


class Calls(Strict):
    n_load_calls: int = Field(ge=0, le=10_000)
    load_dwell_h: Range = Field(default_factory=lambda: Range(min=6, max=96))
    load_dwell_median_h: float = Field(default=30, gt=0)
    load_dwell_sigma_ln: float = Field(
        default=0.6, gt=0, le=2, description="log-normal spread of the load dwell"
    )
    discharge_dwell_h: Range = Field(default_factory=lambda: Range(min=10, max=60))
    speed_kn: Range = Field(default_factory=lambda: Range(min=8, max=11))
    home_idle_d: Range = Field(default_factory=lambda: Range(min=2, max=12))
    loading_factor_mean: float = Field(default=0.9, gt=0, le=1)
    loading_factor_sd: float = Field(default=0.04, ge=0, le=0.3)
    min_gap_h: float = Field(default=2, ge=0, description="berth turnaround between calls")
    products: dict[str, float] = Field(
        default_factory=lambda: {"diesel": 0.6, "gasoline": 0.3, "jet": 0.1},
        description="product -> share",
    )


class Bystanders(Strict):
    cargo_at_other_berths: bool = True
    cargo_dwell_h: Range = Field(default_factory=lambda: Range(min=24, max=120))
    cargo_gap_h: Range = Field(default_factory=lambda: Range(min=0, max=96))
    tugs_mean: float = Field(default=1.5, ge=0, description="tugs in the water per scene")
    anchored_mean: float = Field(default=1.0, ge=0, description="ships at anchor per scene")
    barges: int = Field(default=2, ge=0, description="moored barges per port (change monthly)")


class SensorPlan(Strict):
    name: str
    ports: list[str] = Field(default_factory=list, description="empty = every scenario port")
    revisit_days: int = Field(
        default=1, ge=1, le=30, description="keep one acquisition day in this many (tasking)"
    )
    box_m: tuple[float, float] = Field(description="scene size (width, height) in metres")
    centre: str = Field(
        default="aoi", pattern=r"^(aoi|berth)$", description="AOI centre or the scenario berth"
    )


class Weather(Strict):
    cloud_scale: float = Field(
        default=1.0, gt=0, le=3, description="monthly mean cloud cover x this (cloudier years > 1)"
    )
    wind_scale: float = Field(
        default=1.0,
        gt=0,
        le=3,
        description="monthly mean wind speed x this (SAR sea clutter; windier years > 1)",
    )


class Ais(Strict):
    """Simulated AIS (pipeline.simulate.ais): who transmits, when they go dark or lie."""

    transmit_share: float = Field(
        default=0.8, ge=0, le=1, description="share of the fleet fitted and transmitting"
    )
    dark_share: float = Field(
        default=0.4, ge=0, le=1, description="share of a transmitter's load calls made dark"
    )
    dark_before_h: float = Field(default=24, ge=0, description="off this long before arrival")
    dark_after_h: float = Field(default=12, ge=0, description="and this long after departure")
    spoof_share: float = Field(
        default=0.1, ge=0, le=1, description="share of load calls reporting a false position"
    )
    spoof_offset_km: float = Field(default=60, gt=0, description="how far out the false position")
    interval_moored_s: float = Field(default=180, gt=0, description="report interval at a berth")
    interval_underway_s: float = Field(default=30, gt=0, description="report interval under way")
    interval_transit_s: float | None = Field(
        default=None,
        gt=0,
        description="report interval at sea between calls (None: no reports between calls)",
    )
    drop_share: float = Field(default=0.1, ge=0, lt=1, description="reports lost in reception")
    noise_m: float = Field(default=10, ge=0, description="GNSS noise, 1-sigma metres")
    draught_update_share: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="share of a tanker's departures after which the crew updates the draught "
        "it reports (the rest keep reporting the draught of before)",
    )


class Scenario(Strict):
    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    description: str = ""
    start: date
    end: date
    seed: int = 0
    load_port: str
    load_berth: str = "oil-1"
    discharge: list[Discharge] = Field(min_length=1)
    fleet: Fleet = Field(default_factory=Fleet)
    calls: Calls
    bystanders: Bystanders = Field(default_factory=Bystanders)
    weather: Weather = Field(default_factory=Weather)
    sensors: list[SensorPlan] = Field(min_length=1)
    ais: Ais | None = Field(default=None, description="simulate AIS (absent: no AIS at all)")

    @property
    def ports(self) -> list[str]:
        out = [self.load_port]
        for d in self.discharge:
            if d.port not in out:
                out.append(d.port)
        return out


def _fail(path: Path, field: str, problem: str) -> TankerWatchError:
    return TankerWatchError(f"{path}: field '{field}': {problem}")


def check_scenario(sc: Scenario, path: Path) -> Scenario:
    """Cross-checks against ports and the fleet registry; one error naming the field."""
    from pipeline.simulate.sensors import SENSORS

    if sc.end < sc.start:
        raise _fail(path, "end", f"end {sc.end} is before start {sc.start}")

    def port_or_fail(name: str, field: str):
        try:
            return load_port(name)
        except TankerWatchError as exc:
            raise _fail(path, field, str(exc)) from None

    def berth_or_fail(port, berth: str, field: str):
        if berth not in {b.id for b in port.berths}:
            known = ", ".join(b.id for b in port.berths)
            raise _fail(path, field, f"port '{port.name}' has no berth '{berth}' (has {known})")

    lp = port_or_fail(sc.load_port, "load_port")
    berth_or_fail(lp, sc.load_berth, "load_berth")
    for i, d in enumerate(sc.discharge):
        p = port_or_fail(d.port, f"discharge.{i}.port")
        berth_or_fail(p, d.berth, f"discharge.{i}.berth")
    reg_path = registry_path(sc)
    try:
        registry = load_registry(reg_path)
    except TankerWatchError as exc:
        raise _fail(path, "fleet.registry", str(exc)) from None
    names = {v.name for v in registry}
    for i, name in enumerate(sc.fleet.vessels):
        if name not in names:
            raise _fail(path, f"fleet.vessels.{i}", f"unknown vessel '{name}' (not in {reg_path})")
    if not registry and not sc.fleet.vessels:
        raise _fail(path, "fleet.registry", "the registry lists no vessels")
    if not sc.fleet.dwt_t.min <= sc.fleet.dwt_median_t <= sc.fleet.dwt_t.max:
        raise _fail(path, "fleet.dwt_median_t", "must lie within fleet.dwt_t")
    if not sc.calls.products or any(v <= 0 for v in sc.calls.products.values()):
        raise _fail(path, "calls.products", "give at least one product with a positive share")
    from pipeline.simulate.truth import BBL_PER_T

    for prod in sc.calls.products:
        if prod not in BBL_PER_T:
            known = ", ".join(sorted(BBL_PER_T))
            raise _fail(path, "calls.products", f"unknown product '{prod}' (known: {known})")
    for i, s in enumerate(sc.sensors):
        if s.name not in SENSORS:
            known = ", ".join(sorted(SENSORS))
            raise _fail(path, f"sensors.{i}.name", f"unknown sensor '{s.name}' (known: {known})")
        for j, p in enumerate(s.ports):
            if p not in sc.ports:
                raise _fail(path, f"sensors.{i}.ports.{j}", f"port '{p}' is not in the scenario")
        if min(s.box_m) <= 0 or max(s.box_m) > 50_000:
            raise _fail(path, f"sensors.{i}.box_m", "sides must be 0-50000 m")
    return sc


def load_scenario(path: Path | str | None = None) -> Scenario:
    """Load and check a scenario file (default: the vostochny-dprk-2024 scenario)."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    sc = load_yaml_model(Scenario, path)
    return check_scenario(sc, path)


def registry_path(sc: Scenario) -> Path:
    p = Path(sc.fleet.registry)
    return p if p.is_absolute() else REPO_ROOT / p
