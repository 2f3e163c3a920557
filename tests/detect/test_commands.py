"""The detect / evaluate / train verbs: outputs, one bad scene among many, exit 2 paths."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest

from detect import synth


@pytest.fixture
def run(capsys, monkeypatch):
    """The real entry point (pipeline.cli.main) in-process: (exit code, stdout, stderr)."""
    import sys

    from pipeline.cli import main

    def invoke(*args):
        monkeypatch.setattr(sys, "argv", ["tankerwatch", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return invoke


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    for i, name in enumerate(["a", "b"]):
        ships = [(40, 40, 180, 30, 20 + 40 * i), (90, 90, 120, 25, 100)]
        refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=10 + i)
        synth.write_geotiff(root / name / "scene.tif", refl, transform, crs)
        synth.write_labels(root / name / "labels.geojson", polys, crs)
    refl, transform, _, _ = synth.utm_scene(32, 32, seed=1)
    synth.write_geotiff(root / "nocrs.tif", refl, transform, None)
    return root


@pytest.mark.parametrize("suffix", [".geojson", ".parquet", ".gpkg"])
def test_detect_writes_each_format(run, scenes, tmp_path, suffix):
    out = tmp_path / f"d{suffix}"
    code, _, err = run(
        "detect", scenes / "a" / "scene.tif", scenes / "b", "-m", "baseline", "-o", out
    )
    assert code == 0, err
    df = gpd.read_parquet(out) if suffix == ".parquet" else gpd.read_file(out)
    assert len(df) == 4 and df.crs.to_epsg() == 4326
    assert {"length_m", "beam_m", "heading_deg", "score", "cls", "model", "scene_id"} <= set(df)
    assert set(df["scene_id"]) == {"a", "b"}


def test_one_bad_scene_among_many_is_skipped(run, scenes, tmp_path):
    out = tmp_path / "d.geojson"
    code, stdout, err = run(
        "detect", scenes / "a", scenes / "nocrs.tif", "-m", "baseline", "-o", out
    )
    assert code == 0
    assert "skipped" in err and "nocrs.tif: raster has no CRS" in err
    assert "1 skipped" in stdout and out.exists()


def test_detect_exit_2_in_a_real_process(cli, scenes, tmp_path):
    res = cli(
        "detect", scenes / "nocrs.tif", "--model", "baseline", "--out", tmp_path / "x.geojson"
    )
    assert res.returncode == 2
    assert "nocrs.tif: raster has no CRS" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_detect_exit_2_paths(run, scenes, tmp_path):
    code, _, err = run("detect", scenes / "a", "-m", "baseline", "-o", tmp_path / "x.csv")
    assert code == 2 and "unknown output type" in err
    code, _, err = run("detect", scenes / "a", "-m", "no-such-model", "-o", tmp_path / "x.geojson")
    assert code == 2 and "model 'no-such-model' not found" in err
    code, _, err = run(
        "detect", tmp_path / "missing.tif", "-m", "baseline", "-o", tmp_path / "x.gpkg"
    )
    assert code == 2 and "missing.tif: file not found" in err
    code, _, err = run(
        "detect",
        scenes / "nocrs.tif",
        tmp_path / "gone.tif",
        "-m",
        "baseline",
        "-o",
        tmp_path / "y.gpkg",
    )
    assert code == 2 and "no scene could be processed" in err
    assert not (tmp_path / "y.gpkg").exists()


def test_evaluate_json_last_line(run, scenes):
    code, out, err = run("evaluate", "--dataset", scenes, "--model", "baseline", "--json")
    assert code == 0, err
    obj = json.loads(out.strip().splitlines()[-1])
    assert obj["overall"]["n_labels"] == 4 and obj["overall"]["f1"] == 1.0
    code, out, _ = run("evaluate", "--dataset", scenes, "--model", "baseline")
    assert "ALL" in out and "F1" in out


def test_evaluate_and_train_exit_2(run, tmp_path):
    code, _, err = run("evaluate", "--dataset", tmp_path / "nowhere", "--model", "baseline")
    assert code == 2 and "dataset folder not found" in err
    bad = tmp_path / "train" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("name: x\nsteps: 3\nwhat: 1\nreal: [{root: .}]\n")
    code, _, err = run("train", "--config", bad, "--out", tmp_path / "m")
    assert code == 2 and "field 'what': unknown key" in err


def test_precision_flag(run, scenes, tmp_path):
    import torch

    from pipeline.detect.bundle import ArchSpec, load_detector, save_bundle
    from pipeline.detect.model import build_model

    torch.manual_seed(0)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()
    fields = {
        "name": "tiny",
        "architecture": {"widths": [4, 8, 8, 8, 8], "decoder_width": 8},
        "bands": ["B02", "B03", "B04", "B08"],
        "gsd_m": 10.0,
        "inference": {"tta": True, "precision": "fp32"},
    }
    save_bundle(tmp_path / "tiny", model, fields)
    assert load_detector(tmp_path / "tiny").precision.name == "fp32"  # the bundle's own
    assert load_detector(tmp_path / "tiny", precision="bf16").precision.name == "bf16"
    for precision in ("fp32", "bf16", "auto"):
        out = tmp_path / f"{precision}.geojson"
        code, _, err = run(
            "detect", scenes / "a", "-m", tmp_path / "tiny", "--precision", precision, "-o", out
        )
        assert code == 0 and out.exists(), err
    code, _, err = run(
        "detect", scenes / "a", "-m", tmp_path / "tiny", "--precision", "fp8", "-o", out
    )
    assert code == 2 and "--precision fp8: unknown" in err
    code, _, err = run("evaluate", "--dataset", scenes, "-m", "baseline", "--precision", "x")
    assert code == 2 and "--precision x: unknown" in err


def test_bad_rasters_among_good_ones(run, scenes, tmp_path):
    """A raster declaring 200000 x 200000 px and a PNG named .tif are each one line, skipped
    in a batch (the good scenes are detected), exit 2 alone."""
    big = synth.sparse_geotiff(tmp_path / "big.tif", 200000, 10.0)
    png = synth.png_as_tif(tmp_path / "photo.tif")
    out = tmp_path / "d.geojson"
    code, stdout, err = run(
        "detect", scenes / "a", big, png, scenes / "b", "-m", "baseline", "-o", out
    )
    assert code == 0, err
    assert "big.tif: too large" in err and "photo.tif: not a GeoTIFF" in err
    assert "4 detections from 2 scene(s) (2 skipped)" in stdout


def test_png_named_tif_is_one_line_in_a_real_process(cli, tmp_path):
    png = synth.png_as_tif(tmp_path / "photo.tif")
    res = cli("detect", png, "--model", "baseline", "--out", tmp_path / "x.geojson")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"error: {png}: not a GeoTIFF (a PNG file)"]


def _with_bad_scenes(good, root):
    """A copy of the dataset ``good`` plus scene c (raster that is no GeoTIFF) and scene d
    (labels that are no JSON)."""
    import shutil

    shutil.copytree(good, root)
    (root / "c").mkdir()
    (root / "c" / "scene.tif").write_text("not a tiff")
    shutil.copytree(root / "a", root / "d")
    (root / "d" / "labels.geojson").write_text("{broken")
    return root


def test_evaluate_skips_a_bad_scene_and_counts_it(cli, scenes, tmp_path):
    ds = _with_bad_scenes(scenes, tmp_path / "ds")
    res = cli("evaluate", "--dataset", ds, "--model", "baseline", "--json")
    assert res.returncode == 0, res.stderr
    warnings = res.stderr.strip().splitlines()
    assert len(warnings) == 2 and "Traceback" not in res.stderr, res.stderr
    assert (
        warnings[0].startswith("skipped scene c: ") and str(ds / "c" / "scene.tif") in warnings[0]
    )
    assert warnings[1].startswith("skipped scene d: ") and "labels.geojson" in warnings[1]
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(obj["scenes"]) == {"a", "b"} and set(obj["skipped"]) == {"c", "d"}
    assert obj["overall"]["n_labels"] == 4 and obj["overall"]["f1"] == 1.0
    res = cli("evaluate", "--dataset", ds, "--model", "baseline")
    assert res.returncode == 0 and "2 scene(s) skipped: c, d" in res.stdout, res.stderr
    # no usable scene left: exit 2, one error line after the two warnings
    res = cli("evaluate", "--dataset", ds, "--model", "baseline", "--scenes", "c,d")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("error: ") and "no usable scene" in lines[-1]


def test_evaluate_with_a_land_masking_detector_skips_unreadable_scenes(cli, scenes, tmp_path):
    """The CFAR reads each scene's land before detecting: a raster that is no GeoTIFF is still
    one skip line, never a traceback (optical scenes lack VV/VH: skipped too, then exit 2)."""
    ds = _with_bad_scenes(scenes, tmp_path / "ds")
    res = cli("evaluate", "--dataset", ds, "--model", "cfar")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines[:-1]] == [f"skipped scene {n}" for n in "abcd"]
    assert str(ds / "c" / "scene.tif") in lines[2] and "no usable scene" in lines[-1]


def test_evaluate_min_length(run, scenes):
    code, out, err = run(
        "evaluate", "-d", scenes, "-m", "baseline", "--min-length", "150", "--json"
    )
    assert code == 0, err
    obj = json.loads(out.strip().splitlines()[-1])
    assert obj["min_length_m"] == 150 and obj["overall"]["n_labels"] == 2  # the 180 m hulls
    assert obj["overall"]["fp"] == 0
    code, out, _ = run("evaluate", "-d", scenes, "-m", "baseline", "--min-length", "150")
    assert ">= 150 m" in out and "R along" in out and "length MAE by size" in out
    code, _, err = run("evaluate", "-d", scenes, "-m", "baseline", "--min-length", "-5")
    assert code == 2 and "--min-length -5.0: must be a length >= 0 m" in err
