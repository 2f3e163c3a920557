"""Coverage: how likely a call was seen at all, and how many calls the images missed.

A call arriving at time a and staying d hours is seen when k >= 1 clear observations of its berth
fall inside [a, a + d] and the detector finds the vessel in at least one. Each sensor s has its
own recall r_s (portcalls.detector_recall, by sensor name): with k_s clear images of sensor s in
the stay, P = 1 - prod_s (1 - r_s)^k_s.
Averaging over arrivals uniform in each month of the observed season and a log-normal dwell gives
p_seen per month, from the real clear-observation schedule. The dwell median and detector recalls
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
from pipeline.portcalls.params import DEFAULT_SENSOR, RecallPrior


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
    """Per month of the season: hours of the season in it and, over the dwell grid, how many
    clear images of each sensor a stay holds."""

    months: list[str]
    hours: np.ndarray  # (M,)
    dwell_grid_h: np.ndarray  # (D,)
    sensors: list[str]  # (S,) sensor names, sorted
    kvec: np.ndarray  # (U, S): the distinct per-sensor counts of clear images in a stay
    # (M, D, U): share of arrivals in month m whose stay of dwell d holds kvec[u] clear images
    k_frac: np.ndarray


def _counts(times: list[datetime], grid: np.ndarray, dwell: np.ndarray) -> np.ndarray:
    clear = np.sort(np.array([t.timestamp() / 3600 for t in times], dtype=float))
    lo = np.searchsorted(clear, grid, side="left")
    return np.searchsorted(clear, grid[:, None] + dwell[None, :], side="right") - lo[:, None]


def schedule(
    clear_times: dict[str, list[datetime]] | list[datetime],
    start: datetime,
    end: datetime,
    params: CoverageParams,
) -> Schedule:
    """Tabulate, for hourly arrivals in [start, end), how many clear images of each sensor each
    dwell covers. ``clear_times``: sensor name -> clear image times (a plain list: one sensor,
    named DEFAULT_SENSOR)."""
    if not isinstance(clear_times, dict):
        clear_times = {DEFAULT_SENSOR: list(clear_times)}
    sensors = sorted(clear_times)
    t0 = start.timestamp() / 3600
    t1 = end.timestamp() / 3600
    # arrivals at the middle of each grid step (midpoint rule): at the steps' starts, a stay of
    # d hours would hold an image taken on a step boundary for d / grid_h + 1 arrivals, not
    # d / grid_h, which overstated p_seen of short stays when images fall on the hour
    grid = np.arange(t0, t1, params.grid_h) + params.grid_h / 2
    dwell = np.geomspace(1.0, 24.0 * 30, 96)
    counts = [_counts(list(clear_times[x]), grid, dwell) for x in sensors]  # S x (A, D)
    # one integer code per count vector (mixed radix), then its distinct values
    code = np.zeros((len(grid), len(dwell)), dtype=np.int64)
    radix = 1
    for k in counts:
        code += k.astype(np.int64) * radix
        radix *= int(k.max()) + 1 if k.size else 1
    uniq, inv = np.unique(code.ravel(), return_inverse=True)
    inv = inv.reshape(code.shape)
    kvec = np.zeros((len(uniq), len(sensors)), dtype=np.int64)
    rest = uniq.copy()
    for j, k in enumerate(counts):
        base = int(k.max()) + 1 if k.size else 1
        kvec[:, j] = rest % base
        rest //= base
    months: list[str] = []
    key = month_key(start)
    while _month_start(key) < end:
        months.append(key)
        key = _next_month(key)
    edges = np.array([_month_start(m).timestamp() / 3600 for m in months] + [np.inf])
    which = np.searchsorted(edges, grid, side="right") - 1
    n_u = len(uniq)
    k_frac = np.zeros((len(months), len(dwell), n_u))
    hours = np.zeros(len(months))
    d_idx = np.arange(len(dwell))[None, :]
    for mi in range(len(months)):
        sel = which == mi
        hours[mi] = sel.sum() * params.grid_h
        if not sel.any():
            continue
        flat = (d_idx * n_u + inv[sel]).ravel()
        tally = np.bincount(flat, minlength=len(dwell) * n_u)
        k_frac[mi] = tally.reshape(len(dwell), n_u) / sel.sum()
    return Schedule(months, hours, dwell, sensors, kvec, k_frac)


def _p_found(kvec: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """(n, U): probability the detector finds the vessel in the kvec[u] clear images, for each
    of n recall vectors (n, S)."""
    log_miss = np.log(np.clip(1.0 - recall, 1e-12, 1.0))  # (n, S)
    return 1.0 - np.exp(log_miss @ kvec.T.astype(float))


def recall_matrix(sched: Schedule, recall, n: int | None = None) -> np.ndarray:
    """(n, S) recalls from a scalar (every sensor), a mapping sensor -> value(s), or an array."""
    if isinstance(recall, dict):
        cols = [np.atleast_1d(np.asarray(recall[x], float)) for x in sched.sensors]
        n = n or max([len(c) for c in cols], default=1)
        return np.stack([np.broadcast_to(c, n) for c in cols], axis=1).reshape(n, -1)
    arr = np.asarray(recall, float)
    if arr.ndim == 2:
        return arr
    arr = np.atleast_1d(arr)
    n = n or len(arr)
    return np.broadcast_to(arr[:, None], (n, len(sched.sensors)))


def p_seen_given(sched: Schedule, median_h, sigma_ln: float, recall) -> np.ndarray:
    """(n, M): probability seen for each (dwell median, recalls) draw. ``recall``: a scalar or
    (n,) array (every sensor alike), a mapping sensor -> value or (n,) array, or (n, S)."""
    from scipy.stats import norm

    median_h = np.atleast_1d(np.asarray(median_h, dtype=float))
    rec = recall_matrix(sched, recall)
    n = max(len(median_h), len(rec))
    rec = np.broadcast_to(rec, (n, rec.shape[1]))
    logd = np.log(sched.dwell_grid_h)
    edges = np.concatenate(
        [[-np.inf], (logd[1:] + logd[:-1]) / 2, [np.inf]]
    )  # bins around each grid dwell
    cdf = norm.cdf((edges[None, :] - np.log(median_h)[:, None]) / sigma_ln)
    w = np.broadcast_to(np.diff(cdf, axis=1), (n, len(logd)))  # (n, D)
    found = _p_found(sched.kvec, rec)  # (n, U)
    m, d, u = sched.k_frac.shape
    # one matrix product over the count vectors, then the dwell sum
    x = (sched.k_frac.reshape(m * d, u) @ found.T).reshape(m, d, n)
    return np.einsum("nd,mdn->nm", w, x)


def corrected_counts(
    observed: np.ndarray,
    hours: np.ndarray,
    p: np.ndarray,
    rng: np.random.Generator,
    max_rate: np.ndarray | None = None,
) -> np.ndarray:
    """(n, M) draws of the true number of calls per month, given ``observed`` (M,) or one row
    per draw (n, M), and p (n, M).

    max_rate: optional (n,) calls per hour the berths can hold at most (``back_to_back_rate``); a
    season the images barely cover (exposure near 0) otherwise draws an unbounded rate."""
    observed = np.broadcast_to(np.asarray(observed, dtype=float), p.shape)
    exposure = (hours[None, :] * p).sum(axis=1)  # (n,)
    rate = rng.gamma(observed.sum(axis=1) + 0.5, 1.0 / np.maximum(exposure, 1e-9))
    if max_rate is not None:
        rate = np.minimum(rate, max_rate)
    missed = rng.poisson(rate[:, None] * hours[None, :] * (1.0 - p))
    return observed + missed


def changeover_probability(
    gap_h: np.ndarray,
    median_h: np.ndarray,
    sigma_ln: float,
    utilisation: np.ndarray,
    nodes: int = 24,
) -> np.ndarray:
    """(n, G): probability that a hull at the berth at t and a hull there at t + gap_h are two
    calls, per draw of the dwell median and the berth's utilisation u (share of the time a hull
    is there), when nothing seen between says which (no clear image, sizes alike: what
    port-call building joins into one visit).

    The stay present at t ends after its residual life R, whose survival under a log-normal
    dwell D of mean B is P(R > g) = E[(D - g)+] / B, its density P(D > r) / B (a stationary
    renewal process). A berth left empty is taken again as a two-state berth is: busy spells of
    the dwell, idle spells making up the use (calls arriving at random), so s hours after a
    departure it holds a hull with probability u (1 - exp(-s / c)), c = B (1 - u). So
    P(two | both) = A / (P(R > g) + A), A = u (P(R <= g) - J / B),
    J = integral over 0 < r < g of P(D > r) exp(-(g - r) / c) dr.
    Taking the berth as re-filled at u the moment a hull leaves (J = 0) over-stated the
    changeovers of short gaps several times on simulated berths (BENCHMARKS.md); at u = 1 (back
    to back) the two agree. J by ``nodes`` quantiles of the exponential cut at g."""
    from scipy.stats import norm

    g = np.maximum(np.atleast_1d(np.asarray(gap_h, dtype=float)), 1e-6)[None, :]
    mu = np.log(np.atleast_1d(np.asarray(median_h, dtype=float)))[:, None]
    s = sigma_ln
    lg = np.log(g)
    mean = np.exp(mu + s * s / 2)
    stays = norm.cdf((mu + s * s - lg) / s) - g / mean * norm.cdf((mu - lg) / s)
    stays = np.clip(stays, 0.0, 1.0)
    u = np.clip(np.atleast_1d(np.asarray(utilisation, dtype=float)), 0.0, 1.0)[:, None]
    u = np.broadcast_to(u, stays.shape)
    mu = np.broadcast_to(mu, stays.shape)
    mean = np.broadcast_to(mean, stays.shape)
    gg = np.broadcast_to(g, stays.shape)
    c = mean * (1.0 - u)
    refill = np.zeros(stays.shape)
    live = c > 1e-9
    if np.any(live):
        cl, gl, ml = c[live], gg[live], mu[live]
        mass = -np.expm1(-gl / cl)  # the exponential's share inside 0 < s < g
        q = (np.arange(nodes) + 0.5) / nodes
        back = -cl[:, None] * np.log1p(-q[None, :] * mass[:, None])  # s = g - r at its quantiles
        alive = norm.sf((np.log(np.maximum(gl[:, None] - back, 1e-9)) - ml[:, None]) / s)
        refill[live] = cl * mass * alive.mean(axis=1)  # J
    other = u * np.clip(1.0 - stays - refill / mean, 0.0, 1.0)
    return other / np.maximum(stays + other, 1e-12)


def back_to_back_rate(berths: int, dwell_median_h: np.ndarray, sigma_ln: float) -> np.ndarray:
    """Calls per hour that ``berths`` load berths hold at most with stays of that log-normal
    dwell (one hull at a time, back to back): berths / mean stay, per draw of the median."""
    mean_stay = np.asarray(dwell_median_h, dtype=float) * np.exp(sigma_ln**2 / 2)
    return max(1, berths) / np.maximum(mean_stay, 1e-9)


# --- self-calibration: dwell median and detector recall from the visits themselves (#13) -----
#
# The statistical model, exactly (``fit_coverage``):
# - calls arrive at the berth as a Poisson process, uniform over the season; a call's stay D is
#   log-normal, median m (unknown), log-spread s = dwell_sigma_ln (fixed);
# - each clear image of the berth taken inside a stay finds the vessel with its sensor's recall
#   r_s (unknown), independently; an image outside the stay never shows it; an obscured image
#   says nothing;
# - a load visit is the hits of one stay: first and last sightings F <= L, x_s hits among the
#   k_s clear images of sensor s strictly between them, none in the clear images of the stay
#   before F or after L; neighbouring visits at the berth bound the stay to (lo, hi) (one hull
#   at a time). So the stay is interval-censored: it holds [F, L], and its arrival a and end e
#   lie anywhere in (lo, F] and [L, hi), each clear image crossed on the way being a miss
#   (probability 1 - r_s: the recall decides how much an empty clear image says). A single
#   sighting is F = L: its stay is bounded only by the images around it, never taken as 0 h;
# - the visit's likelihood, conditional on the call being seen at all (length bias: long stays
#   hold more images and are seen more often, so only seen calls become visits):
#     L_v(m, r) = r_s(F) r_s(L) prod_s Binom(x_s; k_s, r_s)
#                 x int int_{lo<a<=F, L<=e<hi} f_m(e - a) M(a, e) da de / p_seen(m, r),
#   M(a, e) = prod over the clear images i in [a, F) and (L, e] of (1 - r_s(i)),
#   with p_seen(m, r) the chance that a call arriving uniformly in the season is seen (the same
#   schedule model as p_seen above). The double integral is exact per stretch between clear
#   images (``_G``), up to _MAX_SEGMENTS images each side and _MAX_REACH_H;
# - posterior on a grid (48 medians log-spaced over dwell_fit_range_h, a recall axis per sensor):
#     log p(m, r | visits) = log pi(m) + sum_s log Beta(r_s; a_s, b_s) + w sum_v log L_v(m, r),
#   w = fit_visit_weight (a power likelihood: each visit counts as w of one, for visits that
#   port-call building split or merged), pi(m) = (1 - q) LogUniform(dwell_fit_range_h) +
#   q LogUniform(dwell_median_h range), q = dwell_prior_weight; Beta(a_s, b_s) with the mean and
#   spread of the sensor's portcalls.detector_recall range, a_s + b_s <= recall_prior_n images.
# How much the imagery said about the dwell is kept (``CoverageFit.dwell_data_weight``: the
# share of the prior's variance of log m that the visits removed, 0 = the prior alone) and
# noted with the run. Below the revisit of clear images a stay shows one sighting whatever its
# length, and p_seen grows with the dwell there: the likelihood is flat in m, so the dwell (and
# with it the correction) is the prior's, and the notes say so. Draws of (m, r) feed p_seen.

_MAX_SEGMENTS = 8  # clear images considered on either side of a visit
_MAX_REACH_H = 45 * 24.0  # a stay is not extended further than this beyond its sightings


def recall_grid(n_sensors: int) -> np.ndarray:
    """The recall grid of each sensor's axis: finer with fewer sensors (the grid is R^S)."""
    n = 20 if n_sensors <= 2 else 12 if n_sensors == 3 else 7
    return np.linspace(0.025, 0.975, n)


