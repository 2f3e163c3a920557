"""Detections matched to AIS: who each detected hull is, which hulls are dark, which AIS
positions no image confirms.

``match_ais(detections, scenes, observations, ports, positions, static, params)``:

1. Every vessel's position at every image's acquisition time, from its sorted reports: linear
   interpolation between the report before and the one after when both are within
   ``max_gap_s``, else the last report carried forward by its speed and course when it is at
   most ``max_age_s`` old (a transponder that fell silent longer ago gives no position). Plain
   numpy (one ``searchsorted`` over (vessel, time) keys for all vessels at once) rather than a
   track library: movingpandas builds a GeoDataFrame per trajectory, which costs far more than
   the two reports per vessel and image that the answer needs. Each position carries its
   1-sigma error, growing with the time since (or to) the nearest report.
2. Per image, detections and the AIS vessels inside its port's AOI are paired one-to-one by the
   Hungarian method (``scipy.optimize.linear_sum_assignment``) on a chi-square cost: position
   offset over its sigma, and length and beam against the vessel's static data where known.
   Pairs beyond ``gate_m`` or ``gate_chi2`` are no pairs.
3. Per detection: the matched MMSI with a probability from the match quality (its likelihood
   against a clutter term and every rival pairing in the same image), or dark. Per AIS vessel
   left unpaired at a berth that the image observed clear: a possible spoofing event (the
   transponder says the vessel is there; the image shows no hull). Away from berths no event
   is raised: a scene record has no footprint, and a small chip covers one berth of a port.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import Port
from pipeline.records import Detection, Observation, Scene, utc

KNOT_M_S = 0.514444
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0


@dataclass(frozen=True)
class AisMatchParams:
    max_gap_s: float = 6 * 3600.0  # interpolate between reports at most this far apart
    max_age_s: float = 3 * 3600.0  # carry the last report forward at most this long
    position_sigma_m: float = 40.0  # AIS GNSS + image georeferencing, at a report's own time
    drift_sigma: float = 0.25  # share of the distance run since (or to) the report, 1-sigma
    length_sigma_m: float = 15.0  # detection length error (10 m imagery) + AIS's own
    beam_sigma_m: float = 6.0
    gate_m: float = 600.0
    gate_chi2: float = 16.0
    clutter_chi2: float = 9.0  # a pairing this poor is as likely a coincidence as a match
    berth_radius_m: float = 300.0  # an AIS position this close to a berth takes its state
    alibi_min_m: float = 2000.0  # a transponder this far from a sighting's hull is elsewhere
    confirm_slack_s: float = 3600.0  # a match elsewhere this close to a visit's span confirms
    spoof_max_sog_kn: float = 1.0  # far out at sea and slower than this: spoof suspect
    spoof_offshore_m: float = 20_000.0  # "far out": this far from every known port's AOI
    # silence only between a transponder's first and last report in the data (False: anywhere)
    silence_in_span: bool = True


@dataclass
class AisMatch:
    """One detection's AIS verdict."""

    detection_id: str
    scene_id: str
    mmsi: int | None  # None: no transmitting vessel there (dark)
    probability: float  # that mmsi is the hull's transponder (0 when dark)
    distance_m: float | None = None
    chi2: float | None = None
    age_s: float | None = None  # time from the acquisition to the nearest report used

    @property
    def dark(self) -> bool:
        return self.mmsi is None


@dataclass
class SpoofingEvent:
    """An AIS vessel reported inside a clear image's footprint where no hull was detected."""

    scene_id: str
    mmsi: int
    time: str  # the acquisition time, ISO UTC
    lat: float
    lon: float
    age_s: float
    nearest_detection_m: float | None


@dataclass
class AisMatchResult:
    matches: list[AisMatch] = field(default_factory=list)
    spoofing: list[SpoofingEvent] = field(default_factory=list)

    def by_detection(self) -> dict[str, AisMatch]:
        return {m.detection_id: m for m in self.matches}


