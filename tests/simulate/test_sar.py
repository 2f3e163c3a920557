"""The simulated Sentinel-1 sensor: pass times, speckle statistics, sea clutter vs wind, ship
contrast, static returns, labels and masks, the scenario and chip outputs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest
import rasterio

from pipeline.config import load_port
from pipeline.simulate.chips import write_chips
from pipeline.simulate.layout import port_layout
from pipeline.simulate.render import LAND, PIER, WATER, Grid, build_surface
from pipeline.simulate.sar import cmod5n, db, render_sar_scene
from pipeline.simulate.sensors import SENTINEL1, SarPass
from pipeline.simulate.vessels import Placer, make_vessel
from pipeline.simulate.weather import draw_sar_conditions

CRS = "EPSG:32653"


def _open_sea(size=160):
    grid = Grid(CRS, 500_000.0, 4_700_000.0, size, size, 10.0)
    return grid, build_surface(grid, [], [], [], np.random.default_rng(0))


def _cond(wind=7.0, state="descending", incidence=38.0, seed=0):
    p = SarPass(61, state, 0, incidence)
    c = draw_sar_conditions(
        datetime(2024, 5, 1, 21, 0, tzinfo=UTC), p, SENTINEL1, np.random.default_rng(seed)
    )
    return replace(c, wind_ms=wind, wind_dir_deg=0.0, partial=False, incidence_deg=incidence)


def test_passes_are_sentinel1_like():
    rng = np.random.default_rng(1)
    sched = SENTINEL1.pass_schedule(date(2024, 3, 1), date(2024, 6, 30), 133.0, rng, 0, 42.7)
    times = [t for t, _ in sched]
    states = {p.orbit_state for _, p in sched}
    assert states == {"ascending", "descending"}
    gaps = np.diff([t.timestamp() for t in times]) / 86400
    # S1A alone, three relative orbits per 12 days: one image every ~4 days, never daily
    assert 3.2 < float(np.mean(gaps)) < 5.0 and gaps.max() <= 13 and gaps.min() >= 1.4
    for t, p in sched:
        local = (t.hour + t.minute / 60 + 133.0 / 15) % 24
        assert abs(local - (18.0 if p.orbit_state == "ascending" else 6.0)) < 0.2
    south = SENTINEL1.pass_schedule(date(2024, 3, 1), date(2024, 6, 30), 125.0, rng, 0, 38.7)
    assert len(south) < len(sched)


def test_speckle_enl_and_sea_clutter_follow_cmod5():
    grid, surf = _open_sea()
    cond = _cond(wind=10.0)
    r = render_sar_scene(surf, cond, [], SENTINEL1, np.random.default_rng(2))
    vv = r.sigma0[0].astype(np.float64)
    # ENL on 20 x 20 px windows (homogeneous: the wind varies over kilometres)
    enls = []
    for i in range(0, 160, 20):
        for j in range(0, 160, 20):
            w = vv[i : i + 20, j : j + 20]
            enls.append(w.mean() ** 2 / w.var())
    assert 3.6 < float(np.median(enls)) < 5.2  # Sentinel-1 IW GRD-HR: ENL 4.4
    # open-sea mean VV: CMOD5.N at the scene's wind plus the noise floor (the km-scale wind
    # variability adds a few tenths of a dB to the mean)
    phi = (cond.wind_dir_deg + 180.0 - cond.look_deg) % 360.0
    expect = float(db(cmod5n(10.0, phi, 38.0) + 10 ** (cond.nesz_db / 10)))
    assert abs(float(db(vv.mean())) - expect) < 1.0
    # VH far below VV over the sea (and near the noise floor)
    assert float(db(r.sigma0[1].mean())) < float(db(vv.mean())) - 6


def test_sea_clutter_grows_with_wind():
    grid, surf = _open_sea(96)
    calm = render_sar_scene(surf, _cond(wind=3.0), [], SENTINEL1, np.random.default_rng(3))
    windy = render_sar_scene(surf, _cond(wind=12.0), [], SENTINEL1, np.random.default_rng(3))
    # (the calm sea sits near the noise floor, which caps the difference)
    assert float(db(windy.sigma0[0].mean())) - float(db(calm.sigma0[0].mean())) > 4.0


def _ship_scene(wind=6.0, length=90.0, seed=4):
    grid, surf = _open_sea(96)
    rng = np.random.default_rng(seed)
    vd = make_vessel("tanker", rng, key="t")
    vd.length_m, vd.beam_m = length, 0.16 * length
    vd.x, vd.y, vd.heading_deg = grid.x0 + 480.0, grid.y0 - 480.0, 30.0
    vd.extra = {"role": "anchored", "visit_id": ""}
    r = render_sar_scene(surf, _cond(wind=wind), [vd], SENTINEL1, rng)
    return grid, r


@pytest.mark.parametrize("wind", [3.0, 10.0])
def test_ship_sea_contrast_in_calibrated_range(wind):
    grid, r = _ship_scene(wind=wind)
    vv = r.sigma0[0]
    assert len(r.labels) == 1 and r.labels[0]["properties"]["occluded"] == 0.0
    x, y, w, h = r.labels[0]["properties"]["bbox_px"]
    win = vv[int(y) : int(y + h) + 1, int(x) : int(x + w) + 1]
    sea = np.median(vv[:, :20])
    contrast = float(db(np.sort(win.ravel())[-5:].mean()) - db(sea))
    # published Sentinel-1 IW ship-to-sea contrast: ~10-35 dB (BENCHMARKS.md)
    assert 10.0 < contrast < 38.0
    # the sidelobe cross: pixels 3-6 px from the hull along range are above the sea
    assert float(vv.max()) > 100 * float(sea)


def test_port_scene_static_returns_no_clouds_labels():
    port = load_port("vostochny")
    lay = port_layout(port)
    c = lay.berth("oil-1").polygon.centroid
    grid = Grid.around(lay.crs, c.x, c.y, 160, 120, 10.0)
    rng = np.random.default_rng(5)
    surf = build_surface(grid, lay.land, lay.piers, lay.lookalikes, rng)
    vd = make_vessel("tanker", rng, key="v")
    vd.extra = {"role": "load", "visit_id": "x"}
    Placer(lay, rng).at_berth(vd, lay.berth("oil-1"), force=True)
    r = render_sar_scene(surf, _cond(wind=6.0), [vd], SENTINEL1, rng)
    assert r.sigma0.dtype == np.float32 and r.sigma0.shape == (2, 120, 160)
    assert len(r.labels) == 1 and r.labels[0]["properties"]["role"] == "load"
    # no cloud codes at all: only nodata (shadow / layover), vegetation, bare, water
    assert set(np.unique(r.scl)) <= {0, 4, 5, 6}
    assert r.cloud_fraction == 0.0
    # walls facing the radar: the brightest land pixels are far above the land median
    land = (surf.cls == LAND) | (surf.cls == PIER)
    assert land.sum() > 100
    vv = r.sigma0[0]
    assert float(db(np.percentile(vv[land], 99.9)) - db(np.median(vv[land]))) > 10
    sea = surf.cls == WATER
    assert float(db(np.median(vv[land]))) > float(db(np.median(vv[sea]))) + 5
    # no radar shadow or layover near a berth: SAR observes every berth it covers
    from rasterio.features import geometry_mask

    for b in lay.berths:
        near = geometry_mask(
            [b.polygon.buffer(30)], r.scl.shape, grid.transform, invert=True, all_touched=True
        )
        assert not (near & (r.scl == 0)).any(), b.id


def test_simulate_writes_sar_scenes(tmp_path):
    from pipeline.simulate.run import simulate
    from pipeline.simulate.scenario import load_scenario

    sc = load_scenario("configs/scenarios/tiny.yaml")
    sc = sc.model_copy(
        update={
            "end": date(2024, 6, 8),
            "sensors": [
                sc.sensors[0].model_copy(
                    update={"name": "sentinel-1-grd", "box_m": (1200.0, 900.0)}
                )
            ],
        }
    )
    out = simulate(sc, tmp_path / "sim")
    scenes = sorted((out / "scenes").iterdir())
    assert scenes
    for d in scenes:
        item = json.loads((d / "item.json").read_text())["properties"]
        assert item["tankerwatch:sensor"] == "sentinel-1-grd"
        assert item["sar:polarizations"] == ["VV", "VH"]
        assert item["sar:instrument_mode"] == "IW"
        assert item["sat:orbit_state"] in ("ascending", "descending")
        assert isinstance(item["sat:relative_orbit"], int)
        assert 29 <= item["view:incidence_angle"] <= 46
        assert item["tankerwatch:backscatter"] == "sigma0"
        assert item["tankerwatch:backscatter_scale"] == "linear"
        assert "eo:cloud_cover" not in item
        with rasterio.open(d / "scene.tif") as src:
            assert src.descriptions == ("VV", "VH") and src.dtypes[0] == "float32"
            vv = src.read(1)
        assert 0 < float(np.median(vv[vv > 0])) < 1
        with rasterio.open(d / "scl.tif") as src:
            assert set(np.unique(src.read(1))) <= {0, 4, 5, 6}
        assert (d / "labels.geojson").exists()


def test_write_chips_sar(tmp_path):
    paths = write_chips(tmp_path, 4, seed=1, size_px=64, sensor="sentinel-1-grd")
    n = 0
    for d in paths:
        with rasterio.open(d / "scene.tif") as src:
            assert src.descriptions == ("VV", "VH") and src.dtypes[0] == "float32"
        fc = json.loads((d / "labels.geojson").read_text())
        assert fc["sensor"] == "sentinel-1-grd" and fc["backscatter"] == "sigma0 linear"
        n += len(fc["features"])
        for f in fc["features"]:
            assert f["properties"]["occluded"] == 0.0
    assert n > 0
    again = write_chips(tmp_path / "again", 4, seed=1, size_px=64, sensor="sentinel-1-grd")
    for a, b in zip(paths, again, strict=True):
        assert (a / "scene.tif").read_bytes() == (b / "scene.tif").read_bytes()
