"""The SAR CFAR detector on small simulated Sentinel-1 scenes: the false-alarm multiplier, ships
found and piers not, the length bias removed, land handed to it by detect_scene and evaluate."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.config import load_port
from pipeline.detect.bundle import load_detector
from pipeline.detect.cfar import CfarDetector, gamma_alpha
from pipeline.detect.evaluate import evaluate_dataset
from pipeline.detect.infer import detect_scene
from pipeline.simulate.compose import write_labels
from pipeline.simulate.layout import port_layout
from pipeline.simulate.render import Grid, build_surface, write_geotiff
from pipeline.simulate.sar import render_sar_scene
from pipeline.simulate.sensors import SENTINEL1, SarPass
from pipeline.simulate.vessels import Placer, make_vessel
from pipeline.simulate.weather import draw_sar_conditions


def _cond(wind: float, seed: int, state: str = "descending"):
    c = draw_sar_conditions(
        datetime(2024, 6, 1, 21, 0, tzinfo=UTC),
        SarPass(61, state, 0, 38.0),
        SENTINEL1,
        np.random.default_rng(seed),
    )
    return replace(c, wind_ms=wind, partial=False)


def _write(folder, grid, r, port=None):
    folder.mkdir(parents=True, exist_ok=True)
    write_geotiff(folder / "scene.tif", r.sigma0, grid, ["VV", "VH"], {})
    write_labels(folder / "labels.geojson", r.labels)
    props = {"tankerwatch:sensor": "sentinel-1-grd"}
    if port:
        props["tankerwatch:port"] = port
    (folder / "item.json").write_text(json.dumps({"properties": props}))
    return folder


def test_alpha_gives_the_false_alarm_rate_of_gamma_clutter():
    rng = np.random.default_rng(0)
    x = rng.gamma(4.4, 1 / 4.4, size=2_000_000)
    for pfa in (1e-2, 1e-3, 1e-4):
        rate = float((x > gamma_alpha(pfa, 4.4)).mean())
        assert 0.7 * pfa < rate < 1.3 * pfa


def test_open_sea_without_ships_gives_nothing(tmp_path):
    grid = Grid("EPSG:32653", 500_000.0, 4_700_000.0, 160, 160, 10.0)
    surf = build_surface(grid, [], [], [], np.random.default_rng(1))
    for wind, seed in ((3.0, 1), (12.0, 2)):
        r = render_sar_scene(surf, _cond(wind, seed), [], SENTINEL1, np.random.default_rng(seed))
        d = _write(tmp_path / f"sea{seed}", grid, r)
        assert detect_scene(d / "scene.tif", CfarDetector()) == []


@pytest.fixture(scope="module")
def berth_scene(tmp_path_factory):
    """A 1.6 x 1.2 km window of Vostochny: a tanker at the oil berth, a cargo ship at anchor,
    the piers, quay walls, cranes and tanks of the port around them."""
    port = load_port("vostochny")
    lay = port_layout(port)
    c = lay.berth("oil-1").polygon.centroid
    grid = Grid.around(lay.crs, c.x, c.y, 160, 120, 10.0)
    rng = np.random.default_rng(7)
    surf = build_surface(grid, lay.land, lay.piers, lay.lookalikes, rng)
    placer = Placer(lay, rng)
    tanker = make_vessel("tanker", rng, key="t", name="tanker")
    tanker.length_m, tanker.beam_m = 95.0, 15.0
    tanker.extra = {"role": "load", "visit_id": "v1"}
    placer.at_berth(tanker, lay.berth("oil-1"), force=True)
    from shapely.geometry import box

    view = box(grid.x0, grid.y0 - 1200, grid.x0 + 1600, grid.y0).intersection(lay.aoi)
    cargo = make_vessel("cargo", rng, key="c", name="cargo")
    cargo.length_m, cargo.beam_m = 140.0, 21.0
    cargo.extra = {"role": "anchored", "visit_id": ""}
    assert placer.at_anchor(cargo, view, force=True)
    r = render_sar_scene(surf, _cond(6.0, 3), [tanker, cargo], SENTINEL1, rng)
    assert len(r.labels) == 2
    d = _write(tmp_path_factory.mktemp("berth") / "scene", grid, r, port="vostochny")
    return d, port


def test_finds_the_ships_and_not_the_piers(berth_scene):
    d, port = berth_scene
    dets = detect_scene(d / "scene.tif", CfarDetector(), land=port.land_shape)
    res = evaluate_dataset(d.parent, CfarDetector(), on_skip=lambda *a: None)
    o = res["overall"]
    assert o["tp"] == 2 and o["fn"] == 0
    # nothing on the piers, quay walls, cranes or tanks (fixed look-alikes in the water may be)
    assert o["fp"] <= 1
    assert len(dets) == o["tp"] + o["fp"]
    # without the land it is handed, land counts as background: the bright port around the
    # berth raises the level and the tanker alongside is lost
    bare = detect_scene(d / "scene.tif", CfarDetector())
    assert len(bare) < len(dets)


def test_length_bias_is_removed():
    grid = Grid("EPSG:32653", 500_000.0, 4_700_000.0, 96, 96, 10.0)
    surf = build_surface(grid, [], [], [], np.random.default_rng(0))
    raw, corrected = [], []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        vd = make_vessel("tanker", rng, key="t")
        vd.length_m, vd.beam_m = 100.0, 16.0
        vd.x, vd.y, vd.heading_deg = grid.x0 + 480, grid.y0 - 480, 20.0 + 25 * seed
        vd.extra = {"role": "anchored", "visit_id": ""}
        r = render_sar_scene(surf, _cond(7.0, seed), [vd], SENTINEL1, rng)
        x = r.sigma0.astype(np.float32)
        valid = np.ones(x.shape[1:], dtype=bool)
        uncorrected = CfarDetector()
        uncorrected.length_bias_m, uncorrected.length_gain = 0.0, 1.0
        (a,) = uncorrected.detect_array(x, valid)
        (b,) = CfarDetector().detect_array(x, valid)
        raw.append(a["length"] * 10.0)
        corrected.append(b["length"] * 10.0)
    # the bright extent overestimates (resolution, sidelobes); the correction takes it off
    assert np.mean(raw) - 100.0 > 15.0
    assert abs(np.mean(corrected) - 100.0) < 15.0


def test_registered_as_classical_detector():
    det = load_detector("cfar")
    assert isinstance(det, CfarDetector)
    assert det.bands == ["VV", "VH"] and det.uses_land
    assert det.model_id.startswith("cfar-s1")


def test_spill_of_all_bands_at_once_is_scipys_convolution_of_each():
    """The batched spill (one kernel transform per shape, single precision) is fftconvolve's
    to single-precision rounding, and the same band by band as all at once."""
    from scipy import signal

    from pipeline.detect.cfar import spill_kernel

    rng = np.random.default_rng(4)
    x = rng.gamma(4.4, 1 / 4.4, size=(2, 57, 83))
    land = rng.random((57, 83)) > 0.7
    det = CfarDetector()
    both = det.spill(x, land)
    k = spill_kernel(det.spill_sigma_px, det.spill_sidelobe)
    for b in range(2):
        one = signal.fftconvolve(np.where(land, x[b], 0.0), k, mode="same")
        np.testing.assert_allclose(both[b], np.maximum(one, 0.0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(det.spill(x[b], land), both[b], rtol=1e-6, atol=1e-7)
    assert both.dtype == x.dtype
    assert not det.spill(x, np.zeros_like(land)).any()


def test_shore_tests_on_crops_answer_as_the_whole_window():
    """next_to / reaches_from look at a crop around the pixels; the answers are those of the
    dilation and distance transform of the whole window."""
    from scipy import ndimage

    from pipeline.detect.cfar import next_to, reaches_from

    rng = np.random.default_rng(5)
    for trial in range(40):
        land = ndimage.binary_opening(rng.random((60, 70)) > 0.75 + 0.005 * trial)
        ys = rng.integers(0, 60, size=12)
        xs = rng.integers(0, 70, size=12)
        touch = ndimage.binary_dilation(land, structure=np.ones((3, 3)), iterations=2)
        np.testing.assert_array_equal(next_to(land, xs, ys, 2), touch[ys, xs])
        if land.any():
            dist = ndimage.distance_transform_edt(~land)[ys, xs].max()
            for reach in (0.5, 2.0, dist - 0.01, dist, dist + 0.01, 30.0):
                assert reaches_from(land, xs, ys, reach) == (dist >= reach)
    far = np.zeros((40, 40), dtype=bool)
    far[0, 0] = True
    assert reaches_from(far, np.array([39]), np.array([39]), 20.0)
    assert not next_to(far, np.array([39]), np.array([39]), 2).any()


def test_ring_count_is_shared_by_the_bands():
    """The background with the ring's count handed in equals the one that counts itself."""
    rng = np.random.default_rng(6)
    x = rng.gamma(4.4, 1 / 4.4, size=(80, 90))
    use = rng.random((80, 90)) > 0.2
    det = CfarDetector()
    np.testing.assert_array_equal(
        det.background(x, use), det.background(x, use, det.ring_count(use))
    )
    # deep in land the ring holds too few water pixels: no decision there
    use[:60, :60] = False
    assert np.isinf(det.background(x, use)[10, 10])
