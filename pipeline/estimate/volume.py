"""Barrels per call: deadweight -> cargo tonnes -> barrels, with scenarios and a Monte Carlo.

cargo tonnes = dwt x cargo share x loading factor; barrels = tonnes x barrels per tonne of the
product. The published scenarios (UN Panel of Experts / US submission to the 1718 Committee) apply
1/3, 1/2 and 90 % to the point capacity. The Monte Carlo draws the vessel (from the identification
candidates, "unidentified" included), its deadweight (registry, or the length relation with its
scatter), the cargo share, the loading factor (partly common to every call) and the product; a
call whose departure draught its transponder reported takes its cargo from that draught instead
(pipeline.estimate.draught).
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.estimate.params import Distribution, VolumeParams
from pipeline.estimate.registry import DwtRelation, Identification


def published_scenarios(capacities_bbl, scenarios: dict[str, float]) -> dict[str, float]:
    """The published method: each scenario's share of the summed listed capacities (barrels)."""
    total = float(sum(capacities_bbl))
    return {k: total * f for k, f in scenarios.items()}


def point(dist: Distribution) -> float:
    if dist.dist == "fixed":
        return dist.low
    if dist.dist == "triangular":
        return (dist.low + dist.high + dist.mode) / 3
    return (dist.low + dist.high) / 2


def from_uniform(dist: Distribution, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of ``dist`` at uniforms ``u`` (so correlated uniforms give correlated draws)."""
    lo, hi = dist.low, dist.high
    if dist.dist == "fixed" or hi == lo:
        return np.full_like(u, lo, dtype=float)
    if dist.dist == "uniform":
        return lo + (hi - lo) * u
    c = (dist.mode - lo) / (hi - lo)
    return np.where(
        u < c,
        lo + np.sqrt(u * (hi - lo) * (dist.mode - lo)),
        hi - np.sqrt((1 - u) * (hi - lo) * (hi - dist.mode)),
    )


def product_class_of(product: str | None, params: VolumeParams) -> str:
    """'refined' / 'crude' / 'unknown' for a berth or registry product label."""
    if not product:
        return "unknown"
    if product in params.product_mix:
        return product
    if product in params.products:
        return params.products[product].product_class
    return "unknown"


def mix_bbl_per_t(product_class: str, params: VolumeParams) -> float:
    mix = params.product_mix.get(product_class) or params.product_mix["unknown"]
    return sum(share * params.products[p].bbl_per_t for p, share in mix.items())


def reported_class(product_class: str, params: VolumeParams) -> str:
    """Class used against the caps: an unknown product counts as refined (the stricter cap)."""
    if product_class in ("refined", "crude"):
        return product_class
    mix = params.product_mix.get(product_class) or params.product_mix["unknown"]
    crude = sum(s for p, s in mix.items() if params.products[p].product_class == "crude")
    return "crude" if crude > 0.5 else "refined"


def point_capacity_bbl(
    ident: Identification,
    length_m: float,
    relation: DwtRelation,
    product_class: str,
    params: VolumeParams,
) -> tuple[float, str]:
    """Capacity in barrels for the scenarios, and a note on where the deadweight came from."""
    best = ident.best
    if best is not None and best.dwt:
        dwt, note = best.dwt, f"dwt {best.dwt:.0f} from the registry ({best.name})"
    elif best is not None and best.length_m:
        dwt = relation.median_dwt(best.length_m)
        note = f"dwt {dwt:.0f} from the length relation at {best.name}'s registry length"
    else:
        dwt = relation.median_dwt(length_m)
        note = f"dwt {dwt:.0f} from the length relation at the measured {length_m:.0f} m"
    cap = dwt * point(params.cargo_share) * mix_bbl_per_t(product_class, params)
    return cap, note


def barrel_draws(
    ident: Identification,
    length_m: float,
    length_sigma_m: float,
    relation: DwtRelation,
    product_class: str,
    params: VolumeParams,
    rng: np.random.Generator,
    common_z: np.ndarray,
    draught=None,
) -> np.ndarray:
    """``len(common_z)`` Monte Carlo draws of one call's barrels.

    ``common_z``: standard-normal draws shared by every call (the common part of the loading
    factor, weight ``loading_correlation``). ``draught``: the call's departure draught
    (pipeline.estimate.draught.DepartureDraught), read into its cargo in place of deadweight x
    cargo share x loading factor where ``params.draught`` is set.
    """
    n = len(common_z)
    dwt = dwt_draws(ident, length_m, length_sigma_m, relation, rng, n)
    share = from_uniform(params.cargo_share, rng.random(n))
    rho = params.loading_correlation
    z = math.sqrt(rho) * common_z + math.sqrt(1 - rho) * rng.standard_normal(n)
    from scipy.special import ndtr

    load = from_uniform(params.loading_factor, ndtr(z))
    mix = params.product_mix.get(product_class) or params.product_mix["unknown"]
    prods = list(mix)
    bpt = np.array([params.products[p].bbl_per_t for p in prods])
    prod_pick = rng.choice(len(prods), size=n, p=np.array([mix[p] for p in prods]))
    if draught is not None and params.draught is not None:
        from pipeline.estimate.draught import cargo_draws

        return cargo_draws(draught, dwt, params.draught, rng) * bpt[prod_pick]
    return dwt * share * load * bpt[prod_pick]


def dwt_draws(
    ident: Identification,
    length_m: float,
    length_sigma_m: float,
    relation: DwtRelation,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Draws of the call's deadweight: the vessel drawn from the identification's candidates
    ("unidentified" included), its registry dwt or the length relation with its scatter."""
    names = ident.candidates
    probs = np.array([c.probability for c in names] + [ident.p_unidentified], dtype=float)
    probs = probs / probs.sum()
    pick = rng.choice(len(probs), size=n, p=probs)
    scatter = np.exp(relation.sigma_ln * rng.standard_normal(n))
    true_len = np.clip(length_m + length_sigma_m * rng.standard_normal(n), 5.0, None)
    dwt = relation.a * true_len**relation.b * scatter  # unidentified: from the measured length
    for k, c in enumerate(names):
        sel = pick == k
        if not sel.any():
            continue
        if c.dwt:
            dwt[sel] = c.dwt
        elif c.length_m:
            dwt[sel] = relation.a * c.length_m**relation.b * scatter[sel]
    return dwt


def implied_loading(
    ident: Identification,
    length_m: float,
    length_sigma_m: float,
    relation: DwtRelation,
    params: VolumeParams,
    rng: np.random.Generator,
    draught,
    n: int,
) -> np.ndarray:
    """Draws of the loading factor a call measured by its departure draught implies: its cargo
    over deadweight x cargo share (the quantity ``loading_factor`` describes)."""
    from pipeline.estimate.draught import cargo_draws

    dwt = dwt_draws(ident, length_m, length_sigma_m, relation, rng, n)
    share = from_uniform(params.cargo_share, rng.random(n))
    return cargo_draws(draught, dwt, params.draught, rng) / (dwt * share)
