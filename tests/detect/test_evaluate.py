"""Scoring rules: 30 m from the footprint, one-to-one Hungarian matching, MAE, mAP."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, box

from detect import synth
from pipeline.detect.evaluate import evaluate_dataset, match, score_scene, summarise
from pipeline.records import Detection

SHIP = box(0, 0, 100, 20)  # metric CRS


def test_centre_inside_or_within_30_m_matches():
    assert match([Point(50, 10)], [SHIP]) == [(0, 0, 0.0)]
    ((i, j, d),) = match([Point(50, 49)], [SHIP])
    assert (i, j) == (0, 0) and d == pytest.approx(29.0)
    assert match([Point(50, 51)], [SHIP]) == []
    assert match([Point(131, 10)], [SHIP]) == []
    assert len(match([Point(129, 10)], [SHIP])) == 1


def test_matching_is_one_to_one_and_globally_optimal():
    other = box(130, 0, 230, 20)
    # p0 is close to both ships, p1 only to the first: the assignment must give p0 the second
    pairs = match([Point(115, 10), Point(60, 10)], [SHIP, other])
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 1), (1, 0)]
    # two predictions on one ship: one true positive, one false positive
    assert len(match([Point(50, 10), Point(52, 10)], [SHIP])) == 1


def _det(lon, lat, length=100.0, beam=20.0, score=0.9):
    from shapely.geometry import Point as P

    return Detection(
        scene_id="s",
        geometry=P(lon, lat).buffer(0.0003, cap_style=3).wkt,
        lon=lon,
        lat=lat,
        length_m=length,
        beam_m=beam,
        heading_deg=0.0,
        score=score,
        cls="vessel",
        model="m",
    )


def test_score_scene_counts_and_mae():
    from pipeline.detect.geometry import to_crs

    lab_poly = to_crs(synth.ship_polygon(500000, 4700000, 120, 20, 0), "EPSG:32652", "EPSG:4326")
    labels = [{"geometry": lab_poly, "cls": "vessel", "length_m": 120.0, "beam_m": 20.0}]
    c = lab_poly.centroid
    dets = [_det(c.x, c.y, length=110.0, beam=25.0), _det(c.x + 0.01, c.y, score=0.3)]
    s = score_scene(dets, labels)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    out = summarise({"s": s})
    assert out["precision"] == 0.5 and out["recall"] == 1.0
    assert out["f1"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["length_mae_m"] == 10.0 and out["beam_mae_m"] == 5.0
    assert 0.0 <= out["map50"] <= 1.0


def test_no_labels_no_predictions_is_zero_not_crash():
    out = summarise({"s": score_scene([], [])})
    assert out["f1"] == 0.0 and out["length_mae_m"] is None


def test_evaluate_dataset_on_synthetic_layout(tmp_path):
    from pipeline.detect.baseline import BaselineDetector

    for i, name in enumerate(["a", "b"]):
        ships = [(40, 40, 180, 30, 30 * i), (90, 90, 120, 25, 100)]
        refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=i)
        synth.write_geotiff(tmp_path / "scenes" / name / "scene.tif", refl, transform, crs)
        synth.write_labels(tmp_path / "scenes" / name / "labels.geojson", polys, crs)
    res = evaluate_dataset(tmp_path, BaselineDetector())
    assert set(res["scenes"]) == {"a", "b"}
    o = res["overall"]
    assert o["n_labels"] == 4 and o["recall"] == 1.0 and o["precision"] == 1.0
    assert o["length_mae_m"] < 20 and o["map50"] > 0.5


def test_occluded_labels_are_ignored_not_missed():
    from pipeline.detect.geometry import to_crs

    seen = to_crs(synth.ship_polygon(500000, 4700000, 120, 20, 0), "EPSG:32652", "EPSG:4326")
    hidden = to_crs(synth.ship_polygon(501000, 4700000, 120, 20, 0), "EPSG:32652", "EPSG:4326")
    labels = [
        {"geometry": seen, "cls": "vessel", "length_m": 120.0, "beam_m": 20.0},
        {"geometry": hidden, "cls": "vessel", "length_m": 120.0, "beam_m": 20.0, "occluded": 0.9},
    ]
    dets = [_det(seen.centroid.x, seen.centroid.y), _det(hidden.centroid.x, hidden.centroid.y)]
    s = score_scene(dets, labels)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)
    s = score_scene(dets[:1], labels)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)


def _lab(x, y, length, beam=20.0):
    """A label dict (EPSG:4326) of a hull centred at UTM 52N (x, y), axis east-west."""
    from pipeline.detect.geometry import to_crs

    poly = to_crs(synth.ship_polygon(x, y, length, beam, 90), "EPSG:32652", "EPSG:4326")
    return {"geometry": poly, "cls": "vessel", "length_m": float(length), "beam_m": beam}


def _det_at(x, y, length):
    from pipeline.detect.geometry import to_crs

    p = to_crs(Point(x, y), "EPSG:32652", "EPSG:4326")
    return _det(p.x, p.y, length=length)


def test_min_length_ignores_small_labels_and_small_unmatched_predictions():
    labels = [
        _lab(500000, 4700000, 120),  # A: found
        _lab(501000, 4700000, 40),  # B: small, found by a small prediction
        _lab(502000, 4700000, 150),  # C: missed
        _lab(503000, 4700000, 30),  # D: small, missed
    ]
    dets = [
        _det_at(500000, 4700000, 110),  # on A
        _det_at(501000, 4700000, 35),  # on B
        _det_at(504000, 4700000, 30),  # small false alarm
        _det_at(505000, 4700000, 80),  # large false alarm
        _det_at(503000, 4700500, 90),  # large, 500 m from D: a false alarm under both rules
    ]
    s = score_scene(dets, labels)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 3, 2)
    s = score_scene(dets, labels, min_length_m=60)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 2, 1)
    assert [p["true_length_m"] for p in s["pairs"]] == [120.0]
    assert len(s["label_boxes"]) == 2 and len(s["pred_boxes"]) == 3
    out = summarise({"s": s})
    assert out["precision"] == pytest.approx(1 / 3, abs=1e-4) and out["recall"] == 0.5
    # a large prediction matched to a small label is not a false alarm either
    s = score_scene([_det_at(501000, 4700000, 100)], labels[1:2], min_length_m=60)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 0)


def test_recall_split_alongside_and_open_water():
    from pipeline.detect.geometry import to_crs

    quay = to_crs(box(499000, 4700100, 506000, 4701000), "EPSG:32652", "EPSG:4326")
    labels = [
        _lab(500000, 4700080, 120),  # outline 10 m from the quay: alongside, found
        _lab(501000, 4700075, 120),  # 15 m: alongside, missed
        _lab(502000, 4700070, 40),  # alongside but small: out of the mission-size rule
        _lab(503000, 4700065, 120),  # 25 m (beam 20, centre 35 m off): open water, missed
        _lab(504000, 4699000, 200),  # open water, found
    ]
    dets = [_det_at(500000, 4700080, 120), _det_at(504000, 4699000, 200)]
    s = score_scene(dets, labels, land=quay)
    assert s["alongside"] == {"tp": 1, "fn": 2} and s["open"] == {"tp": 1, "fn": 1}
    s = score_scene(dets, labels, land=quay, min_length_m=60)
    assert s["alongside"] == {"tp": 1, "fn": 1} and s["open"] == {"tp": 1, "fn": 1}
    out = summarise({"s": s})
    assert out["recall_alongside"] == {"recall": 0.5, "tp": 1, "n": 2}
    assert out["recall_open"] == {"recall": 0.5, "tp": 1, "n": 2}
    # without land there is no split
    assert "recall_alongside" not in summarise({"s": score_scene(dets, labels)})


def test_length_mae_by_size_class():
    from pipeline.detect.evaluate import length_mae_by_size

    pairs = [
        {"length_m": 100.0, "true_length_m": 80.0},
        {"length_m": 60.0, "true_length_m": 70.0},
        {"length_m": 150.0, "true_length_m": 120.0},  # 120 belongs to 120-200
        {"length_m": 250.0, "true_length_m": 300.0},
        {"length_m": 50.0, "true_length_m": 40.0},  # under 60 m: no class
    ]
    out = length_mae_by_size(pairs)
    assert out["60-120 m"] == {"n": 2, "mae_m": 15.0, "bias_m": 5.0}
    assert out["120-200 m"] == {"n": 1, "mae_m": 30.0, "bias_m": 30.0}
    assert out["> 200 m"] == {"n": 1, "mae_m": 50.0, "bias_m": -50.0}


def test_evaluate_dataset_min_length_and_land(tmp_path):
    from pipeline.detect.baseline import BaselineDetector

    ships = [(40, 40, 180, 30, 30), (90, 90, 120, 25, 100)]
    refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=3)
    synth.write_geotiff(tmp_path / "scenes" / "a" / "scene.tif", refl, transform, crs)
    synth.write_labels(tmp_path / "scenes" / "a" / "labels.geojson", polys, crs)
    res = evaluate_dataset(tmp_path, BaselineDetector(), min_length_m=150)
    assert res["min_length_m"] == 150 and res["land"] == {"a": "ndwi"}
    o = res["overall"]
    assert (o["tp"], o["fp"], o["fn"]) == (1, 0, 0)  # the 120 m hull and its detection ignored
    # all water (the hulls are single NIR-bright components far under 0.1 km2): open water
    assert o["recall_open"]["n"] == 1 and o["recall_alongside"]["n"] == 0
    with pytest.raises(Exception, match="must be a length"):
        evaluate_dataset(tmp_path, BaselineDetector(), min_length_m=-1)
