"""STAC source: the real pystac-client and rasterio/GDAL against a loopback STAC API + COGs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
import rasterio
from shapely.geometry import box, mapping

from ingest import data
from ingest.stacmock import (
    ASSETS_ES,
    EARTH_SEARCH_L2A,
    SAS_TOKEN,
    TILE_PX,
    FakeStacApi,
    cut_short,
    make_band_cogs,
    make_scl_cog,
    slow_down,
    tile_grid,
)
from pipeline.config import load_ports
from pipeline.errors import TankerWatchError
from pipeline.ingest.base import CredentialsError
from pipeline.ingest.core import ingest
from pipeline.ingest.grid import to_crs
from pipeline.ingest.settings import StacEndpoint, load_source_settings
from pipeline.ledger.store import Ledger

T1 = datetime(2024, 3, 3, 1, 52, 10, tzinfo=UTC)
T2 = datetime(2024, 3, 13, 1, 52, 10, tzinfo=UTC)
T3 = datetime(2024, 3, 23, 1, 52, 10, tzinfo=UTC)
T4 = datetime(2024, 4, 2, 1, 52, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def cogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cogs")
    p = data.port()
    files = make_band_cogs(root, p, seed=7)
    files["SCL_clear"] = make_scl_cog(root / "scl_clear.tif", p)
    files["SCL_cloudy"] = make_scl_cog(root / "scl_cloudy.tif", p, cloud_rows_share=0.95)
    files["SCL_half"] = make_scl_cog(root / "scl_half.tif", p, cloud_rows_share=0.5)
    return files


def tile_geometry(p, crs=None):
    crs, x0, y1 = tile_grid(p, crs)
    return mapping(to_crs(box(x0, y1 - TILE_PX * 10, x0 + TILE_PX * 10, y1), "EPSG:4326", crs))


def populate(api: FakeStacApi, cogs, p, keys=ASSETS_ES):
    urls = {b: api.add_file(f"{b}.tif", cogs[b]) for b in ("B02", "B03", "B04", "B08", "B11")}
    scl = {k: api.add_file(f"{k}.tif", cogs[k]) for k in ("SCL_clear", "SCL_cloudy", "SCL_half")}
    geom = tile_geometry(p)
    for when, scl_key, item_id in (
        (T1, "SCL_clear", "S2A_53TPN_20240303"),
        (T2, "SCL_half", "S2B_53TPN_20240313"),
        (T3, "SCL_cloudy", "S2A_53TPN_20240323"),
        (T4, "SCL_clear", "S2B_53TPN_20240402"),
    ):
        assets = {keys[b]: urls[b] for b in urls} | {keys["SCL"]: scl[scl_key]}
        api.add_item(item_id, when, geom, assets)
    # a second tile of the T2 pass that only grazes the AOI: the full tile must be chosen
    corner = box(*p.aoi_shape.bounds).centroid.buffer(0.001).envelope
    api.add_item("S2B_53TPP_20240313", T2.replace(second=14), mapping(corner), {})


def settings_for(api: FakeStacApi, endpoint="earth-search"):
    s = load_source_settings()
    s.stac.endpoint = endpoint
    ep = s.stac.endpoints[endpoint]
    ep.url = api.url
    if ep.signing == "planetary-computer":
        ep.sas_url = api.sas_url
    s.retry.max_attempts = 3
    s.retry.backoff_s = 0.01
    s.retry.timeout_s = 10
    return s


@pytest.fixture
def api(httpserver, cogs):
    fake = FakeStacApi(httpserver)
    populate(fake, cogs, data.port())
    return fake


def run(api, tmp_path, start="2024-03-01", end="2024-03-31", endpoint="earth-search"):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            start,
            end,
            "stac",
            led,
            tmp_path / "cache",
            settings=settings_for(api, endpoint),
        )
        return s, led.scenes(ports=["vostochny"]), led.observations(ports=["vostochny"])


def test_search_and_windowed_cog_reads(api, tmp_path, cogs):
    s, scenes, obs = run(api, tmp_path)
    assert (s.found, s.added, len(s.skipped)) == (3, 2, 1)
    assert "min_clear_fraction" in s.skipped[0][1]
    assert [sc.acquired for sc in scenes] == [T1, T2]
    assert api.calls["search"] == 2  # paginated through the 'next' link
    # only the AOI's blocks were fetched: far less than the whole tiles
    for band in ("B02", "B11"):
        served = api.bytes_served[f"/stac/cogs/{band}.tif"]
        size = cogs[band].stat().st_size
        assert 0 < served / s.downloaded < 0.15 * size, (band, served, size)
    sc = scenes[0]
    assert sc.bands == ["B02", "B03", "B04", "B08", "B11"] and sc.gsd_m == pytest.approx(10, 0.01)
    with rasterio.open(sc.path) as src, rasterio.open(sc.path.replace("scene", "scl")) as m:
        assert src.crs.to_epsg() == 32653 and src.res == (10.0, 10.0)
        assert m.transform == src.transform and m.shape == src.shape  # SCL on the 10 m grid
        # pixels equal the source COG's pixels at the same place (no resampling at 10 m)
        with rasterio.open(cogs["B02"]) as full:
            x, y = src.transform * (5.5, 7.5)
            r, c = full.index(x, y)
            assert src.read(1)[7, 5] == full.read(1)[r, c]
    # T2: bottom half of the AOI is cloud -> berths there obscured, above clear
    t2 = {o.berth: o.state for o in obs if o.scene_id == scenes[1].id}
    assert t2 == {"oil-1": "obscured", "coal-1": "obscured", "general-1": "clear"}
    assert scenes[1].cloud_fraction == pytest.approx(0.5, abs=0.05)
    item = json.loads(open(sc.stac_path).read())
    assert item["properties"]["tankerwatch:stac_item"] == "S2A_53TPN_20240303"


def test_second_run_reads_nothing_longer_period_only_new(api, tmp_path):
    run(api, tmp_path)
    before = sum(api.bytes_served.values())
    again, _, _ = run(api, tmp_path)
    assert (again.added, again.downloaded) == (0, 0)
    assert sum(api.bytes_served.values()) == before
    longer, scenes, _ = run(api, tmp_path, end="2024-04-30")
    assert (longer.added, longer.downloaded) == (1, 1) and len(scenes) == 3


def test_search_retries_429_and_500(api, tmp_path):
    api.fail["search"] += [429, 500]
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 1 and api.calls["search"] == 3


def test_search_timeout_is_retried(api, tmp_path):
    api.fail["search"] += [1.5]  # the first answer comes after the 0.5 s timeout
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        st = settings_for(api)
        st.retry.timeout_s = 0.5
        s = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-05", "stac", led, tmp_path, settings=st
        )
    # the test server answers one request at a time, so a retry sent while it still sleeps
    # can time out as well
    assert s.added == 1 and api.calls["search"] in (2, 3)


def test_cog_500_then_success_and_cut_short_range(api, tmp_path):
    api.fail["/stac/cogs/B04.tif"] += [500]
    api.fail["/stac/cogs/B08.tif"] += [cut_short()]
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert (s.added, s.skipped) == (1, [])
    with rasterio.open(scenes[0].path) as src:
        assert src.read(3).min() > 0 and src.read(4).min() > 0


def test_cog_always_failing_is_a_transient_skip(api, tmp_path):
    api.fail["/stac/cogs/B03.tif"] += [503] * 50
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 0 and len(s.skipped) == 1 and "B03" in s.skipped[0][1]
    assert not list((tmp_path / "cache").rglob("*.tif"))
    api.fail["/stac/cogs/B03.tif"].clear()
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 1


def test_cog_retry_waits_as_long_as_retry_after_says(api, tmp_path, caplog):
    """GDAL's own retries ignore Retry-After (GDAL 3.10): the wait asked for is honoured."""
    caplog.set_level(logging.INFO, logger="pipeline")
    api.rate_limit("/stac/cogs/B04.tif", seconds=1)  # 503 SlowDown, Retry-After: 1
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")  # backoff_s is 0.01: 3 tries in 0.03 s
    assert (s.added, s.skipped) == (1, [])
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert waits and "B04" in waits[0] and "HTTP 503" in waits[0]
    assert waits[0].endswith("retrying in 1.0 s")


