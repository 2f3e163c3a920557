"""AOI fractions and per-berth clear / obscured / unseen decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ingest import data
from pipeline.ingest.base import Raster
from pipeline.ingest.clouds import aoi_fractions, berth_observations, s2cloudless_mask
from pipeline.ingest.settings import CloudSettings

WHEN = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def raster(valid=None, scl=None, cloud_source="scl"):
    p = data.port()
    d, s, crs, tr = data.make_arrays(p, seed=0)
    return p, Raster(
        d,
        list(data.BANDS),
        crs,
        tr,
        0,
        valid if valid is not None else np.ones(s.shape, bool),
        scl=s if scl is None else scl,
        cloud_source=cloud_source,
    )


def states(p, r, settings=None, **kw):
    obs = berth_observations(r, p, settings or CloudSettings(), "sid", WHEN, "S2", 10.0, **kw)
    return {o.berth: (o.state, o.clear_fraction) for o in obs}


def test_all_clear():
    p, r = raster()
    st = states(p, r)
    assert {b: s for b, (s, _) in st.items()} == dict.fromkeys(
        ["oil-1", "coal-1", "general-1"], "clear"
    )
    assert all(f == 1.0 for _, f in st.values())
    fr = aoi_fractions(r, p, CloudSettings())
    assert (fr.valid_fraction, fr.cloud_fraction, fr.clear_fraction) == (1.0, 0.0, 1.0)


def test_berth_without_data_gets_no_observation_partial_is_obscured():
    p, r = raster()
    shape = r.shape
    oil = data.berth_pixels(p, "oil-1", r.crs, r.transform, shape, margin_m=80)
    coal = data.berth_pixels(p, "coal-1", r.crs, r.transform, shape, margin_m=80)
    cols = np.where(coal.any(axis=0))[0]
    half = np.zeros(shape, bool)
    half[:, : (cols[0] + cols[-1]) // 2] = True
    r.valid = ~oil & ~(coal & half)
    st = states(p, r)
    assert "oil-1" not in st  # outside the valid footprint: no evidence either way
    assert st["coal-1"][0] == "obscured" and 0.2 < st["coal-1"][1] < 0.8
    assert st["general-1"][0] == "clear"


def test_cloud_and_shadow_classes_and_threshold():
    p, r = raster()
    oil = data.berth_pixels(p, "oil-1", r.crs, r.transform, r.shape, margin_m=0)
    r.scl[oil] = 3  # shadow over the berth itself, not over its 50 m margin
    assert states(p, r)["oil-1"][0] == "obscured"
    assert states(p, r, CloudSettings(berth_max_cloud_fraction=0.5))["oil-1"][0] == "clear"
    assert states(p, r, CloudSettings(cloud_classes=[8, 9]))["oil-1"][0] == "clear"


def test_aoi_fractions_count_nodata_and_clouds():
    p, r = raster()
    r.valid[:, : r.shape[1] // 2] = False
    r.scl[r.shape[0] // 2 :] = 9
    fr = aoi_fractions(r, p, CloudSettings())
    assert fr.valid_fraction == pytest.approx(0.5, abs=0.06)
    assert fr.cloud_fraction == pytest.approx(0.5, abs=0.06)
    assert fr.clear_fraction == pytest.approx(0.25, abs=0.05)


def test_no_mask_and_radar():
    p, r = raster()
    r.scl = None
    r.cloud_source = "none"
    assert {s for s, _ in states(p, r).values()} == {"clear"}
    assert {s for s, _ in states(p, r, no_mask_state="obscured").values()} == {"obscured"}
    r.cloud_source = "sar"
    assert {s for s, _ in states(p, r, no_mask_state="obscured").values()} == {"clear"}


def l1c_raster(cloud_rows: int):
    """Ten L1C bands with water and cloud spectra (reflectance x 10000)."""
    rng = np.random.default_rng(3)
    water = np.array([800, 600, 300, 200, 100, 100, 50, 10, 30, 20], np.float32)
    cloud = np.array([5000, 5000, 5000, 5000, 5500, 5500, 2000, 500, 3500, 2500], np.float32)
    h, w = 40, 50
    arr = water[:, None, None] * rng.uniform(0.9, 1.1, (1, h, w))
    arr[:, :cloud_rows] = cloud[:, None, None] * rng.uniform(0.9, 1.1, (1, cloud_rows, w))
    bands = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
    from rasterio.transform import from_origin

    return Raster(
        arr.astype(np.uint16),
        bands,
        "EPSG:32653",
        from_origin(0, 0, 10, 10),
        0,
        np.ones((h, w), bool),
        scl=None,
    )


def test_s2cloudless_on_l1c_bands():
    mask = s2cloudless_mask(l1c_raster(10), threshold=0.4)
    assert mask is not None and mask[:10].mean() > 0.95 and mask[10:].mean() < 0.05
    r = l1c_raster(0)
    r.bands = r.bands[:-1]
    r.data = r.data[:-1]
    assert s2cloudless_mask(r, 0.4) is None  # B12 missing: cannot run
