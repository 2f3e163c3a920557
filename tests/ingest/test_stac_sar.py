"""Sentinel-1 from a STAC API (Planetary Computer sentinel-1-rtc): the real pystac-client and
rasterio/GDAL against a loopback STAC API, SAS token endpoint and float32 COGs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio
from pydantic import ValidationError
from shapely.geometry import box, mapping

from ingest import data
from ingest.stacmock import SAS_TOKEN, TILE_PX, FakeStacApi, tile_grid, write_cog
from pipeline.config import load_ports
from pipeline.ingest.base import CredentialsError
from pipeline.ingest.core import ingest
from pipeline.ingest.grid import to_crs
from pipeline.ingest.settings import StacEndpoint, load_source_settings
from pipeline.ledger.store import Ledger

ASC = datetime(2024, 3, 4, 8, 52, 31, tzinfo=UTC)  # evening pass (local time), ascending
DESC = datetime(2024, 3, 9, 20, 31, 2, tzinfo=UTC)  # morning pass, descending
ENDPOINT = "planetary-computer-s1-rtc"
NODATA = -32768.0


def aoi_rows_cols(p, crs, x0, y1, res=10):
    minx, miny, maxx, maxy = to_crs(p.aoi_shape, crs).bounds
    return (
        int((y1 - maxy) / res),
        int((y1 - miny) / res) + 1,
        int((minx - x0) / res),
        int((maxx - x0) / res) + 1,
    )


def make_sar_cogs(root, p, seed=0, scale="linear", dtype="float32", nodata_left=0.25):
    """VV, VH gamma0 tiles (10 m, the port's UTM zone): speckled sea, brighter land to the
    north, NODATA over the western ``nodata_left`` share of the AOI."""
    rng = np.random.default_rng(seed)
    crs, x0, y1 = tile_grid(p)
    n = TILE_PX
    r0, r1, c0, c1 = aoi_rows_cols(p, crs, x0, y1)
    out = {}
    for pol, sea_db, land_db in (("vv", -18.0, -8.0), ("vh", -25.0, -15.0)):
        mean = np.full((n, n), 10 ** (sea_db / 10))
        mean[: r0 + (r1 - r0) // 4] = 10 ** (land_db / 10)
        arr = rng.gamma(4.4, mean / 4.4).astype(np.float64)  # 4.4 looks, as PC's items say
        if scale == "db":
            arr = 10 * np.log10(arr)
        if dtype == "uint16":  # amplitude DN of a GRD that was never calibrated
            arr = np.sqrt(arr) * 900
        arr = arr.astype(dtype)
        if nodata_left:
            arr[:, : c0 + int((c1 - c0) * nodata_left)] = 0 if dtype == "uint16" else NODATA
        nd = 0 if dtype == "uint16" else NODATA
        out[pol] = write_cog(root / f"{pol}_{scale}_{dtype}.tif", arr, crs, x0, y1, 10, nd)
    return out


def tile_geometry(p):
    crs, x0, y1 = tile_grid(p)
    return mapping(to_crs(box(x0, y1 - TILE_PX * 10, x0 + TILE_PX * 10, y1), "EPSG:4326", crs))


@pytest.fixture(scope="module")
def cogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("s1cogs")
    p = data.port()
    files = make_sar_cogs(root, p, seed=3)
    files |= {f"{k}_db": v for k, v in make_sar_cogs(root, p, seed=3, scale="db").items()}
    files |= {f"{k}_dn": v for k, v in make_sar_cogs(root, p, seed=3, dtype="uint16").items()}
    # an OPERA-style layover/shadow mask: 0 valid, 1 shadow, 2 layover; the northern 40 %
    crs, x0, y1 = tile_grid(p)
    r0, r1, _, _ = aoi_rows_cols(p, crs, x0, y1)
    mask = np.zeros((TILE_PX, TILE_PX), np.uint8)
    mask[: r0 + int((r1 - r0) * 0.4)] = 2
    files["mask"] = write_cog(root / "mask.tif", mask, crs, x0, y1, 10, 255)
    return files


def settings_for(api, **sar):
    s = load_source_settings()
    s.stac.endpoint = ENDPOINT
    ep = s.stac.endpoints[ENDPOINT]
    ep.url, ep.sas_url = api.url, api.sas_url
    for k, v in sar.items():
        setattr(ep, k, v)
    s.retry.max_attempts = 2
    s.retry.backoff_s = 0.01
    s.retry.timeout_s = 10
    return s


def run(api, tmp_path, settings=None, start="2024-03-01", end="2024-03-31"):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            start,
            end,
            "stac",
            led,
            tmp_path / "cache",
            settings=settings or settings_for(api),
        )
        return s, led.scenes(ports=["vostochny"]), led.observations(ports=["vostochny"])


@pytest.fixture
def pc(httpserver, cogs):
    api = FakeStacApi(httpserver, prefix="/pc", sas=True)
    urls = {k: api.add_file(f"{k}.tif", f) for k, f in cogs.items()}
    geom = tile_geometry(data.port())
    api.add_sar_item("S1A_IW_GRDH_1SDV_20240304T085231_rtc", ASC, geom, {
        "vv": urls["vv"], "vh": urls["vh"]})  # fmt: skip
    api.add_sar_item(
        "S1A_IW_GRDH_1SDV_20240309T203102_rtc",
        DESC,
        geom,
        {"vv": urls["vv"], "vh": urls["vh"]},
        **{"sat:orbit_state": "descending", "sat:relative_orbit": 119},
    )
    # an optical item in the same API: not a Sentinel-1 scene
    api.items.append({**api.items[0], "id": "S2B_53TPN", "collection": "sentinel-2-l2a"})
    api.urls = urls
    return api


def test_planetary_computer_rtc_ascending_and_descending(pc, tmp_path, cogs, caplog):
    caplog.set_level(logging.DEBUG)
    s, scenes, obs = run(pc, tmp_path)
    assert (s.found, s.added, s.skipped) == (2, 2, [])
    # no cloud filter for radar (its items have no eo:cloud_cover), only the RTC collection
    assert pc.searches and all("query" not in b or not b["query"] for b in pc.searches)
    assert {tuple(b["collections"]) for b in pc.searches} == {("sentinel-1-rtc",)}
    # one SAS token, for the collection, from the documented endpoint
    assert pc.token_paths == ["/pc/sas/token/sentinel-1-rtc"]
    secret = SAS_TOKEN.split("sig=")[1]
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes()
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert not any(secret in m for m in ours)

    asc, desc = scenes
    assert (asc.acquired, desc.acquired) == (ASC, DESC)
    assert asc.sensor == "sentinel-1-grd" and asc.bands == ["VV", "VH"]
    assert asc.gsd_m == pytest.approx(10, rel=0.01) and asc.crs == "EPSG:32653"
    assert asc.cloud_fraction == 0.0
    assert asc.valid_fraction == pytest.approx(0.75, abs=0.03)  # the western quarter: NODATA
    with rasterio.open(asc.path) as src, rasterio.open(cogs["vv"]) as full:
        assert src.dtypes == ("float32", "float32") and src.tags()["SAR_QUANTITY"] == "gamma0"
        vv = src.read(1)
        x, y = src.transform * (src.width - 5.5, 7.5)
        r, c = full.index(x, y)
        assert vv[7, src.width - 6] == full.read(1)[r, c]  # the catalogue's linear gamma0
        assert (vv[:, :3] == 0).all()  # NODATA is nodata 0 in the cache
    item = json.loads(open(asc.stac_path).read())
    props = item["properties"]
    assert props["tankerwatch:sar_quantity"] == "gamma0"
    assert props["tankerwatch:sar_quantity_from"] == "catalogue (sentinel-1-rtc)"
    assert (props["tankerwatch:sar_scale"], props["tankerwatch:sar_scale_source"]) == (
        "linear",
        "linear",
    )
    assert props["sat:orbit_state"] == "ascending" and props["sat:relative_orbit"] == 46
    assert props["sar:polarizations"] == ["VV", "VH"] and props["s1:orbit_source"] == "RESORB"
    assert props["tankerwatch:cloud_mask"] == "sar" and props["eo:cloud_cover"] == 0
    assert "https://stac-extensions.github.io/sar/v1.0.0/schema.json" in item["stac_extensions"]
    d = json.loads(open(desc.stac_path).read())["properties"]
    assert (d["sat:orbit_state"], d["sat:relative_orbit"]) == ("descending", 119)
    # radar sees through cloud: every berth inside the data is clear
    assert {o.state for o in obs if o.scene_id == desc.id} <= {"clear", "obscured"}
    assert any(o.state == "clear" for o in obs if o.scene_id == desc.id)

    again, _, _ = run(pc, tmp_path)
    assert (again.added, again.downloaded, again.known) == (0, 0, 2)


def test_nodata_declared_only_in_the_cog_is_not_data(httpserver, tmp_path, cogs):
    """Items whose raster:bands do not give the nodata value: the COG's own (-32768) is used."""
    api = FakeStacApi(httpserver, prefix="/nd", sas=True)
    urls = {k: api.add_file(f"{k}.tif", cogs[k]) for k in ("vv", "vh")}
    api.add_sar_item("S1A_nd", ASC, tile_geometry(data.port()), urls)
    for asset in api.items[0]["assets"].values():
        asset["raster:bands"] = [{"data_type": "float32"}]
    s, scenes, _ = run(api, tmp_path)
    assert s.added == 1 and scenes[0].valid_fraction == pytest.approx(0.75, abs=0.03)
    with rasterio.open(scenes[0].path) as src:
        assert src.read(1).min() >= 0


def test_a_subscription_key_goes_to_the_token_endpoint(pc, tmp_path, monkeypatch, caplog):
    pc.require_key = "pc-subscription-key-1234"
    monkeypatch.delenv("PC_SDK_SUBSCRIPTION_KEY", raising=False)
    with pytest.raises(CredentialsError) as err:
        run(pc, tmp_path)
    assert "/pc/sas/token/sentinel-1-rtc" in str(err.value)
    assert "PC_SDK_SUBSCRIPTION_KEY" in str(err.value)

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "pc-subscription-key-1234")
    s, scenes, _ = run(pc, tmp_path)
    assert s.added == 2
    assert pc.token_headers[-1]["Ocp-Apim-Subscription-Key"] == "pc-subscription-key-1234"
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert not any("pc-subscription-key-1234" in m for m in ours)
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert b"pc-subscription-key-1234" not in f.read_bytes()


