"""Voyages: a loading visit linked to a later discharge visit by a same-sized vessel.

A load visit at a load port (default Vostochny) links to a discharge visit (berth role
``discharge``) at a port with a transit window when the hours from the last sighting at the load
berth to the first sighting at the discharge berth fall inside that window, the clear images
that bound the two visits do not force a longer passage (discharge berth seen empty long after
the load berth was), and the two sizes agree within the measured error. Each visit takes part
in at most one voyage (Hungarian assignment on the size disagreement); visits left unlinked stay
valid.

With AIS (``link_voyages(..., ais=, positions=)``: the port-call stage's per-visit verdicts and
the fleet's AIS positions, handed in by the runner, never read from the ledger here), voyages
are first linked by the transponder, then the rest by size and time as above:

1. track: a load visit named by AIS (MMSI m) whose track, after the last sighting, next stays at
   a discharge berth (reports within ``berth_radius_m`` of a ``discharge`` berth of a port with
   a transit window, slower than ``moored_max_sog_kn``), within that port's window, and not at a
   load berth first. The discharge visit an image saw there during that stay is linked (one
   named by m, else any overlapping it); when no image saw it, the stay itself becomes the
   discharge visit (``Voyage.discharge``: a Visit with no evidence, ``vessel_key`` "ais:m",
   first/last seen the first/last report at the berth);
2. name: a load and a later discharge visit both named by the same MMSI, inside the window;
3. size and time for the rest, never across two different transponders, and never to a
   discharge visit named by a vessel whose transponder gave an alibi for the load visit (it
   was elsewhere while the loading hull was seen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pipeline.portcalls.ais_stays import track_stays
from pipeline.portcalls.params import VoyageParams, load_portcall_params, load_voyage_params
from pipeline.records import Visit, stable_id, utc

ALIBI_MIN_P = 0.5  # an AIS name at least this probable links voyages by itself


@dataclass
class Voyage:
    load_visit: str
    discharge_visit: str
    discharge_port: str
    transit_h: float
    size_z: float  # size disagreement in sigmas (0 = identical)
    id: str = ""
    source: str = "size"  # size (hull size and time) | ais-track | ais-name
    mmsi: int | None = None  # the transponder that linked it (ais-track, ais-name)
    discharge: Visit | None = None  # the discharge call seen only by AIS (no image saw it)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = stable_id(self.load_visit, self.discharge_visit)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "load_visit": self.load_visit,
            "discharge_visit": self.discharge_visit,
            "discharge_port": self.discharge_port,
            "transit_h": round(self.transit_h, 2),
            "size_z": round(self.size_z, 3),
            "source": self.source,
            "mmsi": self.mmsi,
        }


def _sigma(v: Visit, default_l: float, default_b: float) -> tuple[float, float]:
    return (v.length_sigma_m or default_l, v.beam_sigma_m or default_b)


def ais_discharge_visits(voyages: list[Voyage]) -> list[Visit]:
    """The discharge visits only AIS saw, carried by ``voyages`` (to keep beside the others)."""
    return [v.discharge for v in voyages if v.discharge is not None]


def link_voyages(
    visits: list[Visit],
    params=None,
    ais: dict | None = None,
    positions=None,
    ports=None,
    berth_radius_m: float = 300.0,
    moored_max_sog_kn: float = 1.0,
) -> list[Voyage]:
    """Link load visits to discharge visits.

    ``params``: VoyageParams, or the full EstimateParams (its `voyages`, and the `portcalls`
    size error for visits without their own); default: the shipped configs/estimate file.
    ``ais``: visit id -> ``pipeline.portcalls.ais.VisitAis``; ``positions``: AIS positions
    (mmsi, time, lat, lon, sog) of the fleet wherever it sailed; ``ports``: port configs (the
    windows' ports not given are loaded by name). Without ``ais`` only size and time link.
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    if params is None:
        p, err = load_voyage_params(), load_portcall_params().size_error
    elif isinstance(params, VoyageParams):
        p, err = params, None
    else:
        p, err = params.voyages, params.portcalls.size_error
    dl = err.length_sigma(err.default_gsd_m) if err else 10.0
    db = err.beam_sigma(err.default_gsd_m) if err else 5.0
    loads = sorted(
        (v for v in visits if v.role == "load" and v.port in p.load_ports),
        key=lambda v: (v.last_seen, v.id),
    )
    dis = sorted(
        (v for v in visits if v.role == "discharge" and v.port in p.windows),
        key=lambda v: (v.first_seen, v.id),
    )
    out: list[Voyage] = []
    if ais:
        out = _ais_voyages(
            loads, dis, p, ais, positions, ports, berth_radius_m, moored_max_sog_kn, dl, db
        )
        done = {v.load_visit for v in out} | {v.discharge_visit for v in out}
        loads = [v for v in loads if v.id not in done]
        dis = [v for v in dis if v.id not in done]
    if not loads or not dis:
        return sorted(out, key=lambda v: (v.load_visit, v.discharge_visit))
    big = 1e9
    cost = np.full((len(loads), len(dis)), big)
    info = {}
    for i, a in enumerate(loads):
        for j, b in enumerate(dis):
            w = p.windows[b.port]
            transit_h = (b.first_seen - a.last_seen).total_seconds() / 3600
            if not (w.min_h <= transit_h <= w.max_h):
                continue
            # evidence of absence: gone from the load berth by departed_before, not yet at the
            # discharge berth at arrived_after, so the passage took at least their difference
            if a.departed_before is not None and b.arrived_after is not None:
                least_h = (b.arrived_after - a.departed_before).total_seconds() / 3600
                if least_h > w.max_h:
                    continue
            if ais and not _may_link(ais.get(a.id), ais.get(b.id)):
                continue
            z = _size_z(a, b, dl, db)
            if z > p.gate_sigma:
                continue
            # prefer the size match, then the shorter wait inside the window
            cost[i, j] = z * z + (transit_h - w.min_h) / (w.max_h - w.min_h)
            info[(i, j)] = (transit_h, z)
    rows, cols = linear_sum_assignment(cost)
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] >= big:
            continue
        transit_h, z = info[(int(i), int(j))]
        out.append(
            Voyage(
                load_visit=loads[i].id,
                discharge_visit=dis[j].id,
                discharge_port=dis[j].port,
                transit_h=transit_h,
                size_z=z,
            )
        )
    out.sort(key=lambda v: (v.load_visit, v.discharge_visit))
    return out


