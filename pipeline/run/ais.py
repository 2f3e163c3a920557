"""Run-level AIS step: read AIS files and keep their positions, static data and draught reports
in the ledger.

Every file is read (and checked) before anything is written, so a file that is not AIS stops
the command with nothing kept; each file is then written in its own transaction, keyed by MMSI
and time, so a run killed half-way is finished by running it again and a repeat adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import TankerWatchError
from pipeline.ingest.ais import AisFile, read_many


@dataclass
class AisIngestSummary:
    files: list[AisFile] = field(default_factory=list)
    added: list[int] = field(default_factory=list)  # positions added per file

    def lines(self) -> list[str]:
        out = [f"{f.line()}; {n} new" for f, n in zip(self.files, self.added, strict=True)]
        total = sum(len(f.positions) for f in self.files)
        out.append(
            f"ais: {len(self.files)} files, {total} positions read, {sum(self.added)} added "
            f"({total - sum(self.added)} already in the ledger), "
            f"{sum(len(f.draughts) for f in self.files)} draught reports read, "
            f"{sum(f.n_bad for f in self.files)} bad rows skipped"
        )
        return out


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the files in it (sorted, hidden ones left out)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise TankerWatchError(f"{p}: no such file or folder")
    if not out:
        raise TankerWatchError("ingest --source ais: no AIS files given (--path FILE ...)")
    return out


def read_ais_files(paths: list[Path]) -> list[AisFile]:
    """Every file read and checked (a file that is not AIS raises before anything is kept)."""
    return read_many(expand_paths(paths))


def keep_ais(files: list[AisFile], ledger) -> AisIngestSummary:
    """Keep files read by ``read_ais_files`` in ``ledger``, one transaction per file."""
    summary = AisIngestSummary()
    for f in files:
        summary.files.append(f)
        summary.added.append(ledger.add_ais(f.positions, f.static, str(f.path), f.draughts))
    return summary


def ingest_ais(paths: list[Path], ledger) -> AisIngestSummary:
    """Read the AIS files and keep them in ``ledger`` (a pipeline.ledger.store.Ledger)."""
    return keep_ais(read_ais_files(paths), ledger)


def ais_matches_from_ledger(ledger, ports, start=None, end=None, models=None):
    """Detections of the ports and period matched to the ledger's AIS (pipeline.portcalls.ais).

    Returns (AisMatchResult, static DataFrame), or None when the ledger holds no AIS positions
    around those images (no AIS data: no verdicts, rather than every hull called dark)."""
    import pandas as pd

    from pipeline.portcalls.ais import AisMatchParams, match_ais
    from pipeline.run.steps import ledger_inputs

    inputs = ledger_inputs(ledger, ports, start, end, models=models)
    if not inputs.scenes:
        return None
    params = AisMatchParams()
    margin = pd.Timedelta(seconds=max(params.max_gap_s, params.max_age_s))
    times = [pd.Timestamp(s.acquired) for s in inputs.scenes]
    west, south, east, north = ports[0].aoi_shape.bounds
    for p in ports[1:]:
        b = p.aoi_shape.bounds
        west, south, east, north = (
            min(west, b[0]),
            min(south, b[1]),
            max(east, b[2]),
            max(north, b[3]),
        )
    positions = ledger.ais_positions(
        start=(min(times) - margin).to_pydatetime(),
        end=(max(times) + margin).to_pydatetime(),
        bbox=(west - 0.5, south - 0.5, east + 0.5, north + 0.5),
    )
    if positions.empty:
        return None
    static = ledger.ais_static(mmsis=sorted(set(positions["mmsi"].tolist())))
    result = match_ais(
        inputs.detections, inputs.scenes, inputs.observations, ports, positions, static, params
    )
    return result, static


@dataclass
class AisContext:
    """What the ledger's AIS says about a run's visits: per visit its verdict (``identities``,
    alibis included) and the positions of the vessels concerned wherever they sailed, from a
    few hours before the first visit to the longest voyage window after the last (for voyages
    by track)."""

    identities: dict = field(default_factory=dict)
    positions: object = None  # pandas DataFrame, or None without AIS


def ais_context(
    ledger, visits, ports, start=None, end=None, models=None, registry=None, voyage_h=0.0
) -> AisContext:
    """The visits' AIS verdicts from the ledger (empty without AIS data around the images).

    With ``registry``, each visit also gets its alibis (pipeline.portcalls.ais.add_alibis): the
    registry vessels' transponders, wherever they reported during the visits (not only inside
    the ports), that put them elsewhere while a hull was seen; ``positions`` then holds those
    vessels' and the matched transponders' reports until ``voyage_h`` after the last visit."""
    import pandas as pd

    from pipeline.estimate.ais import registry_vessel
    from pipeline.portcalls.ais import AisMatchParams, VisitAis, add_alibis, visits_by_ais
    from pipeline.run.steps import ledger_inputs

    found = ais_matches_from_ledger(ledger, ports, start, end, models)
    if found is None:
        return AisContext()
    result, static = found
    identities = visits_by_ais(visits, result, static)
    if not visits:
        return AisContext(identities)
    everyone = ledger.ais_static()
    fleet = {
        int(r.mmsi)
        for r in everyone.itertuples(index=False)
        if registry
        and registry_vessel(VisitAis("", int(r.mmsi), 0.0, r.name or None, r.imo or None), registry)
    }
    fleet |= {int(a.mmsi) for a in identities.values() if a.mmsi is not None}
    if not fleet:
        return AisContext(identities)
    params = AisMatchParams()
    margin = pd.Timedelta(seconds=max(params.max_gap_s, params.max_age_s, params.confirm_slack_s))
    positions = ledger.ais_positions(
        start=(pd.Timestamp(min(v.first_seen for v in visits)) - margin).to_pydatetime(),
        end=(
            pd.Timestamp(max(v.last_seen for v in visits)) + margin + pd.Timedelta(hours=voyage_h)
        ).to_pydatetime(),
        mmsis=sorted(fleet),
    )
    if registry:
        inputs = ledger_inputs(ledger, ports, start, end, models=models)
        add_alibis(
            identities,
            visits,
            result,
            inputs.detections,
            inputs.scenes,
            ports,
            positions,
            everyone[everyone["mmsi"].isin(fleet)],
            params,
        )
    return AisContext(identities, positions)


def departure_draughts_from_ledger(ledger, visits, identities: dict, params) -> dict:
    """visit id -> the departure draught its transponder reported (pipeline.estimate.draught),
    for the load visits named by AIS, from the ledger's draught reports and static data."""
    from pipeline.estimate.ais import named_by_ais
    from pipeline.estimate.draught import departure_draughts

    loads = [v for v in visits if v.role == "load" and named_by_ais(identities.get(v.id))]
    mmsis = sorted({int(identities[v.id].mmsi) for v in loads if identities[v.id].mmsi})
    if not mmsis:
        return {}
    draughts = ledger.ais_draughts(mmsis=mmsis)
    if draughts.empty:
        return {}
    return departure_draughts(loads, identities, draughts, ledger.ais_static(mmsis=mmsis), params)


