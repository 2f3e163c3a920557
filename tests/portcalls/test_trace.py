"""Tracing a port from a small simulated stack: the land the simulator drew and berths where
its ships stopped are recovered; the draft loads as a port config; the CLI's errors are one
line with exit code 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import Port, load_port, validate
from pipeline.records import Detection, Scene, utc

SCENARIO = """\
name: trace-test
description: Vostochny, ten clear winter weeks, Sentinel-2 over the oil berth and its neighbours.
start: 2024-01-08
end: 2024-03-17
seed: 3
load_port: vostochny
load_berth: oil-1
discharge:
  - {port: rajin, berth: oil-1, weight: 1, distance_nm: 150}
fleet:
  vessels: [Yu Son, Rye Song Gang 1]
calls:
  n_load_calls: 16
  load_dwell_median_h: 60
bystanders:
  tugs_mean: 1.0
  anchored_mean: 1.0
  barges: 1
sensors:
  - {name: sentinel-2-l2a, ports: [vostochny], box_m: [2500, 1500], centre: berth}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from pipeline.simulate import simulate

    root = tmp_path_factory.mktemp("trace")
    sc = root / "scenario.yaml"
    sc.write_text(SCENARIO)
    return simulate(sc, root / "sim")


def label_detections(sim: Path) -> tuple[list[Detection], list[Scene]]:
    """Every labelled hull of every scene as a detection (a perfect detector), and the scenes."""
    from shapely.geometry import shape

    dets, scenes = [], []
    for d in sorted((sim / "scenes").iterdir()):
        item = json.loads((d / "item.json").read_text())
        props = item["properties"]
        s = Scene(
            id=d.name,
            source="simulated",
            sensor=props["tankerwatch:sensor"],
            acquired=utc(props["datetime"]),
            port=props["tankerwatch:port"],
            path=str(d / "scene.tif"),
            crs=props["proj:code"],
            gsd_m=props["gsd"],
            bands=props["tankerwatch:bands"],
            valid_fraction=props["tankerwatch:valid_fraction"],
            cloud_fraction=props["tankerwatch:cloud_fraction"],
        )
        scenes.append(s)
        for f in json.loads((d / "labels.geojson").read_text())["features"]:
            g = shape(f["geometry"])
            p = f["properties"]
            if p["occluded"] > 0.5:
                continue
            dets.append(
                Detection(
                    scene_id=s.id,
                    geometry=g.wkt,
                    lon=g.centroid.x,
                    lat=g.centroid.y,
                    length_m=p["length_m"],
                    beam_m=p["beam_m"],
                    heading_deg=p["heading_deg"],
                    score=0.9,
                    cls=p["class"],
                    model="labels",
                )
            )
    return dets, scenes


def test_trace_recovers_land_and_berths(stack):
    from pipeline.estimate.params import load_params
    from pipeline.geo import reproject
    from pipeline.portcalls.persistent import find_persistent
    from pipeline.portcalls.trace import draft_port, port_yaml, stack_from_scenes, trace_port
    from pipeline.simulate.layout import port_layout

    port = load_port("vostochny")
    dets, scenes = label_detections(stack)
    flags = find_persistent(dets, scenes, load_params())
    tr = trace_port(port, stack_from_scenes(scenes), dets, scenes, persistent=flags)
    assert tr.n_scenes == len([s for s in scenes if s.cloud_fraction <= 0.6])
    lay = port_layout(port)
    truth = reproject(lay.land_union, lay.crs, tr.crs).intersection(tr.footprint_m)
    got = tr.land_m.intersection(tr.footprint_m)
    assert got.intersection(truth).area / got.union(truth).area >= 0.9
    drawn = {b.id: reproject(b.polygon, lay.crs, tr.crs) for b in lay.berths}
    # every traced berth lies at a drawn berth where ships stopped, and took its id and role
    assert {b.id for b in tr.berths} >= {"oil-1"}
    for b in tr.berths:
        assert b.id in drawn, f"berth {b.id} invented"
        assert b.polygon_m.centroid.distance(drawn[b.id].centroid) <= 30.0
        assert b.role == port.berth(b.id).role
        assert 0 < b.precision_m < 30
    oil = next(b for b in tr.berths if b.id == "oil-1")
    assert abs(((oil.axis_deg - lay.berth("oil-1").axis_deg) + 90) % 180 - 90) < 10
    draft = draft_port(tr, port)
    assert draft["provenance"]["method"].startswith(f"traced from {tr.n_scenes} scenes")
    loaded = validate(Port, yaml.safe_load(port_yaml(draft)), "draft")
    assert loaded.provenance.precision_m == pytest.approx(tr.precision_m, abs=0.1)
    assert [b.id for b in loaded.berths] == [b.id for b in tr.berths]


