"""run_estimate on a seeded synthetic season: the coverage shape the ledger/export relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipeline.estimate import run_estimate
from pipeline.portcalls import build_visits, link_voyages
from pipeline.portcalls.synthetic import synthetic_season

MONTH_KEYS = {
    "month",
    "port",
    "calls_observed",
    "calls_corrected_p10",
    "calls_corrected_p50",
    "calls_corrected_p90",
    "barrels_observed_p50",
    "barrels_corrected_p10",
    "barrels_corrected_p50",
    "barrels_corrected_p90",
}
CAP_KEYS = {"year", "product_class", "cap_bbl", "scenario", "cumulative_bbl", "cap_passed_utc"}
CORRECTED_CAP_KEYS = CAP_KEYS | {
    "cumulative_p10_bbl",
    "cumulative_p90_bbl",
    "cap_passed_p10_utc",
    "cap_passed_p90_utc",
    "p_passed",
}


@pytest.fixture(scope="module")
def season():
    return synthetic_season(
        seed=5,
        days=120,
        n_calls=30,
        sensors=("sentinel-2", "daily"),
        start=datetime(2024, 3, 1, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def estimated(season):
    from pipeline.estimate.params import load_params

    p = load_params()
    p.volume.draws = 500
    visits = build_visits(season.detections, season.scenes, season.observations, season.ports, p)
    voyages = link_voyages(visits, p)
    res = run_estimate(
        visits, voyages, season.observations, season.registry, p, seed=0, ports=season.ports
    )
    return p, visits, voyages, res


def test_coverage_has_exactly_the_agreed_shape(estimated):
    _, _, _, res = estimated
    cov = res.coverage
    assert set(cov) == {"by_month", "totals", "caps", "p_seen"}
    assert [r["month"] for r in cov["by_month"]] == ["2024-03", "2024-04", "2024-05", "2024-06"]
    for r in cov["by_month"]:
        assert set(r) == MONTH_KEYS and r["port"] == "vostochny"
        assert isinstance(r["calls_observed"], int)
        assert r["calls_corrected_p10"] <= r["calls_corrected_p50"] <= r["calls_corrected_p90"]
        assert r["calls_corrected_p10"] >= r["calls_observed"]
    assert set(cov["totals"]) == MONTH_KEYS - {"month", "port"}
    assert cov["totals"]["calls_observed"] == len(res.deliveries)
    for r in cov["caps"]:
        assert set(r) == (CORRECTED_CAP_KEYS if r["scenario"] == "corrected" else CAP_KEYS)
    assert {r["scenario"] for r in cov["caps"]} == {"p50", "33", "50", "90", "corrected"}
    assert 0 < cov["p_seen"] < 1
    json.dumps(cov)  # plain JSON


def test_observed_and_corrected_side_by_side(estimated, season):
    _, _, _, res = estimated
    t = res.coverage["totals"]
    assert t["barrels_corrected_p50"] >= t["barrels_observed_p50"]
    assert t["calls_corrected_p50"] >= t["calls_observed"]
    true_calls = len(season.load_calls())
    assert t["calls_corrected_p10"] <= true_calls <= t["calls_corrected_p90"] * 1.2


def test_the_corrected_series_gets_its_cap_dates(estimated, season):
    """Its P50 total over the cap means a P50 date (the bug: "not passed" at 734,000 bbl). The
    cap is put half-way between the season's observed and corrected totals, so the images
    alone never pass it and the corrected series does, whatever the estimator's level."""
    p, visits, voyages, first = estimated
    t0 = first.coverage["totals"]
    p = p.model_copy(deep=True)
    p.caps.refined_bbl = (t0["barrels_observed_p50"] + t0["barrels_corrected_p50"]) / 2
    res = run_estimate(
        visits, voyages, season.observations, season.registry, p, seed=0, ports=season.ports
    )
    t = res.coverage["totals"]
    (row,) = [
        r
        for r in res.coverage["caps"]
        if r["scenario"] == "corrected" and r["product_class"] == "refined"
    ]
    assert row["cumulative_p10_bbl"] <= row["cumulative_bbl"] <= row["cumulative_p90_bbl"]
    # one season, one product: the year's corrected sum is the corrected total (other samples
    # of the missed calls' barrels, so not to the barrel)
    assert abs(row["cumulative_bbl"] / t["barrels_corrected_p50"] - 1) < 0.05
    assert row["cumulative_bbl"] > row["cap_bbl"] > t["barrels_observed_p50"]  # this season
    assert row["cap_passed_utc"] and row["p_passed"] >= 0.5
    assert row["cap_passed_p10_utc"] <= row["cap_passed_utc"]
    observed = next(
        r
        for r in res.coverage["caps"]
        if r["scenario"] == "p50" and r["product_class"] == "refined"
    )
    assert observed["cap_passed_utc"] == ""  # the images alone never showed it passed


