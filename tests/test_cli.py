"""The CLI surface: verbs, version, config check and the one-line error contract."""

from __future__ import annotations

import shutil

import pytest
import yaml

VERBS = [
    "simulate",
    "ingest",
    "detect",
    "train",
    "evaluate",
    "portcalls",
    "estimate",
    "run",
    "demo",
    "export",
    "report",
    "config",
]


def test_help_lists_every_verb(cli):
    res = cli("--help")
    assert res.returncode == 0
    for verb in VERBS:
        assert verb in res.stdout


def test_version(cli):
    res = cli("--version")
    assert res.returncode == 0
    assert res.stdout.startswith("tankerwatch ")


def test_config_check_all_shipped_configs(cli, repo):
    files = sorted(str(p) for p in (repo / "configs").rglob("*") if p.suffix in (".yaml", ".csv"))
    res = cli("config", "check", *files)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("ok ") == len(files)


def _broken_port(tmp_path, repo, mutate):
    doc = yaml.safe_load((repo / "configs/ports/vostochny.yaml").read_text())
    mutate(doc)
    d = tmp_path / "ports"
    d.mkdir()
    path = d / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _assert_one_line_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_unknown_key_is_refused(cli, tmp_path, repo):
    path = _broken_port(tmp_path, repo, lambda d: d.update(harbour_master="x"))
    _assert_one_line_error(cli("config", "check", path), str(path), "harbour_master", "unknown key")


def test_wrong_type_is_refused(cli, tmp_path, repo):
    path = _broken_port(tmp_path, repo, lambda d: d["provenance"].update(precision_m="about 5"))
    _assert_one_line_error(cli("config", "check", path), "provenance.precision_m")


def test_self_intersecting_polygon_is_refused(cli, tmp_path, repo):
    def bowtie(d):
        (a, b, c, e, _) = d["berths"][0]["polygon"]
        d["berths"][0]["polygon"] = [a, c, b, e, a]

    path = _broken_port(tmp_path, repo, bowtie)
    _assert_one_line_error(cli("config", "check", path), "berths.0.polygon", "Self-intersection")


def test_berth_outside_aoi_is_refused(cli, tmp_path, repo):
    def move(d):
        d["berths"][0]["polygon"] = [[p[0] + 1.0, p[1]] for p in d["berths"][0]["polygon"]]

    path = _broken_port(tmp_path, repo, move)
    _assert_one_line_error(cli("config", "check", path), "outside the AOI")


def test_debug_shows_traceback(cli, tmp_path, repo):
    path = _broken_port(tmp_path, repo, lambda d: d.update(harbour_master="x"))
    res = cli("--debug", "config", "check", path)
    assert res.returncode == 2
    assert "Traceback" in res.stderr


def test_malformed_registry_row_names_row(cli, tmp_path, repo):
    d = tmp_path / "fleet"
    d.mkdir()
    shutil.copy(repo / "configs/fleet/vessels.csv", d / "vessels.csv")
    with (d / "vessels.csv").open("a") as fh:
        fh.write("Bad Ship,12AB,KP,,,,refined,test\n")
    _assert_one_line_error(cli("config", "check", d / "vessels.csv"), "row 11", "imo")


LEDGER_VERBS = {
    "ingest": ["--ports", "vostochny", "--start", "2024-01-01", "--end", "2024-01-02",
               "--source", "simulated", "--path", "{tmp}"],
    "portcalls": ["--out", "{tmp}/visits.csv"],
    "estimate": [],
    "run": ["--config", "configs/runs/vostochny-2024-earthsearch.yaml"],
    "export": ["deliveries", "--out", "{tmp}/deliveries.csv"],
    "report": ["--out", "{tmp}/report.html"],
}  # fmt: skip


@pytest.mark.parametrize("verb", sorted(LEDGER_VERBS))
def test_ledger_that_is_not_a_database_is_one_line(cli, tmp_path, verb):
    """A --db SQLite file that holds something else is named on one line and left as it was."""
    notdb = tmp_path / "notes.txt"
    notdb.write_text("these are my notes, not a ledger\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in LEDGER_VERBS[verb]]
    res = cli(verb, *args, "--db", f"sqlite:///{notdb}")
    _assert_one_line_error(res, str(notdb), "not an SQLite database")
    assert notdb.read_text() == "these are my notes, not a ledger\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("config", "verb", "bad"),
    [
        ("runs/vostochny-2024-earthsearch.yaml", ["run", "--config"], "2024-13-01"),
        ("scenarios/tiny.yaml", ["simulate", "--out", "{tmp}/sim", "--scenario"], "2024-02-30"),
    ],
)
def test_impossible_date_in_yaml_names_file_and_field(cli, tmp_path, repo, config, verb, bad):
    """A date-like value that is no date is the model's field error, not PyYAML's ValueError."""
    text = (repo / "configs" / config).read_text()
    assert "\nstart: " in text
    lines = [f"start: {bad}" if ln.startswith("start: ") else ln for ln in text.splitlines()]
    path = tmp_path / config.split("/")[0] / "bad.yaml"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    for args in (["config", "check"], [a.replace("{tmp}", str(tmp_path)) for a in verb]):
        _assert_one_line_error(cli(*args, path), str(path), "field 'start'", "date")
    assert not (tmp_path / "sim").exists()


def test_config_check_tells_the_kind_of_a_file_outside_configs(cli, tmp_path, repo):
    """`--ports` takes a port YAML anywhere, so `config check` does too: the kind is told from
    the file's keys, or given with --kind."""
    port = tmp_path / "my-port.yaml"
    shutil.copy(repo / "configs/ports/nampo.yaml", port)
    train = tmp_path / "exp.yaml"
    shutil.copy(repo / "configs/train/exp-real-a.yaml", train)
    res = cli("config", "check", port, train)
    assert res.returncode == 0, res.stderr
    assert f"ok   {port} (ports)" in res.stdout and f"ok   {train} (train)" in res.stdout
    res = cli("config", "check", "--kind", "ports", port)
    assert res.returncode == 0 and "(ports)" in res.stdout, res.stderr
    # the kind given is the one checked, whatever the keys say
    _assert_one_line_error(cli("config", "check", "--kind", "runs", port), str(port), "'ports'")
    _assert_one_line_error(cli("config", "check", "--kind", "harbour", port), "--kind harbour")
    # a broken port outside configs/ is still refused for what is wrong with it
    doc = yaml.safe_load(port.read_text())
    doc["harbour_master"] = "x"
    port.write_text(yaml.safe_dump(doc))
    _assert_one_line_error(cli("config", "check", port), str(port), "harbour_master")
    # keys that fit several kinds equally are not guessed at
    vague = tmp_path / "vague.yaml"
    vague.write_text("name: x\n")
    _assert_one_line_error(cli("config", "check", vague), str(vague), "--kind")
