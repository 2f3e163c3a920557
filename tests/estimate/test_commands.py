"""`tankerwatch estimate` from files and from the ledger; one-line errors naming file and row."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime

import pytest

from pipeline.config import REGISTRY_COLUMNS
from pipeline.estimate.params import load_params
from pipeline.portcalls import build_visits
from pipeline.portcalls.synthetic import synthetic_season
from pipeline.recordio import write_observations, write_visits


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("estimate")
    s = synthetic_season(
        seed=12,
        days=60,
        n_calls=14,
        sensors=("sentinel-2", "daily"),
        cloud=0.3,
        start=datetime(2024, 2, 1, tzinfo=UTC),
    )
    visits = build_visits(s.detections, s.scenes, s.observations, s.ports, load_params())
    write_visits(d / "visits.csv", visits)
    write_observations(d / "obs.csv", s.observations)
    with (d / "fleet.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, REGISTRY_COLUMNS)
        w.writeheader()
        for v in s.registry:
            w.writerow(v.model_dump())
    return d, s, visits


def _one_line(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_estimate_from_files(cli, files, tmp_path):
    d, s, visits = files
    res = cli(
        "estimate",
        "--visits",
        d / "visits.csv",
        "--observations",
        d / "obs.csv",
        "--registry",
        d / "fleet.csv",
        "--out",
        tmp_path / "deliveries.csv",
        "--summary",
        tmp_path / "coverage.json",
    )
    assert res.returncode == 0, res.stderr
    with (tmp_path / "deliveries.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(v.role == "load" for v in visits)
    assert all(json.loads(r["candidates"])[-1]["name"] == "unidentified" for r in rows)
    cov = json.loads((tmp_path / "coverage.json").read_text())
    assert cov["totals"]["calls_observed"] == len(rows)
    assert cov["totals"]["calls_corrected_p50"] >= len(rows)
    assert "corrected" in res.stdout
    # same inputs, same seed: the same file
    first = (tmp_path / "deliveries.csv").read_text()
    res = cli(
        "estimate",
        "--visits",
        d / "visits.csv",
        "--observations",
        d / "obs.csv",
        "--registry",
        d / "fleet.csv",
        "--out",
        tmp_path / "deliveries.csv",
    )
    assert (tmp_path / "deliveries.csv").read_text() == first


def test_malformed_registry_row(cli, files, tmp_path):
    d, _, _ = files
    shutil.copy(d / "fleet.csv", tmp_path / "fleet.csv")
    with (tmp_path / "fleet.csv").open("a") as fh:
        fh.write("Bad Ship,,KP,ninety,,,refined,test\n")
    res = cli(
        "estimate",
        "--visits",
        d / "visits.csv",
        "--registry",
        tmp_path / "fleet.csv",
        "--out",
        tmp_path / "x.csv",
    )
    _one_line(res, "fleet.csv row 12", "length_m")
    assert not (tmp_path / "x.csv").exists()


def test_visit_at_an_unknown_berth(cli, files, tmp_path):
    d, _, _ = files
    text = (d / "visits.csv").read_text().splitlines()
    text[2] = text[2].replace(",oil-1,", ",oil-5,").replace(",coal-1,", ",oil-5,")
    (tmp_path / "visits.csv").write_text("\n".join(text) + "\n")
    res = cli("estimate", "--visits", tmp_path / "visits.csv", "--out", tmp_path / "x.csv")
    _one_line(res, "visits.csv row 3", "berth 'oil-5'")


def test_estimate_needs_input_and_output(cli, tmp_path):
    _one_line(cli("estimate", "--out", tmp_path / "x.csv"), "--visits")
    res = cli("estimate", "--visits", tmp_path / "nope.csv", "--out", tmp_path / "x.csv")
    _one_line(res, "nope.csv", "file not found")


def test_estimate_from_the_ledger_saves_the_run(cli, files, tmp_path):
    from pipeline.ledger.store import Ledger

    d, s, visits = files
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        for sc in s.scenes:
            ledger.add_scene(sc, [o for o in s.observations if o.scene_id == sc.id])
        by_scene: dict[str, list] = {}
        for det in s.detections:
            by_scene.setdefault(det.scene_id, []).append(det)
        for sid, dets in by_scene.items():
            ledger.add_detections(sid, dets[0].model, dets)
    res = cli(
        "estimate",
        "--db",
        url,
        "--registry",
        d / "fleet.csv",
        "--summary",
        tmp_path / "coverage.json",
    )
    assert res.returncode == 0, res.stderr
    assert "saved to the ledger" in res.stdout
    with Ledger(url) as ledger:
        run = ledger.latest_run()
        saved = ledger.deliveries(run.id)
        assert {v.id for v in ledger.visits(run.id)} == {v.id for v in visits}
        assert len(saved) == sum(v.role == "load" for v in visits)
        assert ledger.coverage(run.id) == json.loads((tmp_path / "coverage.json").read_text())
    # rerun: same run id, same deliveries (idempotent)
    res = cli("estimate", "--db", url, "--registry", d / "fleet.csv")
    assert res.returncode == 0, res.stderr
    with Ledger(url) as ledger:
        assert sorted(x.id for x in ledger.deliveries()) == sorted(x.id for x in saved)


def _fill_ledger(url, s):
    from pipeline.ledger.store import Ledger

    with Ledger(url) as ledger:
        for sc in s.scenes:
            ledger.add_scene(sc, [o for o in s.observations if o.scene_id == sc.id])
        by_scene: dict[str, list] = {}
        for det in s.detections:
            by_scene.setdefault(det.scene_id, []).append(det)
        for sid, dets in by_scene.items():
            ledger.add_detections(sid, dets[0].model, dets)


def test_estimate_out_and_export_write_the_same_delivery_rows(cli, files, tmp_path):
    from pipeline.recordio import DELIVERY_COLUMNS

    d, s, visits = files
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _fill_ledger(url, s)
    args = ("--registry", d / "fleet.csv", "--out", tmp_path / "estimate.csv")
    assert cli("estimate", "--db", url, *args).returncode == 0
    res = cli("export", "deliveries", "--db", url, "--out", tmp_path / "export.csv")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "estimate.csv").read_text() == (tmp_path / "export.csv").read_text()
    with (tmp_path / "export.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == DELIVERY_COLUMNS
    assert all(r["evidence_scene_ids"] and r["load_port"] == "vostochny" for r in rows)
    # from files: the same columns, the visit's place and times, no scene ids to give
    res = cli("estimate", "--visits", d / "visits.csv", *args)
    assert res.returncode == 0, res.stderr
    with (tmp_path / "estimate.csv").open() as fh:
        from_files = list(csv.DictReader(fh))
    assert list(from_files[0]) == DELIVERY_COLUMNS
    by_visit = {v.id: v for v in visits}
    for r in from_files:
        v = by_visit[r["load_visit"]]
        assert (r["load_port"], r["load_berth"]) == (v.port, v.berth)
        assert r["evidence_scene_ids"] == ""


def test_estimate_db_names_the_run_as_run_does_when_a_model_found_nothing(files, tmp_path):
    """`run` names a run by every model it ran (sorted), detections or not; `estimate --db
    --model` given those models in any order is the same run."""
    from pipeline.config import load_registry
    from pipeline.ledger.runs import run_id_for
    from pipeline.ledger.store import Ledger
    from pipeline.run.steps import estimate_from_ledger, run_config

    d, s, _ = files
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _fill_ledger(url, s)
    (found,) = {det.model for det in s.detections}
    quiet = "zz-quiet-model"  # processed a scene, found nothing
    with Ledger(url) as ledger:
        ledger.add_detections(s.scenes[0].id, quiet, [])
    params, registry = load_params(), load_registry(d / "fleet.csv")
    saved, _, _ = estimate_from_ledger(url, s.ports, params, registry, models=f"{quiet}, {found}")
    expected = run_id_for(run_config(s.ports, params, registry), f"{found},{quiet}")
    assert saved.run_id == expected
    with Ledger(url) as ledger:
        assert ledger.run(expected).model == f"{found},{quiet}"
        assert ledger.run(expected).notes == saved.result.notes != []


@pytest.mark.parametrize("which", ["visits", "registry"])
def test_field_over_the_csv_limit_is_one_line(cli, files, tmp_path, which):
    """A field longer than csv.field_size_limit() (131,072 characters) names the file."""
    d, _, _ = files
    src = d / ("visits.csv" if which == "visits" else "fleet.csv")
    rows = src.read_text().splitlines()
    rows[2] = rows[2] + "," + "x" * 200_000
    bad = tmp_path / src.name
    bad.write_text("\n".join(rows) + "\n")
    visits = bad if which == "visits" else d / "visits.csv"
    registry = bad if which == "registry" else d / "fleet.csv"
    res = cli("estimate", "--visits", visits, "--registry", registry, "--out", tmp_path / "x.csv")
    _one_line(res, f"{bad} line 3", "field larger than field limit")
    assert not (tmp_path / "x.csv").exists()
