"""Simulated sensors: ground sample distance, bands, point-spread blur, noise, revisit, overpass.

Each sensor is one frozen dataclass holding its constants (like rslearn's one class per source).
Band names are written as GeoTIFF band descriptions; `pipeline.bands.canonical_band` maps the
commercial names (blue, green, red, nir) onto the Sentinel-2 ones, which key the spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from pipeline.bands import canonical_band
from pipeline.errors import TankerWatchError


@dataclass(frozen=True)
class Sensor:
    name: str
    gsd_m: float
    bands: tuple[str, ...]
    # Gaussian PSF sigma in output pixels, per band (B11 is a 20 m band resampled to 10 m).
    psf_sigma_px: tuple[float, ...]
    # additive noise standard deviation in DN, per band, plus a signal-dependent part
    noise_dn: tuple[float, ...]
    noise_rel: float
    # radiometric gain of this sensor relative to the Sentinel-2 spectra, per band
    gain: tuple[float, ...]
    overpass_local_solar_h: float
    overpass_jitter_h: float
    # revisit model: acquisition day offsets within a repeating cycle (days)
    cycle_days: int
    cycle_offsets: tuple[int, ...]
    # fraction of planned acquisitions that never reach the archive (tasking, downlink)
    drop_rate: float
    # probability that a scene is cut by a swath / tile edge (nodata wedge)
    partial_rate: float
    description: str
    # below this latitude adjacent orbits overlap less: only ``sparse_offsets`` (if given)
    dense_above_lat: float = -90.0
    sparse_offsets: tuple[int, ...] | None = None

    def offsets_at(self, lat: float) -> tuple[int, ...]:
        if self.sparse_offsets is not None and lat < self.dense_above_lat:
            return self.sparse_offsets
        return self.cycle_offsets

    @property
    def canonical(self) -> tuple[str, ...]:
        return tuple(canonical_band(b) for b in self.bands)

    def acquisitions(
        self,
        start: date,
        end: date,
        lon: float,
        rng: np.random.Generator,
        phase: int = 0,
        lat: float = 45.0,
    ) -> list[datetime]:
        """UTC acquisition times over ``[start, end]`` for a point at ``lon``, ``lat``."""
        offsets = self.offsets_at(lat)
        out = []
        day = start
        epoch = date(2024, 1, 1)
        while day <= end:
            k = ((day - epoch).days + phase) % self.cycle_days
            if k in offsets and rng.random() >= self.drop_rate:
                local_h = self.overpass_local_solar_h + rng.uniform(
                    -self.overpass_jitter_h, self.overpass_jitter_h
                )
                utc_h = local_h - lon / 15.0
                when = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(hours=utc_h)
                out.append(when.replace(microsecond=0))
            day += timedelta(days=1)
        return out


# Sentinel-2A/2B: each satellite repeats every 10 days, both together every 5. North of about
# 41.5 N the swaths of adjacent relative orbits overlap enough that a port is seen every 2-3
# days (4 passes per 10-day cycle: Vostochny, Rajin, Chongjin); further south (Nampo, 38.7 N)
# only every 5 days. Dropped acquisitions stretch a gap now and then.
SENTINEL2 = Sensor(
    name="sentinel-2-l2a",
    gsd_m=10.0,
    bands=("B02", "B03", "B04", "B08", "B11"),
    psf_sigma_px=(0.55, 0.55, 0.55, 0.6, 1.1),
    noise_dn=(45.0, 40.0, 40.0, 50.0, 45.0),
    noise_rel=0.015,
    gain=(1.0, 1.0, 1.0, 1.0, 1.0),
    overpass_local_solar_h=10.5,
    overpass_jitter_h=0.1,
    cycle_days=10,
    cycle_offsets=(0, 3, 5, 8),
    drop_rate=0.03,
    partial_rate=0.12,
    description="Sentinel-2 L2A, 10 m (B11 20 m resampled), 2-5 day revisit, 10:30 overpass",
    dense_above_lat=41.5,
    sparse_offsets=(0, 5),
)

# A daily commercial constellation: 3 m, four bands, mid-morning overpass that varies.
COMMERCIAL3M = Sensor(
    name="commercial-3m",
    gsd_m=3.0,
    bands=("blue", "green", "red", "nir"),
    psf_sigma_px=(0.9, 0.9, 0.9, 0.95),
    noise_dn=(90.0, 80.0, 80.0, 90.0),
    noise_rel=0.03,
    gain=(1.04, 0.98, 1.02, 0.95),
    overpass_local_solar_h=10.8,
    overpass_jitter_h=0.7,
    cycle_days=1,
    cycle_offsets=(0,),
    drop_rate=0.08,
    partial_rate=0.05,
    description="daily commercial-style constellation, 3 m, blue/green/red/nir",
)

SENSORS = {s.name: s for s in (SENTINEL2, COMMERCIAL3M)}


def get_sensor(name: str) -> Sensor:
    try:
        return SENSORS[name]
    except KeyError:
        known = ", ".join(sorted(SENSORS))
        raise TankerWatchError(f"unknown sensor '{name}' (known: {known})") from None
