"""Voyages linked with and without AIS tracks, measured on simulated scenarios.

    .venv/bin/python benchmarks/ais_voyages.py [--scenario YAML] [--seeds 2024 7 11]
        [--recall 0.9] [--clear 0.6]

The same simulated inputs as benchmarks/ais_identification.py (no imagery, no detector: hulls
in the planned clear images detected with the given recall, sizes perturbed with the configured
detector error), but at every port of the scenario: the load port and the discharge ports
(Sentinel-2 every 2-5 days there, so many discharge calls are never imaged). Then build_visits,
match_ais, visits_by_ais, add_alibis and link_voyages twice: by size and time only, and with the
AIS verdicts and the fleet's AIS positions (tracks between ports). Scored per true delivery whose
load call was seen:

- right: linked to the discharge visit built from the true discharge call's sightings, or (AIS
  only) to a discharge call at the true port and berth overlapping the true stay in time;
- wrong: linked to anything else; unlinked: no voyage;
- split by whether any image saw the true discharge call (``dis_seen``) and by the load call's
  AIS verdict (named by its transponder, or not);
- ``port_right``: the linked discharge port is the true one (what deliveries.csv reports).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from benchmarks.ais_identification import simulated_inputs  # noqa: E402
from benchmarks.pipeline_common import markdown  # noqa: E402


def run(scenario_path: str | None, seed: int, recall: float, clear: float) -> pd.DataFrame:
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.portcalls.ais import add_alibis, match_ais, visits_by_ais
    from pipeline.records import utc

    x = simulated_inputs(scenario_path, seed, recall, clear, all_ports=True)
    ports = x.imaged
    visits = build_visits(x.dets, x.scenes, x.obs, ports, x.params)
    result = match_ais(x.dets, x.scenes, x.obs, ports, x.ais.positions, x.ais.static)
    ids = visits_by_ais(visits, result, x.ais.static)
    add_alibis(ids, visits, result, x.dets, x.scenes, ports, x.ais.positions, x.ais.static)
    variants = {
        "size": link_voyages(visits, x.params),
        "ais": link_voyages(visits, x.params, ais=ids, positions=x.ais.positions, ports=ports),
    }
    tv = {v.id: v for v in x.schedule.visits}

    def owner_of(v) -> str | None:
        owners = [x.owner[e] for e in v.evidence if e in x.owner]
        return max(sorted(set(owners)), key=owners.count) if owners else None

    seen_of = {}  # true visit id -> built visit id
    for v in visits:
        o = owner_of(v)
        if o is not None:
            seen_of.setdefault(o, v.id)
    by_id = {v.id: v for v in visits}
    rows = []
    for d in x.schedule.deliveries:
        load = seen_of.get(d.load_visit)
        if load is None:
            continue
        ia = ids.get(load)
        row = {
            "seed": seed,
            "vessel": d.vessel,
            "discharge_port": d.discharge_port,
            "dis_seen": d.discharge_visit in seen_of,
            "load_named": bool(ia and ia.mmsi is not None and ia.probability >= 0.5),
            "ais_mode": x.truth.mode.get(d.load_visit),
        }
        for name, voyages in variants.items():
            link = next((v for v in voyages if v.load_visit == load), None)
            verdict, port_right = "unlinked", False
            if link is not None:
                port_right = link.discharge_port == d.discharge_port
                if link.discharge is not None:  # seen by AIS only
                    c = link.discharge
                    ok = (
                        c.port == d.discharge_port
                        and c.berth == d.discharge_berth
                        and utc(c.first_seen) <= utc(d.discharge_departed)
                        and utc(c.last_seen) >= utc(d.discharge_arrived)
                    )
                else:
                    ok = owner_of(by_id[link.discharge_visit]) == d.discharge_visit
                verdict = "right" if ok else "wrong"
            row[f"{name}_verdict"] = verdict
            row[f"{name}_port_right"] = port_right
            row[f"{name}_source"] = link.source if link is not None else None
        rows.append(row)
    del tv
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for seed, g in df.groupby("seed", sort=False):
        r = {"seed": seed, "loads_seen": len(g), "dis_seen": int(g.dis_seen.sum())}
        for name in ("size", "ais"):
            v = g[f"{name}_verdict"]
            r[f"{name}_right"] = int((v == "right").sum())
            r[f"{name}_wrong"] = int((v == "wrong").sum())
            r[f"{name}_unlinked"] = int((v == "unlinked").sum())
            r[f"{name}_port_right"] = int(g[f"{name}_port_right"].sum())
        r["ais_by_track"] = int((g.ais_source == "ais-track").sum())
        r["ais_by_name"] = int((g.ais_source == "ais-name").sum())
        out.append(r)
    return pd.DataFrame(out)


def factors(df: pd.DataFrame) -> pd.DataFrame:
    """Right / wrong / unlinked by the load call's AIS verdict and whether an image saw the
    discharge, without and with AIS, over every seed."""
    rows = []
    for (named, seen), g in df.groupby(["load_named", "dis_seen"]):
        r = {"load_named_by_ais": named, "discharge_imaged": seen, "calls": len(g)}
        for name in ("size", "ais"):
            v = g[f"{name}_verdict"]
            for k in ("right", "wrong", "unlinked"):
                r[f"{name}_{k}"] = int((v == k).sum())
        rows.append(r)
    return pd.DataFrame(rows)


def _md(tab: pd.DataFrame) -> str:
    return markdown(tab.to_dict("records"), [str(c) for c in tab.columns])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=None, help="scenario YAML (default: the default one)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[2024, 7, 11])
    ap.add_argument("--recall", type=float, default=0.9)
    ap.add_argument("--clear", type=float, default=0.6)
    ap.add_argument("--rows", default=None, help="write every scored delivery to this CSV")
    args = ap.parse_args(argv)
    every = []
    for seed in args.seeds:
        every.append(run(args.scenario, seed, args.recall, args.clear))
        print(
            _md(summary(every[-1])).splitlines()[-1] if len(every) > 1 else _md(summary(every[-1]))
        )
        sys.stdout.flush()
    df = pd.concat(every, ignore_index=True)
    if args.rows:
        df.to_csv(args.rows, index=False)
    print("\nall seeds, by the load call's AIS verdict and whether an image saw the discharge:\n")
    print(_md(factors(df)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
