"""Smoke test of benchmarks/detect_stage.py (the demo's detect stage per precision): scene
selection per sensor, and the script end to end on the tiny scenario (no timings asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .scripts import BENCH, load_benchmark

REPO = BENCH.parent


def _scene(root: Path, name: str, sensor: str) -> None:
    d = root / "scenes" / name
    d.mkdir(parents=True)
    (d / "scene.tif").write_bytes(b"")
    props = {"tankerwatch:sensor": sensor, "tankerwatch:port": "vostochny"}
    (d / "item.json").write_text(json.dumps({"properties": props}))


def test_scenes_are_grouped_by_sensor_and_spread_over_the_period(tmp_path):
    stage = load_benchmark("detect_stage")
    for i in range(10):
        _scene(tmp_path, f"a_{i:02d}", "sentinel-2-l2a")
    for i in range(3):
        _scene(tmp_path, f"b_{i:02d}", "commercial-3m")
    every = stage.scenes_by_sensor(tmp_path, 0)
    assert {k: len(v) for k, v in every.items()} == {"sentinel-2-l2a": 10, "commercial-3m": 3}
    some = stage.scenes_by_sensor(tmp_path, 4)
    assert [d.name for d in some["sentinel-2-l2a"]] == ["a_00", "a_02", "a_05", "a_07"]
    assert len(some["commercial-3m"]) == 3


def test_script_on_the_tiny_scenario(tmp_path):
    sim = tmp_path / "sim"
    run = dict(cwd=REPO, capture_output=True, text=True, timeout=600)
    scenario = REPO / "configs" / "scenarios" / "tiny.yaml"
    cli = [sys.executable, "-m", "pipeline.cli", "simulate", "--scenario", str(scenario)]
    res = subprocess.run([*cli, "--out", str(sim)], **run)
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "stage.json"
    script = [sys.executable, str(BENCH / "detect_stage.py"), "--sim", str(sim)]
    # the first precision with the flipped crops' exact context (the bundles' before #15)
    base = ["--baseline-inference", "tta_context_px=96,tta_block_px=64"]
    res = subprocess.run([*script, "--per-sensor", "2", *base, "--json", str(out)], **run)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    per = {(r["sensor"], r["requested"]): r for r in rows}
    assert {s for s, _ in per} == {"sentinel-2-l2a", "commercial-3m", "all"}
    first = "fp32 [tta_context_px=96,tta_block_px=64]"
    assert per["sentinel-2-l2a", first]["precision"] == "fp32"
    assert per["all", "auto"]["scenes"] == 4
    # agreement with the first precision's detections, counted over the same scenes
    ref = per["sentinel-2-l2a", first]
    assert ref["same/lost/new vs first"] == f"{ref['detections']}/0/0"
    same, lost, _ = map(int, per["sentinel-2-l2a", "auto"]["same/lost/new vs first"].split("/"))
    assert same + lost == ref["detections"]


def test_the_baseline_path_is_another_revisions_detect_code(tmp_path):
    """--baseline REV: detect_scene and the CFAR of that revision, wired to its own modules,
    finding what the current CFAR finds on a small simulated Sentinel-1 scene."""
    import numpy as np

    from pipeline.detect.cfar import CfarDetector
    from pipeline.simulate.render import Grid, build_surface
    from pipeline.simulate.sar import render_sar_scene
    from pipeline.simulate.sensors import SENTINEL1
    from pipeline.simulate.vessels import make_vessel

    stage = load_benchmark("detect_stage")
    detect_scene, cfar = stage.baseline_path("HEAD")
    assert detect_scene.__module__ == "_base_infer" and cfar.__module__ == "_base_cfar"
    assert detect_scene.__globals__["open_scene"].__module__ == "_base_raster"
    assert cfar is not CfarDetector

    from tests.detect.test_cfar import _cond, _write

    grid = Grid("EPSG:32653", 500_000.0, 4_700_000.0, 96, 96, 10.0)
    rng = np.random.default_rng(3)
    surf = build_surface(grid, [], [], [], rng)
    vd = make_vessel("tanker", rng, key="t")
    vd.length_m, vd.beam_m = 100.0, 16.0
    vd.x, vd.y, vd.heading_deg = grid.x0 + 480, grid.y0 - 480, 30.0
    vd.extra = {"role": "anchored", "visit_id": ""}
    d = _write(tmp_path / "s1", grid, render_sar_scene(surf, _cond(6.0, 3), [vd], SENTINEL1, rng))
    old = detect_scene(d / "scene.tif", cfar())
    from pipeline.detect.infer import detect_scene as current

    new = current(d / "scene.tif", CfarDetector())
    assert len(old) == len(new) == 1 and old[0].geometry == new[0].geometry
