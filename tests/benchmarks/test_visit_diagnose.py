"""benchmarks/visit_diagnose.py: bad input is one line and exit 2; the dispersion fit."""

from __future__ import annotations

from .scripts import load_benchmark


def test_it_refuses_a_missing_folder_bad_counts_and_folders_without_a_run(tmp_path, capsys):
    mod = load_benchmark("visit_diagnose")
    assert mod.main(["--work", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert mod.main(["--work", str(tmp_path), "--n", "0"]) == 2
    assert "--n must be" in capsys.readouterr().err
    assert mod.main(["--work", str(tmp_path), "--n", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "no finished chain run of those seeds" in err[-1]


def test_clustered_misses_fit_a_small_prior_and_independent_ones_a_large_one():
    mod = load_benchmark("visit_diagnose")
    hit, miss = True, False
    clustered = [("s", [hit] * 6)] * 8 + [("s", [miss] * 6)] * 2
    spread = [("s", [hit, hit, miss, hit, hit, hit]), ("s", [hit, miss, hit, hit, hit, hit])] * 5
    a = mod.dispersion(clustered)["s"]
    b = mod.dispersion(spread)["s"]
    assert a["recall"] == 0.8 and b["recall"] == round(50 / 60, 3)
    assert a["n0_ml"] <= 1 and b["n0_ml"] >= 20
    assert a["miss_after_miss"] == "10/10" and a["miss_after_hit"] == "0/40"


def test_missed_calls_are_classed_by_where_they_were_lost():
    from datetime import datetime, timedelta
    from types import SimpleNamespace as NS

    mod = load_benchmark("visit_diagnose")
    t0 = datetime(2024, 3, 1)

    def h(x):
        return t0 + timedelta(hours=x)

    calls = [
        NS(arrive=h(0), depart=h(30)),
        NS(arrive=h(32), depart=h(60)),
        NS(arrive=h(100), depart=h(130)),
    ]
    # one visit spans the first two calls (a changeover not seen): most of it in the first
    det_time = {"a": h(5), "b": h(20), "c": h(40), "d": h(110)}
    loads = [
        NS(id="v1", first_seen=h(5), evidence=["a", "b", "c"]),
        NS(id="v2", first_seen=h(110), evidence=["d"]),
    ]
    matched = mod.match_calls(calls, loads, det_time)  # estimate_accuracy.match_calls
    assert matched == {0: "v1", 2: "v2"}
    assert mod.classify_call(calls[1], ["s2"], loads, False, {}, det_time) == "merged"
    assert mod.classify_call(calls[0], ["s1"], loads, True, {}, det_time) == "matched"
    # a call no visit holds: a detection at the berth in its clear image, or none
    lone = NS(arrive=h(200), depart=h(220))
    assert mod.classify_call(lone, ["s9"], loads, False, {"s9": ["det"]}, det_time) == "dropped"
    assert mod.classify_call(lone, ["s9"], loads, False, {"s8": ["det"]}, det_time) == "undetected"
