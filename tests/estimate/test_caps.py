"""UNSCR 2397 caps: cumulative barrels per year and product class, date passed per scenario."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from pipeline.estimate.caps import cap_rows
from pipeline.records import Delivery, utc


def delivery(i, bbl, product="refined"):
    return Delivery(
        id=f"d{i}",
        vessel="unidentified",
        imo=None,
        id_probability=0.5,
        load_visit=f"v{i}",
        discharge_visit=None,
        barrels_p10=bbl * 0.5,
        barrels_p50=bbl,
        barrels_p90=bbl * 1.5,
        barrels_33=bbl / 3,
        barrels_50=bbl / 2,
        barrels_90=bbl * 0.9,
        product=product,
        method="t",
        run_id="",
        model="",
    )


def test_cap_dates_per_scenario_and_year(params):
    ds = [delivery(i, 100_000) for i in range(12)] + [delivery(99, 3_000_000, "crude")]
    times = {f"d{i}": datetime(2024, i + 1, 15, tzinfo=UTC) for i in range(12)}
    times["d99"] = datetime(2024, 6, 1, tzinfo=UTC)
    rows = cap_rows(ds, times, params.caps)
    by = {(r["product_class"], r["scenario"]): r for r in rows}
    assert len(rows) == 8 and {r["year"] for r in rows} == {2024}
    # P50: 100k per call -> the 5th call (May) reaches 500k
    assert by[("refined", "p50")]["cap_passed_utc"] == "2024-05-15T00:00:00Z"
    assert by[("refined", "p50")]["cumulative_bbl"] == 1_200_000
    # 90 %: 90k per call -> 6th call (June); 1/2: 50k -> 10th (October); 1/3: 400k, never
    assert by[("refined", "90")]["cap_passed_utc"] == "2024-06-15T00:00:00Z"
    assert by[("refined", "50")]["cap_passed_utc"] == "2024-10-15T00:00:00Z"
    assert by[("refined", "33")]["cap_passed_utc"] == ""
    assert by[("refined", "33")]["cumulative_bbl"] == 400_000
    # crude: 3.0 M under the 4.0 M cap
    assert by[("crude", "p50")]["cap_passed_utc"] == ""
    assert by[("crude", "p50")]["cap_bbl"] == 4_000_000


def test_each_calendar_year_starts_again(params):
    ds = [delivery(0, 400_000), delivery(1, 400_000)]
    times = {"d0": datetime(2024, 12, 20, tzinfo=UTC), "d1": datetime(2025, 1, 5, tzinfo=UTC)}
    rows = cap_rows(ds, times, params.caps)
    p50 = [r for r in rows if r["scenario"] == "p50" and r["product_class"] == "refined"]
    assert [(r["year"], r["cumulative_bbl"], r["cap_passed_utc"]) for r in p50] == [
        (2024, 400_000, ""),
        (2025, 400_000, ""),
    ]


def _missed(counts, pool, pool_class="refined", start=None, end=None, months=None):
    """Missed calls whose stand-ins are ``pool`` (barrels, the same in every draw)."""
    from pipeline.estimate.caps import MissedCalls

    counts = np.asarray(counts, dtype=int)
    pool = np.repeat(np.asarray(pool, dtype=float)[:, None], len(counts), axis=1)
    months = months or [f"2024-{m + 1:02d}" for m in range(counts.shape[1])]
    y, m = map(int, months[-1].split("-"))
    return MissedCalls(
        port="vostochny",
        start=start or datetime(int(months[0][:4]), int(months[0][5:]), 1, tzinfo=UTC),
        end=end or datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC),
        months=months,
        counts=counts,
        pool=pool,
        pool_class=np.full(len(pool), pool_class),
    )


def _corrected(rows, cls="refined"):
    (row,) = [r for r in rows if r["scenario"] == "corrected" and r["product_class"] == cls]
    return row


def test_corrected_series_without_missed_calls_is_the_observed_one(params):
    from pipeline.estimate.caps import corrected_cap_rows

    n = 200
    ds = [delivery(i, 100_000) for i in range(6)]
    times = {f"d{i}": datetime(2024, i + 1, 15, 6, tzinfo=UTC) for i in range(6)}
    draws = {d.id: np.full(n, 100_000.0) for d in ds}
    rows = corrected_cap_rows(
        ds, draws, times, [_missed(np.zeros((n, 6)), [1.0])], params.caps, np.random.default_rng(0)
    )
    row = _corrected(rows)
    # every draw passes with the 5th call, in May
    assert row["cap_passed_utc"] == row["cap_passed_p10_utc"] == row["cap_passed_p90_utc"]
    assert row["cap_passed_utc"] == "2024-05-15T06:00:00Z"
    assert row["p_passed"] == 1.0 and row["cumulative_bbl"] == 600_000
    assert (
        _corrected(rows, "crude")["cap_passed_utc"] == ""
        and _corrected(rows, "crude")["p_passed"] == 0.0
    )


def test_missed_calls_pass_the_cap_in_a_share_of_the_draws(params):
    """400k seen by April; half the draws missed one 200k call in May: passed with p = 0.5."""
    from pipeline.estimate.caps import corrected_cap_rows

    n = 400
    ds = [delivery(i, 100_000) for i in range(4)]
    times = {f"d{i}": datetime(2024, i + 1, 10, tzinfo=UTC) for i in range(4)}
    draws = {d.id: np.full(n, 100_000.0) for d in ds}
    counts = np.zeros((n, 6), dtype=int)
    counts[: n // 2, 4] = 1  # May
    counts[: n // 4, 5] = 1  # and a quarter of the draws one more in June
    rows = corrected_cap_rows(
        ds, draws, times, [_missed(counts, [200_000.0])], params.caps, np.random.default_rng(1)
    )
    row = _corrected(rows)
    assert row["p_passed"] == 0.5
    assert row["cap_passed_p10_utc"].startswith("2024-05")  # the earliest tenth: in May
    assert row["cap_passed_utc"].startswith("2024-05")  # the median draw just passes, in May
    assert row["cap_passed_p90_utc"] == ""  # 90 % of the draws did not pass: not passed
    assert row["cumulative_p10_bbl"] == 400_000 and row["cumulative_p90_bbl"] == 800_000
    # the observed series alone never passed
    assert all(r["cap_passed_utc"] == "" for r in cap_rows(ds, times, params.caps))


def test_corrected_dates_match_a_draw_by_draw_recount(params):
    """The vectorised running sums against a plain loop over the same kind of histories."""
    from pipeline.estimate.caps import corrected_cap_rows

    rng = np.random.default_rng(7)
    n = 4000
    ds = [delivery(i, 60_000) for i in range(5)]
    times = {f"d{i}": datetime(2024, 2 * i + 1, 3, tzinfo=UTC) for i in range(5)}
    draws = {d.id: rng.lognormal(np.log(60_000), 0.3, n) for d in ds}
    counts = rng.poisson(0.5, size=(n, 12))
    pool = rng.lognormal(np.log(50_000), 0.4, 500)
    mc = _missed(counts, pool)
    row = _corrected(corrected_cap_rows(ds, draws, times, [mc], params.caps, rng))

    # the same histories drawn one by one: seen calls plus missed ones uniform in their month
    loop = np.random.default_rng(11)
    month_starts = [datetime(2024, m, 1, tzinfo=UTC).timestamp() for m in range(1, 13)]
    month_starts.append(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    passed = []
    for i in range(n):
        events = [(times[d.id].timestamp(), draws[d.id][i]) for d in ds]
        for m in range(12):
            for _ in range(counts[i, m]):
                t = loop.uniform(month_starts[m], month_starts[m + 1])
                events.append((t, loop.choice(pool)))
        total, when = 0.0, np.inf
        for t, b in sorted(events):
            total += b
            if total >= 500_000:
                when = t
                break
        passed.append(when)
    passed = np.array(passed)
    assert abs(row["p_passed"] - np.isfinite(passed).mean()) < 0.03
    assert 0.5 < row["p_passed"] < 0.9  # P10 and P50 dates, no P90
    assert row["cap_passed_p90_utc"] == ""
    for q, key in ((10, "cap_passed_p10_utc"), (50, "cap_passed_utc")):
        want = np.percentile(passed, q, method="inverted_cdf")
        got = utc(row[key]).timestamp()
        assert abs(got - want) < 6 * 86400, (key, row[key])
    assert utc(row["cap_passed_p10_utc"]) < utc(row["cap_passed_utc"])


def test_corrected_series_restarts_each_year(params):
    from pipeline.estimate.caps import corrected_cap_rows

    n = 100
    counts = np.full((n, 2), 2)  # two missed 200k calls in December and two in January
    mc = _missed(counts, [200_000.0], months=["2024-12", "2025-01"])
    rows = corrected_cap_rows([], {}, {}, [mc], params.caps, np.random.default_rng(0))
    by_year = {y: _corrected([r for r in rows if r["year"] == y]) for y in (2024, 2025)}
    assert {y: r["cumulative_bbl"] for y, r in by_year.items()} == {2024: 400_000, 2025: 400_000}
    assert all(r["cap_passed_utc"] == "" and r["p_passed"] == 0 for r in by_year.values())


def test_without_a_schedule_no_corrected_rows(params):
    from pipeline.estimate.caps import corrected_cap_rows

    ds = [delivery(0, 600_000)]
    rows = corrected_cap_rows(
        ds,
        {"d0": np.full(10, 600_000.0)},
        {"d0": datetime(2024, 1, 1, tzinfo=UTC)},
        [],
        params.caps,
        np.random.default_rng(0),
    )
    assert rows == []  # never a fabricated correction


def test_a_missed_call_takes_a_draw_with_the_same_common_loading_not_the_same_draw():
    """Stand-ins of draw i come from draws ranked next to it by the common loading factor (so a
    missed call shares the season's loading with the calls seen), never draw i itself (that
    would repeat the seen call's own size error); without common_z, from any draw."""
    from pipeline.estimate.caps import NEIGHBOURS

    n = 2000
    rng = np.random.default_rng(3)
    z = rng.standard_normal(n)
    pool = np.stack([np.arange(n, dtype=float), 10_000 + np.arange(n, dtype=float)])
    mc = _missed(np.ones((n, 1)), [0.0, 0.0])
    mc.pool, mc.pool_class = pool, np.array(["refined", "crude"])
    mc.common_z = z
    who = np.repeat(np.arange(n), 5)
    barrels, classes = mc.draw(who, rng)
    cols = (barrels % 10_000).astype(int)
    rank = np.argsort(np.argsort(z))
    assert (cols != who).all()
    assert np.abs(rank[cols] - rank[who]).max() <= NEIGHBOURS * n
    assert np.corrcoef(z[who], z[cols])[0, 1] > 0.99
    assert (
        set(classes) == {"refined", "crude"} and ((barrels >= 10_000) == (classes == "crude")).all()
    )
    mc.pick_p = np.array([1.0, 0.0])
    assert (mc.draw(who, rng)[1] == "refined").all()
    mc.common_z = None
    cols = (mc.draw(who, rng)[0]).astype(int)
    assert abs(np.corrcoef(z[who], z[cols])[0, 1]) < 0.05
