"""Visits: consecutive sightings of one consistent vessel at one berth, bounded by clear images.

For every berth, the clear and obscured observations of every sensor are merged into one timeline
(Sentinel-2 and a daily 3 m sensor alike). A vessel seen in a clear image is a sighting; a clear
image without it is evidence that it was gone; an obscured image says nothing. Sightings of a
vessel whose length and beam agree within the measured error (which grows with the GSD), and
whose position along the berth agrees, form one visit across obscured gaps up to
``max_gap_h``. ``arrived_after`` is the last clear image of the berth before the first sighting,
``departed_before`` the first clear image after the last sighting without the vessel.

Misses are weighed by each sensor's recall (``miss_rule: weighed``): a visit ends once a vessel
still there would have been missed by every clear image since its last sighting with
probability below ``miss_p_max``; and a sighting that comes after misses whose probability is
below ``split_p_max`` starts a new visit (the berth was seen empty between two calls of hulls of
one size), while a miss the detector often makes (a Sentinel-2 image where its recall is low)
does not split a stay.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.portcalls.berths import BerthIndex
from pipeline.portcalls.params import PortcallParams, SizeError, load_portcall_params
from pipeline.records import Detection, Observation, Scene, Visit


@dataclass
class Sighting:
    det: Detection
    time: datetime
    gsd_m: float
    along_m: float
    sigma_l: float
    sigma_b: float
    length_m: float  # the detection's, less the detector's measured bias (size_error)
    beam_m: float
    sensor: str = ""  # the scene's sensor (sizes of one sensor share its systematic error)
    # the share of the variance that repeats between images of one hull by this sensor (its size
    # error's systematic_frac); None: the caller's error model says
    systematic_frac: float | None = None


@dataclass
class _Epoch:
    time: datetime
    scene_id: str
    clear: bool
    gsd_m: float
    sensor: str = ""
    sightings: list[Sighting] = field(default_factory=list)


@dataclass
class _Track:
    sightings: list[Sighting]
    arrived_after: datetime | None
    misses: list[datetime] = field(default_factory=list)
    p_missed: float = 1.0  # probability a present vessel is missed by every one of ``misses``
    # this hull's record at this berth since its first sighting: sensor -> [hits, misses] in
    # clear images (the first sighting, which started the track, is not counted: it is no
    # evidence of how often the detector finds this hull)
    record: dict[str, list[int]] = field(default_factory=dict)

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    def size(self, err: SizeError) -> tuple[float, float, float, float]:
        """Weighted mean length and beam with their 1-sigma errors (systematic part kept)."""
        return visit_size(self.sightings, err)


def visit_size(sightings: list[Sighting], err: SizeError) -> tuple[float, float, float, float]:
    """Inverse-variance mean length and beam; their error keeps each sighting's systematic
    share (its sensor's, else ``err``'s) whole and averages the rest away."""
    f = [err.systematic_frac if s.systematic_frac is None else s.systematic_frac
         for s in sightings]  # fmt: skip
    out = []
    for attr, sattr in (("length_m", "sigma_l"), ("beam_m", "sigma_b")):
        sig2 = [max(getattr(s, sattr), 1e-6) ** 2 for s in sightings]
        w = sum(1.0 / x for x in sig2)
        mean = sum(getattr(s, attr) / x for s, x in zip(sightings, sig2, strict=True)) / w
        var = sum(fi * x for fi, x in zip(f, sig2, strict=True)) / len(sightings)
        var += sum((1 - fi) / x for fi, x in zip(f, sig2, strict=True)) / (w * w)
        out += [mean, math.sqrt(var)]
    return out[0], out[2], out[1], out[3]


def _params(params) -> PortcallParams:
    if params is None:
        return load_portcall_params()
    if isinstance(params, PortcallParams):
        return params
    return params.portcalls  # the full EstimateParams


def _timelines(
    detections: list[Detection],
    scenes: list[Scene],
    observations: list[Observation],
    index: BerthIndex,
    p: PortcallParams,
) -> dict[tuple[str, str], list[_Epoch]]:
    by_scene = {s.id: s for s in scenes}
    epochs: dict[tuple[str, str, str], _Epoch] = {}
    for ob in observations:
        if not index.has_port(ob.port):
            raise TankerWatchError(
                f"observation of scene {ob.scene_id}: port '{ob.port}' is not in the port configs"
            )
        if not index.has_berth(ob.port, ob.berth):
            raise TankerWatchError(
                f"observation of scene {ob.scene_id}: berth '{ob.berth}' is unknown to port "
                f"'{ob.port}'"
            )
        scene = by_scene.get(ob.scene_id)
        gsd = ob.gsd_m or (scene.gsd_m if scene else 0.0)
        sensor = ob.sensor or (scene.sensor if scene else "")
        key = (ob.port, ob.berth, ob.scene_id)
        prev = epochs.get(key)
        clear = ob.state == "clear"
        if prev is None:
            epochs[key] = _Epoch(
                time=ob.acquired, scene_id=ob.scene_id, clear=clear, gsd_m=gsd, sensor=sensor
            )
        else:  # the same berth twice in one scene: clear if any part says clear
            prev.clear = prev.clear or clear
    wanted = set(p.classes)
    for det in detections:
        scene = by_scene.get(det.scene_id)
        if scene is None:
            raise TankerWatchError(
                f"detection {det.id}: scene '{det.scene_id}' is not in the scene catalogue"
            )
        if det.score < p.min_score or (wanted and det.cls not in wanted):
            continue
        if not index.has_port(scene.port):
            raise TankerWatchError(
                f"scene {scene.id}: port '{scene.port}' is not in the port configs"
            )
        hit = index.locate(det, scene.port)
        if hit is None:
            continue
        if hit.role != "other" and (
            hit.off_axis_deg > p.alongside_deg or hit.off_berth_m > p.alongside_m
        ):
            continue  # not moored alongside the oil berth: no call there
        key = (hit.port, hit.berth, scene.id)
        ep = epochs.get(key)
        if ep is None:  # a detection is itself proof the berth was seen
            ep = epochs[key] = _Epoch(
                time=scene.acquired,
                scene_id=scene.id,
                clear=True,
                gsd_m=scene.gsd_m,
                sensor=scene.sensor,
            )
        gsd = ep.gsd_m or scene.gsd_m
        sensor = ep.sensor or scene.sensor
        # each sensor's own error model (a SAR size is weighed by the SAR detector's error), at
        # an oil berth the one measured on hulls moored there
        err = p.berth_size_error_for(sensor) if hit.role != "other" else p.size_error_for(sensor)
        length, beam = err.debiased(gsd, det.length_m, det.beam_m)
        ep.sightings.append(
            Sighting(
                det=det,
                time=ep.time,
                gsd_m=gsd,
                along_m=hit.along_m,
                sigma_l=err.length_sigma(gsd, length),
                sigma_b=err.beam_sigma(gsd, beam),
                length_m=length,
                beam_m=beam,
                sensor=sensor,
                systematic_frac=err.systematic_frac,
            )
        )
    lines: dict[tuple[str, str], list[_Epoch]] = defaultdict(list)
    for (port, berth, _), ep in epochs.items():
        lines[(port, berth)].append(ep)
    for eps in lines.values():
        eps.sort(key=lambda e: (e.time, e.scene_id))
        for ep in eps:
            ep.sightings.sort(key=lambda s: (s.along_m, s.det.id))
    return lines


def _same_sensor_mean(same: list[Sighting]) -> tuple[float, float, float, float]:
    n = len(same)
    L = sum(t.length_m for t in same) / n
    B = sum(t.beam_m for t in same) / n
    return L, B, same[0].sigma_l / math.sqrt(n), same[0].sigma_b / math.sqrt(n)


def _match(tracks: list[_Track], sightings: list[Sighting], p: PortcallParams):
    """Assign sightings to open tracks (Hungarian on a gated size + position cost)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    if not tracks or not sightings:
        return []
    big = 1e9
    cost = np.full((len(tracks), len(sightings)), big)
    for i, tr in enumerate(tracks):
        L, B, sl, sb = tr.size(p.size_error)
        for j, s in enumerate(sightings):
            same = [t for t in tr.sightings if t.gsd_m == s.gsd_m and t.sensor == s.sensor]
            if same:  # same sensor: the hull's systematic error cancels in the difference
                share = (
                    p.size_error.systematic_frac if s.systematic_frac is None else s.systematic_frac
                )
                rand = math.sqrt(1.0 - share)
                ref = _same_sensor_mean(same)
                dl = (s.length_m - ref[0]) / (rand * math.hypot(ref[2], s.sigma_l))
                db = (s.beam_m - ref[1]) / (rand * math.hypot(ref[3], s.sigma_b))
            else:
                dl = (s.length_m - L) / math.hypot(sl, s.sigma_l)
                db = (s.beam_m - B) / math.hypot(sb, s.sigma_b)
            tol = p.along_tolerance_m + max(s.gsd_m, tr.last.gsd_m)
            da = (s.along_m - tr.last.along_m) / tol
            if abs(dl) <= p.gate_sigma and abs(db) <= p.gate_sigma and abs(da) <= 1.0:
                cost[i, j] = dl * dl + db * db + (p.gate_sigma * da) ** 2
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < big]


