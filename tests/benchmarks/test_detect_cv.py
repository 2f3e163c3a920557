"""benchmarks/detect_cv.py: leave-one-port-out folds of a tiny recipe, trained and scored."""

from __future__ import annotations

import json

import pytest
import yaml
from detect import synth

from pipeline.errors import TankerWatchError

from .scripts import load_benchmark


@pytest.fixture(scope="module")
def ports(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv-ds")
    for i, name in enumerate(["a", "b", "c"]):
        ships = [(30, 40, 180, 30, 20 + 50 * i), (90, 80, 120, 25, 100)]
        refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=30 + i)
        synth.write_geotiff(root / name / "scene.tif", refl, transform, crs)
        synth.write_labels(root / name / "labels.geojson", polys, crs)
    return root


def _config(folder, root):
    cfg = {
        "name": "tiny-cv",
        "seed": 3,
        "architecture": {"widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "real": [{"root": str(root), "exclude": ["c"]}],  # the folds ignore this exclusion
        "holdout": [{"root": str(root), "scenes": ["c"]}],
        "steps": 50,
        "batch_size": 2,
        "chip": 64,
        "threads": 1,
        "thresholds": {"score": 0.05},
        "inference": {"tile": 128, "overlap": 32},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_each_port_is_left_out_once(tmp_path, ports):
    mod = load_benchmark("detect_cv")
    cfg = _config(tmp_path, ports)
    s = mod.run_cv(cfg, tmp_path / "cv", steps=2, thresholds=[0.05, 0.1], precision="bf16")
    assert s["ports"] == ["a", "b", "c"]
    assert (s["steps"], s["precision"]) == (2, "bf16")
    for p in "abc":
        fold = yaml.safe_load((tmp_path / "cv" / f"fold-{p}" / "config.yaml").read_text())
        assert fold["real"][0]["exclude"] == [p] and fold["real"][0]["scenes"] is None
        assert fold["holdout"][0]["scenes"] == [p] and fold["steps"] == 2
        assert fold["precision"] == "bf16"
        metrics = json.loads(
            (tmp_path / "cv" / f"fold-{p}" / "bundle" / "metrics.json").read_text()
        )
        assert list(metrics["holdout"]) == [f"fold-{p}"]
        assert metrics["training"]["precision"]["used"] == ["bf16"]
    for rule in ("0.0", "60.0"):
        e = s["rules"][rule]
        assert e["pooled"]["n_labels"] == 6  # each port's two hulls, scored once
        assert set(e["threshold_cv"]) == {"a", "b", "c"}
        assert e["f1"]["min"] <= e["f1"]["mean"] <= e["f1"]["max"]
    assert json.loads((tmp_path / "cv" / "cv.json").read_text())["ports"] == ["a", "b", "c"]


def test_unknown_port_and_single_port_are_refused(tmp_path, ports):
    mod = load_benchmark("detect_cv")
    cfg = _config(tmp_path, ports)
    with pytest.raises(TankerWatchError, match="ports not found: x"):
        mod.run_cv(cfg, tmp_path / "cv", ports=["a", "x"])
    with pytest.raises(TankerWatchError, match="at least two folds"):
        mod.run_cv(cfg, tmp_path / "cv", ports=["a"])
    with pytest.raises(TankerWatchError, match="in more than one fold: a"):
        mod.run_cv(cfg, tmp_path / "cv", folds=[["a", "b"], ["a", "c"]])
    with pytest.raises(TankerWatchError, match="at least two folds"):
        mod.run_cv(cfg, tmp_path / "cv", folds=[["a", "b", "c"]])


def test_ports_left_out_together_are_scored_each_by_a_model_that_never_saw_it(tmp_path, ports):
    mod = load_benchmark("detect_cv")
    cfg = _config(tmp_path, ports)
    assert mod.run_cv(cfg, tmp_path / "cv", steps=2, folds=[["a", "b"], ["c"]], only="c") is None
    assert (tmp_path / "cv" / "fold-c" / "bundle" / "weights.safetensors").exists()
    assert not (tmp_path / "cv" / "fold-a+b").exists()
    s = mod.run_cv(cfg, tmp_path / "cv", steps=2, folds=[["a", "b"], ["c"]], thresholds=[0.05])
    assert s["ports"] == ["a", "b", "c"] and list(s["folds"]) == ["a+b", "c"]
    fold = yaml.safe_load((tmp_path / "cv" / "fold-a+b" / "config.yaml").read_text())
    assert fold["real"][0]["exclude"] == ["a", "b"]
    assert fold["holdout"][0]["scenes"] == ["a", "b"]
    assert set(s["port_scores"]) == {"a", "b", "c"}
    e = s["rules"]["0.0"]
    assert e["pooled"]["n_labels"] == 6
    assert s["folds"]["a+b"]["0.0"]["n_labels"] == 4
    assert set(e["threshold_cv"]) == {"a+b", "c"} and e["threshold_all"] == 0.05
    with pytest.raises(TankerWatchError, match="--only a: not a fold"):
        mod.run_cv(cfg, tmp_path / "cv", folds=[["a", "b"], ["c"]], only="a")
    # a second run resumes the finished folds (no step left) and scores the same
    again = mod.run_cv(cfg, tmp_path / "cv", steps=2, folds=[["a", "b"], ["c"]])
    assert again["folds"] == s["folds"]


def test_a_fine_tuning_recipe_leaves_out_only_ports_its_start_never_saw(tmp_path, ports):
    """init: a bundle trained on a and b, held out on c; folds may leave out c only."""
    from pipeline.detect.train import train

    mod = load_benchmark("detect_cv")
    (tmp_path / "start").mkdir()
    start = _config(tmp_path / "start", ports)
    data = yaml.safe_load(start.read_text()) | {"steps": 2}
    start.write_text(yaml.safe_dump(data))
    train(start, tmp_path / "start-bundle")
    ft = tmp_path / "ft" / "tiny.yaml"
    ft.parent.mkdir()
    ft.write_text(yaml.safe_dump(data | {"init": str(tmp_path / "start-bundle")}))
    with pytest.raises(TankerWatchError, match="was trained on a: a fold cannot"):
        mod.run_cv(ft, tmp_path / "cv", ports=["a", "c"], steps=1)
    assert not (tmp_path / "cv" / "fold-a").exists()  # refused before any training


def test_the_cv_is_recorded_only_in_a_bundle_of_the_same_recipe(tmp_path, ports):
    from pipeline.detect.card import record_cross_validation
    from pipeline.detect.train import train

    mod = load_benchmark("detect_cv")
    cfg = _config(tmp_path, ports)
    s = mod.run_cv(cfg, tmp_path / "cv", steps=2, folds=[["a", "b"], ["c"]], thresholds=[0.05])
    data = yaml.safe_load(cfg.read_text())
    release = tmp_path / "release.yaml"
    release.write_text(
        yaml.safe_dump(data | {"steps": 2, "real": [{"root": str(ports)}], "holdout": []})
    )
    train(release, tmp_path / "bundle")
    record_cross_validation(tmp_path / "bundle", s, note="Three tiny ports.")
    metrics = json.loads((tmp_path / "bundle" / "metrics.json").read_text())
    assert metrics["cross_validation"]["folds_ports"] == {"a+b": ["a", "b"], "c": ["c"]}
    assert "recipe" not in metrics["cross_validation"]
    card = (tmp_path / "bundle" / "card.md").read_text()
    assert "## Cross-validation by port" in card and "Three tiny ports." in card
    assert "| strict | fold a+b | 4 |" in card and "mean ± sd over folds" in card
    assert "the recipe's score threshold (0.05)" in card
    assert "each fold at the threshold the other folds chose" in card

    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(yaml.safe_load(release.read_text()) | {"chip": 96}))
    train(other, tmp_path / "other-bundle")
    with pytest.raises(TankerWatchError, match="not trained with the cross-validated recipe.*chip"):
        record_cross_validation(tmp_path / "other-bundle", s)
    longer = tmp_path / "longer.yaml"
    longer.write_text(yaml.safe_dump(yaml.safe_load(release.read_text()) | {"steps": 3}))
    train(longer, tmp_path / "longer-bundle")
    with pytest.raises(TankerWatchError, match="steps differ"):
        record_cross_validation(tmp_path / "longer-bundle", s)
