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


@pytest.mark.parametrize("nodata", [None, 0], ids=["no-nodata", "nodata-0"])
def test_a_file_on_the_grid_is_read_directly_with_the_warped_reads_values(tmp_path, nodata):
    """No warping for a file already on the UTM grid at the model GSD; same pixels, same mask."""
    refl, transform, crs, _ = synth.utm_scene(96, 80, ships=[(40, 30, 150, 30, 45)], seed=4)
    refl[:, :5, :7] = -1.0  # a nodata corner (0 DN)
    refl[2, 40, 40] = -1.0  # one band at 0 DN in an otherwise valid pixel
    path = synth.write_geotiff(tmp_path / "g.tif", refl, transform, crs, offset=1000, nodata=nodata)
    with open_scene(path, synth.BANDS, 10.0) as g:
        assert g.direct
        for win in [Window(0, 0, 96, 80), Window(10, 20, 32, 32), Window(64, 48, 32, 32)]:
            a, va = g.read(win)
            g.direct = False
            b, vb = g.read(win)
            g.direct = True
            np.testing.assert_array_equal(va, vb)
            np.testing.assert_array_equal(a, b)
        _, valid = g.read(Window(0, 0, 96, 80))
        assert not valid[:5, :7].any() and not valid[40, 40]
        assert valid.sum() == 96 * 80 - 5 * 7 - 1


def test_value_range_of_a_large_file_is_sampled_from_blocks(tmp_path, scene, monkeypatch):
    """A large file without overviews is sampled from a few whole blocks (a decimated read
    would decompress every block): the same offset decision as the decimated sample."""
    import rasterio

    from pipeline.detect import raster

    refl, transform, crs, _ = scene
    big = np.tile(refl, (1, 4, 4))  # 256 x 256
    for offset in (0, 1000):
        path = synth.write_geotiff(tmp_path / f"o{offset}.tif", big, transform, crs, offset=offset)
        with rasterio.open(path) as src:
            decimated = raster._sample(src, [1, 2, 3, 4])
            monkeypatch.setattr(raster, "SAMPLE_DECIMATED_MAX_PX", 100)
            monkeypatch.setattr(raster, "SAMPLE_MIN_VALID", 10)
            blocks = raster._sample(src, [1, 2, 3, 4])
            monkeypatch.undo()
            assert blocks.shape[0] == 4 and blocks.shape[1] >= 10
            expected = raster._detect_offset(src, [1, 2, 3, 4], path)
            assert expected == (float(offset), raster.DN_SCALE)
            monkeypatch.setattr(raster, "SAMPLE_DECIMATED_MAX_PX", 100)
            monkeypatch.setattr(raster, "SAMPLE_MIN_VALID", 10)
            assert raster._detect_offset(src, [1, 2, 3, 4], path) == expected
            monkeypatch.undo()
        assert abs(np.percentile(blocks[3], 50) - np.percentile(decimated[3], 50)) < 50


def test_block_sample_falls_back_when_the_blocks_are_nodata(tmp_path, scene, monkeypatch):
    import rasterio

    from pipeline.detect import raster

    refl, transform, crs, _ = scene
    dn = np.zeros((4, 1024, 1024), np.uint16)
    dn[:, 400:464, 400:464] = np.clip(refl * 10000, 1, 65535).astype(np.uint16)
    path = tmp_path / "sparse.tif"
    profile = {"driver": "GTiff", "width": 1024, "height": 1024, "count": 4, "dtype": "uint16"}
    profile |= {"crs": crs, "transform": transform, "nodata": 0, "tiled": True}
    with rasterio.open(path, "w", **profile, blockxsize=256, blockysize=256) as dst:
        dst.write(dn)
    monkeypatch.setattr(raster, "SAMPLE_BLOCKS", 2)  # the four corner blocks: all nodata
    with rasterio.open(path) as src:
        assert src.width * src.height > raster.SAMPLE_DECIMATED_MAX_PX / 4
        monkeypatch.setattr(raster, "SAMPLE_DECIMATED_MAX_PX", 100)
        assert raster._valid_pixels(raster._block_sample(src, [1, 2, 3, 4])).shape[1] == 0
        assert raster._sample(src, [1, 2, 3, 4]).shape[1] > 0


