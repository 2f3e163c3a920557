"""Simulated AIS for a scenario's schedule: what the vessels' transponders would have reported.

Every berth call of the schedule gets reports while the hull lies at the berth (the same
position the renderer draws it at: the berth slot of the visit), plus its approach and
departure (an hour each, straight in from seaward at a few knots; reports inside the port AOI
are left out there, since the schedule, and so the images, have no hull under way). Who transmits:

- a scenario vessel is fitted and transmitting with probability ``transmit_share``; bystander
  cargo ships always are;
- a transmitting vessel turns its transponder off for a load call with probability
  ``dark_share``: from ``dark_before_h`` before arrival until ``dark_after_h`` after departure
  (the reported pattern of these deliveries);
- with probability ``spoof_share`` a load call is spoofed instead: the transponder stays on but
  reports a position ``spoof_offset_km`` out at sea for the same window.

Reports come every ``interval_moored_s`` at the berth and ``interval_underway_s`` under way
(each jittered, a share ``drop_share`` lost in reception), with ``noise_m`` of GNSS noise.
With ``interval_transit_s`` set, a transmitting vessel also reports at sea between its calls,
every ``interval_transit_s``: from the end of one call's departure track straight (in latitude
and longitude; no routing around land) at 8-11 kn to the start of the next call's approach,
then anchored there (speed 0) until the approach begins; not while it is dark or spoofing.
A tanker's reported draught (the ``Draft`` column) follows its hull (``pipeline.hull``: block
coefficient 0.74-0.82 and deadweight coefficient 0.62-0.75 drawn per vessel): in ballast (a
fifth to a third of its deadweight in ballast water) until its first departure, then laden with
the call's cargo after a load call and in ballast after a discharge, with 2-6 % of deadweight in
fuel and stores; the crew updates the reported value within three hours of a departure with
probability ``draught_update_share`` and otherwise leaves the old one (rounded to 0.1 m, as AIS
sends it). Cargo ships report none.
Written as a NOAA MarineCadastre CSV (``DIR/ais/ais.csv``), so ``tankerwatch ingest --source ais
--path DIR/ais`` reads it like a real file. The truth says per delivery whether the vessel's
transponder told where it was during its load call (``ais``) and its MMSI.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from pipeline.records import stable_id

KNOT_M_S = 0.514444
HEADER = [
    "MMSI",
    "BaseDateTime",
    "LAT",
    "LON",
    "SOG",
    "COG",
    "Heading",
    "VesselName",
    "IMO",
    "CallSign",
    "VesselType",
    "Length",
    "Width",
    "Draft",
]
CB_RANGE = (0.74, 0.82)  # block coefficient of a small product tanker
CD_RANGE = (0.62, 0.75)  # deadweight / full-load displacement
BALLAST_SHARE = (0.20, 0.35)  # ballast water, share of dwt, on a ballast leg
CONSUMABLES_SHARE = (0.02, 0.06)  # fuel, water and stores at departure, share of dwt


@dataclass
class AisTruth:
    mmsi: dict[str, int] = field(default_factory=dict)  # vessel name -> MMSI (transmitters)
    honest: dict[str, bool] = field(default_factory=dict)  # visit id -> transmitted truly
    mode: dict[str, str] = field(default_factory=dict)  # visit id -> on | off | spoofed | none
    rows: list[list] = field(default_factory=list)
    # vessel name -> [(time, draught m)]: when the reported draught took each value
    draught: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    # load visit id -> the draught it left with (true, whether reported or not)
    laden_draught: dict[str, float] = field(default_factory=dict)
    draught_updated: dict[str, bool] = field(default_factory=dict)  # visit id -> crew updated it


def mmsi_for(name: str, seed: int) -> int:
    """A stable MMSI for a vessel name (MID 273/445-like prefixes are not checked by anyone)."""
    return 273_000_000 + int(stable_id("mmsi", name, seed), 16) % 1_000_000


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(int(stable_id(*parts, length=16), 16))


def simulate_ais(spec, schedule, layouts: dict, seed: int) -> AisTruth:
    """AIS reports for ``schedule`` (pipeline.simulate.schedule.Schedule) at the ports of
    ``layouts`` (name -> Layout), under ``spec`` (the scenario's ``ais`` section)."""
    from pyproj import Transformer

    truth = AisTruth()
    names = sorted({v.vessel for v in schedule.visits})
    pick = _rng("ais-fitted", seed)
    fitted = {}
    for name in names:
        cargo = any(v.vessel == name and v.kind == "cargo" for v in schedule.visits)
        fitted[name] = cargo or pick.random() < spec.transmit_share
    used: set[int] = set()
    for name in names:
        if not fitted[name]:
            continue
        m = mmsi_for(name, seed)
        while m in used:
            m += 1
        used.add(m)
        truth.mmsi[name] = m
    to_lonlat = {
        p: Transformer.from_crs(lay.crs, "EPSG:4326", always_xy=True) for p, lay in layouts.items()
    }

    windows: dict[str, list[tuple[datetime, datetime, str, tuple]]] = {}
    for v in sorted(schedule.visits, key=lambda v: (v.arrived, v.id)):
        if v.port not in layouts:
            continue
        r = _rng("ais-call", seed, v.id)
        if not fitted[v.vessel]:
            truth.mode[v.id] = "none"
        elif v.role == "load" and r.random() < spec.dark_share:
            truth.mode[v.id] = "off"
        elif v.role == "load" and r.random() < spec.spoof_share:
            truth.mode[v.id] = "spoofed"
        else:
            truth.mode[v.id] = "on"
        truth.honest[v.id] = truth.mode[v.id] == "on"
        lay = layouts[v.port]
        x, y, axis = lay.berth(v.berth).slot(v.length_m, v.beam_m, v.along)
        heading = (axis + (180.0 if v.flip else 0.0)) % 360
        windows.setdefault(v.vessel, []).append(
            (v.arrived, v.departed, truth.mode[v.id], (v, x, y, heading))
        )

    for name, calls in windows.items():
        if name not in truth.mmsi:
            continue
        mmsi = truth.mmsi[name]
        if spec.interval_transit_s is not None:
            _transits(truth.rows, spec, seed, mmsi, calls, layouts, to_lonlat)
        for arrived, departed, mode, (v, x, y, heading) in calls:
            r = _rng("ais-reports", seed, v.id)
            tr = to_lonlat[v.port]
            if mode == "off":
                continue  # silent from a day before arrival until after departure: no reports
            # seaward: away from the port's land, roughly the berth's outward normal
            cx, cy = layouts[v.port].aoi.centroid.x, layouts[v.port].aoi.centroid.y
            out = np.array([x - cx, y - cy])
            out = out / (np.linalg.norm(out) or 1.0)
            if mode == "spoofed":
                off = spec.spoof_offset_km * 1000
                sx, sy = x + out[0] * off, y + out[1] * off
                start = arrived - timedelta(hours=spec.dark_before_h)
                end = departed + timedelta(hours=spec.dark_after_h)
                _reports(truth.rows, r, spec, mmsi, v, tr, start, end, sx, sy, heading, 0.3)
                continue
            approach = timedelta(hours=1)
            speed = 6.0  # knots on the approach
            run = speed * KNOT_M_S * approach.total_seconds()
            bx, by = x + out[0] * run, y + out[1] * run
            cog_in = math.degrees(math.atan2(-out[0], -out[1])) % 360
            _track(
                truth.rows,
                r,
                spec,
                mmsi,
                v,
                tr,
                arrived - approach,
                arrived,
                (bx, by),
                (x, y),
                speed,
                cog_in,
                layouts[v.port].aoi,
            )
            _reports(truth.rows, r, spec, mmsi, v, tr, arrived, departed, x, y, heading, 0.0)
            _track(
                truth.rows,
                r,
                spec,
                mmsi,
                v,
                tr,
                departed,
                departed + approach,
                (x, y),
                (bx, by),
                speed,
                (cog_in + 180) % 360,
                layouts[v.port].aoi,
            )
    _draughts(truth, spec, schedule, seed)
    truth.rows.sort(key=lambda row: (row[1], row[0]))
    return truth


def _draughts(truth: AisTruth, spec, schedule, seed: int) -> None:
    """The draught each tanker reports over the season (module doc), as a last column of its
    rows."""
    from pipeline.hull import draught_m

    cargo_of = {d.load_visit: d for d in schedule.deliveries}
    dwt_of = {d.vessel: d.dwt for d in schedule.deliveries}
    by_vessel: dict[str, list] = {}
    for v in sorted(schedule.visits, key=lambda v: (v.arrived, v.id)):
        if v.kind == "tanker" and v.vessel in dwt_of:
            by_vessel.setdefault(v.vessel, []).append(v)
    for name, calls in by_vessel.items():
        r = _rng("ais-draught", seed, name)
        hull = (calls[0].length_m, calls[0].beam_m, dwt_of[name])
        cb, cd = float(r.uniform(*CB_RANGE)), float(r.uniform(*CD_RANGE))

        def at(aboard_share: float, hull=hull, cb=cb, cd=cd) -> float:
            length, beam, dwt = hull
            return round(float(draught_m(length, beam, dwt, cb, cd, aboard_share * dwt)), 1)

        dwt = hull[2]
        ballast = float(r.uniform(*BALLAST_SHARE)) + float(r.uniform(*CONSUMABLES_SHARE))
        changes = [(calls[0].arrived - timedelta(days=365), at(ballast))]
        for v in calls:
            fuel = float(r.uniform(*CONSUMABLES_SHARE))
            d = cargo_of.get(v.id)
            if v.role == "load" and d is not None:
                now = at(d.loaded_t / dwt + fuel)
                truth.laden_draught[v.id] = now
            else:
                now = at(float(r.uniform(*BALLAST_SHARE)) + fuel)
            truth.draught_updated[v.id] = bool(r.random() < spec.draught_update_share)
            if truth.draught_updated[v.id]:
                changes.append((v.departed + timedelta(hours=float(r.uniform(0, 3))), now))
        truth.draught[name] = changes
    names = {m: n for n, m in truth.mmsi.items()}
    stamps = {
        n: [t.strftime("%Y-%m-%dT%H:%M:%S") for t, _ in changes]
        for n, changes in truth.draught.items()
    }
    for row in truth.rows:
        name = names.get(row[0], "")
        if name not in truth.draught:
            row.append("")
            continue
        k = bisect.bisect_right(stamps[name], row[1]) - 1
        row.append(f"{truth.draught[name][max(k, 0)][1]:.1f}")


def _row(spec, mmsi, v, when, lon, lat, sog, cog, heading) -> list:
    return [
        mmsi,
        when.strftime("%Y-%m-%dT%H:%M:%S"),
        f"{lat:.6f}",
        f"{lon:.6f}",
        f"{sog:.1f}",
        f"{cog:.1f}",
        f"{heading:.0f}",
        v.vessel.upper(),
        f"IMO{v.imo}" if v.imo else "",
        "",
        80 if v.kind == "tanker" else 70,
        f"{round(v.length_m):.0f}",
        f"{round(v.beam_m):.0f}",
    ]


def _times(r, start: datetime, end: datetime, interval_s: float) -> list[datetime]:
    out, t = [], start + timedelta(seconds=float(r.uniform(0, interval_s)))
    while t < end:
        out.append(t)
        t += timedelta(seconds=float(interval_s * r.uniform(0.7, 1.3)))
    return out


def _reports(rows, r, spec, mmsi, v, tr, start, end, x, y, heading, drift_kn) -> None:
    for t in _times(r, start, end, spec.interval_moored_s):
        if r.random() < spec.drop_share:
            continue
        lon, lat = tr.transform(x + r.normal(0, spec.noise_m), y + r.normal(0, spec.noise_m))
        rows.append(
            _row(
                spec,
                mmsi,
                v,
                t,
                lon,
                lat,
                abs(r.normal(0, 0.1)) + drift_kn,
                float(r.uniform(0, 360)),
                heading,
            )
        )


def _track(rows, r, spec, mmsi, v, tr, start, end, a, b, speed, cog, aoi) -> None:
    from shapely.geometry import Point

    span = (end - start).total_seconds()
    for t in _times(r, start, end, spec.interval_underway_s):
        if r.random() < spec.drop_share:
            continue
        f = (t - start).total_seconds() / span
        x = a[0] + f * (b[0] - a[0]) + r.normal(0, spec.noise_m)
        y = a[1] + f * (b[1] - a[1]) + r.normal(0, spec.noise_m)
        if aoi.contains(Point(x, y)):
            continue  # the images show no hull under way in the port (the schedule has none)
        lon, lat = tr.transform(x, y)
        rows.append(_row(spec, mmsi, v, t, lon, lat, speed + r.normal(0, 0.2), cog, cog))


def _out_point(v, x, y, layouts) -> tuple[float, float]:
    """Where a call's approach starts (and its departure track ends), in the port's CRS."""
    cx, cy = layouts[v.port].aoi.centroid.x, layouts[v.port].aoi.centroid.y
    out = np.array([x - cx, y - cy])
    out = out / (np.linalg.norm(out) or 1.0)
    run = 6.0 * KNOT_M_S * 3600.0
    return x + out[0] * run, y + out[1] * run


def _haversine_m(lon1, lat1, lon2, lat2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(min(a, 1.0)))


def _transits(rows, spec, seed, mmsi, calls, layouts, to_lonlat) -> None:
    """Reports at sea between consecutive calls of one vessel (module doc), leaving out the
    windows around its dark and spoofed calls."""
    quiet = [
        (a - timedelta(hours=spec.dark_before_h), d + timedelta(hours=spec.dark_after_h))
        for a, d, mode, _ in calls
        if mode in ("off", "spoofed")
    ]
    hour = timedelta(hours=1)
    for (_, dep, _, (va, xa, ya, _)), (arr, _, _, (vb, xb, yb, _)) in zip(
        calls, calls[1:], strict=False
    ):
        start, end = dep + hour, arr - hour
        if end <= start:
            continue
        r = _rng("ais-transit", seed, va.id, vb.id)
        lon_a, lat_a = to_lonlat[va.port].transform(*_out_point(va, xa, ya, layouts))
        lon_b, lat_b = to_lonlat[vb.port].transform(*_out_point(vb, xb, yb, layouts))
        dist = _haversine_m(lon_a, lat_a, lon_b, lat_b)
        span = (end - start).total_seconds()
        sail = min(dist / (float(r.uniform(8.0, 11.0)) * KNOT_M_S), span)
        sog = dist / sail / KNOT_M_S if sail > 0 else 0.0
        cog = math.degrees(math.atan2(lon_b - lon_a, lat_b - lat_a)) % 360  # rough, for SOG/COG
        for t in _times(r, start, end, spec.interval_transit_s):
            if r.random() < spec.drop_share or any(q0 <= t <= q1 for q0, q1 in quiet):
                continue
            f = min((t - start).total_seconds() / sail, 1.0) if sail > 0 else 1.0
            lon, lat = lon_a + f * (lon_b - lon_a), lat_a + f * (lat_b - lat_a)
            moving = f < 1.0
            rows.append(
                _row(
                    spec,
                    mmsi,
                    va,
                    t,
                    lon,
                    lat,
                    (sog + r.normal(0, 0.2)) if moving else abs(r.normal(0, 0.05)),
                    cog if moving else float(r.uniform(0, 360)),
                    cog,
                )
            )


def ais_csv(truth: AisTruth) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(truth.rows)
    return buf.getvalue()
