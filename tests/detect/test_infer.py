"""Tiled detection: a vessel on a tile seam is reported once, lengths are true ground metres
whatever the scene CRS, land masking, evidence chips."""

from __future__ import annotations

import math

import pytest
from shapely import wkt

from detect import synth
from pipeline.detect.baseline import BaselineDetector
from pipeline.detect.infer import detect_scene, point_nms


class SmallTiles(BaselineDetector):
    tile = 64
    overlap = 24


def test_point_nms_keeps_best_of_close_centres():
    dets = [
        {"cx": 10.0, "cy": 10.0, "score": 0.5},
        {"cx": 11.5, "cy": 9.0, "score": 0.9},
        {"cx": 30.0, "cy": 10.0, "score": 0.4},
    ]
    kept = point_nms(dets, radius_px=4.0)
    assert [d["score"] for d in kept] == [0.9, 0.4]


def test_vessel_on_tile_seam_is_reported_once(tmp_path):
    # tiles start every 40 px; put hulls across the seams at x=40 and y=80 and one in a corner
    ships = [(40.5, 20, 200, 30, 90), (20, 80.5, 180, 30, 0), (80.3, 80.2, 150, 25, 45)]
    refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=3)
    path = synth.write_geotiff(tmp_path / "seam.tif", refl, transform, crs)
    dets = detect_scene(path, SmallTiles())
    assert len(dets) == 3
    for poly in polys:
        from pipeline.detect.geometry import to_crs

        near = [
            d for d in dets if to_crs(wkt.loads(d.geometry), "EPSG:4326", crs).distance(poly) < 10
        ]
        assert len(near) == 1


def test_same_length_in_web_mercator_and_utm(tmp_path):
    ships = [(64, 64, 220, 32, 60)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=5)
    utm_path = synth.write_geotiff(tmp_path / "utm.tif", refl, transform, crs)
    merc, mt = synth.reproject_to(refl, transform, crs, "EPSG:3857", 10.0)
    merc_path = synth.write_geotiff(tmp_path / "merc.tif", merc, mt, "EPSG:3857")
    a = detect_scene(utm_path, BaselineDetector())
    b = detect_scene(merc_path, BaselineDetector())
    assert len(a) == len(b) == 1
    # 10 Mercator units at 42.9 N are only 7.3 m: a naive pixel count would say ~300 m
    assert abs(a[0].length_m - 220) < 25
    assert abs(b[0].length_m - a[0].length_m) < 15
    assert abs(a[0].heading_deg - 60) < 10 and abs(b[0].heading_deg - 60) < 10
    assert math.isclose(a[0].lat, b[0].lat, abs_tol=2e-4)


def test_land_mask_and_chips(tmp_path):
    from shapely.geometry import box

    ships = [(30, 30, 150, 30, 0), (100, 100, 150, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=7)
    path = synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs)
    dets = detect_scene(path, BaselineDetector(), chips_dir=tmp_path / "chips", scene_id="x")
    assert len(dets) == 2 and all(d.scene_id == "x" for d in dets)
    assert len(list((tmp_path / "chips").glob("x_*.png"))) == 2
    first = dets[0]
    land = box(first.lon - 0.001, first.lat - 0.001, first.lon + 0.001, first.lat + 0.001)
    masked = detect_scene(path, BaselineDetector(), land=land)
    assert len(masked) == 1 and masked[0].id != first.id


def test_default_scene_id_is_folder_or_stem(tmp_path):
    refl, transform, crs, _ = synth.utm_scene(64, 64, ships=[(32, 32, 150, 30, 0)], seed=2)
    synth.write_geotiff(tmp_path / "portA" / "scene.tif", refl, transform, crs)
    assert detect_scene(tmp_path / "portA", BaselineDetector())[0].scene_id == "portA"
    p = synth.write_geotiff(tmp_path / "other.tif", refl, transform, crs)
    assert detect_scene(p, BaselineDetector())[0].scene_id == "other"


def test_all_nodata_scene_raises(tmp_path):
    from pipeline.errors import TankerWatchError

    refl, transform, crs, _ = synth.utm_scene(64, 64, seed=2)
    p = synth.write_geotiff(tmp_path / "zero.tif", refl * 0, transform, crs, nodata=0)
    with pytest.raises(TankerWatchError, match="all pixels are nodata"):
        detect_scene(p, BaselineDetector())
