"""`tankerwatch portcalls` from files and from the ledger; one-line errors naming file and row."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from pipeline.portcalls.synthetic import synthetic_season
from pipeline.recordio import (
    read_visits,
    write_detections,
    write_observations,
    write_scenes,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("portcalls")
    s = synthetic_season(
        seed=11,
        days=60,
        n_calls=14,
        sensors=("sentinel-2", "daily"),
        cloud=0.3,
        start=datetime(2024, 2, 1, tzinfo=UTC),
    )
    write_scenes(d / "scenes.csv", s.scenes)
    write_observations(d / "obs.csv", s.observations)
    write_detections(d / "dets.geojson", s.detections)
    return d, s


def _one_line(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_portcalls_from_files(cli, files, tmp_path):
    d, s = files
    res = cli(
        "portcalls",
        "--detections",
        d / "dets.geojson",
        "--observations",
        d / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "visits.csv",
        "--voyages",
        tmp_path / "voyages.csv",
    )
    assert res.returncode == 0, res.stderr
    visits = read_visits(tmp_path / "visits.csv")
    loads = [v for v in visits if v.port == "vostochny" and v.role == "load"]
    assert loads and all(v.evidence for v in visits)
    with (tmp_path / "voyages.csv").open() as fh:
        assert list(csv.DictReader(fh))
    assert f"{len(visits)} visits" in res.stdout


def test_detection_of_a_scene_missing_from_the_catalogue(cli, files, tmp_path):
    d, s = files
    first_scene = s.detections[0].scene_id
    write_scenes(tmp_path / "scenes.csv", [x for x in s.scenes if x.id != first_scene])
    res = cli(
        "portcalls",
        "--detections",
        d / "dets.geojson",
        "--observations",
        d / "obs.csv",
        "--scenes",
        tmp_path / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    )
    _one_line(res, "dets.geojson feature 1", first_scene, "not in the scene catalogue")
    assert not (tmp_path / "v.csv").exists()


def test_observation_of_an_unknown_berth(cli, files, tmp_path):
    d, _ = files
    rows = (d / "obs.csv").read_text().splitlines()
    rows[3] = (
        rows[3]
        .replace(",oil-1,", ",oil-7,")
        .replace(",coal-1,", ",oil-7,")
        .replace(",general-1,", ",oil-7,")
    )
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n")
    res = cli(
        "portcalls",
        "--detections",
        d / "dets.geojson",
        "--observations",
        tmp_path / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    )
    _one_line(res, "obs.csv row 4", "berth 'oil-7' is unknown to port")


def test_bad_observation_state_and_missing_inputs(cli, files, tmp_path):
    d, _ = files
    text = (d / "obs.csv").read_text().replace(",clear,", ",sunny,", 1)
    (tmp_path / "obs.csv").write_text(text)
    res = cli(
        "portcalls",
        "--detections",
        d / "dets.geojson",
        "--observations",
        tmp_path / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    )
    _one_line(res, "obs.csv row", "'sunny' is not clear or obscured")
    _one_line(cli("portcalls", "--out", tmp_path / "v.csv"), "missing --detections")


def test_portcalls_from_the_ledger(cli, files, tmp_path):
    from pipeline.ledger.store import Ledger

    _, s = files
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        for sc in s.scenes:
            ledger.add_scene(sc, [o for o in s.observations if o.scene_id == sc.id])
        by_scene = {}
        for det in s.detections:
            by_scene.setdefault(det.scene_id, []).append(det)
        for sid, dets in by_scene.items():
            ledger.add_detections(sid, dets[0].model, dets)
    res = cli("portcalls", "--db", url, "--out", tmp_path / "visits.csv")
    assert res.returncode == 0, res.stderr
    from pipeline.estimate.params import load_params
    from pipeline.portcalls import build_visits

    expect = build_visits(s.detections, s.scenes, s.observations, s.ports, load_params())
    got = read_visits(tmp_path / "visits.csv")
    assert {v.id for v in got} == {v.id for v in expect}


def test_detections_of_two_models_need_a_choice(cli, files, tmp_path):
    import dataclasses

    d, s = files
    other = [dataclasses.replace(x, model="other", id="") for x in s.detections[:3]]
    write_detections(tmp_path / "dets.geojson", s.detections + other)
    args = [
        "--detections",
        tmp_path / "dets.geojson",
        "--observations",
        d / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    ]
    _one_line(cli("portcalls", *args), "several models", "--model")
    res = cli("portcalls", *args, "--model", "other")
    assert res.returncode == 0, res.stderr


def test_one_model_per_sensor_needs_no_choice(cli, files, tmp_path):
    """A 10 m detector on Sentinel-2 and a 3 m one on the daily sensor: one timeline, no --model."""
    import dataclasses

    d, s = files
    sensor = {sc.id: sc.sensor for sc in s.scenes}
    assert len(set(sensor.values())) == 2
    relabelled = [
        dataclasses.replace(x, model=f"m-{sensor[x.scene_id]}", id="") for x in s.detections
    ]
    write_detections(tmp_path / "dets.geojson", relabelled)
    args = ["--observations", d / "obs.csv", "--scenes", d / "scenes.csv"]
    res = cli(
        "portcalls", "--detections", tmp_path / "dets.geojson", *args, "--out", tmp_path / "a.csv"
    )
    assert res.returncode == 0, res.stderr
    res = cli("portcalls", "--detections", d / "dets.geojson", *args, "--out", tmp_path / "b.csv")
    assert res.returncode == 0, res.stderr
    a, b = read_visits(tmp_path / "a.csv"), read_visits(tmp_path / "b.csv")
    assert [(v.id, v.n_obs) for v in a] == [(v.id, v.n_obs) for v in b]
    # choosing one model keeps that sensor's sightings only
    one = sorted(set(f"m-{x}" for x in sensor.values()))[0]
    res = cli(
        "portcalls", "--detections", tmp_path / "dets.geojson", *args, "--model", one,
        "--out", tmp_path / "c.csv",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sum(v.n_obs for v in read_visits(tmp_path / "c.csv")) < sum(v.n_obs for v in a)


def test_field_over_the_csv_limit_is_one_line(cli, files, tmp_path):
    """A field longer than csv.field_size_limit() (131,072 characters) names the file."""
    d, _ = files
    rows = (d / "obs.csv").read_text().splitlines()
    rows[2] = rows[2] + "," + "x" * 200_000
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n")
    res = cli(
        "portcalls",
        "--detections",
        d / "dets.geojson",
        "--observations",
        tmp_path / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    )
    _one_line(res, f"{tmp_path / 'obs.csv'} line 3", "field larger than field limit")
    assert not (tmp_path / "v.csv").exists()


def test_text_among_numbers_in_a_detection_column_is_only_the_error(cli, files, tmp_path):
    """A 'lon' of "abc" among numbers: the field's error line, without the GeoJSON reader's
    warnings about the column before it."""
    d, _ = files
    doc = json.loads((d / "dets.geojson").read_text())
    doc["features"][1]["properties"]["lon"] = "abc"
    (tmp_path / "dets.geojson").write_text(json.dumps(doc))
    res = cli(
        "portcalls",
        "--detections",
        tmp_path / "dets.geojson",
        "--observations",
        d / "obs.csv",
        "--scenes",
        d / "scenes.csv",
        "--out",
        tmp_path / "v.csv",
    )
    _one_line(res, "dets.geojson feature 2", "field 'lon'", "'abc' is not a number")
    assert not (tmp_path / "v.csv").exists()
