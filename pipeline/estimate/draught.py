"""The cargo a tanker left with, from the draught its transponder reported after leaving.

AIS message 5 carries a draught the crew sets by hand. A load call whose vessel is named by its
transponder, and whose reported draught rose by at least ``min_rise_m`` between its arrival and
``window_h`` after the visit's end, was updated by the crew: the first such deeper value is the
draught it left with. ``cargo_draws`` reads it into tonnes with the hull's displacement
(pipeline.hull: the AIS length and width, the block and deadweight coefficients and the fuel
and stores drawn from their configured ranges, the deadweight as the barrels' Monte Carlo draws
it). A value left unchanged says nothing (a stale report is the common case) and is not read.

The calls so measured also tell how full this season's tankers load: the loading factor of the
calls without a draught has a part common to every call (``volume.loading_correlation``), and
``loading_posterior`` updates that common part on the measured calls' implied loading factors
(cargo over deadweight x cargo share), on a grid, instead of leaving it at the prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from pipeline.estimate.params import Distribution, DraughtParams
from pipeline.estimate.volume import from_uniform
from pipeline.hull import cargo_t

TAU_MIN = 0.02  # calls' own loading spread at least this (a fixed loading factor has none)


@dataclass(frozen=True)
class DepartureDraught:
    visit_id: str
    mmsi: int
    draught_m: float  # reported after leaving the berth
    before_m: float  # reported when the visit began
    reported_at: datetime
    length_m: float  # the transponder's static length and width
    beam_m: float


def departure_draughts(
    loads, identities: dict, draughts: pd.DataFrame, static: pd.DataFrame, p: DraughtParams
) -> dict[str, DepartureDraught]:
    """visit id -> its departure draught, for the load visits named by AIS (``identities``:
    visit id -> VisitAis) whose vessel reported one (``draughts``: mmsi, time, draught_m change
    points; ``static``: mmsi, length_m, width_m)."""
    from pipeline.estimate.ais import named_by_ais

    if draughts is None or draughts.empty:
        return {}
    dims = {
        int(r.mmsi): (r.length_m, r.width_m)
        for r in static.itertuples(index=False)
        if pd.notna(r.length_m) and pd.notna(r.width_m)
    }
    by_mmsi = {int(m): g.sort_values("time") for m, g in draughts.groupby("mmsi")}
    out = {}
    for v in loads:
        ais = identities.get(v.id)
        if not named_by_ais(ais) or ais.mmsi is None:
            continue
        mine, hull = by_mmsi.get(int(ais.mmsi)), dims.get(int(ais.mmsi))
        if mine is None or hull is None:
            continue
        begun = pd.Timestamp(v.first_seen)
        end = v.last_seen if v.departed_before is None else v.departed_before
        until = pd.Timestamp(end) + pd.Timedelta(hours=p.window_h)
        before = mine[mine["time"] <= begun]
        if before.empty:
            continue  # what it reported on arrival is unknown: a rise cannot be told
        ref = float(before["draught_m"].iloc[-1])
        later = mine[(mine["time"] > begun) & (mine["time"] <= until)]
        risen = later[later["draught_m"] >= ref + p.min_rise_m]
        if risen.empty:
            continue
        first = risen.iloc[0]
        out[v.id] = DepartureDraught(
            v.id,
            int(ais.mmsi),
            float(first["draught_m"]),
            ref,
            first["time"].to_pydatetime(),
            float(hull[0]),
            float(hull[1]),
        )
    return out


def cargo_draws(
    dd: DepartureDraught, dwt: np.ndarray, p: DraughtParams, rng: np.random.Generator
) -> np.ndarray:
    """Draws of the cargo (tonnes) a hull of deadweight ``dwt`` (one per draw) left with,
    between nothing and its deadweight."""
    n = len(dwt)
    cb = from_uniform(p.block_coefficient, rng.random(n))
    cd = from_uniform(p.deadweight_coefficient, rng.random(n))
    fuel = from_uniform(p.consumables_share, rng.random(n))
    t = dd.draught_m + p.sigma_m * rng.standard_normal(n)
    cargo = cargo_t(dd.length_m, dd.beam_m, t, dwt, cb, cd, fuel)
    return np.clip(cargo, 0.0, dwt)


def loading_posterior(
    implied: list[np.ndarray],
    dist: Distribution,
    rho: float,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict]:
    """``n`` draws of the common standard-normal part of the loading factor, given the measured
    calls' ``implied`` loading factors (draws each), and a summary for the notes.

    A call's loading factor is ``dist``'s quantile at Phi(sqrt(rho) z + sqrt(1 - rho) e): z common,
    e its own. On a grid of z, the season's typical loading m(z) (e = 0) and the calls' spread
    around it tau(z) follow; a measured call's likelihood of z is the mean, over its draws f, of
    the normal density of f around m(z) with sd tau(z) (a smooth stand-in for the call's own
    spread, so a draw just outside ``dist``'s range still speaks for the edge near it instead
    of for nothing). Without measured calls: the standard normal prior."""
    from scipy.stats import norm

    if not implied:
        return rng.standard_normal(n), {}
    rho = min(max(rho, 1e-3), 1.0)
    grid = np.linspace(-4.0, 4.0, 321)
    e = norm.ppf((np.arange(41) + 0.5) / 41)  # the calls' own part, at its quantiles
    x = math.sqrt(rho) * grid[:, None] + math.sqrt(1.0 - rho) * e[None, :]
    spread = from_uniform(dist, norm.cdf(x))
    typical = from_uniform(dist, norm.cdf(math.sqrt(rho) * grid))
    tau = np.maximum(spread.std(axis=1), TAU_MIN)
    logpost = norm.logpdf(grid)
    for f in implied:
        f = np.asarray(f, dtype=float)
        dens = norm.pdf((f[None, :] - typical[:, None]) / tau[:, None]) / tau[:, None]
        logpost += np.log(np.maximum(dens.mean(axis=1), 1e-300))
    w = np.exp(logpost - logpost.max())
    w /= w.sum()
    step = grid[1] - grid[0]
    z = rng.choice(grid, size=n, p=w) + step * (rng.random(n) - 0.5)
    loads = from_uniform(dist, norm.cdf(math.sqrt(rho) * z))
    summary = {
        "calls": len(implied),
        "implied_p50": float(np.median([np.median(f) for f in implied])),
        "common_p10": float(np.quantile(loads, 0.1)),
        "common_p50": float(np.quantile(loads, 0.5)),
        "common_p90": float(np.quantile(loads, 0.9)),
    }
    return z, summary