def _to_visit(tr: _Track, port: str, berth: str, role: str, p: PortcallParams) -> Visit:
    L, B, sl, sb = tr.size(p.size_error)
    along = sum(s.along_m for s in tr.sightings) / len(tr.sightings)
    return Visit(
        port=port,
        berth=berth,
        vessel_key=f"L{L:.0f}xB{B:.0f}@{along:.0f}m",
        first_seen=tr.sightings[0].time,
        last_seen=tr.last.time,
        arrived_after=tr.arrived_after,
        departed_before=tr.misses[0] if tr.misses else None,
        n_obs=len(tr.sightings),
        length_m=round(L, 2),
        beam_m=round(B, 2),
        evidence=[s.det.id for s in tr.sightings],
        sightings=[s.det.scene_id for s in tr.sightings],
        role=role,
        length_sigma_m=round(sl, 3),
        beam_sigma_m=round(sb, 3),
    )


def miss_probability(record: dict[str, list[int]], sensor: str, p: PortcallParams) -> float:
    """Probability that a clear image of ``sensor`` misses a hull still at the berth.

    Without ``hull_recall_n``: 1 - the sensor's recall (every miss independent). With it, the
    hull's own recall is uncertain around the sensor's (a Beta prior worth ``hull_recall_n``
    images) and learnt from its ``record`` at this berth (sensor -> [hits, misses] so far): a
    hull the detector has missed before is likely missed again (a small hull scoring just under
    the threshold), one it has found every time is not."""
    q = 1.0 - p.image_recall(sensor)
    n0 = p.hull_recall_n
    if n0 is None:
        return q
    hits, misses = record.get(sensor, (0, 0))
    return (n0 * q + misses) / (n0 + hits + misses)


