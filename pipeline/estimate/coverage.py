"""Coverage: how likely a call was seen at all, and how many calls the images missed.

A call arriving at time a and staying d hours is seen when k >= 1 clear observations of its berth
fall inside [a, a + d] and the detector finds the vessel in at least one: P = 1 - (1 - r)^k.
Fine imagery (a daily 3 m sensor) can have its own recall r_f: with k coarse and k_f fine clear
images in the stay, P = 1 - (1 - r)^k (1 - r_f)^k_f.
Averaging over arrivals uniform in each month of the observed season and a log-normal dwell gives
p_seen per month, from the real clear-observation schedule. The dwell median and detector recall
are uncertain (drawn from their configured ranges), so p_seen is a distribution.

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
from pipeline.estimate.volume import from_uniform


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


def _mid(d) -> float:
    return (d.low + d.high) / 2


def dwell_posterior(
    sched: Schedule, stays_h: list[tuple[float, float]], params: CoverageParams
) -> tuple[np.ndarray, np.ndarray] | None:
    """Posterior over the dwell median from the visits' own bounds, or None if too few.

    Each visit seen says its stay lasted between ``last_seen - first_seen`` and
    ``departed_before - arrived_after`` hours. Long stays are more likely to be seen, so each
    visit's likelihood is that of a *seen* stay: the dwell density times the probability of being
    seen at that dwell (from the real schedule, mid-range recall), renormalised. Prior:
    log-uniform over ``dwell_fit_range_h``. Returns (median grid in hours, probabilities).
    """
    from scipy.stats import norm

    if len(stays_h) < params.dwell_fit_min_visits:
        return None
    lo_h, hi_h = params.dwell_fit_range_h
    medians = np.geomspace(lo_h, hi_h, 120)
    d = sched.dwell_grid_h
    logd = np.log(d)
    edges = np.concatenate([[-np.inf], (logd[1:] + logd[:-1]) / 2, [np.inf]])
    w = np.diff(
        norm.cdf((edges[None, :] - np.log(medians)[:, None]) / params.dwell_sigma_ln), axis=1
    )  # (G, D)
    fine = params.detector_recall_fine or params.detector_recall
    found = _p_found(sched, np.array([_mid(params.detector_recall)]), np.array([_mid(fine)]))[0]
    share = sched.hours / max(sched.hours.sum(), 1e-9)
    k_all = np.einsum("m,mdab->dab", share, sched.k_frac)
    p_d = np.einsum("dab,ab->d", k_all, found)  # (D,) probability seen at each dwell
    seen = w * p_d[None, :]
    norm_ = seen.sum(axis=1)
    loglik = np.zeros(len(medians))
    for lo, hi in stays_h:
        inside = (d >= lo * 0.999) & (d <= hi * 1.001)
        if not inside.any():  # the bounds fall between grid points: take the nearest one
            inside = (
                np.abs(logd - np.log(max((lo + hi) / 2, 1.0)))
                == np.abs(logd - np.log(max((lo + hi) / 2, 1.0))).min()
            )
        loglik += np.log(np.maximum(seen[:, inside].sum(axis=1) / norm_, 1e-300))
    post = np.exp(loglik - loglik.max())
    return medians, post / post.sum()


def p_seen_draws(
    sched: Schedule,
    params: CoverageParams,
    rng: np.random.Generator,
    n: int,
    dwell: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(n, M) draws of the probability that a call arriving in month m was seen.

    ``dwell``: a posterior over the dwell median (``dwell_posterior``); default: the config's.
    """
    if dwell is not None:
        median = rng.choice(dwell[0], size=n, p=dwell[1])
    else:
        median = from_uniform(params.dwell_median_h, rng.random(n))
    recall = from_uniform(params.detector_recall, rng.random(n))
    fine = params.detector_recall_fine
    recall_fine = recall if fine is None else from_uniform(fine, rng.random(n))
    return p_seen_given(sched, median, params.dwell_sigma_ln, recall, recall_fine)


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
    return np.einsum("nd,mdab,nab->nm", w, sched.k_frac, found, optimize=True)


def corrected_counts(
    observed: np.ndarray, hours: np.ndarray, p: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(n, M) draws of the true number of calls per month, given ``observed`` (M,) and p (n, M)."""
    exposure = (hours[None, :] * p).sum(axis=1)  # (n,)
    rate = rng.gamma(observed.sum() + 0.5, 1.0 / np.maximum(exposure, 1e-9))
    missed = rng.poisson(rate[:, None] * hours[None, :] * (1.0 - p))
    return observed[None, :] + missed


def recall_inside_visits(visits, observations) -> tuple[int, int]:
    """(found, clear): clear images of a visit's berth taken strictly between its first and last
    sighting, and how many of them show the vessel (one sighting per image).

    A check of the configured detector recall on the analyst's own imagery. It runs high: a miss
    at either end of a stay, or two misses in a row (which split a visit), are not counted.
    """
    clear: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for o in observations:
        if o.state == "clear":
            clear.setdefault((o.port, o.berth), []).append((o.acquired, o.scene_id))
    found = seen = 0
    for v in visits:
        if v.last_seen <= v.first_seen:
            continue
        inside = {
            sid for t, sid in clear.get((v.port, v.berth), []) if v.first_seen < t < v.last_seen
        }
        seen += len(inside)
        found += min(max(v.n_obs - 2, 0), len(inside))
    return found, seen
