"""Every split and false load visit of finished chain runs, with the load berth's timeline
around it (#13): why port calls made it.

    python benchmarks/visit_diagnose.py --work /work/chain2/tuning --set tuning --n 20 \
        [--params YAML] [--dispersion | --missed]

For each load visit that is a further visit of a call already matched (split) or of no true call
(false), prints the visit and the load berth's clear/obscured images from two days before the
previous visit's end to two days after it: time, sensor, clear or not, the sightings port calls
made (score, debiased length) and the true call lying at the berth then.

``--missed``: instead, every true load call with a clear image of the load berth that no load
visit matched (the misses of "recall of calls with a clear image", matched as the calibration
benchmark matches: ``estimate_accuracy.match_calls``), classed by where it was lost: *merged*
(a load visit holds sightings from its stay but was matched to another call), *dropped* (the
detector found a hull at the load berth in a clear image of its stay, and port calls made no
load visit of it) or *undetected* (no detection at the load berth in any clear image of its
stay); with the counts of each.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from estimate_accuracy import match_calls  # noqa: E402
from estimate_calibration import (  # noqa: E402
    SEED_BASE,
    chain_scenario,
    chain_visits,
    draw_scenario,
    images_in_calls,
)

from pipeline.estimate.params import load_params  # noqa: E402
from pipeline.portcalls.berths import BerthIndex  # noqa: E402


def diagnose(sc, seed: int, work: Path, params) -> list[str]:
    run = chain_visits(sc, work, params)
    stays, ports, all_obs, all_dets = run.stays, run.ports, run.obs, run.dets
    visits, owner = run.visits, run.owner
    index = BerthIndex(ports, params.portcalls.berth_margin_m)
    loads = sorted(
        (v for v in visits if v.role == "load" and v.port == sc.load_port),
        key=lambda v: v.first_seen,
    )
    calls = [
        (i, x) for i, x in enumerate(stays)
        if x.role == "load" and x.port == sc.load_port and x.berth == sc.load_berth
    ]  # fmt: skip
    obs = sorted(
        (o for o in all_obs if o.port == sc.load_port and o.berth == sc.load_berth),
        key=lambda o: o.acquired,
    )
    dets_by_scene: dict[str, list] = {}
    in_visit = {e: v for v in loads for e in v.evidence}
    for d in all_dets:
        dets_by_scene.setdefault(d.scene_id, []).append(d)
    out, firsts = [], {}
    for v in loads:
        owners = [owner[e] for e in v.evidence if e in owner]
        i = max(set(owners), key=owners.count) if owners else None
        if i is None:
            kind = "false"
        else:
            kind = "split" if i in firsts else "matched"
        if i is not None and i not in firsts:
            firsts[i] = v
        if kind == "matched":
            continue
        prev = firsts.get(i) if kind == "split" else None
        c = stays[i] if i is not None else None
        out.append(
            f"== {seed} {kind} visit {v.first_seen:%m-%d %H}h..{v.last_seen:%m-%d %H}h "
            f"L{v.length_m:.0f} B{v.beam_m:.0f} n{v.n_obs}"
            + (
                f" | call {c.arrive:%m-%d %H}h..{c.depart:%m-%d %H}h "
                f"({(c.depart - c.arrive).total_seconds() / 3600:.0f} h)"
                if c
                else ""
            )
            + (
                f" | first visit {prev.first_seen:%m-%d %H}h..{prev.last_seen:%m-%d %H}h "
                f"L{prev.length_m:.0f} n{prev.n_obs}"
                if prev
                else ""
            )
        )
        t0 = (prev.last_seen if prev else v.first_seen) - timedelta(days=2)
        t1 = v.last_seen + timedelta(days=2)
        for o in obs:
            if not t0 <= o.acquired <= t1:
                continue
            at = [k for k, x in calls if x.arrive <= o.acquired < x.depart]
            marks = []
            for d in dets_by_scene.get(o.scene_id, []):
                vv = in_visit.get(d.id)
                if vv is None:
                    continue
                tag = "*" if vv is v else ("p" if vv is prev else "o")
                hit = index.locate(d, sc.load_port)
                along = f"@{hit.along_m:.0f}" if hit else ""
                marks.append(f"{tag}{d.score:.2f}/L{d.length_m:.0f}{along}")
            out.append(
                f"   {o.acquired:%m-%d %H:%M} {o.sensor[:6]:6} {o.state:8} "
                f"call={','.join(str(k) for k in at) or '-':4} {' '.join(marks)}"
            )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--set", choices=sorted(SEED_BASE), default="tuning")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--params", type=Path)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument(
        "--dispersion", action="store_true",
        help="instead: how a hull's misses at the berth cluster (per sensor, over true calls)",
    )  # fmt: skip
    mode.add_argument(
        "--missed", action="store_true",
        help="instead: the calls with a clear image that no load visit matched, and why",
    )  # fmt: skip
    a = ap.parse_args(argv)
    if not a.work.is_dir():
        print(f"--work {a.work}: no such folder", file=sys.stderr)
        return 2
    if a.n < 1 or a.first < 0:
        print("--n must be at least 1 and --first at least 0", file=sys.stderr)
        return 2
    records = []
    kinds: dict[str, int] = {}
    done = 0
    params = load_params(a.params)
    for k in range(a.first, a.first + a.n):
        seed = SEED_BASE[a.set] + k
        sc = chain_scenario(draw_scenario(seed)[0])
        work = a.work / f"{sc.name}-{seed}"
        if not (work / "run" / "report.html").exists():
            print(f"{seed}: no finished run in {work}", file=sys.stderr)
            continue
        done += 1
        if a.dispersion:
            records += hull_record(sc, seed, work, params)
        elif a.missed:
            for kind, line in missed_calls(sc, seed, work, params):
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind != "matched":
                    print(line)
        else:
            print("\n".join(diagnose(sc, seed, work, params)))
    if not done:
        print(f"{a.work}: no finished chain run of those seeds", file=sys.stderr)
        return 2
    if a.dispersion:
        print(json.dumps(dispersion(records), indent=1))
    if a.missed:
        print(json.dumps({"calls_with_a_clear_image": sum(kinds.values()), **kinds}, indent=1))
    return 0


def classify_call(call, clear_scenes, loads, matched_here, berth_dets, det_time) -> str:
    """Where a call with a clear image of the load berth was lost (see the module's doc)."""
    if matched_here:
        return "matched"

    def in_stay(e: str) -> bool:
        return e in det_time and call.arrive <= det_time[e] < call.depart

    if any(in_stay(e) for v in loads for e in v.evidence):
        return "merged"
    if any(berth_dets.get(s) for s in clear_scenes):
        return "dropped"
    return "undetected"


def missed_calls(sc, seed: int, work: Path, params) -> list[tuple[str, str]]:
    """(kind, line) per true load call with a clear image of the load berth."""
    run = chain_visits(sc, work, params)
    stays, ports = run.stays, run.ports
    index = BerthIndex(ports, params.portcalls.berth_margin_m)
    when = {o.scene_id: o.acquired for o in run.obs}
    det_time = {d.id: when[d.scene_id] for d in run.dets if d.scene_id in when}
    at_load_port = {o.scene_id for o in run.obs if o.port == sc.load_port}
    loads = [v for v in run.visits if v.role == "load" and v.port == sc.load_port]
    calls = [x for x in stays if x.role == "load" and x.port == sc.load_port]
    berths = {c.berth for c in calls}
    clear = [
        o for o in run.obs if o.port == sc.load_port and o.state == "clear" and o.berth in berths
    ]  # fmt: skip
    berth_dets: dict[str, list] = {}
    for d in run.dets:
        if d.scene_id not in at_load_port:
            continue
        hit = index.locate(d, sc.load_port)
        if hit is not None and hit.berth in berths:
            berth_dets.setdefault(d.scene_id, []).append(d)
    matched = match_calls(calls, loads, det_time)
    out = []
    for k, c in enumerate(calls):
        images = [o for o in clear if c.arrive <= o.acquired < c.depart]
        if not images:
            continue
        scenes = [o.scene_id for o in images]
        kind = classify_call(c, scenes, loads, k in matched, berth_dets, det_time)
        sensors = ",".join(sorted({o.sensor[:6] for o in images}))
        found = [
            f"{d.score:.2f}/L{d.length_m:.0f}/{d.cls}"
            for s in scenes
            for d in berth_dets.get(s, [])
        ]
        out.append((
            kind,
            f"{seed} {kind:10} call {c.arrive:%m-%d %H}h..{c.depart:%m-%d %H}h "
            f"({(c.depart - c.arrive).total_seconds() / 3600:.0f} h) {c.vessel} | "
            f"{len(images)} clear ({sensors}) | at the berth then: {' '.join(found) or '-'}",
        ))  # fmt: skip
    return out


def hull_record(sc, seed: int, work: Path, params) -> list[tuple[str, list[bool]]]:
    """(sensor, hit or miss per clear image in time order) per true load call and sensor:
    whether the chain saw that call's hull in each clear image of the load berth taken while it
    lay there."""
    run = chain_visits(sc, work, params)
    stays, all_dets, owner = run.stays, run.dets, run.owner
    scene_of = {d.id: d.scene_id for d in all_dets}
    hit = {(scene_of[e], i) for e, i in owner.items()}
    rec: dict[tuple[int, str], list[bool]] = {}
    for o, i in images_in_calls(sc, stays, run.obs):
        rec.setdefault((i, o.sensor), []).append((o.scene_id, i) in hit)
    return [(s, x) for (_, s), x in rec.items()]


def dispersion(records: list[tuple[str, list[bool]]]) -> dict:
    """Per sensor: pooled recall; the miss rate after a miss and after a hit of the same call
    (consecutive clear images of that sensor); and the Beta concentration n0 (images' worth)
    of a hull's own recall around the pooled one that best predicts each call's sequence
    (maximum likelihood of the sequential beta-binomial predictive, the rule port calls use
    with ``hull_recall_n``; n0 -> infinity is independent misses)."""
    out = {}
    for s in sorted({r[0] for r in records}):
        seqs = [x for t, x in records if t == s]
        flat = [h for x in seqs for h in x]
        p = sum(flat) / len(flat)
        after = {True: [], False: []}
        for x in seqs:
            for a, b in zip(x, x[1:], strict=False):
                after[a].append(not b)

        def loglik(n0: float, seqs=seqs, p=p) -> float:
            ll = 0.0
            for x in seqs:
                hits = misses = 0
                for h in x:
                    q = (n0 * (1 - p) + misses) / (n0 + hits + misses)
                    ll += math.log(max(1 - q if h else q, 1e-12))
                    hits, misses = hits + h, misses + (not h)
            return ll

        grid = [0.25, 0.5, 1, 2, 3, 5, 8, 12, 20, 50, 100, 1000]
        lls = {n0: loglik(n0) for n0 in grid}
        best = max(lls, key=lls.get)
        out[s] = {
            "recall": round(p, 3), "calls": len(seqs), "images": len(flat),
            "miss_after_miss": f"{sum(after[False])}/{len(after[False])}",
            "miss_after_hit": f"{sum(after[True])}/{len(after[True])}",
            "n0_ml": best,
            "loglik": {str(k): round(v, 2) for k, v in lls.items()},
        }  # fmt: skip
    return out


if __name__ == "__main__":
    raise SystemExit(main())
