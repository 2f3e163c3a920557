"""Sentinel Hub source: the real sentinelhub-py against a loopback token/Catalog/Process server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

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


def test_no_scenes_in_period_is_an_error(fake, tmp_path, creds):
    with pytest.raises(TankerWatchError, match="no sentinelhub scenes"):
        run(fake, tmp_path, start="2023-01-01", end="2023-01-31")
