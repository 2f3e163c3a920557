"""The report's port map: self-contained, its layers match the ledger, the scene is the one
chosen, and it renders in headless Chromium with the network blocked."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from ledger.factory import build, fill, write_rasters

from pipeline.config import load_port
from pipeline.ledger.store import Ledger
from pipeline.records import iso
from pipeline.report import portmap
from pipeline.report.html import build_report
from report.browser import (
    CHROMIUM,
    OSM_TILES,
    blocked_network,
    external_refs,
    js_errors,
    page_requests,
    render,
)

VENDOR = Path(portmap.__file__).parent / "vendor" / "leaflet"

# a port file drawn around the seeded berths (the shipped Vostochny file is 1 km off them)
PORT_YAML = """
name: vostochny
display_name: Vostochny test layout
country: RU
timezone: Asia/Vladivostok
role: load
provenance: {method: drawn around the seeded berths for tests, precision_m: 20.0}
aoi: [[133.0460, 42.7260], [133.0580, 42.7260], [133.0580, 42.7335], [133.0460, 42.7335],
      [133.0460, 42.7260]]
land:
- [[133.0440, 42.7318], [133.0600, 42.7318], [133.0600, 42.7360], [133.0440, 42.7360],
   [133.0440, 42.7318]]
- [[133.0560, 42.7300], [133.0575, 42.7300], [133.0575, 42.7318], [133.0560, 42.7318],
   [133.0560, 42.7300]]
berths:
- {id: oil-1, name: Oil berth <1>, role: load, product: refined, polygon: [[133.0490, 42.7292],
   [133.0510, 42.7292], [133.0510, 42.7308], [133.0490, 42.7308], [133.0490, 42.7292]]}
- {id: oil-2, name: Oil berth 2, role: load, product: refined, polygon: [[133.0530, 42.7282],
   [133.0550, 42.7282], [133.0550, 42.7298], [133.0530, 42.7298], [133.0530, 42.7282]]}
- {id: cargo-1, name: Cargo quay, role: other, polygon: [[133.0470, 42.7305], [133.0480, 42.7305],
   [133.0480, 42.7315], [133.0470, 42.7315], [133.0470, 42.7305]]}
"""


@pytest.fixture
def port(tmp_path):
    path = tmp_path / "port.yaml"
    path.write_text(PORT_YAML, encoding="utf-8")
    return path


@pytest.fixture
def seeded(db_url, tmp_path):
    sample = build(seed=0, scene_root=tmp_path / "scenes")
    write_rasters(sample)
    with Ledger(db_url) as led:
        fill(led, sample)
        yield led, sample


def _expected_default(sample) -> str:
    """Every seeded detection lies at a berth: most detections, then clearest, then latest."""
    return min(
        sample.scenes,
        key=lambda s: (-len(sample.detections[s.id]), s.cloud_fraction, -s.acquired.timestamp()),
    ).id


def _features(doc: str, cls: str) -> list[dict]:
    """The GeoJSON features of one kind embedded in the map's script."""
    out = []
    for blob in re.findall(r"_add\((\{.*?\})\);\n", doc):
        for f in json.loads(blob)["features"]:
            if f["properties"]["style"]["className"] == cls:
                out.append(f)
    return out


def test_leaflet_is_vendored_unchanged_with_its_licence():
    table = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([\w./-]+) \| ([0-9a-f]{64}) \|$", table, re.M)
    assert {name for name, _ in rows} == {
        "leaflet.js",
        "leaflet.css",
        "images/layers.png",
        "images/layers-2x.png",
        "LICENSE",
    }
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "BSD 2-Clause" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "Leaflet 1.9.4" in (VENDOR / "leaflet.js").read_text(encoding="utf-8")[:200]


