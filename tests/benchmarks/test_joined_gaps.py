"""benchmarks/joined_gaps.py: each gap a load visit joins, classed against the truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.portcalls.synthetic import Stay
from pipeline.records import Visit

from .scripts import load_benchmark

T0 = datetime(2024, 5, 1, tzinfo=UTC)
FINE, S2 = "commercial-3m", "sentinel-2-l2a"


def _stay(name, start_h, end_h):
    return Stay(name, "vostochny", "oil-1", T0 + timedelta(hours=start_h),
                T0 + timedelta(hours=end_h), 110.0, 18.0, role="load")  # fmt: skip


def test_gaps_are_classed_by_the_true_stays_and_placed_along_the_berth():
    """One visit joins sightings at 10 h and 30 h (one stay, 0-40 h), then 60 h (the next
    call, 50-90 h): one gap of one hull, one changeover; the 3 m pair 0.4 m apart, the mixed
    pair 12 m."""
    mod = load_benchmark("joined_gaps")
    stays = [_stay("A", 0, 40), _stay("B", 50, 90)]
    v = Visit(
        port="vostochny", berth="oil-1", vessel_key="k", first_seen=T0 + timedelta(hours=10),
        last_seen=T0 + timedelta(hours=60), arrived_after=None, departed_before=None, n_obs=3,
        length_m=110.0, beam_m=18.0, evidence=["d0", "d1", "d2"], sightings=["s0", "s1", "s2"],
    )  # fmt: skip
    h0 = T0.timestamp() / 3600
    scene_at = {"s0": (h0 + 10, FINE), "s1": (h0 + 30, FINE), "s2": (h0 + 60, S2)}
    positions = {"d0": 5.0, "d1": 5.4, "d2": 17.4}
    rows = mod.gap_rows([v], stays, scene_at, positions, 30.0, 0.6, 24.0 * 10)
    assert [(r["gap_h"], r["one_hull"], r["changeover"]) for r in rows] == [
        (20.0, True, False),
        (30.0, False, True),
    ]
    assert rows[0]["sensors"] == FINE and rows[0]["apart_m"] == pytest.approx(0.4)
    assert rows[1]["sensors"] == f"{FINE}/{S2}" and rows[1]["apart_m"] == pytest.approx(12.0)
    # the berth held a call 80 of the 240 h: the model's chance of a changeover in 30 h at a
    # 30 h dwell is real but below certainty, and grows with the gap
    assert 0.0 < rows[0]["model_at_truth"] < rows[1]["model_at_truth"] < 1.0
    s = mod.summarise(rows)
    assert (s["gaps"], s["changeovers"]) == (2, 1)
    assert s["apart_m"][FINE]["one hull"] == {"n": 1, "median": 0.4}
    # a sighting outside every true stay (a false detection joined in) is neither class
    (r,) = mod.gap_rows([v], [stays[0]], scene_at, positions, 30.0, 0.6, 240.0)[1:]
    assert not r["changeover"] and not r["one_hull"]
