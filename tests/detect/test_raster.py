"""Reading scenes: bands by name, normalisation variants, warping to UTM, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from detect import synth
from pipeline.detect.raster import normalise, open_scene, read_full
from pipeline.errors import TankerWatchError


@pytest.fixture(scope="module")
def scene():
    return synth.utm_scene(64, 64, ships=[(32, 32, 150, 30, 45)], seed=1)


def test_bands_are_read_by_name_not_position(tmp_path, scene):
    refl, transform, crs, _ = scene
    # store the bands reversed with alias names: the reader must still return B02..B08
    rev = refl[::-1].copy()
    path = synth.write_geotiff(
        tmp_path / "s.tif", rev, transform, crs, bands=["nir", "red", "green", "blue"]
    )
    got, valid, _, _ = read_full(path, ["B02", "B03", "B04", "B08"], 10.0)
    assert valid.all()
    np.testing.assert_allclose(got, refl, atol=2e-4)


def test_missing_band_is_one_line_error(tmp_path, scene):
    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "s.tif", refl[:3], transform, crs, ["B02", "B03", "B04"])
    with pytest.raises(TankerWatchError, match=r"s\.tif: missing bands B08"):
        open_scene(path, ["B02", "B03", "B04", "B08"], 10.0)


def test_no_band_descriptions_is_an_error(tmp_path, scene):
    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs, bands=None)
    with pytest.raises(TankerWatchError, match="no descriptions"):
        open_scene(path, ["B02"], 10.0)


@pytest.mark.parametrize(
    "kind", ["dn", "dn_offset", "reflectance_float"], ids=["DN", "DN+1000", "float"]
)
def test_normalisation_variants_agree(tmp_path, scene, kind):
    refl, transform, crs, _ = scene
    path = synth.write_geotiff(
        tmp_path / f"{kind}.tif",
        refl,
        transform,
        crs,
        offset=1000.0 if kind == "dn_offset" else 0.0,
        as_float=kind == "reflectance_float",
    )
    got, valid, _, _ = read_full(path, synth.BANDS, 10.0)
    np.testing.assert_allclose(got, refl, atol=2e-4)
    x = normalise(got, valid)
    assert x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0 + 1e-6


def test_offset_declared_in_tags_is_used(tmp_path, scene):
    import rasterio

    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "t.tif", refl + 0.2, transform, crs, offset=1000.0)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(BOA_ADD_OFFSET="-1000")
    got, _, _, _ = read_full(path, synth.BANDS, 10.0)
    np.testing.assert_allclose(got, refl + 0.2, atol=2e-4)


def test_web_mercator_is_warped_to_utm_ground_metres(tmp_path, scene):
    refl, transform, crs, _ = scene
    merc, mt = synth.reproject_to(refl, transform, crs, "EPSG:3857", 10.0)
    path = synth.write_geotiff(tmp_path / "m.tif", merc, mt, "EPSG:3857")
    with open_scene(path, synth.BANDS, 10.0) as g:
        assert g.crs.to_epsg() == 32652
        assert g.transform.a == pytest.approx(10.0)
        # ~42.9 N: a 10 m Mercator pixel is ~7.3 m of ground, so the UTM grid is smaller
        assert g.width < merc.shape[2] * 0.8


def test_windowed_reads_are_bounded(tmp_path, scene):
    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs)
    with open_scene(path, synth.BANDS, 10.0) as g:
        wins = list(g.windows(32, 8))
        assert all(w.width <= 32 and w.height <= 32 for w in wins)
        covered = np.zeros((g.height, g.width), bool)
        for w in wins:
            covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = True
            data, _ = g.read(w)
            assert data.shape == (4, w.height, w.width)
        assert covered.all()
        data, _ = g.read(Window(0, 0, 8, 8))
        assert data.shape == (4, 8, 8)


def test_no_crs_is_an_error(tmp_path, scene):
    refl, transform, _, _ = scene
    path = synth.write_geotiff(tmp_path / "nocrs.tif", refl, transform, None)
    with pytest.raises(TankerWatchError, match=r"nocrs\.tif: raster has no CRS"):
        open_scene(path, synth.BANDS, 10.0)


def test_all_nodata_is_an_error(tmp_path, scene):
    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "empty.tif", refl * 0, transform, crs, nodata=0)
    with pytest.raises(TankerWatchError, match=r"empty\.tif: all pixels are nodata"):
        open_scene(path, synth.BANDS, 10.0)


def test_corrupt_file_is_an_error(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + b"\x00garbage" * 20)
    with pytest.raises(TankerWatchError, match=r"bad\.tif: cannot read raster"):
        open_scene(path, synth.BANDS, 10.0)
