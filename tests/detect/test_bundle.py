"""Bundles: safetensors round trip, refusal of corrupt or disagreeing bundles, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from pipeline.detect.bundle import DEFAULT_MODEL, ArchSpec, load_detector, read_spec, save_bundle
from pipeline.detect.model import build_model
from pipeline.errors import TankerWatchError

TINY = {"backbone": "compact", "in_channels": 4, "widths": [4, 8, 8, 8, 8], "decoder_width": 8}


def tiny_fields(name="tiny", **over):
    fields = {
        "name": name,
        "architecture": {**TINY, "out_stride": 2},
        "bands": ["B02", "B03", "B04", "B08"],
        "gsd_m": 10.0,
        "thresholds": {"score": 0.01},
    }
    fields.update(over)
    return fields


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()


@pytest.fixture
def bundle(tmp_path):
    model = tiny_model()
    save_bundle(tmp_path / "tiny", model, tiny_fields(), card_md="# card\n", metrics={"a": 1.0})
    return tmp_path / "tiny", model


def test_round_trip_gives_identical_outputs(bundle):
    folder, model = bundle
    assert sorted(p.name for p in folder.iterdir()) == [
        "card.md",
        "metrics.json",
        "model.yaml",
        "weights.safetensors",
    ]
    det = load_detector(folder)
    assert det.name == "tiny" and det.bands == ["B02", "B03", "B04", "B08"]
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        a, b = model(x), det.model(x)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    refl = np.random.default_rng(0).uniform(0, 0.3, (4, 64, 64)).astype(np.float32)
    dets = det.detect_array(refl, np.ones((64, 64), bool))
    assert isinstance(dets, list) and all({"cx", "cy", "length", "score"} <= d.keys() for d in dets)


def test_weights_are_plain_safetensors(bundle):
    from safetensors import safe_open

    folder, model = bundle
    with safe_open(str(folder / "weights.safetensors"), "pt") as f:
        assert set(f.keys()) == set(model.state_dict())


def test_corrupt_weights_are_refused(bundle):
    folder, _ = bundle
    w = folder / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(TankerWatchError, match=r"weights\.safetensors: checksum"):
        load_detector(folder)


def test_truncated_weights_with_matching_checksum_are_refused(bundle):
    from pipeline.detect.bundle import sha256_file

    folder, _ = bundle
    w = folder / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    spec = yaml.safe_load((folder / "model.yaml").read_text())
    spec["weights"]["sha256"] = sha256_file(w)
    (folder / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match="not a readable safetensors file"):
        load_detector(folder)


def test_architecture_disagreeing_with_weights_is_refused(bundle):
    folder, _ = bundle
    spec = yaml.safe_load((folder / "model.yaml").read_text())
    spec["architecture"]["widths"] = [4, 8, 8, 8, 16]
    (folder / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match=r"weights\.safetensors: tensor .* has shape"):
        load_detector(folder)


def test_bands_disagreeing_with_input_channels_is_refused(bundle):
    folder, _ = bundle
    spec = yaml.safe_load((folder / "model.yaml").read_text())
    spec["bands"] = ["B02", "B03", "B04"]
    (folder / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match=r"model\.yaml: .*in_channels"):
        load_detector(folder)


def test_unknown_key_in_model_yaml_is_refused(bundle):
    folder, _ = bundle
    spec = yaml.safe_load((folder / "model.yaml").read_text())
    spec["pickle_me"] = True
    (folder / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match="field 'pickle_me': unknown key"):
        read_spec(folder)


def test_missing_bundle_and_unknown_name(tmp_path):
    with pytest.raises(TankerWatchError, match="model.yaml: file not found"):
        load_detector(tmp_path)
    with pytest.raises(TankerWatchError, match="model 'nope' not found"):
        load_detector("nope")


def test_baseline_and_default_names():
    base = load_detector("baseline")
    assert base.name.startswith("baseline")
    assert isinstance(DEFAULT_MODEL, str) and DEFAULT_MODEL


def test_model_id_changes_with_the_weights(tmp_path):
    """Two bundles with one name but different weights are different models to the ledger."""
    import torch

    from pipeline.detect.bundle import ArchSpec, load_detector, save_bundle
    from pipeline.detect.model import build_model

    fields = {
        "name": "same-name",
        "architecture": {"widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "bands": ["B02", "B03", "B04", "B08"],
        "gsd_m": 10.0,
    }
    ids = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8))
        save_bundle(tmp_path / f"b{seed}", model, fields)
        det = load_detector(tmp_path / f"b{seed}")
        assert det.name == "same-name"
        ids.append(det.model_id)
    assert ids[0] != ids[1] and all(i.startswith("same-name@") for i in ids)


def test_learned_and_classical_detectors_share_the_detector_interface():
    from pipeline.detect.detector import CLASSICAL, Detector

    assert isinstance(load_detector("baseline"), Detector)
    assert isinstance(load_detector(DEFAULT_MODEL), Detector)
    assert set(CLASSICAL) >= {"baseline"}
    with pytest.raises(TankerWatchError, match="known: .*baseline"):
        load_detector("nope")


def test_the_architecture_spec_builds_the_network():
    spec = ArchSpec(widths=[4, 8, 8, 8, 8], decoder_width=8)
    net = spec.build()
    assert isinstance(net, torch.nn.Module)
    assert net.state_dict().keys() == build_model(spec).state_dict().keys()


SAR_TINY = {"backbone": "compact", "in_channels": 2, "widths": [4, 8, 8, 8, 8], "decoder_width": 8}


def sar_fields(name="tiny-sar", **over):
    fields = {
        "name": name,
        "architecture": {**SAR_TINY, "out_stride": 2},
        "bands": ["VV", "VH"],
        "gsd_m": 10.0,
        "normalisation": {"method": "sar-db", "db_min": -35.0, "db_max": 10.0},
        "thresholds": {"score": 0.01, "min_length_m": 0.0},
        "inference": {"tile": 128, "overlap": 32, "min_water_px": 0},
    }
    fields.update(over)
    return fields


def sar_model(seed=0):
    torch.manual_seed(seed)
    return build_model(ArchSpec(in_channels=2, widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()


@pytest.fixture(scope="module")
def sar_chip(tmp_path_factory):
    from pipeline.simulate.chips import write_chips

    (chip,) = write_chips(tmp_path_factory.mktemp("s1"), 1, seed=3, size_px=96,
                          sensor="sentinel-1-grd")  # fmt: skip
    return chip


def test_sar_bundle_loads_and_detects_on_a_simulated_sentinel1_chip(tmp_path, sar_chip):
    from pipeline.detect.infer import detect_scene
    from pipeline.detect.raster import normalise_sar_db, read_full

    save_bundle(tmp_path / "sar", sar_model(), sar_fields())
    text = (tmp_path / "sar" / "model.yaml").read_text()
    assert "method: sar-db" in text and "db_min: -35.0" in text
    det = load_detector(tmp_path / "sar")
    assert det.bands == ["VV", "VH"] and det.spec.normalisation.method == "sar-db"
    sigma0, valid, _, _ = read_full(sar_chip / "scene.tif", det.bands, det.gsd_m)
    x = det.prepare(sigma0, valid)  # the network sees dB in [-1, 1], not reflectance
    np.testing.assert_allclose(x[0].numpy(), normalise_sar_db(sigma0, valid), atol=1e-6)
    dets = det.detect_array(sigma0, valid)
    assert dets and all(d["cls"] == "vessel" and d["length"] >= 1.0 for d in dets)
    # through the scene reader and the tiling loop, as `tankerwatch detect` runs it
    records = detect_scene(sar_chip / "scene.tif", det, scene_id="chip")
    assert len(records) >= 1 and all(-90 <= r.lat <= 90 for r in records)


def test_length_bias_in_model_yaml_is_removed_at_decode(tmp_path, sar_chip):
    from pipeline.detect.raster import read_full

    model = sar_model()
    save_bundle(tmp_path / "a", model, sar_fields())
    cal = {"length_bias_m": 20.0, "measured_on": "test", "n_pairs": 5}
    save_bundle(tmp_path / "b", model, sar_fields(calibration=cal))
    sigma0, valid, _, _ = read_full(sar_chip / "scene.tif", ["VV", "VH"], 10.0)
    a = load_detector(tmp_path / "a").detect_array(sigma0, valid)
    b = load_detector(tmp_path / "b").detect_array(sigma0, valid)
    assert len(a) == len(b) > 0
    for da, db in zip(a, b, strict=True):
        assert (da["cx"], da["cy"]) == (db["cx"], db["cy"])
        assert db["length"] == pytest.approx(max(1.0, da["length"] - 2.0), abs=1e-4)  # 20 m


@pytest.mark.parametrize(
    ("norm", "bands", "message"),
    [
        ({"method": "sar-db"}, ["B02", "B03"], r"sar-db needs SAR bands"),
        ({"method": "log1p-reflectance"}, ["VV", "VH"], r"SAR polarisations"),
        ({"method": "sar-db", "db_min": 0.0, "db_max": -10.0}, ["VV", "VH"], "db_max"),
        ({"method": "sigma-nought"}, ["VV", "VH"], "normalisation"),
    ],
)
def test_normalisation_that_does_not_fit_the_bands_is_refused(tmp_path, norm, bands, message):
    save_bundle(tmp_path / "sar", sar_model(), sar_fields())
    spec = yaml.safe_load((tmp_path / "sar" / "model.yaml").read_text())
    spec["normalisation"], spec["bands"] = norm, bands
    (tmp_path / "sar" / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match=message):
        load_detector(tmp_path / "sar")


@pytest.mark.parametrize("name", ["tw-centernet-s2", "tw-centernet-3m"])
def test_released_optical_bundles_load_unchanged(name):
    """Optical bundles (the 3 m one written before SAR input existed, with no calibration block;
    the Sentinel-2 one after, with an empty one): reflectance normalisation, no length
    correction, and the network's input is the optical stretch."""
    from pipeline.detect.bundle import MODELS_DIR
    from pipeline.detect.raster import normalise

    det = load_detector(name)
    raw = yaml.safe_load((MODELS_DIR / name / "model.yaml").read_text())
    cal = raw.get("calibration") or {}
    assert cal.get("length_bias_m", 0.0) == 0.0 and cal.get("length_gain", 1.0) == 1.0
    assert raw["normalisation"]["method"] == "log1p-reflectance"
    assert det.spec.normalisation.method == "log1p-reflectance"
    assert det.spec.calibration.length_bias_m == 0.0
    refl = np.random.default_rng(1).uniform(0, 0.4, (len(det.bands), 40, 40)).astype(np.float32)
    valid = np.ones((40, 40), bool)
    valid[:3] = False
    x = det.prepare(refl, valid)
    np.testing.assert_allclose(x[0, :, :40, :40].numpy(), normalise(refl, valid), atol=1e-6)


