"""The HTML report: self-contained, every delivery's evidence shown, renders in Chromium."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from ledger.factory import build, fill, write_rasters

from pipeline.ledger.store import Ledger
from pipeline.report import figures
from pipeline.report.html import MAX_CHIPS_PER_DELIVERY, build_report
from report.browser import OSM_TILES, external_refs

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def ledger_with_rasters(db_url, tmp_path):
    sample = build(seed=0, scene_root=tmp_path / "scenes")
    write_rasters(sample)
    with Ledger(db_url) as led:
        fill(led, sample)
        yield led, sample


def _expected_chips(sample) -> int:
    return sum(
        min(
            MAX_CHIPS_PER_DELIVERY,
            len(next(v for v in sample.visits if v.id == d.load_visit).evidence),
        )
        for d in sample.deliveries
    )


def test_report_is_self_contained_and_complete(ledger_with_rasters, tmp_path):
    led, sample = ledger_with_rasters
    out = tmp_path / "out" / "report.html"
    summary = build_report(led, out)
    doc = out.read_text(encoding="utf-8")
    # offline: nothing is fetched from elsewhere but the map's optional OpenStreetMap tiles
    refs = external_refs(doc)
    assert refs == {"attributes": [], "css": [], "imports": [], "tiles": [OSM_TILES]}, refs
    assert summary["chips"] == _expected_chips(sample) > 0
    assert summary["missing_rasters"] == 0
    assert doc.count('class="chip"') == summary["chips"]
    assert doc.count('class="chart"') == 3
    for name in ("timeline", "cumulative", "monthly"):
        png = out.with_name(f"report-{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    # headline figures, every delivery and every vessel
    totals = sample.coverage["totals"]
    assert f"{totals['barrels_observed_p50']:,.0f}" in doc
    assert f"{totals['barrels_corrected_p50']:,.0f}" in doc
    assert sample.coverage["caps"][0]["cap_passed_utc"][:10] in doc
    for d in sample.deliveries:
        assert d.id in doc and d.vessel in doc
        assert f'href="#d-{d.id}"' in doc and f'id="d-{d.id}"' in doc  # table -> evidence
    for vessel in {d.vessel for d in sample.deliveries}:
        n = sum(d.vessel == vessel for d in sample.deliveries)
        assert re.search(rf"<h3>{vessel}, IMO \d+: {n} deliveries</h3>", doc)
    assert led.latest_run().id in doc
    assert "UNSCR 2397" in doc
    # the coverage-corrected cap: its P50 date with P10 and P90 and the probability it passed
    corrected = next(c for c in sample.coverage["caps"] if c["scenario"] == "corrected")
    assert corrected["cap_passed_utc"] != sample.coverage["caps"][0]["cap_passed_utc"]
    card = re.search(
        r"<div class='card'><b>([^<]*)</b><span>([^<]*coverage-corrected p50 \(p10[^<]*)", doc
    )
    assert card, "no corrected cap card"
    assert card.group(1) == corrected["cap_passed_utc"][:10]
    assert corrected["cap_passed_p10_utc"][:10] in card.group(2)
    assert corrected["cap_passed_p90_utc"][:10] in card.group(2)
    assert f"probability passed {corrected['p_passed']:.2f}" in card.group(2)
    # calls are whole numbers where shown (the stored P50 is fractional)
    calls = totals["calls_corrected_p50"]
    assert calls != int(calls)
    assert f"<b>{int(calls + 0.5)}</b><span>calls, coverage-corrected p50" in doc
    assert f"{calls:.1f}" not in doc
    # the estimate's notes, saved with the run, shown (escaped) in the report
    assert "How these figures were made" in doc
    for note in sample.notes:
        assert f"<li>{html.escape(note)}</li>" in doc


def test_dark_calls_get_their_chips_and_a_map_of_ais_tracks(db_url, tmp_path):
    import numpy as np
    import pandas as pd
    from ledger.factory import BERTHS

    sample = build(seed=0, scene_root=tmp_path / "scenes")
    write_rasters(sample)
    dark = sample.deliveries[::2]  # every other call dark, the rest named by a transponder
    for i, d in enumerate(sample.deliveries):
        d.dark, d.ais_mmsi = (True, None) if d in dark else (False, 273000100 + i)
    # a dark call the size-based posterior does not name: reported with its best candidates
    dark[0].vessel, dark[0].imo = "unidentified", None
    dark[0].candidates = [
        {"name": "Yu Jong 2", "imo": "8604917", "probability": 0.45},
        {"name": "Sam Ma 2", "imo": None, "probability": 0.3},
        {"name": "unidentified", "probability": 0.25},
    ]
    lon, lat = BERTHS["oil-1"]
    times = pd.date_range(sample.scenes[0].acquired, sample.scenes[-1].acquired, freq="30min")
    positions = pd.DataFrame(
        {"mmsi": 273000100, "time": times, "lat": lat + 0.01 * np.sin(np.arange(len(times))),
         "lon": lon - 0.005, "sog": 0.1, "cog": np.nan, "heading": np.nan}
    )  # fmt: skip
    static = pd.DataFrame(
        [{"mmsi": 273000100, "time": times[0], "name": "YU JONG 2", "imo": "8604917",
          "callsign": None, "ship_type": "80", "length_m": 80.0, "width_m": 13.0}]
    )  # fmt: skip
    far = positions.assign(mmsi=273000999, lat=lat + 1.0)  # 110 km away: not on the map
    with Ledger(db_url) as led:
        fill(led, sample)
        led.add_ais(pd.concat([positions, far]), static, "ais.csv")
        summary = build_report(led, tmp_path / "report.html")
        assert set(figures.load(led).ais["mmsi"]) == {273000100}
    doc = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = doc[doc.index("<h2>Dark calls and AIS</h2>") : doc.index("<h2>Evidence</h2>")]
    assert f"{len(dark)} of {len(sample.deliveries)} calls are dark" in section
    rows = re.findall(r"<tr><td><a href=\"#d-([^\"]+)\">", section)
    assert rows == [d.id for d in sorted(dark, key=lambda d: _last_seen(sample, d))]
    # each dark call's row carries the chips of its evidence, the same as the evidence section
    visits = {v.id: v for v in sample.visits}
    dark_chips = sum(min(MAX_CHIPS_PER_DELIVERY, len(visits[d.load_visit].evidence)) for d in dark)
    assert dark_chips > 0 and section.count('class="chip"') == dark_chips
    assert doc.count('class="chip"') == summary["chips"] + dark_chips
    # the map: a fourth chart, also written beside the report
    assert 'alt="AIS tracks beside the detections"' in section
    assert doc.count('class="chart"') == 4
    png = (tmp_path / "report-ais.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    named = next(d for d in sample.deliveries if d not in dark)
    assert f"named by AIS, MMSI {named.ais_mmsi}" in doc
    assert "<th>AIS</th>" in doc and "<td>dark</td>" in doc
    unnamed = "unidentified (best candidates: Yu Jong 2 0.45, Sam Ma 2 0.30)"
    assert unnamed in section and f"{unnamed} at " in doc  # the dark table and its evidence


def test_dark_calls_without_ais_say_they_cannot_be_told(ledger_with_rasters, tmp_path):
    led, _ = ledger_with_rasters
    build_report(led, tmp_path / "r.html")
    doc = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "dark calls cannot be told from the others" in doc
    assert "<th>AIS</th>" not in doc and not (tmp_path / "r-ais.png").exists()


def _last_seen(sample, d):
    return next(v for v in sample.visits if v.id == d.load_visit).last_seen, d.id


def test_runs_without_kept_notes_say_so(db_url, tmp_path):
    sample = build(seed=2)
    sample.notes = []
    with Ledger(db_url) as led:
        fill(led, sample)
        build_report(led, tmp_path / "r.html")
        assert "The estimate left no notes." in (tmp_path / "r.html").read_text(encoding="utf-8")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET notes = NULL"))  # estimated before 0004
    engine.dispose()
    with Ledger(db_url) as led:
        build_report(led, tmp_path / "r.html")
    doc = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "before the ledger kept the estimate's notes" in html.unescape(doc)


def test_a_corrected_series_that_did_not_pass_gives_its_probability(db_url, tmp_path):
    sample = build(seed=2)
    row = next(c for c in sample.coverage["caps"] if c["scenario"] == "corrected")
    row.update(cap_passed_utc="", cap_passed_p10_utc="2024-05-01T00:00:00Z", p_passed=0.31)
    row["cap_passed_p90_utc"] = ""
    with Ledger(db_url) as led:
        fill(led, sample)
        build_report(led, tmp_path / "r.html")
    doc = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert (
        "<b>not passed</b><span>UNSCR 2397 cap, coverage-corrected: passed in 2024 with "
        "probability 0.31</span>" in doc
    )


def test_missing_raster_is_a_note_not_a_crash(ledger_with_rasters, tmp_path):
    led, sample = ledger_with_rasters
    gone = next(s for s in sample.scenes if sample.detections[s.id])
    Path(gone.path).unlink()
    out = tmp_path / "r.html"
    summary = build_report(led, out)
    doc = out.read_text(encoding="utf-8")
    assert summary["missing_rasters"] == len(sample.detections[gone.id])
    assert "Image not available" in doc and gone.path in doc
    assert summary["chips"] == _expected_chips(sample) - summary["missing_rasters"]


def test_empty_ledger_report(tmp_path):
    with Ledger(tmp_path / "e.db") as led:
        summary = build_report(led, tmp_path / "e.html")
    doc = (tmp_path / "e.html").read_text(encoding="utf-8")
    assert summary["deliveries"] == 0
    assert "No estimate has been saved" in doc and "No deliveries" in doc


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed at /usr/bin/chromium (Debian package 'chromium')",
)
def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    sample = build(seed=0, scene_root=tmp_path / "scenes")
    write_rasters(sample)
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
        build_report(led, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    res = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            (tmp_path / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2400)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # text, charts and chips, not a blank page
    # the charts' visit colour (#e76f51) is on screen, so the embedded PNGs were decoded
    assert any(
        abs(r - 0xE7) < 12 and abs(g - 0x6F) < 12 and abs(b - 0x51) < 12 for _, (r, g, b) in colours
    )
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_report_cli(cli, tmp_path):
    sample = build(seed=1, scene_root=tmp_path / "scenes")
    with Ledger(tmp_path / "l.db") as led:
        fill(led, sample)
    res = cli("report", "--db", tmp_path / "l.db", "--out", tmp_path / "r" / "report.html")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r" / "report.html").exists()
    assert (tmp_path / "r" / "report-cumulative.png").exists()
    assert "images missing" in res.stdout  # the rasters were never written
    res = cli("report", "--db", tmp_path / "l.db", "--run", "nope", "--out", tmp_path / "x.html")
    assert res.returncode == 2 and "no run nope" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()
