"""Land for the alongside / open-water split: the port's polygons, else NDWI of the scene."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect import synth
from pipeline.detect.land import ndwi_land_mask, port_land, scene_land, scene_land_or_none
from pipeline.errors import TankerWatchError


def test_ndwi_mask_drops_hulls_keeps_piers_fills_holes():
    h, w = 200, 200
    green = np.full((h, w), 800.0)
    nir = np.full((h, w), 300.0)  # water: NDWI > 0
    land = np.zeros((h, w), bool)
    land[:, :80] = True  # shore, 80 x 200 px = 1.6 km2 at 10 m
    land[100:103, 80:150] = True  # a pier 3 px wide, joined to the shore
    land[20:25, 30:35] = False  # a 25 px pond inside land: a hole to fill
    land[150:156, 120:150] = True  # an isolated hull of 30 x 6 px in open water
    land[103:106, 100:130] = True  # a hull moored alongside the pier
    green[land] = 300.0
    nir[land] = 900.0
    mask = ndwi_land_mask(green, nir, np.ones((h, w), bool), px_km2=1e-4)
    assert mask[:, :80].all()  # pond filled
    assert mask[100:103, 80:150].all()  # pier kept
    assert not mask[150:156, 120:150].any()  # hull at anchor is water
    assert mask[103:106, 100:130].all()  # hull alongside stays with the land
    assert not mask[:, 160:].any()


def test_scene_land_from_configured_port(tmp_path):
    d = tmp_path / "s1"
    d.mkdir()
    (d / "item.json").write_text(json.dumps({"properties": {"tankerwatch:port": "vostochny"}}))
    land, source = scene_land(d)
    assert source == "port vostochny" and land is not None and land.area > 0
    (d / "item.json").write_text("{")
    with pytest.raises(TankerWatchError, match="item.json: malformed"):
        port_land(d)


def test_scene_land_from_ndwi_when_no_port(tmp_path):
    refl, transform, crs, _ = synth.utm_scene(64, 64, ships=[], seed=0)
    refl[1, :, :40] = 0.05  # green low
    refl[3, :, :40] = 0.30  # NIR high: land on the left 40 columns (0.26 km2)
    synth.write_geotiff(tmp_path / "s" / "scene.tif", refl, transform, crs)
    land, source = scene_land(tmp_path / "s")
    assert source == "ndwi"
    from pipeline.config import utm_epsg
    from pipeline.detect.geometry import to_crs

    c = land.centroid
    area = to_crs(land, "EPSG:4326", utm_epsg(c.x, c.y)).area
    assert area == pytest.approx(40 * 64 * 100, rel=0.01)
    synth.write_geotiff(tmp_path / "nob" / "scene.tif", refl, transform, crs, bands=None)
    with pytest.raises(TankerWatchError, match="no band described as B03"):
        scene_land(tmp_path / "nob")
    land, source = scene_land_or_none(tmp_path / "nob")
    assert land is None and source.startswith("unknown:") and "B03" in source
