"""The records as files: scenes, observations, detections, visits, voyages and deliveries.

The one place where a record becomes a file row and back, used by every command that reads or
writes them and by the ledger's exports, so a column means the same in every file. Every reader
checks its columns and rows and raises one TankerWatchError naming the file and the row (CSV: the
line number, header = line 1; GeoJSON/GeoPackage/Parquet: the feature number, first = 1).
Writers go through pipeline.fsutil (temporary file, then rename).

CSV: UTF-8, a header row, no index column, times ISO 8601 UTC with a trailing Z.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path, atomic_write_text
from pipeline.records import (
    Delivery,
    Detection,
    Observation,
    Scene,
    SensorCalibration,
    Visit,
    iso,
    utc,
)

DETECTION_COLUMNS = ["scene_id", "lon", "lat", "length_m", "beam_m", "score"]
SCENE_COLUMNS = ["id", "sensor", "acquired", "port", "gsd_m"]
OBSERVATION_COLUMNS = ["scene_id", "port", "berth", "acquired", "state"]
VISIT_COLUMNS = [
    "id", "port", "berth", "role", "vessel_key", "first_seen", "last_seen", "arrived_after",
    "departed_before", "n_obs", "length_m", "beam_m", "length_sigma_m", "beam_sigma_m", "evidence",
    "sightings",
]  # fmt: skip
VOYAGE_COLUMNS = [
    "id", "load_visit", "discharge_visit", "discharge_port", "transit_h", "size_z", "source", "mmsi"
]  # fmt: skip
# One row per delivery, the same in `estimate --out` and `export deliveries`: the delivery with
# its load visit's place and time bounds, the scenes that show it, and how it was estimated.
DELIVERY_COLUMNS = [
    "id", "vessel", "imo", "id_probability", "load_port", "load_berth", "arrived_after",
    "first_seen", "last_seen", "departed_before", "discharge_port", "barrels_p10", "barrels_p50",
    "barrels_p90", "barrels_33", "barrels_50", "barrels_90", "product", "evidence_scene_ids",
    "run_id", "model", "load_visit", "discharge_visit", "method", "candidates", "dark", "ais_mmsi",
]  # fmt: skip
DETECTION_OUT_COLUMNS = [
    "id", "scene_id", "lon", "lat", "length_m", "beam_m", "heading_deg", "score", "cls", "model",
]  # fmt: skip
DETECTION_DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".parquet": None, ".gpkg": "GPKG"}


def _where(path: Path, n: int, kind: str = "row") -> str:
    return f"{path} {kind} {n}"


def _float(row: dict, key: str, where: str, default: float | None = None) -> float:
    v = row.get(key)
    if (
        v is None
        or (isinstance(v, str) and not v.strip())
        or (isinstance(v, float) and math.isnan(v))
    ):
        if default is not None:
            return default
        raise TankerWatchError(f"{where}: field '{key}' is empty")
    try:
        out = float(v)
    except (TypeError, ValueError):
        raise TankerWatchError(f"{where}: field '{key}': '{v}' is not a number") from None
    if not math.isfinite(out):
        raise TankerWatchError(f"{where}: field '{key}': '{v}' is not a finite number")
    return out


def _time(row: dict, key: str, where: str, optional: bool = False):
    v = row.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if optional:
            return None
        raise TankerWatchError(f"{where}: field '{key}' is empty")
    try:
        return (
            utc(v)
            if isinstance(v, str)
            else utc(v.to_pydatetime() if hasattr(v, "to_pydatetime") else v)
        )
    except (TypeError, ValueError):
        raise TankerWatchError(f"{where}: field '{key}': '{v}' is not an ISO 8601 time") from None


def _str(row: dict, key: str, where: str, default: str | None = None) -> str:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
        if default is not None:
            return default
        raise TankerWatchError(f"{where}: field '{key}' is empty")
    return str(v).strip()


def _read_csv(path: Path, required: list[str]) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TankerWatchError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TankerWatchError(f"{path}: cannot read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise TankerWatchError(f"{path}: missing columns {', '.join(missing)}")
        return [(i, row) for i, row in enumerate(reader, start=2)]
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit(), a stray NUL
        raise TankerWatchError(
            f"{path} line {reader.reader.line_num}: not a readable CSV ({exc})"
        ) from None


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


# --------------------------------------------------------------------------- scenes


def read_scenes(path: Path | str) -> list[Scene]:
    """Scene catalogue as CSV (one row per scene, Scene field names) or JSON (a list of scenes)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TankerWatchError(f"{path}: file not found") from None
        except json.JSONDecodeError as exc:
            raise TankerWatchError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(data, dict):
            data = data.get("scenes")
        if not isinstance(data, list):
            raise TankerWatchError(f"{path}: expected a list of scenes (or {{'scenes': [...]}})")
        rows = [(i, r) for i, r in enumerate(data, start=1)]
        kind = "item"
        for i, r in rows:
            if not isinstance(r, dict):
                raise TankerWatchError(f"{path} item {i}: not an object")
            missing = [c for c in SCENE_COLUMNS if c not in r]
            if missing:
                raise TankerWatchError(f"{path} item {i}: missing fields {', '.join(missing)}")
    elif path.suffix.lower() == ".csv":
        rows = _read_csv(path, SCENE_COLUMNS)
        kind = "row"
    else:
        raise TankerWatchError(f"{path}: unknown scene catalogue type (use .csv or .json)")
    scenes, seen = [], set()
    for i, r in rows:
        w = _where(path, i, kind)
        sid = _str(r, "id", w)
        if sid in seen:
            raise TankerWatchError(f"{w}: duplicate scene id '{sid}'")
        seen.add(sid)
        bands = r.get("bands") or []
        if isinstance(bands, str):
            bands = [b.strip() for b in bands.replace(";", ",").split(",") if b.strip()]
        scenes.append(
            Scene(
                id=sid,
                source=_str(r, "source", w, ""),
                sensor=_str(r, "sensor", w),
                acquired=_time(r, "acquired", w),
                port=_str(r, "port", w),
                path=_str(r, "path", w, ""),
                crs=_str(r, "crs", w, ""),
                gsd_m=_float(r, "gsd_m", w),
                bands=list(bands),
                valid_fraction=_float(r, "valid_fraction", w, 1.0),
                cloud_fraction=_float(r, "cloud_fraction", w, 0.0),
            )
        )
    return scenes