def test_db_pixels_are_detected_and_cached_linear(httpserver, tmp_path, cogs):
    api = FakeStacApi(httpserver, prefix="/db", sas=True)
    urls = {k: api.add_file(f"{k}.tif", cogs[f"{k}_db"]) for k in ("vv", "vh")}
    api.add_sar_item("S1A_db", ASC, tile_geometry(data.port()), urls)
    s, scenes, _ = run(api, tmp_path, settings_for(api, sar_scale=None))
    assert s.added == 1
    props = json.loads(open(scenes[0].stac_path).read())["properties"]
    assert props["tankerwatch:sar_scale_source"] == "db"
    assert props["tankerwatch:sar_scale_detected"] is True
    with rasterio.open(scenes[0].path) as src, rasterio.open(cogs["vv_db"]) as full:
        vv = src.read(1)
        x, y = src.transform * (src.width - 5.5, 7.5)
        r, c = full.index(x, y)
        db = float(full.read(1)[r, c])
    assert vv[7, src.width - 6] == pytest.approx(10 ** (db / 10), rel=1e-5)

    # declared linear, but the values are dB: refused, naming both
    s, _, _ = run(api, tmp_path / "again", settings_for(api, sar_scale="linear"))
    assert s.added == 0 and "declared linear" in s.skipped[0][1]
    assert "look db" in s.skipped[0][1]


