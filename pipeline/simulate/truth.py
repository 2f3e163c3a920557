"""Truth writers: visits.csv, deliveries.csv, fleet.csv (deterministic, atomic, UTC times)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipeline.config import REGISTRY_COLUMNS
from pipeline.fsutil import atomic_write_text
from pipeline.records import iso

# barrels per tonne at 15 C (density 0.845 diesel, 0.745 gasoline, 0.80 jet, 0.96 fuel oil)
BBL_PER_T = {
    "diesel": 7.45,
    "gasoline": 8.45,
    "jet": 7.87,
    "fuel_oil": 6.56,
    "refined": 7.6,  # unspecified refined products: a diesel/gasoline blend
}

VISIT_COLUMNS = [
    "vessel",
    "imo",
    "port",
    "berth",
    "role",
    "arrived_utc",
    "departed_utc",
    "length_m",
    "beam_m",
    "visit_id",
]
DELIVERY_COLUMNS = [
    "vessel",
    "imo",
    "load_port",
    "berth",
    "arrived_utc",
    "departed_utc",
    "discharge_port",
    "product",
    "loaded_t",
    "loaded_bbl",
    "discharge_berth",
    "discharge_arrived_utc",
    "discharge_departed_utc",
    "dwt",
    "loading_factor",
    "load_visit_id",
    "discharge_visit_id",
]


def _csv(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in columns})
    return buf.getvalue()


def write_visits(path: Path, visits) -> None:
    rows = [
        {
            "vessel": v.vessel,
            "imo": v.imo or "",
            "port": v.port,
            "berth": v.berth,
            "role": v.role,
            "arrived_utc": iso(v.arrived),
            "departed_utc": iso(v.departed),
            "length_m": f"{v.length_m:.1f}",
            "beam_m": f"{v.beam_m:.1f}",
            "visit_id": v.id,
        }
        for v in visits
    ]
    atomic_write_text(path, _csv(VISIT_COLUMNS, rows))


def write_deliveries(path: Path, deliveries, ais=None) -> None:
    """deliveries.csv; with simulated AIS (pipeline.simulate.ais.AisTruth) four more columns:
    ``ais`` (true: the transponder told where the vessel was during the load call), ``mmsi``
    (the vessel's, blank when it has none), ``laden_draught_m`` (the draught it left with) and
    ``draught_updated`` (true: its crew set the reported draught to it after departure)."""
    rows = [
        {
            "vessel": d.vessel,
            "imo": d.imo or "",
            "load_port": d.load_port,
            "berth": d.berth,
            "arrived_utc": iso(d.arrived),
            "departed_utc": iso(d.departed),
            "discharge_port": d.discharge_port,
            "product": d.product,
            "loaded_t": f"{d.loaded_t:.1f}",
            "loaded_bbl": f"{d.loaded_bbl:.0f}",
            "discharge_berth": d.discharge_berth,
            "discharge_arrived_utc": iso(d.discharge_arrived),
            "discharge_departed_utc": iso(d.discharge_departed),
            "dwt": f"{d.dwt:.0f}",
            "loading_factor": f"{d.loading_factor:.4f}",
            "load_visit_id": d.load_visit,
            "discharge_visit_id": d.discharge_visit,
        }
        for d in deliveries
    ]
    columns = DELIVERY_COLUMNS
    if ais is not None:
        columns = [*DELIVERY_COLUMNS, "ais", "mmsi", "laden_draught_m", "draught_updated"]
        for row, d in zip(rows, deliveries, strict=True):
            row["ais"] = "true" if ais.honest.get(d.load_visit) else "false"
            row["mmsi"] = ais.mmsi.get(d.vessel, "")
            laden = ais.laden_draught.get(d.load_visit)
            row["laden_draught_m"] = "" if laden is None else f"{laden:.1f}"
            row["draught_updated"] = "true" if ais.draught_updated.get(d.load_visit) else "false"
    atomic_write_text(path, _csv(columns, rows))


def write_fleet(path: Path, fleet) -> None:
    atomic_write_text(path, _csv(REGISTRY_COLUMNS, [v.row() for v in fleet]))
