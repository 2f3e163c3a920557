"""Barrels: the published method, scenarios and the seeded Monte Carlo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.config import Vessel
from pipeline.estimate import run_estimate
from pipeline.estimate.params import Distribution
from pipeline.estimate.volume import from_uniform, mix_bbl_per_t, published_scenarios
from pipeline.records import Visit

T = datetime(2024, 1, 1, tzinfo=UTC)


def capacities_89(seed=7) -> list[float]:
    """89 listed capacities (barrels) that sum to the 1,519,587 of the 2018 US submission."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(8000, 26000, 89)
    caps = np.round(raw / raw.sum() * 1_519_587)
    caps[-1] += 1_519_587 - caps.sum()
    assert caps.sum() == 1_519_587
    return [float(c) for c in caps]


def test_published_method_reproduces_the_us_submission(params):
    caps = capacities_89()
    got = published_scenarios(caps, params.volume.scenarios)
    assert got["33"] == pytest.approx(506_529, abs=1)
    assert got["50"] == pytest.approx(759_793, abs=1)
    assert got["90"] == pytest.approx(1_367_628, abs=1)


def _visit(i, length, sigma=0.05):
    t = T + timedelta(days=4 * i)
    return Visit(
        port="vostochny",
        berth="oil-1",
        vessel_key=f"v{i}",
        first_seen=t,
        last_seen=t + timedelta(hours=20),
        arrived_after=None,
        departed_before=None,
        n_obs=2,
        length_m=length,
        beam_m=length / 6,
        length_sigma_m=sigma,
        beam_sigma_m=sigma,
    )


def test_published_method_end_to_end_through_run_estimate(params):
    """89 identified calls whose capacity (dwt x barrels/t, cargo share 1) is listed."""
    p = params.model_copy(deep=True)
    p.volume.cargo_share = Distribution(dist="fixed", low=1.0, high=1.0)
    p.volume.product_mix["refined"] = {"gasoil": 1.0}
    p.volume.draws = 200
    bpt = p.volume.products["gasoil"].bbl_per_t
    caps = capacities_89()
    reg = [
        Vessel(name=f"T{i:02d}", length_m=50.0 + i, beam_m=(50.0 + i) / 6, dwt=c / bpt, source="t")
        for i, c in enumerate(caps)
    ]
    visits = [_visit(i, 50.0 + i) for i in range(89)]
    res = run_estimate(visits, [], [], reg, p, seed=0)
    assert len(res.deliveries) == 89
    assert all(d.vessel == f"T{i:02d}" for i, d in enumerate(res.deliveries))
    assert sum(d.barrels_33 for d in res.deliveries) == pytest.approx(506_529, abs=1)
    assert sum(d.barrels_50 for d in res.deliveries) == pytest.approx(759_793, abs=1)
    assert sum(d.barrels_90 for d in res.deliveries) == pytest.approx(1_367_628, abs=1)


def test_monte_carlo_is_seeded_and_brackets_the_scenarios(params):
    p = params.model_copy(deep=True)
    p.volume.draws = 1000
    reg = [Vessel(name="Known", length_m=90, beam_m=15, dwt=4000, source="t")]
    visits = [_visit(0, 90, sigma=2.0), _visit(1, 120, sigma=2.0)]
    a = run_estimate(visits, [], [], reg, p, seed=3)
    b = run_estimate(visits, [], [], reg, p, seed=3)
    c = run_estimate(visits, [], [], reg, p, seed=4)
    assert [d.to_dict() for d in a.deliveries] == [d.to_dict() for d in b.deliveries]
    assert a.coverage == b.coverage
    assert [d.barrels_p50 for d in a.deliveries] != [d.barrels_p50 for d in c.deliveries]
    assert [d.id for d in a.deliveries] != [d.id for d in c.deliveries]  # seed is a run input
    known, other = a.deliveries
    assert known.vessel == "Known" and other.vessel == "unidentified"
    for d in a.deliveries:
        assert d.barrels_p10 < d.barrels_p50 < d.barrels_p90
        assert d.barrels_33 < d.barrels_50 < d.barrels_90
    # identified hull with a registry dwt: 4000 t x share x 1/3..0.9 x 7.46..8.50 bbl/t
    lo = 4000 * 0.92 * (1 / 3) * 7.46
    hi = 4000 * 0.97 * 0.9 * 8.50
    assert lo <= known.barrels_p10 and known.barrels_p90 <= hi
    assert known.barrels_50 == pytest.approx(
        4000 * 0.945 * 0.5 * mix_bbl_per_t("refined", p.volume)
    )


def test_distributions_inverse_cdf():
    u = np.linspace(0, 1, 5)
    uni = Distribution(dist="uniform", low=2, high=4)
    assert list(from_uniform(uni, u)) == [2, 2.5, 3, 3.5, 4]
    tri = Distribution(dist="triangular", low=0, high=1, mode=0.5)
    assert from_uniform(tri, np.array([0.5]))[0] == pytest.approx(0.5)
    fixed = Distribution(dist="fixed", low=0.7, high=0.7)
    assert set(from_uniform(fixed, u)) == {0.7}
