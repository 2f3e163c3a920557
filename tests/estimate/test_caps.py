"""UNSCR 2397 caps: cumulative barrels per year and product class, date passed per scenario."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.estimate.caps import cap_rows
from pipeline.records import Delivery


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
