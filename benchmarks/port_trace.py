"""Tracing ports from their images (issue #18): traced land and berths against what was drawn.

    # simulated: the default scenario (Sentinel-2 only) per seed, simulated, ingested and detected
    # with the released detector into WORK/trace-SEED (reused when there), then each port traced
    # from the ledger exactly as `tankerwatch ports trace --db` does
    python benchmarks/port_trace.py --sim-seeds 2024 11 --work /tmp/trace --json out.json
    # tuning: how far from its berth's axis a hull may lie (degrees; 0: every hull kept)
    python benchmarks/port_trace.py --sim-seeds 7 --max-heading-dev 15
    # the seven real development scenes (single dates: land only), against their NDWI land
    python benchmarks/port_trace.py --real ../shared/data/sen2ships

Simulated scores, per port: land IoU of the traced land with the layout the simulator drew
(``pipeline.simulate.layout.port_layout``: coast and piers) inside the imaged footprint and the
AOI; for each traced berth, against the drawn berth nearest its centre: how far it reaches out
of the drawn polygon (its farthest corner's distance to it: ``within`` when <= 30 m, the
target), the distance between the two centres (``centre_within`` when <= 30 m: stricter, as a
drawn berth is a strip wider and longer than the hulls that lie along its quay side), and
whether any ship stopped at that drawn berth in the truth (visits.csv); a traced berth off the
drawn ones is a *mooring* when labelled hulls lay there (moored barges), else *invented*;
drawn berths where ships stopped that were not traced (missed); and the precision the draft
claims beside the error measured. Real scores, per scene: IoU with the NDWI land of
``pipeline.detect.land`` (the scoring land of the detector benchmarks) and where the labelled
ships lie: centre in traced water, or at least on the water side of the shoreline (footprint
touching traced water).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PORTS = ["chongjin", "nampo", "rajin", "vostochny"]


def scenario(seed: int):
    from pipeline.simulate.scenario import load_scenario

    base = load_scenario()
    return base.model_copy(
        update={"name": f"trace-{seed}", "seed": seed, "sensors": [base.sensors[0]], "ais": None}
    )


def stops(sim: Path) -> dict[tuple[str, str], int]:
    """(port, berth) -> ships that stopped there in the truth."""
    out: dict[tuple[str, str], int] = {}
    with (sim / "truth" / "visits.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            out[(r["port"], r["berth"])] = out.get((r["port"], r["berth"]), 0) + 1
    return out


def labelled_stops(sim: Path, port: str, crs: str) -> list:
    """(point in ``crs``, kind, role) of every labelled hull of every scene of ``port``."""
    from shapely.geometry import shape

    from pipeline.geo import reproject

    out = []
    for d in sorted((sim / "scenes").glob(f"{port}_*")):
        for f in json.loads((d / "labels.geojson").read_text())["features"]:
            g = reproject(shape(f["geometry"]), "EPSG:4326", crs).centroid
            out.append((g, f["properties"].get("kind"), f["properties"].get("role")))
    return out


def score_port(trace, port, stopped: dict, labels=None, match_m: float = 30.0) -> dict:
    from shapely.geometry import Point

    from pipeline.geo import reproject
    from pipeline.simulate.layout import port_layout

    lay = port_layout(port)
    truth = reproject(lay.land_union, lay.crs, trace.crs)
    area = trace.footprint_m.intersection(reproject(lay.aoi, lay.crs, trace.crs))
    t = truth.intersection(area)
    g = trace.land_m.intersection(area)
    iou = g.intersection(t).area / max(g.union(t).area, 1e-9)
    drawn = {b.id: reproject(b.polygon, lay.crs, trace.crs) for b in lay.berths}
    rows = []
    for b in trace.berths:
        c = b.polygon_m.centroid
        bid, poly = min(drawn.items(), key=lambda kv: kv[1].centroid.distance(c))
        d = poly.centroid.distance(c)
        # how far the traced berth reaches out of the drawn one: the farthest corner's distance
        # to it (0 when it lies inside; the rectangles are convex, corners suffice)
        out_m = max(poly.distance(Point(x, y)) for x, y in b.polygon_m.exterior.coords)
        rows.append(
            {
                "traced": b.id,
                "nearest_drawn": bid,
                "centre_error_m": round(d, 1),
                "outside_drawn_m": round(out_m, 1),
                "hausdorff_m": round(poly.hausdorff_distance(b.polygon_m), 1),
                "claimed_precision_m": b.precision_m,
                "ships_stopped_there": stopped.get((port.name, bid), 0),
                "axis_deg": b.axis_deg,
                "n_scenes": b.n_scenes,
                "within": out_m <= match_m,
                "centre_within": d <= match_m,
            }
        )
    for r, b in zip(rows, trace.berths, strict=True):
        # what stopped at a traced berth that is no drawn one: the labelled hulls inside it
        if not r["within"] and labels is not None:
            near = b.polygon_m.buffer(20)
            kinds: dict[str, int] = {}
            for pt, kind, role in labels:
                if near.contains(pt):
                    kinds[f"{kind}/{role}"] = kinds.get(f"{kind}/{role}", 0) + 1
            r["labelled_hulls_there"] = kinds
    found = {r["nearest_drawn"] for r in rows if r["within"]}
    in_view = [bid for bid, poly in drawn.items() if trace.footprint_m.contains(poly.centroid)]
    missed = [bid for bid in in_view if stopped.get((port.name, bid), 0) and bid not in found]
    # invented: a traced berth where no labelled vessel ever lay (neither at a drawn berth with
    # stops, nor where hulls such as moored barges lay); a mooring: vessels lay there, no berth
    # was drawn
    invented = [
        r
        for r in rows
        if not (r["within"] and r["ships_stopped_there"]) and not r.get("labelled_hulls_there")
    ]
    moorings = [r for r in rows if not r["within"] and r.get("labelled_hulls_there")]
    return {
        "port": port.name,
        "land_iou": round(iou, 4),
        "scenes": trace.n_scenes,
        "berths": rows,
        "berths_within": sum(r["within"] for r in rows),
        "berths_centre_within": sum(r["centre_within"] for r in rows),
        "berths_traced": len(rows),
        "invented": len(invented),
        "moorings_not_drawn": len(moorings),
        "missed": missed,
        "drawn_with_stops": [b for b in in_view if stopped.get((port.name, b), 0)],
        "persistent_left_out": trace.persistent_left_out,
    }


def run_sim(
    seeds: list[int], work: Path, min_scenes: int = 3, heading_dev: float | None = 30.0
) -> list[dict]:
    from trace_common import simulate_and_detect

    from pipeline.config import load_port
    from pipeline.estimate.params import load_params
    from pipeline.portcalls.trace import TraceParams
    from pipeline.run.trace import trace_from_ledger

    params = load_params(None)
    out = []
    for seed in seeds:
        t0 = time.perf_counter()
        sim, db = simulate_and_detect(scenario(seed), work / f"trace-{seed}")
        prep = time.perf_counter() - t0
        stopped = stops(sim)
        for name in PORTS:
            port = load_port(name)
            t1 = time.perf_counter()
            tp = TraceParams(
                min_scenes=min_scenes, min_days=min_scenes, max_heading_dev_deg=heading_dev
            )
            tr = trace_from_ledger(db, port, params, trace_params=tp)
            row = score_port(tr, port, stopped, labelled_stops(sim, name, tr.crs))
            row.update(seed=seed, trace_s=round(time.perf_counter() - t1, 1), prep_s=round(prep))
            out.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "berths"}), flush=True)
            for b in row["berths"]:
                print("   ", json.dumps(b), flush=True)
    return out


def run_real(root: Path) -> list[dict]:
    from shapely.geometry import shape

    from pipeline.detect.land import ndwi_land
    from pipeline.geo import reproject
    from pipeline.portcalls.trace import TraceParams, stack_from_paths, trace_port

    out = []
    # the shipped trace (NDWI, dark water grown); without the dark-water growth (the index
    # alone, as before); MNDWI with the growth
    variants = [("ndwi", 0.25), ("ndwi", None), ("mndwi", 0.25)]
    for d, (index, dark) in [
        (d, v)
        for v in variants
        for d in sorted(p for p in root.iterdir() if (p / "scene.tif").exists())
    ]:
        # one date: every clear pixel is all there is
        tp = TraceParams(min_valid=1, index=index, dark_water=dark)
        tr = trace_port(None, stack_from_paths([d]), None, None, tp)
        ref = reproject(ndwi_land(d / "scene.tif"), "EPSG:4326", tr.crs)
        land = tr.land_m
        iou = land.intersection(ref).area / max(land.union(ref).area, 1e-9)
        feats = json.loads((d / "labels.geojson").read_text())["features"]
        ships = [reproject(shape(f["geometry"]), "EPSG:4326", tr.crs) for f in feats]
        water = tr.footprint_m.difference(land)
        centre_water = sum(not land.contains(s.centroid) for s in ships)
        water_side = sum(s.intersects(water) for s in ships)
        ref_water = sum(not ref.contains(s.centroid) for s in ships)
        row = {
            "scene": d.name,
            "index": index,
            "dark_water": dark,
            "land_iou_vs_ndwi": round(iou, 4),
            "ships": len(ships),
            "centre_in_water": centre_water,
            "on_water_side": water_side,
            "centre_in_water_ndwi_ref": ref_water,
        }
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sim-seeds", type=int, nargs="*", default=[])
    ap.add_argument("--work", type=Path, default=Path("/tmp/trace"))
    ap.add_argument("--real", type=Path)
    ap.add_argument(
        "--min-scenes", type=int, default=3, help="images (and days) a berth needs (tuning)"
    )
    ap.add_argument(
        "--max-heading-dev",
        type=float,
        default=30.0,
        help="hulls further than this from their berth's axis are left out (tuning; <= 0: off)",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    result = {}
    if a.sim_seeds:
        dev = a.max_heading_dev if a.max_heading_dev > 0 else None
        result["sim"] = run_sim(a.sim_seeds, a.work, a.min_scenes, dev)
    if a.real:
        result["real"] = run_real(a.real)
    if a.json:
        a.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
