"""Simulated AIS: a scenario without `ais` is unchanged; with it, a NOAA-layout file that the
AIS ingest reads, transponders silent or lying around the load calls the truth marks."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from pipeline.ingest.ais import read_ais
from pipeline.simulate.run import scenario_digest, simulate
from pipeline.simulate.scenario import Ais, load_scenario

TINY_DIGEST = "4c1e3790e4db898132e9802f46c9ebbd30c30f2ee90575cee819f451a0360f0e"  # before AIS


def test_a_scenario_without_ais_keeps_its_digest_and_files(repo, small_simulation):
    sc = load_scenario(repo / "configs" / "scenarios" / "tiny.yaml")
    assert sc.ais is None and scenario_digest(sc, sc.seed) == TINY_DIGEST
    assert not (small_simulation / "ais").exists()
    header = (small_simulation / "truth" / "deliveries.csv").read_text().splitlines()[0]
    assert "ais" not in header.split(",")


@pytest.fixture(scope="module")
def ais_simulation(tmp_path_factory, repo):
    sc = load_scenario(repo / "configs" / "scenarios" / "tiny.yaml")
    sc = sc.model_copy(update={"ais": Ais(transmit_share=1.0, dark_share=0.26, spoof_share=0.1)})
    out = tmp_path_factory.mktemp("sim") / "tiny-ais"
    return sc, simulate(sc, out)


def test_ais_file_is_ingestable_and_agrees_with_the_truth(ais_simulation):
    sc, out = ais_simulation
    assert scenario_digest(sc, sc.seed) != TINY_DIGEST
    f = read_ais(out / "ais" / "ais.csv")
    assert f.layout == "noaa" and f.n_bad == 0 and len(f.positions) > 100
    with (out / "truth" / "deliveries.csv").open() as fh:
        calls = list(csv.DictReader(fh))
    with (out / "truth" / "visits.csv").open() as fh:
        visits = {v["visit_id"]: v for v in csv.DictReader(fh)}
    assert {c["ais"] for c in calls} <= {"true", "false"} and all(c["mmsi"] for c in calls)
    static = f.static.set_index("mmsi")
    for c in calls:
        mmsi = int(c["mmsi"])
        assert static.loc[mmsi, "name"] == c["vessel"].upper()
        v = visits[c["load_visit_id"]]
        t0, t1 = pd.Timestamp(v["arrived_utc"]), pd.Timestamp(v["departed_utc"])
        during = f.positions[
            (f.positions["mmsi"] == mmsi) & (f.positions["time"] >= t0) & (f.positions["time"] < t1)
        ]
        if c["ais"] == "true":  # reports at the berth, every few minutes
            assert len(during) >= (t1 - t0).total_seconds() / 180 * 0.6
            assert during["lat"].std() < 0.001
        elif not during.empty:  # spoofed: tens of km out at sea, not at the berth
            assert abs(during["lat"].mean() - 42.74) + abs(during["lon"].mean() - 133.06) > 0.3
    # at these shares (seed 7) the three calls are one honest, one silent, one spoofed
    assert sorted(c["ais"] for c in calls) == ["false", "false", "true"]
