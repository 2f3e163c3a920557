"""The synthetic season's detections carry the detector error model, its mean error included."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.estimate.params import load_params
from pipeline.portcalls.synthetic import synthetic_season


def _season(err):
    return synthetic_season(seed=3, days=120, n_calls=30, sensors=("sentinel-2", "daily"), err=err)


def _errors(season, gsd):
    by_scene = {s.id: s for s in season.scenes}
    pairs = [
        (d.length_m - season.stays[i].length_m, d.beam_m - season.stays[i].beam_m)
        for d in season.detections
        if (i := season.det_stay[d.id]) is not None
        and season.stays[i].role == "load"
        and by_scene[d.scene_id].gsd_m == gsd
    ]
    assert len(pairs) >= 8
    return np.array(pairs)


@pytest.mark.parametrize("gsd", [3.0, 10.0])
def test_detections_are_off_by_the_configured_bias(gsd):
    err = load_params().portcalls.size_error.model_copy(
        update={
            "length_bias_base_m": 4.0,
            "length_bias_per_gsd": 1.0,
            "beam_bias_base_m": 0.0,
            "beam_bias_per_gsd": 0.5,
        }  # fmt: skip
    )
    unbiased = err.model_copy(
        update={"length_bias_base_m": 0.0, "length_bias_per_gsd": 0.0, "beam_bias_per_gsd": 0.0}
    )
    shift = _errors(_season(err), gsd).mean(axis=0) - _errors(_season(unbiased), gsd).mean(axis=0)
    # same seed, same draws: the whole difference is the mean error
    assert shift == pytest.approx([4.0 + gsd, 0.5 * gsd], abs=0.15)
