"""Exports: spreadsheet-clean CSV and GIS layers, from the current or an earlier run."""

from __future__ import annotations

import copy
import csv
import json

import pytest
import sqlalchemy as sa

from ledger.factory import build, fill
from pipeline.errors import TankerWatchError
from pipeline.ledger.export import export
from pipeline.ledger.store import Ledger
from pipeline.recordio import CAPS_COLUMNS, DELIVERY_COLUMNS


@pytest.fixture
def filled(db_url):
    sample = build(seed=7)
    with Ledger(db_url) as led:
        run_id = fill(led, sample)
        yield led, sample, run_id


def _read(path):
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_deliveries_csv(filled, tmp_path):
    led, sample, run_id = filled
    out = tmp_path / "deliveries.csv"
    n = export(led, "deliveries", out)
    rows = _read(out)
    assert n == len(rows) == len(sample.deliveries)
    assert list(rows[0]) == DELIVERY_COLUMNS  # no index column, documented order
    visits = {v.id: v for v in sample.visits}
    scene_of = {d.id: d.scene_id for ds in sample.detections.values() for d in ds}
    by_id = {d.id: d for d in sample.deliveries}
    assert [r["first_seen"] for r in rows] == sorted(r["first_seen"] for r in rows)
    for r in rows:
        d = by_id[r["id"]]
        v = visits[d.load_visit]
        assert r["run_id"] == run_id and r["model"] == d.model
        assert r["load_port"] == v.port and r["load_berth"] == v.berth
        assert r["first_seen"] == v.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert r["arrived_after"].endswith("Z") and r["departed_before"].endswith("Z")
        assert r["discharge_port"] == ""
        assert float(r["barrels_p50"]) == pytest.approx(d.barrels_p50, abs=1e-3)
        assert float(r["barrels_90"]) == pytest.approx(d.barrels_90, abs=1e-3)
        assert r["evidence_scene_ids"].split(";") == sorted({scene_of[i] for i in v.evidence})
        assert r["imo"] == d.imo


def test_monthly_and_caps_csv(filled, tmp_path):
    led, sample, run_id = filled
    export(led, "monthly", tmp_path / "m.csv")
    rows = _read(tmp_path / "m.csv")
    assert [r["month"] for r in rows] == [m["month"] for m in sample.coverage["by_month"]]
    assert sum(int(r["calls_observed"]) for r in rows) == len(sample.deliveries)
    assert {r["run_id"] for r in rows} == {run_id}
    export(led, "caps", tmp_path / "c.csv")
    caps = {r["scenario"]: r for r in _read(tmp_path / "c.csv")}
    assert set(caps) == {"p50", "33", "50", "90", "corrected"}
    assert list(_read(tmp_path / "c.csv")[0]) == CAPS_COLUMNS
    p50 = caps["p50"]
    assert p50["cap_bbl"] == "500000" and p50["product_class"] == "refined"
    assert float(p50["cap_fraction"]) == pytest.approx(float(p50["cumulative_bbl"]) / 500000, 1e-3)
    assert p50["cap_passed_utc"] == sample.coverage["caps"][0]["cap_passed_utc"]
    assert p50["p_passed"] == p50["cap_passed_p10_utc"] == p50["cumulative_p90_bbl"] == ""
    # the coverage-corrected series: its P10 / P50 / P90 dates and the probability it passed
    want = sample.coverage["caps"][-1]
    got = caps["corrected"]
    for key in ("cap_passed_utc", "cap_passed_p10_utc", "cap_passed_p90_utc"):
        assert got[key] == want[key] and got[key].endswith("Z")
    assert float(got["p_passed"]) == want["p_passed"]
    assert float(got["cumulative_p10_bbl"]) <= float(got["cumulative_bbl"])
    assert float(got["cumulative_bbl"]) <= float(got["cumulative_p90_bbl"])


def test_monthly_calls_are_whole_numbers(filled, tmp_path):
    led, sample, _ = filled
    export(led, "monthly", tmp_path / "m.csv")
    rows = _read(tmp_path / "m.csv")
    fractional = [m["calls_corrected_p50"] for m in sample.coverage["by_month"]]
    assert any(x != int(x) for x in fractional)  # the stored figures are not whole
    for r, m in zip(rows, sample.coverage["by_month"], strict=True):
        for key in ("calls_corrected_p10", "calls_corrected_p50", "calls_corrected_p90"):
            assert r[key] == str(int(m[key] + 0.5))
        assert float(r["barrels_corrected_p50"]) == pytest.approx(m["barrels_corrected_p50"], 1e-3)


