"""The figures a report or notebook shows, computed from the ledger (no plotting here).

``headline`` gives the published numbers (calls and barrels, observed and coverage-corrected,
and the date the UNSCR 2397 cap was passed); ``cumulative`` the barrels-over-time series
behind the cap chart; ``vessel_table`` one row per vessel; ``dark_calls`` the calls no
transponder matched. All of them come from the current run by default, or from the run named,
so any published figure can be recomputed. ``ais`` holds the ledger's AIS reports around the
evidence detections (for the map of tracks beside them), thinned to at most
``MAX_AIS_POINTS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from pipeline.ledger.runs import RunInfo
from pipeline.ledger.store import Ledger
from pipeline.recordio import whole_calls
from pipeline.records import Delivery, Detection, Visit, utc

UNSCR_2397_REFINED_CAP_BBL = 500_000.0
MAX_AIS_POINTS = 100_000  # a map needs the tracks' shape, not every 3-minute report
AIS_MARGIN_DEG = 0.03  # the map reaches about 3 km beyond the outermost detection
AIS_MARGIN = timedelta(days=1)  # and a day before the first / after the last sighting


@dataclass
class ReportData:
    """Everything the report draws, read once from the ledger."""

    run: RunInfo | None
    deliveries: list[Delivery]
    visits: dict[str, Visit]
    observations: list[Any]
    coverage: dict[str, Any]
    evidence: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    detections: dict[str, Detection] = field(default_factory=dict)  # the evidence detections
    ais: pd.DataFrame | None = None  # mmsi, time, lat, lon around them; None: no AIS there


def load(ledger: Ledger, run_id: str | None = None) -> ReportData:
    run = ledger.run(run_id) if run_id else ledger.latest_run()
    if run is None or run.estimated_utc is None:
        return ReportData(run, [], {}, ledger.observations(), {})
    deliveries = ledger.deliveries(run.id)
    visits = {v.id: v for v in ledger.visits(run.id)}
    evidence = ledger.evidence(deliveries)
    ids = sorted({i for ev in evidence.values() for i in ev["detections"]})
    detections = {d.id: d for d in ledger.detections(ids=ids)} if ids else {}
    return ReportData(
        run=run,
        deliveries=deliveries,
        visits=visits,
        observations=ledger.observations(),
        coverage=run.coverage or {},
        evidence=evidence,
        detections=detections,
        ais=ais_around(ledger, deliveries, visits, evidence, detections),
    )


def ais_around(ledger: Ledger, deliveries, visits, evidence, detections):
    """The AIS reports within ``AIS_MARGIN_DEG`` of each port's evidence detections and
    ``AIS_MARGIN`` of its calls (mmsi, time, lat, lon), every k-th report of each vessel kept
    so that at most ``MAX_AIS_POINTS`` remain; None when there are none. One query per port, so
    two ports far apart do not fetch the sea between them."""
    by_port: dict[str, tuple[list[Visit], list[Detection]]] = {}
    for d in deliveries:
        v = visits.get(d.load_visit)
        dets = [detections[i] for i in evidence.get(d.id, {}).get("detections", [])
                if i in detections]  # fmt: skip
        if v is None or not dets:
            continue
        vs, ds = by_port.setdefault(v.port, ([], []))
        vs.append(v)
        ds += dets
    m = AIS_MARGIN_DEG
    parts = []
    for vs, ds in by_port.values():
        lon = [d.lon for d in ds]
        lat = [d.lat for d in ds]
        parts.append(
            ledger.ais_positions(
                start=min(v.first_seen for v in vs) - AIS_MARGIN,
                end=max(v.last_seen for v in vs) + AIS_MARGIN,
                bbox=(min(lon) - m, min(lat) - m, max(lon) + m, max(lat) + m),
            )[["mmsi", "time", "lat", "lon"]]
        )
    if not parts or all(p.empty for p in parts):
        return None
    pos = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    step = -(-len(pos) // MAX_AIS_POINTS)  # ceiling division
    if step > 1:
        pos = pos[pos.groupby("mmsi").cumcount() % step == 0]
    return pos.reset_index(drop=True)


def ais_state(d: Delivery) -> str:
    """'dark', 'named' (by its transponder) or '' (no AIS verdict, or too weak to name)."""
    if d.dark:
        return "dark"
    return "named" if d.ais_mmsi is not None else ""


def dark_calls(data: ReportData) -> list[Delivery]:
    """The calls no transponder matched, in time order."""
    ds = [d for d in data.deliveries if d.dark and d.load_visit in data.visits]
    return sorted(ds, key=lambda d: (delivery_time(d, data.visits), d.id))


def delivery_time(d: Delivery, visits: dict[str, Visit]) -> datetime:
    """When a delivery counts towards the cap: the last sighting of its load visit."""
    return utc(visits[d.load_visit].last_seen)


def headline(data: ReportData) -> dict[str, Any]:
    """Calls and barrels (observed, corrected p10/p50/p90) and cap-passed dates per scenario."""
    totals = dict(data.coverage.get("totals") or {})
    totals = whole_calls(totals)  # calls are shown as whole numbers
    out: dict[str, Any] = {
        "run_id": data.run.id if data.run else "",
        "model": data.run.model if data.run else "",
        "deliveries": len(data.deliveries),
        "calls_observed": totals.get("calls_observed", len(data.deliveries)),
        "barrels_observed_p50": totals.get(
            "barrels_observed_p50", sum(d.barrels_p50 for d in data.deliveries)
        ),
        "p_seen": data.coverage.get("p_seen"),
    }
    for k in (
        "calls_corrected_p10",
        "calls_corrected_p50",
        "calls_corrected_p90",
        "barrels_corrected_p10",
        "barrels_corrected_p50",
        "barrels_corrected_p90",
    ):
        out[k] = totals.get(k)
    out["caps"] = [dict(c) for c in data.coverage.get("caps") or []]
    p50 = [
        c
        for c in out["caps"]
        if str(c.get("scenario")) == "p50"
        and c.get("product_class", "refined") == "refined"
        and c.get("cap_passed_utc")
    ]
    out["cap_passed_utc"] = min((c["cap_passed_utc"] for c in p50), default="")
    out["cap_corrected"] = corrected_cap_row(out["caps"])
    out["notes"] = list((data.run.notes if data.run else None) or [])
    return out


def corrected_cap_row(caps: list[dict[str, Any]], product: str = "refined") -> dict | None:
    """The coverage-corrected cap row to headline: of the years whose P50 date exists, the
    earliest; else the year most likely passed; None when the run has no corrected series."""
    rows = [
        c
        for c in caps
        if c.get("scenario") == "corrected" and c.get("product_class", "refined") == product
    ]
    if not rows:
        return None
    passed = [c for c in rows if c.get("cap_passed_utc")]
    if passed:
        return min(passed, key=lambda c: c["cap_passed_utc"])
    return max(rows, key=lambda c: (float(c.get("p_passed") or 0), -int(c["year"])))


def corrected_cap_text(row: dict | None) -> str:
    """'2024-04-20 (P10 2024-04-15, P90 2024-05-15)', or 'not passed (probability 0.23 that
    it was)'; 'n/a' without a corrected series (no observation schedule)."""
    if row is None:
        return "n/a"
    p = float(row.get("p_passed") or 0)
    if not row.get("cap_passed_utc"):
        return f"not passed (probability {p:.2f} that it was, {row['year']})"
    p90 = (row.get("cap_passed_p90_utc") or "")[:10] or "not passed"
    return f"{row['cap_passed_utc'][:10]} (P10 {row['cap_passed_p10_utc'][:10]}, P90 {p90})"


