"""Simulated source: the simulator's folder into the catalogue, idempotently, with berths."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import rasterio

from ingest import data
from pipeline.config import load_ports
from pipeline.errors import TankerWatchError
from pipeline.ingest.core import ingest
from pipeline.ledger.store import Ledger


@pytest.fixture
def sim(tmp_path):
    p = data.port()
    root = tmp_path / "sim"
    data.simulator_scene(root, p, datetime(2024, 3, 5, 1, 30, tzinfo=UTC), seed=1)
    data.simulator_scene(
        root, p, datetime(2024, 3, 10, 1, 30, tzinfo=UTC), seed=2, cloudy_berths=["oil-1"]
    )
    data.simulator_scene(  # mostly cloud: below min_clear_fraction
        root, p, datetime(2024, 3, 15, 1, 30, tzinfo=UTC), seed=3, cloud_fraction=0.95
    )
    data.simulator_scene(root, p, datetime(2024, 4, 20, 1, 30, tzinfo=UTC), seed=4)
    return root


def test_ingest_simulated_fills_catalogue(sim, tmp_path, db_url):
    cache = tmp_path / "cache"
    with Ledger(db_url) as led:
        s = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-31", "simulated", led, cache, path=sim
        )
        assert (s.found, s.added, len(s.skipped)) == (3, 2, 1)
        assert "min_clear_fraction" in s.skipped[0][1]
        scenes = led.scenes(ports=["vostochny"])
        assert [sc.acquired.day for sc in scenes] == [5, 10]
        obs = {(o.scene_id, o.berth): o for o in led.observations(ports=["vostochny"])}
        (skip,) = led.skips(ports=["vostochny"])
        assert skip["key"].startswith(s.skipped[0][0] + "@")  # the scene id and its files
        assert led.has_skip(skip["key"])
    first, second = scenes
    assert {b for (_sid, b) in obs} == {"oil-1", "coal-1", "general-1"}
    assert obs[(first.id, "oil-1")].state == "clear"
    assert obs[(second.id, "oil-1")].state == "obscured"
    assert obs[(second.id, "coal-1")].state == "clear"
    assert obs[(second.id, "oil-1")].clear_fraction < 0.1
    # cached raster: AOI clip, band names, SCL beside it on the same grid, STAC item
    sc = first
    assert sc.source == "simulated" and sc.sensor == "sentinel-2-l2a" and sc.bands == data.BANDS
    assert sc.gsd_m == pytest.approx(10.0, abs=0.05)
    assert sc.valid_fraction == pytest.approx(1.0) and sc.cloud_fraction == 0.0
    with rasterio.open(sc.path) as src, rasterio.open(sc.path.replace("scene.tif", "scl.tif")) as m:
        assert src.descriptions == tuple(data.BANDS)
        assert src.transform == m.transform and src.shape == m.shape
        assert src.tags()["PORT"] == "vostochny"
        full = data.grid(data.port())
        assert src.width < full[2] and src.height < full[3]  # clipped to the AOI window
    item = json.loads(open(sc.stac_path).read())
    assert item["id"] == sc.id and item["properties"]["tankerwatch:port"] == "vostochny"
    assert item["properties"]["proj:epsg"] == 32653 and item["assets"]["scl"]["href"] == "scl.tif"


def test_rerun_is_noop_and_longer_period_adds_only_new(sim, tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    cache = tmp_path / "cache"
    with Ledger(url) as led:
        ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-31", "simulated", led, cache, path=sim
        )
        again = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-31", "simulated", led, cache, path=sim
        )
        assert (again.added, again.downloaded, again.known, again.skipped) == (0, 0, 3, [])
        longer = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-05-31", "simulated", led, cache, path=sim
        )
        assert (longer.added, longer.downloaded, longer.known) == (1, 1, 3)
        assert len(led.scenes(ports=["vostochny"])) == 3


def test_interrupted_run_resumes_from_complete_cache(sim, tmp_path):
    cache = tmp_path / "cache"
    with Ledger(f"sqlite:///{tmp_path / 'a.db'}") as led:
        ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-06", "simulated", led, cache, path=sim
        )
    # a new catalogue (as if the database write had been lost): the cache is re-used
    with Ledger(f"sqlite:///{tmp_path / 'b.db'}") as led:
        s = ingest(
            load_ports("vostochny"), "2024-03-01", "2024-03-06", "simulated", led, cache, path=sim
        )
        assert (s.added, s.downloaded, s.from_cache) == (1, 0, 1)


def test_period_without_scenes_is_an_error(sim, tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        with pytest.raises(TankerWatchError, match="no simulated scenes of vostochny"):
            ingest(
                load_ports("vostochny"),
                "2025-01-01",
                "2025-01-31",
                "simulated",
                led,
                tmp_path,
                path=sim,
            )
        with pytest.raises(TankerWatchError, match="before --start"):
            ingest(
                load_ports("vostochny"),
                "2024-03-31",
                "2024-03-01",
                "simulated",
                led,
                tmp_path,
                path=sim,
            )
        with pytest.raises(TankerWatchError, match="unknown port 'atlantis'"):
            ingest(
                load_ports("atlantis"),
                "2024-03-01",
                "2024-03-31",
                "simulated",
                led,
                tmp_path,
                path=sim,
            )
        with pytest.raises(TankerWatchError, match="needs --path"):
            ingest(load_ports("vostochny"), "2024-03-01", "2024-03-31", "simulated", led, tmp_path)


def test_small_simulation_from_the_simulator(small_simulation, tmp_path):
    """The real simulator's output (tiny scenario): every scene catalogued or skipped with a
    reason, ids equal to the simulator's folder names, berth evidence recorded, re-run no-op."""
    sim_ids = {p.name for p in (small_simulation / "scenes").iterdir()}
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        s = ingest(
            load_ports("vostochny,rajin"),
            "2024-06-01",
            "2024-06-21",
            "simulated",
            led,
            tmp_path / "c",
            path=small_simulation,
        )
        assert s.found == len(sim_ids) and s.added + len(s.skipped) == s.found
        assert s.added > 0
        scenes = led.scenes()
        assert {sc.id for sc in scenes} | {k for k, _ in s.skipped} == sim_ids
        for k, reason in s.skipped:
            assert "min_clear_fraction" in reason, (k, reason)
        obs = led.observations()
        assert {o.port for o in obs} == {"vostochny", "rajin"}
        # every kept scene shows at least one berth, and only berths of its port
        for sc in scenes:
            mine = [o for o in obs if o.scene_id == sc.id]
            assert mine and {o.port for o in mine} == {sc.port}
            assert sc.sensor in {"sentinel-2-l2a", "commercial-3m"}
        fine = [sc for sc in scenes if sc.sensor == "commercial-3m"]
        assert fine and all(abs(sc.gsd_m - 3.0) < 0.05 for sc in fine)
        again = ingest(
            load_ports("vostochny,rajin"),
            "2024-06-01",
            "2024-06-21",
            "simulated",
            led,
            tmp_path / "c",
            path=small_simulation,
        )
        assert (again.added, again.downloaded) == (0, 0)


def test_a_skipped_simulated_scene_is_read_again_once_simulated_anew(tmp_path, db_url):
    """Simulating into the same folder again (another seed or scenario) reuses the scene ids:
    a skip is remembered for the files that were judged, not for the id."""
    p = data.port()
    root = tmp_path / "sim"
    when = datetime(2024, 3, 15, 1, 30, tzinfo=UTC)
    data.simulator_scene(root, p, when, seed=3, cloud_fraction=0.95)
    cache = tmp_path / "cache"
    ports = load_ports("vostochny")
    with Ledger(db_url) as led:
        s = ingest(ports, "2024-03-01", "2024-03-31", "simulated", led, cache, path=root)
        assert (s.added, len(s.skipped)) == (0, 1)
        s = ingest(ports, "2024-03-01", "2024-03-31", "simulated", led, cache, path=root)
        assert (s.added, s.known, s.skipped) == (0, 1, [])  # the same files: not read again
        data.simulator_scene(root, p, when, seed=4)  # simulated anew: a clear scene
        s = ingest(ports, "2024-03-01", "2024-03-31", "simulated", led, cache, path=root)
        assert (s.added, s.skipped) == (1, [])
        assert [sc.acquired.day for sc in led.scenes(ports=["vostochny"])] == [15]
