"""benchmarks/identification_ceiling.py: the size-only identification ceiling rises as the size
error falls, and a fleet of well-separated hulls is always identified."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "identification_ceiling.py"), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ")]
    return [(r[0].strip(), float(r[3]), float(r[4])) for r in rows[2:]]


def test_ceiling_grows_as_the_error_shrinks():
    rows = _run("--draws", 270)
    named = [r[1] for r in rows]
    assert named[0] <= named[1] <= named[-2] <= named[-1]
    assert named[-1] > 0.9 and named[0] < 0.2  # default fleet: hulls a few metres apart


def test_distinct_hulls_are_always_named(tmp_path):
    reg = tmp_path / "fleet.csv"
    with reg.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "imo", "flag", "length_m", "beam_m", "dwt", "product", "source"])
        for i, (length, beam) in enumerate([(50, 9), (90, 15), (140, 22)]):
            w.writerow([f"V{i}", "", "", length, beam, 3000, "refined", "test"])
    rows = _run("--registry", reg, "--draws", 90)
    assert dict((r[0], r[1]) for r in rows)["1 m / 0.5 m"] == 1.0
