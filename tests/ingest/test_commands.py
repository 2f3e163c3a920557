"""`tankerwatch ingest` through the real entry point: summaries, and one-line errors (exit 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from ingest import data
from ingest.shmock import CLIENT_ID, FakeSentinelHub


@pytest.fixture
def sim(tmp_path):
    root = tmp_path / "sim"
    p = data.port()
    data.simulator_scene(root, p, datetime(2024, 3, 5, 1, 30, tzinfo=UTC), seed=1)
    data.simulator_scene(
        root, p, datetime(2024, 3, 9, 1, 30, tzinfo=UTC), seed=2, cloudy_berths=["oil-1"]
    )
    return root


def one_line_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def base(tmp_path, *extra):
    return [
        "ingest",
        "--ports",
        "vostochny",
        "--cache",
        str(tmp_path / "cache"),
        "--db",
        f"sqlite:///{tmp_path / 'l.db'}",
        *extra,
    ]


def test_ingest_simulated_then_rerun(cli, sim, tmp_path):
    args = base(
        tmp_path,
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-31",
        "--source",
        "simulated",
        "--path",
        str(sim),
    )
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    assert "2 added (6 berth observations)" in res.stdout
    res = cli(*args)
    assert res.returncode == 0 and "0 added" in res.stdout and "2 already known" in res.stdout


def test_bad_input_is_one_line(cli, sim, tmp_path):
    period = ["--start", "2024-03-01", "--end", "2024-03-31"]
    one_line_error(
        cli("ingest", "--ports", "atlantis", *period, "--source", "simulated", "--path", str(sim)),
        "unknown port 'atlantis'",
    )
    one_line_error(
        cli(
            *base(
                tmp_path,
                "--start",
                "2024-03-31",
                "--end",
                "2024-03-01",
                "--source",
                "simulated",
                "--path",
                str(sim),
            )
        ),
        "empty period",
    )
    one_line_error(
        cli(
            *base(
                tmp_path,
                "--start",
                "2024-13-01",
                "--end",
                "2024-03-01",
                "--source",
                "simulated",
                "--path",
                str(sim),
            )
        ),
        "--start",
    )
    one_line_error(cli(*base(tmp_path, *period, "--source", "ftp")), "unknown source 'ftp'")
    one_line_error(
        cli(
            *base(
                tmp_path,
                "--start",
                "2020-01-01",
                "--end",
                "2020-01-31",
                "--source",
                "simulated",
                "--path",
                str(sim),
            )
        ),
        "no simulated scenes of vostochny",
    )
    one_line_error(
        cli(*base(tmp_path, *period, "--source", "local", "--path", str(tmp_path / "missing"))),
        "folder not found",
    )
    bad = tmp_path / "sources" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump({"clouds": {"min_clear_fraction": 2}}))
    one_line_error(
        cli(
            *base(
                tmp_path,
                *period,
                "--source",
                "simulated",
                "--path",
                str(sim),
                "--settings",
                str(bad),
            )
        ),
        "min_clear_fraction",
    )


def test_sentinelhub_missing_and_bad_credentials(cli, httpserver, tmp_path, repo):
    env = {"SH_CLIENT_ID": "", "SH_CLIENT_SECRET": "", "XDG_CONFIG_HOME": str(tmp_path / "x")}
    period = ["--start", "2024-03-01", "--end", "2024-03-31", "--source", "sentinelhub"]
    one_line_error(cli(*base(tmp_path, *period), env=env), "SH_CLIENT_ID")
    fake = FakeSentinelHub(httpserver, {"sentinel-2-l2a": []})
    doc = yaml.safe_load((repo / "configs/sources/default.yaml").read_text())
    doc["sentinelhub"].update(base_url=fake.base_url, token_url=fake.token_url)
    doc["retry"].update(backoff_s=0.01)
    settings = tmp_path / "sources" / "local-sh.yaml"
    settings.parent.mkdir()
    settings.write_text(yaml.safe_dump(doc))
    secret = "definitely-wrong-secret"
    env = {
        "SH_CLIENT_ID": CLIENT_ID,
        "SH_CLIENT_SECRET": secret,
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }
    res = cli("--debug", *base(tmp_path, *period, "--settings", str(settings)), env=env)
    assert res.returncode == 2 and fake.token_url in res.stderr
    assert secret not in res.stderr + res.stdout  # not even with --debug
    line = one_line_error(
        cli(*base(tmp_path, *period, "--settings", str(settings)), env=env),
        fake.token_url,
        "credentials refused",
    )
    assert secret not in line


def test_only_bad_files_is_exit_2(cli, tmp_path):
    folder = tmp_path / "imagery"
    folder.mkdir()
    (folder / "scene_20240601.tif").write_bytes(b"II*\x00" + bytes(200))
    line = one_line_error(
        cli(
            *base(
                tmp_path,
                "--start",
                "2024-06-01",
                "--end",
                "2024-06-30",
                "--source",
                "local",
                "--path",
                str(folder),
            )
        ),
        "nothing usable to ingest",
        "scene_20240601.tif",
        "corrupt",
    )
    assert "Traceback" not in line
