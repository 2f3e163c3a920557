"""The demo's side of the comparison: the truth it prints is read from the simulator's files."""

from __future__ import annotations

import csv

from pipeline.demo import read_truth


def test_truth_counts_calls_barrels_and_cap_date(small_simulation):
    with (small_simulation / "truth" / "deliveries.csv").open() as fh:
        rows = sorted(
            (r for r in csv.DictReader(fh) if r["load_port"] == "vostochny"),
            key=lambda r: r["departed_utc"],
        )
    assert rows
    total = sum(float(r["loaded_bbl"]) for r in rows)

    never = read_truth(small_simulation, "vostochny", cap_bbl=total * 2)
    assert never.calls == len(rows)
    assert abs(never.barrels - total) < 1e-6
    assert never.cap_passed is None

    # a cap just under the first cargo is passed the day that cargo left
    first = read_truth(small_simulation, "vostochny", cap_bbl=float(rows[0]["loaded_bbl"]) - 1)
    assert first.cap_passed.strftime("%Y-%m-%dT%H:%M:%SZ") == rows[0]["departed_utc"]


def test_the_demo_runs_each_sensor_with_a_shipped_bundle_at_its_resolution():
    from pipeline.demo import DEFAULT_SCENARIO, SENSOR_MODELS
    from pipeline.detect.bundle import load_detector
    from pipeline.simulate.scenario import load_scenario
    from pipeline.simulate.sensors import SENSORS

    simulated = {s.name for s in load_scenario(DEFAULT_SCENARIO).sensors}
    assert SENSOR_MODELS and set(SENSOR_MODELS) <= simulated
    for sensor, bundle in SENSOR_MODELS.items():
        assert load_detector(bundle).gsd_m == SENSORS[sensor].gsd_m
