"""Bad Sentinel-1 input through `tankerwatch ingest` (the real entry point, real files): one
line naming the file and what is wrong, exit code 2; good input beside it still goes in."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rasterio.transform import from_origin

from ingest import data
from ingest.test_commands import base, one_line_error

WHEN = {"ACQUIRED": "2024-06-03T21:10:05Z"}


def ingest_folder(cli, tmp_path, folder, *extra):
    return cli(
        *base(tmp_path, "--start", "2024-06-01", "--end", "2024-06-30"),
        "--source",
        "local",
        "--path",
        str(folder),
        *extra,
    )


def one_file(tmp_path, name, arr, crs, tr, bands, nodata=None, tags=WHEN):
    folder = tmp_path / name.split(".")[0]
    data.write_tif(folder / name, arr, crs, tr, bands, nodata=nodata, tags=tags)
    return folder


@pytest.fixture
def sar():
    return data.sar_arrays(data.port(), seed=5)


def test_uncalibrated_dn_is_one_line(cli, tmp_path, sar):
    arr, crs, tr = sar
    dn = (np.sqrt(arr) * 900).astype(np.uint16)  # GRD amplitude DN: hundreds to thousands
    folder = one_file(tmp_path, "grd_dn.tif", dn, crs, tr, ["VV", "VH"], nodata=0)
    line = one_line_error(
        ingest_folder(cli, tmp_path, folder),
        "grd_dn.tif",
        "not calibrated backscatter (uint16 pixels)",
        "uncalibrated DN",
    )
    assert "median" in line


def test_vv_only_is_refused_unless_allowed(cli, tmp_path, sar, repo):
    arr, crs, tr = sar
    folder = one_file(tmp_path, "vv_only.tif", arr[:1], crs, tr, ["VV"])
    one_line_error(
        ingest_folder(cli, tmp_path, folder), "vv_only.tif", "VV only (single-pol), no VH band"
    )
    doc = yaml.safe_load((repo / "configs/sources/default.yaml").read_text())
    doc["sar"]["allow_single_pol"] = True
    settings = tmp_path / "single-pol.yaml"
    settings.write_text(yaml.safe_dump(doc))
    res = ingest_folder(cli, tmp_path / "again", folder, "--settings", str(settings))
    assert res.returncode == 0 and "1 added" in res.stdout, res.stderr


def test_all_zero_is_one_line(cli, tmp_path, sar):
    arr, crs, tr = sar
    folder = one_file(tmp_path, "zeros.tif", np.zeros_like(arr), crs, tr, ["VV", "VH"])
    one_line_error(ingest_folder(cli, tmp_path, folder), "zeros.tif", "all-zero image")


def test_no_crs_is_one_line(cli, tmp_path, sar):
    arr, _, tr = sar
    folder = one_file(tmp_path, "nocrs.tif", arr, None, tr, ["VV", "VH"])
    one_line_error(ingest_folder(cli, tmp_path, folder), "nocrs.tif", "GeoTIFF has no CRS")


def test_crs_of_another_zone_is_one_line(cli, tmp_path, sar):
    """UTM zone 52 declared for coordinates of zone 53: the file lands ~500 km west."""
    arr, _, tr = sar
    folder = one_file(tmp_path, "zone52.tif", arr, "EPSG:32652", tr, ["VV", "VH"])
    one_line_error(
        ingest_folder(cli, tmp_path, folder),
        "zone52.tif",
        "by its CRS EPSG:32652, outside their AOI",
        "wrong CRS?",
    )


def test_degrees_declared_for_metres_is_one_line(cli, tmp_path, sar):
    arr, _, tr = sar
    folder = one_file(tmp_path, "deg.tif", arr, "EPSG:4326", tr, ["VV", "VH"])
    one_line_error(
        ingest_folder(cli, tmp_path, folder),
        "deg.tif",
        "coordinates do not fit its CRS EPSG:4326",
    )


def test_declared_scale_contradicted_by_values_is_one_line(cli, tmp_path, sar):
    arr, crs, tr = sar
    tags = {**WHEN, "SAR_QUANTITY": "sigma0", "SAR_SCALE": "db"}
    folder = one_file(tmp_path, "says_db.tif", arr, crs, tr, ["VV", "VH"], tags=tags)
    one_line_error(
        ingest_folder(cli, tmp_path, folder),
        "says_db.tif",
        "declared db (tag SAR_SCALE) but the VV values look linear",
    )


def test_a_bad_file_beside_a_good_one_is_skipped_not_fatal(cli, tmp_path, sar):
    arr, crs, tr = sar
    folder = tmp_path / "mixed"
    data.write_tif(folder / "good.tif", arr, crs, tr, ["VV", "VH"], tags=WHEN)
    dn = (np.sqrt(arr) * 900).astype(np.uint16)
    data.write_tif(folder / "dn.tif", dn, crs, tr, ["VV", "VH"], nodata=0, tags=WHEN)
    res = ingest_folder(cli, tmp_path, folder)
    assert res.returncode == 0, res.stderr
    assert "1 added" in res.stdout and "1 skipped" in res.stdout
    assert "dn.tif" in res.stdout and "uncalibrated DN" in res.stdout


def test_uncalibrated_grd_catalogue_in_settings_is_one_line(cli, tmp_path, repo):
    doc = yaml.safe_load((repo / "configs/sources/default.yaml").read_text())
    doc["stac"]["endpoints"]["earth-search-s1"] = {
        "url": "https://earth-search.aws.element84.com/v1",
        "collection": "sentinel-1-grd",
        "kind": "sar",
        "sar_quantity": "sigma0",
        "assets": {"VV": "vv", "VH": "vh"},
    }
    doc["stac"]["endpoint"] = "earth-search-s1"
    settings = tmp_path / "es-s1.yaml"
    settings.write_text(yaml.safe_dump(doc))
    one_line_error(
        cli(
            *base(tmp_path, "--start", "2024-06-01", "--end", "2024-06-30"),
            "--source",
            "stac",
            "--settings",
            str(settings),
        ),
        "es-s1.yaml",
        "sentinel-1-grd",
        "amplitude DN in radar geometry",
    )


def test_far_away_grid_still_only_says_where(cli, tmp_path, sar):
    """A correctly declared file of another place: the same one line (it is not this port's)."""
    arr, _, _ = sar
    folder = one_file(
        tmp_path, "baltic.tif", arr, "EPSG:32633", from_origin(500000, 6000000, 10, 10), ["VV"]
    )
    one_line_error(ingest_folder(cli, tmp_path, folder), "baltic.tif", "lon 15.")