@dataclass
class VisitBounds:
    """What one load visit says about its stay (hours since the epoch).

    ``inner_hits``: sensor name -> sightings strictly between the first and the last, when the
    visit's sightings are known (``Visit.sightings``). Then each sensor's hits and misses inside
    the visit are its own binomial (which sensor found the vessel is known: capture-recapture
    between the sensors seeing the same stay); None: only the total ``n_obs`` is known and the
    hits are spread over the sensors by the likelihood."""

    berth: str
    first_h: float
    last_h: float
    n_obs: int
    inner_hits: dict[str, int] | None = None


@dataclass
class CoverageFit:
    medians: np.ndarray  # (G,) dwell medians (h)
    recall: np.ndarray  # (R,) recall grid, every sensor alike
    sensors: list[str]  # (S,) the recall axes
    combos: np.ndarray  # (P, S) recall-grid index of each sensor at each joint grid point
    post: np.ndarray  # (G, P) posterior over (median, joint recall grid point)
    n_visits: int
    images: tuple[int, ...]  # clear images inside the visits' sightings, per sensor
    prior_n: tuple[float, ...]  # each sensor's recall prior weight, in images
    by_sensor_visits: int = 0  # visits whose hits were counted per sensor (inner_hits known)
    prior_m: np.ndarray | None = None  # (G,) the dwell-median prior on ``medians``
    ais_stays: int = 0  # stays measured by transponders that entered the dwell fit

    @property
    def dwell_data_weight(self) -> float:
        """Share of the prior's variance of log(dwell median) the visits removed: 0 when the
        posterior is the prior, near 1 when the imagery pins the dwell (for a normal prior and
        likelihood: the data's share of the posterior precision)."""
        if self.prior_m is None:
            return float("nan")
        logm = np.log(self.medians)

        def var(w):
            w = w / w.sum()
            mean = (w * logm).sum()
            return float((w * (logm - mean) ** 2).sum())

        v0 = var(self.prior_m)
        return float(min(max(1.0 - var(self.marginal(0)) / v0, 0.0), 1.0)) if v0 > 0 else 0.0

    def prior_quantiles(self, qs=(0.1, 0.5, 0.9)) -> list[float]:
        """The dwell median's quantiles under its prior alone (NaN when it was not kept)."""
        if self.prior_m is None:
            return [float("nan")] * len(qs)
        cdf = np.cumsum(self.prior_m / self.prior_m.sum())
        return [
            float(self.medians[min(int(np.searchsorted(cdf, q)), len(self.medians) - 1)])
            for q in qs
        ]

    def marginal(self, axis: int) -> np.ndarray:
        """Axis 0: the dwell median; axis 1 + j: the recall of sensors[j]."""
        if axis == 0:
            return self.post.sum(axis=1)
        w = self.post.sum(axis=0)
        return np.bincount(self.combos[:, axis - 1], weights=w, minlength=len(self.recall))

    def quantiles(self, axis: int, qs=(0.1, 0.5, 0.9)) -> list[float]:
        grid = self.medians if axis == 0 else self.recall
        cdf = np.cumsum(self.marginal(axis))
        return [float(grid[min(int(np.searchsorted(cdf, q)), len(grid) - 1)]) for q in qs]

    def recall_quantiles(self, sensor: str, qs=(0.1, 0.5, 0.9)) -> list[float]:
        return self.quantiles(1 + self.sensors.index(sensor), qs)

    def draws(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(median_h (n,), recall (n, S)): n draws, jittered within their grid cells."""
        flat = self.post.ravel()
        idx = rng.choice(flat.size, size=n, p=flat / flat.sum())
        g, pt = np.unravel_index(idx, self.post.shape)
        step = np.log(self.medians[1] / self.medians[0]) if len(self.medians) > 1 else 0.0
        med = self.medians[g] * np.exp(rng.uniform(-step / 2, step / 2, n))
        half = (self.recall[1] - self.recall[0]) / 2
        ri = self.combos[pt]  # (n, S)
        r = self.recall[ri] + rng.uniform(-half, half, ri.shape)
        return med, np.clip(r, 1e-3, 0.999)


def _beta_logpdf(prior: RecallPrior, grid: np.ndarray, max_n: float) -> tuple[np.ndarray, float]:
    """Log-density on ``grid`` of the Beta a recall range stands for, and its weight (images)."""
    from scipy.stats import beta

    a, b = prior.beta(max_n)
    return beta.logpdf(grid, a, b), a + b


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
    onehot: np.ndarray,
    log_miss: np.ndarray,
    lo_h: float,
    hi_h: float,
    mu: np.ndarray,
    s: float,
) -> np.ndarray:
    """(G, P): sum over the stay's unknown ends of dwell density x misses outside [F, L].
    ``onehot`` (T, S): each clear image's sensor; ``log_miss`` (P, S): log(1 - r) per grid point."""
    before = np.nonzero((times < v.first_h) & (times > lo_h))[0][::-1][:_MAX_SEGMENTS]
    after = np.nonzero((times > v.last_h) & (times < hi_h))[0][:_MAX_SEGMENTS]

    def segments(idx, start, limit):
        # segment j: the stay's end lies beyond j clear images (which it then holds, as misses)
        edges = [start] + [times[i] for i in idx] + [limit]
        n_miss = np.zeros((len(idx) + 1, onehot.shape[1]))
        if len(idx):
            n_miss[1:] = np.cumsum(onehot[idx], axis=0)
        return np.array(edges[:-1]), np.array(edges[1:]), n_miss

    a_near, a_far, am = segments(before, v.first_h, lo_h)
    e_near, e_far, em = segments(after, v.last_h, hi_h)
    # a in [a_far, a_near], e in [e_near, e_far]
    m = mu[None, None, :]
    a_lo, a_hi = a_far[:, None, None], a_near[:, None, None]
    e_lo, e_hi = e_near[None, :, None], e_far[None, :, None]
    box = _G(e_hi - a_lo, m, s) - _G(e_hi - a_hi, m, s) - _G(e_lo - a_lo, m, s)
    box = np.maximum(box + _G(e_lo - a_hi, m, s), 0.0)  # (Ja, Je, G)
    misses = am[:, None, :] + em[None, :, :]  # (Ja, Je, S)
    miss = np.exp(misses @ log_miss.T)  # (Ja, Je, P)
    return np.einsum("jlg,jlp->gp", box, miss, optimize=True)


def _hits_by_sensor(x: np.ndarray, k: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """(P,): probability of x[s] hits among k[s] clear images of each sensor s (the sensor of
    every hit known), at the recalls ``rec`` (P, S) of each grid point."""
    from scipy.stats import binom

    out = np.ones(len(rec))
    for j, (xj, kj) in enumerate(zip(x, k, strict=True)):
        if kj > 0:
            out *= binom.pmf(int(min(xj, kj)), int(kj), rec[:, j])
    return out


def _hits_likelihood(x: int, k: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """(P,): probability of x hits among k[s] clear images of each sensor s, at the recalls
    ``rec`` (P, S) of each grid point (the binomials convolved over the sensors)."""
    from scipy.stats import binom

    dist = np.zeros((len(rec), int(k.sum()) + 1))
    dist[:, 0] = 1.0
    top = 0
    for j, kj in enumerate(k):
        if kj == 0:
            continue
        pmf = binom.pmf(np.arange(kj + 1)[None, :], kj, rec[:, j : j + 1])  # (P, kj + 1)
        new = np.zeros_like(dist)
        for h in range(kj + 1):
            new[:, h : top + h + 1] += dist[:, : top + 1] * pmf[:, h : h + 1]
        dist, top = new, top + kj
    return dist[:, x] if x < dist.shape[1] else np.zeros(len(rec))


def fit_coverage(
    sched: Schedule,
    visits: list[VisitBounds],
    clear_by_berth: dict[str, tuple[np.ndarray, np.ndarray]],
    params: CoverageParams,
    priors: dict[str, RecallPrior],
    stays_h: np.ndarray | None = None,
) -> CoverageFit:
    """Joint posterior of the dwell median and each sensor's detector recall (see above).

    ``clear_by_berth``: berth -> (clear image times in hours, sorted; each one's sensor name).
    ``priors``: sensor name -> its recall prior, for every sensor of ``sched``.
    ``stays_h``: stays at the load berths measured by transponders (hours): each a log-normal
    observation of the dwell itself (``params.ais_stay_weight`` each), not conditioned on being
    seen by the images; they fix what single sightings leave open (how long a call lasts).
    """
    from scipy.stats import norm

    s = params.dwell_sigma_ln
    lo_fit, hi_fit = params.dwell_fit_range_h
    medians = np.geomspace(lo_fit, hi_fit, 48)
    mu = np.log(medians)
    sensors = list(sched.sensors)
    n_s = len(sensors)
    grid = recall_grid(n_s)
    if n_s:
        combos = np.indices((len(grid),) * n_s).reshape(n_s, -1).T  # (P, S)
    else:  # no clear image at all: one grid point, nothing can be seen
        combos = np.zeros((1, 0), dtype=int)
    rec = grid[combos]  # (P, S)
    log_miss = np.log(1.0 - rec)
    # prior over the median: log-uniform over the fit range, dwell_prior_weight on the config's
    cfg = params.dwell_median_h
    in_cfg = (medians >= cfg.low) & (medians <= cfg.high)
    prior_m = np.full(len(medians), (1 - params.dwell_prior_weight) / len(medians))
    if in_cfg.any():
        prior_m[in_cfg] += params.dwell_prior_weight / in_cfg.sum()
    lp = np.zeros(len(combos))
    prior_n = []
    for j, x in enumerate(sensors):
        lpj, nj = _beta_logpdf(priors[x], grid, params.recall_prior_n)
        lp += lpj[combos[:, j]]
        prior_n.append(nj)
    logpost = np.log(prior_m)[:, None] + lp[None, :]
    n_stays = 0
    if stays_h is not None and params.ais_stay_weight > 0:
        d = np.asarray(stays_h, float)
        d = d[d > 0]
        n_stays = len(d)
        if n_stays:
            z = (np.log(d)[None, :] - mu[:, None]) / s  # (G, n)
            logpost += params.ais_stay_weight * norm.logpdf(z).sum(axis=1)[:, None]
    # the chance a call is seen, averaged over the season, for every grid point
    logd = np.log(sched.dwell_grid_h)
    edges = np.concatenate([[-np.inf], (logd[1:] + logd[:-1]) / 2, [np.inf]])
    w = np.diff(norm.cdf((edges[None, :] - mu[:, None]) / s), axis=1)  # (G, D)
    share = sched.hours / max(sched.hours.sum(), 1e-9)
    k_all = np.einsum("m,mdu->du", share, sched.k_frac)
    found = _p_found(sched.kvec, rec)  # (P, U)
    p_seen = np.maximum((w @ k_all) @ found.T, 1e-12)  # (G, P)
    n_img = np.zeros(n_s, dtype=int)
    n_by_sensor = 0
    index = {x: j for j, x in enumerate(sensors)}
    by_berth: dict[str, list[VisitBounds]] = {}
    for v in visits:
        by_berth.setdefault(v.berth, []).append(v)
    for berth, vs in by_berth.items():
        times, names = clear_by_berth.get(berth, (np.zeros(0), np.zeros(0, dtype=object)))
        which = np.array([index[x] for x in names], dtype=int)
        onehot = np.zeros((len(times), n_s))
        onehot[np.arange(len(times)), which] = 1.0
        vs = sorted(vs, key=lambda x: x.first_h)
        for v in vs:
            # one vessel at a time at a berth position: another visit's sightings bound the
            # stay's ends (visits that overlap this one, side by side, do not)
            lo_h = max([u.last_h for u in vs if u.last_h < v.first_h], default=-np.inf)
            hi_h = min([u.first_h for u in vs if u.first_h > v.last_h], default=np.inf)
            lo_h = max(lo_h, v.first_h - _MAX_REACH_H)
            hi_h = min(hi_h, v.last_h + _MAX_REACH_H)
            ends = _ends_likelihood(v, times, onehot, log_miss, lo_h, hi_h, mu, s)
            inner = (times > v.first_h) & (times < v.last_h)
            k = onehot[inner].sum(axis=0).astype(int)
            if v.inner_hits is not None:  # each sensor's own hits and misses
                xs = np.array([v.inner_hits.get(x, 0) for x in sensors], dtype=int)
                hits = _hits_by_sensor(np.minimum(xs, k), k, rec)
                n_by_sensor += 1
            else:
                x = min(max(v.n_obs - (2 if v.last_h > v.first_h else 1), 0), int(k.sum()))
                hits = _hits_likelihood(x, k, rec)
            for t in {v.first_h, v.last_h}:  # the sightings themselves: one hit each
                at = np.nonzero(np.abs(times - t) < 1e-3)[0]
                if len(at) and n_s:
                    j = which[at[0]]
                    hits = hits * rec[:, j]
                    n_img[j] += 1
            n_img += k
            like = ends * hits[None, :] / p_seen
            logpost += params.fit_visit_weight * np.log(np.maximum(like, 1e-300))
    post = np.exp(logpost - logpost.max())
    return CoverageFit(
        medians,
        grid,
        sensors,
        combos,
        post / post.sum(),
        len(visits),
        tuple(int(i) for i in n_img),
        tuple(prior_n),
        n_by_sensor,
        prior_m / prior_m.sum(),
        n_stays,
    )