def test_block_cache_is_bounded_unless_the_user_set_it(tmp_path, scene, monkeypatch):
    from rasterio.env import get_gdal_config, set_gdal_config

    from pipeline.detect import raster

    refl, transform, crs, _ = scene
    path = synth.write_geotiff(tmp_path / "c.tif", refl, transform, crs)
    before = get_gdal_config("GDAL_CACHEMAX")
    monkeypatch.setattr(raster, "_cache_bytes", 0)
    try:
        with open_scene(path, synth.BANDS, 10.0) as g:
            monkeypatch.setenv("GDAL_CACHEMAX", "64")
            raster.bound_block_cache(g, 512)
            assert get_gdal_config("GDAL_CACHEMAX") == before  # the user's setting stands
            monkeypatch.delenv("GDAL_CACHEMAX")
            raster.bound_block_cache(g, 512)
            assert get_gdal_config("GDAL_CACHEMAX") == raster.BLOCK_CACHE_MIN_MIB << 20
            # a wide file needs more: one row of windows across it, at most the cap
            monkeypatch.setattr(g, "block_cache_bytes", lambda rows: 600 << 20)
            raster.bound_block_cache(g, 512)
            assert get_gdal_config("GDAL_CACHEMAX") == 600 << 20
            monkeypatch.setattr(g, "block_cache_bytes", lambda rows: 5000 << 20)
            raster.bound_block_cache(g, 512)
            assert get_gdal_config("GDAL_CACHEMAX") == raster.BLOCK_CACHE_MAX_MIB << 20
    finally:
        set_gdal_config("GDAL_CACHEMAX", before)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_pixels_are_nodata(tmp_path, scene, bad):
    refl, transform, crs, _ = scene
    r = refl.copy()
    r[:, :2, :2] = bad  # a corner of four pixels
    r[1, 10, 20] = bad  # one band of one pixel
    path = synth.write_geotiff(tmp_path / "f.tif", r, transform, crs, as_float=True)
    got, valid, _, _ = read_full(path, synth.BANDS, 10.0)
    assert np.isfinite(got).all()
    assert not valid[:2, :2].any() and not valid[10, 20]
    assert valid.sum() == 64 * 64 - 5
    np.testing.assert_allclose(got[:, valid], refl[:, valid], atol=2e-4)
    x = normalise(got, valid)
    assert np.isfinite(x).all() and (x[:, ~valid] == -1.0).all()


def test_normalise_takes_nan_as_nodata(scene):
    refl = scene[0].copy()
    refl[0, 3, 4] = np.nan
    x = normalise(refl)
    assert np.isfinite(x).all() and x[0, 3, 4] == -1.0
    np.testing.assert_array_equal(
        np.delete(x.ravel(), 3 * 64 + 4), np.delete(normalise(scene[0]).ravel(), 3 * 64 + 4)
    )


def test_a_huge_raster_is_refused_before_any_pixel_is_read(tmp_path, monkeypatch):
    from pipeline.detect import raster

    def no_reads(*a, **k):
        raise AssertionError("pixels read")

    monkeypatch.setattr(raster, "_sample", no_reads)
    big = synth.sparse_geotiff(tmp_path / "big.tif", 200000, 10.0)
    assert big.stat().st_size < 2 << 20
    with pytest.raises(TankerWatchError, match=r"big\.tif: too large: 200000 x 200000 px"):
        open_scene(big, synth.BANDS, 10.0)
    # 10 km at 5 cm: a small grid, but one warped block would read gigabytes of source
    fine = synth.sparse_geotiff(tmp_path / "fine.tif", 200000, 0.05)
    with pytest.raises(TankerWatchError, match=r"fine\.tif: pixels 200 times finer"):
        open_scene(fine, synth.BANDS, 10.0)


def test_a_png_named_tif_is_not_a_geotiff(tmp_path, recwarn):
    path = synth.png_as_tif(tmp_path / "photo.tif")
    with pytest.raises(TankerWatchError, match=r"photo\.tif: not a GeoTIFF \(a PNG file\)"):
        open_scene(path, synth.BANDS, 10.0)
    assert not [w for w in recwarn if "georeference" in str(w.message).lower()]


