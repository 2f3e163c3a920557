"""AIS identification and the dark flag, measured on a simulated scenario's schedule.

    .venv/bin/python benchmarks/ais_identification.py [--scenario YAML] [--seeds 2024 7 11]
        [--recall 0.9] [--clear 0.6]

No imagery and no detector: the scenario's schedule, its simulated AIS (pipeline.simulate.ais,
as `tankerwatch simulate` writes it) and its planned acquisitions at the load port are used
directly. In a clear image (share ``--clear``) every hull at a berth is detected with the given
recall at the position the renderer draws it (plus half a pixel of noise), its length and beam
perturbed with the configured detector error model. Then the pipeline's own stages run: port
calls (build_visits), AIS matching (match_ais, visits_by_ais), the size-based estimate
(run_estimate with the AIS verdicts: named and sized by AIS, apply_ais). Scored per load call seen:

- named: among calls whose transponder told the truth (truth ``ais`` true), the share whose
  delivery names the right vessel;
- dark flag: precision and recall of ``dark`` against truth ``ais`` false (off, spoofed, or no
  transponder);
- wrong > 0.5: calls named wrongly with probability above 0.5 (AIS and size-based alike);
- barrels of the calls named by AIS: the median relative error of the 90 % loading scenario
  (the default scenario loads about 90 %) against the truth's loaded barrels, as estimated
  (``ais_named_bbl90_err_pct``) and from the size-based identification's capacity alone
  (``size_bbl90_err_pct``, what such a call got before AIS named its capacity);
- with ``--reliability``: the size-based posterior's best candidate on every call seen, binned
  by its probability, against the share that is the true vessel (calibrated: equal).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.3, 1.0)  # alibi prior factors scored (1.0: alibis not used)
SILENCE = (1.0, 3.0, 10.0, 30.0)  # silence factor caps scored (1.0: silence not used)


def simulated_inputs(
    scenario_path: str | None, seed: int, recall: float, clear: float, all_ports: bool = False
) -> SimpleNamespace:
    """The scenario's schedule, AIS and registry, and detections in its planned clear images
    (module doc): at the load port, or with ``all_ports`` at every port of the scenario."""
    from shapely.geometry import box

    from pipeline.config import load_port, load_registry
    from pipeline.estimate.params import load_params
    from pipeline.ingest.ais import read_ais
    from pipeline.portcalls.berths import BerthIndex
    from pipeline.portcalls.synthetic import footprint_wkt
    from pipeline.records import Detection, Observation, Scene
    from pipeline.simulate.ais import ais_csv, simulate_ais
    from pipeline.simulate.fleet import complete_fleet
    from pipeline.simulate.layout import port_layout
    from pipeline.simulate.run import plan_scenes
    from pipeline.simulate.scenario import Ais, load_scenario, registry_path
    from pipeline.simulate.schedule import build_schedule

    sc = load_scenario(scenario_path)
    spec = sc.ais or Ais()
    f = sc.fleet
    fleet = complete_fleet(
        load_registry(registry_path(sc)), f.vessels, f.dwt_t.min, f.dwt_t.max, f.dwt_median_t, seed
    )
    registry = [v.as_registry() for v in fleet]
    schedule = build_schedule(sc, fleet, seed)
    port = load_port(sc.load_port)
    ports = {p: load_port(p) for p in sc.ports}
    layouts = {p: port_layout(ports[p]) for p in sc.ports}
    truth = simulate_ais(spec, schedule, layouts, seed)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"ais_ident_{seed}_{os.getpid()}.csv"
    tmp.write_text(ais_csv(truth))
    ais_file = read_ais(tmp)
    tmp.unlink()

    params = load_params()
    err = params.portcalls.size_error
    rng = np.random.default_rng(seed)
    imaged = sorted(sc.ports) if all_ports else [sc.load_port]
    index = BerthIndex([ports[p] for p in imaged], 0.0)
    planned = [p for p in plan_scenes(sc, layouts, seed) if p.port in imaged]
    scenes, obs, dets, owner = [], [], [], {}
    for ps in planned:
        port_ = ports[ps.port]
        lay = layouts[ps.port]
        is_clear = rng.random() < clear
        s = Scene(ps.id, "simulated", ps.sensor.name, ps.acquired, ps.port, "", lay.crs,
                  ps.sensor.gsd_m, [], 1.0, 0.0 if is_clear else 0.9)  # fmt: skip
        scenes.append(s)
        g = ps.grid
        view = box(g.x0, g.y0 - g.height * g.gsd_m, g.x0 + g.width * g.gsd_m, g.y0)
        inside = {b.id for b in port_.berths if view.contains(lay.berth(b.id).polygon.centroid)}
        for b in port_.berths:
            if b.id not in inside:  # outside this image: no observation (as ingest does)
                continue
            obs.append(Observation(s.id, ps.port, b.id, ps.acquired,
                                   "clear" if is_clear else "obscured", 1.0 if is_clear else 0.0,
                                   ps.sensor.name, ps.sensor.gsd_m))  # fmt: skip
        if not is_clear:
            continue
        for v in schedule.visits:
            if v.port != ps.port or not v.present(ps.acquired) or v.berth not in inside:
                continue
            if rng.random() > recall:
                continue
            gsd = ps.sensor.gsd_m
            ml, mb = err.bias(gsd)
            L = max(v.length_m + ml + rng.normal(0, err.length_sigma(gsd, v.length_m)), 5.0)
            B = max(v.beam_m + mb + rng.normal(0, err.beam_sigma(gsd, v.beam_m)), 2.0)
            x, y, axis = lay.berth(v.berth).slot(v.length_m, v.beam_m, v.along)
            x, y = x + rng.normal(0, gsd / 2), y + rng.normal(0, gsd / 2)
            rad = math.radians(axis)
            wkt, lon, lat = footprint_wkt(
                index, ps.port, x, y, L, B, (math.sin(rad), math.cos(rad))
            )
            d = Detection(s.id, wkt, lon, lat, round(L, 1), round(B, 1), axis % 180, 0.9,
                          "vessel", "truth-perturbed")  # fmt: skip
            dets.append(d)
            owner[d.id] = v.id
    return SimpleNamespace(
        sc=sc, registry=registry, schedule=schedule, port=port, ports=ports, truth=truth,
        ais=ais_file, params=params, err=err, scenes=scenes, obs=obs, dets=dets, owner=owner,
        imaged=[ports[p] for p in imaged],
    )  # fmt: skip


def run(
    scenario_path: str | None,
    seed: int,
    recall: float,
    clear: float,
    alibis: bool = True,
    silence_in_span: bool = True,
) -> dict:
    from pipeline.config import load_port
    from pipeline.estimate import run_estimate
    from pipeline.estimate.ais import alibi_factors
    from pipeline.portcalls import build_visits, link_voyages
    from pipeline.portcalls.ais import AisMatchParams, add_alibis, match_ais, visits_by_ais

    x = simulated_inputs(scenario_path, seed, recall, clear)
    sc, registry, schedule, port, truth = x.sc, x.registry, x.schedule, x.port, x.truth
    ais_file, params, err = x.ais, x.params, x.err
    scenes, obs, dets, owner = x.scenes, x.obs, x.dets, x.owner
    visits = build_visits(dets, scenes, obs, [port], params)
    voyages = link_voyages(visits, params)
    result = match_ais(dets, scenes, obs, [port], ais_file.positions, ais_file.static)
    identities = visits_by_ais(visits, result, ais_file.static)
    if alibis:  # every transponder of the scenario, wherever it reported (all its ports)
        all_ports = [load_port(p) for p in sc.ports]
        add_alibis(identities, visits, result, dets, scenes, all_ports, ais_file.positions,
                   ais_file.static, AisMatchParams(silence_in_span=silence_in_span))  # fmt: skip
    est = run_estimate(
        visits, voyages, obs, registry, params, seed=seed, ports=[port], ais=identities
    )
    deliveries = est.deliveries

    from pipeline.estimate.registry import dwt_relation, identify
    from pipeline.estimate.volume import point_capacity_bbl, product_class_of

    tvisits = {v.id: v for v in schedule.visits}
    loaded = {t.load_visit: t.loaded_bbl for t in schedule.deliveries}
    relation = dwt_relation(registry, params.capacity)
    sc90 = params.volume.scenarios["90"]
    pclass = product_class_of(port.berth(sc.load_berth).product, params.volume)
    by_visit = {v.id: v for v in visits}
    rows = []
    for d in deliveries:
        v = by_visit[d.load_visit]
        owners = [owner[e] for e in v.evidence if e in owner]
        if not owners:
            continue
        tv = tvisits[max(sorted(set(owners)), key=owners.count)]  # ties: the first id
        if tv.role != "load":
            continue  # a bystander taken for a call (counted by the port-call benchmarks)
        variants = {}
        for w in WEIGHTS:
            for q in SILENCE:
                f = alibi_factors(identities.get(v.id), registry, w, q)
                ident = identify(v, registry, params.identification, err, f)
                top = ident.candidates[0] if ident.candidates else None
                variants[f"top_w{w:g}_s{q:g}"] = top.name if top else None
                variants[f"p_w{w:g}_s{q:g}"] = round(top.probability, 4) if top else 0.0
        ia = identities.get(v.id)
        rows.append(
            {
                **variants,
                "alibis": len(ia.alibis) if ia else 0,
                "alibis_confirmed": sum(a.confirmed for a in ia.alibis) if ia else 0,
                "alibis_suspect": sum(a.suspect for a in ia.alibis) if ia else 0,
                "truth_vessel": tv.vessel,
                "honest": bool(truth.honest.get(tv.id)),
                "mode": truth.mode.get(tv.id),
                "vessel": d.vessel,
                "p": d.id_probability,
                "dark": bool(d.dark),
                "ais_mmsi": d.ais_mmsi,
                # the size-based identification's best candidate (kept for AIS-named calls)
                "size_top": d.candidates[0]["name"] if d.candidates else None,
                "size_p": d.candidates[0]["probability"] if d.candidates else 0.0,
                "seed": seed,
                # barrels at 90 % loading (the scenario's truth loads ~0.9) against the truth:
                # as estimated, and from the size-based identification alone (before AIS sized)
                "truth_bbl": loaded.get(tv.id, float("nan")),
                "bbl_90": d.barrels_90,
                "bbl_90_by_size": sc90
                * point_capacity_bbl(
                    identify(v, registry, params.identification, err),
                    v.length_m,
                    relation,
                    pclass,
                    params.volume,
                )[0],
            }
        )
    df = pd.DataFrame(rows)
    honest = df[df.honest]
    named = float((honest.vessel == honest.truth_vessel).mean()) if len(honest) else float("nan")
    tp = int((df.dark & ~df.honest).sum())
    fp = int((df.dark & df.honest).sum())
    fn = int((~df.dark & ~df.honest).sum())
    wrong = df[(df.vessel != df.truth_vessel) & (df.vessel != "unidentified") & (df.p > 0.5)]
    size_only = df[~df.honest]
    ais_named = df[df.ais_mmsi.notna()]

    def err_pct(col: str) -> float:
        e = (ais_named[col] - ais_named.truth_bbl).abs() / ais_named.truth_bbl
        return 100 * float(e.median()) if len(e) else float("nan")

    return {
        "seed": seed,
        "calls_seen": len(df),
        "transmitting": len(honest),
        "named_pct": 100 * named,
        "dark_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "dark_recall": tp / (tp + fn) if tp + fn else float("nan"),
        "wrong_gt_0.5": len(wrong),
        "dark_named_by_size_pct": 100 * float((size_only.vessel == size_only.truth_vessel).mean())
        if len(size_only)
        else float("nan"),
        "spoofing_events": len(result.spoofing),
        "ais_named_bbl90_err_pct": err_pct("bbl_90"),
        "size_bbl90_err_pct": err_pct("bbl_90_by_size"),
        "_wrong": wrong,
        "_rows": df,
    }


BINS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def reliability(rows: pd.DataFrame) -> pd.DataFrame:
    """Size-based Bayes on every call seen (dark or not): the best candidate's posterior, binned,
    against the share of calls whose best candidate is the true vessel. Calibrated: equal."""
    right = rows.size_top == rows.truth_vessel
    b = pd.cut(rows.size_p, BINS, right=False)
    out = pd.DataFrame({"p": rows.size_p, "right": right, "bin": b}).groupby("bin", observed=True)
    tab = out.agg(calls=("p", "size"), mean_p=("p", "mean"), share_right=("right", "mean"))
    return tab.reset_index()


THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


def policy(rows: pd.DataFrame, thresholds=THRESHOLDS) -> pd.DataFrame:
    """The calls not named by AIS (dark and weak matches), named by size under each alibi
    weight, silence cap and naming threshold: how many are named, right, wrong, and wrong with
    p > 0.5 (AIS-named calls are scored in the main table)."""
    size = rows[rows.ais_mmsi.isna()]
    out = []
    for w in WEIGHTS:
        for q in SILENCE:
            top, p = size[f"top_w{w:g}_s{q:g}"], size[f"p_w{w:g}_s{q:g}"]
            for thr in thresholds:
                named = p >= thr
                right = named & (top == size.truth_vessel)
                wrong = named & (top != size.truth_vessel)
                out.append(
                    {
                        "alibi_weight": w,
                        "silence_max": q,
                        "threshold": thr,
                        "calls": len(size),
                        "named": int(named.sum()),
                        "right": int(right.sum()),
                        "wrong": int(wrong.sum()),
                        "wrong_gt_0.5": int((wrong & (p > 0.5)).sum()),
                        "top_right": int((top == size.truth_vessel).sum()),
                        "seeds_with_wrong_gt_0.5": int(size[wrong & (p > 0.5)].seed.nunique()),
                    }
                )
    return pd.DataFrame(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=None, help="scenario YAML (default: the default one)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[2024, 7, 11])
    ap.add_argument("--recall", type=float, default=0.9)
    ap.add_argument("--clear", type=float, default=0.6)
    ap.add_argument(
        "--reliability", action="store_true", help="also the size-based posterior's reliability"
    )
    ap.add_argument("--rows", default=None, help="write every scored call to this CSV")
    ap.add_argument(
        "--no-alibis", action="store_true", help="no AIS alibis in the size-based identification"
    )
    ap.add_argument(
        "--silence-anywhere",
        action="store_true",
        help="count a transponder silent also before its first / after its last report",
    )
    ap.add_argument(
        "--policy",
        action="store_true",
        help="also the naming policy table (alibi weight x threshold)",
    )
    ap.add_argument("--policy-out", default=None, help="write the whole policy table to this CSV")
    args = ap.parse_args(argv)
    every = []
    cols = ["seed", "calls_seen", "transmitting", "named_pct", "dark_precision", "dark_recall",
            "wrong_gt_0.5", "dark_named_by_size_pct", "spoofing_events",
            "ais_named_bbl90_err_pct", "size_bbl90_err_pct"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("| --- " * len(cols) + "|")
    for seed in args.seeds:
        r = run(
            args.scenario,
            seed,
            args.recall,
            args.clear,
            alibis=not args.no_alibis,
            silence_in_span=not args.silence_anywhere,
        )
        cells = [f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        print("| " + " | ".join(cells) + " |")
        if len(r["_wrong"]):
            print(r["_wrong"].to_string(), file=sys.stderr)
        every.append(r["_rows"])
    rows = pd.concat(every, ignore_index=True)
    if args.rows:
        rows.to_csv(args.rows, index=False)
    if args.policy:
        tab = policy(rows)
        if args.policy_out:
            tab.to_csv(args.policy_out, index=False)
        # per variant: threshold 0.5, and the lowest threshold without a wrong name above 0.5
        zero = tab[tab["wrong_gt_0.5"] == 0].groupby(["alibi_weight", "silence_max"]).head(1)
        tab = pd.concat([tab[tab.threshold == 0.5], zero]).drop_duplicates()
        tab = tab.sort_values(["alibi_weight", "silence_max", "threshold"])
        print(
            "\nsize-based naming of the calls AIS did not name, per alibi weight and threshold:\n"
        )
        print("| " + " | ".join(tab.columns) + " |")
        print("| --- " * len(tab.columns) + "|")
        for t in tab.itertuples(index=False):
            print("| " + " | ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in t) + " |")
    if args.reliability:
        tab = reliability(rows)
        print(f"\nsize-based best candidate on all {len(rows)} calls seen (reliability):\n")
        print("| posterior | calls | mean_p | share_right |")
        print("| --- | --- | --- | --- |")
        for t in tab.itertuples():
            lo, hi = t.bin.left, min(t.bin.right, 1.0)
            print(f"| {lo:.1f}-{hi:.1f} | {t.calls} | {t.mean_p:.3f} | {t.share_right:.3f} |")
        named = rows[rows.size_p >= 0.5]
        right = int((named.size_top == named.truth_vessel).sum())
        print(f"\nnamed (p >= 0.5): {len(named)}, right {right}, expected {named.size_p.sum():.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
