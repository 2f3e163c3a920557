"""Scenario loading and the bad-input contract of `tankerwatch simulate`."""

from __future__ import annotations

import pytest
import yaml

from pipeline.errors import TankerWatchError
from pipeline.simulate.scenario import DEFAULT_SCENARIO, load_scenario


def _write(tmp_path, repo, mutate, name="tiny.yaml"):
    doc = yaml.safe_load((repo / "configs/scenarios" / name).read_text())
    mutate(doc)
    d = tmp_path / "scenarios"
    d.mkdir(exist_ok=True)
    path = d / f"broken{len(list(d.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_default_scenario_loads():
    sc = load_scenario()
    assert sc.name == "vostochny-dprk-2024"
    assert str(sc.start) == "2024-03-07" and str(sc.end) == "2024-11-05"
    assert sc.calls.n_load_calls == 43
    assert sc.ports == ["vostochny", "rajin", "chongjin", "nampo"]
    assert {s.name for s in sc.sensors} == {"sentinel-2-l2a", "sentinel-1-grd", "commercial-3m"}
    assert DEFAULT_SCENARIO.exists()


@pytest.mark.parametrize(
    "mutate, needles",
    [
        (lambda d: d.update(load_port="atlantis"), ["load_port", "atlantis"]),
        (lambda d: d["discharge"][0].update(port="atlantis"), ["discharge.0.port", "atlantis"]),
        (lambda d: d.update(load_berth="oil-9"), ["load_berth", "oil-9"]),
        (lambda d: d["fleet"]["vessels"].append("Flying Dutchman"), ["fleet.vessels.2", "Dutch"]),
        (lambda d: d.update(end="2024-05-01"), ["end", "before start"]),
        (lambda d: d.update(colour="red"), ["colour", "unknown key"]),
        (lambda d: d["sensors"][0].update(name="landsat"), ["sensors.0.name", "landsat"]),
        (lambda d: d["calls"].update(products={"kerosene": 1}), ["calls.products", "kerosene"]),
    ],
)
def test_bad_scenarios_one_line(tmp_path, repo, mutate, needles):
    path = _write(tmp_path, repo, mutate)
    with pytest.raises(TankerWatchError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    for n in needles:
        assert n in msg


def _one_line_exit_2(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in res.stderr


def test_cli_bad_inputs_leave_nothing(cli, tmp_path, repo):
    out_root = tmp_path / "out"
    out_root.mkdir()
    cases = [
        (_write(tmp_path, repo, lambda d: d.update(load_port="atlantis")), "atlantis"),
        (_write(tmp_path, repo, lambda d: d.update(end="2024-01-01")), "before start"),
    ]
    for scenario, needle in cases:
        res = cli("simulate", "--scenario", scenario, "--out", out_root / "sim")
        _one_line_exit_2(res, needle)
        assert list(out_root.iterdir()) == []
    path = _write(tmp_path, repo, lambda d: d["fleet"]["vessels"].append("Nobody"))
    _one_line_exit_2(cli("simulate", "--scenario", path, "--out", out_root / "sim"), "Nobody")
    # unwritable output: a path below a file
    afile = tmp_path / "afile"
    afile.write_text("x")
    tiny = repo / "configs/scenarios/tiny.yaml"
    _one_line_exit_2(cli("simulate", "--scenario", tiny, "--out", afile / "sim"), str(afile))
    # a folder holding something else is refused, and left as it was
    other = out_root / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    _one_line_exit_2(cli("simulate", "--scenario", tiny, "--out", other), "not empty")
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in out_root.iterdir()) == ["other"]


def test_cli_unwritable_parent(cli, tmp_path, repo):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = cli("simulate", "--scenario", repo / "configs/scenarios/tiny.yaml", "--out", ro / "x")
        _one_line_exit_2(res, str(ro))
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_cli_simulate_and_chips(cli, tmp_path, repo):
    res = cli(
        "simulate", "--scenario", repo / "configs/scenarios/tiny.yaml", "--out", tmp_path / "s"
    )
    assert res.returncode == 0, res.stderr
    assert "3 load calls" in res.stdout and (tmp_path / "s" / "simulation.json").exists()
    # running again on the finished folder is a no-op
    res = cli(
        "simulate", "--scenario", repo / "configs/scenarios/tiny.yaml", "--out", tmp_path / "s"
    )
    assert res.returncode == 0, res.stderr
    res = cli("simulate", "--chips", "3", "--chip-size", "64", "--out", tmp_path / "c")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "c").iterdir())) == 3
    res = cli("simulate", "--chips", "-2", "--out", tmp_path / "c2")
    _one_line_exit_2(res, "--chips")
    assert not (tmp_path / "c2").exists()


def test_config_check_scenarios(cli, repo):
    files = sorted((repo / "configs/scenarios").glob("*.yaml"))
    res = cli("config", "check", *files)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("(scenarios)") == len(files)


def test_fleet_vessel_as_registry_keeps_every_registry_field():
    from pipeline.config import Vessel
    from pipeline.simulate.fleet import complete_fleet

    row = Vessel(name="Test One", imo="9000001", flag="KP", product="refined", source="test")
    (fv,) = complete_fleet([row], [], 1000, 9000, 3000, seed=1)
    reg = fv.as_registry()
    assert (reg.name, reg.imo, reg.flag, reg.product) == ("Test One", "9000001", "KP", "refined")
    assert (reg.length_m, reg.beam_m, reg.dwt) == (fv.length_m, fv.beam_m, fv.dwt)
    assert "simulated: dwt, length_m, beam_m" in reg.source
