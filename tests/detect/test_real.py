"""The released bundle on real Sentinel-2 (sen2ships; skips when the data is absent): it runs on
every scene, and on the ports it never trained on it keeps a floor below its measured scores."""

from __future__ import annotations

import pytest

from pipeline.detect.bundle import DEFAULT_MODEL, load_detector
from pipeline.detect.evaluate import evaluate_dataset
from pipeline.detect.infer import detect_scene

pytestmark = pytest.mark.real

# Floors, a margin below the measured held-out scores in models/<default>/metrics.json.
F1_FLOOR = 0.45
LENGTH_MAE_CEILING_M = 45.0


@pytest.fixture(scope="module")
def detector():
    return load_detector(None)


def test_released_model_loads_by_default(detector):
    assert detector.name == DEFAULT_MODEL
    held = detector.spec.trained["holdout_scenes"]
    assert len(held) >= 2


def test_runs_on_every_scene(sen2ships, detector):
    for folder in sorted(p.parent for p in sen2ships.glob("*/scene.tif")):
        dets = detect_scene(folder / "scene.tif", detector)
        assert dets, f"no vessel found in {folder.name}"
        for d in dets:
            assert 15 <= d.length_m <= 500 and 0 <= d.heading_deg < 180 and 0 < d.score <= 1
            assert d.scene_id == folder.name and d.model.startswith(f"{DEFAULT_MODEL}@")


def test_floor_on_held_out_ports(sen2ships, detector):
    held = detector.spec.trained["holdout_scenes"]
    res = evaluate_dataset(sen2ships, detector, scenes=held)["overall"]
    assert res["f1"] >= F1_FLOOR, res
    assert res["length_mae_m"] <= LENGTH_MAE_CEILING_M, res