def write_scenes(path: Path | str, scenes: list[Scene]) -> None:
    cols = ["id", "source", "sensor", "acquired", "port", "path", "crs", "gsd_m", "bands",
            "valid_fraction", "cloud_fraction"]  # fmt: skip
    rows = []
    for s in scenes:
        d = s.to_dict()
        d["bands"] = ",".join(s.bands)
        rows.append(d)
    _write_csv(Path(path), cols, rows)


# --------------------------------------------------------------------------- observations


def read_observations(path: Path | str) -> list[Observation]:
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise TankerWatchError(f"{path}: observations must be a .csv file")
    out = []
    for i, r in _read_csv(path, OBSERVATION_COLUMNS):
        w = _where(path, i)
        state = _str(r, "state", w)
        if state not in ("clear", "obscured"):
            raise TankerWatchError(f"{w}: field 'state': '{state}' is not clear or obscured")
        out.append(
            Observation(
                scene_id=_str(r, "scene_id", w),
                port=_str(r, "port", w),
                berth=_str(r, "berth", w),
                acquired=_time(r, "acquired", w),
                state=state,
                clear_fraction=_float(r, "clear_fraction", w, 1.0 if state == "clear" else 0.0),
                sensor=_str(r, "sensor", w, ""),
                gsd_m=_float(r, "gsd_m", w, 0.0),
            )
        )
    return out


