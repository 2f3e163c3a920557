"""Coverage: how likely a call was seen at all, and how many calls the images missed.

A call arriving at time a and staying d hours is seen when k >= 1 clear observations of its berth
fall inside [a, a + d] and the detector finds the vessel in at least one: P = 1 - (1 - r)^k.
Fine imagery (a daily 3 m sensor) can have its own recall r_f: with k coarse and k_f fine clear
images in the stay, P = 1 - (1 - r)^k (1 - r_f)^k_f.
Averaging over arrivals uniform in each month of the observed season and a log-normal dwell gives
p_seen per month, from the real clear-observation schedule. The dwell median and detector recall
are uncertain: they are fitted on the visits themselves with the configured ranges as priors
(``fit_coverage``, below), and p_seen is drawn from that posterior.

Missed calls: calls are taken to arrive at one rate over the season (Poisson process). Seen and
missed calls are then independent Poisson counts with means rate x T x p and rate x T x (1 - p);
the rate's posterior given all the calls seen is Gamma(n + 1/2, sum of T x p) (Jeffreys prior).
A month with no clear image is thus filled at the season's rate, with the season's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.estimate.params import CoverageParams


def month_key(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m")


def _month_start(key: str) -> datetime:
    y, m = map(int, key.split("-"))
    return datetime(y, m, 1, tzinfo=UTC)


def _next_month(key: str) -> str:
    y, m = map(int, key.split("-"))
    return f"{y + (m == 12)}-{m % 12 + 1:02d}"


@dataclass
class Schedule:
    """Per month of the season: hours of the season in it and k-counts over the dwell grid."""

    months: list[str]
    hours: np.ndarray  # (M,)
    dwell_grid_h: np.ndarray  # (D,)
    # (M, D, K, Kf): share of arrivals in month m whose stay of dwell d holds k coarse and
    # kf fine clear images
    k_frac: np.ndarray


def _counts(times: list[datetime], grid: np.ndarray, dwell: np.ndarray) -> np.ndarray:
    clear = np.sort(np.array([t.timestamp() / 3600 for t in times], dtype=float))
    lo = np.searchsorted(clear, grid, side="left")
    return np.searchsorted(clear, grid[:, None] + dwell[None, :], side="right") - lo[:, None]


def schedule(
    clear_times: list[datetime],
    start: datetime,
    end: datetime,
    params: CoverageParams,
    fine_times: list[datetime] = (),
) -> Schedule:
    """Tabulate, for hourly arrivals in [start, end), how many clear images each dwell covers:
    ``clear_times`` of imagery with the default recall, ``fine_times`` of fine imagery with
    ``detector_recall_fine``."""
    t0 = start.timestamp() / 3600
    t1 = end.timestamp() / 3600
    grid = np.arange(t0, t1, params.grid_h)
    dwell = np.geomspace(1.0, 24.0 * 30, 96)
    k = _counts(list(clear_times), grid, dwell)
    kf = _counts(list(fine_times), grid, dwell)
    kmax = int(k.max()) + 1 if k.size else 1
    kfmax = int(kf.max()) + 1 if kf.size else 1
    months: list[str] = []
    key = month_key(start)
    while _month_start(key) < end:
        months.append(key)
        key = _next_month(key)
    edges = np.array([_month_start(m).timestamp() / 3600 for m in months] + [np.inf])
    which = np.searchsorted(edges, grid, side="right") - 1
    k_frac = np.zeros((len(months), len(dwell), kmax, kfmax))
    hours = np.zeros(len(months))
    for mi in range(len(months)):
        sel = which == mi
        hours[mi] = sel.sum() * params.grid_h
        if not sel.any():
            continue
        joint = k[sel] * kfmax + kf[sel]  # one index for the (k, kf) pair
        for d in range(len(dwell)):
            tally = np.bincount(joint[:, d], minlength=kmax * kfmax)[: kmax * kfmax]
            k_frac[mi, d] = tally.reshape(kmax, kfmax) / sel.sum()
    return Schedule(months, hours, dwell, k_frac)


def _p_found(sched: Schedule, recall: np.ndarray, recall_fine: np.ndarray) -> np.ndarray:
    """(n, K, Kf): probability the detector finds the vessel in k coarse and kf fine images."""
    kk = np.arange(sched.k_frac.shape[2])
    kf = np.arange(sched.k_frac.shape[3])
    miss = (1.0 - recall[:, None, None]) ** kk[None, :, None]
    miss = miss * (1.0 - recall_fine[:, None, None]) ** kf[None, None, :]
    return 1.0 - miss


def p_seen_given(
    sched: Schedule, median_h, sigma_ln: float, recall, recall_fine=None
) -> np.ndarray:
    """(n, M): probability seen for each (dwell median, recall[, fine recall]) draw."""
    from scipy.stats import norm

    median_h = np.atleast_1d(np.asarray(median_h, dtype=float))
    recall = np.atleast_1d(np.asarray(recall, dtype=float))
    recall_fine = recall if recall_fine is None else np.atleast_1d(np.asarray(recall_fine, float))
    logd = np.log(sched.dwell_grid_h)
    edges = np.concatenate(
        [[-np.inf], (logd[1:] + logd[:-1]) / 2, [np.inf]]
    )  # bins around each grid dwell
    cdf = norm.cdf((edges[None, :] - np.log(median_h)[:, None]) / sigma_ln)
    w = np.diff(cdf, axis=1)  # (n, D)
    n = max(len(median_h), len(recall), len(recall_fine))
    found = _p_found(sched, np.broadcast_to(recall, n), np.broadcast_to(recall_fine, n))
    # (n, M) = sum_d sum_k sum_kf w[n,d] * k_frac[m,d,k,kf] * found[n,k,kf]
    w = np.broadcast_to(w, (n, w.shape[1]))
    m, d, a, b = sched.k_frac.shape
    # one matrix product over the (k, kf) pairs, then the dwell sum: much faster than einsum
    x = (sched.k_frac.reshape(m * d, a * b) @ found.reshape(n, a * b).T).reshape(m, d, n)
    return np.einsum("nd,mdn->nm", w, x)


def corrected_counts(
    observed: np.ndarray, hours: np.ndarray, p: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(n, M) draws of the true number of calls per month, given ``observed`` (M,) and p (n, M)."""
    exposure = (hours[None, :] * p).sum(axis=1)  # (n,)
    rate = rng.gamma(observed.sum() + 0.5, 1.0 / np.maximum(exposure, 1e-9))
    missed = rng.poisson(rate[:, None] * hours[None, :] * (1.0 - p))
    return observed[None, :] + missed


