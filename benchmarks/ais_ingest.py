"""AIS ingest speed: a NOAA MarineCadastre CSV of N rows -> the ledger (SQLite, PostgreSQL).

    .venv/bin/python benchmarks/ais_ingest.py [--rows 1000000] [--pg postgresql://...]

Writes a seeded CSV (500 vessels, one report every ten seconds, 0.1 % junk rows) and times
``tankerwatch ingest --source ais`` end to end in this process: read and check the file
(``read_ais``), then keep it (``ingest_ais``), and a second ingest of the same file (adds
nothing). Prints one Markdown table row per back-end: wall seconds (``_s``) and this process's CPU
seconds (``_cpu_s``, what the machine's other load does not inflate; the database server's own
work is not in it). ``ingest`` reads the file again and writes it: the command's whole cost.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from pipeline.ingest.ais import read_ais  # noqa: E402
from pipeline.ledger.store import Ledger  # noqa: E402
from pipeline.run.ais import ingest_ais  # noqa: E402


def write_noaa_csv(path: Path, rows: int, seed: int = 0, vessels: int = 500) -> None:
    rng = np.random.default_rng(seed)
    mmsi = 200_000_000 + rng.integers(0, vessels, rows) * 1009
    t0 = np.datetime64("2024-03-01T00:00:00")
    times = t0 + (np.arange(rows) * 10 // 1).astype("timedelta64[s]")
    df = pd.DataFrame(
        {
            "MMSI": mmsi,
            "BaseDateTime": np.datetime_as_string(times, unit="s"),
            "LAT": np.round(42.7 + rng.normal(0, 0.05, rows), 5),
            "LON": np.round(133.0 + rng.normal(0, 0.05, rows), 5),
            "SOG": np.round(rng.uniform(0, 15, rows), 1),
            "COG": np.round(rng.uniform(0, 359.9, rows), 1),
            "Heading": rng.integers(0, 360, rows),
            "VesselName": [f"VESSEL {m % 100000}" for m in mmsi],
            "IMO": [f"IMO{9000000 + m % 999999}" for m in mmsi],
            "CallSign": "ABCD",
            "VesselType": 80,
            "Length": 180,
            "Width": 32,
            "Draft": 10.5,
            "Cargo": 80,
            "TransceiverClass": "A",
        }
    )
    junk = rng.choice(rows, rows // 1000, replace=False)
    df.loc[junk, "LAT"] = 91.0  # AIS "not available": counted as bad
    df.to_csv(path, index=False)


def bench(url: str, csv: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    f = read_ais(csv)
    out["read_s"] = time.perf_counter() - t0
    out["read_cpu_s"] = time.process_time() - c0
    out["positions"] = len(f.positions)
    out["bad"] = f.n_bad
    with Ledger(url) as led:
        t0, c0 = time.perf_counter(), time.process_time()
        summary = ingest_ais([csv], led)
        out["ingest_s"] = time.perf_counter() - t0
        out["ingest_cpu_s"] = time.process_time() - c0
        out["added"] = sum(summary.added)
        t0 = time.perf_counter()
        again = ingest_ais([csv], led)
        out["reingest_s"] = time.perf_counter() - t0
        out["re_added"] = sum(again.added)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--pg",
        default=os.environ.get(
            "TANKERWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "ais.csv"
        t0 = time.perf_counter()
        write_noaa_csv(csv, args.rows)
        print(
            f"wrote {args.rows} rows ({csv.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        results = {"sqlite": bench(f"sqlite:///{tmp / 'ledger.db'}", csv)}
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            engine = sa.create_engine(args.pg)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            except sa.exc.OperationalError as exc:
                print(f"postgresql skipped: {str(exc).splitlines()[0]}")
            else:
                sep = "&" if "?" in args.pg else "?"
                try:
                    results["postgresql"] = bench(
                        f"{args.pg}{sep}options=-csearch_path%3D{schema}", csv
                    )
                finally:
                    with engine.begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()
    cols = [
        "read_s",
        "read_cpu_s",
        "ingest_s",
        "ingest_cpu_s",
        "reingest_s",
        "positions",
        "added",
        "re_added",
        "bad",
    ]
    print(f"| back-end | rows | {' | '.join(cols)} |")
    print("| --- " * (len(cols) + 2) + "|")
    for name, r in results.items():
        vals = [f"{r[c]:.1f}" if c.endswith("_s") else f"{int(r[c])}" for c in cols]
        print(f"| {name} | {args.rows} | {' | '.join(vals)} |")


if __name__ == "__main__":
    main()
