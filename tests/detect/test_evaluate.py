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