def test_an_earlier_run_can_be_exported_again(filled, tmp_path):
    led, sample, old = filled
    before = tmp_path / "before.csv"
    export(led, "deliveries", before)
    newer = copy.deepcopy(sample)
    for d in newer.deliveries:
        d.barrels_p50 += 1000
    new = fill(led, newer, config={"retrained": True})
    export(led, "deliveries", tmp_path / "now.csv")
    assert {r["run_id"] for r in _read(tmp_path / "now.csv")} == {new}
    export(led, "deliveries", tmp_path / "again.csv", run_id=old)
    assert (tmp_path / "again.csv").read_bytes() == before.read_bytes()
    with pytest.raises(TankerWatchError, match="no run nope"):
        export(led, "deliveries", tmp_path / "x.csv", run_id="nope")
    export(led, "runs", tmp_path / "runs.csv")
    runs = {r["id"]: r for r in _read(tmp_path / "runs.csv")}
    assert set(runs) == {old, new}
    assert runs[old]["superseded_by"] == new and runs[new]["superseded_by"] == ""
    assert runs[old]["deliveries"] == str(len(sample.deliveries))
    assert '"retrained": true' in runs[new]["config"]
    assert json.loads(runs[new]["notes"]) == sample.notes  # how the figures were made


def test_gis_layers(filled, tmp_path):
    import geopandas as gpd

    led, sample, run_id = filled
    n_det = sum(len(v) for v in sample.detections.values())
    for suffix in (".parquet", ".gpkg"):
        assert export(led, "detections", tmp_path / f"det{suffix}") == n_det
        read = gpd.read_parquet if suffix == ".parquet" else gpd.read_file
        det = read(tmp_path / f"det{suffix}")
        assert len(det) == n_det and det.crs.to_epsg() == 4326
        assert det.geometry.geom_type.eq("Polygon").all()
        assert str(det["acquired_utc"].dt.tz) == "UTC"
        assert export(led, "visits", tmp_path / f"vis{suffix}") == len(sample.visits)
        vis = read(tmp_path / f"vis{suffix}")
        assert set(vis["id"]) == {v.id for v in sample.visits}
        assert vis.geometry.notna().all()
    with pytest.raises(TankerWatchError, match="unknown GIS format"):
        export(led, "visits", tmp_path / "v.shp")
    assert not (tmp_path / "v.shp").exists()


def test_empty_ledger_has_nothing_to_export(tmp_path):
    with Ledger(tmp_path / "e.db") as led:
        with pytest.raises(TankerWatchError, match="no estimate yet"):
            export(led, "deliveries", tmp_path / "d.csv")
        with pytest.raises(TankerWatchError, match="unknown export"):
            export(led, "everything", tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()


def test_export_cli(cli, tmp_path):
    db = tmp_path / "l.db"
    sample = build(seed=2)
    with Ledger(db) as led:
        fill(led, sample)
    db.chmod(0o444)  # exporting never needs to write
    try:
        res = cli("export", "deliveries", "--db", str(db), "--out", tmp_path / "d.csv")
        assert res.returncode == 0, res.stderr
        assert len(_read(tmp_path / "d.csv")) == len(sample.deliveries)
        assert "wrote" in res.stdout and oct(db.stat().st_mode)[-3:] == "444"
    finally:
        db.chmod(0o644)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    before = db.read_bytes()
    res = cli("export", "deliveries", "--db", db, "--out", tmp_path / "x.csv")
    assert res.returncode == 2 and "newer than this TankerWatch" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and db.read_bytes() == before
    url = "postgresql://tw:hunter2@127.0.0.1:1/ledger"
    res = cli("export", "caps", "--db", url, "--out", tmp_path / "x.csv")
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "hunter2" not in res.stderr
    assert "127.0.0.1:1/ledger" in res.stderr


def test_visits_layer_carries_the_error_sizes(filled, tmp_path):
    import geopandas as gpd

    led, sample, _ = filled
    export(led, "visits", tmp_path / "v.parquet")
    vis = gpd.read_parquet(tmp_path / "v.parquet").set_index("id")
    for v in sample.visits:
        assert vis.loc[v.id, "length_sigma_m"] == pytest.approx(v.length_sigma_m)
        assert vis.loc[v.id, "beam_sigma_m"] == pytest.approx(v.beam_sigma_m)
