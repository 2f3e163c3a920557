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


def test_sensor_sets_estimate_each_subset_of_the_imagery(tmp_path):
    """estimate_by_sensors: the same ledger, estimated from Sentinel-2 alone and from Sentinel-2
    + Sentinel-1: the SAR passes add their scenes, find the calls Sentinel-2 missed under cloud,
    and raise p_seen; the demo's table shows the sets."""
    from portcalls.builders import Builder
    from rich.console import Console

    from pipeline.config import load_registry
    from pipeline.demo import sensor_table
    from pipeline.estimate.params import load_params
    from pipeline.ledger.store import Ledger
    from pipeline.run.steps import estimate_by_sensors

    b = Builder()
    # three stays of one tanker; Sentinel-2 sees the berth clear only during the first
    for start in (0, 200, 400):
        if start == 0:
            b.vessel(b.scene(start + 6), 90, 15)
        else:
            b.scene(start + 6, state="obscured")
        b.scene(start + 30, state="obscured")
        for k, dt in enumerate((2, 26)):
            s1 = b.scene(start + dt, sensor="sentinel-1-grd")
            if k == 0 or start == 0:
                b.vessel(s1, 90, 15, measured=True)
    for t in range(600, 1400, 60):  # later clear images of the empty berth by both
        b.scene(t)
        b.scene(t + 5, sensor="sentinel-1-grd")
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        for s in b.scenes:
            ledger.add_scene(s, [o for o in b.observations if o.scene_id == s.id])
        for s in b.scenes:
            ledger.add_detections(s.id, "test", [d for d in b.detections if d.scene_id == s.id])
        rows = estimate_by_sensors(
            ledger,
            b.ports,
            load_params(),
            load_registry(),
            [("sentinel-2-l2a",), ("sentinel-2-l2a", "sentinel-1-grd")],
        )
    s2, both = rows
    assert both.scenes > s2.scenes
    assert s2.load_visits == 1 and both.load_visits == 3
    assert both.p_seen > s2.p_seen
    table = sensor_table({"sensor_sets": rows})
    console = Console(width=160, record=True)
    console.print(table)
    text = console.export_text()
    assert "S2 + S1" in text and "p_seen" in text
    assert sensor_table({"sensor_sets": []}) is None
