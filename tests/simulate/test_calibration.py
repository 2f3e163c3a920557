"""Simulated 10 m scenes against the real Sentinel-2 yardstick (skips without sen2ships)."""

from __future__ import annotations

import pytest

from pipeline.simulate import calibration as C
from pipeline.simulate.chips import write_chips


@pytest.fixture(scope="module")
def real(sen2ships):
    return C.summarise(C.collect(C.real_scene_dirs(sen2ships)))


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("calchips")
    write_chips(out, 30, seed=101, sensors=("sentinel-2-l2a",))
    return C.summarise(C.collect(C.simulated_scene_dirs(out)))


@pytest.mark.real
@pytest.mark.parametrize("cls", ["water", "land", "ship"])
def test_pixel_medians_within_real_range(real, sim, cls):
    for band in C.BANDS:
        r, s = real[cls][band], sim[cls][band]
        assert r["min"] <= s["median"] <= r["max"], (cls, band, r, s)


@pytest.mark.real
def test_ship_lengths_and_contrast_within_real_range(real, sim):
    lo, hi = real["length_m"][0], real["length_m"][-1]
    assert lo <= sim["length_m"][2] <= hi
    for band in C.BANDS:
        r5, r95 = real["contrast"][band][0], real["contrast"][band][-1]
        assert r5 <= sim["contrast"][band][2] <= r95, band


def test_scene_stats_on_simulation(small_simulation):
    """The measurement itself works on simulator output (no real data needed)."""
    stats = C.collect(C.simulated_scene_dirs(small_simulation))
    assert stats
    s = C.summarise(stats)
    assert s["water"]["B08"]["median"] < s["land"]["B08"]["median"]
