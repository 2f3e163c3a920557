"""benchmarks/berth_funnel.py and berth_redetect.py: bad input is one line and exit 2."""

from __future__ import annotations

from .scripts import load_benchmark


def test_the_funnel_refuses_a_bad_threshold_and_folders_without_a_run(tmp_path, capsys):
    mod = load_benchmark("berth_funnel")
    assert mod.main([str(tmp_path), "--low", "1.5"]) == 2
    assert "--low must lie in (0, 1)" in capsys.readouterr().err
    assert mod.main([str(tmp_path), "--no-redetect"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "no finished chain run" in err[0] and "no clear image" in err[-1]


def test_redetect_refuses_folders_without_a_run_and_a_bad_score_list(tmp_path, capsys):
    mod = load_benchmark("berth_redetect")
    assert mod.main(["detect", str(tmp_path), "--cache", str(tmp_path / "c")]) == 2
    assert "no finished chain run" in capsys.readouterr().err
    run = tmp_path / "family-1" / "run"
    run.mkdir(parents=True)
    (run / "report.html").write_text("")
    args = ["ledgers", str(tmp_path / "family-1"), "--cache", str(tmp_path / "c")]
    assert mod.main(args) == 2
    assert "needs --out" in capsys.readouterr().err
    assert mod.main([*args, "--out", str(tmp_path / "o"), "--berth-score", "s2:0.2"]) == 2
    assert "SENSOR=SCORE" in capsys.readouterr().err
