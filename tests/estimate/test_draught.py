"""Cargo from the departure draught a transponder reported: which reports count, the hull's
reading of them, and the season's loading factor they inform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipeline.config import Vessel
from pipeline.estimate.draught import (
    DepartureDraught,
    cargo_draws,
    departure_draughts,
    loading_posterior,
)
from pipeline.hull import cargo_t, draught_m
from pipeline.portcalls.ais import VisitAis
from pipeline.records import Visit

T = datetime(2024, 5, 1, tzinfo=UTC)
H = timedelta(hours=1)
MMSI = 273000001
# a 4,000 dwt hull, 90 x 14 m, Cb 0.78, Cd 0.68
HULL = dict(length_m=90.0, beam_m=14.0, dwt=4000.0, cb=0.78, cd=0.68)


def laden(cargo: float, fuel: float = 0.04) -> float:
    return round(float(draught_m(90, 14, 4000, 0.78, 0.68, cargo + fuel * 4000)), 1)


def load_visit(vid="V", first=T, last=T + 20 * H, departed_before=T + 30 * H, length=90.0):
    return Visit("vostochny", "oil-1", "k", first, last, None, departed_before, 3, length, 14,
                 evidence=["a", "b", "c"], id=vid, role="load", length_sigma_m=3.0,
                 beam_sigma_m=1.0)  # fmt: skip


def reports(*pairs) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": [MMSI] * len(pairs),
            "time": pd.to_datetime([t for t, _ in pairs], utc=True),
            "draught_m": [x for _, x in pairs],
        }
    )


STATIC = pd.DataFrame({"mmsi": [MMSI], "length_m": [90.0], "width_m": [14.0]})
NAMED = {"V": VisitAis("V", MMSI, 0.95, "HULL", None, 3, 3)}


def test_hull_cargo_is_the_inverse_of_its_draught():
    t = draught_m(90, 14, 4000, 0.78, 0.68, 3000 + 160)
    assert cargo_t(90, 14, t, 4000, 0.78, 0.68, 0.04) == pytest.approx(3000, abs=1e-6)
    # empty of cargo and ballast, it floats at its light ship's draught: shallower
    assert draught_m(90, 14, 4000, 0.78, 0.68, 0) < t


def test_a_draught_that_rose_after_the_call_is_read_and_a_stale_one_is_not(params):
    p = params.volume.draught
    ballast, full = 3.4, laden(3400)
    v = load_visit()
    # arrived in ballast, updated two hours after the last sighting, then in ballast again
    # after the discharge a day and a half later: the first deeper value is the departure's
    risen = reports((T - 200 * H, ballast), (T + 22 * H, full), (T + 60 * H, ballast))
    got = departure_draughts([v], NAMED, risen, STATIC, p)
    assert got["V"].draught_m == full and got["V"].before_m == ballast
    assert (got["V"].length_m, got["V"].beam_m) == (90.0, 14.0)
    # left unchanged (the crew did not update it): nothing is read
    assert departure_draughts([v], NAMED, reports((T - 200 * H, ballast)), STATIC, p) == {}
    # a rise under min_rise_m is a correction, not a loading
    small = reports((T - 200 * H, ballast), (T + 22 * H, ballast + p.min_rise_m / 2))
    assert departure_draughts([v], NAMED, small, STATIC, p) == {}
    # a rise only after the window (the next call's) does not count
    late = reports((T - 200 * H, ballast), (T + 30 * H + (p.window_h + 1) * H, full))
    assert departure_draughts([v], NAMED, late, STATIC, p) == {}
    # nothing reported before the call: the rise cannot be told from a first report
    assert departure_draughts([v], NAMED, reports((T + 22 * H, full)), STATIC, p) == {}
    # a dark call, or a weak match, is not named by AIS: its transponder's draught is not its
    dark = {"V": VisitAis("V", None, 0.0, evidence=3)}
    weak = {"V": VisitAis("V", MMSI, 0.3, "HULL", None, 1, 3)}
    for ids in (dark, weak):
        assert departure_draughts([v], ids, risen, STATIC, p) == {}
    # no length and width in its static data: no displacement to read
    nodims = STATIC.assign(width_m=np.nan)
    assert departure_draughts([v], NAMED, risen, nodims, p) == {}


def test_cargo_draws_bracket_the_true_cargo_and_stay_within_the_deadweight(params):
    p = params.volume.draught
    rng = np.random.default_rng(1)
    for cargo in (1500.0, 3400.0):
        dd = DepartureDraught("V", MMSI, laden(cargo), 3.4, T, 90.0, 14.0)
        got = cargo_draws(dd, np.full(4000, 4000.0), p, rng)
        lo, mid, hi = np.quantile(got, [0.1, 0.5, 0.9])
        assert lo < cargo < hi and abs(mid / cargo - 1) < 0.15
        assert got.min() >= 0 and got.max() <= 4000
    deep = DepartureDraught("V", MMSI, 12.0, 3.4, T, 90.0, 14.0)  # beyond its summer draught
    assert cargo_draws(deep, np.full(100, 4000.0), p, rng).max() == 4000


def test_the_seasons_loading_factor_follows_the_measured_calls(params):
    from scipy.stats import norm

    from pipeline.estimate.volume import from_uniform

    dist, rho = params.volume.loading_factor, params.volume.loading_correlation
    rng = np.random.default_rng(2)
    z0, s0 = loading_posterior([], dist, rho, 4000, rng)
    assert s0 == {} and abs(z0.mean()) < 0.1 and abs(z0.std() - 1) < 0.1

    def common(values, spread=0.05):
        implied = [np.clip(x + spread * rng.standard_normal(500), 0, 1.2) for x in values]
        z, s = loading_posterior(implied, dist, rho, 4000, rng)
        loads = from_uniform(dist, norm.cdf(np.sqrt(rho) * z))
        return np.quantile(loads, [0.1, 0.5, 0.9]), s

    full, s = common([0.88, 0.9, 0.86])
    assert full[1] > 0.8 and s["calls"] == 3 and s["common_p50"] == pytest.approx(full[1], abs=0.02)
    part, _ = common([0.42, 0.45, 0.4])
    assert part[1] < 0.5
    one, _ = common([0.6])
    many, _ = common([0.6] * 8)
    assert (many[2] - many[0]) < (one[2] - one[0])  # more calls, a narrower common part
    # wide draws with a few at nothing (the deadweight's spread, cargo clipped at 0) speak for
    # their middle, not for the edge the clipped ones sit at
    wide = []
    for _ in range(6):
        f = 0.55 * np.exp(0.3 * rng.standard_normal(2000))
        f[rng.random(2000) < 0.1] = 0.0
        wide.append(f)
    z, s = loading_posterior(wide, dist, rho, 4000, rng)
    assert 0.45 < s["common_p50"] < 0.65 and s["common_p10"] > dist.low + 0.03
    # beyond the range's top: the common part goes to its top, not off the grid
    over, _ = common([0.97, 0.99])
    assert over[1] > 0.85 and over[2] <= dist.high + 1e-9


SIZED = [Vessel(name="Hull", imo="9000001", length_m=90, beam_m=14, dwt=4000, source="test")]


def test_run_estimate_reads_the_draught_and_moves_the_other_calls(params):
    from pipeline.estimate import run_estimate

    params.volume.draws = 1000
    v1 = load_visit("V1", first=T, last=T + 20 * H)
    v2 = load_visit("V2", first=T + 240 * H, last=T + 260 * H, departed_before=T + 270 * H)
    v3 = load_visit("V3", first=T + 480 * H, last=T + 500 * H, departed_before=T + 510 * H)
    ais = {x: VisitAis(x, MMSI, 0.95, "HULL", "9000001", 3, 3) for x in ("V1", "V2")}
    cargo = 3500.0  # 0.875 of dwt: near the top of the 1/3-0.9 prior
    dd = {
        x: DepartureDraught(x, MMSI, laden(cargo), 3.4, T, 90.0, 14.0) for x in ("V1", "V2")
    }  # fmt: skip
    plain = run_estimate([v1, v2, v3], [], [], SIZED, params, seed=5, ais=ais)
    read = run_estimate([v1, v2, v3], [], [], SIZED, params, seed=5, ais=ais, draughts=dd)
    by = {d.load_visit: d for d in read.deliveries}
    before = {d.load_visit: d for d in plain.deliveries}
    bpt = 7.46 * 0.7 + 8.50 * 0.3
    assert by["V1"].barrels_p50 == pytest.approx(cargo * bpt, rel=0.15)
    assert by["V1"].barrels_p10 < cargo * bpt < by["V1"].barrels_p90
    assert "departure draught" in by["V1"].method and "departure draught" not in by["V3"].method
    # the call without a draught loads as the measured ones did: more than the prior's median
    assert by["V3"].barrels_p50 > 1.15 * before["V3"].barrels_p50
    assert any("2 of 3 load calls read from the departure draught" in n for n in read.notes)
    # the scenarios of the published method are left as they were
    assert by["V1"].barrels_90 == before["V1"].barrels_90
    # the estimate's config without a draught section reads nothing
    params.volume.draught = None
    off = run_estimate([v1, v2, v3], [], [], SIZED, params, seed=5, ais=ais, draughts=dd)
    assert [d.barrels_p50 for d in off.deliveries] == [d.barrels_p50 for d in plain.deliveries]
    assert not any("departure draught" in n for n in off.notes)