def test_with_score_reports_lower_peaks_and_leaves_the_detector_alone(tmp_path):
    model = tiny_model()
    # the untrained tiny network scores every cell about 0.10
    fields = tiny_fields(thresholds={"score": 0.2, "berth_score": 0.05, "min_length_m": 0.0})
    save_bundle(tmp_path / "t", model, fields)
    det = load_detector(tmp_path / "t")
    assert (det.score_threshold, det.berth_score) == (0.2, 0.05)
    low = det.with_score(0.05)
    assert low.score_threshold == 0.05 and det.score_threshold == 0.2
    assert low.model is det.model and low.model_id == det.model_id
    refl = np.random.default_rng(0).uniform(0, 0.3, (4, 64, 64)).astype(np.float32)
    valid = np.ones((64, 64), bool)
    high, lower = det.detect_array(refl, valid), low.detect_array(refl, valid)
    assert high == [] and lower and all(d["score"] >= 0.05 for d in lower)
    assert det.detect_array(refl, valid) == []  # the original still reports at 0.2


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5])
def test_a_berth_score_outside_zero_one_is_refused_in_model_yaml(tmp_path, value):
    save_bundle(tmp_path / "t", tiny_model(), tiny_fields(thresholds={"score": 0.5}))
    spec = yaml.safe_load((tmp_path / "t" / "model.yaml").read_text())
    spec["thresholds"]["berth_score"] = value
    (tmp_path / "t" / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match="berth_score"):
        read_spec(tmp_path / "t")


@pytest.mark.parametrize(("key", "value"), [("tta_context_px", -16), ("tta_block_px", 0)])
def test_flip_crop_sizes_below_their_range_are_refused_in_model_yaml(tmp_path, key, value):
    save_bundle(tmp_path / "t", tiny_model(), tiny_fields())
    spec = yaml.safe_load((tmp_path / "t" / "model.yaml").read_text())
    spec["inference"][key] = value
    (tmp_path / "t" / "model.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(TankerWatchError, match=key):
        read_spec(tmp_path / "t")


def test_the_released_optical_bundles_flip_crops_with_the_measured_context():
    """48 px of context and 16 px blocks: chosen on the full tile, real ports and simulated
    scenes (BENCHMARKS.md, "Flipped crops with less context"); a bundle without the keys
    keeps the exact crops (the receptive field)."""
    for name in ("tw-centernet-s2", "tw-centernet-3m"):
        inf = load_detector(name).spec.inference
        assert (inf.tta, inf.tta_context_px, inf.tta_block_px) == (True, 48, 16)
    assert load_detector("tw-centernet-s1").spec.inference.tta_context_px is None