def test_no_detections_no_berths(stack):
    from pipeline.portcalls.trace import stack_from_paths, trace_port

    tr = trace_port(load_port("vostochny"), stack_from_paths([stack / "scenes"]))
    assert tr.berths == [] and "land only" in tr.notes[0]
    assert tr.land_m.area > 0


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_traces_scene_folders(stack, tmp_path):
    """The command on scene folders with their detections writes a draft that `config check`
    accepts and a PNG beside it."""
    from pipeline.recordio import write_detections

    dets, _ = label_detections(stack)
    write_detections(tmp_path / "dets.geojson", dets)
    out = tmp_path / "vostochny-traced.yaml"
    r = _cli(
        "ports", "trace", "--port", "vostochny", str(stack / "scenes"),
        "--detections", str(tmp_path / "dets.geojson"), "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "oil-1" in r.stdout
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = _cli("config", "check", "--kind", "ports", str(out))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "vostochny"], "no scenes"),
        (["--port", "atlantis", "SCENES"], "unknown port 'atlantis'"),
        (["--port", "vostochny", "/nonexistent/scenes"], "/nonexistent/scenes: no such file"),
        (["--port", "vostochny", "--db", "sqlite:////nonexistent/x.db"], "x.db"),
    ],
)
def test_cli_errors_are_one_line(stack, tmp_path, args, message):
    args = [str(stack / "scenes") if a == "SCENES" else a for a in args]
    r = _cli("ports", "trace", *args, "--out", str(tmp_path / "p.yaml"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "p.yaml").exists()


def test_cli_traces_from_the_ledger(stack, tmp_path):
    """`--db`: the ledger's scenes (ingested into its cache) and their detections; the
    detections of a fixed object planted in every scene are persistent and make no berth."""
    from datetime import date

    from shapely import affinity
    from shapely.geometry import Polygon

    from pipeline.geo import reproject
    from pipeline.ingest import ingest
    from pipeline.ledger.store import Ledger
    from pipeline.simulate.layout import port_layout

    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    dets, scenes_ = label_detections(stack)
    lay = port_layout(load_port("vostochny"))
    # a pontoon-sized object lying alongside the shore, away from every berth
    shore = lay.land_union.boundary
    spot = next(
        shore.interpolate(f, normalized=True)
        for f in [i / 200 for i in range(200)]
        if all(b.polygon.distance(shore.interpolate(f, normalized=True)) > 300 for b in lay.berths)
        and lay.aoi.buffer(-300).contains(shore.interpolate(f, normalized=True))
    )
    box_m = affinity.translate(affinity.scale(spot.buffer(1.0, cap_style="square"), 20, 6), 0, 0)
    ll = reproject(box_m, lay.crs, "EPSG:4326")
    fixed = [
        Detection(
            scene_id=s.id, geometry=ll.wkt, lon=ll.centroid.x, lat=ll.centroid.y,
            length_m=40.0, beam_m=12.0, heading_deg=90.0, score=0.8, cls="other", model="labels",
        )
        for s in scenes_
    ]  # fmt: skip
    dets += fixed
    with Ledger(db) as led:
        ingest([load_port("vostochny")], date(2024, 1, 8), date(2024, 3, 17), "simulated", led,
               cache_dir=tmp_path / "cache", path=stack)  # fmt: skip
        scenes = led.scenes()
        assert len(scenes) >= 5
        fixed = [d for d in fixed if d.scene_id in {s.id for s in scenes}]
        for s in scenes:
            mine = [d for d in dets if d.scene_id == s.id]
            led.add_detections(s.id, "labels", mine)
    out = tmp_path / "traced.yaml"
    r = _cli("ports", "trace", "--port", "vostochny", "--db", db, "--out", str(out))
    assert r.returncode == 0, r.stderr
    draft = yaml.safe_load(out.read_text())
    assert draft["provenance"]["method"].startswith("traced from ")
    assert "oil-1" in {b["id"] for b in draft["berths"]}
    assert out.with_suffix(".png").exists()
    with Ledger(db) as led:
        flagged = led.persistent()
    # trace reads the ledger only: verdicts are the runner's to keep, the tracer finds them
    assert flagged == {}
    method = draft["provenance"]["method"]
    left_out = int(re.search(r"(\d+) detections of persistent objects left out", method).group(1))
    assert left_out >= len(fixed) > 0, method  # the fixed object, and the moored barges
    for b in draft["berths"]:
        poly = reproject(Polygon(b["polygon"]), "EPSG:4326", lay.crs)
        assert poly.distance(box_m) > 60, f"berth {b['id']} made of the fixed object"


def _harbour(h: int = 120, w: int = 160):
    """A scene's green and NIR: land in the west (bright in NIR, NDWI -0.3), sea in the east
    (NDWI +0.3, dark), a harbour basin cut into the land and open to the sea whose water is a
    little turbid (NDWI -0.05, as dark as the sea in NIR), and inland, not touching water, a
    dark car park (NDWI -0.05, as dark as water); on the shore a dark wood (NDWI -0.4)."""
    import numpy as np

    nir = np.full((h, w), 3000.0, dtype=np.float32)
    green = np.full((h, w), 1600.0, dtype=np.float32)  # land: NDWI (1600-3000)/4600 = -0.30
    sea = np.zeros((h, w), bool)
    sea[:, 100:] = True
    basin = np.zeros((h, w), bool)
    basin[40:80, 60:100] = True
    park = np.zeros((h, w), bool)
    park[10:30, 10:40] = True
    wood = np.zeros((h, w), bool)
    wood[85:110, 60:100] = True  # on the shore: it touches the sea
    nir[sea], green[sea] = 500.0, 930.0  # NDWI +0.30
    nir[basin], green[basin] = 520.0, 470.0  # NDWI -0.05: turbid, still dark in NIR
    nir[park], green[park] = 520.0, 470.0  # as dark, but inland
    nir[wood], green[wood] = 900.0, 386.0  # NDWI -0.40
    return green, nir, sea, basin, park, wood


def test_dark_water_joins_turbid_harbour_water_to_the_sea():
    import numpy as np

    from pipeline.portcalls.trace import TraceParams, _clean, dark_water

    green, nir, sea, basin, park, wood = _harbour()
    index = (green - nir) / (green + nir)
    p = TraceParams(min_valid=1, min_land_px=50, max_hole_px=20)
    land = _clean(index < 0, p)
    assert land[basin].all() and not land[sea].any()  # the index alone: the basin is land
    out = dark_water(land, index, nir, p)
    assert not out[basin].any(), "the basin open to the sea is water"
    assert out[park].all(), "a dark patch that touches no water stays land"
    assert out[wood].all(), "an index under dark_water_min_index stops the growth"
    assert not out[sea].any()
    # off, or where water is no darker than land in the band: the index's land unchanged
    assert np.array_equal(dark_water(land, index, nir, TraceParams(dark_water=None)), land)
    assert np.array_equal(dark_water(land, index, np.full_like(nir, 700.0), p), land)


def test_single_date_trace_puts_the_basin_on_the_water_side(tmp_path):
    """Through trace_port on one GeoTIFF (a real scene's layout: bands described, metres CRS):
    the traced land leaves the turbid basin out; without the growth it is land."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from pipeline.portcalls.trace import TraceParams, stack_from_paths, trace_port

    green, nir, sea, basin, park, wood = _harbour()
    h, w = green.shape
    scene = tmp_path / "harbour"
    scene.mkdir()
    bands = {"B02": green, "B03": green, "B04": green, "B08": nir, "B11": nir}
    with rasterio.open(
        scene / "scene.tif", "w", driver="GTiff", width=w, height=h, count=5, dtype="uint16",
        crs="EPSG:32652", transform=from_origin(300000.0, 4700000.0, 10.0, 10.0),
    ) as dst:  # fmt: skip
        for i, (name, a) in enumerate(bands.items(), start=1):
            dst.write(a.astype(np.uint16), i)
            dst.set_band_description(i, name)
    basin_m = box(300000.0 + 600, 4700000.0 - 800, 300000.0 + 1000, 4700000.0 - 400)
    p = TraceParams(min_valid=1, min_land_px=50, max_hole_px=20)
    tr = trace_port(None, stack_from_paths([scene]), None, None, p)
    assert tr.land_m.intersection(basin_m).area < 0.05 * basin_m.area
    off = trace_port(None, stack_from_paths([scene]), None, None, TraceParams(
        min_valid=1, min_land_px=50, max_hole_px=20, dark_water=None))  # fmt: skip
    assert off.land_m.intersection(basin_m).area > 0.95 * basin_m.area
    # the draft says what was done
    from pipeline.portcalls.trace import draft_port

    assert tr.dark_water_px >= 40 * 40 and off.dark_water_px == 0
    assert "pixels of water as dark as the sea" in draft_port(tr, None)["provenance"]["method"]
    assert "as dark as the sea" not in draft_port(off, None)["provenance"]["method"]


def _hull(scene_id: str, x: float, y: float, length: float, beam: float, heading: float):
    """A detection of a hull centred at (x, y) in EPSG:32652 with its footprint rectangle."""
    import math

    from shapely import affinity
    from shapely.geometry import box

    from pipeline.geo import reproject

    rect = affinity.rotate(
        box(x - beam / 2, y - length / 2, x + beam / 2, y + length / 2), -heading, origin=(x, y)
    )
    ll = reproject(rect, "EPSG:32652", "EPSG:4326")
    c = ll.centroid
    assert math.isfinite(c.x)
    return Detection(
        scene_id=scene_id, geometry=ll.wkt, lon=c.x, lat=c.y, length_m=length, beam_m=beam,
        heading_deg=heading, score=0.9, cls="vessel", model="test",
    )  # fmt: skip


def test_hulls_across_a_berth_are_not_part_of_it():
    """Ships moored along a north-south quay on five days, and on two days a barge moored across
    the berth's outer side (heading 90): the berth is the ships' lane; with every hull kept (the
    old rule) the barges widen it by their length."""
    from datetime import timedelta

    from shapely.geometry import box

    from pipeline.portcalls.trace import TraceParams, propose_berths

    land = box(300000.0, 4700000.0, 300500.0, 4701000.0)  # quay face at x = 300500
    t0 = utc("2024-03-01T02:00:00Z")
    scenes, dets = [], []
    for k in range(7):
        s = Scene(
            id=f"s{k}", source="test", sensor="sentinel-2-l2a", acquired=t0 + timedelta(days=5 * k),
            port="vostochny", path="", crs="EPSG:32652", gsd_m=10.0, bands=[],
            valid_fraction=1.0, cloud_fraction=0.0,
        )  # fmt: skip
        scenes.append(s)
        if k < 5:  # a 150 m ship alongside, 30 m beam lane
            dets.append(_hull(s.id, 300516.0, 4700500.0 + 5 * k, 150.0, 25.0, 0.0))
        else:  # a 70 m barge across the berth, off the ship lane
            dets.append(_hull(s.id, 300560.0, 4700520.0, 70.0, 15.0, 90.0))
    berths, used = propose_berths(dets, scenes, land, "EPSG:32652", 10.0, TraceParams())
    assert len(berths) == 1 and used == 5
    b = berths[0]
    assert b.polygon_m.bounds[2] < 300540.0, "the berth is the ships' lane, not the barges'"
    assert abs(b.axis_deg - 0.0) < 1.0 or abs(b.axis_deg - 180.0) < 1.0
    wide, used_all = propose_berths(
        dets, scenes, land, "EPSG:32652", 10.0, TraceParams(max_heading_dev_deg=None)
    )
    assert used_all == 7 and wide[0].polygon_m.bounds[2] > 300580.0


def test_berth_lengths_are_debiased_by_each_sensors_own_error():
    """Sentinel-1 hulls of 55 m (measured) alongside a quay on five dates: the SAR detector's
    bias (+3.5 m) leaves them above the 40 m floor, so they make a berth; taken with the optical
    detector's bias at 10 m (+17.8 m) they would fall under it and make none."""
    from datetime import timedelta

    from shapely.geometry import box

    from pipeline.estimate.params import load_params
    from pipeline.portcalls.trace import TraceParams, propose_berths

    pc = load_params().portcalls
    land = box(300000.0, 4700000.0, 300500.0, 4701000.0)
    t0 = utc("2024-03-01T02:00:00Z")
    scenes, dets = [], []
    for k in range(5):
        s = Scene(
            id=f"s1-{k}", source="test", sensor="sentinel-1-grd",
            acquired=t0 + timedelta(days=4 * k), port="vostochny", path="", crs="EPSG:32652",
            gsd_m=10.0, bands=[], valid_fraction=1.0, cloud_fraction=0.0,
        )  # fmt: skip
        scenes.append(s)
        dets.append(_hull(s.id, 300512.0, 4700500.0 + 3 * k, 55.0, 14.0, 0.0))
    args = (dets, scenes, land, "EPSG:32652", 10.0, TraceParams())
    berths, used = propose_berths(*args, size_error_for=pc.size_error_for)
    assert len(berths) == 1 and used == 5
    optical, _ = propose_berths(*args, size_error_for=lambda sensor: pc.size_error)
    assert optical == []