def write_observations(path: Path | str, observations: list[Observation]) -> None:
    cols = ["scene_id", "port", "berth", "acquired", "state", "clear_fraction", "sensor", "gsd_m"]
    _write_csv(Path(path), cols, [o.to_dict() for o in observations])


# --------------------------------------------------------------------------- detections


def read_detections(path: Path | str) -> list[Detection]:
    """Detections as written by `tankerwatch detect` (.geojson, .parquet or .gpkg)."""
    import geopandas as gpd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".geojson", ".json", ".parquet", ".gpkg"):
        raise TankerWatchError(f"{path}: unknown detections type (use .geojson, .parquet or .gpkg)")
    if not path.exists():
        raise TankerWatchError(f"{path}: file not found")
    try:
        # the readers warn about columns they leave as text (a 'lon' of "abc" among numbers);
        # the field checks below turn such a value into the one error line naming its feature
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = gpd.read_parquet(path) if suffix == ".parquet" else gpd.read_file(path)
    except Exception as exc:  # any reader failure is a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TankerWatchError(f"{path}: cannot read detections ({first})") from None
    missing = [c for c in DETECTION_COLUMNS if c not in gdf.columns]
    if missing and len(gdf):
        raise TankerWatchError(f"{path}: missing columns {', '.join(missing)}")
    if gdf.crs is not None and len(gdf) and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    out = []
    for i, (_, r) in enumerate(gdf.iterrows(), start=1):
        w = _where(path, i, "feature")
        geom = r.get("geometry")
        d = Detection(
            scene_id=_str(r, "scene_id", w),
            geometry="" if geom is None or geom.is_empty else geom.wkt,
            lon=_float(r, "lon", w),
            lat=_float(r, "lat", w),
            length_m=_float(r, "length_m", w),
            beam_m=_float(r, "beam_m", w),
            heading_deg=_float(r, "heading_deg", w, 0.0),
            score=_float(r, "score", w),
            cls=_str(r, "cls", w, "vessel"),
            model=_str(r, "model", w, ""),
            id=_str(r, "id", w, ""),
        )
        if d.length_m <= 0 or d.beam_m <= 0:
            raise TankerWatchError(f"{w}: length_m and beam_m must be positive")
        out.append(d)
    return out


def check_detections_path(path: Path | str) -> Path:
    """The path, if its type is one detections can be written as; else a one-line error."""
    path = Path(path)
    if path.suffix.lower() not in DETECTION_DRIVERS:
        raise TankerWatchError(f"{path}: unknown output type (use .geojson, .parquet or .gpkg)")
    return path


def write_detections(path: Path | str, detections: list[Detection]) -> None:
    """Detection records as GeoJSON, GeoParquet or GeoPackage (by extension), atomically."""
    import geopandas as gpd
    import pandas as pd
    from shapely import wkt

    path = check_detections_path(path)
    suffix = path.suffix.lower()
    rows = [d.to_dict() for d in detections]
    geoms = [wkt.loads(r.pop("geometry")) for r in rows]
    cols = DETECTION_OUT_COLUMNS
    df = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    gdf = gpd.GeoDataFrame(df, geometry=geoms, crs="EPSG:4326")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            gdf.to_parquet(tmp, index=False)
        elif suffix == ".gpkg":
            gdf.to_file(tmp, driver="GPKG", layer="detections")
        else:
            gdf.to_file(tmp, driver="GeoJSON")


# --------------------------------------------------------------------------- visits


def visit_rows(visits: list[Visit]) -> list[dict]:
    rows = []
    for v in visits:
        d = v.to_dict()
        d["evidence"] = ";".join(v.evidence)
        # the scenes of the sightings: the estimate counts each sensor's hits inside a visit
        # from them, so a visits file must give the same estimate as the ledger
        d["sightings"] = ";".join(v.sightings)
        rows.append(d)
    return rows