def test_cog_failing_for_good_is_one_line_with_url_and_status(api, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    api.fail["/stac/cogs/B03.tif"] += [slow_down(503, retry_after=None) for _ in range(50)]
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 0 and len(s.skipped) == 1
    reason = s.skipped[0][1]
    assert f"{api.url}/cogs/B03.tif: HTTP 503" in reason and "\n" not in reason
    assert "not recognized" not in reason and "Read failed" not in reason
    # GDAL's warning per retry and per block stays in the debug log, out of the console
    assert [r.getMessage() for r in caplog.records if r.name.startswith("rasterio")] == []


def test_cog_tiles_failing_for_good_name_url_and_status(api, tmp_path, caplog):
    """The header reads fine, every tile read gets 503: GDAL says only "Read failed. See
    previous exception for details."; the skip names the URL and the status."""
    caplog.set_level(logging.WARNING)
    api.fail_tiles["/stac/cogs/B02.tif"] += [slow_down(503, retry_after=None) for _ in range(50)]
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 0 and len(s.skipped) == 1
    reason = s.skipped[0][1]
    assert f"{api.url}/cogs/B02.tif: HTTP 503" in reason and "Read failed" not in reason
    assert [r.getMessage() for r in caplog.records if r.name.startswith("rasterio")] == []


def test_missing_cog_is_not_retried(api, tmp_path):
    api.files.pop("/stac/cogs/B08.tif")
    s, scenes, _ = run(api, tmp_path, end="2024-03-05")
    assert s.added == 0 and "B08.tif: HTTP 404" in s.skipped[0][1]
    assert "attempts" not in s.skipped[0][1]


# Items as the real catalogues describe them, over COGs whose pixels do or do not hold the
# +1000 DN offset of processing baseline 04.00+. The cache must hold the same harmonised DN
# (reflectance x 10000, as Sentinel Hub returns them) in every case.
S2_CASES = {
    # Earth Search sentinel-2-l2a, offset already removed (raster:bands still say -0.1)
    "earth-search-applied": ("sentinel-2-l2a", EARTH_SEARCH_L2A, None, 0),
    # ... and an item whose COGs still hold it
    "earth-search-not-applied": (
        "sentinel-2-l2a",
        {"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": False},
        None,
        1000,
    ),
    # Earth Search sentinel-2-c1-l2a: raw DN, scale and offset in raster:bands, no flag
    "earth-search-c1": ("sentinel-2-c1-l2a", {"s2:processing_baseline": "05.11"}, None, 1000),
    # Planetary Computer style: raw DN of baseline 04.00+, no raster:bands scale or offset
    "baseline-only": ("sentinel-2-l2a", {"s2:processing_baseline": "04.00"}, {}, 1000),
    # before baseline 04.00 there is no offset, whatever raster:bands advertise
    "before-04.00": (
        "sentinel-2-l2a",
        {"s2:processing_baseline": "03.01", "earthsearch:boa_offset_applied": False},
        None,
        0,
    ),
}


@pytest.mark.parametrize("case", sorted(S2_CASES))
def test_processing_baseline_offset_is_harmonised(httpserver, tmp_path, case, cogs):
    collection, props, scale_offset, add = S2_CASES[case]
    p = data.port()
    files = make_band_cogs(tmp_path / "cogs", p, seed=7, add=add)  # seed of `cogs`: same field
    api = FakeStacApi(httpserver, prefix="/h")
    urls = {b: api.add_file(f"{b}.tif", f) for b, f in files.items()}
    urls["SCL"] = api.add_file("scl.tif", cogs["SCL_clear"])
    api.add_item(
        "S2A_53TPN_20240303",
        T1,
        tile_geometry(p),
        {ASSETS_ES[b]: u for b, u in urls.items()},
        collection=collection,
        properties=props,
        scale_offset=scale_offset,
    )
    st = settings_for(api)
    st.stac.endpoints["earth-search"].collection = collection
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-05", "stac", led, tmp_path, settings=st
        )
        sc = led.scenes(ports=["vostochny"])[0]
    assert s.added == 1
    with rasterio.open(sc.path) as src, rasterio.open(cogs["B02"]) as truth:
        x, y = src.transform * (5.5, 7.5)
        r, c = truth.index(x, y)
        assert src.read(1)[7, 5] == truth.read(1)[r, c]  # the offset-free field of `cogs`
        assert src.tags()["BOA_ADD_OFFSET"] == "0"  # the detector need not guess
    item = json.loads(open(sc.stac_path).read())["properties"]
    assert item["tankerwatch:dn"] == "harmonised"
    assert item["tankerwatch:boa_offset_removed_dn"] == {
        b: float(add) for b in ("B02", "B03", "B04", "B08", "B11")
    }
    assert item["s2:processing_baseline"] == props["s2:processing_baseline"]


