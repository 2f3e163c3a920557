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
