"""benchmarks/train_precision.py: step times per mode and the two loss curves, on a tiny recipe."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from detect import synth

from .scripts import load_benchmark


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("prec-ds")
    ships = [(30, 40, 180, 30, 20), (90, 80, 120, 25, 100)]
    refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=41)
    synth.write_geotiff(root / "a" / "scene.tif", refl, transform, crs)
    synth.write_labels(root / "a" / "labels.geojson", polys, crs)
    cfg = {
        "name": "tiny-prec",
        "architecture": {"widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "real": [{"root": str(root)}],
        "steps": 20,
        "warmup_steps": 2,
        "batch_size": 2,
        "chip": 64,
    }
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_times_every_mode_and_compares_the_curves(recipe, tmp_path, monkeypatch, capsys):
    mod = load_benchmark("train_precision")
    out = tmp_path / "r.json"
    argv = ["x", "--config", str(recipe), "--steps", "2", "--warmup", "1", "--chip", "64,32"]
    monkeypatch.setattr(sys, "argv", [*argv, "--curve", "10", "--json", str(out)])
    assert mod.main() == 0
    r = json.loads(out.read_text())
    assert set(r["chips"]) == {"64", "32"}
    for entry in r["chips"].values():
        assert set(entry["step_s"]) == {"fp32", "fp32-cl", "bf16-cl"}
        assert all(q["n"] == 2 and q["median"] > 0 for q in entry["step_s"].values())
        assert entry["draw_batch_s"]["n"] == 3
    fp32, bf16 = r["curve"]["fp32-cl"], r["curve"]["bf16-cl"]
    assert [s for s, _ in fp32] == [s for s, _ in bf16] == list(range(1, 11))
    assert all(abs(a - b) <= 0.05 * a for (_, a), (_, b) in zip(fp32, bf16, strict=True))
    assert "| 64 | bf16-cl |" in capsys.readouterr().out


def test_a_bad_config_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    mod = load_benchmark("train_precision")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: -1\n")
    monkeypatch.setattr(sys, "argv", ["x", "--config", str(bad)])
    assert mod.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml" in err[0]