# --- self-calibration: dwell median and detector recall from the visits themselves (#13) -----
#
# A seen call is one stay [a, e] at a berth; every clear image of the berth inside the stay finds
# the vessel with the recall of its sensor (r, or r_f on fine imagery), independently; clear
# images outside the stay never do. A visit says: the first and last sightings F <= L (hits), x
# more hits among the clear images strictly between them, and none in the clear images of the
# stay before F or after L. Summing over the unknown ends (a <= F, e >= L; arrivals uniform, dwell
# log-normal with median m and dwell_sigma_ln) gives each visit's likelihood of (m, r, r_f); it is
# divided by the chance that a call is seen at all (the same schedule model as p_seen), since
# only seen calls become visits. Priors: the dwell median is spread over dwell_fit_range_h
# (log-uniform) with dwell_prior_weight of it on the configured dwell_median_h range; each recall
# is a Beta with the mean and spread of its configured range, worth at most recall_prior_n
# images. The posterior is a grid; its draws feed p_seen. Where the imagery holds few visits the
# posterior stays close to the (wide) prior and the corrected totals widen.

RECALL_GRID = np.linspace(0.025, 0.975, 20)
_MAX_SEGMENTS = 8  # clear images considered on either side of a visit
_MAX_REACH_H = 45 * 24.0  # a stay is not extended further than this beyond its sightings


@dataclass
class VisitBounds:
    """What one load visit says about its stay (hours since the epoch)."""

    berth: str
    first_h: float
    last_h: float
    n_obs: int


@dataclass
class CoverageFit:
    medians: np.ndarray  # (G,) dwell medians (h)
    recall: np.ndarray  # (R,) recall grid, coarse and fine alike
    post: np.ndarray  # (G, R, R) posterior over (median, recall, fine recall)
    n_visits: int
    images: tuple[int, int]  # clear images inside the visits' sightings (coarse, fine)
    prior_n: tuple[float, float]  # the recall priors' weight, in images (coarse, fine)

    def marginal(self, axis: int) -> np.ndarray:
        other = tuple(i for i in range(3) if i != axis)
        return self.post.sum(axis=other)

    def quantiles(self, axis: int, qs=(0.1, 0.5, 0.9)) -> list[float]:
        grid = self.medians if axis == 0 else self.recall
        cdf = np.cumsum(self.marginal(axis))
        return [float(grid[min(int(np.searchsorted(cdf, q)), len(grid) - 1)]) for q in qs]

    def draws(self, rng: np.random.Generator, n: int):
        """(median_h, recall, recall_fine): n draws, jittered within their grid cells."""
        flat = self.post.ravel()
        idx = rng.choice(flat.size, size=n, p=flat / flat.sum())
        g, i, k = np.unravel_index(idx, self.post.shape)
        step = np.log(self.medians[1] / self.medians[0]) if len(self.medians) > 1 else 0.0
        med = self.medians[g] * np.exp(rng.uniform(-step / 2, step / 2, n))
        half = (self.recall[1] - self.recall[0]) / 2
        r = np.clip(self.recall[i] + rng.uniform(-half, half, n), 1e-3, 0.999)
        rf = np.clip(self.recall[k] + rng.uniform(-half, half, n), 1e-3, 0.999)
        return med, r, rf