def _size_z(a: Visit, b: Visit, dl: float, db: float) -> float:
    """Joint length and beam disagreement of two visits, in sigmas of the difference."""
    sa, sb = _sigma(a, dl, db), _sigma(b, dl, db)
    zl = (a.length_m - b.length_m) / math.hypot(sa[0], sb[0])
    zb = (a.beam_m - b.beam_m) / math.hypot(sa[1], sb[1])
    return math.hypot(zl, zb)


def _named(x, min_p: float = ALIBI_MIN_P) -> int | None:
    """The MMSI a VisitAis names at least this probably, else None."""
    if x is None or x.mmsi is None or x.probability < min_p:
        return None
    return int(x.mmsi)


def _may_link(a, b) -> bool:
    """Size may link these two visits' verdicts: not two different transponders, and not a
    discharge named by a vessel whose transponder put it elsewhere during the load."""
    ma, mb = _named(a), _named(b)
    if ma is not None and mb is not None:
        return ma == mb
    if mb is not None and a is not None:
        return all(al.mmsi != mb for al in a.alibis if not (al.suspect or al.edge))
    return True


def _ais_voyages(loads, dis, p, ais, positions, ports, radius, max_sog, dl, db) -> list[Voyage]:
    """Steps 1 and 2 of the module doc: voyages linked by the transponder."""
    import pandas as pd

    from pipeline.config import load_port

    have = {q.name: q for q in ports or []}
    for name in list(p.windows) + list(p.load_ports):
        if name not in have:
            have[name] = load_port(name)
    berth_ports = [have[n] for n in sorted(set(p.windows) | set(p.load_ports))]
    tracks = {}
    if positions is not None and len(positions):
        pos = positions.sort_values(["mmsi", "time"], kind="stable")
        tracks = {int(m): g for m, g in pos.groupby("mmsi", sort=False)}
    out: list[Voyage] = []
    used: set[str] = set()
    linked: dict[tuple, int] = {}  # (mmsi, port, berth, stay start) -> index in out
    loads_by_id = {a.id: a for a in loads}
    for a in loads:
        m = _named(ais.get(a.id))
        if m is None:
            continue
        horizon = max(w.max_h for w in p.windows.values())
        t_last = pd.Timestamp(utc(a.last_seen))
        link = None
        track = tracks.get(m)
        if track is not None:
            after = track[
                (track["time"] > t_last) & (track["time"] <= t_last + pd.Timedelta(hours=horizon))
            ]
            stays = track_stays(after, berth_ports, radius, max_sog) if len(after) else []
            # still at the load berth when the images last saw it: not the next stay
            if stays and stays[0][:2] == (a.port, a.berth) and stays[0][3] == after.time.iloc[0]:
                stays = stays[1:]
            if stays and stays[0][2] == "discharge" and stays[0][0] in p.windows:
                port, berth, _, t0, t1 = stays[0]
                h = (t0 - t_last).total_seconds() / 3600
                w = p.windows[port]
                if w.min_h <= h <= w.max_h:
                    link = (port, berth, t0, t1, h)
        if link is not None:
            port, berth, t0, t1, h = link
            key = (m, port, berth, t0)
            if key in linked:
                # the transponder's next discharge stay already closes a voyage: this is one
                # call seen as two load visits (a split); the later visit is the one that sailed
                i = linked[key]
                if a.last_seen > loads_by_id[out[i].load_visit].last_seen:
                    old = out[i]
                    b = next((x for x in dis if x.id == old.discharge_visit), None)
                    z = _size_z(a, b, dl, db) if b is not None else old.size_z
                    out[i] = replace(old, load_visit=a.id, transit_h=h, size_z=z, id="")
                continue
            linked[key] = len(out)
            slack = pd.Timedelta(hours=1)
            seen = [
                b
                for b in dis
                if b.id not in used
                and b.port == port
                and b.berth == berth
                and pd.Timestamp(utc(b.first_seen)) <= t1 + slack
                and pd.Timestamp(utc(b.last_seen)) >= t0 - slack
                and _named(ais.get(b.id)) in (None, m)
            ]
            seen.sort(key=lambda b: (_named(ais.get(b.id)) != m, b.first_seen, b.id))
            if seen:
                b = seen[0]
                used.add(b.id)
                out.append(
                    Voyage(a.id, b.id, port, h, _size_z(a, b, dl, db), source="ais-track", mmsi=m)
                )
            else:
                call = Visit(
                    port=port,
                    berth=berth,
                    vessel_key=f"ais:{m}",
                    first_seen=t0.to_pydatetime(),
                    last_seen=t1.to_pydatetime(),
                    arrived_after=None,
                    departed_before=None,
                    n_obs=0,
                    length_m=a.length_m,
                    beam_m=a.beam_m,
                    role="discharge",
                    length_sigma_m=a.length_sigma_m,
                    beam_sigma_m=a.beam_sigma_m,
                )
                out.append(
                    Voyage(a.id, call.id, port, h, 0.0, source="ais-track", mmsi=m, discharge=call)
                )
            continue
        # step 2: the next discharge visit named by the same transponder, inside its window
        for b in dis:
            if b.id in used or _named(ais.get(b.id)) != m or b.first_seen <= a.last_seen:
                continue
            h = (b.first_seen - a.last_seen).total_seconds() / 3600
            w = p.windows[b.port]
            if w.min_h <= h <= w.max_h:
                used.add(b.id)
                out.append(
                    Voyage(a.id, b.id, b.port, h, _size_z(a, b, dl, db), source="ais-name", mmsi=m)
                )
            break
    return out
