"""Training: a tiny seeded run on synthetic scenes writes a loadable bundle, and an interrupted
run resumed from its checkpoint ends with exactly the same weights."""

from __future__ import annotations

import json

import pytest
import yaml
from safetensors.torch import load_file

from detect import synth
from pipeline.config_check import check_config
from pipeline.detect.bundle import load_detector
from pipeline.detect.train import train
from pipeline.errors import TankerWatchError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-ds")
    for i, name in enumerate(["a", "b"]):
        ships = [(30, 40, 180, 30, 20 + 50 * i), (90, 80, 120, 25, 100)]
        refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=20 + i)
        synth.write_geotiff(root / name / "scene.tif", refl, transform, crs)
        synth.write_labels(root / name / "labels.geojson", polys, crs, ["tanker", "other"])
    return root


def write_config(folder, root, **over):
    cfg = {
        "name": "tiny-test",
        "seed": 3,
        "architecture": {"widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "real": [{"root": str(root), "scenes": ["a"]}],
        "holdout": [{"root": str(root), "scenes": ["b"], "label": "b-only"}],
        "steps": 4,
        "batch_size": 2,
        "chip": 64,
        "checkpoint_every": 2,
        "threads": 1,
        "thresholds": {"score": 0.05},
        "inference": {"tile": 128, "overlap": 32},
    }
    cfg.update(over)
    path = folder / "train" / "tiny.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resumed_run_matches_uninterrupted_run(tmp_path, dataset):
    cfg = write_config(tmp_path, dataset)
    assert check_config(cfg) == "train"
    metrics = train(cfg, tmp_path / "full")
    assert "b-only" in metrics["holdout"]
    det = load_detector(tmp_path / "full")
    assert det.name == "tiny-test"
    card = (tmp_path / "full" / "card.md").read_text()
    assert "b-only" in card and "never trained on" in card
    # a later evaluation is recorded into the same bundle without touching the weights
    from pipeline.detect.card import record_evaluation
    from pipeline.detect.evaluate import evaluate_dataset

    weights = (tmp_path / "full" / "weights.safetensors").read_bytes()
    record_evaluation(tmp_path / "full", "later", evaluate_dataset(dataset, det, scenes=["b"]))
    assert "later" in (tmp_path / "full" / "card.md").read_text()
    assert (tmp_path / "full" / "weights.safetensors").read_bytes() == weights
    load_detector(tmp_path / "full")

    assert train(cfg, tmp_path / "resumed", stop_after=2) is None
    state = yaml.safe_load((tmp_path / "resumed" / "checkpoint" / "state.yaml").read_text())
    assert state["step"] == 2
    train(cfg, tmp_path / "resumed")
    a = load_file(str(tmp_path / "full" / "weights.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "weights.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), k


def test_resume_is_exact_with_weight_average_and_copy_paste(tmp_path, dataset):
    """The moving average of the weights is checkpointed too, and the bundle keeps it."""
    aug = {"paste_p": 1.0, "glint": 0.2}
    cfg = write_config(tmp_path, dataset, ema=0.9, augment=aug)
    train(cfg, tmp_path / "full")
    assert train(cfg, tmp_path / "resumed", stop_after=2) is None
    ckpt = load_file(str(tmp_path / "resumed" / "checkpoint" / "state.safetensors"))
    assert any(k.startswith("ema.") for k in ckpt)
    train(cfg, tmp_path / "resumed")
    a = load_file(str(tmp_path / "full" / "weights.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "weights.safetensors"))
    for k in a:
        assert (a[k] == b[k]).all(), k
    # the bundle holds the average, not the last step's weights
    last = {k[6:]: v for k, v in ckpt.items() if k.startswith("model.")}
    avg = {k[4:]: v for k, v in ckpt.items() if k.startswith("ema.")}
    assert any(not (last[k] == avg[k]).all() for k in last if last[k].is_floating_point())


def test_copy_paste_needs_the_nir_band(tmp_path, dataset):
    cfg = write_config(
        tmp_path,
        dataset,
        bands=["B02", "B03", "B04"],
        architecture={"widths": [4, 8, 8, 8, 8], "decoder_width": 8, "in_channels": 3},
        augment={"paste_p": 0.5},
    )
    with pytest.raises(TankerWatchError, match="paste_p needs band B08"):
        check_config(cfg)


def test_checkpoint_of_another_config_is_refused(tmp_path, dataset):
    cfg = write_config(tmp_path, dataset)
    train(cfg, tmp_path / "m", stop_after=2)
    cfg = write_config(tmp_path, dataset, seed=4)
    with pytest.raises(TankerWatchError, match="different config"):
        train(cfg, tmp_path / "m")


def test_holdout_overlapping_training_is_refused(tmp_path, dataset):
    cfg = write_config(tmp_path, dataset, holdout=[{"root": str(dataset), "scenes": ["a"]}])
    with pytest.raises(TankerWatchError, match="holdout scenes also used for training: a"):
        check_config(cfg)


def test_training_reads_chips_and_never_makes_them(tmp_path, dataset, monkeypatch):
    from pipeline.detect import train_config

    monkeypatch.setattr(train_config, "REPO_ROOT", tmp_path)
    cfg = write_config(tmp_path, dataset, simulated={"n": 2, "seed": 5, "weight": 0.5})
    with pytest.raises(TankerWatchError, match="tankerwatch simulate --chips 2 --seed 5"):
        train(cfg, tmp_path / "m")
    assert not (tmp_path / ".cache").exists()  # nothing made behind the user's back


def test_train_command_makes_missing_chips_first(tmp_path, dataset, monkeypatch, capsys):
    import sys

    from pipeline.cli import main
    from pipeline.detect import train_config

    monkeypatch.setattr(train_config, "REPO_ROOT", tmp_path)
    opts = {"sensors": ["commercial-3m"], "size_px": 64}
    cfg = write_config(tmp_path, dataset, simulated={"n": 2, "seed": 5, "options": opts})
    monkeypatch.setattr(sys, "argv", ["tankerwatch", "train", "--config", str(cfg), "--out",
                                      str(tmp_path / "m")])  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    chips = tmp_path / ".cache" / "sim-chips" / "n2_s5_sensors['commercial-3m']_size_px64"
    assert len(list(chips.glob("*/labels.geojson"))) == 2
    for labels in chips.glob("*/labels.geojson"):
        assert json.loads(labels.read_text())["sensor"] == "commercial-3m"
    assert load_detector(tmp_path / "m").spec.name == "tiny-test"
    assert "bundle written" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "junk"),
    [
        ("state.yaml", "step: [2\nparam_groups: {\n"),  # not YAML
        ("state.yaml", "- just\n- a list\n"),  # YAML, but no checkpoint state
        ("state.safetensors", "not safetensors at all"),
    ],
)
def test_damaged_checkpoint_is_one_line_naming_it(cli, tmp_path, dataset, name, junk):
    cfg = write_config(tmp_path, dataset)
    assert train(cfg, tmp_path / "m", stop_after=2) is None
    damaged = tmp_path / "m" / "checkpoint" / name
    damaged.write_text(junk)
    res = cli("train", "--config", cfg, "--out", tmp_path / "m")
    assert res.returncode == 2, res.stderr
    # training logs what it read first (INFO); the failure itself is one line
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.rstrip().endswith(errors[0]), res.stderr
    assert str(damaged) in errors[0] and "--restart" in errors[0], errors[0]
    assert damaged.read_text() == junk  # left for the user to look at
    assert not (tmp_path / "m" / "weights.safetensors").exists()


def test_train_skips_a_bad_scene_and_counts_it(cli, tmp_path, dataset):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds)
    (ds / "c").mkdir()
    (ds / "c" / "scene.tif").write_text("not a tiff")
    shutil.copytree(ds / "b", ds / "d")
    (ds / "d" / "labels.geojson").write_text("{broken")
    cfg = write_config(
        tmp_path,
        ds,
        real=[{"root": str(ds), "scenes": ["a", "c"]}],
        holdout=[{"root": str(ds), "scenes": ["b", "d"], "label": "b-only"}],
    )
    res = cli("train", "--config", cfg, "--out", tmp_path / "m")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    skips = [ln for ln in res.stderr.splitlines() if ln.startswith("skipped scene")]
    assert len(skips) == 2, res.stderr
    assert str(ds / "c" / "scene.tif") in skips[0] and "labels.geojson" in skips[1]
    assert "training: 1 scene(s) skipped" in res.stdout
    assert "(1 scene(s) skipped)" in res.stdout
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert list(metrics["training"]["skipped_scenes"]) == [str(ds / "c")]
    assert metrics["training"]["scenes"] == 1
    assert list(metrics["holdout"]["b-only"]["skipped"]) == ["d"]
    assert "scenes left out (unreadable): d" in (tmp_path / "m" / "card.md").read_text()
    # nothing usable to train on: exit 2 with the one error line last
    cfg = write_config(tmp_path, ds, real=[{"root": str(ds), "scenes": ["c"]}])
    res = cli("train", "--config", cfg, "--out", tmp_path / "none")
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no usable training scene (1 skipped") and "c/scene.tif" in last
    assert not (tmp_path / "none" / "weights.safetensors").exists()


@pytest.fixture(scope="module")
def sar_chips(tmp_path_factory):
    from pipeline.simulate.chips import write_chips

    root = tmp_path_factory.mktemp("s1-chips")
    write_chips(root / "train", 3, seed=1, size_px=64, sensor="sentinel-1-grd")
    write_chips(root / "cal", 8, seed=2, size_px=96, sensor="sentinel-1-grd")
    return root


def sar_config(folder, chips, **over):
    cfg = {
        "name": "tiny-sar",
        "seed": 3,
        "bands": ["VV", "VH"],
        "normalisation": {"method": "sar-db", "db_min": -35.0, "db_max": 10.0},
        "architecture": {"in_channels": 2, "widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "simulated": {"n": 3, "seed": 1, "root": str(chips / "train")},
        "length_calibration": {
            "simulated": {"n": 8, "seed": 2, "root": str(chips / "cal")},
            "min_length_m": 0,
        },
        "steps": 2,
        "batch_size": 2,
        "chip": 64,
        "threads": 1,
        "augment": {"haze": 0.0, "noise": 0.0, "dn_offset_p": 0.0},
        "thresholds": {"score": 0.01, "min_length_m": 0},
        "inference": {"tile": 128, "overlap": 32, "min_water_px": 0},
    }
    cfg.update(over)
    path = folder / "train" / "sar.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_sar_training_writes_a_sar_bundle_with_its_length_bias(tmp_path, sar_chips):
    metrics = train(sar_config(tmp_path, sar_chips), tmp_path / "m")
    det = load_detector(tmp_path / "m")
    assert det.bands == ["VV", "VH"] and det.spec.normalisation.method == "sar-db"
    cal = det.spec.calibration
    assert cal.n_pairs >= 1 and "seed 2" in cal.measured_on and cal.length_gain == 1.0
    assert cal.length_bias_m == metrics["length_calibration"]["length_bias_m"] != 0.0
    # the bias is what the uncorrected bundle's matched lengths err by, on the calibration chips
    import shutil

    from pipeline.detect.evaluate import evaluate_dataset

    shutil.copytree(tmp_path / "m", tmp_path / "raw")
    spec = yaml.safe_load((tmp_path / "raw" / "model.yaml").read_text())
    del spec["calibration"]
    (tmp_path / "raw" / "model.yaml").write_text(yaml.safe_dump(spec))
    raw = evaluate_dataset(sar_chips / "cal", load_detector(tmp_path / "raw"), land=False)
    assert raw["overall"]["length_bias_m"] == pytest.approx(cal.length_bias_m, abs=0.01)
    fixed = evaluate_dataset(sar_chips / "cal", det, land=False)
    assert abs(fixed["overall"]["length_bias_m"]) < abs(cal.length_bias_m)


def test_calibration_chooses_the_threshold_and_fits_the_length_relation(tmp_path, sar_chips):
    """Re-running a finished training with new calibration settings resumes the checkpoint
    (they act after training), picks the threshold with the best F1 of those offered and fits
    gain and bias; the same weights."""
    from pipeline.detect.evaluate import evaluate_dataset
    from pipeline.detect.train import calibrate

    first = train(sar_config(tmp_path, sar_chips), tmp_path / "m")
    w0 = load_file(str(tmp_path / "m" / "weights.safetensors"))
    cal = {
        "simulated": {"n": 8, "seed": 2, "root": str(sar_chips / "cal")},
        "score_thresholds": [0.01, 0.9],
        "fit_gain": True,
    }
    cfg = sar_config(
        tmp_path, sar_chips, length_calibration=cal, thresholds={"score": 0.3, "min_length_m": 0}
    )
    metrics = train(cfg, tmp_path / "m")  # no --restart: resumes the finished run
    # nothing trained again: the first run's steps and training time (a tiny run can round to
    # 0.0 s, so the steps say that it trained)
    assert first["history"] and metrics["history"] == first["history"]
    assert metrics["training"]["train_seconds"] == first["training"]["train_seconds"]
    w1 = load_file(str(tmp_path / "m" / "weights.safetensors"))
    assert all((w0[k] == w1[k]).all() for k in w0)
    det = load_detector(tmp_path / "m")
    spec = det.spec
    # the chosen threshold is the best of the two by F1 on the calibration chips
    f1 = {}
    for t in (0.01, 0.9):
        d = load_detector(tmp_path / "m")
        d.spec.thresholds.score = t
        o = evaluate_dataset(sar_chips / "cal", d, land=False)["overall"]
        f1[t] = 2 * o["tp"] / max(1, 2 * o["tp"] + o["fp"] + o["fn"])
    assert spec.thresholds.score == max(f1, key=lambda t: (f1[t], t))
    assert "chosen of [0.01, 0.9]" in spec.calibration.measured_on
    # two training steps: lengths do not track the truth, so no gain is fitted, a bias is
    assert spec.calibration.length_gain == 1.0 and spec.calibration.n_pairs >= 10
    from pipeline.detect.train_config import load_train_config

    again, calibration = calibrate(load_train_config(cfg), tmp_path / "m", lambda *a: None)
    assert again == spec.thresholds.score
    assert calibration["length_bias_m"] == spec.calibration.length_bias_m != 0.0


def test_length_relation_fit():
    import numpy as np

    from pipeline.detect.train import fit_length_relation

    rng = np.random.default_rng(0)
    true = rng.uniform(50, 300, 200)
    measured = 0.85 * true + 30.0 + rng.normal(0, 3, 200)
    gain, bias = fit_length_relation(measured, true, fit_gain=True)
    assert gain == pytest.approx(0.85, abs=0.02) and bias == pytest.approx(30.0, abs=3.0)
    # decode's inverse brings the detections back to the truth on average
    assert np.mean((measured - bias) / gain - true) == pytest.approx(0.0, abs=0.5)
    assert fit_length_relation(measured, true, fit_gain=False) == (
        1.0,
        pytest.approx(np.mean(measured - true)),
    )
    flat = np.full(50, 40.0)  # lengths that ignore the truth: gain ~0, refused
    assert fit_length_relation(flat, true[:50], fit_gain=True) == (
        1.0,
        pytest.approx(np.mean(flat - true[:50])),
    )
    assert fit_length_relation(measured[:5], true[:5], fit_gain=True)[0] == 1.0  # too few pairs


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"bands": ["B02", "B03"]}, "sar-db needs SAR bands"),
        (
            {
                "simulated": {"n": 3, "seed": 4},
                "length_calibration": {"simulated": {"n": 9, "seed": 4}},
            },
            "length_calibration seed 4 is the training chips' seed",
        ),
    ],
)
def test_sar_config_mistakes_are_refused(tmp_path, sar_chips, over, message):
    with pytest.raises(TankerWatchError, match=message):
        train(sar_config(tmp_path, sar_chips, **over), tmp_path / "m")