def test_sar_db_normalisation_converts_linear_sigma0_to_db_in_range():
    from pipeline.detect.raster import normalise_sar_db

    # linear sigma0 1.0 = 0 dB, 0.01 = -20 dB, 10 = +10 dB (the top), 1e-4 = -40 dB (below)
    sigma0 = np.array([[[1.0, 0.01, 10.0, 1e-4, 100.0]]], np.float32)
    x = normalise_sar_db(sigma0, db_min=-35.0, db_max=10.0)
    want = (np.array([0.0, -20.0, 10.0, -35.0, 10.0]) + 35.0) / 45.0 * 2.0 - 1.0
    np.testing.assert_allclose(x[0, 0], want, atol=1e-5)
    assert x.dtype == np.float32 and x.min() >= -1.0 and x.max() <= 1.0
    # another stated range moves the same dB values
    y = normalise_sar_db(sigma0, db_min=-30.0, db_max=0.0)
    np.testing.assert_allclose(y[0, 0, :3], [1.0, (10.0 / 30.0) * 2 - 1, 1.0], atol=1e-5)


def test_sar_db_normalisation_reads_nodata_as_minus_one():
    from pipeline.detect.raster import normalise_sar_db

    sigma0 = np.full((2, 2, 3), 0.05, np.float32)
    sigma0[0, 0, 0] = np.nan  # NaN in one band
    sigma0[1, 1, 1] = 0.0  # zero: no dB
    sigma0[0, 1, 2] = -0.2  # negative (a dB value where linear was expected): no dB
    valid = np.ones((2, 3), bool)
    valid[1, 2] = False
    x = normalise_sar_db(sigma0, valid)
    assert np.isfinite(x).all()
    assert x[0, 0, 0] == -1.0 and x[1, 1, 1] == -1.0 and x[0, 1, 2] == -1.0
    assert (x[:, 1, 2] == -1.0).all()  # invalid pixel: every band
    ok = (10 * np.log10(0.05) + 35.0) / 45.0 * 2.0 - 1.0
    assert x[1, 0, 0] == pytest.approx(ok, abs=1e-5)  # the other band of the NaN pixel is kept


def test_sar_db_normalisation_of_a_simulated_sentinel1_chip(tmp_path):
    """A simulated Sentinel-1 chip read as the detector reads it: linear sigma0 passes the reader
    unscaled, water sits low in the range, the brightest hull pixels high."""
    import rasterio

    from pipeline.detect.raster import normalise_sar_db
    from pipeline.simulate.chips import write_chips

    def water_of(chip):
        with rasterio.open(chip / "scl.tif") as src:
            return src.read(1) == 6  # SCL water

    chips = write_chips(tmp_path, 4, seed=7, size_px=64, sensor="sentinel-1-grd")
    chip = max(chips, key=lambda c: int(water_of(c).sum()))  # some chips are mostly land
    sigma0, valid, _, _ = read_full(chip / "scene.tif", ["VV", "VH"], 10.0)
    x = normalise_sar_db(sigma0, valid)
    assert x.shape == (2, 64, 64) and (x[:, ~valid] == -1.0).all()
    water = water_of(chip) & valid
    assert water.sum() > 100
    sea = np.median(x[0][water])
    assert -0.9 < sea < 0.0  # sea VV (about -15 to -25 dB) is below the middle (-12.5 dB)
    assert x[0][valid].max() > sea + 0.3  # bright returns stand out by > 6.75 dB


def test_radar_bands_are_read_as_they_are_without_sampling(tmp_path, scene, monkeypatch):
    """VV / VH are backscatter: no offset or DN scale, whatever their range, and the file is
    not sampled to decide it (optical bands still are)."""
    from pipeline.detect import raster

    refl, transform, crs, _ = scene
    sigma0 = np.abs(refl[:2]) * 40.0 + 6.0  # a range that would pass for DN if sampled
    path = synth.write_geotiff(
        tmp_path / "s1.tif", sigma0, transform, crs, bands=["VV", "VH"], as_float=True
    )
    calls = []
    real = raster._sample
    monkeypatch.setattr(raster, "_sample", lambda *a: calls.append(a) or real(*a))
    with open_scene(path, ["VV", "VH"], 10.0) as grid:
        assert (grid.offset, grid.scale) == (0.0, 1.0)
        got, valid = grid.read(Window(0, 0, grid.width, grid.height))
    assert not calls
    np.testing.assert_allclose(got[:, valid], sigma0.astype(np.float32)[:, valid], rtol=1e-6)
    optical = synth.write_geotiff(tmp_path / "s2.tif", refl, transform, crs)
    with open_scene(optical, synth.BANDS, 10.0):
        assert calls
