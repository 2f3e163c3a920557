"""benchmarks/detect_accuracy.py: the simulated subset, whole or of one sensor."""

from __future__ import annotations

import pytest

from .scripts import load_benchmark


def _module():
    return load_benchmark("detect_accuracy")


def test_subset_keeps_one_sensor_when_asked(small_simulation):
    mod = _module()
    every = sorted(p.name for p in (small_simulation / "scenes").iterdir())
    sensors = {name.split("_")[1] for name in every}
    assert len(sensors) > 1, "the tiny scenario has two sensors"
    whole = mod.subset(small_simulation, len(every))
    assert sorted(p.name for p in (whole / "scenes").iterdir()) == every
    for sensor in sensors:
        sub = mod.subset(small_simulation, len(every), sensor)
        names = sorted(p.name for p in (sub / "scenes").iterdir())
        assert names == [n for n in every if n.split("_")[1] == sensor]


def test_subset_of_an_absent_sensor_says_so(small_simulation):
    with pytest.raises(SystemExit, match="no scenes of sensor nosuch"):
        _module().subset(small_simulation, 10, "nosuch")


def _lab(x, lon_shift=0.0):
    from detect import synth

    from pipeline.detect.geometry import to_crs

    poly = to_crs(synth.ship_polygon(x, 4700000, 120, 20, 90), "EPSG:32652", "EPSG:4326")
    return {"geometry": poly, "cls": "vessel", "length_m": 120.0, "beam_m": 20.0}


def _det(x, score):
    from shapely.geometry import Point

    from pipeline.detect.geometry import to_crs
    from pipeline.records import Detection

    p = to_crs(Point(x, 4700000), "EPSG:32652", "EPSG:4326")
    return Detection(
        scene_id="s",
        geometry=p.buffer(0.0003, cap_style=3).wkt,
        lon=p.x,
        lat=p.y,
        length_m=120.0,
        beam_m=20.0,
        heading_deg=0.0,
        score=score,
        cls="vessel",
        model="m",
    )


def test_threshold_sweep_scores_and_chooses_on_the_other_ports():
    mod = _module()
    # port p: one ship found at 0.5, a false alarm at 0.3; port q: ship found at 0.35 only
    coll = {
        "p": ([_det(500000, 0.5), _det(505000, 0.3)], [_lab(500000)], None),
        "q": ([_det(500000, 0.35)], [_lab(500000)], None),
    }
    at = lambda t, names=None: mod.score(coll, t, 0.0, names)["overall"]  # noqa: E731
    assert (at(0.25)["tp"], at(0.25)["fp"], at(0.25)["fn"]) == (2, 1, 0)
    assert (at(0.4)["tp"], at(0.4)["fp"], at(0.4)["fn"]) == (1, 0, 1)
    assert at(0.3, {"q"})["f1"] == 1.0
    # chosen on q alone: 0.3 or 0.35 give F1 1 there; the tie goes to the one nearer 0.4
    assert mod.best_threshold(coll, [0.3, 0.35, 0.45], 0.0, {"q"}) == 0.35
    assert mod.best_threshold(coll, [0.3, 0.35, 0.5], 0.0, {"p"}) == 0.35
    # no land: every scored label counts as open water
    assert at(0.25)["recall_open"] == {"recall": 1.0, "tp": 2, "n": 2}
