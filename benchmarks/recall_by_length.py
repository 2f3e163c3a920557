"""A sensor's recall at the load berth by hull length, as the whole chain sees it (#13 item 4).

    python benchmarks/recall_by_length.py --chain /work/chain/tuning/family-* [--edges 80 95 110]

On finished ``estimate_calibration.py --chain`` runs (ledger + truth): every clear image of the
load berth taken while a true load call lay there counts for the bin of that call's hull
length; it is a hit when port calls (this code, the shipped config) put a sighting of that call
there: a detection in a load visit, taken during the call (``estimate_calibration``'s
``chain_recall`` rule). Prints per sensor and bin (below the first edge, between edges, from
the last edge up) the images and hits, as a table and as YAML that a prior by hull length would
read. Run it on TUNING seeds only. (A prior re-centred this way on the registry's hulls was
tried on the 20 tuning chain runs and not kept: BENCHMARKS.md, "The dwell fit".)
"""

from __future__ import annotations

import argparse
import bisect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def tally(work: Path, params, edges: list[float]) -> dict[str, list[list[int]]]:
    """sensor -> [[images, hits] per bin] of one chain run folder (family-SEED-SEED)."""
    import estimate_calibration as ec

    seed = int(work.name.rsplit("-", 1)[-1])
    sc = ec.chain_scenario(ec.draw_scenario(seed)[0])
    run = ec.chain_visits(sc, work, params)
    scene_of = {d.id: d.scene_id for d in run.dets}
    hit = {(scene_of[e], i) for e, i in run.owner.items() if e in scene_of}
    out: dict[str, list[list[int]]] = {}
    for o, i in ec.images_in_calls(sc, run.stays, run.obs):
        row = out.setdefault(o.sensor, [[0, 0] for _ in range(len(edges) + 1)])
        k = bisect.bisect_right(edges, run.stays[i].length_m)
        row[k][0] += 1
        row[k][1] += (o.scene_id, i) in hit
    return out


def main(argv=None) -> int:
    from pipeline.estimate.params import load_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chain", type=Path, nargs="+", required=True, help="chain run folders")
    ap.add_argument("--edges", type=float, nargs="+", default=[80.0, 95.0, 110.0])
    ap.add_argument("--params", type=Path, help="configs/estimate YAML (default: the shipped one)")
    a = ap.parse_args(argv)
    params = load_params(a.params)
    total: dict[str, list[list[int]]] = {}
    runs = [w for w in a.chain if (w / "run" / "report.html").exists()]
    if not runs:
        print("no finished chain run among --chain", file=sys.stderr)
        return 2
    for work in runs:
        for sensor, rows in tally(work, params, a.edges).items():
            acc = total.setdefault(sensor, [[0, 0] for _ in range(len(a.edges) + 1)])
            for k, (n, h) in enumerate(rows):
                acc[k][0] += n
                acc[k][1] += h
    names = [f"< {a.edges[0]:g} m"]
    names += [f"{lo:g}-{hi:g} m" for lo, hi in zip(a.edges, a.edges[1:], strict=False)]
    names += [f">= {a.edges[-1]:g} m"]
    print(f"{len(runs)} chain runs: {', '.join(w.name for w in runs)}")
    print("| sensor | " + " | ".join(names) + " | pooled |")
    print("| --- |" + " --- |" * (len(names) + 1))
    for sensor, rows in sorted(total.items()):
        n, h = sum(r[0] for r in rows), sum(r[1] for r in rows)
        cells = [f"{x[1]} / {x[0]}" + (f" = {x[1] / x[0]:.2f}" if x[0] else "") for x in rows]
        print(f"| {sensor} | " + " | ".join(cells) + f" | {h} / {n} = {h / max(n, 1):.2f} |")
    print("\nrecall_by_length:")
    for sensor, rows in sorted(total.items()):
        print(f"  {sensor}:")
        print(f"    edges_m: [{', '.join(f'{e:g}' for e in a.edges)}]")
        print(f"    images: [{', '.join(str(r[0]) for r in rows)}]")
        print(f"    found: [{', '.join(str(r[1]) for r in rows)}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
