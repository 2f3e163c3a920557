"""Stays at berths read from AIS tracks: how long transmitting vessels stayed at a berth.

``track_stays(track, ports, radius_m, max_sog_kn)``: one vessel's stays, in order (a run of
consecutive slow reports within ``radius_m`` of one berth).

``berth_stays(positions, ports, roles, ...)``: the complete stays of every vessel in
``positions`` at the berths of the given roles. A stay counts only when the transponder was
heard shortly before the vessel arrived and shortly after it left (``edge_gap_h``) and never
fell silent for longer than ``max_gap_h`` while it lay there: a stay cut by the data's span, or by
a transponder switched on or off at the berth, would read short, and a vessel that left and came
back unheard would read as one long stay. The estimate takes these durations as direct
observations of the dwell (pipeline.estimate.coverage); what the images cannot tell apart when
each call is seen once (a few long calls or many short ones) the transponders measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class AisStay:
    mmsi: int
    port: str
    berth: str
    first: datetime
    last: datetime

    @property
    def hours(self) -> float:
        return (self.last - self.first).total_seconds() / 3600


def _berth_of_reports(track, ports, radius_m: float, max_sog_kn: float) -> list[tuple | None]:
    """(port, berth, role) of each report of ``track`` that is slow and near a berth, else None."""
    import shapely

    from pipeline.portcalls.ais import M_PER_DEG_LON

    lon = track["lon"].to_numpy(float)
    lat = track["lat"].to_numpy(float)
    sog = np.nan_to_num(track["sog"].to_numpy(float), nan=0.0)
    where: list[tuple | None] = [None] * len(track)
    if not len(track):
        return where
    slow = sog <= max_sog_kn
    pts = shapely.points(lon, lat)
    deg = radius_m / (M_PER_DEG_LON * math.cos(math.radians(float(lat[0]))))
    for port in ports:
        inside = shapely.contains_xy(port.aoi_shape, lon, lat) & slow
        if not inside.any():
            continue
        for b in port.berths:
            near = inside & shapely.dwithin(b.shape, pts, deg)
            for k in np.flatnonzero(near):
                if where[k] is None:
                    where[k] = (port.name, b.id, b.role)
    return where


def _runs(where: list[tuple | None]) -> list[tuple[tuple, int, int]]:
    """Runs of consecutive reports at one berth: (berth key, first index, last index)."""
    out: list[tuple[tuple, int, int]] = []
    for k, w in enumerate(where):
        if w is None:
            continue
        if out and out[-1][0] == w and out[-1][2] == k - 1:
            out[-1] = (w, out[-1][1], k)
        else:
            out.append((w, k, k))
    return out


def track_stays(track, ports, radius_m: float, max_sog_kn: float) -> list[tuple]:
    """One track's stays at berths: (port, berth, role, first time, last time), in order.

    ``track``: one vessel's reports (time, lat, lon, sog) sorted by time."""
    times = list(track["time"])
    where = _berth_of_reports(track, ports, radius_m, max_sog_kn)
    return [(*w, times[i], times[j]) for w, i, j in _runs(where)]


def berth_stays(
    positions,
    ports,
    roles: tuple[str, ...] = ("load",),
    radius_m: float = 300.0,
    max_sog_kn: float = 1.0,
    edge_gap_h: float = 2.0,
    max_gap_h: float = 6.0,
) -> list[AisStay]:
    """Complete stays at the berths of ``roles`` of every vessel in ``positions`` (mmsi, time,
    lat, lon, sog), sorted by arrival (see the module doc for what counts as complete)."""
    if positions is None or not len(positions):
        return []
    pos = positions.sort_values(["mmsi", "time"], kind="stable")
    edge = np.timedelta64(int(edge_gap_h * 3600), "s")
    gap = np.timedelta64(int(max_gap_h * 3600), "s")
    out: list[AisStay] = []
    for mmsi, track in pos.groupby("mmsi", sort=False):
        t = track["time"].to_numpy(dtype="datetime64[ns]")
        where = _berth_of_reports(track, ports, radius_m, max_sog_kn)
        for (port, berth, role), i, j in _runs(where):
            if role not in roles:
                continue
            heard_before = i > 0 and t[i] - t[i - 1] <= edge
            heard_after = j + 1 < len(t) and t[j + 1] - t[j] <= edge
            unbroken = j == i or bool((np.diff(t[i : j + 1]) <= gap).all())
            if heard_before and heard_after and unbroken and j > i:
                out.append(
                    AisStay(
                        int(mmsi),
                        port,
                        berth,
                        track["time"].iloc[i].to_pydatetime(),
                        track["time"].iloc[j].to_pydatetime(),
                    )
                )
    return sorted(out, key=lambda s: (s.first, s.mmsi))
