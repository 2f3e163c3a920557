"""UNSCR 2397 caps: cumulative barrels per calendar year and product class, and the date passed.

Cumulative sums run over the observed deliveries in loading order (the last sighting at the load
berth), under each scenario: the Monte Carlo P50 and the published 1/3, 1/2 and 90 % shares. The
date is when the observed deliveries alone passed the cap: calls the images missed could only make
the true date earlier. ``corrected_cap_rows`` adds the coverage-corrected series (the calls seen
plus the calls the images missed): the P10 / P50 / P90 dates over the Monte Carlo draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.estimate.params import CapsParams
from pipeline.records import Delivery, iso

SCENARIO_FIELDS = {"p50": "barrels_p50", "33": "barrels_33", "50": "barrels_50", "90": "barrels_90"}


def cap_rows(
    deliveries: list[Delivery], load_times: dict[str, datetime], params: CapsParams
) -> list[dict]:
    """One row per year x product class x scenario; ``load_times``: delivery id -> load time."""
    caps = {"refined": params.refined_bbl, "crude": params.crude_bbl}
    years = sorted({load_times[d.id].year for d in deliveries})
    rows = []
    for year in years:
        for cls, cap in caps.items():
            mine = sorted(
                (d for d in deliveries if load_times[d.id].year == year and d.product == cls),
                key=lambda d: (load_times[d.id], d.id),
            )
            for scen, fld in SCENARIO_FIELDS.items():
                total, passed = 0.0, None
                for d in mine:
                    total += getattr(d, fld)
                    if passed is None and total >= cap:
                        passed = load_times[d.id]
                rows.append(
                    {
                        "year": year,
                        "product_class": cls,
                        "cap_bbl": int(cap) if float(cap).is_integer() else cap,
                        "scenario": scen,
                        "cumulative_bbl": round(total, 1),
                        "cap_passed_utc": iso(passed),
                    }
                )
    return rows


NEIGHBOURS = 0.01  # a missed call's draw: within this share of the draws, ranked by common loading


@dataclass
class MissedCalls:
    """One port's calls the images missed, as the coverage correction drew them.

    ``counts[i, m]``: calls missed in month ``months[m]`` in Monte Carlo draw i; the season runs
    from ``start`` to ``end``. A missed call of draw i stands in for one of the ``pool``'s calls
    (the calls seen at the port, or unseen tankers of any size when none was seen), picked with
    probability ``pick_p`` (None: alike), and takes its product class and its barrels in a draw
    whose common loading factor is next to draw i's: ``common_z`` ranks the draws by it, and a
    draw within ``NEIGHBOURS`` of a share of the draws from draw i in that ranking is taken (not
    draw i itself: that would repeat the seen call's own size error in the draw once more per
    stand-in). So within a draw the missed calls share the common loading factor with the calls
    seen, as the estimate's model says every call of the season does
    (``volume.loading_correlation``). ``common_z`` None: any draw of the stand-in.
    """

    port: str
    start: datetime
    end: datetime
    months: list[str]
    counts: np.ndarray  # (n, M) int
    pool: np.ndarray  # (P, n) barrels of P stand-in calls, per draw
    pool_class: np.ndarray  # (P,) "refined" | "crude"
    pick_p: np.ndarray | None = None  # (P,) probabilities of the stand-ins
    common_z: np.ndarray | None = None  # (n,) the draws' common loading factor (normal score)

    def draw(self, who: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Barrels and product class of missed calls belonging to draws ``who`` (one entry per
        missed call)."""
        rows = rng.choice(len(self.pool), size=len(who), p=self.pick_p)
        n = self.pool.shape[1]
        if self.common_z is None:
            cols = rng.integers(n, size=len(who))
        else:
            order = np.argsort(self.common_z, kind="stable")
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n)
            w = max(1, int(NEIGHBOURS * n))
            step = rng.integers(1, w + 1, size=len(who)) * rng.choice([-1, 1], size=len(who))
            near = rank[who] + step
            near = np.where((near < 0) | (near >= n), rank[who] - step, near)
            cols = order[np.clip(near, 0, n - 1)]
        return self.pool[rows, cols], self.pool_class[rows]


def _month_window(month: str, start: datetime, end: datetime) -> tuple[float, float]:
    """The season's hours inside ``month`` (POSIX hours)."""
    y, m = map(int, month.split("-"))
    lo = datetime(y, m, 1, tzinfo=UTC)
    hi = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return max(lo, start).timestamp() / 3600, min(hi, end).timestamp() / 3600


def _time(hours: float) -> datetime:
    return datetime.fromtimestamp(round(hours * 3600), tz=UTC)


