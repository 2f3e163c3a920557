"""Local Sentinel-1 GeoTIFFs: calibration and scale from tags, band names or a sidecar STAC item,
dB vs linear read off the values when nothing says, each recorded in the scene's item."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from ingest import data
from pipeline.config import load_ports
from pipeline.ingest.core import ingest
from pipeline.ingest.sar import detect_scale, relative_orbit
from pipeline.ledger.store import Ledger


def run(folder, tmp_path, settings=None):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            "2024-06-01",
            "2024-06-30",
            "local",
            led,
            tmp_path / "cache",
            path=folder,
            settings=settings,
        )
        return s, led.scenes(ports=["vostochny"]), led.observations()


def offsets(src, tr) -> tuple[int, int]:
    """Row and column of the cached AOI window in the written file."""
    return round((tr.f - src.transform.f) / 10), round((src.transform.c - tr.c) / 10)


def item_of(scene) -> dict:
    return json.loads(open(scene.stac_path).read())["properties"]


def test_tagged_linear_sigma0(tmp_path):
    p = data.port()
    arr, crs, tr = data.sar_arrays(p, seed=1)
    tags = {"ACQUIRED": "2024-06-03T21:10:05Z", "SAR_QUANTITY": "sigma0", "SAR_SCALE": "linear"}
    data.write_tif(tmp_path / "img" / "s1.tif", arr, crs, tr, ["VV", "VH"], nodata=0, tags=tags)
    s, scenes, obs = run(tmp_path / "img", tmp_path)
    assert s.added == 1 and s.skipped == []
    sc = scenes[0]
    assert sc.sensor == "sentinel-1-grd" and sc.bands == ["VV", "VH"]
    assert {o.state for o in obs} == {"clear"} and sc.cloud_fraction == 0
    props = item_of(sc)
    assert props["tankerwatch:sar_quantity"] == "sigma0"
    assert props["tankerwatch:sar_quantity_from"] == "tag SAR_QUANTITY"
    assert props["tankerwatch:sar_scale_source"] == "linear"
    assert props["tankerwatch:sar_scale_detected"] is False
    with rasterio.open(sc.path) as src:
        r0, c0 = offsets(src, tr)
        np.testing.assert_array_equal(
            src.read(1), arr[0][r0 : r0 + src.height, c0 : c0 + src.width]
        )


def test_undeclared_db_is_detected_and_converted(tmp_path):
    p = data.port()
    arr, crs, tr = data.sar_arrays(p, seed=2, scale="db")
    data.write_tif(tmp_path / "img" / "s1_20240604T211005.tif", arr, crs, tr, ["VV", "VH"], None)
    s, scenes, _ = run(tmp_path / "img", tmp_path)
    assert s.added == 1
    props = item_of(scenes[0])
    assert props["tankerwatch:sar_scale_source"] == "db"
    assert props["tankerwatch:sar_scale_detected"] is True
    assert props["tankerwatch:sar_quantity"] == "sigma0"
    assert props["tankerwatch:sar_quantity_from"].startswith("assumed")
    with rasterio.open(scenes[0].path) as src:
        vv = src.read(1)
        r0, c0 = offsets(src, tr)
        assert src.tags()["SAR_SCALE"] == "linear"
    db = arr[0][r0 : r0 + vv.shape[0], c0 : c0 + vv.shape[1]]
    np.testing.assert_allclose(vv, 10 ** (db / 10), rtol=1e-5)


def test_snap_band_names_and_sidecar_item(tmp_path):
    """SNAP exports name bands Gamma0_VV_db; a sidecar STAC item gives orbit and incidence."""
    p = data.port()
    arr, crs, tr = data.sar_arrays(p, seed=3, scale="db")
    img = tmp_path / "img"
    data.write_tif(img / "subset_S1A.tif", arr, crs, tr, ["Gamma0_VV_db", "Gamma0_VH_db"], None)
    side = {
        "type": "Feature",
        "properties": {
            "datetime": "2024-06-05T08:52:31Z",
            "platform": "sentinel-1a",
            "sat:orbit_state": "ASCENDING",
            "sat:absolute_orbit": 54321,
            "view:incidence_angle": 38.7,
            "sar:instrument_mode": "IW",
        },
    }
    (img / "subset_S1A.json").write_text(json.dumps(side))
    s, scenes, _ = run(img, tmp_path)
    assert s.added == 1 and scenes[0].bands == ["VV", "VH"]
    props = item_of(scenes[0])
    assert props["tankerwatch:sar_quantity"] == "gamma0"
    assert props["tankerwatch:sar_quantity_from"] == "band name Gamma0_VV_db"
    assert (props["tankerwatch:sar_scale_source"], props["tankerwatch:sar_scale_detected"]) == (
        "db",
        False,
    )
    assert props["sat:orbit_state"] == "ascending"
    assert props["sat:relative_orbit"] == relative_orbit(54321, "sentinel-1a") == 174
    assert props["view:incidence_angle"] == 38.7


def test_mask_band_obscures_the_berths_it_covers(tmp_path):
    p = data.port()
    arr, crs, tr = data.sar_arrays(p, seed=4)
    mask = np.zeros(arr.shape[1:], np.float32)
    mask[: int(mask.shape[0] * 0.4)] = 1  # the northern 40 %: general-1 in radar shadow
    data.write_tif(
        tmp_path / "img" / "s1_20240606.tif",
        np.concatenate([arr, mask[None]]),
        crs,
        tr,
        ["VV", "VH", "shadowMask"],
        None,
    )
    s, scenes, obs = run(tmp_path / "img", tmp_path)
    assert s.added == 1 and scenes[0].bands == ["VV", "VH"]
    assert {o.berth: o.state for o in obs} == {
        "general-1": "obscured",
        "oil-1": "clear",
        "coal-1": "clear",
    }


def test_scale_detection_rules():
    rng = np.random.default_rng(0)
    sea = rng.gamma(4.4, 10**-1.8 / 4.4, 10000)
    assert detect_scale(sea) == "linear"
    assert detect_scale(10 * np.log10(sea)) == "db"
    assert detect_scale(np.sqrt(sea) * 900) is None  # amplitude DN
    assert detect_scale(rng.integers(100, 4000, 10000).astype(float)) is None


@pytest.mark.parametrize(
    "platform,absolute,relative",
    [("sentinel-1a", 73, 1), ("sentinel-1a", 248, 1), ("SENTINEL-1B", 27, 1), ("s1c", 9, None)],
)
def test_relative_orbit(platform, absolute, relative):
    assert relative_orbit(absolute, platform) == relative


def test_simulated_sar_scene(tmp_path):
    """A Sentinel-1 scene in the simulator's layout: scene.tif (VV, VH linear sigma0), scl.tif
    (0 = nodata, radar shadow, layover), item.json with its sar/sat/view fields."""
    from datetime import UTC, datetime

    p = data.port()
    arr, crs, tr = data.sar_arrays(p, seed=6)
    scl = np.full(arr.shape[1:], 6, np.uint8)
    scl[:, : scl.shape[1] // 5] = 0  # the western fifth: shadow / no data
    arr[:, scl == 0] = 0
    when = datetime(2024, 6, 7, 20, 31, 2, tzinfo=UTC)
    d = data.simulator_scene(tmp_path / "sim", p, when, seed=6, sensor="sentinel-1-grd")
    data.write_tif(d / "scene.tif", arr, crs, tr, ["VV", "VH"])
    data.write_tif(d / "scl.tif", scl[None], crs, tr, ["SCL"])
    item = json.loads((d / "item.json").read_text())
    item["properties"] |= {
        "sat:orbit_state": "descending",
        "sat:relative_orbit": 119,
        "view:incidence_angle": 41.3,
        "sar:polarizations": ["VV", "VH"],
        "tankerwatch:backscatter": "sigma0",
        "tankerwatch:backscatter_scale": "linear",
    }
    (d / "item.json").write_text(json.dumps(item))
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            "2024-06-01",
            "2024-06-30",
            "simulated",
            led,
            tmp_path / "cache",
            path=tmp_path / "sim",
        )
        sc = led.scenes()[0]
    assert s.added == 1 and sc.sensor == "sentinel-1-grd" and sc.bands == ["VV", "VH"]
    assert sc.valid_fraction < 0.9 and sc.cloud_fraction == 0
    props = item_of(sc)
    assert props["tankerwatch:sar_quantity_from"] == "sidecar tankerwatch:backscatter"
    assert props["tankerwatch:sar_scale_detected"] is False
    assert (props["sat:orbit_state"], props["sat:relative_orbit"]) == ("descending", 119)
    assert props["view:incidence_angle"] == 41.3 and props["tankerwatch:cloud_mask"] == "sar"
