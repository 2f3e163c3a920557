"""Exports from the ledger: CSV tables for spreadsheets, GeoParquet / GeoPackage for GIS.

CSV: UTF-8, a header row, no index column, times ISO 8601 UTC with a trailing Z, lists joined
with ";" (pipeline.recordio.write_table; deliveries have the one row of pipeline.recordio).
Every file is written to a temporary name and renamed when complete.

By default the current run is exported; ``run_id`` exports any earlier (superseded) run, so a
published figure can be reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path
from pipeline.ledger.runs import RunInfo
from pipeline.ledger.store import Ledger
from pipeline.recordio import (
    CAPS_COLUMNS,
    DELIVERY_COLUMNS,
    caps_table,
    delivery_table,
    whole_calls,
    write_table,
)

MONTHLY_COLUMNS = [
    "month",
    "port",
    "calls_observed",
    "calls_corrected_p10",
    "calls_corrected_p50",
    "calls_corrected_p90",
    "barrels_observed_p50",
    "barrels_corrected_p10",
    "barrels_corrected_p50",
    "barrels_corrected_p90",
    "run_id",
]
RUNS_COLUMNS = [
    "id",
    "model",
    "code_version",
    "config_hash",
    "created_utc",
    "estimated_utc",
    "superseded_by",
    "deliveries",
    "config",
    "notes",
]
KINDS = ("deliveries", "monthly", "caps", "detections", "visits", "runs")


def _run(ledger: Ledger, run_id: str | None) -> RunInfo:
    run = ledger.run(run_id) if run_id else ledger.latest_run()
    if run_id and run is None:
        raise TankerWatchError(f"ledger at {ledger.display_url} has no run {run_id}")
    if run is None or run.estimated_utc is None:
        raise TankerWatchError(
            f"ledger at {ledger.display_url} has no estimate yet"
            + (f" for run {run_id}" if run_id else "")
            + " (run `tankerwatch estimate` or `tankerwatch run` first)"
        )
    return run


def delivery_rows(ledger: Ledger, run_id: str | None = None) -> list[dict[str, Any]]:
    """One row per delivery of the run (default: current), ordered by first sighting."""
    run = _run(ledger, run_id)
    deliveries = ledger.deliveries(run.id)
    evidence = ledger.evidence(deliveries)
    scenes = {i: e["scenes"] for i, e in evidence.items()}
    return delivery_table(deliveries, ledger.visits(run.id), scenes)


def monthly_rows(ledger: Ledger, run_id: str | None = None) -> list[dict[str, Any]]:
    run = _run(ledger, run_id)
    rows = (run.coverage or {}).get("by_month", [])
    ordered = sorted(rows, key=lambda r: (r["month"], r["port"]))
    return [{**whole_calls(r), "run_id": run.id} for r in ordered]  # calls are whole numbers


def caps_rows(ledger: Ledger, run_id: str | None = None) -> list[dict[str, Any]]:
    run = _run(ledger, run_id)
    return caps_table(run.coverage, run.id)


def runs_rows(ledger: Ledger) -> list[dict[str, Any]]:
    """Every run, current or superseded, with its config: find the run id behind a figure."""
    import json

    counts: dict[str, int] = {}
    for d in ledger.deliveries(include_superseded=True):
        counts[d.run_id] = counts.get(d.run_id, 0) + 1
    return [
        {
            "id": r.id,
            "model": r.model,
            "code_version": r.code_version,
            "config_hash": r.config_hash,
            "created_utc": r.created_utc,
            "estimated_utc": r.estimated_utc,
            "superseded_by": r.superseded_by,
            "deliveries": counts.get(r.id, 0),
            "config": json.dumps(r.config, sort_keys=True),
            "notes": None if r.notes is None else json.dumps(r.notes),
        }
        for r in ledger.runs()
    ]


def _geo_write(gdf: Any, out: Path) -> None:
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        if suffix in (".parquet", ".geoparquet"):
            gdf.to_parquet(tmp, index=False)
        else:
            gdf.to_file(tmp, driver="GPKG", layer=out.stem, engine="pyogrio")


def _check_geo_suffix(out: Path) -> None:
    if out.suffix.lower() not in (".parquet", ".geoparquet", ".gpkg"):
        raise TankerWatchError(
            f"{out}: unknown GIS format '{out.suffix}' (use .parquet for GeoParquet or .gpkg)"
        )


def _times(df: Any, cols: list[str]) -> Any:
    import pandas as pd

    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def export_detections(ledger: Ledger, out: Path | str, model: str | None = None) -> int:
    """Detections (footprint polygons, EPSG:4326) with their scene's port and time."""
    import geopandas as gpd
    import pandas as pd
    from shapely import wkt

    out = Path(out)
    _check_geo_suffix(out)
    dets = ledger.detections(model=model)
    scenes = {s.id: s for s in ledger.scenes()}
    rows = []
    for d in dets:
        s = scenes.get(d.scene_id)
        rows.append(
            {
                "id": d.id,
                "scene_id": d.scene_id,
                "port": s.port if s else None,
                "acquired_utc": s.acquired if s else None,
                "model": d.model,
                "cls": d.cls,
                "score": d.score,
                "length_m": d.length_m,
                "beam_m": d.beam_m,
                "heading_deg": d.heading_deg,
                "lon": d.lon,
                "lat": d.lat,
                "geometry": wkt.loads(d.geometry),
            }
        )
    columns = ["id", "scene_id", "port", "acquired_utc", "model", "cls", "score", "length_m"]
    columns += ["beam_m", "heading_deg", "lon", "lat", "geometry"]
    df = pd.DataFrame(rows, columns=columns)
    df = _times(df, ["acquired_utc"])
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")
    _geo_write(gdf, out)
    return len(gdf)