def _on_hull(s: Sighting, t: Sighting) -> bool:
    """Whether two sightings of one image lie on one stretch of the berth: the centre of one
    on the other's hull, along the berth. Two hulls moored alongside in line cannot (a peak of
    a hull found twice, or a hull merged with the pier next to its own, can)."""
    return abs(s.along_m - t.along_m) < max(s.length_m, t.length_m) / 2


def _by_score(idx: list[int], ep: _Epoch, p: PortcallParams) -> list[int]:
    """Sightings of one image, those of a tanker's length first (a tug alongside scoring higher
    must not take a tanker's place), then by score."""

    def key(j: int):
        s = ep.sightings[j]
        return (not p.min_length_m <= s.length_m <= p.max_length_m, -s.det.score, s.det.id)

    return sorted(idx, key=key)


def _berth_visits(epochs: list[_Epoch], port: str, berth: str, role: str, p: PortcallParams):
    visits: list[Visit] = []
    open_: list[_Track] = []
    last_clear: datetime | None = None

    def close(tr: _Track) -> None:
        visits.append(_to_visit(tr, port, berth, role, p))

    for ep in epochs:
        still = []
        for tr in open_:
            gap_h = (ep.time - tr.last.time).total_seconds() / 3600
            by_time = p.miss_rule == "count" and tr.misses and gap_h > p.miss_gap_h
            if gap_h > p.max_gap_h or by_time:
                close(tr)
            else:
                still.append(tr)
        open_ = still
        if ep.sightings and p.miss_rule == "weighed":
            # a hull seen again after clear images that would have found it if it had stayed
            # (probability below split_p_max) is another call: the berth was empty between
            still = []
            for tr in open_:
                if tr.misses and tr.p_missed < p.split_p_max:
                    close(tr)
                else:
                    still.append(tr)
            open_ = still
        pairs = _match(open_, ep.sightings, p)
        matched_t = {i for i, _ in pairs}
        matched_s = {j for _, j in pairs}
        for i, j in pairs:
            open_[i].sightings.append(ep.sightings[j])
            open_[i].misses.clear()
            open_[i].p_missed = 1.0
            open_[i].record.setdefault(ep.sensor, [0, 0])[0] += 1
        still = []
        for i, tr in enumerate(open_):
            if i not in matched_t and ep.clear:
                tr.misses.append(ep.time)
                if p.miss_rule == "weighed":
                    # a miss is weak evidence of departure where the detector often misses
                    tr.p_missed *= miss_probability(tr.record, ep.sensor, p)
                    tr.record.setdefault(ep.sensor, [0, 0])[1] += 1
                    gone = tr.p_missed < p.miss_p_max
                else:
                    gone = len(tr.misses) > p.miss_tolerance
                if gone:
                    close(tr)
                    continue
            still.append(tr)
        open_ = still
        taken = [ep.sightings[j] for j in matched_s]
        cap = p.berth_capacity if role != "other" else None
        for j in _by_score([j for j in range(len(ep.sightings)) if j not in matched_s], ep, p):
            s = ep.sightings[j]
            if role != "other" and any(_on_hull(s, t) for t in taken):
                continue  # the same hull seen twice, or a tug alongside it: no second call
            if cap is not None and len(taken) >= cap:
                continue  # the berth holds no more tankers at once: a weaker peak beside one
            taken.append(s)
            open_.append(_Track(sightings=[s], arrived_after=last_clear))
        if ep.clear:
            last_clear = ep.time
    for tr in open_:
        close(tr)
    return visits


