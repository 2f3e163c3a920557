"""Seasonal climatology for the north-west Sea of Japan coast (Primorye, north-east Korea):
cloud cover, haze, snow and sea state per month, drawn into per-scene Conditions.

Monthly mean cloud fractions follow the East-Asian monsoon: clear dry winters, cloudy
June-August (the changma), clearing in autumn. Spring brings yellow-dust haze.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from pipeline.simulate.render import Conditions, sun_position

# month -> mean cloud fraction, haze, snow cover on land, mean sea state (0-6)
CLOUD = (0.30, 0.30, 0.40, 0.50, 0.58, 0.70, 0.80, 0.75, 0.55, 0.42, 0.40, 0.32)
HAZE = (0.05, 0.08, 0.18, 0.25, 0.20, 0.15, 0.15, 0.12, 0.08, 0.06, 0.06, 0.05)
SNOW = (0.8, 0.7, 0.35, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.5)
SEA = (3.5, 3.2, 2.8, 2.2, 1.8, 1.6, 1.8, 2.0, 2.4, 2.8, 3.2, 3.5)


def season_of(month: int) -> str:
    return {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}.get(
        month, "summer" if month in (6, 7, 8) else "autumn"
    )


def draw_conditions(
    when: datetime,
    lon: float,
    lat: float,
    rng: np.random.Generator,
    partial_rate: float,
    cloud_scale: float = 1.0,
) -> Conditions:
    m = when.month - 1
    mean = min(0.95, CLOUD[m] * cloud_scale)
    # U-shaped: many scenes nearly clear, many overcast, like real cloud-cover statistics
    a, b = max(0.05, 0.9 * mean), max(0.05, 0.9 * (1 - mean))
    cover = float(rng.beta(a, b))
    if cover < 0.03:
        cover = 0.0
    elev, az = sun_position(when, lon, lat)
    sea = int(np.clip(round(rng.normal(SEA[m], 1.2)), 0, 6))
    snow = float(np.clip(SNOW[m] + rng.normal(0, 0.15), 0, 1)) if SNOW[m] > 0 else 0.0
    return Conditions(
        when=when,
        sun_elev_deg=elev,
        sun_az_deg=az,
        cloud_cover=cover,
        haze=float(np.clip(rng.gamma(2.0, HAZE[m] / 2.0), 0, 1)),
        cirrus=float(rng.uniform(0.1, 0.6)) if rng.random() < 0.15 + 0.2 * mean else 0.0,
        sea_state=sea,
        water_gain=float(np.exp(rng.normal(0, 0.15))),
        turbidity=float(np.clip(rng.beta(1.5, 5.0), 0, 1)),
        season=season_of(when.month),
        snow=snow,
        partial=bool(rng.random() < partial_rate),
    )


# month -> mean 10 m wind speed over the open sea (m/s) and prevailing direction (from, deg):
# the winter monsoon blows hard from the north-west, summer winds are light from the south
WIND_MS = (8.0, 7.6, 6.9, 6.1, 5.3, 4.7, 4.5, 4.8, 5.4, 6.4, 7.4, 7.9)
WIND_FROM = (315, 315, 300, 200, 170, 160, 160, 170, 250, 300, 315, 315)


def draw_wind(month: int, rng: np.random.Generator, scale: float = 1.0) -> tuple[float, float]:
    """(speed m/s, direction from, deg): Weibull (k = 2) speeds around the month's mean and
    directions scattered around the prevailing one."""
    m = month - 1
    speed = float(WIND_MS[m] * scale * rng.weibull(2.0) / 0.886)
    direction = float((WIND_FROM[m] + rng.normal(0, 45)) % 360)
    return round(min(speed, 30.0), 2), round(direction, 1)


def sea_state_from_wind(speed_ms: float) -> int:
    """Douglas sea state (0-6) of a wind sea fully developed over a short fetch."""
    edges = (1.5, 3.5, 5.5, 8.0, 11.0, 14.0)
    return int(sum(speed_ms >= e for e in edges))


def draw_sar_conditions(
    when: datetime,
    sar_pass,
    sensor,
    rng: np.random.Generator,
    wind_scale: float = 1.0,
    heading_jitter_deg: float = 1.0,
):
    """Conditions of one SAR acquisition: wind (pipeline.simulate.sar works out the sea
    clutter), the pass geometry and the noise level; clouds do not matter."""
    from pipeline.simulate.sar import SarConditions

    speed, direction = draw_wind(when.month, rng, wind_scale)
    heading = (
        sensor.heading_asc_deg
        if sar_pass.orbit_state == "ascending"
        else (sensor.heading_asc_deg + 206.0) % 360.0
    )
    lo, hi = sensor.nesz_db
    return SarConditions(
        when=when,
        season=season_of(when.month),
        wind_ms=speed,
        wind_dir_deg=direction,
        sea_state=sea_state_from_wind(speed),
        orbit_state=sar_pass.orbit_state,
        relative_orbit=sar_pass.relative_orbit,
        incidence_deg=float(sar_pass.incidence_deg + rng.uniform(-0.3, 0.3)),
        heading_deg=float((heading + rng.normal(0, heading_jitter_deg)) % 360.0),
        nesz_db=float(rng.uniform(lo, hi)),
        partial=bool(rng.random() < sensor.partial_rate),
    )
