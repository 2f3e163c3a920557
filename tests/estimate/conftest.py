"""Fixtures of the estimation tests."""

from __future__ import annotations

import pytest

from pipeline.estimate.params import load_params


@pytest.fixture
def params():
    return load_params()


@pytest.fixture
def estimated_season(params):
    """A synthetic 90-day season (Sentinel-2 and a daily 3 m sensor) through port calls and the
    estimate: (season, visits, result)."""
    from pipeline.estimate import run_estimate
    from pipeline.portcalls import build_visits
    from pipeline.portcalls.synthetic import synthetic_season

    s = synthetic_season(seed=4, days=90, n_calls=25, sensors=("sentinel-2", "daily"))
    params.volume.draws = 200
    visits = build_visits(s.detections, s.scenes, s.observations, s.ports, params)
    res = run_estimate(visits, [], s.observations, s.registry, params, seed=0, ports=s.ports)
    return s, visits, res
