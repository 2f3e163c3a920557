"""simulate(): layout, determinism, georeferencing, truth consistency, labels vs truth."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from datetime import datetime

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from pipeline.config import load_port
from pipeline.records import utc
from pipeline.simulate.run import simulate


def _read_csv(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _items(sim):
    out = []
    for d in sorted((sim / "scenes").iterdir()):
        out.append((d, json.loads((d / "item.json").read_text())))
    return out


def test_layout(small_simulation):
    sim = small_simulation
    m = json.loads((sim / "simulation.json").read_text())
    assert m["scenario"] == "tiny" and m["scenes"] == len(list((sim / "scenes").iterdir()))
    for name in ("visits.csv", "deliveries.csv", "fleet.csv"):
        assert (sim / "truth" / name).exists()
    for d, item in _items(sim):
        for f in ("scene.tif", "scl.tif", "labels.geojson", "item.json"):
            assert (d / f).exists(), d / f
        assert item["id"] == d.name
        props = item["properties"]
        assert props["tankerwatch:port"] in ("vostochny", "rajin")
        assert props["tankerwatch:sensor"] in ("sentinel-2-l2a", "commercial-3m")
        assert 0 <= props["eo:cloud_cover"] <= 100
        assert set(item["assets"]) == {"image", "scl", "labels"}
        with rasterio.open(d / "scene.tif") as src:
            assert props["proj:epsg"] == src.crs.to_epsg()
            assert props["proj:code"] == f"EPSG:{src.crs.to_epsg()}"
        assert d.name.endswith("_simulated") and props["tankerwatch:sensor"] in d.name
    # pystac reads the items (and maps proj:epsg onto proj:code)
    import pystac

    it = pystac.Item.from_file(str(d / "item.json"))
    assert it.ext.proj.epsg == props["proj:epsg"] and it.assets["image"].href == "./scene.tif"
    # nothing hidden left behind (no staging folder)
    assert not [p for p in sim.parent.iterdir() if p.name.startswith(".")]


def test_same_seed_same_bytes(small_simulation, tmp_path, repo):
    again = simulate(repo / "configs/scenarios/tiny.yaml", tmp_path / "again")
    assert _digest(again) == _digest(small_simulation)


def test_other_seed_differs(repo, tmp_path, small_simulation):
    other = simulate(repo / "configs/scenarios/tiny.yaml", tmp_path / "s8", seed=8)
    a = (small_simulation / "truth" / "deliveries.csv").read_text()
    b = (other / "truth" / "deliveries.csv").read_text()
    assert a != b


def test_georeferencing(small_simulation):
    sim = small_simulation
    checked = 0
    for d, item in _items(sim):
        port = load_port(item["properties"]["tankerwatch:port"])
        with rasterio.open(d / "scene.tif") as src:
            assert src.crs.to_string() == port.utm_crs()
            assert src.nodata == 0
            assert src.dtypes[0] == "uint16"
            assert all(src.descriptions)
            assert src.res[0] == pytest.approx(item["properties"]["gsd"])
            berth = port.berth("oil-1")
            t = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
            c = berth.shape.centroid
            x, y = t.transform(c.x, c.y)
            row, col = src.index(x, y)
            assert 0 <= row < src.height and 0 <= col < src.width  # berth is in the scene
            with rasterio.open(d / "scl.tif") as scl_src:
                assert scl_src.transform == src.transform and scl_src.crs == src.crs
                scl = scl_src.read(1)
        if item["properties"]["eo:cloud_cover"] == 0 and (scl > 0).all():
            # a point in the middle of the oil pier (land ring 1 of the port config) is built
            # ground (SCL 5), a point far out in the berth's water is water (SCL 6)
            pier = Polygon(port.land[1]).centroid
            with rasterio.open(d / "scene.tif") as src:
                r, cl = src.index(*t.transform(pier.x, pier.y))
            assert scl[r, cl] == 5
            checked += 1
    assert checked > 0


def test_truth_consistency(small_simulation):
    truth = small_simulation / "truth"
    visits = _read_csv(truth / "visits.csv")
    deliveries = _read_csv(truth / "deliveries.csv")
    assert len(deliveries) == 3
    by_id = {v["visit_id"]: v for v in visits}
    for dv in deliveries:
        load = by_id[dv["load_visit_id"]]
        assert (load["vessel"], load["port"], load["berth"], load["role"]) == (
            dv["vessel"],
            dv["load_port"],
            dv["berth"],
            "load",
        )
        assert (load["arrived_utc"], load["departed_utc"]) == (
            dv["arrived_utc"],
            dv["departed_utc"],
        )
        dis = by_id[dv["discharge_visit_id"]]
        assert dis["port"] == dv["discharge_port"] and dis["role"] == "discharge"
        assert utc(dis["arrived_utc"]) > utc(dv["departed_utc"])
        assert 0.6 <= float(dv["loading_factor"]) <= 0.99
        assert float(dv["loaded_t"]) == pytest.approx(
            float(dv["dwt"]) * float(dv["loading_factor"]), rel=1e-3
        )
        assert float(dv["loaded_bbl"]) > 6 * float(dv["loaded_t"])
    per_berth = defaultdict(list)
    per_vessel = defaultdict(list)
    for v in visits:
        a, b = utc(v["arrived_utc"]), utc(v["departed_utc"])
        assert b > a
        per_berth[(v["port"], v["berth"])].append((a, b))
        per_vessel[v["vessel"]].append((a, b))
    for spans in [*per_berth.values(), *per_vessel.values()]:
        spans.sort()
        for (_, end1), (start2, _) in zip(spans, spans[1:], strict=False):
            assert start2 >= end1
    fleet = _read_csv(truth / "fleet.csv")
    assert [r["name"] for r in fleet] == ["Yu Son", "Rye Song Gang 1"]
    for r in fleet:
        assert 1000 <= float(r["dwt"]) <= 9000
        assert "simulated:" in r["source"] and "length_m" in r["source"]
    assert "dwt" not in fleet[1]["source"].split("simulated:")[1]  # registry dwt kept
    assert fleet[1]["dwt"] == "3003"


def test_labels_match_truth(small_simulation):
    """A vessel at berth in the truth appears in the labels of every scene that covers it."""
    sim = small_simulation
    visits = _read_csv(sim / "truth" / "visits.csv")
    seen = 0
    for d, item in _items(sim):
        when = utc(item["properties"]["datetime"])
        port = item["properties"]["tankerwatch:port"]
        fc = json.loads((d / "labels.geojson").read_text())
        labelled = {
            f["properties"]["visit_id"] for f in fc["features"] if f["properties"]["visit_id"]
        }
        present = {
            v["visit_id"]
            for v in visits
            if v["port"] == port
            and utc(v["arrived_utc"]) <= when < utc(v["departed_utc"])
            and v["berth"] == "oil-1"
        }
        valid = item["properties"]["tankerwatch:valid_fraction"]
        if valid == 1.0:
            assert present <= labelled, (d.name, present, labelled)
        seen += len(present)
        for f in fc["features"]:
            p = f["properties"]
            assert p["class"] in ("tanker", "other")
            poly = shape(f["geometry"])
            assert poly.is_valid and poly.geom_type == "Polygon"
            assert p["length_m"] >= p["beam_m"] > 0
            if p["role"] in ("load", "discharge"):
                berth = load_port(port).berth("oil-1").shape
                assert poly.distance(berth) < 0.001  # within ~100 m (degrees)
                assert p["class"] == "tanker"
    assert seen > 0


def test_tanker_visible_in_pixels(small_simulation):
    """A labelled, unoccluded tanker in a 10 m scene is brighter in red than open water."""
    found = 0
    for d, item in _items(small_simulation):
        props = item["properties"]
        if props["tankerwatch:sensor"] != "sentinel-2-l2a":
            continue
        fc = json.loads((d / "labels.geojson").read_text())
        for f in fc["features"]:
            p = f["properties"]
            if p["class"] != "tanker" or p["occluded"] > 0:
                continue
            x, y, w, h = p["bbox_px"]
            with rasterio.open(d / "scene.tif") as src:
                red = src.read(3).astype(float)
            box = red[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))]
            assert box.max() > 2 * np.median(red[red > 0][red[red > 0] < 3000])
            found += 1
    assert found > 0


def test_datetime_parses(small_simulation):
    for _, item in _items(small_simulation):
        assert isinstance(utc(item["properties"]["datetime"]), datetime)


def test_interrupted_run_resumes_to_same_bytes(small_simulation, tmp_path, repo, monkeypatch):
    """A run killed half-way leaves DIR absent (work kept in a hidden staging folder); the
    next run finishes it, and the result is byte-identical to an uninterrupted run."""
    import pipeline.simulate.run as run_mod

    real_item = run_mod.stac_item
    calls = {"n": 0}

    def dying_item(*a, **k):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_item(*a, **k)

    monkeypatch.setattr(run_mod, "stac_item", dying_item)
    out = tmp_path / "sim"
    with pytest.raises(KeyboardInterrupt):
        simulate(repo / "configs/scenarios/tiny.yaml", out)
    assert not out.exists()
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".sim.partial")]
    assert len(staged) == 1 and len(list((staged[0] / "scenes").iterdir())) == 10
    monkeypatch.setattr(run_mod, "stac_item", real_item)
    simulate(repo / "configs/scenarios/tiny.yaml", out)
    assert _digest(out) == _digest(small_simulation)
    assert [p.name for p in tmp_path.iterdir()] == ["sim"]