def _tanker_size(v: Visit, p: PortcallParams) -> bool:
    """Whether a visit's hull can be a tanker call: its length in the berth's range and, with
    ``min_length_beam``, not too wide for its length (pontoons, jetty ends and hulls merged
    with the pier come out nearly square: length/beam 2-3 against a tanker's 5-7)."""
    if not p.min_length_m <= v.length_m <= p.max_length_m:
        return False
    k = p.min_length_beam
    if k <= 0:
        return True
    sl = v.length_sigma_m or p.size_error.length_sigma(0.0, v.length_m)
    sb = v.beam_sigma_m or p.size_error.beam_sigma(0.0, v.beam_m)
    z = (v.length_m - k * v.beam_m) / math.hypot(sl, k * sb)
    return z >= -p.gate_sigma


def build_visits(
    detections: list[Detection],
    scenes: list[Scene],
    observations: list[Observation],
    ports: list[Port],
    params=None,
    persistent: dict[str, str] | None = None,
) -> list[Visit]:
    """Visits at every berth of ``ports``, sorted by port, berth and first sighting.

    ``params``: PortcallParams or the full EstimateParams (default: configs/estimate/default.yaml).
    Detections of persistent objects are left out: ``persistent`` (detection id -> reason, as
    ``pipeline.portcalls.persistent.find_persistent`` gives them), or found here when None and
    the params' ``persistent`` section is set.
    Raises TankerWatchError for a detection whose scene is not in ``scenes`` or an observation of
    a berth unknown to the port configs.
    """
    p = _params(params)
    if persistent is None:
        from pipeline.portcalls.persistent import find_persistent

        persistent = find_persistent(detections, scenes, p)
    if persistent:
        detections = [d for d in detections if d.id not in persistent]
    index = BerthIndex(ports, p.berth_margin_m)
    out: list[Visit] = []
    for (port, berth), epochs in sorted(
        _timelines(detections, scenes, observations, index, p).items()
    ):
        out += _berth_visits(epochs, port, berth, index.role(port, berth), p)
    out = [v for v in out if v.role == "other" or (_tanker_size(v, p))]
    out.sort(key=lambda v: (v.port, v.berth, v.first_seen, v.id))
    return out