def test_deliveries_link_discharge_visits_and_list_candidates(estimated):
    _, visits, voyages, res = estimated
    by_id = {v.id: v for v in visits}
    assert all(by_id[d.load_visit].role == "load" for d in res.deliveries)
    linked = [d for d in res.deliveries if d.discharge_visit]
    assert linked and len(linked) == len(voyages)
    assert all("linked by hull size and sailing time only" in d.method for d in linked)
    for d in res.deliveries:
        assert d.candidates[-1]["name"] == "unidentified"
        assert sum(c["probability"] for c in d.candidates) <= 1.0001
        assert "Monte Carlo" in d.method and d.product == "refined"


def test_same_inputs_same_ids(estimated, season):
    p, visits, voyages, res = estimated
    again = run_estimate(
        visits, voyages, season.observations, season.registry, p, seed=0, ports=season.ports
    )
    assert [d.id for d in again.deliveries] == [d.id for d in res.deliveries]
    assert again.coverage == res.coverage


def test_without_observations_nothing_is_corrected(estimated, season):
    p, visits, voyages, _ = estimated
    res = run_estimate(visits, voyages, [], season.registry, p, seed=0, ports=season.ports)
    assert res.coverage["p_seen"] is None
    assert res.coverage["totals"]["calls_corrected_p50"] is None
    assert res.coverage["totals"]["calls_observed"] == len(res.deliveries)
    assert any("not estimated" in n for n in res.notes)


@pytest.mark.parametrize(("rho", "low", "high"), [(0.95, 0.2, 1.0), (0.0, -0.1, 0.1)])
def test_missed_calls_share_the_draws_common_loading_with_the_calls_seen(season, rho, low, high):
    """The loading factor's common part is the season's: in a draw where the calls seen
    carried much, so did the calls missed (before, each missed call took its barrels from a
    random draw, and the common part's uncertainty averaged away in the corrected totals)."""
    import numpy as np

    from pipeline.estimate.params import load_params

    p = load_params()
    p.volume.draws = 1500
    p.volume.loading_correlation = rho
    visits = build_visits(season.detections, season.scenes, season.observations, season.ports, p)
    res = run_estimate(
        visits, link_voyages(visits, p), season.observations, season.registry, p, seed=0,
        ports=season.ports,
    )  # fmt: skip
    seen, missed = res.observed_draws, res.total_draws - res.observed_draws
    assert missed.mean() > 0.3 * seen.mean()  # a season with many calls missed
    assert low < np.corrcoef(seen, missed)[0, 1] < high


def test_a_schedule_without_any_call_seen_still_bounds_the_missed_ones(season):
    from pipeline.estimate.params import load_params

    p = load_params()
    p.volume.draws = 400
    res = run_estimate([], [], season.observations, season.registry, p, seed=0, ports=season.ports)
    t = res.coverage["totals"]
    assert res.deliveries == [] and t["calls_observed"] == 0
    assert t["calls_corrected_p10"] == 0 and t["calls_corrected_p90"] >= 1
    assert t["barrels_corrected_p90"] > 0  # missed calls carry barrels, never zero by omission
    assert all(
        r["cumulative_bbl"] == 0 for r in res.coverage["caps"] if r["scenario"] != "corrected"
    )
    refined = next(
        r
        for r in res.coverage["caps"]
        if r["scenario"] == "corrected" and r["product_class"] == "refined"
    )
    assert refined["cumulative_p90_bbl"] > 0  # the corrected series carries the missed calls


def test_the_daily_sensors_recall_applies_to_its_images_only(estimated, season):
    from pipeline.portcalls.params import RecallPrior

    p, visits, voyages, _ = estimated

    def p_seen(fine):
        table = dict(p.portcalls.detector_recall)
        if fine is not None:
            table["commercial-3m"] = fine
        pc = p.portcalls.model_copy(update={"detector_recall": table})
        q = p.model_copy(update={"portcalls": pc})
        res = run_estimate(
            visits, voyages, season.observations, season.registry, q, seed=0, ports=season.ports
        )
        return res.coverage["p_seen"], res.coverage["totals"]["calls_corrected_p50"]

    assert {o.sensor for o in season.observations} == {"commercial-3m", "sentinel-2-l2a"}
    blind = RecallPrior(low=0.01, high=0.02, source="test")
    sharp = RecallPrior(low=0.97, high=0.99, source="test")
    (p_blind, calls_blind), (p_sharp, calls_sharp) = p_seen(blind), p_seen(sharp)
    # with the daily images worthless only Sentinel-2 sees calls: fewer seen, more missed
    assert p_blind < p_sharp and calls_blind > calls_sharp
    assert p_seen(None)[0] != p_blind
