"""Persistent objects: detections of things that never leave (pier heads, dolphins, pontoons,
moored barges), set apart from visits.

Detections of one port are linked when their centres lie within ``position_m`` plus the coarser GSD
of the two images and their lengths and beams agree within ``size_gate_sigma`` sigmas of the
detector's size error (each sensor's: ``size_error_by_sensor``, else ``size_error``, after its bias
is removed), in different images; linked detections form one object (connected components of that
graph, ``scipy.sparse.csgraph``). It is no object but a chain of different hulls at a busy berth
when its lengths spread more than ``spread_sigma`` single-image sigmas or its centres more than
``scatter_m`` (default ``position_m``) plus half a pixel (RMS: a fixed object is re-found in place,
a hull's slot moves along the quay between calls); nor is it one when another hull's footprint
covers its place within its span (a fixed object is never displaced; tankers of about one size
returning to one slot call after call are), unless it was seen in most of the clear images (then a
hull lay alongside it). An object is persistent when its sightings span at least ``window_h`` and it
was seen in at least ``min_presence`` of the clear images (cloud fraction at most ``max_cloud``, or
with a sighting) that the sensors which saw it took of that port over the span, in at least
``min_scenes`` images. A moored tanker is seen at one place with one size too, but only for its
stay: the window is set far above the longest stay that port calls and the estimate consider
plausible (configs/estimate, ``coverage.dwell_fit_range_h``), so a long stay is not swallowed.

A detection in an image where a persistent object was not linked, centred on its place with its
length but another beam (something beside it widened the outline), is the object too.

The result is a mapping detection id -> reason; the detections stay (the runner keeps the reason
in the ledger), and port-call building leaves them out.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from pipeline.records import Detection, Scene

# seen in most of the clear images over at least the window (issue #18's definition), an object
# is persistent even where hulls lay over it now and then: it is there when they are not
SURE_PRESENCE = 0.5


def _xy(dets: list[Detection]) -> np.ndarray:
    from pipeline.config import utm_epsg
    from pipeline.geo import transformer

    lon = np.array([d.lon for d in dets])
    lat = np.array([d.lat for d in dets])
    tr = transformer("EPSG:4326", utm_epsg(float(lon.mean()), float(lat.mean())))
    x, y = tr.transform(lon, lat)
    return np.column_stack([x, y])


def size_error_for(p, sensor: str):
    """The size error of ``sensor``'s detections in PortcallParams ``p`` (its own entry, else
    the GSD lines of ``size_error``)."""
    get = getattr(p, "size_error_for", None)
    return get(sensor) if get is not None else p.size_error


def _displaced(dets, xy, tree, mine, centre, first, last, by_scene, pp) -> bool:
    """Whether a detection outside ``mine`` within [first, last] has its footprint (an oriented
    rectangle: length, beam, heading) over ``centre``."""
    reach = max((d.length_m for d in dets), default=0.0) / 2 + pp.position_m
    for t in tree.query_ball_point(centre, reach):
        if t in mine or not first <= by_scene[dets[t].scene_id].acquired <= last:
            continue
        d = dets[t]
        th = math.radians(d.heading_deg)
        dx, dy = centre[0] - xy[t][0], centre[1] - xy[t][1]
        along = dx * math.sin(th) + dy * math.cos(th)
        across = dx * math.cos(th) - dy * math.sin(th)
        if abs(along) <= d.length_m / 2 and abs(across) <= d.beam_m / 2 + pp.position_m / 2:
            return True
    return False


def find_persistent(detections: list[Detection], scenes: list[Scene], params) -> dict[str, str]:
    """Detection id -> reason, for the detections of persistent objects.

    ``params``: PortcallParams (or the full EstimateParams) whose ``persistent`` section is set;
    without it nothing is persistent."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    p = getattr(params, "portcalls", params)
    pp = p.persistent
    if pp is None or not detections:
        return {}
    err = p.size_error
    by_scene = {s.id: s for s in scenes}
    by_port: dict[str, list[Detection]] = defaultdict(list)
    for d in detections:
        s = by_scene.get(d.scene_id)
        if s is not None:
            by_port[s.port].append(d)
    port_scenes: dict[str, list[Scene]] = defaultdict(list)
    for s in scenes:
        port_scenes[s.port].append(s)
    out: dict[str, str] = {}
    for port, dets in by_port.items():
        n = len(dets)
        if n < pp.min_scenes:
            continue
        xy = _xy(dets)
        gsd = np.array([by_scene[d.scene_id].gsd_m or err.default_gsd_m for d in dets])
        # each detection's size error is its sensor's (a SAR detector's is not an optical one's
        # at the same pixel size: portcalls.size_error_by_sensor), as port calls take it
        errs = [size_error_for(p, by_scene[d.scene_id].sensor) for d in dets]
        size = np.array(
            [e.debiased(g, d.length_m, d.beam_m) for d, e, g in zip(dets, errs, gsd, strict=True)]
        )
        sl = np.array([e.length_sigma(g, L) for e, g, L in zip(errs, gsd, size[:, 0], strict=True)])
        sb = np.array([e.beam_sigma(g, B) for e, g, B in zip(errs, gsd, size[:, 1], strict=True)])
        scene_idx = np.array([d.scene_id for d in dets])
        tree = cKDTree(xy)
        pairs = tree.query_pairs(pp.position_m + float(gsd.max()), output_type="ndarray")
        if len(pairs) == 0:
            continue
        i, j = pairs[:, 0], pairs[:, 1]
        dist = np.hypot(*(xy[i] - xy[j]).T)
        ok = (
            (scene_idx[i] != scene_idx[j])
            & (dist <= pp.position_m + np.maximum(gsd[i], gsd[j]))
            & (np.abs(size[i, 0] - size[j, 0]) <= pp.size_gate_sigma * np.hypot(sl[i], sl[j]))
            & (np.abs(size[i, 1] - size[j, 1]) <= pp.size_gate_sigma * np.hypot(sb[i], sb[j]))
        )
        i, j = i[ok], j[ok]
        graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        k, labels = connected_components(graph, directed=False)
        counts = np.bincount(labels, minlength=k)
        objects = []
        for c in np.flatnonzero(counts >= pp.min_scenes):
            idx = np.flatnonzero(labels == c)
            seen = {dets[t].scene_id for t in idx}
            if len(seen) < pp.min_scenes:
                continue
            # one object, not a chain of hulls of about one size at about one slot: the
            # lengths and the centres agree as one object's measurements do
            L_sd = float(np.std(size[idx, 0]))
            if L_sd > pp.spread_sigma * float(np.median(sl[idx])):
                continue
            centre = np.median(xy[idx], axis=0)
            rms = float(np.sqrt(np.mean(np.sum((xy[idx] - centre) ** 2, axis=1))))
            scatter = pp.position_m if pp.scatter_m is None else pp.scatter_m
            if rms > scatter + 0.5 * float(np.median(gsd[idx])):
                continue
            times = sorted(by_scene[s].acquired for s in seen)
            first, last = times[0], times[-1]
            span_h = (last - first).total_seconds() / 3600
            if span_h < pp.window_h:
                continue
            sensors = {by_scene[s].sensor for s in seen}
            clear = {
                s.id
                for s in port_scenes[port]
                if s.sensor in sensors
                and first <= s.acquired <= last
                and (s.cloud_fraction <= pp.max_cloud or s.id in seen)
            }
            presence = len(seen) / max(len(clear), 1)
            if presence < pp.min_presence:
                continue
            # a fixed object is never displaced: another hull whose footprint covers its place
            # within its span (a ship at that slot of a berth) shows it was gone then, as when
            # tankers of about one size return to one slot call after call
            # ...unless it was there in most of the images: then a hull over it was moored at
            # a fixed object (a fitting at a berth)
            if presence < SURE_PRESENCE and _displaced(
                dets, xy, tree, set(idx.tolist()), centre, first, last, by_scene, pp
            ):
                continue
            L = float(np.median(size[idx, 0]))
            reason = (
                f"persistent: a {L:.0f} m object at one place in {len(seen)} of {len(clear)} "
                f"clear images over {span_h / 24:.0f} days ({first.date()} to {last.date()}; "
                f"calls stay under {pp.window_h / 24:.0f} days)"
            )
            for t in idx:
                out[dets[t].id] = reason
            objects.append((centre, L, float(np.median(sl[idx])), first, last, seen, sensors))
        # the object seen again with a misread outline: in an image where it was not linked, a
        # detection centred on its place with its length (the beam is not asked: something
        # beside it, a hull or a boat, widens the blob and breaks the size gate). Left in, three
        # such sightings made a berth of a pier fitting (issue #18, seed 11)
        for centre, L, s_obj, first, last, seen, sensors in objects:
            near = tree.query_ball_point(centre, pp.position_m + float(gsd.max()))
            taken = set(seen)  # one sighting of the object per image: the nearest
            for t in sorted(near, key=lambda t: math.dist(xy[t], centre)):
                d = dets[t]
                sc = by_scene[d.scene_id]
                if (
                    d.id in out
                    or d.scene_id in taken
                    or sc.sensor not in sensors
                    or not first <= sc.acquired <= last
                    or math.dist(xy[t], centre) > pp.position_m + gsd[t]
                    or abs(size[t, 0] - L) > pp.size_gate_sigma * math.hypot(sl[t], s_obj)
                ):
                    continue
                taken.add(d.scene_id)
                out[d.id] = (
                    f"persistent: at the place of a {L:.0f} m object seen in {len(seen)} images "
                    f"({first.date()} to {last.date()}), its length, its outline widened "
                    f"({d.beam_m:.0f} m beam) by something beside it"
                )
    return out


def persistent_window_h(params) -> float:
    """The window in use (hours), for reports; nan when persistence is off."""
    p = getattr(params, "portcalls", params)
    return p.persistent.window_h if p.persistent is not None else math.nan