def test_uncalibrated_dn_assets_are_refused(httpserver, tmp_path, cogs):
    api = FakeStacApi(httpserver, prefix="/dn", sas=True)
    urls = {k: api.add_file(f"{k}.tif", cogs[f"{k}_dn"]) for k in ("vv", "vh")}
    api.add_sar_item("S1A_dn", ASC, tile_geometry(data.port()), urls)
    s, scenes, _ = run(api, tmp_path)
    assert s.added == 0 and scenes == []
    (reason,) = [r for _, r in s.skipped]
    assert reason.startswith("STAC item S1A_dn: asset vv holds uint16 pixels")
    assert "uncalibrated DN" in reason


def test_vv_only_item_refused_unless_single_pol_allowed(httpserver, tmp_path, cogs):
    api = FakeStacApi(httpserver, prefix="/sv", sas=True)
    api.add_sar_item(
        "S1A_IW_GRDH_1SSV",
        ASC,
        tile_geometry(data.port()),
        {"vv": api.add_file("vv.tif", cogs["vv"])},
    )
    s, _, _ = run(api, tmp_path)
    assert s.added == 0 and "VV only (single-pol)" in s.skipped[0][1]
    assert sum(api.bytes_served.values()) == 0  # refused before any pixel was read

    st = settings_for(api)
    st.sar.allow_single_pol = True
    s, scenes, _ = run(api, tmp_path / "allowed", st)
    assert s.added == 1 and scenes[0].bands == ["VV"]
    props = json.loads(open(scenes[0].stac_path).read())["properties"]
    assert props["sar:polarizations"] == ["VV"]


def test_layover_shadow_mask_asset_obscures_berths(httpserver, tmp_path, cogs):
    api = FakeStacApi(httpserver, prefix="/ls", sas=True)
    urls = {k: api.add_file(f"{k}.tif", cogs[k]) for k in ("vv", "vh", "mask")}
    api.add_sar_item("S1A_ls", ASC, tile_geometry(data.port()), urls)
    st = settings_for(api)
    st.stac.endpoints[ENDPOINT].assets["MASK"] = "mask"
    s, scenes, obs = run(api, tmp_path, st)
    assert s.added == 1
    states = {o.berth: o.state for o in obs}
    assert states["general-1"] == "obscured"  # the northern 40 %: layover
    props = json.loads(open(scenes[0].stac_path).read())["properties"]
    assert props["tankerwatch:layover_shadow_mask"] is True
    assert props["tankerwatch:layover_shadow_fraction"] > 0.3


def test_uncalibrated_grd_catalogues_are_refused_in_the_settings():
    for collection in ("sentinel-1-grd",):
        with pytest.raises(ValidationError, match="amplitude DN in radar geometry"):
            StacEndpoint(
                url="https://earth-search.aws.element84.com/v1",
                collection=collection,
                kind="sar",
                sar_quantity="sigma0",
                assets={"VV": "vv", "VH": "vh"},
            )
    with pytest.raises(ValidationError, match="sar_quantity"):
        StacEndpoint(url="http://x", collection="s1", kind="sar", assets={"VV": "vv"})