# ------------------------------------------------------------------------ interpolation
class Tracks:
    """Positions sorted once by (vessel, time), for ``at(when)`` at many times."""

    def __init__(self, positions: pd.DataFrame) -> None:
        df = positions.sort_values(["mmsi", "time"], kind="stable")
        self.n = len(df)
        self.mmsi = df["mmsi"].to_numpy(dtype="int64")
        self.secs = df["time"].to_numpy("datetime64[s]").astype("int64") if self.n else None
        self.vessels, self.rank = np.unique(self.mmsi, return_inverse=True)
        self.t0 = self.secs.min() if self.n else 0
        self.keys = self.rank.astype("int64") * (np.int64(1) << 36) + (
            (self.secs - self.t0) if self.n else 0
        )
        self.lat, self.lon = df["lat"].to_numpy(float), df["lon"].to_numpy(float)
        self.sog = np.nan_to_num(df["sog"].to_numpy(float), nan=0.0)
        self.cog = df["cog"].to_numpy(float)

    def at(self, when: pd.Timestamp, params: AisMatchParams) -> pd.DataFrame:
        return _positions_at(self, when, params)


def positions_at(
    positions: pd.DataFrame | Tracks, when: pd.Timestamp, params: AisMatchParams
) -> pd.DataFrame:
    """Every vessel's position at ``when``: mmsi, lat, lon, age_s, sigma_m (gated vessels out).

    ``positions`` has mmsi, time (UTC), lat, lon, sog, cog; any order (or is a ``Tracks``).
    """
    tracks = positions if isinstance(positions, Tracks) else Tracks(positions)
    return _positions_at(tracks, when, params)


def _positions_at(tr: Tracks, when: pd.Timestamp, params: AisMatchParams) -> pd.DataFrame:
    if tr.n == 0:
        return pd.DataFrame(columns=["mmsi", "lat", "lon", "age_s", "sigma_m"])
    secs, rank, vessels = tr.secs, tr.rank, tr.vessels
    base = np.int64(1) << 36
    t = np.int64(pd.Timestamp(when).to_datetime64().astype("datetime64[s]").astype("int64"))
    probe = np.arange(len(vessels), dtype="int64") * base + (t - tr.t0)
    after = np.searchsorted(tr.keys, probe, side="left")  # first report at or after t
    before = after - 1
    n = tr.n
    has_after = (after < n) & (rank[np.minimum(after, n - 1)] == np.arange(len(vessels)))
    has_before = (before >= 0) & (rank[np.maximum(before, 0)] == np.arange(len(vessels)))
    bi, ai = np.maximum(before, 0), np.minimum(after, n - 1)
    lat, lon, sog, cog = tr.lat, tr.lon, tr.sog, tr.cog
    dt_b = np.where(has_before, t - secs[bi], np.inf).astype(float)
    dt_a = np.where(has_after, secs[ai] - t, np.inf).astype(float)

    out_lat = np.full(len(vessels), np.nan)
    out_lon = np.full(len(vessels), np.nan)
    age = np.minimum(dt_b, dt_a)
    sigma = np.full(len(vessels), np.nan)

    exact = has_after & (dt_a == 0)
    out_lat[exact], out_lon[exact] = lat[ai[exact]], lon[ai[exact]]
    sigma[exact] = params.position_sigma_m

    inter = ~exact & has_before & has_after & (dt_b + dt_a <= params.max_gap_s)
    w = np.zeros(len(vessels))
    w[inter] = dt_b[inter] / (dt_b + dt_a)[inter]
    out_lat[inter] = (lat[bi] + w * (lat[ai] - lat[bi]))[inter]
    out_lon[inter] = (lon[bi] + w * (lon[ai] - lon[bi]))[inter]
    run_m = np.maximum(sog[bi], sog[ai]) * KNOT_M_S * np.minimum(dt_b, dt_a)
    sigma[inter] = (params.position_sigma_m + params.drift_sigma * run_m)[inter]

    # the last report carried forward (or the next one back) by its speed and course
    for side, idx, dt, ok in (
        (1.0, bi, dt_b, has_before & (dt_b <= params.max_age_s)),
        (-1.0, ai, dt_a, has_after & (dt_a <= params.max_age_s)),
    ):
        take = ok & np.isnan(out_lat)
        if not take.any():
            continue
        dist = sog[idx] * KNOT_M_S * np.where(ok, dt, 0.0) * side
        course = np.radians(np.nan_to_num(cog[idx], nan=0.0))
        moving = ~np.isnan(cog[idx])
        dn = np.where(moving, dist * np.cos(course), 0.0)
        de = np.where(moving, dist * np.sin(course), 0.0)
        coslat = np.cos(np.radians(lat[idx]))
        out_lat[take] = (lat[idx] + dn / M_PER_DEG_LAT)[take]
        out_lon[take] = (lon[idx] + de / (M_PER_DEG_LON * coslat))[take]
        sigma[take] = (params.position_sigma_m + params.drift_sigma * np.abs(dist))[take]
    keep = ~np.isnan(out_lat)
    return pd.DataFrame(
        {
            "mmsi": vessels[keep],
            "lat": out_lat[keep],
            "lon": out_lon[keep],
            "age_s": age[keep],
            "sigma_m": sigma[keep],
        }
    )


