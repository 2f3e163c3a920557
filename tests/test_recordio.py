"""Record files: detections in every format `detect` writes, scenes, observations, visits."""

from __future__ import annotations

import json

import pytest
from portcalls.builders import Builder

from pipeline.errors import TankerWatchError
from pipeline.recordio import (
    read_detections,
    read_observations,
    read_scenes,
    read_visits,
    write_detections,
    write_observations,
    write_scenes,
    write_visits,
)


@pytest.fixture
def records():
    b = Builder()
    b.scene(0)
    for t in (24, 48):
        b.vessel(b.scene(t, sensor="daily", gsd=3.0), 88.5, 14.25, measured=True)
    b.scene(72)
    return b


@pytest.mark.parametrize("suffix", [".geojson", ".parquet", ".gpkg"])
def test_detections_round_trip(records, tmp_path, suffix):
    path = tmp_path / f"dets{suffix}"
    write_detections(path, records.detections)
    got = read_detections(path)
    assert [d.id for d in got] == [d.id for d in records.detections]
    assert [d.length_m for d in got] == [88.5, 88.5]
    assert got[0].geometry.startswith("POLYGON")


def test_scenes_observations_visits_round_trip(records, tmp_path):
    write_scenes(tmp_path / "scenes.csv", records.scenes)
    write_observations(tmp_path / "obs.csv", records.observations)
    scenes = read_scenes(tmp_path / "scenes.csv")
    obs = read_observations(tmp_path / "obs.csv")
    assert [(s.id, s.acquired, s.gsd_m) for s in scenes] == [
        (s.id, s.acquired, s.gsd_m) for s in records.scenes
    ]
    assert [o.to_dict() for o in obs] == [o.to_dict() for o in records.observations]
    (tmp_path / "scenes.json").write_text(
        json.dumps([{**s.to_dict(), "bands": s.bands} for s in records.scenes])
    )
    assert [s.id for s in read_scenes(tmp_path / "scenes.json")] == [s.id for s in scenes]
    visits = records.build()
    write_visits(tmp_path / "visits.csv", visits)
    assert [v.to_dict() for v in read_visits(tmp_path / "visits.csv")] == [
        v.to_dict() for v in visits
    ]


def test_bad_files_name_the_row(records, tmp_path):
    write_scenes(tmp_path / "scenes.csv", records.scenes)
    lines = (tmp_path / "scenes.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",3.0,", ",three,")
    (tmp_path / "scenes.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(TankerWatchError, match="scenes.csv row 3: field 'gsd_m': 'three' is not"):
        read_scenes(tmp_path / "scenes.csv")
    lines[2] = lines[2].replace(",three,", ",3.0,").replace("2024-03-02T", "2024-13-02T")
    (tmp_path / "scenes.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(TankerWatchError, match="scenes.csv row 3: field 'acquired'"):
        read_scenes(tmp_path / "scenes.csv")
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(TankerWatchError, match="s.json: invalid JSON"):
        read_scenes(tmp_path / "s.json")
    (tmp_path / "o.csv").write_text("scene_id,port\nx,vostochny\n")
    with pytest.raises(TankerWatchError, match="o.csv: missing columns berth, acquired, state"):
        read_observations(tmp_path / "o.csv")
    (tmp_path / "d.txt").write_text("")
    with pytest.raises(TankerWatchError, match="unknown detections type"):
        read_detections(tmp_path / "d.txt")
    (tmp_path / "d.geojson").write_text("garbage")
    with pytest.raises(TankerWatchError, match="d.geojson: cannot read detections"):
        read_detections(tmp_path / "d.geojson")
