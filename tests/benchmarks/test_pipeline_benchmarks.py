"""Smoke tests of benchmarks/pipeline_*.py at tiny sizes, so the scripts cannot rot (no timings
are asserted: those go to BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .scripts import load_benchmark

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def _module(name: str):
    return load_benchmark(name)


def _script(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_synthetic_tile_is_seeded_sentinel2_like(tmp_path):
    import rasterio

    full = _module("pipeline_fullsize_tile")
    a, b, c = tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif"
    facts = full.write_tile(a, 700, seed=3)
    full.write_tile(b, 700, seed=3)
    full.write_tile(c, 700, seed=4)
    with rasterio.open(a) as ra, rasterio.open(b) as rb, rasterio.open(c) as rc:
        assert ra.descriptions == ("B02", "B03", "B04", "B08", "B11")
        assert ra.dtypes == ("uint16",) * 5 and (ra.width, ra.height) == (700, 700)
        assert ra.crs.to_epsg() == 32653 and ra.res == (10.0, 10.0)
        pa = ra.read()
        assert np.array_equal(pa, rb.read())  # seeded
        assert not np.array_equal(pa, rc.read())
    assert facts["hulls"] >= 1 and 0.05 < facts["land_share"] < 0.8
    water = np.abs(pa[3].astype(float) - full.WATER_DN[3]) < 5 * full.NOISE_DN[3]
    hull = pa[3] == full.HULL_DN[3]  # hull pixels carry the hull DN exactly (no noise)
    assert water.mean() > 0.2 and hull.sum() >= facts["hulls"]


def test_fresh_bundle_and_forward_over_the_detectors_own_windows(tmp_path):
    from pipeline.detect.bundle import load_detector
    from pipeline.detect.raster import open_scene
    from pipeline.detect.train_config import TrainConfig

    common = _module("pipeline_common")
    full = _module("pipeline_fullsize_tile")
    folder = common.fresh_bundle(tmp_path / "fresh")
    det = load_detector(folder)  # written by save_bundle: checksum and tensors verified
    defaults = TrainConfig(name="x", simulated={"n": 1})
    assert det.name == "fresh-init-defaults"
    assert det.spec.architecture == defaults.architecture
    assert (det.tile, det.overlap) == (defaults.inference.tile, defaults.inference.overlap)

    tile, warm = tmp_path / "t.tif", tmp_path / "w.tif"
    full.write_tile(tile, 400, seed=1)
    full.write_tile(warm, 128, seed=1)
    out = full.child_forward(tile, str(folder), warm)
    with open_scene(tile, det.bands, det.gsd_m) as grid:
        windows = list(grid.windows(det.tile, det.overlap))
    assert out["tiles"] == len(windows) == 1
    assert out["grid_mpx"] == pytest.approx(0.16)
    assert out["core_s"] > 0 and out["read_s"] > 0 and out["peak_rss_mib"] > 0

    labels = [label for label, _ in common.resolve_models(["fresh", "baseline"], tmp_path, None)]
    assert labels == ["fresh", "baseline"]


def test_fullsize_script_reports_and_enforces_the_memory_limit(tmp_path):
    out = tmp_path / "r.json"
    res = _script(
        "pipeline_fullsize_tile",
        "--size", "400", "--model", "baseline", "--work", tmp_path, "--json", out,
        "--max-rss-mib", "1",
    )  # fmt: skip
    assert res.returncode == 1, res.stderr  # every real child needs more than 1 MiB
    assert "peak memory over 1 MiB" in res.stdout
    r = json.loads(out.read_text())
    (row,) = r["rows"]
    assert row["detector"] == "baseline-ndwi" and row["tiles"] == 1
    assert row["peak_rss_mib"] > 1 and row["detect_s"] > 0 and row["detect/forward"] > 0
    assert r["tile"]["size_px"] == 400
    assert "| baseline-ndwi | bundle's | 1024/128 | 1 |" in res.stdout


@pytest.mark.slow
def test_end_to_end_script_on_the_tiny_scenario(tmp_path):
    out = tmp_path / "r.json"
    res = _script(
        "pipeline_end_to_end",
        "--scenario", REPO / "configs" / "scenarios" / "tiny.yaml", "--model", "baseline",
        "--work", tmp_path / "w", "--json", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    stages = ["simulate", "ingest", "detect", "portcalls", "estimate", "exports + report"]
    assert list(r["stages_s"]) == stages
    assert r["scenes"] > 0 and r["scenes_detected"] == r["scenes"] and r["failed"] == 0
    assert r["calls_truth"] == 3 and not r["simulation_cached"]
    assert (tmp_path / "w" / "report.html").exists()
    assert r["total_s"] == pytest.approx(sum(r["stages_s"].values()), abs=0.1)


def test_scaled_scenario_multiplies_period_and_calls():
    scaling = _module("pipeline_scaling")
    tiny = REPO / "configs" / "scenarios" / "tiny.yaml"
    one, four = scaling.scaled_scenario(tiny, 1), scaling.scaled_scenario(tiny, 4)
    assert (one.end - one.start).days + 1 == 21 and (four.end - four.start).days + 1 == 84
    assert four.calls.n_load_calls == 4 * one.calls.n_load_calls
    assert four.start == one.start and four.name == "tiny-x4"
    week = scaling.scaled_scenario(tiny, 2, days=7)
    assert (week.end - week.start).days + 1 == 14


@pytest.mark.slow
def test_scaling_script_dask_matches_local(tmp_path):
    out = tmp_path / "r.json"
    res = _script(
        "pipeline_scaling",
        "--days", "6", "--factors", "1", "2", "--dask-workers", "1", "--model", "baseline",
        "--work", tmp_path, "--json", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["factor"], r["executor"]) for r in rows] == [
        (1, "local"),
        (2, "local"),
        (2, "dask 1w cold"),
        (2, "dask 1w warm"),
    ]
    assert rows[1]["scenes"] > rows[0]["scenes"] > 0
    assert all(r["identical_to_local"] for r in rows[2:])
    assert len({r["run_id"] for r in rows[1:]}) == 1  # where it ran does not change the run


def test_full_tile_detections_are_scored_against_the_tiles_own_hulls(tmp_path):
    """tile_truth redraws the hulls write_tile drew; score_on_truth matches detections to them."""
    from pyproj import Transformer

    full = _module("pipeline_fullsize_tile")
    facts = full.write_tile(tmp_path / "t.tif", 700, seed=3)
    hulls = full.tile_truth(700, 3, "mixed")
    assert len(hulls) == facts["hulls"] >= 2
    to_lonlat = Transformer.from_crs(f"EPSG:{full.EPSG}", "EPSG:4326", always_xy=True)

    def rows(items):
        out = []
        for cx, cy, length, *_ in items:
            lon, lat = to_lonlat.transform(
                full.ORIGIN[0] + cx * full.GSD_M, full.ORIGIN[1] - cy * full.GSD_M
            )
            out.append([lon, lat, length * full.GSD_M + 5.0, 0.9])
        return out

    perfect = tmp_path / "perfect.json"
    perfect.write_text(json.dumps(rows(hulls)))
    assert full.score_on_truth(perfect, hulls) == {
        "recall": 1.0,
        "precision": 1.0,
        "length_mae_m": 5.0,
    }
    # one hull missed, one detection far from every hull
    stray = (hulls[0][0] + 300.0, hulls[0][1], 10.0)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(rows(hulls[1:]) + rows([stray])))
    got = full.score_on_truth(partial, hulls)
    n = len(hulls)
    assert got["recall"] == round((n - 1) / n, 4) and got["precision"] == round((n - 1) / n, 4)


def test_a_module_is_loaded_as_it_was_at_a_revision_beside_the_current_one():
    common = _module("pipeline_common")
    import pipeline.bands as current

    old = common.module_at_revision("HEAD", "pipeline/bands.py", "_old_bands", marker=1)
    assert old is not current and old.marker == 1
    assert old.canonical_band("nir") == current.canonical_band("nir") == "B08"