def _beta_prior(dist, max_n: float) -> tuple[np.ndarray, float]:
    """Log-density of a Beta with the mean and variance of ``dist`` on RECALL_GRID, its weight
    (a + b, in images) capped at ``max_n``."""
    from scipy.stats import beta

    lo, hi = dist.low, dist.high
    mean = (lo + hi) / 2
    var = max((hi - lo) ** 2 / 12, 1e-6)
    n = min(mean * (1 - mean) / var - 1, max_n)
    n = max(n, 0.5)
    return beta.logpdf(RECALL_GRID, mean * n, (1 - mean) * n), n


def _G(t: np.ndarray, mu: np.ndarray, s: float) -> np.ndarray:
    """Integral of the log-normal CDF from 0 to t (t broadcast against mu = log medians)."""
    from scipy.special import ndtr

    t = np.asarray(t, float)
    pos = t > 0
    lt = np.log(np.where(pos, t, 1.0))
    z = (lt - mu) / s
    val = t * ndtr(z) - np.exp(mu + s * s / 2) * ndtr(z - s)
    return np.where(pos, np.maximum(val, 0.0), 0.0)


def _ends_likelihood(
    v: VisitBounds,
    times: np.ndarray,
    fine: np.ndarray,
    lo_h: float,
    hi_h: float,
    mu: np.ndarray,
    s: float,
) -> np.ndarray:
    """(G, R, R): sum over the stay's unknown ends of dwell density x misses outside [F, L]."""
    rc = RECALL_GRID
    before = np.nonzero((times < v.first_h) & (times > lo_h))[0][::-1][:_MAX_SEGMENTS]
    after = np.nonzero((times > v.last_h) & (times < hi_h))[0][:_MAX_SEGMENTS]

    def segments(idx, start, limit):
        # segment j: the stay's end lies beyond j clear images (which it then holds, as misses)
        edges = [start] + [times[i] for i in idx] + [limit]
        mc = np.concatenate([[0], np.cumsum(~fine[idx])]) if len(idx) else np.zeros(1)
        mf = np.concatenate([[0], np.cumsum(fine[idx])]) if len(idx) else np.zeros(1)
        return np.array(edges[:-1]), np.array(edges[1:]), mc, mf

    a_near, a_far, amc, amf = segments(before, v.first_h, lo_h)
    e_near, e_far, emc, emf = segments(after, v.last_h, hi_h)
    # a in [a_far, a_near], e in [e_near, e_far]
    m = mu[None, None, :]
    a_lo, a_hi = a_far[:, None, None], a_near[:, None, None]
    e_lo, e_hi = e_near[None, :, None], e_far[None, :, None]
    box = _G(e_hi - a_lo, m, s) - _G(e_hi - a_hi, m, s) - _G(e_lo - a_lo, m, s)
    box = np.maximum(box + _G(e_lo - a_hi, m, s), 0.0)  # (Ja, Je, G)
    mc = amc[:, None] + emc[None, :]
    mf = amf[:, None] + emf[None, :]
    miss = (1 - rc[None, None, :, None]) ** mc[:, :, None, None]
    miss = miss * (1 - rc[None, None, None, :]) ** mf[:, :, None, None]  # (Ja, Je, R, R)
    return np.einsum("jlg,jlrk->grk", box, miss, optimize=True)


def _hits_likelihood(x: int, kc: int, kf: int) -> np.ndarray:
    """(R, R): probability of x hits among kc coarse and kf fine clear images."""
    from math import comb

    rc = RECALL_GRID
    out = np.zeros((len(rc), len(rc)))
    for j in range(max(0, x - kf), min(x, kc) + 1):
        pc = comb(kc, j) * rc**j * (1 - rc) ** (kc - j)
        pf = comb(kf, x - j) * rc ** (x - j) * (1 - rc) ** (kf - x + j)
        out += pc[:, None] * pf[None, :]
    return out


