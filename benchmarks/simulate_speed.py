"""Time the simulator: the default scenario end to end, and training chips per second.

    .venv/bin/python benchmarks/simulate_speed.py [--scenario FILE] [--chips N]

Prints one Markdown table row per measurement (for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default=None, help="default: vostochny-dprk-2024")
    ap.add_argument("--chips", type=int, default=200)
    ap.add_argument("--keep", type=Path, default=None, help="keep the simulation here")
    args = ap.parse_args()

    from pipeline.simulate.chips import write_chips
    from pipeline.simulate.run import simulate

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "sim"
        t0 = time.perf_counter()
        simulate(args.scenario, out)
        dt = time.perf_counter() - t0
        m = json.loads((out / "simulation.json").read_text())
        print("| what | scenes | megapixels | seconds | MB written |")
        print("| --- | --- | --- | --- | --- |")
        print(
            f"| scenario {m['scenario']} ({m['load_calls']} load calls) | {m['scenes']} | "
            f"{m['pixels'] / 1e6:.1f} | {dt:.1f} | {_size_mb(out):.0f} |"
        )
        for sensor in json.loads((out / "simulation.json").read_text())["sensors"]:
            items = [
                json.loads(p.read_text())
                for p in (out / "scenes").glob("*/item.json")
                if sensor in p.parent.name
            ]
            px = sum(
                i["properties"]["proj:shape"][0] * i["properties"]["proj:shape"][1] for i in items
            )
            print(f"|   of which {sensor} | {len(items)} | {px / 1e6:.1f} | | |")
        chips = Path(tmp) / "chips"
        t0 = time.perf_counter()
        write_chips(chips, args.chips, seed=0)
        dt = time.perf_counter() - t0
        print(
            f"| {args.chips} training chips, 256 px | {args.chips} | "
            f"{args.chips * 256 * 256 / 1e6:.1f} | {dt:.1f} ({args.chips / dt:.0f} chips/s) | "
            f"{_size_mb(chips):.0f} |"
        )


if __name__ == "__main__":
    main()