def ais_identities(ledger, visits, ports, start=None, end=None, models=None, registry=None) -> dict:
    """visit id -> VisitAis for the visits, from the ledger's AIS ({} without AIS data); with
    ``registry`` their alibis too (``ais_context``)."""
    return ais_context(ledger, visits, ports, start, end, models, registry).identities


MATCH_COLUMNS = [
    "detection_id", "scene_id", "port", "acquired_utc", "lon", "lat", "length_m", "beam_m",
    "dark", "mmsi", "probability", "distance_m", "chi2", "age_s", "name", "imo", "spoofing",
]  # fmt: skip


def ais_match_rows(ledger, ports, start=None, end=None, models=None) -> list[dict]:
    """`export ais-matches`: one row per detection with its AIS verdict, and one per possible
    spoofing event (``dark`` empty, ``mmsi`` the transponder, ``detection_id`` empty)."""
    from pipeline.records import iso

    found = ais_matches_from_ledger(ledger, ports, start, end, models)
    if found is None:
        return []
    result, static = found
    names = {int(r.mmsi): (r.name, r.imo) for r in static.itertuples(index=False)}
    inputs_dets = {d.id: d for d in ledger.detections(ports=[p.name for p in ports])}
    scenes = {s.id: s for s in ledger.scenes(ports=[p.name for p in ports])}
    rows = []
    for m in result.matches:
        d, s = inputs_dets[m.detection_id], scenes[m.scene_id]
        name, imo = names.get(m.mmsi, (None, None)) if m.mmsi is not None else (None, None)
        rows.append(
            {
                "detection_id": m.detection_id,
                "scene_id": m.scene_id,
                "port": s.port,
                "acquired_utc": iso(s.acquired),
                "lon": d.lon,
                "lat": d.lat,
                "length_m": d.length_m,
                "beam_m": d.beam_m,
                "dark": m.dark,
                "mmsi": m.mmsi,
                "probability": m.probability,
                "distance_m": m.distance_m,
                "chi2": m.chi2,
                "age_s": m.age_s,
                "name": name,
                "imo": imo,
                "spoofing": False,
            }
        )
    for e in result.spoofing:
        s = scenes[e.scene_id]
        name, imo = names.get(e.mmsi, (None, None))
        rows.append(
            {
                "detection_id": None,
                "scene_id": e.scene_id,
                "port": s.port,
                "acquired_utc": e.time,
                "lon": e.lon,
                "lat": e.lat,
                "dark": None,
                "mmsi": e.mmsi,
                "age_s": e.age_s,
                "distance_m": e.nearest_detection_m,
                "name": name,
                "imo": imo,
                "spoofing": True,
            }
        )
    rows.sort(key=lambda r: (r["acquired_utc"], r["scene_id"], r["detection_id"] or ""))
    return rows


