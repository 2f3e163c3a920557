"""Local GeoTIFFs: any CRS and band set, time from tags / sidecar / file name, bad files skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio
import yaml

from ingest import data
from pipeline.config import load_ports
from pipeline.errors import TankerWatchError
from pipeline.ingest.core import ingest
from pipeline.ingest.grid import to_crs
from pipeline.ingest.settings import load_source_settings
from pipeline.ledger.store import Ledger


def _reproject(d, crs, tr, dst_crs):
    from rasterio.warp import calculate_default_transform, reproject

    count, h, w = d.shape
    left, top = tr * (0, 0)
    right, bottom = tr * (w, h)
    dtr, dw, dh = calculate_default_transform(crs, dst_crs, w, h, left, bottom, right, top)
    out = np.zeros((count, dh, dw), d.dtype)
    reproject(d, out, src_transform=tr, src_crs=crs, dst_transform=dtr, dst_crs=dst_crs)
    return out, dtr


@pytest.fixture
def folder(tmp_path):
    p = data.port()
    root = tmp_path / "imagery"
    d, scl, crs, tr = data.make_arrays(p, seed=11)
    names = data.BANDS
    # 1. UTM, time in the ACQUIRED tag, SCL as a band
    data.write_tif(
        root / "a" / "one.tif",
        np.concatenate([d, scl[None].astype(d.dtype)]),
        crs,
        tr,
        [*names, "SCL"],
        tags={"ACQUIRED": "2024-06-01T01:50:00Z"},
    )
    # 2. Web Mercator (like sen2ships), red/green/blue/nir names, time from a sidecar STAC item
    m, mtr = _reproject(d[:4], crs, tr, "EPSG:3857")
    data.write_tif(root / "b" / "merc.tif", m, "EPSG:3857", mtr, ["blue", "green", "red", "nir"])
    (root / "b" / "merc.json").write_text(
        json.dumps({"type": "Feature", "properties": {"datetime": "2024-06-02T02:00:00Z"}})
    )
    # 3. time only in the file name; a sidecar SCL mask file beside it
    data.write_tif(root / "c" / "vost_20240603T015500.tif", d, crs, tr, names)
    cloudy = scl.copy()
    cloudy[: int(cloudy.shape[0] * 0.4)] = 9  # the northern 40 %: general-1 under cloud
    data.write_tif(root / "c" / "vost_20240603T015500_scl.tif", cloudy[None], crs, tr, ["SCL"])
    # bad ones
    data.write_tif(root / "bad" / "nocrs_20240604.tif", d, None, tr, names)
    data.write_tif(root / "bad" / "twobands_20240605.tif", d[:2], crs, tr, names[:2])
    data.write_tif(root / "bad" / "empty_20240606.tif", np.zeros_like(d), crs, tr, names)
    (root / "bad" / "corrupt_20240607.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    data.write_tif(root / "bad" / "notime.tif", d, crs, tr, names)
    # elsewhere in the world: not a scene of this port, ignored
    from rasterio.transform import from_origin

    data.write_tif(
        root / "other" / "far_20240608.tif",
        d,
        "EPSG:32633",
        from_origin(500000, 6000000, 10, 10),
        names,
    )
    return root


def run(folder, tmp_path, **kw):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            kw.get("start", "2024-06-01"),
            kw.get("end", "2024-06-30"),
            "local",
            led,
            tmp_path / "cache",
            path=folder,
            settings=kw.get("settings"),
        )
        return s, led.scenes(ports=["vostochny"]), led.observations(), led.skips()


def test_local_folder(folder, tmp_path):
    s, scenes, obs, skips = run(folder, tmp_path)
    by_name = {sc.path.split("/")[-2]: sc for sc in scenes}
    assert len(scenes) == 3 and s.added == 3
    reasons = dict(s.skipped)
    expect = {
        "nocrs_20240604.tif": "no CRS",
        "twobands_20240605.tif": "missing bands B04, B08",
        "empty_20240606.tif": "all nodata",
        "corrupt_20240607.tif": "unreadable or corrupt",
        "notime.tif": "no acquisition time",
    }
    assert len(reasons) == len(expect)
    for name, why in expect.items():
        reason = next(r for k, r in reasons.items() if name in k + r)
        assert why in reason, reason
    assert {r["reason"] for r in skips} >= set(reasons.values())
    times = sorted(sc.acquired for sc in scenes)
    assert times == [
        datetime(2024, 6, 1, 1, 50, tzinfo=UTC),
        datetime(2024, 6, 2, 2, 0, tzinfo=UTC),
        datetime(2024, 6, 3, 1, 55, tzinfo=UTC),
    ]
    merc = next(sc for sc in scenes if sc.crs == "EPSG:3857")
    # Web-Mercator pixels are ~10/cos(lat) units; gsd_m is the true ground size
    assert merc.bands == ["B02", "B03", "B04", "B08"]
    assert merc.gsd_m == pytest.approx(10.0, rel=0.03)
    with rasterio.open(merc.path) as src:
        assert src.res[0] > 12  # kept on its own grid, not resampled
    one = next(sc for sc in scenes if sc.acquired.day == 1)
    assert one.bands == data.BANDS  # the SCL band went to scl.tif
    with rasterio.open(one.path.replace("scene.tif", "scl.tif")) as m:
        assert m.read(1).max() == 6
    third = next(sc for sc in scenes if sc.acquired.day == 3)
    assert third.cloud_fraction == pytest.approx(0.4, abs=0.06)
    st = {o.berth: o.state for o in obs if o.scene_id == third.id}
    assert st == {"general-1": "obscured", "oil-1": "clear", "coal-1": "clear"}
    assert by_name  # folder names are scene ids


def test_rerun_and_bad_files_stay_skipped(folder, tmp_path):
    run(folder, tmp_path)
    s, scenes, _, _ = run(folder, tmp_path)
    # 3 scenes + 2 judged unusable after reading (no bands, no data): nothing read again
    assert (s.added, s.downloaded, s.known) == (0, 0, 5) and len(scenes) == 3
    assert len(s.skipped) == 3  # unreadable at listing (no CRS, corrupt, no time): listed again


def test_filename_pattern_from_settings(folder, tmp_path):
    (folder / "bad" / "notime.tif").rename(folder / "bad" / "img-09062024-0315.tif")
    st = load_source_settings()
    st.local.glob = "bad/img-*.tif"
    s = run(folder, tmp_path, settings=st)[0]  # the default pattern reads YYYYMMDD only
    assert s.added == 0 and "no acquisition time" in s.skipped[0][1]
    st.local.patterns = [
        r"img-(?P<day>\d\d)(?P<month>\d\d)(?P<year>\d{4})-(?P<hour>\d\d)(?P<minute>\d\d)"
    ]
    s, scenes, _, _ = run(folder, tmp_path, settings=st)
    assert s.added == 1 and scenes[0].acquired == datetime(2024, 6, 9, 3, 15, tzinfo=UTC)


def test_bad_pattern_is_a_config_error(tmp_path):
    from pipeline.ingest.settings import LocalSettings

    with pytest.raises(ValueError, match="needs a named group"):
        LocalSettings(patterns=[r"\d{8}"])


def test_no_file_of_the_port(folder, tmp_path):
    st = load_source_settings()
    st.local.glob = "other/*.tif"
    with pytest.raises(TankerWatchError, match="no local scenes of vostochny"):
        run(folder, tmp_path, settings=st)
    with pytest.raises(TankerWatchError, match="folder not found"):
        run(tmp_path / "nope", tmp_path)


def sen2ships_port(tmp_path, scene):
    """A port config drawn around the middle of a sen2ships scene (these ports are not ours)."""
    from shapely.geometry import box

    with rasterio.open(scene) as src:
        b = src.bounds
        crs = src.crs.to_string()
    full = to_crs(box(*b), "EPSG:4326", crs)
    minx, miny, maxx, maxy = full.bounds
    cx, cy, dx, dy = (minx + maxx) / 2, (miny + maxy) / 2, (maxx - minx) / 4, (maxy - miny) / 4

    def ring(x0, y0, x1, y1):
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]

    doc = yaml.safe_load(data.port().model_dump_json())
    doc.update(
        name="busan-test",
        display_name="Busan (test AOI)",
        role="load",
        timezone="Asia/Seoul",
        country="KR",
        aoi=ring(cx - dx, cy - dy, cx + dx, cy + dy),
        land=[ring(cx - dx, cy, cx + dx, cy + dy)],
    )
    doc["berths"] = [
        {
            "id": "b1",
            "name": "test berth",
            "role": "load",
            "polygon": ring(cx - dx / 4, cy - dy / 4, cx, cy),
        }
    ]
    d = tmp_path / "ports"
    d.mkdir()
    path = d / "busan-test.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_sen2ships_real_scene(sen2ships, tmp_path):
    port_yaml = sen2ships_port(tmp_path, sen2ships / "busan" / "scene.tif")
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports(str(port_yaml)),
            "2022-05-01",
            "2022-05-31",
            "local",
            led,
            tmp_path / "c",
            path=sen2ships,
        )
        scenes, obs = led.scenes(), led.observations()
    assert s.added == 1 and s.skipped == []  # the other six ports lie elsewhere
    sc = scenes[0]
    assert sc.crs == "EPSG:3857" and sc.acquired == datetime(2022, 5, 14, tzinfo=UTC)
    assert sc.bands == ["B02", "B03", "B04", "B08", "B11"]
    assert sc.gsd_m == pytest.approx(10 * np.cos(np.radians(35.1)), rel=0.02)
    assert [o.berth for o in obs] == ["b1"] and obs[0].state == "clear"
    with rasterio.open(sc.path) as src, rasterio.open(sen2ships / "busan" / "scene.tif") as full:
        assert src.width < full.width / 2 + 2 and src.descriptions == full.descriptions


def test_l1c_file_gets_an_s2cloudless_mask(tmp_path):
    """A 13-band L1C file without SCL: clouds from s2cloudless, written as cloud.tif."""
    p = data.port()
    crs, tr, w, h = data.grid(p, pad_px=0)
    rng = np.random.default_rng(5)
    names = [
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B08",
        "B8A",
        "B09",
        "B10",
        "B11",
        "B12",
    ]
    water = np.array([800, 600, 450, 300, 200, 150, 120, 100, 100, 50, 10, 30, 20], np.float32)
    cloud = np.array(
        [5000, 5000, 5000, 5000, 5000, 5200, 5400, 5500, 5500, 2000, 500, 3500, 2500], np.float32
    )
    arr = water[:, None, None] * rng.uniform(0.9, 1.1, (1, h, w))
    arr[:, : h // 2] = cloud[:, None, None] * rng.uniform(0.9, 1.1, (1, h // 2, w))
    data.write_tif(tmp_path / "img" / "l1c_20240610.tif", arr.astype(np.uint16), crs, tr, names)
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny"),
            "2024-06-01",
            "2024-06-30",
            "local",
            led,
            tmp_path / "c",
            path=tmp_path / "img",
        )
        sc = led.scenes()[0]
    assert s.added == 1 and sc.cloud_fraction == pytest.approx(0.5, abs=0.05)
    d = tmp_path / "c" / "vostochny" / sc.id
    assert (d / "cloud.tif").exists() and not (d / "scl.tif").exists()
    item = json.loads((d / "item.json").read_text())
    assert item["properties"]["tankerwatch:cloud_mask"] == "s2cloudless"
    assert item["assets"]["cloud"]["href"] == "cloud.tif"


def test_nan_pixels_are_nodata(tmp_path):
    """NaN in a float file is nodata: counted out of the valid fraction, never cached as data;
    a file of NaN only holds no data."""
    p = data.port()
    d, _, crs, tr = data.make_arrays(p, seed=3)
    refl = (d / 10000.0).astype(np.float32)
    refl[:, :, : refl.shape[2] // 4] = np.nan  # the western quarter
    data.write_tif(tmp_path / "img" / "f_20240611.tif", refl, crs, tr, data.BANDS, nodata=None)
    nan = np.full_like(refl, np.nan)
    data.write_tif(tmp_path / "img" / "g_20240612.tif", nan, crs, tr, data.BANDS, nodata=None)
    s, scenes, _, _ = run(tmp_path / "img", tmp_path)
    assert s.added == 1 and [r for _, r in s.skipped if "all nodata" in r]
    sc = scenes[0]
    assert sc.valid_fraction < 0.85
    with rasterio.open(sc.path) as src:
        cached = src.read()
    assert np.isfinite(cached).all()


def test_a_skip_is_remembered_for_the_file_not_the_scene_id(tmp_path):
    """A file judged unusable is skipped again only while it is the same file: a good copy of
    the scene beside it (same scene id), or the file replaced by a good one, is ingested."""
    p = data.port()
    d, _, crs, tr = data.make_arrays(p, seed=4)
    img = tmp_path / "img"
    data.write_tif(img / "a_20240606.tif", np.zeros_like(d), crs, tr, data.BANDS)
    s, scenes, _, _ = run(img, tmp_path)
    assert s.added == 0 and "all nodata" in s.skipped[0][1]
    s, _, _, _ = run(img, tmp_path)
    assert (s.known, s.skipped, s.downloaded) == (1, [], 0)  # unchanged: not read again

    # a good copy beside it, same acquisition time, same scene id
    data.write_tif(img / "b_20240606.tif", d, crs, tr, data.BANDS)
    s, scenes, _, _ = run(img, tmp_path)
    assert s.added == 1 and len(scenes) == 1 and scenes[0].acquired.day == 6
    cached = tmp_path / "cache" / "vostochny" / scenes[0].id
    assert not (cached / "skipped.json").exists()

    # the bad file replaced by a good one, in another ledger and cache
    (img / "b_20240606.tif").unlink()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    s, _, _, _ = run(img, fresh)
    assert s.added == 0 and s.skipped
    data.write_tif(img / "a_20240606.tif", d, crs, tr, data.BANDS)
    s, scenes, _, _ = run(img, fresh)
    assert (s.added, s.known, s.skipped) == (1, 0, []) and len(scenes) == 1


def test_huge_and_foreign_files_are_skipped_and_the_rest_ingested(tmp_path):
    """A raster declaring 200000 x 200000 px over the port (5 cm pixels: its AOI window alone
    would be hundreds of GiB) and a PNG named .tif: one line each, the good file goes in."""
    from detect import synth

    p = data.port()
    d, _, crs, tr = data.make_arrays(p, seed=4)
    img = tmp_path / "img"
    data.write_tif(img / "good_20240601.tif", d, crs, tr, data.BANDS)
    synth.sparse_geotiff(
        img / "huge_20240602.tif", 200000, 0.05, crs=crs, origin=(tr.c, tr.f), bands=data.BANDS
    )
    synth.png_as_tif(img / "photo_20240603.tif")
    s, scenes, _, skips = run(img, tmp_path)
    assert s.added == 1 and len(scenes) == 1
    reasons = sorted(r for _, r in s.skipped)
    assert len(reasons) == 2
    assert "huge_20240602.tif: too large: the AOI of port 'vostochny' is" in reasons[0]
    assert reasons[1].endswith("photo_20240603.tif: not a GeoTIFF (a PNG file)")


def test_a_cache_write_killed_midway_leaves_nothing_after_the_next_run(folder, tmp_path):
    import subprocess
    import sys

    scene = tmp_path / "cache" / "vostochny" / "some_scene"
    scene.mkdir(parents=True)
    code = (
        "import os, signal, sys\n"
        "from pipeline.fsutil import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'II*\\x00')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(scene / "scene.tif")], check=False)
    assert [p.name.startswith(".scene.tif.") for p in scene.iterdir()] == [True]
    run(folder, tmp_path)
    assert list(scene.iterdir()) == []
