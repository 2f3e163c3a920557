"""Report figures: headline numbers, cumulative barrels per year, per-vessel table, chips."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from ledger.factory import build, fill, write_rasters

from pipeline.ledger.store import Ledger
from pipeline.report import figures
from pipeline.report.plots import chip_jpeg


@pytest.fixture
def data(tmp_path):
    sample = build(seed=4)
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
        yield figures.load(led), sample


def test_headline_comes_from_the_run(data):
    d, sample = data
    h = figures.headline(d)
    t = sample.coverage["totals"]
    assert h["calls_observed"] == t["calls_observed"] == len(sample.deliveries)
    assert h["barrels_corrected_p50"] == pytest.approx(t["barrels_corrected_p50"])
    p50 = next(c for c in sample.coverage["caps"] if c["scenario"] == "p50")
    assert h["cap_passed_utc"] == p50["cap_passed_utc"] != ""


def test_cumulative_is_monotonic_and_resets_each_year(data):
    d, sample = data
    series = figures.cumulative(d)
    p50 = [s[1]["barrels_p50"] for s in series]
    assert p50 == sorted(p50)
    assert p50[-1] == pytest.approx(sum(x.barrels_p50 for x in sample.deliveries))
    assert all(s[1]["barrels_p10"] <= s[1]["barrels_p50"] <= s[1]["barrels_p90"] for s in series)
    # move the last delivery's visit into the next year: the sum starts again
    d2 = copy.deepcopy(d)
    last = max(d2.deliveries, key=lambda x: figures.delivery_time(x, d2.visits))
    v = d2.visits[last.load_visit]
    v.last_seen = v.last_seen.replace(year=2025)
    v.first_seen = v.last_seen - timedelta(days=1)
    s2 = figures.cumulative(d2)
    assert s2[-1][0].year == 2025
    assert s2[-1][1]["barrels_p50"] == pytest.approx(last.barrels_p50)
    assert figures.cumulative(d2, product="crude") == []


def test_vessel_table(data):
    d, sample = data
    rows = figures.vessel_table(d)
    assert sum(r["deliveries"] for r in rows) == len(sample.deliveries)
    assert sum(r["barrels_p50"] for r in rows) == pytest.approx(
        sum(x.barrels_p50 for x in sample.deliveries)
    )
    assert [r["barrels_p50"] for r in rows] == sorted(
        (r["barrels_p50"] for r in rows), reverse=True
    )
    assert all(0 < r["id_probability_mean"] <= 1 for r in rows)


def test_chip_draws_the_footprint(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    sample = build(seed=0, scene_root=tmp_path)
    write_rasters(sample, noise=False)  # black water, white ship: yellow comes from the drawing
    scene = next(s for s in sample.scenes if sample.detections[s.id])
    img = np.asarray(Image.open(io.BytesIO(chip_jpeg(scene, sample.detections[scene.id][0]))))
    assert img.shape[0] >= 128 and img.shape[2] == 3
    yellow = (img[..., 0] > 210) & (img[..., 1] > 170) & (img[..., 2] < 90)
    assert yellow.sum() > 20
    # the footprint is drawn around the chip centre, where the ship is
    ys, xs = np.nonzero(yellow)
    h, w = img.shape[:2]
    assert abs(ys.mean() - h / 2) < h / 4 and abs(xs.mean() - w / 2) < w / 4
    scene.path = str(tmp_path / "gone.tif")
    with pytest.raises(FileNotFoundError):
        chip_jpeg(scene, sample.detections[scene.id][0])


def test_run_without_corrected_figures_and_with_crude_caps(tmp_path):
    from pipeline.report.html import build_report

    sample = build(seed=4)
    cov = sample.coverage
    for row in [*cov["by_month"], cov["totals"]]:
        for k in list(row):
            if "corrected" in k:
                row[k] = None
    cov["p_seen"] = None
    cov["caps"] = [
        {**c, "product_class": "crude", "cap_bbl": 100, "cap_passed_utc": "2024-03-02T00:00:00Z"}
        for c in cov["caps"]
    ] + [{**c, "cap_passed_utc": ""} for c in cov["caps"]]
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
        d = figures.load(led)
        assert figures.headline(d)["cap_passed_utc"] == ""  # only the refined cap counts
        summary = build_report(led, tmp_path / "r.html")
    doc = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert summary["deliveries"] == len(sample.deliveries)
    assert "not passed" in doc and "n/a" in doc