def export_visits(ledger: Ledger, out: Path | str, run_id: str | None = None) -> int:
    """Visits of a run as points (mean position of their evidence detections, EPSG:4326)."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    out = Path(out)
    _check_geo_suffix(out)
    run = _run(ledger, run_id)
    visits = ledger.visits(run.id)
    det_ids = {i for v in visits for i in v.evidence}
    where = {d.id: (d.lon, d.lat) for d in ledger.detections(ids=det_ids)} if det_ids else {}
    rows = []
    for v in visits:
        pts = [where[i] for i in v.evidence if i in where]
        geom = (
            Point(sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
            if pts
            else None
        )
        rows.append(
            {
                "id": v.id,
                "run_id": run.id,
                "port": v.port,
                "berth": v.berth,
                "role": v.role,
                "vessel_key": v.vessel_key,
                "arrived_after_utc": v.arrived_after,
                "first_seen_utc": v.first_seen,
                "last_seen_utc": v.last_seen,
                "departed_before_utc": v.departed_before,
                "n_obs": v.n_obs,
                "length_m": v.length_m,
                "beam_m": v.beam_m,
                "length_sigma_m": v.length_sigma_m,
                "beam_sigma_m": v.beam_sigma_m,
                "evidence_detection_ids": ";".join(v.evidence),
                "geometry": geom,
            }
        )
    columns = ["id", "run_id", "port", "berth", "role", "vessel_key", "arrived_after_utc"]
    columns += ["first_seen_utc", "last_seen_utc", "departed_before_utc", "n_obs", "length_m"]
    columns += ["beam_m", "length_sigma_m", "beam_sigma_m", "evidence_detection_ids", "geometry"]
    df = pd.DataFrame(rows, columns=columns)
    df = _times(df, ["arrived_after_utc", "first_seen_utc", "last_seen_utc", "departed_before_utc"])
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")
    _geo_write(gdf, out)
    return len(gdf)


def export(
    ledger: Ledger, kind: str, out: Path | str, run_id: str | None = None, model: str | None = None
) -> int:
    """Write one export; returns the number of rows."""
    if kind == "deliveries":
        return write_table(out, DELIVERY_COLUMNS, delivery_rows(ledger, run_id))
    if kind == "monthly":
        return write_table(out, MONTHLY_COLUMNS, monthly_rows(ledger, run_id))
    if kind == "caps":
        return write_table(out, CAPS_COLUMNS, caps_rows(ledger, run_id))
    if kind == "runs":
        return write_table(out, RUNS_COLUMNS, runs_rows(ledger))
    if kind == "detections":
        return export_detections(ledger, out, model=model)
    if kind == "visits":
        return export_visits(ledger, out, run_id=run_id)
    raise TankerWatchError(f"unknown export '{kind}' (choose one of: {', '.join(KINDS)})")