def _date(passed_at: np.ndarray, q: float) -> str:
    """The q-th percentile of the draws' cap dates (inf: not passed), as a draw's own date."""
    h = float(np.percentile(passed_at, q, method="inverted_cdf"))
    return "" if np.isinf(h) else iso(_time(h))


def corrected_cap_rows(
    deliveries: list[Delivery],
    draws: dict[str, np.ndarray],
    load_times: dict[str, datetime],
    missed: list[MissedCalls],
    params: CapsParams,
    rng: np.random.Generator,
) -> list[dict]:
    """Scenario ``corrected``: when the coverage-corrected series passed each cap, per draw.

    Each Monte Carlo draw is one possible history: the calls seen, at their loading times with
    that draw's barrels, plus that draw's missed calls, each at a time uniform over the season's
    hours of its month (the Poisson arrivals the correction assumes) with barrels and class from
    the pool. The draw's cap date is when its own running sum first reaches the cap. Because a
    running sum only grows, P(passed by t) = P(sum at t >= cap): the quantiles of these dates are
    where the quantiles of the corrected cumulative series cross the cap. Summing per-month P50s
    (coverage ``by_month``) would not give that: a sum of medians is not the median of the sum.

    Row: ``cumulative_bbl`` and ``cumulative_p10_bbl`` / ``cumulative_p90_bbl`` (the year's
    corrected total), ``cap_passed_utc`` (P50 date) with ``cap_passed_p10_utc`` /
    ``cap_passed_p90_utc`` (earlier and later bounds), each empty where fewer than that share of
    draws passed the cap within the season, and ``p_passed``, the share of draws that did.
    """
    n = next((len(d) for d in draws.values()), 0) or next((len(m.counts) for m in missed), 0)
    if not missed or n == 0:
        return []
    who, when, bbl, cls = [], [], [], []
    for d in deliveries:
        who.append(np.arange(n))
        when.append(np.full(n, load_times[d.id].timestamp() / 3600))
        bbl.append(np.asarray(draws[d.id], dtype=float))
        cls.append(np.full(n, d.product))
    for mc in missed:
        for m, month in enumerate(mc.months):
            counts = mc.counts[:, m].astype(int)
            k = int(counts.sum())
            if not k:
                continue
            lo, hi = _month_window(month, mc.start, mc.end)
            draw_of = np.repeat(np.arange(n), counts)
            barrels, classes = mc.draw(draw_of, rng)
            who.append(draw_of)
            when.append(lo + rng.random(k) * (hi - lo))
            bbl.append(barrels)
            cls.append(classes)
    who_a, when_a, bbl_a = np.concatenate(who), np.concatenate(when), np.concatenate(bbl)
    cls_a = np.concatenate(cls)
    year_a = (np.round(when_a * 3600).astype("datetime64[s]").astype("datetime64[Y]")).astype(
        int
    ) + 1970
    years = sorted(set(year_a.tolist()) | {int(mo[:4]) for mc in missed for mo in mc.months})
    caps = {"refined": params.refined_bbl, "crude": params.crude_bbl}
    rows = []
    for year in years:
        for pclass, cap in caps.items():
            sel = (year_a == year) & (cls_a == pclass)
            w, t, b = who_a[sel], when_a[sel], bbl_a[sel]
            order = np.lexsort((t, w))
            w, t, b = w[order], t[order], b[order]
            run = np.cumsum(b)
            first = np.searchsorted(w, np.arange(n))  # each draw's first event
            base = np.concatenate([[0.0], run])[first]  # running sum before each draw's events
            over = run - base[w] >= cap
            passed_at = np.full(n, np.inf)
            hit_draw, hit_idx = np.unique(w[over], return_index=True)
            passed_at[hit_draw] = t[over][hit_idx]
            total = np.bincount(w, weights=b, minlength=n)

            t10, t50, t90 = np.percentile(total, (10, 50, 90))
            rows.append(
                {
                    "year": year,
                    "product_class": pclass,
                    "cap_bbl": int(cap) if float(cap).is_integer() else cap,
                    "scenario": "corrected",
                    "cumulative_bbl": round(float(t50), 1),
                    "cumulative_p10_bbl": round(float(t10), 1),
                    "cumulative_p90_bbl": round(float(t90), 1),
                    "cap_passed_utc": _date(passed_at, 50),
                    "cap_passed_p10_utc": _date(passed_at, 10),
                    "cap_passed_p90_utc": _date(passed_at, 90),
                    "p_passed": round(float(np.isfinite(passed_at).mean()), 3),
                }
            )
    return rows
