"""Vessel identification by size against the registry, and the length-to-deadweight relation.

Each visit's measured length and beam (with their 1-sigma errors from the detector's error model)
are compared with every registry row that has a length. Bayes' rule over "one of the sized rows"
(prior ``prior_in_registry`` shared equally) and "a tanker not in the registry" (prior the rest,
size uniform over ``length_range_m`` x ``beam_range_m``) gives each candidate a probability. Rows
with no length cannot be matched by size and are reported, not guessed; a row with a length but
no beam is matched on length alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from pipeline.config import Vessel
from pipeline.estimate.params import CapacityParams, IdentificationParams
from pipeline.portcalls.params import SizeError
from pipeline.records import Visit

UNIDENTIFIED = "unidentified"


@dataclass
class Candidate:
    name: str
    imo: str | None
    probability: float
    length_m: float | None
    beam_m: float | None
    dwt: float | None
    product: str | None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "imo": self.imo,
            "probability": round(self.probability, 4),
            "length_m": self.length_m,
            "beam_m": self.beam_m,
            "dwt": self.dwt,
        }


@dataclass
class Identification:
    candidates: list[Candidate]  # named candidates, most probable first (all, not truncated)
    p_unidentified: float
    threshold: float
    unmatchable: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        if self.candidates and self.candidates[0].probability >= self.threshold:
            return self.candidates[0]
        return None

    @property
    def name(self) -> str:
        return self.best.name if self.best else UNIDENTIFIED

    @property
    def probability(self) -> float:
        """Probability of what is reported: the named vessel, or 'not the best candidate'."""
        if self.best:
            return self.best.probability
        top = self.candidates[0].probability if self.candidates else 0.0
        return 1.0 - top

    def listed(self, k: int) -> list[dict]:
        rows = [c.to_dict() for c in self.candidates[:k]]
        rows.append({"name": UNIDENTIFIED, "probability": round(self.p_unidentified, 4)})
        return rows


def registry_digest(registry: list[Vessel]) -> str:
    text = "\n".join(v.model_dump_json() for v in registry)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def unmatchable_rows(registry: list[Vessel]) -> list[str]:
    """Registry vessels that have no length: they can never be identified by size."""
    return [v.name for v in registry if v.length_m is None]


def _norm_pdf(x: float, mu: float, sigma: float) -> float:
    z = (x - mu) / sigma
    return math.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))


def visit_sigmas(visit: Visit, err: SizeError) -> tuple[float, float]:
    """The visit's length/beam sigma (without one: the single-image error at the default GSD)."""
    sl = visit.length_sigma_m or err.length_sigma(err.default_gsd_m, visit.length_m)
    sb = visit.beam_sigma_m or err.beam_sigma(err.default_gsd_m, visit.beam_m)
    return sl, sb


def identify(
    visit: Visit,
    registry: list[Vessel],
    params: IdentificationParams,
    err: SizeError,
    prior_factor: dict[str, float] | None = None,
) -> Identification:
    """Bayes over the sized registry rows and "not in the registry" (module doc).

    ``prior_factor``: registry name -> factor on that vessel's prior (0: ruled out), from other
    evidence than size, e.g. a transponder that put the vessel elsewhere at the time
    (pipeline.estimate.ais.alibi_factors). The other candidates' priors are left as they are, so
    ruling a vessel out moves its share to every other outcome, "not in the registry" included.
    """
    sl, sb = visit_sigmas(visit, err)
    prior_factor = prior_factor or {}
    sized = [v for v in registry if v.length_m is not None]
    l_lo, l_hi = params.length_range_m
    b_lo, b_hi = params.beam_range_m
    bg_l = 1.0 / max(l_hi - l_lo, 1e-6)
    bg_b = 1.0 / max(b_hi - b_lo, 1e-6)
    if not sized:
        return Identification([], 1.0, params.threshold, unmatchable_rows(registry))
    prior_each = params.prior_in_registry / len(sized)
    weights = []
    for v in sized:
        lik = _norm_pdf(visit.length_m, v.length_m, sl)
        lik *= _norm_pdf(visit.beam_m, v.beam_m, sb) if v.beam_m is not None else bg_b
        weights.append(prior_each * prior_factor.get(v.name, 1.0) * lik)
    w_bg = (1.0 - params.prior_in_registry) * bg_l * bg_b
    total = sum(weights) + w_bg
    cands = [
        Candidate(
            name=v.name,
            imo=v.imo,
            probability=w / total,
            length_m=v.length_m,
            beam_m=v.beam_m,
            dwt=v.dwt,
            product=v.product,
        )
        for v, w in zip(sized, weights, strict=True)
    ]
    cands.sort(key=lambda c: (-c.probability, c.name))
    return Identification(cands, w_bg / total, params.threshold, unmatchable_rows(registry))


@dataclass
class DwtRelation:
    """dwt = a * length_m ** b with log-normal scatter sigma_ln; ``source`` says where from."""

    a: float
    b: float
    sigma_ln: float
    source: str

    def median_dwt(self, length_m: float) -> float:
        return self.a * max(length_m, 1.0) ** self.b


def dwt_relation(registry: list[Vessel], params: CapacityParams) -> DwtRelation:
    """The configured relation, or a log-log least-squares fit when the registry has enough rows."""
    import numpy as np

    rows = [(v.length_m, v.dwt) for v in registry if v.length_m and v.dwt]
    if len(rows) >= params.fit_registry_min_rows:
        x = np.log([r[0] for r in rows])
        y = np.log([r[1] for r in rows])
        b, log_a = np.polyfit(x, y, 1)
        resid = y - (log_a + b * x)
        sigma = float(np.sqrt(np.sum(resid**2) / max(len(rows) - 2, 1)))
        return DwtRelation(
            a=float(np.exp(log_a)),
            b=float(b),
            sigma_ln=max(sigma, 0.05),
            source=f"log-log least-squares fit on {len(rows)} registry rows with length and dwt",
        )
    return DwtRelation(params.a, params.b, params.sigma_ln, "configs/estimate capacity (a, b)")
