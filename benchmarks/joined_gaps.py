"""The gaps a load visit joins, against the simulator's truth: which are changeovers, what the
changeover model says of them, and how far apart along the berth their sightings lie.

    .venv/bin/python benchmarks/joined_gaps.py --chain WORK [WORK...] [--json OUT]

WORK folders are finished runs of ``benchmarks/estimate_calibration.py --chain`` (each holds
``scenario.yaml``, ``run/ledger.db`` and ``run/simulation/truth``). Port calls are re-run on the
run's detections with this code and the shipped config. For each gap between two consecutive
sightings (scenes) of a load visit: the truth (a changeover when the two sightings lie in
different true stays at that berth), the renewal probability of a changeover
(``changeover_probability``) at the scenario's TRUE dwell median and the berth's TRUE use (the
share of the season a true call lay there), and the difference of the two sightings' positions
along the berth by pair of sensors. The model given perfect inputs against the truth is what the
changeover counting can be at best; the positions are what ``pipeline.estimate.berth_position``
measures its spreads from. Use TUNING seeds to choose, scoring seeds to report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # estimate_accuracy's truth reader


def measure(work: Path, params=None) -> list[dict]:
    """One row per gap of the run's load visits (see the module docstring)."""
    from estimate_accuracy import _truth_from_sim  # noqa: PLC0415

    from pipeline.config import load_port
    from pipeline.estimate.berth_position import sighting_positions
    from pipeline.estimate.params import load_params
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls import build_visits
    from pipeline.run.steps import ledger_inputs
    from pipeline.simulate.scenario import load_scenario

    p = params or load_params()
    sc = load_scenario(work / "scenario.yaml")
    stays, _, _ = _truth_from_sim(work / "run" / "simulation")
    ports = [load_port(n) for n in sorted({sc.load_port, *(d.port for d in sc.discharge)})]
    with open_for_reading(f"sqlite:///{work / 'run' / 'ledger.db'}") as ledger:
        inputs = ledger_inputs(ledger, ports, sc.start, sc.end)
    visits = build_visits(inputs.detections, inputs.scenes, inputs.observations, ports, p)
    loads = [v for v in visits if v.role == "load"]
    positions = sighting_positions(loads, inputs.detections, ports, p.portcalls.berth_margin_m)
    scene_at = {s.id: (s.acquired.timestamp() / 3600, s.sensor) for s in inputs.scenes}
    season_h = max((sc.end - sc.start).days + 1, 1) * 24.0
    return [
        r | {"run": work.name}
        for r in gap_rows(
            loads,
            stays,
            scene_at,
            positions,
            sc.calls.load_dwell_median_h,
            p.coverage.dwell_sigma_ln,
            season_h,
        )  # fmt: skip
    ]


def gap_rows(loads, stays, scene_at, positions, median_h, sigma_ln, season_h) -> list[dict]:
    """The rows of ``measure`` from load visits, the true stays (``pipeline.portcalls.synthetic.
    Stay``: vessel, port, berth, arrive, depart, role), scene id -> (hours, sensor), detection
    id -> position along the berth, the true dwell median and the season's hours."""
    from pipeline.estimate.berth_position import visit_track
    from pipeline.estimate.coverage import changeover_probability

    rows = []
    for v in loads:
        here = [x for x in stays if x.role == "load" and x.port == v.port and x.berth == v.berth]
        use = min(sum((x.depart - x.arrive).total_seconds() / 3600 for x in here) / season_h, 1.0)
        times = sorted({scene_at[s][0] for s in v.sightings if s in scene_at})
        place = {t: (sensor, x) for t, sensor, x in visit_track(v, scene_at, positions)}

        def stay_at(t, here=here):
            return [i for i, x in enumerate(here) if x.arrive.timestamp() / 3600 <= t
                    < x.depart.timestamp() / 3600]  # fmt: skip

        for ta, tb in zip(times[:-1], times[1:], strict=True):
            a, b = stay_at(ta), stay_at(tb)
            q = changeover_probability(
                np.array([tb - ta]), np.array([median_h]), sigma_ln, np.array([use])
            )[0, 0]
            pa, pb = place.get(ta), place.get(tb)
            rows.append(
                {
                    "gap_h": round(tb - ta, 2),
                    "changeover": bool(a and b and a != b),
                    "one_hull": bool(a and a == b),
                    "model_at_truth": float(q),
                    "sensors": "/".join(sorted({pa[0], pb[0]})) if pa and pb else None,
                    "apart_m": abs(pb[1] - pa[1]) if pa and pb else None,
                }
            )
    return rows


def summarise(rows: list[dict]) -> dict:
    out = {
        "gaps": len(rows),
        "changeovers": sum(r["changeover"] for r in rows),
        "model_at_truth": round(sum(r["model_at_truth"] for r in rows), 1),
        "apart_m": {},
    }
    by = defaultdict(lambda: {"one hull": [], "changeover": []})
    for r in rows:
        if r["apart_m"] is None or not (r["one_hull"] or r["changeover"]):
            continue
        by[r["sensors"]]["changeover" if r["changeover"] else "one hull"].append(r["apart_m"])
    for pair, kinds in sorted(by.items()):
        out["apart_m"][pair] = {
            k: {"n": len(v), "median": round(float(np.median(v)), 2) if v else None}
            for k, v in kinds.items()
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chain", type=Path, nargs="+", required=True, help="finished chain runs")
    ap.add_argument("--json", type=Path, help="also write the summary as JSON")
    a = ap.parse_args(argv)
    rows = []
    for work in a.chain:
        if not (work / "run" / "ledger.db").exists():
            print(f"{work}: no finished chain run (run/ledger.db), skipped", file=sys.stderr)
            continue
        rows += measure(work)
    if not rows:
        print("joined_gaps: no load visit joins two sightings", file=sys.stderr)
        return 2
    s = summarise(rows)
    print(
        f"{s['gaps']} gaps in load visits: {s['changeovers']} changeovers; the renewal model at "
        f"the true dwell and use says {s['model_at_truth']}"
    )
    print("| sensors | one hull: gaps, median m apart | changeover: gaps, median m apart |")
    print("| --- | --- | --- |")
    for pair, k in s["apart_m"].items():
        one, two = k["one hull"], k["changeover"]
        print(f"| {pair} | {one['n']}, {one['median']} | {two['n']}, {two['median']} |")
    if a.json:
        a.json.write_text(json.dumps(s, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
