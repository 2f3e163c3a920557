"""Speed of port calls and estimation on seeded synthetic seasons (no imagery).

    python benchmarks/estimate_speed.py [--years 1] [--draws 4000]

Times build_visits, link_voyages and run_estimate on a season of Vostochny + the three DPRK
ports with Sentinel-2 and the daily 3 m sensor, scaled by --years (calls and days together).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.estimate import run_estimate  # noqa: E402
from pipeline.estimate.params import load_params  # noqa: E402
from pipeline.portcalls import build_visits, link_voyages  # noqa: E402
from pipeline.portcalls.synthetic import synthetic_season  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=1)
    ap.add_argument("--draws", type=int, default=4000)
    a = ap.parse_args(argv)
    p = load_params()
    p.volume.draws = a.draws
    s = synthetic_season(
        seed=0,
        days=366 * a.years,
        n_calls=89 * a.years,
        sensors=("sentinel-2", "daily"),
        start=datetime(2024, 1, 1, tzinfo=UTC),
    )
    t0 = time.perf_counter()
    visits = build_visits(s.detections, s.scenes, s.observations, s.ports, p)
    t1 = time.perf_counter()
    voyages = link_voyages(visits, p)
    t2 = time.perf_counter()
    res = run_estimate(visits, voyages, s.observations, s.registry, p, seed=0, ports=s.ports)
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "scenes": len(s.scenes),
                "observations": len(s.observations),
                "detections": len(s.detections),
                "visits": len(visits),
                "voyages": len(voyages),
                "deliveries": len(res.deliveries),
                "draws": a.draws,
                "build_visits_s": round(t1 - t0, 2),
                "link_voyages_s": round(t2 - t1, 3),
                "run_estimate_s": round(t3 - t2, 2),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
