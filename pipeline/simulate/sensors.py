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


@dataclass(frozen=True)
class SarPass:
    """One relative orbit that images a port: its day in the repeat cycle, direction, local
    solar time of the pass and the incidence angle at the port (IW: 29-46 degrees)."""

    relative_orbit: int
    orbit_state: str  # "ascending" | "descending"
    cycle_day: int  # day offset within the repeat cycle
    incidence_deg: float


@dataclass(frozen=True)
class SarSensor(Sensor):
    """A C-band SAR in a sun-synchronous dawn-dusk orbit (Sentinel-1): passes by relative orbit
    instead of one overpass time; values are calibrated sigma0 (linear), not DN.

    ``passes`` are the relative orbits that see a port north of ``dense_above_lat``;
    ``sparse_passes`` those further south (adjacent tracks overlap less). A port's phase
    shifts the cycle days, so ports differ, as adjacent real tracks do."""

    passes: tuple[SarPass, ...] = ()
    sparse_passes: tuple[SarPass, ...] = ()
    # local solar time of the ascending / descending node (Sentinel-1: 18:00 / 06:00)
    ascending_local_h: float = 18.0
    descending_local_h: float = 6.0
    # looks and noise
    enl: float = 4.4  # equivalent number of looks of the product's pixels
    nesz_db: tuple[float, float] = (-25.0, -22.0)  # noise-equivalent sigma0, drawn per scene
    resolution_m: tuple[float, float] = (20.0, 22.0)  # range, azimuth
    heading_asc_deg: float = 347.0  # satellite track bearing at mid latitudes
    polarizations: tuple[str, ...] = ("VV", "VH")
    platform: str = "sentinel-1a"
    kind: str = "sar"

    def passes_at(self, lat: float) -> tuple[SarPass, ...]:
        if self.sparse_passes and lat < self.dense_above_lat:
            return self.sparse_passes
        return self.passes

    def pass_schedule(
        self,
        start: date,
        end: date,
        lon: float,
        rng: np.random.Generator,
        phase: int = 0,
        lat: float = 45.0,
    ) -> list[tuple[datetime, SarPass]]:
        """(UTC time, pass) of every acquisition over ``[start, end]`` at ``lon``, ``lat``."""
        passes = self.passes_at(lat)
        out = []
        day = start
        epoch = date(2024, 1, 1)
        while day <= end:
            k = ((day - epoch).days + phase) % self.cycle_days
            for p in passes:
                if p.cycle_day != k or rng.random() < self.drop_rate:
                    continue
                node = (
                    self.ascending_local_h
                    if p.orbit_state == "ascending"
                    else self.descending_local_h
                )
                local_h = node + rng.uniform(-self.overpass_jitter_h, self.overpass_jitter_h)
                utc_h = local_h - lon / 15.0
                when = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(hours=utc_h)
                out.append((when.replace(microsecond=0), p))
            day += timedelta(days=1)
        out.sort(key=lambda t: t[0])
        return out

    def acquisitions(self, start, end, lon, rng, phase=0, lat=45.0) -> list[datetime]:
        return [t for t, _ in self.pass_schedule(start, end, lon, rng, phase, lat)]


# Sentinel-1A alone (Sentinel-1B failed on 23 December 2021; Sentinel-1C, launched 5 December
# 2024, was not in service during a 2024 scenario): a 12-day repeat of 175 orbits. At 42-43 N
# adjacent tracks lie ~170 km apart and the IW swath is 250 km wide, so a port falls in about
# three relative orbits per cycle (here two descending at ~06:00 and one ascending at ~18:00
# local solar time) when the observation plan acquires them all: one image every 4 days on
# average, with gaps of 2-7 days; south of 41.5 N two per cycle (every 6 days). The relative
# orbit numbers are illustrative, not the real ones over these ports. With two satellites
# (S1A + S1B before 2022, S1A + S1C from 2025) every pass repeats 6 days later, halving the
# gaps (not simulated here). IW GRD high resolution: 20 x 22 m resolution on
# a 10 m pixel grid, ENL 4.4, NESZ specified <= -22 dB (measured about -23 to -25 dB).
SENTINEL1 = SarSensor(
    name="sentinel-1-grd",
    gsd_m=10.0,
    bands=("VV", "VH"),
    psf_sigma_px=(0.85, 0.93),  # 20 x 22 m resolution (FWHM ~ 2.35 sigma) on 10 m pixels
    noise_dn=(0.0, 0.0),
    noise_rel=0.0,
    gain=(1.0, 1.0),
    overpass_local_solar_h=6.0,
    overpass_jitter_h=0.05,
    cycle_days=12,
    cycle_offsets=(0, 5, 7),
    drop_rate=0.02,
    partial_rate=0.03,
    description=(
        "Sentinel-1A IW GRD-HR, VV+VH sigma0 (linear), 10 m pixels, 20 x 22 m resolution; "
        "12-day repeat, 3 relative orbits per cycle north of 41.5 N (2 south of it)"
    ),
    dense_above_lat=41.5,
    sparse_offsets=(0, 7),
    passes=(
        SarPass(61, "descending", 0, 38.5),
        SarPass(134, "ascending", 5, 33.0),
        SarPass(163, "descending", 7, 43.5),
    ),
    sparse_passes=(
        SarPass(61, "descending", 0, 36.0),
        SarPass(134, "ascending", 7, 41.0),
    ),
)

SENSORS = {s.name: s for s in (SENTINEL2, COMMERCIAL3M, SENTINEL1)}


def get_sensor(name: str) -> Sensor:
    try:
        return SENSORS[name]
    except KeyError:
        known = ", ".join(sorted(SENSORS))
        raise TankerWatchError(f"unknown sensor '{name}' (known: {known})") from None