def test_map_is_self_contained_and_its_layers_match_the_ledger(seeded, port, tmp_path):
    led, sample = seeded
    out = tmp_path / "report.html"
    summary = build_report(led, out, ports=[load_port(port)])
    doc = out.read_text(encoding="utf-8")
    refs = external_refs(doc)
    assert refs == {"attributes": [], "css": [], "imports": [], "tiles": [OSM_TILES]}, refs
    assert doc.count("Leaflet 1.9.4") == 1  # inlined once, in the head
    assert "cdn." not in doc and "jquery" not in doc.lower() and "bootstrap" not in doc.lower()
    assert "html, body {" not in doc  # folium's full-page styles would restyle the report

    scene_id = _expected_default(sample)
    (m,) = summary["maps"]
    assert m == {
        "port": "vostochny",
        "scene": scene_id,
        "aoi": 1,
        "land": 2,
        "berths": 3,
        "image": 1,
        "detections": len(sample.detections[scene_id]),
        "visits": len(sample.visits),
    }
    assert f'data-scene="{scene_id}"' in doc
    # detections: the chosen scene's, each with its size and its visit
    dets = _features(doc, "tw-detection")
    assert len(dets) == len(sample.detections[scene_id]) > 0
    visit_of = {i: v.id for v in sample.visits for i in v.evidence}
    for d in sample.detections[scene_id]:
        (f,) = [f for f in dets if f"detection {d.id}" in f["properties"]["popup"]]
        assert f"{d.length_m:.0f} x {d.beam_m:.0f}" in f["properties"]["popup"]
        assert visit_of[d.id] in f["properties"]["popup"]
        assert f["properties"]["style"]["color"] == portmap.EVIDENCE
    # visits: every one, at its detections' mean position, with its time range
    marks = _features(doc, "tw-visit")
    assert len(marks) == len(sample.visits)
    dets_by_id = {d.id: d for ds in sample.detections.values() for d in ds}
    for v in sample.visits:
        (f,) = [f for f in marks if f"visit {v.id}" in f["properties"]["popup"]]
        pop = f["properties"]["popup"]
        for t in (v.first_seen, v.last_seen, v.arrived_after, v.departed_before):
            assert iso(t) in pop
        lon = sum(dets_by_id[i].lon for i in v.evidence) / len(v.evidence)
        assert f["geometry"]["coordinates"][0] == pytest.approx(lon)
        assert (scene_id in v.sightings) == ("in this scene" in pop)
    # berths with role and name (escaped), land, AOI
    berths = _features(doc, "tw-berth")
    assert len(berths) == 3
    oil1 = next(f for f in berths if "berth oil-1" in f["properties"]["popup"])
    assert "Oil berth &lt;1&gt;" in oil1["properties"]["popup"]
    assert "<td>role</td><td>load</td>" in oil1["properties"]["popup"]
    assert oil1["properties"]["style"]["color"] == portmap.ROLE_COLOURS["load"]
    assert len(_features(doc, "tw-land")) == 2 and len(_features(doc, "tw-aoi")) == 1
    # the layer control lists them, with counts
    for name in (
        "plain background",
        "OpenStreetMap (needs network)",
        "berths (3)",
        f"detections in the scene ({m['detections']})",
        f"visits ({m['visits']})",
    ):
        assert json.dumps(name) in doc
    # the caption says why this scene and how to choose another
    assert "chosen by default" in doc and "--map-scene SCENE_ID" in doc


