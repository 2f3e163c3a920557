"""Sentinel Hub source: the real sentinelhub-py against a loopback token/Catalog/Process server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio

from ingest.shmock import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeSentinelHub,
    rate_limited,
    short_tiff,
    truncated,
)
from pipeline.config import load_ports
from pipeline.errors import TankerWatchError
from pipeline.ingest.base import CredentialsError
from pipeline.ingest.core import ingest
from pipeline.ingest.settings import load_source_settings
from pipeline.ledger.store import Ledger

T1 = datetime(2024, 3, 3, 1, 52, 10, tzinfo=UTC)
T2 = datetime(2024, 3, 13, 1, 52, 10, tzinfo=UTC)
T3 = datetime(2024, 3, 23, 1, 52, 10, tzinfo=UTC)
T4 = datetime(2024, 4, 2, 1, 52, 10, tzinfo=UTC)
S1 = datetime(2024, 3, 8, 21, 10, 5, tzinfo=UTC)


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", CLIENT_SECRET)


def settings_for(fake, collections=("sentinel-2-l2a",)):
    s = load_source_settings()
    s.sentinelhub.base_url = fake.base_url
    s.sentinelhub.token_url = fake.token_url
    s.sentinelhub.collections = list(collections)
    s.retry.max_attempts = 3
    s.retry.backoff_s = 0.01
    s.retry.timeout_s = 5
    return s


@pytest.fixture
def fake(httpserver, monkeypatch):
    # the loopback server speaks plain HTTP; oauthlib refuses that unless told (real: https)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return FakeSentinelHub(
        httpserver,
        {"sentinel-2-l2a": [T1, T2, T3, T4], "sentinel-1-grd": [S1]},
        clouds={T3: 0.97},
    )


def run(fake, tmp_path, start="2024-03-01", end="2024-03-31", **kw):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            start,
            end,
            "sentinelhub",
            led,
            tmp_path / "cache",
            settings=settings_for(fake, **kw),
        )
        return s, led.scenes(ports=["vostochny"]), led.observations(ports=["vostochny"])


def test_catalog_then_process_fills_catalogue(fake, tmp_path, creds, caplog):
    caplog.set_level(logging.DEBUG)
    s, scenes, obs = run(fake, tmp_path)
    assert (s.found, s.added, s.downloaded) == (3, 2, 3)
    assert "min_clear_fraction" in s.skipped[0][1]  # T3 is 97 % cloud over the AOI
    assert [sc.acquired for sc in scenes] == [T1, T2]
    assert fake.calls["token"] == 1 and fake.calls["process"] == 3
    assert fake.calls["search"] == 2  # paginated with the 'next' token
    # Process API request: the port's UTM grid at 10 m, the five bands + SCL + dataMask
    body = fake.bodies[0]
    assert body["input"]["bounds"]["properties"]["crs"].endswith("/32653")
    assert "SCL" in body["evalscript"] and "dataMask" in body["evalscript"]
    sc = scenes[0]
    assert sc.sensor == "sentinel-2-l2a" and sc.bands == ["B02", "B03", "B04", "B08", "B11"]
    with rasterio.open(sc.path) as src:
        assert src.crs.to_epsg() == 32653 and src.res == (10.0, 10.0)
        assert src.descriptions == ("B02", "B03", "B04", "B08", "B11")
        w, h = body["output"]["width"], body["output"]["height"]
        assert (src.width, src.height) == (w, h)
    assert {o.state for o in obs} == {"clear"} and len(obs) == 6
    # credentials never appear in logs or cached files
    assert CLIENT_SECRET not in caplog.text
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert CLIENT_SECRET.encode() not in f.read_bytes()


def test_second_run_downloads_nothing_longer_period_only_new(fake, tmp_path, creds):
    run(fake, tmp_path)
    assert fake.calls["process"] == 3
    again, scenes, _ = run(fake, tmp_path)
    assert (again.added, again.downloaded, again.known) == (0, 0, 3)
    assert fake.calls["process"] == 3  # the cloudy scene is remembered too
    longer, scenes, _ = run(fake, tmp_path, end="2024-04-30")
    assert (longer.added, longer.downloaded) == (1, 1) and fake.calls["process"] == 4
    assert len(scenes) == 3


def test_retries_429_and_500_then_succeeds(fake, tmp_path, creds):
    fake.fail["process"] += [500, 429]
    fake.fail["search"] += [503]
    fake.fail["token"] += [502]
    s, scenes, _ = run(fake, tmp_path, end="2024-03-05")
    assert (s.added, s.skipped) == (1, [])
    assert fake.calls["process"] == 3 and fake.calls["search"] == 2 and fake.calls["token"] == 2


def test_process_timeout_is_retried(fake, tmp_path, creds):
    fake.fail["process"] += [0.8]  # answered after the 0.5 s timeout
    st = settings_for(fake)
    st.retry.timeout_s = 0.5
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            "2024-03-01",
            "2024-03-05",
            "sentinelhub",
            led,
            tmp_path,
            settings=st,
        )
    assert (s.added, s.skipped) == (1, []) and fake.calls["process"] == 2


def test_persistent_500_skips_scene_and_next_run_retries(fake, tmp_path, creds):
    fake.fail["process"] += [500, 500, 500]
    s, scenes, _ = run(fake, tmp_path, end="2024-03-05")
    assert s.added == 0 and "HTTP 500" in s.skipped[0][1]
    assert not list((tmp_path / "cache").rglob("*.tif"))
    s2, scenes, _ = run(fake, tmp_path, end="2024-03-05")  # transient: tried again
    assert s2.added == 1 and len(scenes) == 1


@pytest.mark.parametrize("bad", ["connection-drop", "short-body"])
def test_truncated_download_is_retried_never_catalogued(fake, tmp_path, creds, bad):
    make = truncated if bad == "connection-drop" else short_tiff
    fake.fail["process"] += [make()]
    s, scenes, _ = run(fake, tmp_path, end="2024-03-05")
    assert s.added == 1 and fake.calls["process"] == 2
    with rasterio.open(scenes[0].path) as src:
        assert src.read().any()
    # always truncated: skipped, nothing half-written in the cache
    fake.fail["process"] += [make() for _ in range(6)]
    s, scenes, _ = run(fake, tmp_path, end="2024-03-15")
    assert s.added == 0 and len(s.skipped) == 1 and len(scenes) == 1
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_bad_credentials_one_line_naming_token_url(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", "wrong-secret-xyz")
    with pytest.raises(CredentialsError) as err:
        run(fake, tmp_path)
    msg = str(err.value)
    assert fake.token_url.split("?")[0] in msg and "\n" not in msg
    assert "wrong-secret-xyz" not in msg and fake.calls["process"] == 0


def test_token_rate_limited_is_retried_after_retry_after(fake, tmp_path, creds, caplog):
    """A 429 whose JSON body has an `error` key is rate limiting, not refused credentials."""
    caplog.set_level(logging.INFO, logger="pipeline")
    fake.fail["token"] += [rate_limited(retry_after_ms=1500)]
    s, scenes, _ = run(fake, tmp_path, end="2024-03-05")
    assert (s.added, s.skipped) == (1, []) and fake.calls["token"] == 2
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(waits) == 1 and "HTTP 429" in waits[0] and waits[0].endswith("in 1.5 s")


def test_token_rate_limited_for_good_is_not_a_credentials_error(fake, tmp_path, creds):
    fake.fail["token"] += [rate_limited(retry_after_ms=1) for _ in range(5)]
    with pytest.raises(TankerWatchError) as err:
        run(fake, tmp_path)
    assert not isinstance(err.value, CredentialsError)
    msg = str(err.value)
    assert "HTTP 429" in msg and "refused" not in msg and "\n" not in msg
    assert fake.calls["token"] == 3 and fake.calls["process"] == 0  # max_attempts, no more


def test_token_5xx_retried_by_us_only(fake, tmp_path, creds):
    fake.fail["token"] += [503, 503, 503, 503]
    with pytest.raises(TankerWatchError, match="HTTP 503"):
        run(fake, tmp_path)
    assert fake.calls["token"] == 3  # not 3 x sentinelhub-py's own attempts


def test_sentinel2_values_are_harmonised(fake, tmp_path, creds):
    s, scenes, _ = run(fake, tmp_path, end="2024-03-05")
    assert fake.bodies[0]["input"]["data"][0]["processing"]["harmonizeValues"] is True
    with rasterio.open(scenes[0].path) as src:
        assert src.tags()["BOA_ADD_OFFSET"] == "0"
        assert src.read().max() < 1600  # the mock's reflectance x 10000, no +1000
    item = json.loads(open(scenes[0].stac_path).read())["properties"]
    assert item["tankerwatch:dn"] == "harmonised"


def test_token_403_is_a_credentials_error(fake, tmp_path, creds):
    fake.fail["token"] += [403]
    with pytest.raises(CredentialsError, match="HTTP 403"):
        run(fake, tmp_path)


def test_missing_credentials(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-sh-config"))
    with pytest.raises(TankerWatchError, match="SH_CLIENT_ID and SH_CLIENT_SECRET"):
        run(fake, tmp_path)


def test_sentinel1_second_collection(fake, tmp_path, creds):
    s, scenes, obs = run(fake, tmp_path, collections=("sentinel-2-l2a", "sentinel-1-grd"))
    s1 = [sc for sc in scenes if sc.sensor == "sentinel-1-grd"]
    assert len(s1) == 1 and s1[0].bands == ["VV", "VH"] and s1[0].acquired == S1
    assert s1[0].cloud_fraction == 0.0
    assert {o.state for o in obs if o.scene_id == s1[0].id} == {"clear"}
    with rasterio.open(s1[0].path) as src:
        assert src.dtypes[0] == "float32" and src.descriptions == ("VV", "VH")
        assert src.tags()["SAR_QUANTITY"] == "sigma0" and src.tags()["SAR_SCALE"] == "linear"
        vv = src.read(1)
    # linear sigma0 of the sea clutter the service returned (about -18 dB)
    assert 10 * np.log10(np.median(vv[vv > 0])) == pytest.approx(-19.6, abs=1.0)

    # the Process API was asked for calibrated, orthorectified backscatter
    (body,) = [b for b in fake.bodies if "VV" in b["evalscript"]]
    data = body["input"]["data"][0]
    assert data["processing"] == {
        "backCoeff": "SIGMA0_ELLIPSOID",
        "orthorectify": True,
        "demInstance": "COPERNICUS",
        "speckleFilter": {"type": "NONE"},
    }
    assert data["dataFilter"]["acquisitionMode"] == "IW"
    assert data["dataFilter"]["polarization"] == "DV"
    # ... and the catalogue for IW dual-pol acquisitions with their orbit fields
    (search,) = [b for b in fake.search_bodies if b["collections"] == ["sentinel-1-grd"]]
    assert "s1:polarization='DV'" in search["filter"]
    assert "properties.sat:orbit_state" in search["fields"]["include"]

    item = json.loads(open(s1[0].stac_path).read())["properties"]
    assert item["tankerwatch:sar_quantity"] == "sigma0"
    assert item["tankerwatch:sar_quantity_from"] == "Process API backCoeff SIGMA0_ELLIPSOID"
    assert (item["tankerwatch:sar_scale"], item["tankerwatch:sar_scale_source"]) == (
        "linear",
        "linear",
    )
    assert item["tankerwatch:sar_scale_detected"] is False
    assert item["sat:orbit_state"] == "descending"
    # not in the catalogue feature: ESA's relation from absolute orbit 52914 of Sentinel-1A
    assert item["sat:relative_orbit"] == (52914 - 73) % 175 + 1 == 167
    assert item["sar:polarizations"] == ["VV", "VH"]
    assert item["view:incidence_angle"] == pytest.approx(35.0, abs=0.1)
    assert item["tankerwatch:cloud_mask"] == "sar" and item["eo:cloud_cover"] == 0


def test_sentinel1_gamma0_terrain(fake, tmp_path, creds):
    st = settings_for(fake, collections=("sentinel-1-grd",))
    st.sentinelhub.s1_backcoeff = "GAMMA0_TERRAIN"
    st.sentinelhub.s1_dem = "COPERNICUS_30"
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            "2024-03-01",
            "2024-03-31",
            "sentinelhub",
            led,
            tmp_path / "cache",
            settings=st,
        )
        sc = led.scenes()[0]
    assert s.added == 1
    processing = fake.bodies[0]["input"]["data"][0]["processing"]
    assert (processing["backCoeff"], processing["demInstance"]) == (
        "GAMMA0_TERRAIN",
        "COPERNICUS_30",
    )
    item = json.loads(open(sc.stac_path).read())["properties"]
    assert item["tankerwatch:sar_quantity"] == "gamma0"


def test_sentinel1_radar_shadow_is_not_an_observation(fake, tmp_path, creds):
    """Shadow / layover (the service's shadowMask) hides what is there, as cloud does in an
    optical image: berths under it are observed but obscured, the rest clear."""
    fake.s1_shadow_rows = 0.4  # the northern 40 % of the AOI: general-1
    s, scenes, obs = run(fake, tmp_path, collections=("sentinel-1-grd",))
    assert s.added == 1
    states = {o.berth: o.state for o in obs}
    assert states == {"general-1": "obscured", "oil-1": "clear", "coal-1": "clear"}
    sc = scenes[0]
    assert sc.valid_fraction == pytest.approx(1.0) and sc.cloud_fraction == pytest.approx(
        0.4, abs=0.05
    )
    with rasterio.open(sc.path.replace("scene.tif", "cloud.tif")) as m:
        mask = m.read(1)
    assert (mask[:5] == 2).all() and (mask[-5:] == 1).all()
    item = json.loads(open(sc.stac_path).read())["properties"]
    assert item["eo:cloud_cover"] == 0 and item["tankerwatch:layover_shadow_mask"] is True
    assert item["tankerwatch:layover_shadow_fraction"] == pytest.approx(0.4, abs=0.05)


def test_sentinel1_uncalibrated_values_are_refused(fake, tmp_path, creds):
    fake.s1_values = "dn"
    s, scenes, _ = run(fake, tmp_path, collections=("sentinel-1-grd",))
    assert s.added == 0 and scenes == []
    reason = s.skipped[0][1]
    assert "not calibrated backscatter" in reason and "sentinel-1-grd" in reason
    assert "\n" not in reason


def test_no_scenes_in_period_is_an_error(fake, tmp_path, creds):
    with pytest.raises(TankerWatchError, match="no sentinelhub scenes"):
        run(fake, tmp_path, start="2023-01-01", end="2023-01-31")