def write_visits(path: Path | str, visits: list[Visit]) -> None:
    _write_csv(Path(path), VISIT_COLUMNS, visit_rows(visits))


def read_visits(path: Path | str) -> list[Visit]:
    path = Path(path)
    out = []
    for i, r in _read_csv(path, VISIT_COLUMNS[:12]):
        w = _where(path, i)
        v = Visit(
            port=_str(r, "port", w),
            berth=_str(r, "berth", w),
            vessel_key=_str(r, "vessel_key", w),
            first_seen=_time(r, "first_seen", w),
            last_seen=_time(r, "last_seen", w),
            arrived_after=_time(r, "arrived_after", w, optional=True),
            departed_before=_time(r, "departed_before", w, optional=True),
            n_obs=int(_float(r, "n_obs", w)),
            length_m=_float(r, "length_m", w),
            beam_m=_float(r, "beam_m", w),
            evidence=[e for e in (r.get("evidence") or "").split(";") if e],
            role=_str(r, "role", w),
            id=_str(r, "id", w),
            length_sigma_m=_float(r, "length_sigma_m", w, 0.0),
            beam_sigma_m=_float(r, "beam_sigma_m", w, 0.0),
            sightings=[e for e in (r.get("sightings") or "").split(";") if e],
        )
        if v.role not in ("load", "discharge", "other"):
            raise TankerWatchError(f"{w}: field 'role': '{v.role}' is not load, discharge or other")
        if v.last_seen < v.first_seen:
            raise TankerWatchError(f"{w}: last_seen is before first_seen")
        if v.length_m <= 0 or v.beam_m <= 0:
            raise TankerWatchError(f"{w}: length_m and beam_m must be positive")
        out.append(v)
    return out


# --------------------------------------------------------------------------- voyages


def write_voyages(path: Path | str, voyages: list) -> None:
    """Voyages (pipeline.portcalls.Voyage) as CSV."""
    _write_csv(Path(path), VOYAGE_COLUMNS, [v.to_dict() for v in voyages])


# --------------------------------------------------------------------------- deliveries


def delivery_row(d: Delivery, visits: dict[str, Visit], scene_ids: list[str]) -> dict[str, Any]:
    """The delivery's row: ``visits`` by id (its load and discharge visit), ``scene_ids`` the
    scenes of its evidence (empty when unknown, e.g. visits read from a file name detections)."""
    load = visits[d.load_visit]
    discharge = visits.get(d.discharge_visit) if d.discharge_visit else None
    row = {c: getattr(d, c, None) for c in DELIVERY_COLUMNS}
    row.update(
        load_port=load.port,
        load_berth=load.berth,
        arrived_after=load.arrived_after,
        first_seen=load.first_seen,
        last_seen=load.last_seen,
        departed_before=load.departed_before,
        discharge_port=discharge.port if discharge else None,
        evidence_scene_ids=list(scene_ids),
        candidates=json.dumps(d.candidates, sort_keys=True),
    )
    return row


