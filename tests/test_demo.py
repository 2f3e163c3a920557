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


def test_the_table_prints_the_corrected_cap_dates_and_whole_calls():
    from datetime import UTC, datetime

    from ledger.factory import build
    from rich.console import Console

    from pipeline.demo import Truth, comparison_table
    from pipeline.run import RunSummary

    coverage = build(seed=0).coverage
    corrected = next(c for c in coverage["caps"] if c["scenario"] == "corrected")
    result = {
        "summary": RunSummary(coverage=coverage),
        "truth": Truth(calls=9, barrels=900_000.0, cap_passed=datetime(2024, 4, 2, tzinfo=UTC)),
        "cap_bbl": 500_000.0,
    }

    def render() -> str:
        console = Console(record=True, width=250)
        console.print(comparison_table(result))
        return console.export_text()

    text = render()
    row = next(line for line in text.splitlines() if "refined cap" in line)
    assert "2024-04-02" in row  # the truth
    assert coverage["caps"][0]["cap_passed_utc"][:10] in row  # observed deliveries, P50
    assert (
        f"{corrected['cap_passed_utc'][:10]} (P10 {corrected['cap_passed_p10_utc'][:10]}, "
        f"P90 {corrected['cap_passed_p90_utc'][:10]})"
    ) in row
    calls = next(line for line in text.splitlines() if line.strip("│ ").startswith("calls"))
    assert "8 (7-9)" in calls  # 7.5 (6.75-9.0) calls, whole numbers

    # a corrected series under the cap says so, with the probability it passed
    corrected.update(cap_passed_utc="", cap_passed_p90_utc="", p_passed=0.27)
    assert "not passed (probability 0.27 that it was, 2024)" in render()