def test_training_precision_follows_the_machine(monkeypatch):
    from pipeline.detect.train import training_precision

    monkeypatch.setenv("TANKERWATCH_PRECISION", "fp32")  # an inference override: not read here
    native = frozenset({"avx512f", "avx512_bf16"})
    p = training_precision("auto", "cpu", flags=native, machine="x86_64")
    assert (p.name, p.device_type) == ("bf16", "cpu")
    assert training_precision("auto", "cpu", flags=frozenset({"avx2"}), machine="x86_64").name == (
        "fp32"
    )
    assert training_precision("auto", "cpu", flags=native, machine="aarch64").name == "fp32"
    assert training_precision("auto", "cuda", cuda_bf16=True).name == "bf16"
    # a GPU without bf16: fp32, not fp16 (which would need loss scaling)
    assert training_precision("auto", "cuda", cuda_bf16=False).name == "fp32"
    assert training_precision("fp32", "cpu", flags=native, machine="x86_64").name == "fp32"
    assert training_precision("bf16", "cpu", flags=frozenset(), machine="x86_64").name == "bf16"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_precision_trains_resumes_exactly_and_is_recorded(tmp_path, dataset, precision):
    import math

    cfg = write_config(tmp_path, dataset, precision=precision, steps=6)
    full = train(cfg, tmp_path / "full")
    hist = full["history"]
    assert [h["step"] for h in hist] == [2, 4, 6]
    assert all(h["precision"] == precision for h in hist)
    assert all(math.isfinite(h[k]) for h in hist for k in ("total", "heat", "size", "offset"))
    trained = load_detector(tmp_path / "full").spec.trained
    assert trained["precision"] == {
        "requested": precision,
        "used": [precision],
        "channels_last": True,
    }
    # the master weights stay fp32 whatever the forward pass ran in
    weights = load_file(str(tmp_path / "full" / "weights.safetensors"))
    assert {str(v.dtype) for v in weights.values() if v.is_floating_point()} == {"torch.float32"}

    assert train(cfg, tmp_path / "resumed", stop_after=3) is None
    train(cfg, tmp_path / "resumed")
    resumed = load_file(str(tmp_path / "resumed" / "weights.safetensors"))
    for k in weights:
        assert (weights[k] == resumed[k]).all(), k


