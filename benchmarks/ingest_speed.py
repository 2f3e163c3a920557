"""Ingest speed and bytes read, per source, on loopback servers (no network here).

    .venv/bin/python benchmarks/ingest_speed.py [--scenario configs/scenarios/tiny.yaml]

- simulated: the scenario simulated once, then ingested (first run, then the no-op re-run);
- stac: a loopback STAC API serving seeded 20.48 km Sentinel-2-like COG tiles over HTTP with
  Range support; reports seconds per scene and the share of each tile's bytes actually fetched
  (the AOI window only);
- sentinelhub: sentinelhub-py against the loopback token/catalog/process server (the client's
  own overhead per scene; the real service's processing time is not included).
Prints one Markdown table row per source.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pytest_httpserver import HTTPServer  # noqa: E402

from pipeline.config import load_ports  # noqa: E402
from pipeline.ingest.core import ingest  # noqa: E402
from pipeline.ledger.store import Ledger  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench_simulated(tmp: Path, scenario: Path) -> dict:
    from pipeline.simulate.run import simulate

    sim = simulate(scenario, tmp / "sim")
    with Ledger(f"sqlite:///{tmp / 'sim.db'}") as led:

        def go():
            return ingest(
                load_ports("vostochny,rajin"),
                "2024-01-01",
                "2024-12-31",
                "simulated",
                led,
                tmp / "c1",
                sim,
            )

        s, first = timed(go)
        again, rerun = timed(go)
    return {
        "source": "simulated",
        "scenes": s.found,
        "added": s.added,
        "s_per_scene": first / max(s.found, 1),
        "rerun_s": rerun,
        "bytes_share": "-",
    }


def bench_stac(tmp: Path, n_items: int) -> dict:
    from ingest import data
    from ingest.stacmock import FakeStacApi, make_band_cogs, make_scl_cog
    from ingest.test_stac import settings_for, tile_geometry

    p = data.port()
    files = make_band_cogs(tmp / "cogs", p)
    scl = make_scl_cog(tmp / "cogs" / "scl.tif", p)
    srv = HTTPServer()
    srv.start()
    try:
        api = FakeStacApi(srv)
        urls = {b: api.add_file(f"{b}.tif", f) for b, f in files.items()}
        urls["SCL"] = api.add_file("scl.tif", scl)
        keys = {
            "B02": "blue",
            "B03": "green",
            "B04": "red",
            "B08": "nir",
            "B11": "swir16",
            "SCL": "scl",
        }
        t0 = datetime(2024, 3, 1, 1, 52, tzinfo=UTC)
        for i in range(n_items):
            assets = {keys[b]: u for b, u in urls.items()}
            api.add_item(f"item{i}", t0 + timedelta(days=5 * i), tile_geometry(p), assets)
        with Ledger(f"sqlite:///{tmp / 'stac.db'}") as led:

            def go():
                return ingest(
                    load_ports("vostochny"),
                    "2024-01-01",
                    "2024-12-31",
                    "stac",
                    led,
                    tmp / "c2",
                    settings=settings_for(api),
                )

            s, first = timed(go)
            again, rerun = timed(go)
        total = sum(f.stat().st_size for f in files.values()) + scl.stat().st_size
        served = sum(api.bytes_served.values())
    finally:
        srv.stop()
    return {
        "source": "stac (loopback)",
        "scenes": s.found,
        "added": s.added,
        "s_per_scene": first / max(s.found, 1),
        "rerun_s": rerun,
        "bytes_share": f"{served / (total * max(s.downloaded, 1)):.3f}",
    }


def bench_sentinelhub(tmp: Path, n_items: int) -> dict:
    from ingest.shmock import CLIENT_ID, CLIENT_SECRET, FakeSentinelHub
    from ingest.test_sentinelhub import settings_for

    os.environ.update(
        SH_CLIENT_ID=CLIENT_ID, SH_CLIENT_SECRET=CLIENT_SECRET, OAUTHLIB_INSECURE_TRANSPORT="1"
    )
    srv = HTTPServer()
    srv.start()
    try:
        t0 = datetime(2024, 3, 1, 1, 52, tzinfo=UTC)
        fake = FakeSentinelHub(
            srv, {"sentinel-2-l2a": [t0 + timedelta(days=5 * i) for i in range(n_items)]}
        )
        with Ledger(f"sqlite:///{tmp / 'sh.db'}") as led:

            def go():
                return ingest(
                    load_ports("vostochny"),
                    "2024-01-01",
                    "2024-12-31",
                    "sentinelhub",
                    led,
                    tmp / "c3",
                    settings=settings_for(fake),
                )

            s, first = timed(go)
            again, rerun = timed(go)
    finally:
        srv.stop()
    return {
        "source": "sentinelhub (loopback)",
        "scenes": s.found,
        "added": s.added,
        "s_per_scene": first / max(s.found, 1),
        "rerun_s": rerun,
        "bytes_share": "-",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default=str(REPO / "configs/scenarios/tiny.yaml"))
    ap.add_argument("--items", type=int, default=12)
    args = ap.parse_args()
    cols = ["source", "scenes", "added", "s_per_scene", "rerun_s", "bytes_share"]
    print("| " + " | ".join(cols) + " |")
    print("| " + " | ".join("---" for _ in cols) + " |")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for row in (
            bench_simulated(tmp, Path(args.scenario)),
            bench_stac(tmp, args.items),
            bench_sentinelhub(tmp, args.items),
        ):
            cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
