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