def test_bf16_and_fp32_runs_learn_alike(tmp_path, dataset):
    """Same seed, same chips: the bf16 run's loss follows the fp32 run's (bf16 rounds the
    forward pass to 8 bits of mantissa, so not bit for bit)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = write_config(
            tmp_path / precision,
            dataset,
            precision=precision,
            steps=40,
            checkpoint_every=10,
            warmup_steps=2,
            lr=0.01,
            batch_size=4,
        )
        runs[precision] = [h["total"] for h in train(cfg, tmp_path / precision / "b")["history"]]
    a, b = runs["fp32"], runs["bf16"]
    assert len(a) == len(b) == 4
    assert a[-1] < a[0] and b[-1] < b[0]  # both learn
    for x, y in zip(a, b, strict=True):
        assert abs(x - y) <= 0.05 * abs(x), (a, b)


def test_unknown_training_precision_is_refused(tmp_path, dataset):
    cfg = write_config(tmp_path, dataset, precision="fp16")
    with pytest.raises(TankerWatchError, match="precision"):
        train(cfg, tmp_path / "out")


def test_fine_tuning_starts_from_a_bundle_and_records_it(tmp_path, dataset):
    import torch

    from pipeline.detect.train import init_from_bundle
    from pipeline.detect.train_config import load_train_config

    base = write_config(tmp_path / "base", dataset)
    train(base, tmp_path / "base-bundle")
    start = load_file(str(tmp_path / "base-bundle" / "weights.safetensors"))
    cfg = write_config(tmp_path / "ft", dataset, init=str(tmp_path / "base-bundle"), steps=2)
    net = load_train_config(cfg).architecture.build()
    info = init_from_bundle(net, load_train_config(cfg))
    assert info["never_trained_on"] == ["b"] and info["model"] == "tiny-test"
    for k, v in net.state_dict().items():
        assert torch.equal(v, start[k]), k
    metrics = train(cfg, tmp_path / "ft-bundle")
    assert metrics["training"]["init"]["weights_sha256"] == info["weights_sha256"]
    # another network cannot start from it: one line naming the bundle
    wide = write_config(
        tmp_path / "wide",
        dataset,
        init=str(tmp_path / "base-bundle"),
        architecture={"widths": [8, 8, 8, 8, 8], "decoder_width": 8},
    )
    with pytest.raises(TankerWatchError, match="base-bundle: its architecture"):
        train(wide, tmp_path / "wide-bundle")