def cumulative(
    data: ReportData, product: str = "refined"
) -> list[tuple[datetime, dict[str, float]]]:
    """Cumulative barrels per calendar year (the caps are per year), one point per delivery.

    Each point carries the running sums of barrels_p10/p50/p90/33/50/90. The p10 and p90 sums
    are an envelope (a sum of percentiles is not a percentile of the sum).
    """
    keys = ("barrels_p10", "barrels_p50", "barrels_p90", "barrels_33", "barrels_50", "barrels_90")
    ds = [d for d in data.deliveries if d.product == product and d.load_visit in data.visits]
    ds.sort(key=lambda d: (delivery_time(d, data.visits), d.id))
    out: list[tuple[datetime, dict[str, float]]] = []
    run = dict.fromkeys(keys, 0.0)
    year = None
    for d in ds:
        when = delivery_time(d, data.visits)
        if when.year != year:
            year, run = when.year, dict.fromkeys(keys, 0.0)
        for k in keys:
            run[k] += float(getattr(d, k))
        out.append((when, dict(run)))
    return out


def vessel_table(data: ReportData) -> list[dict[str, Any]]:
    """One row per vessel (identified name and IMO, or 'unidentified')."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for d in data.deliveries:
        key = (d.vessel, d.imo or "")
        v = data.visits.get(d.load_visit)
        r = rows.setdefault(
            key,
            {
                "vessel": d.vessel,
                "imo": d.imo or "",
                "deliveries": 0,
                "barrels_p10": 0.0,
                "barrels_p50": 0.0,
                "barrels_p90": 0.0,
                "id_probability_mean": 0.0,
                "first_seen": None,
                "last_seen": None,
                "berths": set(),
            },
        )
        r["deliveries"] += 1
        for k in ("barrels_p10", "barrels_p50", "barrels_p90"):
            r[k] += float(getattr(d, k))
        r["id_probability_mean"] += float(d.id_probability)
        if v is not None:
            r["first_seen"] = min(filter(None, [r["first_seen"], v.first_seen]))
            r["last_seen"] = max(filter(None, [r["last_seen"], v.last_seen]))
            r["berths"].add(f"{v.port}/{v.berth}")
    out = []
    for r in rows.values():
        r["id_probability_mean"] /= r["deliveries"]
        r["berths"] = ", ".join(sorted(r["berths"]))
        out.append(r)
    out.sort(key=lambda r: (-r["barrels_p50"], r["vessel"]))
    return out