def delivery_table(
    deliveries: list[Delivery], visits: list[Visit], scenes: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Rows of ``deliveries`` ordered by first sighting; ``scenes``: evidence scene ids by
    delivery id."""
    by_id = {v.id: v for v in visits}
    rows = [delivery_row(d, by_id, (scenes or {}).get(d.id, [])) for d in deliveries]
    rows.sort(key=lambda r: (r["first_seen"], r["id"]))
    return rows


def write_deliveries(
    path: Path | str,
    deliveries: list[Delivery],
    visits: list[Visit],
    scenes: dict[str, list[str]] | None = None,
) -> int:
    """deliveries.csv (DELIVERY_COLUMNS); returns the number of rows."""
    return write_table(path, DELIVERY_COLUMNS, delivery_table(deliveries, visits, scenes))


# --------------------------------------------------------------------------- caps and calls

# One row per year, product class and scenario, the same in `estimate --caps` and `export caps`.
# The observed scenarios (p50, 33, 50, 90) leave the corrected-only columns empty.
CAPS_COLUMNS = [
    "year", "product_class", "scenario", "cap_bbl", "cumulative_bbl", "cumulative_p10_bbl",
    "cumulative_p90_bbl", "cap_fraction", "cap_passed_utc", "cap_passed_p10_utc",
    "cap_passed_p90_utc", "p_passed", "run_id",
]  # fmt: skip
CALL_FIELDS = ("calls_corrected_p10", "calls_corrected_p50", "calls_corrected_p90")


def whole(value: Any) -> int | None:
    """A call count as shown: the nearest whole number (halves up), None kept."""
    return None if value is None or value == "" else int(math.floor(float(value) + 0.5))


def whole_calls(row: dict[str, Any]) -> dict[str, Any]:
    """A coverage row (``by_month`` or ``totals``) with its corrected call counts whole."""
    return {**row, **{k: whole(row[k]) for k in CALL_FIELDS if k in row}}


def caps_table(coverage: dict[str, Any] | None, run_id: str = "") -> list[dict[str, Any]]:
    """The coverage's cap rows with their share of the cap, ordered by year (within a year the
    estimate stage's order: the observed scenarios, then the corrected series)."""
    out = []
    for r in (coverage or {}).get("caps", []):
        cap = float(r.get("cap_bbl") or 0)
        out.append(
            {
                **r,
                "cap_fraction": float(r["cumulative_bbl"]) / cap if cap else None,
                "run_id": run_id,
            }
        )
    return sorted(out, key=lambda r: r["year"])


def write_caps(path: Path | str, coverage: dict[str, Any], run_id: str = "") -> int:
    return write_table(path, CAPS_COLUMNS, caps_table(coverage, run_id))


# --------------------------------------------------------------------------- tables


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list | tuple | set):
        return ";".join(str(v) for v in value)
    return value


