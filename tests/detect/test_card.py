"""The model card says what the bundle is: its resolution, and whether any real data backs it."""

from __future__ import annotations

import json

from pipeline.detect.bundle import read_spec, resolve_bundle_dir
from pipeline.detect.card import render_card
from pipeline.detect.train_config import TrainConfig


def _released():
    folder = resolve_bundle_dir("tw-centernet-s2")
    metrics = json.loads((folder / "metrics.json").read_text())
    return read_spec(folder), TrainConfig.model_validate(metrics["training"]["config"]), metrics


def test_card_of_a_10m_bundle_with_real_training_data():
    spec, cfg, metrics = _released()
    card = render_card(spec, cfg, metrics)
    assert "10 m optical imagery of ports (Sentinel-2 L2A; any sensor" in card
    assert f"Few real training vessels ({metrics['training']['real_vessels']})" in card
    assert "~40 m (4 pixels)" in card


def test_card_of_a_3m_bundle_trained_on_simulation_only():
    spec, cfg, metrics = _released()
    spec = spec.model_copy(update={"gsd_m": 3.0})
    metrics = metrics | {"training": metrics["training"] | {"real_vessels": 0}, "holdout": {}}
    card = render_card(spec, cfg, metrics)
    assert "3 m optical imagery of ports (any sensor" in card and "Sentinel-2 L2A" not in card
    assert "Trained on simulated imagery only" in card and "Few real" not in card
    assert "~12 m (4 pixels)" in card


def test_card_shows_mission_size_rows_and_the_alongside_split(tmp_path):
    import shutil

    from pipeline.detect.card import record_evaluation

    folder = tmp_path / "b"
    shutil.copytree(resolve_bundle_dir("tw-centernet-s2"), folder)
    weights = (folder / "weights.safetensors").read_bytes()
    overall = {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "map50": 0.3,
        "length_mae_m": 20.0,
        "beam_mae_m": 9.0,
        "n_labels": 4,
        "recall_alongside": {"recall": 0.5, "tp": 1, "n": 2},
        "recall_open": {"recall": 0.5, "tp": 1, "n": 2},
        "length_mae_by_size": {
            "60-120 m": {"n": 1, "mae_m": 12.0, "bias_m": 12.0},
            "120-200 m": {"n": 1, "mae_m": 28.0, "bias_m": -28.0},
            "> 200 m": {"n": 0, "mae_m": None, "bias_m": None},
        },
    }
    result = {"overall": overall, "scenes": {"p": overall}, "dataset": "d", "min_length_m": 60}
    record_evaluation(folder, "ports, vessels >= 60 m", result)
    card = (folder / "card.md").read_text()
    assert (
        "| **ports, vessels >= 60 m** (all) | 0.50 (1/2) | 0.50 (1/2) | 12.0 / +12.0 (1) |" in card
    )
    assert "28.0 / -28.0 (1) | n/a |" in card
    assert "`evaluate --min-length M`" in card
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["holdout"]["ports, vessels >= 60 m"]["min_length_m"] == 60
    assert (folder / "weights.safetensors").read_bytes() == weights


def test_card_says_how_lengths_are_measured():
    from pipeline.detect.hull import LengthSpec

    spec, cfg, metrics = _released()
    reg = spec.model_copy(update={"length": LengthSpec()})
    assert "Lengths (" not in render_card(reg, cfg, metrics)
    hull = spec.model_copy(update={"length": LengthSpec(mode="hull", level_fraction=0.4)})
    card = render_card(hull, cfg, metrics)
    assert "Lengths (hull, model.yaml `length`): measured from the hull's own pixels" in card
    assert "ends at 0.4 of" in card and "the measured length where" in card
    blend = spec.model_copy(
        update={"length": LengthSpec(mode="blend", blend_weight=0.75, beam="hull")}
    )
    assert "0.75 x the measured length and beam + 0.25 x" in render_card(blend, cfg, metrics)


def test_card_says_where_the_flips_are_averaged():
    spec, cfg, metrics = _released()
    card = render_card(spec, cfg, metrics)
    assert "averaged over the plain and 3 flipped views around cells whose single-pass" in card
    assert "on crops with 48 px of context" in card
    inf = spec.inference.model_copy(update={"tta_min_score": 0.0, "tta_context_px": None})
    card = render_card(spec.model_copy(update={"inference": inf}), cfg, metrics)
    assert "averaged over the four flips of each tile (4x the cost of one pass)" in card
    inf = spec.inference.model_copy(update={"tta_context_px": None, "tta_max_score": 0.6})
    card = render_card(spec.model_copy(update={"inference": inf}), cfg, metrics)
    assert "peaks scoring 0.2 to 0.6, on crops with the network's receptive field" in card


def test_recording_into_a_folder_without_training_metrics_is_one_line(tmp_path):
    import pytest

    from pipeline.detect.card import record_cross_validation, record_evaluation
    from pipeline.errors import TankerWatchError

    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(TankerWatchError, match="metrics.json: cannot record an evaluation"):
        record_evaluation(tmp_path, "x", {"overall": {}, "scenes": {}, "dataset": "d"})
    with pytest.raises(TankerWatchError, match="metrics.json: cannot record a cross-validation"):
        record_cross_validation(tmp_path / "missing", {"recipe": {}})
