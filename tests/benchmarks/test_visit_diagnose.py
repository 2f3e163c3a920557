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
