"""Where along the berth a hull lies: the spreads measured on a season's visits, and the odds
of two hulls against one across a visit's gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.estimate.berth_position import (
    PositionModel,
    fit_position_model,
    same_hull_scatter,
    sighting_positions,
)
from pipeline.records import Visit

T0 = datetime(2024, 5, 1, tzinfo=UTC)
S2, FINE = "sentinel-2-l2a", "commercial-3m"


def _visit(k, sightings):
    """A load visit at oil-1 from [(hours, sensor, position m)], its detections named by k."""
    ids = [f"v{k}s{i}" for i in range(len(sightings))]
    v = Visit(
        port="vostochny", berth="oil-1", vessel_key=f"k{k}", first_seen=T0,
        last_seen=T0 + timedelta(hours=sightings[-1][0]), arrived_after=None,
        departed_before=None, n_obs=len(ids), length_m=110.0, beam_m=18.0, evidence=ids,
        sightings=[f"scene{k}-{i}" for i in range(len(ids))],
    )  # fmt: skip
    scene_at = {f"scene{k}-{i}": (1000.0 * k + h, sensor) for i, (h, sensor, _) in
                enumerate(sightings)}  # fmt: skip
    positions = {ids[i]: x for i, (_, _, x) in enumerate(sightings)}
    return v, scene_at, positions


def _season(rng, n=12, scatter=1.0, changeovers=0.0, spread=30.0):
    """n visits of three 3 m sightings each, the hulls at places spread ``spread`` m along the
    berth, each sighting ``scatter`` m off its hull's place; a share of the second and third
    sightings are another call's (a changeover the visit joined)."""
    visits, scene_at, positions = [], {}, {}
    for k in range(n):
        place = rng.normal(0, spread)
        rows = []
        for i in range(3):
            if i and rng.random() < changeovers:
                place = float(np.clip(place + rng.normal(0, spread * np.sqrt(2)), -22, 22))
            rows.append((24.0 * i, FINE, place + rng.normal(0, scatter)))
        v, s, p = _visit(k, rows)
        visits.append(v)
        scene_at |= s
        positions |= p
    return visits, scene_at, positions


def test_the_spreads_are_measured_on_the_visits_and_weigh_a_gap_both_ways():
    visits, scene_at, positions = _season(np.random.default_rng(1), n=20, scatter=1.0)
    m = fit_position_model(visits, scene_at, positions, {FINE: 3.0}, 20.0)
    # one hull's difference between two sightings: sqrt(2) x 1 m (the floor is half a 3 m pixel)
    assert m.same_sd[(FINE, FINE)] == pytest.approx(np.sqrt(2), abs=0.5)
    assert 15 < m.calls_sd["oil-1"] < 45
    assert m.odds("oil-1", FINE, FINE, 0.5) < 0.1  # the same place: one hull
    assert m.odds("oil-1", FINE, FINE, 12.0) > 10  # 12 m along: two calls
    # no pair of these sensors measured, an unmeasured berth: the position says nothing
    assert m.odds("oil-1", FINE, S2, 12.0) == 1.0
    assert m.odds("oil-2", FINE, FINE, 12.0) == 1.0
    assert "commercial-3m" in m.note("vostochny") and "20 visits" in m.note("vostochny")


def test_a_busy_berths_changeovers_do_not_set_one_hulls_scatter():
    """Half the consecutive pairs are changeovers: the mixture keeps one hull's scatter near
    its 1.4 m where the median of the differences would be several times it."""
    rng = np.random.default_rng(3)
    one = rng.normal(0, np.sqrt(2), 30)
    two = rng.uniform(-22, 22, 30)
    d = np.concatenate([one, two])
    assert np.median(np.abs(d)) / 0.6745 > 4.0
    assert same_hull_scatter(d, 30.0, 23.0, 1.5) == pytest.approx(np.sqrt(2), abs=0.6)
    # the floor: a few pairs at one place do not make every pixel of difference a changeover
    assert same_hull_scatter(np.array([0.1, 0.05, 0.2, 0.1, 0.0]), 30.0, 23.0, 1.5) == 1.5


def test_too_few_pairs_or_visits_measure_nothing():
    visits, scene_at, positions = _season(np.random.default_rng(2), n=3)
    m = fit_position_model(visits, scene_at, positions, {FINE: 3.0}, 20.0)
    assert m.calls_sd == {} and m.same_sd == {} and m.note("vostochny") is None
    assert PositionModel().odds("oil-1", FINE, FINE, 30.0) == 1.0


def test_positions_are_read_along_the_visits_berth():
    """Two calls of the builders' hulls placed 40 m apart along oil-1 are found 40 m apart, and
    each call's two sightings at one place."""
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import build_visits
    from tests.portcalls.builders import Builder

    b = Builder()
    for hours, along in ((0, 0.0), (24, 0.0), (400, 40.0), (424, 40.0)):
        b.vessel(b.scene(hours, sensor=FINE, gsd=3.0), 110.0, 18.0, along=along)
    visits = build_visits(b.detections, b.scenes, b.observations, b.ports, load_params())
    first, second = sorted((x for x in visits if x.role == "load"), key=lambda x: x.first_seen)
    got = sighting_positions([first, second], b.detections, b.ports, 30.0)
    a = [got[e] for e in first.evidence]
    c = [got[e] for e in second.evidence]
    assert len(a) == len(c) == 2
    assert a[0] == pytest.approx(a[1], abs=0.5) and c[0] == pytest.approx(c[1], abs=0.5)
    assert abs(c[0] - a[0]) == pytest.approx(40.0, abs=1.0)