def write_table(path: Path | str, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """Rows as CSV for spreadsheets (times ISO UTC, floats to 3 decimals, lists joined with
    ";"), written atomically; returns the number of rows."""
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for row in rows:
                w.writerow([_cell(row.get(c)) for c in columns])
                n += 1
    return n


def write_json(path: Path | str, data: Any) -> None:
    atomic_write_text(Path(path), json.dumps(data, indent=2, sort_keys=False) + "\n")


# --- a detector bundle's calibration at berths: models/<bundle>/berths.json ------------------
# (format in pipeline/detect/berth_calibration.py; here, in the core, so that port calls can read
# the recall it measured as their prior without importing the detect stage)
CALIBRATION_FORMAT = "tankerwatch-berth-calibration/1"
CALIBRATION_FILE = "berths.json"


def _num(doc: dict, key: str, where: str, kind=float):
    try:
        v = doc[key]
        if v is None or isinstance(v, bool):
            raise TypeError(key)
        return kind(v)
    except (KeyError, TypeError, ValueError):
        raise TankerWatchError(f"{where}: field '{key}' is missing or not a number") from None


def read_calibration(
    path: Path | str, weights_sha256: str | None = None
) -> list[SensorCalibration]:
    """The sensors of one berths.json. A file measured with other weights than
    ``weights_sha256`` (a retrained bundle whose calibration was not re-measured) is refused."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TankerWatchError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise TankerWatchError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CALIBRATION_FORMAT:
        raise TankerWatchError(f"{path}: field 'format': expected '{CALIBRATION_FORMAT}'")
    if weights_sha256 and doc.get("weights_sha256") != weights_sha256:
        raise TankerWatchError(
            f"{path}: measured with weights {str(doc.get('weights_sha256'))[:12]}..., the bundle "
            f"has {weights_sha256[:12]}... (re-measure with benchmarks/detect_at_berths.py "
            "--write-bundle)"
        )
    sensors = doc.get("sensors")
    if not isinstance(sensors, dict) or not sensors:
        raise TankerWatchError(f"{path}: field 'sensors': no sensor measured")
    out = []
    for name, s in sorted(sensors.items()):
        where = f"{path} sensors.{name}"
        if not isinstance(s, dict):
            raise TankerWatchError(f"{where}: not an object")
        tankers = _num(s, "tankers", where, int)
        found = _num(s, "found", where, int)
        if tankers <= 0 or not 0 <= found <= tankers:
            raise TankerWatchError(f"{where}: needs tankers > 0 and 0 <= found <= tankers")
        by_sim = s.get("recall_by_simulation") or []
        if not isinstance(by_sim, list) or not all(
            isinstance(x, int | float) and 0 <= x <= 1 for x in by_sim
        ):
            raise TankerWatchError(f"{where}: field 'recall_by_simulation': a list of shares 0-1")
        n_by_sim = s.get("tankers_by_simulation") or []
        if not isinstance(n_by_sim, list) or (
            n_by_sim
            and (
                len(n_by_sim) != len(by_sim)
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                           for x in n_by_sim)
                or sum(n_by_sim) != tankers
            )
        ):  # fmt: skip
            raise TankerWatchError(
                f"{where}: field 'tankers_by_simulation': one count > 0 per "
                "recall_by_simulation share, summing to 'tankers'"
            )
        within = s.get("length_within_call_sd_m")
        share = s.get("systematic_frac")
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1
        ):
            raise TankerWatchError(f"{where}: field 'systematic_frac': a share 0-1")
        by_length = _recall_by_length(s.get("recall_by_length"), where)
        out.append(
            SensorCalibration(
                sensor=name,
                model=str(doc.get("model", "")),
                gsd_m=_num(s, "gsd_m", where),
                tankers=tankers,
                found=found,
                recall_by_simulation=tuple(float(x) for x in by_sim),
                tankers_by_simulation=tuple(int(x) for x in n_by_sim),
                length_bias_m=_num(s, "length_bias_m", where),
                length_sd_m=_num(s, "length_sd_m", where),
                beam_bias_m=_num(s, "beam_bias_m", where),
                beam_sd_m=_num(s, "beam_sd_m", where),
                length_within_call_sd_m=(
                    None if within is None else _num(s, "length_within_call_sd_m", where)
                ),
                calls_repeated=int(s.get("calls_repeated") or 0),
                systematic_frac=None if share is None else float(share),
                recall_by_length=by_length,
                source=str(path),
            )
        )
    return out


def _recall_by_length(doc, where: str):
    """(edges, tankers, found) of a sensor's ``recall_by_length`` (None when absent)."""
    if doc is None:
        return None
    bad = TankerWatchError(
        f"{where}: field 'recall_by_length': edges_m rising, and tankers >= found >= 0, one "
        "more bin than edges"
    )
    if not isinstance(doc, dict):
        raise bad
    edges, tankers, found = doc.get("edges_m"), doc.get("tankers"), doc.get("found")
    if not (isinstance(edges, list) and isinstance(tankers, list) and isinstance(found, list)):
        raise bad
    if len(tankers) != len(edges) + 1 or len(found) != len(tankers):
        raise bad
    nums = all(isinstance(x, int | float) and not isinstance(x, bool) for x in edges)
    counts = all(isinstance(x, int) and not isinstance(x, bool) for x in tankers + found)
    if not (nums and counts) or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise bad
    if any(not 0 <= f <= t for t, f in zip(tankers, found, strict=True)):
        raise bad
    return tuple(float(x) for x in edges), tuple(tankers), tuple(found)


def bundle_calibration(folder: Path, weights_sha256: str) -> list[SensorCalibration]:
    """The calibration a bundle folder carries ([] when it has none)."""
    path = Path(folder) / CALIBRATION_FILE
    return read_calibration(path, weights_sha256) if path.exists() else []
