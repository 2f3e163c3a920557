"""Simulated 10 m scenes against real Sentinel-2 (shared/data/sen2ships): per-band pixel
distributions of water, land and ships, ship lengths and ship/water contrast.

    .venv/bin/python benchmarks/simulate_calibration.py [--real DIR] [--sim DIR] [--chips N]

--sim: a simulation folder (its Sentinel-2 scenes are used); otherwise N random 10 m training
chips are simulated. Prints Markdown tables (for BENCHMARKS.md). See
pipeline/simulate/calibration.py for how each number is measured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    default_real = os.environ.get("TANKERWATCH_SEN2SHIPS", REPO.parent / "shared/data/sen2ships")
    ap.add_argument("--real", type=Path, default=Path(default_real))
    ap.add_argument("--sim", type=Path, default=None)
    ap.add_argument("--chips", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from pipeline.simulate import calibration as C
    from pipeline.simulate.chips import write_chips

    real = C.summarise(C.collect(C.real_scene_dirs(args.real)))
    with tempfile.TemporaryDirectory() as tmp:
        if args.sim is None:
            write_chips(Path(tmp), args.chips, seed=args.seed, sensors=("sentinel-2-l2a",))
            dirs = C.simulated_scene_dirs(Path(tmp))
            what = f"{args.chips} simulated 10 m chips (seed {args.seed})"
        else:
            dirs = C.simulated_scene_dirs(args.sim)
            what = f"Sentinel-2 scenes of {args.sim}"
        sim = C.summarise(C.collect(dirs))
    print(
        f"real: {real['n_scenes']} scenes, {real['n_ships']} ships >= {C.MIN_SHIP_M:.0f} m; "
        f"simulated: {what}: {sim['n_scenes']} usable scenes, {sim['n_ships']} clear ships "
        f">= {C.MIN_SHIP_M:.0f} m\n"
    )
    print("Per-scene median DN; real: min / median / max over scenes; simulated: same.\n")
    cols = ["class", "band", "real min", "real median", "real max"]
    cols += ["sim min", "sim median", "sim max", "in range"]
    print("| " + " | ".join(cols) + " |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cls in ("water", "land", "ship"):
        for b in C.BANDS:
            r, s = real[cls][b], sim[cls][b]
            ok = "yes" if r["min"] <= s["median"] <= r["max"] else "NO"
            print(
                f"| {cls} | {b} | {r['min']:.0f} | {r['median']:.0f} | {r['max']:.0f} | "
                f"{s['min']:.0f} | {s['median']:.0f} | {s['max']:.0f} | {ok} |"
            )
    print("\nShip length (m), percentiles 5/25/50/75/95 (all labelled ships):\n")
    print(f"- real: {real['length_m']}\n- simulated: {sim['length_m']}\n")
    print(
        "Ship contrast (p90 of ship pixels minus median of the water ring), DN, p5/25/50/75/95:\n"
    )
    print("| band | real | simulated |")
    print("| --- | --- | --- |")
    for b in C.BANDS:
        print(f"| {b} | {real['contrast'][b]} | {sim['contrast'][b]} |")


if __name__ == "__main__":
    main()
