"""Score port calls and estimates against a simulator's truth (or a seeded synthetic season).

    # the default scenario: simulate, ingest (scene catalogue + berth observations), then score
    tankerwatch simulate --out /tmp/sim
    tankerwatch ingest --ports vostochny,rajin,chongjin,nampo --start 2024-03-07 \
        --end 2024-11-05 --source simulated --path /tmp/sim --db sqlite:////tmp/sim.db
    python benchmarks/estimate_accuracy.py --sim /tmp/sim --db sqlite:////tmp/sim.db \
        [--detections dets.parquet] [--sensors all|sentinel-2-l2a] [--params YAML]

    # without a simulation: the seeded synthetic season of pipeline.portcalls.synthetic
    python benchmarks/estimate_accuracy.py --synthetic [--sensors all|sentinel-2]

Without --detections, detections are the simulator's truth footprints (labels.geojson of each
scene): every labelled hull at a berth (tankers, and tugs, barges or cargo ships that berth
nearby) in a clear observation of that berth is detected with --recall, its length and beam
perturbed with the detector's error model (configs/estimate portcalls.size_error).
With --detections (the output of
`tankerwatch detect` on the simulated scenes) the real detector is scored.

Scores: load calls with at least one clear observation of the load berth during the stay
(recall, precision of the load visits; a visit matches the call whose stay holds most of its
sightings, one visit per call), vessel identified correctly among the matched calls (the named
vessel, or "unidentified" for a vessel not in the registry), true total barrels against the
observed and coverage-corrected estimates.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import load_port, load_registry  # noqa: E402
from pipeline.estimate import run_estimate  # noqa: E402
from pipeline.estimate.params import load_params  # noqa: E402
from pipeline.portcalls import build_visits, link_voyages  # noqa: E402
from pipeline.portcalls.synthetic import Stay, detections_from_truth, synthetic_season  # noqa: E402
from pipeline.records import utc  # noqa: E402

PORTS = ["vostochny", "rajin", "chongjin", "nampo"]


def _truth_from_sim(sim: Path):
    stays = []
    with (sim / "truth" / "visits.csv").open() as fh:
        for r in csv.DictReader(fh):
            stays.append(
                Stay(
                    vessel=r["vessel"],
                    port=r["port"],
                    berth=r["berth"],
                    arrive=utc(r["arrived_utc"]),
                    depart=utc(r["departed_utc"]),
                    length_m=float(r["length_m"]),
                    beam_m=float(r["beam_m"]),
                    role=r["role"],
                )
            )
    with (sim / "truth" / "deliveries.csv").open() as fh:
        deliveries = list(csv.DictReader(fh))
    registry = load_registry(sim / "truth" / "fleet.csv")
    return stays, deliveries, registry


def detections_from_labels(sim: Path, scenes, observations, ports, err, recall, seed):
    """Truth footprints (labels.geojson) perturbed with the detector's error model.

    A labelled hull at a berth is detected, with probability ``recall``, in a scene whose
    observation of that berth is clear; its length and beam get the error model's noise (part
    of it repeated for one hull and sensor), its centre and axis are kept.
    """
    import math

    from shapely.geometry import shape

    from pipeline.portcalls.berths import BerthIndex, _to_crs
    from pipeline.portcalls.synthetic import footprint_wkt
    from pipeline.records import Detection

    rng = np.random.default_rng(seed)
    index = BerthIndex(ports, 0.0)
    near = BerthIndex(ports, 30.0)
    clear = {(o.scene_id, o.berth) for o in observations if o.state == "clear"}
    f = err.systematic_frac
    bias: dict = {}
    dets = []
    for sc in sorted(scenes, key=lambda x: (x.acquired, x.id)):
        path = sim / "scenes" / sc.id / "labels.geojson"
        if not path.exists():
            continue
        tr = index._to_m[sc.port]
        for ft in json.loads(path.read_text())["features"]:
            props = ft.get("properties") or {}
            geom = _to_crs(shape(ft["geometry"]), tr)
            L0 = float(props.get("length_m") or 0) or geom.minimum_rotated_rectangle.length / 2
            B0 = float(props.get("beam_m") or 0) or L0 / 6
            c = geom.centroid
            probe = Detection(
                scene_id=sc.id,
                geometry=shape(ft["geometry"]).wkt,
                lon=0,
                lat=0,
                length_m=L0,
                beam_m=B0,
                heading_deg=0,
                score=1,
                cls="v",
                model="l",
            )
            hit = near.locate(probe, sc.port)
            if hit is None or (sc.id, hit.berth) not in clear or rng.random() > recall:
                continue
            key = (round(L0, 1), round(B0, 1), sc.sensor)
            sl, sb = err.length_sigma(sc.gsd_m, L0), err.beam_sigma(sc.gsd_m, B0)
            if key not in bias:
                bias[key] = (rng.normal(0, math.sqrt(f) * sl), rng.normal(0, math.sqrt(f) * sb))
            L = max(L0 + bias[key][0] + rng.normal(0, math.sqrt(1 - f) * sl), 5.0)
            B = max(B0 + bias[key][1] + rng.normal(0, math.sqrt(1 - f) * sb), 2.0)
            rect = geom.minimum_rotated_rectangle
            xs, ys = rect.exterior.coords.xy
            edges = [(xs[i + 1] - xs[i], ys[i + 1] - ys[i]) for i in range(4)]
            ex, ey = max(edges, key=lambda e: math.hypot(*e))
            n = math.hypot(ex, ey) or 1.0
            wkt, lon, lat = footprint_wkt(index, sc.port, c.x, c.y, L, B, (ex / n, ey / n))
            dets.append(
                Detection(
                    scene_id=sc.id,
                    geometry=wkt,
                    lon=lon,
                    lat=lat,
                    length_m=round(L, 1),
                    beam_m=round(B, 1),
                    heading_deg=0.0,
                    score=0.9,
                    cls="vessel",
                    model="labels-perturbed",
                )
            )
    return dets


def _sensor_ok(sensor: str, wanted: str) -> bool:
    return wanted == "all" or sensor in wanted.split(",")


def match_calls(calls, loads, det_time) -> dict[int, str]:
    """Index in ``calls`` -> the id of the load visit matched to it: in order of first sighting,
    each visit goes to the call holding most of its sightings' times (``det_time``: detection id
    -> acquisition time), unless that call has one already (then it is a split or false visit)."""
    matched: dict[int, str] = {}
    for v in sorted(loads, key=lambda v: v.first_seen):
        times = [det_time[e] for e in v.evidence if e in det_time]
        counts = [sum(c.arrive <= t < c.depart for t in times) for c in calls]
        best = int(np.argmax(counts)) if counts else -1
        if best >= 0 and counts[best] and best not in matched:
            matched[best] = v.id
    return matched


def score(
    stays, true_bbl, true_dport, visits, result, observations, registry, load_port_name="vostochny"
):
    """Recall/precision of load calls, identification, barrels vs the truth."""
    from pipeline.records import Visit  # noqa: F401

    calls = [s for s in stays if s.role == "load" and s.port == load_port_name]
    clear = sorted(
        o.acquired
        for o in observations
        if o.port == load_port_name and o.state == "clear" and o.berth in {c.berth for c in calls}
    )
    ct = np.array([t.timestamp() for t in clear])

    def has_clear(c):
        return bool(((ct >= c.arrive.timestamp()) & (ct < c.depart.timestamp())).any())

    visible = [i for i, c in enumerate(calls) if has_clear(c)]
    loads = [v for v in visits if v.role == "load" and v.port == load_port_name]
    matched = match_calls(calls, loads, result["det_time"])
    pair = {v: i for i, v in matched.items()}
    tp = len(matched)
    recall = len(set(matched) & set(visible)) / max(len(visible), 1)
    precision = tp / max(len(loads), 1)
    names = {r.name for r in registry if r.length_m}
    ok = n_id = top_ok = named_wrong = unidentified = 0
    top_p = []
    vport = {v.id: v.port for v in visits}
    linked = linked_ok = 0
    for d in result["deliveries"]:
        if d.load_visit not in pair:
            continue
        c = calls[pair[d.load_visit]]
        n_id += 1
        if d.vessel == c.vessel or (d.vessel == "unidentified" and c.vessel not in names):
            ok += 1
        top = d.candidates[0]["name"] if d.candidates else "unidentified"
        top_ok += top == c.vessel or (top == "unidentified" and c.vessel not in names)
        unidentified += d.vessel == "unidentified"
        named_wrong += d.vessel not in ("unidentified", c.vessel)
        top_p.append(d.candidates[0]["probability"] if d.candidates else 0.0)
        if d.discharge_visit:
            linked += 1
            linked_ok += vport.get(d.discharge_visit) == true_dport[pair[d.load_visit]]
    t = result["coverage"]["totals"]
    total = float(sum(true_bbl))
    seen_bbl = float(sum(b for i, b in enumerate(true_bbl) if i in matched))
    return {
        "calls_true": len(calls),
        "calls_with_clear_obs": len(visible),
        "load_visits": len(loads),
        "recall": round(recall, 3),
        "precision": round(precision, 3),
        "identified_correctly": round(ok / max(n_id, 1), 3),
        "top_candidate_correct": round(top_ok / max(n_id, 1), 3),
        "reported_unidentified": round(unidentified / max(n_id, 1), 3),
        "named_wrongly": round(named_wrong / max(n_id, 1), 3),
        "mean_best_candidate_probability": round(float(np.mean(top_p)) if top_p else 0.0, 3),
        "load_calls_linked_to_a_discharge": round(linked / max(n_id, 1), 3),
        "links_to_the_true_discharge_port": round(linked_ok / max(linked, 1), 3),
        "p_seen": result["coverage"]["p_seen"],
        "calls_corrected_p10_p50_p90": [
            t["calls_corrected_p10"],
            t["calls_corrected_p50"],
            t["calls_corrected_p90"],
        ],
        "true_total_bbl": round(total),
        "true_bbl_of_seen_calls": round(seen_bbl),
        "observed_p50_bbl": t["barrels_observed_p50"],
        "corrected_p10_p50_p90_bbl": [
            t["barrels_corrected_p10"],
            t["barrels_corrected_p50"],
            t["barrels_corrected_p90"],
        ],
        "truth_in_p10_p90": bool(t["barrels_corrected_p10"] <= total <= t["barrels_corrected_p90"]),
        "p50_error": round(t["barrels_corrected_p50"] / total - 1, 3),
    }


def run(
    stays,
    true_bbl,
    true_dport,
    scenes,
    observations,
    registry,
    ports,
    params,
    detections,
    seed,
    recall,
):
    t0 = time.perf_counter()
    if detections is None:
        rng = np.random.default_rng(seed)
        detections, _ = detections_from_truth(
            stays, scenes, observations, ports, params.portcalls.size_error, recall, rng
        )
    scene_t = {s.id: s.acquired for s in scenes}
    detections = [d for d in detections if d.scene_id in scene_t]
    visits = build_visits(detections, scenes, observations, ports, params)
    voyages = link_voyages(visits, params)
    res = run_estimate(visits, voyages, observations, registry, params, seed=seed, ports=ports)
    elapsed = time.perf_counter() - t0
    out = score(
        stays,
        true_bbl,
        true_dport,
        visits,
        {
            "deliveries": res.deliveries,
            "coverage": res.coverage,
            "det_time": {d.id: scene_t[d.scene_id] for d in detections},
        },
        observations,
        registry,
    )
    out["voyages"] = len(voyages)
    out["seconds"] = round(elapsed, 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, help="simulator output folder (truth/ inside)")
    ap.add_argument("--db", help="ledger URL holding the ingested scenes and observations")
    ap.add_argument("--detections", type=Path, help="detector output to score (default: truth)")
    ap.add_argument("--synthetic", action="store_true", help="score a seeded synthetic season")
    ap.add_argument("--sensors", default="all", help="'all' or sensor names, comma-separated")
    ap.add_argument("--params", type=Path, help="configs/estimate YAML")
    ap.add_argument("--recall", type=float, default=0.95, help="truth-derived detector recall")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    params = load_params(a.params)
    if a.synthetic:
        sensors = ("sentinel-2", "daily") if a.sensors == "all" else (a.sensors,)
        s = synthetic_season(seed=a.seed, sensors=sensors, recall=a.recall)
        load_calls = [x for x in s.stays if x.role == "load"]
        out = run(
            s.stays,
            [x.barrels for x in load_calls],
            [s.stays[x.linked].port if x.linked is not None else None for x in load_calls],
            s.scenes,
            s.observations,
            s.registry,
            s.ports,
            params,
            s.detections,
            a.seed,
            a.recall,
        )
    else:
        if not (a.sim and a.db):
            ap.error("--sim and --db are needed (or --synthetic)")
        from pipeline.ledger.store import open_for_reading

        stays, deliveries, registry = _truth_from_sim(a.sim)
        with open_for_reading(a.db) as ledger:
            scenes = [x for x in ledger.scenes(ports=PORTS) if _sensor_ok(x.sensor, a.sensors)]
            keep = {x.id for x in scenes}
            observations = [o for o in ledger.observations(ports=PORTS) if o.scene_id in keep]
        ports = [load_port(p) for p in PORTS]
        if a.detections:
            from pipeline.recordio import read_detections

            dets = read_detections(a.detections)
        else:
            dets = detections_from_labels(
                a.sim, scenes, observations, ports, params.portcalls.size_error, a.recall, a.seed
            )
        calls = [x for x in stays if x.role == "load" and x.port == "vostochny"]
        by_time = {(d["arrived_utc"]): float(d["loaded_bbl"]) for d in deliveries}
        from pipeline.records import iso

        true_bbl = [by_time.get(iso(c.arrive), 0.0) for c in calls]
        dport = {d["arrived_utc"]: d["discharge_port"] for d in deliveries}
        true_dport = [dport.get(iso(c.arrive)) for c in calls]
        missing = sum(1 for c in calls if iso(c.arrive) not in by_time)
        if missing:
            print(f"warning: {missing} load calls without a truth delivery", file=sys.stderr)
        out = run(
            stays,
            true_bbl,
            true_dport,
            scenes,
            observations,
            registry,
            ports,
            params,
            dets,
            a.seed,
            a.recall,
        )
    out["sensors"] = a.sensors
    out["detections"] = str(a.detections) if a.detections else "truth footprints, perturbed"
    out["when_utc"] = datetime.now().astimezone().isoformat(timespec="seconds")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
