"""The truth timeline: load calls at the load berth, voyages to and unloading at the discharge
ports, waits at anchor when the berth is busy, and bystander cargo calls at `other` berths.

Invariants (tested): one vessel at a time per berth (plus a turnaround gap), every delivery has
its load visit and its discharge visit, and a vessel is never in two places at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import numpy as np

from pipeline.records import stable_id
from pipeline.simulate.fleet import FleetVessel
from pipeline.simulate.scenario import Scenario


@dataclass
class BerthVisit:
    id: str
    vessel: str
    imo: str | None
    port: str
    berth: str
    role: str  # load | discharge | other
    arrived: datetime
    departed: datetime
    kind: str  # tanker | cargo
    length_m: float
    beam_m: float
    deck: str
    freeboard_m: float
    super_height_m: float
    along: float  # -1..1 position along the berth
    flip: bool  # bow towards the other end of the berth

    def present(self, t: datetime) -> bool:
        return self.arrived <= t < self.departed


@dataclass
class Anchorage:
    """A vessel waiting at anchor off a port (berth busy)."""

    id: str
    vessel: str
    port: str
    start: datetime
    end: datetime


@dataclass
class DeliveryTruth:
    vessel: str
    imo: str | None
    load_port: str
    berth: str
    arrived: datetime
    departed: datetime
    discharge_port: str
    discharge_berth: str
    discharge_arrived: datetime
    discharge_departed: datetime
    product: str
    loaded_t: float
    loaded_bbl: float
    dwt: float
    loading_factor: float
    load_visit: str
    discharge_visit: str


@dataclass
class Schedule:
    visits: list[BerthVisit] = field(default_factory=list)
    deliveries: list[DeliveryTruth] = field(default_factory=list)
    anchorages: list[Anchorage] = field(default_factory=list)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(max(lo, 1e-3)), math.log(max(hi, 1e-3)))))


def _round_min(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def build_schedule(sc: Scenario, fleet: list[FleetVessel], seed: int) -> Schedule:
    from pipeline.simulate.truth import BBL_PER_T

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA11]))
    c = sc.calls
    start = datetime.combine(sc.start, time(0, 0), tzinfo=UTC)
    end = datetime.combine(sc.end, time(23, 59), tzinfo=UTC)
    period_h = (end - start).total_seconds() / 3600
    out = Schedule()
    if not fleet or c.n_load_calls == 0:
        return out
    # vessels start spread over their cycle: some just back home, some already on the way
    spread_d = min(20.0, period_h / 24 / 4)
    available = {v.name: start + timedelta(days=float(rng.uniform(0, spread_d))) for v in fleet}
    by_name = {v.name: v for v in fleet}
    berth_free = start
    disch_free = {d.port: start for d in sc.discharge}
    weights = np.array([d.weight for d in sc.discharge], dtype=float)
    weights /= weights.sum()
    products = list(c.products)
    pw = np.array([c.products[p] for p in products], dtype=float)
    pw /= pw.sum()
    n = c.n_load_calls
    spacing = period_h / n
    for k in range(n):
        target = start + timedelta(hours=(k + float(rng.uniform(0.1, 0.9))) * spacing)
        ready = [v for v in fleet if available[v.name] <= target]
        if ready:
            v = ready[int(rng.integers(0, len(ready)))]
        else:
            v = min(fleet, key=lambda x: (available[x.name], x.name))
        off_port = max(target, available[v.name])
        arrived = _round_min(max(off_port, berth_free + timedelta(hours=c.min_gap_h)))
        med = c.load_dwell_median_h
        dwell = float(
            np.clip(
                med * math.exp(rng.normal(0, c.load_dwell_sigma_ln)),
                c.load_dwell_h.min,
                c.load_dwell_h.max,
            )
        )
        departed = _round_min(arrived + timedelta(hours=dwell))
        if departed > end:
            break
        if (arrived - off_port).total_seconds() > 3600:
            out.anchorages.append(
                Anchorage(
                    stable_id("anchor", v.name, off_port), v.name, sc.load_port, off_port, arrived
                )
            )
        berth_free = departed
        load = _visit(v, sc.load_port, sc.load_berth, "load", arrived, departed, rng)
        out.visits.append(load)
        # voyage and discharge
        di = int(rng.choice(len(sc.discharge), p=weights))
        d = sc.discharge[di]
        speed = float(rng.uniform(c.speed_kn.min, c.speed_kn.max))
        transit = timedelta(hours=d.distance_nm / speed)
        d_arr = _round_min(
            max(departed + transit, disch_free[d.port] + timedelta(hours=c.min_gap_h))
        )
        d_dwell = _loguniform(rng, c.discharge_dwell_h.min, c.discharge_dwell_h.max)
        d_dep = _round_min(d_arr + timedelta(hours=d_dwell))
        disch_free[d.port] = d_dep
        dis = _visit(v, d.port, d.berth, "discharge", d_arr, d_dep, rng)
        out.visits.append(dis)
        lf = float(np.clip(rng.normal(c.loading_factor_mean, c.loading_factor_sd), 0.2, 0.99))
        product = str(products[int(rng.choice(len(products), p=pw))])
        loaded_t = round(v.dwt * lf, 1)
        out.deliveries.append(
            DeliveryTruth(
                vessel=v.name,
                imo=v.imo,
                load_port=sc.load_port,
                berth=sc.load_berth,
                arrived=arrived,
                departed=departed,
                discharge_port=d.port,
                discharge_berth=d.berth,
                discharge_arrived=d_arr,
                discharge_departed=d_dep,
                product=product,
                loaded_t=loaded_t,
                loaded_bbl=round(loaded_t * BBL_PER_T[product], 0),
                dwt=v.dwt,
                loading_factor=round(lf, 4),
                load_visit=load.id,
                discharge_visit=dis.id,
            )
        )
        idle = timedelta(days=float(rng.uniform(c.home_idle_d.min, c.home_idle_d.max)))
        back = timedelta(hours=d.distance_nm / float(rng.uniform(c.speed_kn.min, c.speed_kn.max)))
        available[v.name] = d_dep + idle + back
    del by_name
    if sc.bystanders.cargo_at_other_berths:
        out.visits.extend(_cargo_calls(sc, start, end, seed))
    out.visits.sort(key=lambda x: (x.port, x.berth, x.arrived))
    return out


def _visit(v: FleetVessel, port, berth, role, arrived, departed, rng) -> BerthVisit:
    return BerthVisit(
        id=stable_id("visit", port, berth, v.name, arrived.isoformat()),
        vessel=v.name,
        imo=v.imo,
        port=port,
        berth=berth,
        role=role,
        arrived=arrived,
        departed=departed,
        kind="tanker",
        length_m=v.length_m,
        beam_m=v.beam_m,
        deck=v.deck,
        freeboard_m=v.freeboard_m,
        super_height_m=v.super_height_m,
        along=float(rng.uniform(-0.8, 0.8)),
        flip=bool(rng.random() < 0.5),
    )


def _cargo_calls(sc: Scenario, start: datetime, end: datetime, seed: int) -> list[BerthVisit]:
    """Bystander cargo ships calling at every `other` berth of the scenario's ports."""
    from pipeline.config import load_port
    from pipeline.simulate.render import DECKS

    out = []
    b = sc.bystanders
    for port_name in sc.ports:
        port = load_port(port_name)
        for berth in port.berths:
            if berth.role != "other":
                continue
            rng = np.random.default_rng(
                int(stable_id("cargo", seed, port_name, berth.id), 16) % 2**63
            )
            # the berth's usable length limits the ships it takes
            from pipeline.simulate.layout import port_layout

            bg = port_layout(port).berth(berth.id)
            mrr = bg.polygon.minimum_rotated_rectangle
            xs, ys = mrr.exterior.coords.xy
            long_side = max(math.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]) for i in range(2))
            t = start - timedelta(hours=float(rng.uniform(0, b.cargo_dwell_h.max)))
            n = 0
            while t < end:
                dwell = _loguniform(rng, b.cargo_dwell_h.min, b.cargo_dwell_h.max)
                length = min(225.0, float(rng.uniform(0.35, 0.95)) * long_side)
                name = f"cargo-{port_name}-{berth.id}-{n:03d}"
                arr, dep = _round_min(t), _round_min(t + timedelta(hours=dwell))
                out.append(
                    BerthVisit(
                        id=stable_id("visit", port_name, berth.id, name, arr.isoformat()),
                        vessel=name,
                        imo=None,
                        port=port_name,
                        berth=berth.id,
                        role="other",
                        arrived=arr,
                        departed=dep,
                        kind="cargo",
                        length_m=round(length, 1),
                        beam_m=round(length / float(rng.uniform(6.0, 7.2)), 1),
                        deck=str(rng.choice(DECKS)),
                        freeboard_m=3.0 + length / 50,
                        super_height_m=10.0 + length / 20,
                        along=float(rng.uniform(-0.8, 0.8)),
                        flip=bool(rng.random() < 0.5),
                    )
                )
                n += 1
                gap = float(rng.uniform(b.cargo_gap_h.min, b.cargo_gap_h.max))
                t = dep + timedelta(hours=max(gap, sc.calls.min_gap_h))
    return out