def load_berth_stays(ledger, ports, start=None, end=None, min_length_m=None, max_length_m=None):
    """Complete stays of transponders at the ports' load berths (pipeline.portcalls.ais_stays)
    from the ledger's AIS, a few days either side of start..end (dates; None: all). Vessels whose
    static length lies outside [min_length_m, max_length_m] are left out (unknown lengths kept):
    only hulls of the size the port calls count stand for the calls' dwell. [] without AIS."""
    from datetime import datetime, time, timedelta

    from pipeline.portcalls.ais_stays import berth_stays

    margin = timedelta(days=4)
    lo = datetime.combine(start, time.min) - margin if start else None
    hi = datetime.combine(end, time.max) + margin if end else None
    stays = []
    for port in ports:
        if not any(b.role == "load" for b in port.berths):
            continue
        # the vessels heard inside the port, then their whole tracks: the reports just before
        # arrival and after departure that make a stay complete may lie outside the AOI
        near = ledger.ais_positions(start=lo, end=hi, bbox=port.aoi_shape.bounds)
        if not len(near):
            continue
        pos = ledger.ais_positions(start=lo, end=hi, mmsis=sorted(set(near["mmsi"])))
        stays += berth_stays(pos, [port], roles=("load",))
    if not stays or (min_length_m is None and max_length_m is None):
        return stays
    static = ledger.ais_static(sorted({s.mmsi for s in stays}))
    length = {int(r.mmsi): r.length_m for r in static.itertuples(index=False)}

    def fits(mmsi: int) -> bool:
        x = length.get(mmsi)
        if x is None or x != x:  # unknown (None or NaN)
            return True
        return (min_length_m is None or x >= min_length_m) and (
            max_length_m is None or x <= max_length_m
        )

    return [s for s in stays if fits(s.mmsi)]
