"""How well can size alone identify a vessel? The ceiling for a registry and a size error.

    .venv/bin/python benchmarks/identification_ceiling.py [--registry CSV] [--params YAML]
        [--draws N] [--seed S]

For every vessel of the registry that has a length, draw measured lengths and beams around its
true size with 1-sigma errors from a grid (the configured error model at Sentinel-2's 10 m and
at 3 m, and finer ones), identify each draw with the pipeline's own ``identify`` (the same Bayes
rule, prior and threshold as ``tankerwatch estimate``), and count how often the vessel is named
correctly (posterior >= the threshold) and how often it is the best candidate at all. No detector
is involved: this is the best any detector with that error could do on that fleet.

Default registry: the simulator's fleet of the default scenario
(``tankerwatch simulate`` writes it to ``<out>/truth/fleet.csv``; without it, the fleet is
completed here with the same seed).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def default_fleet():
    """The default scenario's fleet, completed exactly as the simulator does."""
    from pipeline.config import load_registry
    from pipeline.simulate.fleet import complete_fleet
    from pipeline.simulate.scenario import load_scenario, registry_path

    sc = load_scenario()
    reg = load_registry(registry_path(sc))
    fleet = complete_fleet(
        reg,
        sc.fleet.vessels,
        sc.fleet.dwt_t.min,
        sc.fleet.dwt_t.max,
        sc.fleet.dwt_median_t,
        sc.seed,
    )
    return [f.as_registry() for f in fleet]


def ceiling(registry, params, sigma_l: float, sigma_b: float, draws: int, rng) -> tuple:
    from pipeline.estimate.registry import identify
    from pipeline.records import Visit

    t = datetime(2024, 6, 1, tzinfo=UTC)
    sized = [v for v in registry if v.length_m is not None]
    named = best = 0
    for k in range(draws):
        v = sized[k % len(sized)]
        visit = Visit(
            port="p",
            berth="b",
            vessel_key=str(k),
            first_seen=t,
            last_seen=t,
            arrived_after=None,
            departed_before=None,
            n_obs=1,
            length_m=float(v.length_m + rng.normal(0, sigma_l)),
            beam_m=float((v.beam_m or 0) + rng.normal(0, sigma_b)),
            length_sigma_m=sigma_l,
            beam_sigma_m=sigma_b,
        )
        ident = identify(visit, registry, params.identification, params.portcalls.size_error)
        named += ident.name == v.name
        best += bool(ident.candidates) and ident.candidates[0].name == v.name
    return named / draws, best / draws


def main(argv=None) -> int:
    from pipeline.config import load_registry
    from pipeline.estimate.params import load_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", type=Path, help="vessel registry CSV (default: simulated fleet)")
    ap.add_argument("--params", type=Path, help="configs/estimate YAML (default: default.yaml)")
    ap.add_argument("--draws", type=int, default=9000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    params = load_params(a.params)
    registry = load_registry(a.registry) if a.registry else default_fleet()
    sized = sorted(v.length_m for v in registry if v.length_m is not None)
    gaps = np.diff(sized)
    print(
        f"{len(sized)} sized vessels, lengths {', '.join(f'{x:.1f}' for x in sized)} m; "
        f"median gap between neighbours {np.median(gaps):.1f} m"
    )
    err = params.portcalls.size_error
    grid = [
        ("error model at 10 m GSD", err.length_sigma(10.0), err.beam_sigma(10.0)),
        ("error model at 3 m GSD", err.length_sigma(3.0), err.beam_sigma(3.0)),
        ("3 m, 4 images (systematic part kept)", *_averaged(err, 3.0, 4)),
        ("2 m / 1 m", 2.0, 1.0),
        ("1 m / 0.5 m", 1.0, 0.5),
        ("0.5 m / 0.25 m", 0.5, 0.25),
    ]
    print("| size error | sigma length m | sigma beam m | named correctly | best candidate right |")
    print("| --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(a.seed)
    for label, sl, sb in grid:
        named, best = ceiling(registry, params, sl, sb, a.draws, rng)
        print(f"| {label} | {sl:.1f} | {sb:.1f} | {named:.2f} | {best:.2f} |")
    return 0


def _averaged(err, gsd: float, n: int) -> tuple[float, float]:
    f = err.systematic_frac
    sl, sb = err.length_sigma(gsd), err.beam_sigma(gsd)
    return (sl * np.sqrt(f + (1 - f) / n), sb * np.sqrt(f + (1 - f) / n))


if __name__ == "__main__":
    raise SystemExit(main())
