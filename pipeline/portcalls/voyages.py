"""Voyages: a loading visit linked to a later discharge visit by a same-sized vessel.

A load visit at a load port (default Vostochny) links to a discharge visit (berth role
``discharge``) at a port with a transit window when the hours from the last sighting at the load
berth to the first sighting at the discharge berth fall inside that window, the clear images
that bound the two visits do not force a longer passage (discharge berth seen empty long after
the load berth was), and the two sizes agree within the measured error. Each visit takes part
in at most one voyage (Hungarian assignment on the size disagreement); visits left unlinked stay
valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.portcalls.params import VoyageParams, load_portcall_params, load_voyage_params
from pipeline.records import Visit, stable_id


@dataclass
class Voyage:
    load_visit: str
    discharge_visit: str
    discharge_port: str
    transit_h: float
    size_z: float  # size disagreement in sigmas (0 = identical)
    id: str = ""

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
        }


def _sigma(v: Visit, default_l: float, default_b: float) -> tuple[float, float]:
    return (v.length_sigma_m or default_l, v.beam_sigma_m or default_b)


def link_voyages(visits: list[Visit], params=None) -> list[Voyage]:
    """Link load visits to discharge visits.

    ``params``: VoyageParams, or the full EstimateParams (its `voyages`, and the `portcalls`
    size error for visits without their own); default: the shipped configs/estimate file.
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
    if not loads or not dis:
        return []
    big = 1e9
    cost = np.full((len(loads), len(dis)), big)
    info = {}
    for i, a in enumerate(loads):
        sa = _sigma(a, dl, db)
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
            sb = _sigma(b, dl, db)
            zl = (a.length_m - b.length_m) / math.hypot(sa[0], sb[0])
            zb = (a.beam_m - b.beam_m) / math.hypot(sa[1], sb[1])
            z = math.hypot(zl, zb)  # joint size disagreement, in sigmas
            if z > p.gate_sigma:
                continue
            # prefer the size match, then the shorter wait inside the window
            cost[i, j] = z * z + (transit_h - w.min_h) / (w.max_h - w.min_h)
            info[(i, j)] = (transit_h, z)
    rows, cols = linear_sum_assignment(cost)
    out = []
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
