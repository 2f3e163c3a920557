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
