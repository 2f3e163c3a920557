"""Training chips: layout, labels, band names, determinism, hard negatives."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import rasterio

from pipeline.errors import TankerWatchError
from pipeline.simulate.chips import write_chips


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    out = tmp_path_factory.mktemp("chips")
    return out, write_chips(out, 16, seed=3, size_px=128)


def test_layout_and_labels(chips):
    out, paths = chips
    assert len(paths) == 16
    n_vessels = 0
    kinds = set()
    for d in paths:
        assert (d / "scene.tif").exists() and (d / "labels.geojson").exists()
        fc = json.loads((d / "labels.geojson").read_text())
        kinds.add(fc["kind"])
        with rasterio.open(d / "scene.tif") as src:
            assert src.dtypes[0] == "uint16"
            assert src.width == src.height == 128
            assert src.crs.to_epsg() in range(32601, 32661)
            desc = src.descriptions
            assert desc in (("B02", "B03", "B04", "B08", "B11"), ("blue", "green", "red", "nir"))
            data = src.read()
        for f in fc["features"]:
            n_vessels += 1
            p = f["properties"]
            assert p["class"] in ("tanker", "other")
            assert f["geometry"]["type"] == "Polygon"
            lon, lat = np.array(f["geometry"]["coordinates"][0]).T
            assert np.all(np.abs(lat) < 90)
            x, y, w, h = p["bbox_px"]
            assert 0 <= x <= 128 and 0 <= y <= 128 and w > 0 and h > 0
            assert p["length_m"] >= p["beam_m"] > 0
            assert p["occluded"] < 0.5
            # a vessel is brighter than open water in red
            assert data.shape[0] >= 4
    assert n_vessels > 10
    assert "empty" in kinds or "cloudy" in kinds


def test_same_seed_same_bytes(chips, tmp_path):
    out, _ = chips
    again = tmp_path / "again"
    write_chips(again, 16, seed=3, size_px=128)
    assert _digest(out) == _digest(again)
    other = tmp_path / "other"
    write_chips(other, 2, seed=4, size_px=128)
    a = (out / "chip-s3-00000" / "scene.tif").read_bytes()
    b = (other / "chip-s4-00000" / "scene.tif").read_bytes()
    assert a != b


def test_resume_skips_existing(chips):
    out, paths = chips
    before = {p: (p / "scene.tif").stat().st_mtime_ns for p in paths}
    write_chips(out, 16, seed=3, size_px=128)
    assert {p: (p / "scene.tif").stat().st_mtime_ns for p in paths} == before


def test_bad_arguments(tmp_path):
    with pytest.raises(TankerWatchError, match="chips"):
        write_chips(tmp_path, -1)
    with pytest.raises(TankerWatchError, match="unknown sensor"):
        write_chips(tmp_path, 1, sensors=("landsat",))


def test_port_and_berth_shares(tmp_path):
    """port_p / berth_p steer where chips are drawn: all in a configured port, centred on its
    berths (ships moored alongside), or none in a port; the defaults are the earlier chips."""

    def berthed(paths):
        roles = [
            f["properties"].get("role")
            for d in paths
            for f in json.loads((d / "labels.geojson").read_text())["features"]
        ]
        return sum(r in ("load", "discharge", "other") for r in roles)

    def layouts(paths):
        return {json.loads((d / "labels.geojson").read_text())["layout"] for d in paths}

    at_berth = write_chips(tmp_path / "b", 8, seed=9, size_px=96, port_p=1.0, berth_p=1.0)
    assert layouts(at_berth) <= {"vostochny", "rajin", "chongjin", "nampo"}
    anywhere = write_chips(tmp_path / "a", 8, seed=9, size_px=96, port_p=1.0, berth_p=0.0)
    assert berthed(at_berth) > berthed(anywhere)
    assert layouts(write_chips(tmp_path / "s", 4, seed=9, size_px=96, port_p=0.0)) == {"synthetic"}
    default = write_chips(tmp_path / "d", 4, seed=9, size_px=96)
    same = write_chips(tmp_path / "e", 4, seed=9, size_px=96, port_p=0.5, berth_p=0.55)
    assert _digest(default[0].parent) == _digest(same[0].parent)
    with pytest.raises(TankerWatchError, match="berth_p"):
        write_chips(tmp_path / "x", 1, seed=9, berth_p=1.5)
