"""Band names: aliases map onto the Sentinel-2 names they really are."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.bands import band_indexes, canonical_band

# Earth Search sentinel-2-l2a asset keys and the bands they hold
EARTH_SEARCH = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}


@pytest.mark.parametrize("alias,band", sorted(EARTH_SEARCH.items()))
def test_earth_search_asset_names(alias, band):
    assert canonical_band(alias) == band
    assert canonical_band(alias.upper()) == band


def test_nir08_is_not_b08():
    # a file carrying both 842 nm and 865 nm bands: B08 is the one named nir, not nir08
    names = ["blue", "green", "red", "nir08", "nir"]
    assert band_indexes(names, ["B08", "B8A"], "x.tif") == [5, 4]


def test_planetscope_coastal_blue_is_not_blue():
    # an 8-band SuperDove file lists coastal_blue (443 nm) before blue (490 nm): B02 is blue
    names = ["coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir"]
    assert band_indexes(names, ["B02", "B01"], "x.tif") == [2, 1]


def test_source_settings_asset_keys_hold_their_bands():
    """Every STAC endpoint's asset key, when it is a known alias, names the band it is read as."""
    root = Path(__file__).resolve().parents[1] / "configs" / "sources"
    checked = 0
    for path in sorted(root.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for name, ep in (doc.get("stac") or {}).get("endpoints", {}).items():
            for band, key in ep["assets"].items():
                if key.lower() in EARTH_SEARCH or canonical_band(key) != key:
                    assert canonical_band(key) == band, f"{path.name} {name}: {band} <- {key}"
                    checked += 1
    assert checked


def test_a_stac_asset_holding_another_band_is_a_config_error():
    from pipeline.ingest.settings import StacSettings

    assets = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir08", "B11": "swir16"}
    ep = {"url": "http://127.0.0.1:1/v1", "assets": {**assets, "SCL": "scl"}}
    with pytest.raises(ValueError, match=r"assets\.B08: asset 'nir08' holds B8A, not B08"):
        StacSettings(endpoints={"es": ep}, endpoint="es")
    ep["assets"]["B08"] = "nir"
    assert StacSettings(endpoints={"es": ep}, endpoint="es").endpoints["es"].assets["B08"] == "nir"