def test_the_scene_image_is_warped_onto_its_ground_position(seeded, port, tmp_path):
    import numpy as np
    import rasterio
    from PIL import Image

    led, sample = seeded
    scene = next(s for s in sample.scenes if sample.detections[s.id])
    with rasterio.open(scene.path, "r+") as dst:  # a strip of no data along the west edge
        data = dst.read()
        data[:, :, :12] = 0
        dst.write(data)
    png, ((s, w), (n, e)) = portmap.scene_overlay(scene, load_port(port).aoi_shape)
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape[2] == 4 and img[..., 3].max() == 255
    # each hull (4000 DN against 1000-1300 around it) is bright where its centre falls
    for d in sample.detections[scene.id]:
        x = (d.lon - w) / (e - w) * img.shape[1]
        # Web Mercator rows: linear in the Mercator y of the latitude
        y = (_merc(n) - _merc(d.lat)) / (_merc(n) - _merc(s)) * img.shape[0]
        assert img[int(y), int(x), :3].min() == 255, (d.id, x, y)
    # no data is transparent, not black: the west strip (120 m) and nothing in the middle
    h, wpx = img.shape[:2]
    assert (img[h // 4 : 3 * h // 4, :4, 3] == 0).all()
    assert (img[h // 4 : 3 * h // 4, wpx // 4 : 3 * wpx // 4, 3] == 255).all()


def _merc(lat: float) -> float:
    import math

    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def test_a_chosen_scene_and_a_missing_raster(seeded, port, tmp_path):
    led, sample = seeded
    other = next(
        s for s in sample.scenes if sample.detections[s.id] and s.id != _expected_default(sample)
    )
    Path(other.path).unlink()
    out = tmp_path / "r.html"
    summary = build_report(led, out, ports=[load_port(port)], map_scenes=[other.id])
    (m,) = summary["maps"]
    assert m["scene"] == other.id and m["image"] == 0
    assert m["detections"] == len(sample.detections[other.id])
    doc = out.read_text(encoding="utf-8")
    assert "chosen with --map-scene" in doc and "raster of scene" in doc and other.path in doc
    assert "leaflet-image-layer" not in doc.split("Leaflet 1.9.4")[1].split("</script>", 1)[1]


def test_default_ports_come_from_the_port_files(seeded, tmp_path):
    led, _ = seeded
    summary = build_report(led, tmp_path / "r.html")
    shipped = load_port("vostochny")
    (m,) = summary["maps"]
    assert (m["port"], m["berths"], m["land"]) == ("vostochny", len(shipped.berths), 3)


def test_bad_map_scene_is_one_line_exit_2(cli, tmp_path, port):
    sample = build(seed=1, scene_root=tmp_path / "scenes")
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
    out = tmp_path / "r" / "report.html"
    res = cli("report", "--db", tmp_path / "l.db", "--map-scene", "nope", "--out", out)
    assert res.returncode == 2, res.stderr
    assert "--map-scene: ledger at" in res.stderr and "has no scene nope" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing written
    a, b = sample.scenes[0].id, sample.scenes[1].id
    res = cli("report", "--db", tmp_path / "l.db", "--map-scene", a, "--map-scene", b, "-o", out)
    assert res.returncode == 2 and "give one per port" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli("report", "--db", tmp_path / "l.db", "--ports", "nampo", "--map-scene", a, "-o", out)
    assert res.returncode == 2 and "not among --ports" in res.stderr
    bad = tmp_path / "bad-port.yaml"
    bad.write_text(PORT_YAML.replace("role: load\n", "role: sideways\n", 1), encoding="utf-8")
    res = cli("report", "--db", tmp_path / "l.db", "--ports", bad, "-o", out)
    assert res.returncode == 2 and str(bad) in res.stderr and "role" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
    # a good one: the summary names the map's scene and counts
    res = cli("report", "--db", tmp_path / "l.db", "--ports", port, "--map-scene", b, "-o", out)
    assert res.returncode == 0, res.stderr
    n = len(sample.detections[b])
    assert f"map of vostochny: scene {b}, {n} detections, {len(sample.visits)} visits" in res.stdout


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed at /usr/bin/chromium (Debian package 'chromium')",
)
def test_map_renders_in_headless_chromium_with_the_network_blocked(tmp_path, port):
    sample = build(seed=0, scene_root=tmp_path / "scenes")
    write_rasters(sample)
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
        summary = build_report(led, tmp_path / "report.html", ports=[load_port(port)])
    (m,) = summary["maps"]
    with blocked_network() as (proxy, seen):
        dom = render(tmp_path / "report.html", proxy)
        assert js_errors(dom) == []
        assert page_requests(seen) == []  # the plain background fetches nothing
        assert 'class="folium-map leaflet-container' in dom
        for cls, n in (
            ("tw-aoi", 1),
            ("tw-land", m["land"]),
            ("tw-berth", m["berths"]),
            ("tw-detection", m["detections"]),
            ("tw-visit", m["visits"]),
        ):
            assert dom.count(f'class="{cls} leaflet-interactive"') == n > 0, cls
        assert 'data-map-images="1/1"' in dom  # the scene image decoded
        labels = re.findall(r"<span> ([^<]+)</span></span></label>", dom)
        assert labels == [
            "plain background",
            "OpenStreetMap (needs network)",
            f"scene image {next(s for s in sample.scenes if s.id == m['scene']).acquired:%Y-%m-%d}",
            "land",
            "AOI",
            "berths (3)",
            f"detections in the scene ({m['detections']})",
            f"visits ({m['visits']})",
        ]
        # switching to OpenStreetMap offline: the tiles fail, nothing else breaks; and a click
        # on a berth opens its popup
        osm = (
            "document.querySelectorAll('.leaflet-control-layers-base input')[1].click();"
            "document.querySelector('path.tw-berth').dispatchEvent("
            "new MouseEvent('click', {bubbles: true, clientX: 1, clientY: 1}));"
        )
        dom = render(tmp_path / "report.html", proxy, after_load=osm)
        assert js_errors(dom) == []
        popup = re.search(r'class="leaflet-popup-content"[^>]*>(.*?)</div>', dom, re.S)
        assert popup and "berth oil-1" in popup.group(1) and "Oil berth &lt;1&gt;" in popup.group(1)
        tiles = page_requests(seen)
        assert tiles and all(r == "CONNECT tile.openstreetmap.org:443" for r in tiles), tiles
        assert dom.count('class="tw-visit leaflet-interactive"') == m["visits"]
    # the probe is not blind: without Leaflet the map's script fails and is reported
    doc = (tmp_path / "report.html").read_text(encoding="utf-8")
    start = doc.index("<script>/* @preserve\n * Leaflet 1.9.4")
    broken = tmp_path / "broken.html"
    broken.write_text(doc[:start] + doc[doc.index("</script>", start) + 9 :], encoding="utf-8")
    with blocked_network() as (proxy, _):
        assert any("L is not defined" in e for e in js_errors(render(broken, proxy)))
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_a_detection_without_a_footprint_is_a_circle_not_an_image_marker(port):
    from datetime import UTC, datetime

    from pipeline.records import Detection, Scene

    scene = Scene(
        id="s1", source="sim", sensor="S2A", acquired=datetime(2024, 3, 1, tzinfo=UTC),
        port="vostochny", path="/nonexistent/s1.tif", crs="EPSG:32653", gsd_m=10.0,
        bands=["B02"], valid_fraction=1.0, cloud_fraction=0.0,
    )  # fmt: skip
    d = Detection(
        scene_id="s1", geometry="", lon=133.05, lat=42.73, length_m=90.0, beam_m=15.0,
        heading_deg=0.0, score=0.8, cls="tanker", model="m", id="det-1",
    )  # fmt: skip
    pm = portmap.build_port_map(load_port(port), scene, "test", [d], {}, [], {}, {})
    (f,) = _features(pm.html, "tw-detection")
    assert f["geometry"] == {"type": "Point", "coordinates": [133.05, 42.73]}
    assert "L.marker(" not in pm.html and "new L.CircleMarker(latlng" in pm.html
    assert pm.counts["detections"] == 1 and pm.counts["image"] == 0
    assert pm.notes == ["the raster of scene s1 is missing (/nonexistent/s1.tif): no image"]


def test_a_port_without_a_port_file_is_a_note_or_with_map_scene_an_error(tmp_path):
    from pipeline.errors import TankerWatchError

    sample = build(seed=0)
    for s in sample.scenes:
        s.port = "atlantis"
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
        summary = build_report(led, tmp_path / "r.html")
        assert summary["maps"] == []
        doc = (tmp_path / "r.html").read_text(encoding="utf-8")
        assert "port atlantis: no map (unknown port &#x27;atlantis&#x27;" in doc
        assert "pass its port file with --ports" in doc
        assert "Leaflet 1.9.4" not in doc  # no map, no Leaflet
        with pytest.raises(TankerWatchError, match="no port file for port 'atlantis'"):
            build_report(led, tmp_path / "r2.html", map_scenes=[sample.scenes[0].id])
    assert not (tmp_path / "r2.html").exists()