# ------------------------------------------------------------------------------ matching
def _offsets_m(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(north, east) metres from (lat0, lon0); a local plane is exact enough inside a port."""
    north = (np.asarray(lat) - lat0) * M_PER_DEG_LAT
    east = (np.asarray(lon) - lon0) * M_PER_DEG_LON * math.cos(math.radians(lat0))
    return np.stack([north, east], axis=-1)


def _pair_costs(
    dets: list[Detection],
    vessels: pd.DataFrame,
    sizes: dict[int, tuple[float, float]],
    params: AisMatchParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(chi2 [n_det, n_ves], distance_m [n_det, n_ves])."""
    lat0, lon0 = float(vessels["lat"].mean()), float(vessels["lon"].mean())
    d_xy = _offsets_m(lat0, lon0, [d.lat for d in dets], [d.lon for d in dets])
    v_xy = _offsets_m(lat0, lon0, vessels["lat"].to_numpy(), vessels["lon"].to_numpy())
    dist = np.linalg.norm(d_xy[:, None, :] - v_xy[None, :, :], axis=-1)
    sig = vessels["sigma_m"].to_numpy()[None, :]
    chi2 = (dist / sig) ** 2
    v_len = np.array([sizes.get(int(m), (np.nan, np.nan))[0] for m in vessels["mmsi"]])
    v_beam = np.array([sizes.get(int(m), (np.nan, np.nan))[1] for m in vessels["mmsi"]])
    d_len = np.array([d.length_m for d in dets])[:, None]
    d_beam = np.array([d.beam_m for d in dets])[:, None]
    chi2 = chi2 + np.nan_to_num(((d_len - v_len[None, :]) / params.length_sigma_m) ** 2)
    chi2 = chi2 + np.nan_to_num(((d_beam - v_beam[None, :]) / params.beam_sigma_m) ** 2)
    return chi2, dist


def _clear_at(
    lat: float,
    lon: float,
    port: Port,
    berth_state: dict[str, str],
    params: AisMatchParams,
) -> bool:
    from shapely.geometry import Point

    p = Point(lon, lat)
    metres_per_deg = M_PER_DEG_LON * math.cos(math.radians(lat))
    near = [
        (b.shape.distance(p) * metres_per_deg, b.id) for b in port.berths if b.id in berth_state
    ]
    near = [x for x in near if x[0] <= params.berth_radius_m]
    # away from observed berths the image may not cover the spot (a scene record has no
    # footprint, and a 1 km commercial chip covers one berth of a port): no claim either way
    return bool(near) and berth_state[min(near)[1]] == "clear"


def match_ais(
    detections: list[Detection],
    scenes: list[Scene],
    observations: list[Observation],
    ports: list[Port],
    positions: pd.DataFrame,
    static: pd.DataFrame | None = None,
    params: AisMatchParams | None = None,
) -> AisMatchResult:
    """Match every detection to AIS, scene by scene (see the module doc)."""
    import shapely
    from scipy.optimize import linear_sum_assignment

    params = params or AisMatchParams()
    sizes: dict[int, tuple[float, float]] = {}
    if static is not None and len(static):
        for row in static.itertuples(index=False):
            sizes[int(row.mmsi)] = (float(row.length_m), float(row.width_m))
    by_port = {p.name: p for p in ports}
    by_scene: dict[str, list[Detection]] = {}
    for d in detections:
        by_scene.setdefault(d.scene_id, []).append(d)
    states: dict[str, dict[str, str]] = {}
    for o in observations:
        states.setdefault(o.scene_id, {})[o.berth] = o.state
    result = AisMatchResult()
    tracks = Tracks(positions)
    for scene in sorted(scenes, key=lambda s: (s.acquired, s.id)):
        dets = sorted(by_scene.get(scene.id, []), key=lambda d: d.id)
        port = by_port.get(scene.port)
        when = pd.Timestamp(utc(scene.acquired))
        vessels = tracks.at(when, params) if port is not None else None
        if vessels is not None and len(vessels):
            inside = shapely.contains_xy(port.aoi_shape, vessels["lon"], vessels["lat"])
            vessels = vessels[inside].reset_index(drop=True)
        if vessels is None or vessels.empty:
            result.matches += [AisMatch(d.id, scene.id, None, 0.0) for d in dets]
            continue
        paired: dict[int, int] = {}
        chi2 = dist = np.zeros((0, len(vessels)))
        if dets:
            chi2, dist = _pair_costs(dets, vessels, sizes, params)
            allowed = (dist <= params.gate_m) & (chi2 <= params.gate_chi2)
            cost = np.where(allowed, chi2, 1e6)
            rows, cols = linear_sum_assignment(cost)
            like = np.where(allowed, np.exp(-0.5 * chi2), 0.0)
            clutter = math.exp(-0.5 * params.clutter_chi2)
            for i, j in zip(rows, cols, strict=True):
                if not allowed[i, j]:
                    continue
                rivals = like[i, :].sum() + like[:, j].sum() - like[i, j]
                p = like[i, j] / (clutter + rivals)
                paired[i] = j
                result.matches.append(
                    AisMatch(
                        dets[i].id,
                        scene.id,
                        int(vessels.mmsi[j]),
                        round(float(p), 4),
                        round(float(dist[i, j]), 1),
                        round(float(chi2[i, j]), 3),
                        float(vessels.age_s[j]),
                    )
                )
        for i, d in enumerate(dets):
            if i not in paired:
                result.matches.append(AisMatch(d.id, scene.id, None, 0.0))
        used = set(paired.values())
        for j, v in enumerate(vessels.itertuples(index=False)):
            if j in used or not _clear_at(v.lat, v.lon, port, states.get(scene.id, {}), params):
                continue
            nearest = float(dist[:, j].min()) if len(dets) else None
            result.spoofing.append(
                SpoofingEvent(
                    scene.id,
                    int(v.mmsi),
                    when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    round(float(v.lat), 6),
                    round(float(v.lon), 6),
                    float(v.age_s),
                    None if nearest is None else round(nearest, 1),
                )
            )
    return result


@dataclass
class Alibi:
    """A transponder that put its vessel elsewhere while a visit's hull was seen at the berth.

    ``confirmed``: an image matched that transponder to a hull elsewhere during the visit, so
    the vessel cannot be this hull (whatever its transponder says here). Otherwise the alibi is
    the transponder's word alone: ``suspect`` when the report looks like position spoofing (far
    out at sea, away from every known port and its anchorages, nearly stationary: the pattern of
    a false position kept while the vessel loads), else a plain alibi that spoofing could still
    explain. ``edge``: the transponder was elsewhere only before (or only after) every sighting
    at which it hid, and hid at as many sightings or more: the vessel may have arrived (left) in
    between and be the hull of the other sightings, the visit then built from two calls at the
    berth; no alibi (pipeline.estimate.ais.alibi_factors leaves it out)."""

    mmsi: int
    time: str  # the sighting (or matched image) time it contradicts, ISO UTC
    distance_m: float  # from the visit's hull at that time
    confirmed: bool = False
    suspect: bool = False
    name: str | None = None  # from AIS static data
    imo: str | None = None
    edge: bool = False  # only at one end of the visit, hiding at as many sightings or more


@dataclass
class Silence:
    """A transponder that hid while a dark visit's hull was seen: no position at its sightings
    (or only a spoofing-like one), though it reports at ``share``'s complement of the image
    times; also one that hid at most sightings and was elsewhere only at one end of the visit
    (an ``edge`` alibi). Only between its first and last report in the data: outside that span
    its silence says nothing (the data may not cover it). A vessel that usually transmits and
    goes quiet exactly then is more likely the hull than one that is silent anyway (``share``
    near 1: never fitted or never received)."""

    mmsi: int
    share: float  # of the run's image times inside its span at which it gave no position
    name: str | None = None
    imo: str | None = None


@dataclass
class VisitAis:
    """What AIS says about one visit: the transponder of its hull (or none: dark)."""

    visit_id: str
    mmsi: int | None
    probability: float  # that the visit's hull is this MMSI's vessel
    name: str | None = None  # from AIS static data
    imo: str | None = None
    matched: int = 0  # evidence detections matched to this MMSI
    evidence: int = 0  # evidence detections in all
    length_m: float | None = None  # from AIS static data (dimension to bow + stern)
    beam_m: float | None = None
    alibis: list[Alibi] = field(default_factory=list)  # transponders reporting elsewhere
    silent: list[Silence] = field(default_factory=list)  # transponders hiding meanwhile

    @property
    def dark(self) -> bool:
        return self.mmsi is None


def visits_by_ais(
    visits, result: AisMatchResult, static: pd.DataFrame | None = None
) -> dict[str, VisitAis]:
    """Per visit, the MMSI its evidence detections were matched to (the one with the most
    probability mass), with probability = that mass over all the visit's detections (a hull
    seen three times and matched once is not named with the confidence of one match); a visit
    none of whose detections matched any transponder is dark."""
    by_det = result.by_detection()
    names: dict[int, tuple[str | None, str | None]] = {}
    sizes: dict[int, tuple[float | None, float | None]] = {}
    if static is not None and len(static):
        for row in static.itertuples(index=False):
            names[int(row.mmsi)] = (row.name or None, row.imo or None)
            sizes[int(row.mmsi)] = (
                _size(getattr(row, "length_m", None)),
                _size(getattr(row, "width_m", None)),
            )
    out: dict[str, VisitAis] = {}
    for v in visits:
        ev = [by_det[d] for d in v.evidence if d in by_det]
        if not ev:
            continue  # no AIS verdict for its detections (no AIS in that period)
        mass: dict[int, float] = {}
        count: dict[int, int] = {}
        for m in ev:
            if m.mmsi is not None:
                mass[m.mmsi] = mass.get(m.mmsi, 0.0) + m.probability
                count[m.mmsi] = count.get(m.mmsi, 0) + 1
        if not mass:
            out[v.id] = VisitAis(v.id, None, 0.0, evidence=len(ev))
            continue
        top = max(mass, key=lambda k: (mass[k], -k))
        name, imo = names.get(top, (None, None))
        length, beam = sizes.get(top, (None, None))
        out[v.id] = VisitAis(
            v.id, top, round(mass[top] / len(ev), 4), name, imo, count[top], len(ev), length, beam
        )
    return out


def _size(x) -> float | None:
    """A static length or width, None when not reported (NaN, missing or not positive)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def add_alibis(
    identities: dict[str, VisitAis],
    visits,
    result: AisMatchResult,
    detections: list[Detection],
    scenes: list[Scene],
    ports: list[Port],
    positions: pd.DataFrame,
    static: pd.DataFrame | None = None,
    params: AisMatchParams | None = None,
) -> dict[str, VisitAis]:
    """Fill each visit's ``alibis``: the transponders that put their vessel somewhere else while
    the visit's hull was seen (the size-based identification then leaves those vessels out, or
    weighs them down; pipeline.estimate.ais.alibi_factors).

    ``positions`` should cover every place the fleet may be, not only the visit's port: a
    transponder reporting at another port, or under way at sea, is as good an alibi as one at
    another berth. Two kinds:

    - confirmed: the transponder was matched to a hull at least ``alibi_min_m`` from the visit's
      hull in an image taken during the visit (``confirm_slack_s`` either side);
    - reported: at a sighting's time the transponder's position (``positions_at``: interpolated,
      or carried forward at most ``max_age_s``) lies at least ``alibi_min_m`` from the hull;
      ``suspect`` when that position is more than ``spoof_offshore_m`` from every port of
      ``ports`` and the vessel is nearly stationary there (every report within ``max_age_s``
      below ``spoof_max_sog_kn``): the false position a spoofer keeps while it loads.

    Evidence is kept per sighting: at each, a transponder is elsewhere (an alibi), hiding (no
    position although its reports bracket the sighting, or a spoofing-like one) or near the
    hull (neither). One elsewhere only before (or only after) every sighting it hid at, and
    hiding at as many sightings or more, gets an ``edge`` alibi, which is no alibi: it may have
    arrived (left) in between, the visit's sightings then being two calls at the berth (a
    clear image of the empty berth between them can be bridged as a detector miss), and it
    counts as hiding where it hid at more sightings than it was elsewhere. Before, the first
    alibi found stood for the whole visit, and hid the spoofing at the other sightings.

    Also each visit's ``silent``: the transponders of ``positions`` hiding at its sightings,
    never near the hull and elsewhere at none (or only an edge alibi's fewer) (``Silence``,
    with how often each is silent at the run's image times inside its span;
    ``params.silence_in_span`` False: at all image times, and
    silent also before its first or after its last report). The visit's own matched
    transponder gives no alibi and is not silent. Returns ``identities`` (entries are made for
    visits that had none only when they have alibis or silences)."""
    import shapely

    params = params or AisMatchParams()
    names: dict[int, tuple[str | None, str | None]] = {}
    if static is not None and len(static):
        for row in static.itertuples(index=False):
            names[int(row.mmsi)] = (row.name or None, row.imo or None)
    dets = {d.id: d for d in detections}
    scene_of = {s.id: s for s in scenes}
    # every match elsewhere, by time: (unix s, mmsi, lat, lon, detection id)
    matched = []
    for m in result.matches:
        if m.mmsi is None or m.probability < 0.5 or m.detection_id not in dets:
            continue
        d, sc = dets[m.detection_id], scene_of.get(m.scene_id)
        if sc is not None:
            matched.append((utc(sc.acquired).timestamp(), m.mmsi, d.lat, d.lon, d.id))
    pos = positions.sort_values(["mmsi", "time"], kind="stable").reset_index(drop=True)
    tracks = Tracks(pos)
    cache: dict[str, pd.DataFrame] = {}
    # each transponder's span in the data (first to last report): silence outside it says
    # nothing (the file may not cover the vessel then: a regional or partial download, or a
    # vessel not yet in service), silence inside it is a gap the vessel's own reports bracket
    span: dict[int, tuple[float, float]] = {}
    if len(pos):
        secs = pos["time"].to_numpy("datetime64[s]").astype("int64")
        ends = pd.DataFrame({"mmsi": pos["mmsi"].to_numpy("int64"), "s": secs})
        ends = ends.groupby("mmsi")["s"].agg(["min", "max"])
        span = {int(m): (float(a), float(b)) for m, a, b in ends.itertuples()}

    def covered(m: int, ts: float) -> bool:
        if not params.silence_in_span:
            return m in span
        return m in span and span[m][0] <= ts <= span[m][1]

    # how often each transponder gives no position at an image time inside its span: the base
    # rate of its silence
    times = sorted({pd.Timestamp(utc(s.acquired)) for s in scenes})
    at_s = np.array([t.timestamp() for t in times])
    inside = {
        m: int(np.searchsorted(at_s, b, "right") - np.searchsorted(at_s, a, "left"))
        if params.silence_in_span
        else len(at_s)
        for m, (a, b) in span.items()
    }
    heard = dict.fromkeys(span, 0)
    for t in times:
        for m in tracks.at(t, params)["mmsi"]:
            heard[int(m)] += covered(int(m), t.timestamp())
    share = {m: 1.0 - heard[m] / inside[m] for m in span if inside[m]}
    for v in visits:
        own = identities.get(v.id)
        own_mmsi = own.mmsi if own is not None else None
        ev = [dets[e] for e in v.evidence if e in dets]
        if not ev:
            continue
        t0 = utc(v.first_seen).timestamp() - params.confirm_slack_s
        t1 = utc(v.last_seen).timestamp() + params.confirm_slack_s
        lat0 = float(np.mean([d.lat for d in ev]))
        lon0 = float(np.mean([d.lon for d in ev]))
        own_dets = set(v.evidence)
        # per transponder: where it put its vessel elsewhere (unix s -> Alibi, confirmed ones
        # first), the sightings at which it hid (no position, or a spoofing-like one), and
        # whether it was near the hull at any sighting (neither)
        away: dict[int, dict[float, Alibi]] = {}
        hid: dict[int, set[float]] = {}
        spoofed: dict[int, Alibi] = {}
        near: set[int] = set()
        for ts, mmsi, la, lo, did in matched:
            if not t0 <= ts <= t1 or mmsi == own_mmsi or did in own_dets:
                continue
            dist = float(np.linalg.norm(_offsets_m(lat0, lon0, [la], [lo])[0]))
            if dist < params.alibi_min_m:
                continue
            when = pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
            away.setdefault(mmsi, {}).setdefault(
                ts, Alibi(mmsi, when, round(dist, 1), True, False, *names.get(mmsi, (None, None)))
            )
        seen: set[str] = set()
        for d in ev:
            sc = scene_of.get(d.scene_id)
            if sc is None or sc.id in seen:
                continue
            seen.add(sc.id)  # one sighting per image
            ts = utc(sc.acquired).timestamp()
            if sc.id not in cache:
                cache[sc.id] = tracks.at(pd.Timestamp(utc(sc.acquired)), params)
            here = cache[sc.id]
            for m in set(share) - {int(m) for m in here["mmsi"]}:
                if covered(m, ts):  # a gap in its reports, not the edge of the data
                    hid.setdefault(m, set()).add(ts)
            if here.empty:
                continue
            dist = np.linalg.norm(
                _offsets_m(d.lat, d.lon, here["lat"].to_numpy(), here["lon"].to_numpy()), axis=1
            )
            far_k = dist >= params.alibi_min_m
            near |= {int(m) for m in here["mmsi"][~far_k]}
            far, far_dist = here[far_k], dist[far_k]
            if far.empty:
                continue
            pts = shapely.points(far["lon"].to_numpy(), far["lat"].to_numpy())
            in_port = np.zeros(len(far), dtype=bool)
            for p in ports:  # near a port (its anchorages included): a real position
                deg = params.spoof_offshore_m / (M_PER_DEG_LON * math.cos(math.radians(d.lat)))
                in_port |= shapely.dwithin(p.aoi_shape, pts, deg)
            slow = _slow(pos, far["mmsi"].to_numpy(), pd.Timestamp(utc(sc.acquired)), params)
            when = pd.Timestamp(utc(sc.acquired)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for k, row in enumerate(far.itertuples(index=False)):
                mmsi = int(row.mmsi)
                if mmsi == own_mmsi:
                    continue
                suspect = bool(not in_port[k] and slow[k])
                a = Alibi(mmsi, when, round(float(far_dist[k]), 1), False, suspect,
                          *names.get(mmsi, (None, None)))  # fmt: skip
                if suspect:
                    hid.setdefault(mmsi, set()).add(ts)
                    spoofed.setdefault(mmsi, a)
                else:
                    away.setdefault(mmsi, {}).setdefault(ts, a)
        found: dict[int, Alibi] = {}
        hiding: set[int] = set()
        for m in set(away) | set(hid):
            if m == own_mmsi:
                continue
            out, quiet = away.get(m, {}), hid.get(m, set())
            if not out:
                found[m] = spoofed[m] if m in spoofed else None
                if m not in near:
                    hiding.add(m)
                continue
            first = sorted(out.values(), key=lambda a: (not a.confirmed, a.time))[0]
            # elsewhere only before (or only after) every sighting it hid at, and hiding at
            # as many or more: it may have arrived (left) in between and be the hull at the
            # rest, the visit then built from two calls at the berth. Not an alibi; hiding
            # through most of the visit counts as silence.
            edge = bool(quiet) and (max(out) < min(quiet) or min(out) > max(quiet))
            if edge and len(quiet) >= len(out):
                first = dataclasses.replace(first, edge=True)
                if len(quiet) > len(out) and m not in near:
                    hiding.add(m)
            found[m] = first
        found = {m: a for m, a in found.items() if a is not None}
        silent = [
            Silence(m, round(share[m], 4), *names.get(m, (None, None)))
            for m in sorted(hiding)
            if m in share
        ]
        if not found and not silent:
            continue
        alibis = sorted(found.values(), key=lambda a: (not a.confirmed, a.edge, a.suspect, a.mmsi))
        if own is None:
            own = identities[v.id] = VisitAis(v.id, None, 0.0, evidence=len(ev))
        own.alibis, own.silent = alibis, silent
    return identities


def _slow(pos: pd.DataFrame | None, mmsis: np.ndarray, when: pd.Timestamp, params) -> np.ndarray:
    """Per MMSI: its reports within ``max_age_s`` of ``when`` all slower than spoof_max_sog_kn."""
    out = np.zeros(len(mmsis), dtype=bool)
    if pos is None or not len(pos):
        return out
    dt = pd.Timedelta(seconds=params.max_age_s)
    near = pos[(pos["time"] >= when - dt) & (pos["time"] <= when + dt)]
    top = near.groupby("mmsi")["sog"].max()
    for i, m in enumerate(mmsis):
        s = top.get(int(m))
        out[i] = s is not None and np.isfinite(s) and s < params.spoof_max_sog_kn
    return out