def fit_coverage(
    sched: Schedule,
    visits: list[VisitBounds],
    clear_by_berth: dict[str, tuple[np.ndarray, np.ndarray]],
    params: CoverageParams,
) -> CoverageFit:
    """Joint posterior of the dwell median and the detector recall(s) (see the comment above).

    ``clear_by_berth``: berth -> (clear image times in hours, sorted; True where fine imagery).
    """
    from scipy.stats import norm

    s = params.dwell_sigma_ln
    lo_fit, hi_fit = params.dwell_fit_range_h
    medians = np.geomspace(lo_fit, hi_fit, 48)
    mu = np.log(medians)
    # prior over the median: log-uniform over the fit range, dwell_prior_weight on the config's
    cfg = params.dwell_median_h
    in_cfg = (medians >= cfg.low) & (medians <= cfg.high)
    prior_m = np.full(len(medians), (1 - params.dwell_prior_weight) / len(medians))
    if in_cfg.any():
        prior_m[in_cfg] += params.dwell_prior_weight / in_cfg.sum()
    lp_c, n_c = _beta_prior(params.detector_recall, params.recall_prior_n)
    fine_dist = params.detector_recall_fine or params.detector_recall
    lp_f, n_f = _beta_prior(fine_dist, params.recall_prior_n)
    logpost = np.log(prior_m)[:, None, None] + lp_c[None, :, None] + lp_f[None, None, :]
    # the chance a call is seen, averaged over the season, for every grid point
    logd = np.log(sched.dwell_grid_h)
    edges = np.concatenate([[-np.inf], (logd[1:] + logd[:-1]) / 2, [np.inf]])
    w = np.diff(norm.cdf((edges[None, :] - mu[:, None]) / s), axis=1)  # (G, D)
    share = sched.hours / max(sched.hours.sum(), 1e-9)
    k_all = np.einsum("m,mdab->dab", share, sched.k_frac)
    rr = np.broadcast_to(RECALL_GRID[:, None], (len(RECALL_GRID),) * 2)
    found = _p_found(sched, rr.ravel(), rr.T.ravel())  # (R*R, A, B)
    d, a, b = k_all.shape
    p_seen = (w @ k_all.reshape(d, a * b)) @ found.reshape(-1, a * b).T
    p_seen = np.maximum(p_seen.reshape(len(medians), len(RECALL_GRID), len(RECALL_GRID)), 1e-12)
    n_img = [0, 0]
    by_berth: dict[str, list[VisitBounds]] = {}
    for v in visits:
        by_berth.setdefault(v.berth, []).append(v)
    for berth, vs in by_berth.items():
        times, fine = clear_by_berth.get(berth, (np.zeros(0), np.zeros(0, bool)))
        vs = sorted(vs, key=lambda x: x.first_h)
        for v in vs:
            # one vessel at a time at a berth position: another visit's sightings bound the
            # stay's ends (visits that overlap this one, side by side, do not)
            lo_h = max([w.last_h for w in vs if w.last_h < v.first_h], default=-np.inf)
            hi_h = min([w.first_h for w in vs if w.first_h > v.last_h], default=np.inf)
            lo_h = max(lo_h, v.first_h - _MAX_REACH_H)
            hi_h = min(hi_h, v.last_h + _MAX_REACH_H)
            ends = _ends_likelihood(v, times, fine, lo_h, hi_h, mu, s)
            inner = (times > v.first_h) & (times < v.last_h)
            kc, kf = int((inner & ~fine).sum()), int((inner & fine).sum())
            x = min(max(v.n_obs - (2 if v.last_h > v.first_h else 1), 0), kc + kf)
            hits = _hits_likelihood(x, kc, kf)
            for t in {v.first_h, v.last_h}:  # the sightings themselves: one hit each
                at = np.nonzero(np.abs(times - t) < 1e-3)[0]
                is_fine = bool(fine[at[0]]) if len(at) else False
                hits = hits * (RECALL_GRID[None, :] if is_fine else RECALL_GRID[:, None])
                n_img[int(is_fine)] += 1
            n_img[0] += kc
            n_img[1] += kf
            like = ends * hits[None, :, :] / p_seen
            logpost += params.fit_visit_weight * np.log(np.maximum(like, 1e-300))
    post = np.exp(logpost - logpost.max())
    return CoverageFit(
        medians, RECALL_GRID, post / post.sum(), len(visits), tuple(n_img), (n_c, n_f)
    )