def test_harmonising_keeps_dark_pixels_as_data():
    import numpy as np

    from pipeline.ingest.stac import harmonise

    raw = np.array([0, 900, 1000, 1001, 2500], dtype=np.uint16)
    assert harmonise(raw, 0.0001, -0.1).tolist() == [0, 1, 1, 1, 1500]
    assert harmonise(raw, 0.0001, 0.0).tolist() == raw.tolist()


def test_search_failing_for_good_is_one_line(api, tmp_path):
    api.fail["search"] += [500] * 10
    with pytest.raises(TankerWatchError) as err:
        run(api, tmp_path)
    assert "/search" in str(err.value) and "\n" not in str(err.value)


def test_no_items_is_an_error(api, tmp_path):
    with pytest.raises(TankerWatchError, match="no stac scenes of vostochny"):
        run(api, tmp_path, start="2023-01-01", end="2023-01-31")


@pytest.fixture
def pc_api(httpserver, cogs):
    fake = FakeStacApi(httpserver, prefix="/pc", sas=True)
    populate(fake, cogs, data.port(), keys={b: b for b in ASSETS_ES})
    return fake


def test_planetary_computer_signed_reads(pc_api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    s, scenes, _ = run(pc_api, tmp_path, endpoint="planetary-computer")
    assert s.added == 2 and pc_api.calls["sas"] == 1  # one token, cached until it expires
    secret = SAS_TOKEN.split("sig=")[1]
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes()
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert ours and not any(secret in m for m in ours)  # (the test server's own log has it)
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        assert all(secret not in r["reason"] for r in led.skips())


def test_planetary_computer_failed_reads_keep_the_token_out_of_logs(pc_api, tmp_path, caplog):
    """A failed signed read is probed and retried: neither GDAL's messages nor the probe's
    request line may show the SAS token, even at debug level."""
    caplog.set_level(logging.DEBUG)
    pc_api.fail["/pc/cogs/B04.tif"] += [500] * 20
    s, scenes, _ = run(pc_api, tmp_path, end="2024-03-05", endpoint="planetary-computer")
    assert s.added == 0 and "/pc/cogs/B04.tif: HTTP 500" in s.skipped[0][1]
    secret = SAS_TOKEN.split("sig=")[1]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("GDAL" in m for m in ours) and not any(secret in m for m in ours)
    assert secret not in s.skipped[0][1]


def test_planetary_computer_refused_token(pc_api, tmp_path):
    pc_api.fail["sas"] += [403]
    with pytest.raises(CredentialsError) as err:
        run(pc_api, tmp_path, endpoint="planetary-computer")
    assert "/pc/sas/token/sentinel-2-l2a" in str(err.value)


def test_unsigned_read_of_signed_endpoint_is_refused(pc_api, tmp_path):
    s = settings_for(pc_api, "planetary-computer")
    ep = s.stac.endpoints["planetary-computer"]
    s.stac.endpoints["planetary-computer"] = StacEndpoint(
        url=ep.url, collection=ep.collection, assets=ep.assets, signing="none"
    )
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        with pytest.raises(CredentialsError, match="access refused"):
            ingest(
                load_ports("vostochny"),
                "2024-03-01",
                "2024-03-05",
                "stac",
                led,
                tmp_path,
                settings=s,
            )


def test_tile_in_another_utm_zone_is_warped_onto_the_port_grid(httpserver, tmp_path):
    """Near a zone edge the tile's UTM zone differs from the port's: read through a WarpedVRT,
    still only the AOI's blocks."""
    p = data.port()
    other = "EPSG:32654"
    files = make_band_cogs(tmp_path / "cogs", p, seed=3, crs=other)
    files["SCL"] = make_scl_cog(tmp_path / "cogs" / "scl.tif", p, crs=other)
    api = FakeStacApi(httpserver, prefix="/z54")
    urls = {b: api.add_file(f"{b}.tif", f) for b, f in files.items()}
    api.add_item(
        "S2A_54TVH_20240303",
        T1,
        tile_geometry(p, other),
        {ASSETS_ES[b]: u for b, u in urls.items()},
    )
    s, scenes, obs = run(api, tmp_path, end="2024-03-05")
    assert s.added == 1 and scenes[0].crs == "EPSG:32653"
    assert scenes[0].valid_fraction == pytest.approx(1.0)
    assert {o.state for o in obs} == {"clear"}
    served = api.bytes_served["/z54/cogs/B02.tif"]
    assert 0 < served < 0.2 * files["B02"].stat().st_size
