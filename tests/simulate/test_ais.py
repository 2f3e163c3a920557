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
# tiny.yaml with a default `ais` section, seed 1, before interval_transit_s existed (main af6163e)
TINY_AIS_DIGEST = "f705a645bba68978afeb4448df0a97f79007cf5cf34f2a76063051dec960750b"


def test_a_scenario_without_ais_keeps_its_digest_and_files(repo, small_simulation):
    sc = load_scenario(repo / "configs" / "scenarios" / "tiny.yaml")
    assert sc.ais is None and scenario_digest(sc, sc.seed) == TINY_DIGEST
    assert not (small_simulation / "ais").exists()
    header = (small_simulation / "truth" / "deliveries.csv").read_text().splitlines()[0]
    assert "ais" not in header.split(",")


@pytest.fixture(scope="module")
def ais_simulation(tmp_path_factory, repo):
    sc = load_scenario(repo / "configs" / "scenarios" / "tiny.yaml")
    ais = Ais(transmit_share=1.0, dark_share=0.26, spoof_share=0.1, interval_transit_s=1800)
    sc = sc.model_copy(update={"ais": ais})
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


def test_transmitters_report_at_sea_between_calls_but_not_while_dark(ais_simulation):
    from pipeline.config import load_port

    sc, out = ais_simulation
    f = read_ais(out / "ais" / "ais.csv")
    pos = f.positions
    import shapely

    in_port = pd.Series(False, index=pos.index)
    for name in sc.ports:
        aoi = load_port(name).aoi_shape.buffer(0.2)  # the port and its approaches
        in_port |= shapely.contains_xy(aoi, pos["lon"].to_numpy(), pos["lat"].to_numpy())
    at_sea = pos[~in_port & (pos["sog"] > 5)]
    assert len(at_sea) > 20  # under way between ports, every half hour
    gaps = at_sea.sort_values(["mmsi", "time"]).groupby("mmsi")["time"].diff().dropna()
    assert gaps.dt.total_seconds().median() == pytest.approx(1800, rel=0.35)
    with (out / "truth" / "deliveries.csv").open() as fh:
        calls = list(csv.DictReader(fh))
    with (out / "truth" / "visits.csv").open() as fh:
        visits = {v["visit_id"]: v for v in csv.DictReader(fh)}
    quiet = 0
    for c in calls:
        if c["ais"] != "false":
            continue
        v = visits[c["load_visit_id"]]
        t0 = pd.Timestamp(v["arrived_utc"]) - pd.Timedelta(hours=sc.ais.dark_before_h)
        t1 = pd.Timestamp(v["departed_utc"]) + pd.Timedelta(hours=sc.ais.dark_after_h)
        mine = pos[(pos["mmsi"] == int(c["mmsi"])) & (pos["time"] >= t0) & (pos["time"] <= t1)]
        assert (mine["sog"] < 1.0).all()  # silent, or the spoofed position drifting: no track
        quiet += 1
    assert quiet == 2


def test_a_simulation_with_ais_from_before_draughts_is_made_again(repo):
    sc = load_scenario(repo / "configs" / "scenarios" / "tiny.yaml")
    plain = sc.model_copy(update={"ais": Ais()})
    # its ais.csv had no Draft column: not recognised as done (a scenario without `ais` keeps
    # its digest: the first test)
    assert scenario_digest(plain, 1) != TINY_AIS_DIGEST
    with_transit = sc.model_copy(update={"ais": Ais(interval_transit_s=1800)})
    assert scenario_digest(with_transit, 1) != scenario_digest(plain, 1)


def test_tankers_report_a_deeper_draught_after_loading_where_the_crew_updates_it(ais_simulation):
    from pipeline.hull import cargo_t
    from pipeline.simulate.ais import CB_RANGE, CD_RANGE, CONSUMABLES_SHARE

    sc, out = ais_simulation
    f = read_ais(out / "ais" / "ais.csv")
    with (out / "truth" / "deliveries.csv").open() as fh:
        calls = list(csv.DictReader(fh))
    raw = pd.read_csv(out / "ais" / "ais.csv")
    raw["time"] = pd.to_datetime(raw["BaseDateTime"], utc=True)
    assert raw["Draft"].notna().any()
    checked, deeper = 0, []
    for c in calls:
        if not c["mmsi"]:
            continue
        laden = float(c["laden_draught_m"])
        mine = raw[raw["MMSI"] == int(c["mmsi"])].sort_values("time")
        dep = pd.Timestamp(c["departed_utc"])
        before = mine[mine["time"] < pd.Timestamp(c["arrived_utc"])]["Draft"]
        after = mine[(mine["time"] > dep + pd.Timedelta(hours=3.1))]["Draft"]
        if c["draught_updated"] == "true" and len(after):
            assert after.iloc[0] == pytest.approx(laden, abs=0.05)
            if len(before):
                deeper.append(after.iloc[0] - before.iloc[-1])
            # the draught read back into cargo brackets the truth over the hulls' ranges
            row = f.static[f.static["mmsi"] == int(c["mmsi"])].iloc[0]
            dwt = float(c["dwt"])
            L, B = row.length_m, row.width_m  # AIS's whole metres
            lo = cargo_t(L, B, laden - 0.05, dwt, CB_RANGE[0], CD_RANGE[0], CONSUMABLES_SHARE[1])
            hi = cargo_t(L, B, laden + 0.05, dwt, CB_RANGE[1], CD_RANGE[1], CONSUMABLES_SHARE[0])
            assert lo <= float(c["loaded_t"]) * 1.06 and float(c["loaded_t"]) * 0.94 <= hi
            checked += 1
        elif c["draught_updated"] == "false" and len(after) and len(before):
            assert after.iloc[0] == before.iloc[-1]  # the old value kept
    assert checked >= 2
    # deeper laden than on arrival (the same where the crew left a laden draught standing after
    # the last discharge)
    assert deeper and min(deeper) >= 0 and max(deeper) > 1.0
