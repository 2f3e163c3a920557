"""benchmarks/detect_at_berths.py on the tiny simulation: berthed tankers found per sensor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .scripts import load_benchmark


def _module():
    return load_benchmark("detect_at_berths")


def test_counts_every_berthed_tanker_once_per_sensor(small_simulation, tmp_path, capsys):
    mod = _module()
    expected = {}
    for folder in (small_simulation / "scenes").iterdir():
        n = len(mod.berthed_labels(folder))
        if n:
            sensor = mod.scene_sensor(folder)
            expected[sensor] = expected.get(sensor, 0) + n
    assert expected, "the tiny scenario has tankers at berths"
    out = tmp_path / "r.json"
    assert mod.main(["--sim", str(small_simulation), "--model", "baseline", "--models", "",
                     "--json", str(out)]) == 0  # fmt: skip
    table = json.loads(out.read_text())
    got = {k.split()[0]: v for k, v in table.items()}
    assert {s: v["tankers"] for s, v in got.items()} == expected
    for v in got.values():
        assert 0 <= v["found"] <= v["tankers"] and v["recall"] == round(
            v["found"] / v["tankers"], 3
        )
    assert "| sensor | model |" in capsys.readouterr().out
    # --sensors: the other sensors' scenes are not measured
    one = sorted(expected)[0]
    only = tmp_path / "only.json"
    assert mod.main(["--sim", str(small_simulation), "--model", "baseline", "--models", "",
                     "--sensors", one, "--json", str(only)]) == 0  # fmt: skip
    assert [k.split()[0] for k in json.loads(only.read_text())] == [one]


def test_several_simulations_are_pooled(small_simulation, tmp_path):
    mod = _module()
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    args = ["--model", "baseline", "--models", ""]
    assert mod.main(["--sim", str(small_simulation), *args, "--json", str(one)]) == 0
    sims = [str(small_simulation)] * 2
    assert mod.main(["--sim", *sims, *args, "--json", str(two)]) == 0
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a.keys() == b.keys()
    for k in a:
        assert b[k]["tankers"] == 2 * a[k]["tankers"] and b[k]["found"] == 2 * a[k]["found"]
        assert b[k]["length_bias_m"] == a[k]["length_bias_m"]


def test_the_share_repeated_within_one_call_is_measured_from_its_repeated_sightings():
    """Two calls, each measured alike in every image (+10 m and -10 m, +-1 m of scatter): the
    error is mostly the call's own, so the systematic share is near 1; a third call seen once
    adds to the overall spread but not to the within-call one."""
    mod = _module()

    def row(call, dl):
        return {"found": True, "call": call, "dl": dl, "db": 0.0}

    rows = [row("a", 9.0), row("a", 11.0), row("b", -9.0), row("b", -11.0), row("c", 0.0)]
    s = mod.summarise(rows)
    assert s["length_within_call_sd_m"] == pytest.approx(2**0.5, abs=0.05)
    assert s["calls_repeated"] == 2
    expected = 1 - 2.0 / float(np.var([9, 11, -9, -11, 0]))
    assert s["systematic_frac"] == pytest.approx(expected, abs=0.01)
    # every image of a call independent of the others: no share repeats
    noisy = [row("a", 10.0), row("a", -10.0), row("b", 10.0), row("b", -10.0)]
    assert mod.summarise(noisy)["systematic_frac"] == 0.0
    # no hull measured twice: nothing to say
    once = [row("a", 1.0), row("b", 2.0), {"found": False, "call": "a", "dl": None, "db": None}]
    assert mod.summarise(once)["systematic_frac"] is None


def test_write_bundle_document_matches_the_readers_format(tmp_path):
    """The rows measured with a bundle become its berths.json, which the runner can read."""
    from pipeline.detect.berth_calibration import read_calibration
    from pipeline.detect.bundle import read_spec, resolve_bundle_dir

    mod = _module()
    sha = read_spec(resolve_bundle_dir("tw-centernet-3m")).weights.sha256
    rows = {
        ("commercial-3m", f"tw-centernet-3m@{sha[:12]}"): [
            {"sim": str(tmp_path / "a"), "bundle": "tw-centernet-3m", "gsd_m": 3.0,
             "found": k < 3, "dl": 1.0 if k < 3 else None, "db": 0.5 if k < 3 else None}
            for k in range(4)
        ]
    }  # fmt: skip
    ((folder, doc),) = mod.calibration_documents(rows, ["--sim", "a"]).items()
    assert folder == resolve_bundle_dir("tw-centernet-3m")
    path = tmp_path / "berths.json"
    path.write_text(json.dumps(doc))
    (c,) = read_calibration(path, read_spec(folder).weights.sha256)
    assert (c.tankers, c.found, c.length_bias_m, c.beam_bias_m) == (4, 3, 1.0, 0.5)
    assert c.recall_by_simulation == (0.75,) and c.tankers_by_simulation == (4,)
    assert c.systematic_frac is None  # no call named: no repeat measured
    assert c.recall_by_length is None  # no true length given: nothing by length
    # calls seen more than once: their spread and the share are written and read back
    twice = {k: [r | {"call": "c1" if i < 2 else "c2", "dl": float(i)} for i, r in enumerate(v)]
             for k, v in rows.items()}  # fmt: skip
    path.write_text(json.dumps(mod.calibration_documents(twice, ["--sim", "a"])[folder]))
    (c,) = read_calibration(path, read_spec(folder).weights.sha256)
    assert c.calls_repeated == 1 and c.length_within_call_sd_m == pytest.approx(0.7, abs=0.01)
    assert 0.0 <= c.systematic_frac <= 1.0
    # with the true lengths: tankers and those found per length bin, written and read back
    sized = {k: [r | {"length_m": 70.0 + 20 * i} for i, r in enumerate(v)]
             for k, v in rows.items()}  # fmt: skip
    path.write_text(json.dumps(mod.calibration_documents(sized, ["--sim", "a"])[folder]))
    (c,) = read_calibration(path, read_spec(folder).weights.sha256)
    # lengths 70, 90, 110, 130 m against edges 80 / 95 / 110 (an edge opens its bin): the
    # first three found, 130 m missed
    assert c.recall_by_length == ((80.0, 95.0, 110.0), (1, 1, 0, 2), (1, 1, 0, 1))
    # detections of other weights (a chain run before the bundle was retrained) are refused
    stale = {("commercial-3m", "tw-centernet-3m@000000000000"): rows[next(iter(rows))]}
    with pytest.raises(mod.StaleDetections, match="re-run the chain"):
        mod.calibration_documents(stale, ["--chain", "a"])
    # the same weights with lengths measured another way (model.yaml ``length``) are refused too
    other = {("commercial-3m", f"tw-centernet-3m@{sha[:12]}+hull-00000000"): rows[next(iter(rows))]}
    with pytest.raises(mod.StaleDetections, match="re-run the chain"):
        mod.calibration_documents(other, ["--chain", "a"])
