"""What Sentinel-1 buys on the default scenario: the demo's ledger estimated from Sentinel-2
alone, Sentinel-2 + Sentinel-1, and every sensor (the table `tankerwatch demo` prints).

    tankerwatch demo --out /tmp/sar-demo
    PYTHONPATH=. python benchmarks/sar_sensor_sets.py --demo /tmp/sar-demo [--params YAML]
        [--ais-stays with|without|both]

Each table once with the transponders' complete stays at the load berth informing every set's
dwell (what the demo does when the scenario has AIS) and once without (the imagery alone). Per
set: scenes, load visits (calls found), p_seen, corrected calls P10-P50-P90, corrected
barrels P10-P50-P90 and the P10-P90 width, and the ratios against Sentinel-2 alone; the
truth (calls and barrels of the simulation) beside them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SETS = [
    ("sentinel-2-l2a",),
    ("sentinel-2-l2a", "sentinel-1-grd"),
    ("sentinel-2-l2a", "sentinel-1-grd", "commercial-3m"),
]


def main() -> None:
    from pipeline.config import load_port, load_registry
    from pipeline.demo import read_truth
    from pipeline.estimate.params import load_params
    from pipeline.ledger.store import Ledger
    from pipeline.run.steps import estimate_by_sensors
    from pipeline.simulate.scenario import load_scenario

    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", type=Path, required=True, help="tankerwatch demo --out folder")
    ap.add_argument("--params", default=None, help="configs/estimate file (default: default)")
    ap.add_argument("--ais-stays", choices=["with", "without", "both"], default="both")
    a = ap.parse_args()
    sc = load_scenario()
    params = load_params(a.params)
    ports = [load_port(p) for p in sorted({sc.load_port, *(d.port for d in sc.discharge)})]
    registry = load_registry(a.demo / "simulation" / "truth" / "fleet.csv")
    truth = read_truth(a.demo / "simulation", sc.load_port, params.caps.refined_bbl)
    print(f"truth: {truth.calls} load calls, {truth.barrels:,.0f} bbl")
    for use in {"with": [True], "without": [False], "both": [True, False]}[a.ais_stays]:
        with Ledger(f"sqlite:///{a.demo / 'ledger.db'}") as ledger:
            rows = estimate_by_sensors(
                ledger, ports, params, registry, SETS, sc.start, sc.end, ais_stays=use
            )
        print(f"\n{'with' if use else 'without'} the AIS stays at the load berth:\n")
        table(rows)


def table(rows) -> None:
    print(
        "| sensors | scenes | load calls found | p_seen | corrected calls P10-P50-P90 | "
        "corrected bbl P10-P50-P90 | bbl P10-P90 width | p_seen / S2 | width S2 / this |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    base = rows[0]
    for r in rows:
        calls = " - ".join(f"{x:.0f}" for x in r.calls_corrected) if r.calls_corrected else "n/a"
        bbl = (
            " - ".join(f"{x / 1000:,.0f}k" for x in r.barrels_corrected)
            if r.barrels_corrected
            else "n/a"
        )
        ratio = f"{r.p_seen / base.p_seen:.1f}x" if r.p_seen and base.p_seen else "n/a"
        narrow = (
            f"{base.barrels_width / r.barrels_width:.1f}x"
            if r.barrels_width and base.barrels_width
            else "n/a"
        )
        width = f"{r.barrels_width / 1000:,.0f}k" if r.barrels_width is not None else "n/a"
        p = f"{r.p_seen:.3f}" if r.p_seen is not None else "n/a"
        print(
            f"| {' + '.join(r.sensors)} | {r.scenes} | {r.load_visits} | {p} | {calls} | {bbl} "
            f"| {width} | {ratio} | {narrow} |"
        )


if __name__ == "__main__":
    main()
