"""Where the chain loses a tanker at the load berth: a loss funnel per sensor (issue #13).

    python benchmarks/berth_funnel.py WORK [WORK...] [--params YAML] [--low 0.05]
        [--csv OUT] [--no-redetect]

WORK: finished runs of ``benchmarks/estimate_calibration.py --chain`` with their scenes kept
(``scenario.yaml``, ``run/ledger.db``, ``run/simulation`` with labels, ``run/cache`` with the
ingested scenes). Use TUNING runs only.

Every clear image of the load berth (as port calls take it) taken while a true load call lay
there is one row; the true hull is the labelled footprint of that call in the rendered scene.
The steps, each counting the rows that pass it and every step before it:

  hull under the image   the call's hull is labelled in the scene, at most half under cloud
  raw, any score         the scene's detector re-run on the cached scene at ``--low`` (no land
                         mask): a peak centred within 30 m of the true footprint
  raw, above threshold   that peak's score reaches the bundle's threshold
  in the ledger          a stored detection of the run lies there (the land mask and the
                         detector's size floor act between the two)
  not persistent         ... and is not set apart as a fixed object
  at the berth, alongside  ... port calls place it at the load berth and it passes the
                         alongside test (heading and distance from the berth polygon)
  tanker length          ... its debiased length lies in the tanker range
  sighting of the call   the image holds a sighting in a load visit that the benchmark assigns
                         to this call (estimate_calibration.chain_recall: what the chain scores)

Printed as a markdown table per sensor, with the pooled share and the per-season spread of the
last step. ``--csv`` keeps the rows (one per image and call, with the failing step's details).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

STEPS = (
    "hull_in_image",
    "raw_any",
    "raw_threshold",
    "in_ledger",
    "not_persistent",
    "alongside",
    "tanker_length",
    "sighting",
)
NEAR_M = 30.0  # a peak centred this close to the true footprint shows the hull (evaluate's match)


def _label_of(folder: Path, visit_id: str):
    """(footprint in EPSG:4326, occluded share) of the labelled hull of one truth visit."""
    from shapely.geometry import shape

    f = folder / "labels.geojson"
    if not f.exists():
        return None
    for feat in json.loads(f.read_text())["features"]:
        if feat["properties"].get("visit_id") == visit_id:
            return shape(feat["geometry"]), float(feat["properties"].get("occluded") or 0.0)
    return None


def _truth_visit_ids(sim: Path) -> dict[tuple[str, str], str]:
    """(vessel, arrived_utc) -> visit_id of the simulator's truth."""
    with (sim / "truth" / "visits.csv").open(newline="") as fh:
        return {(r["vessel"], r["arrived_utc"]): r["visit_id"] for r in csv.DictReader(fh)}


class LowDetectors:
    """The released detectors with their score threshold lowered (every peak above ``low``)."""

    def __init__(self, low: float):
        self.low = low
        self._by_model: dict[str, object] = {}
        self.threshold: dict[str, float] = {}

    def get(self, model_id: str):
        from pipeline.detect.bundle import load_detector

        if model_id not in self._by_model:
            det = load_detector(model_id.split("@")[0])
            self.threshold[model_id] = det.spec.thresholds.score
            th = det.spec.thresholds.model_copy(update={"score": self.low})
            det.spec = det.spec.model_copy(update={"thresholds": th})
            self._by_model[model_id] = det
        return self._by_model[model_id]


def funnel_rows(work: Path, params, low: LowDetectors | None) -> list[dict]:
    from estimate_accuracy import _truth_from_sim  # noqa: PLC0415
    from estimate_calibration import chain_recall  # noqa: PLC0415
    from shapely.geometry import Point

    from pipeline.config import load_port
    from pipeline.detect.infer import detect_scene
    from pipeline.geo import apply, transformer
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls import build_visits
    from pipeline.portcalls.berths import BerthIndex
    from pipeline.portcalls.persistent import find_persistent
    from pipeline.run.steps import ledger_inputs
    from pipeline.simulate.scenario import load_scenario

    sc = load_scenario(work / "scenario.yaml")
    sim = work / "run" / "simulation"
    stays, _, _ = _truth_from_sim(sim)
    vids = _truth_visit_ids(sim)
    ports = [load_port(n) for n in sorted({sc.load_port, *(d.port for d in sc.discharge)})]
    with open_for_reading(f"sqlite:///{work / 'run' / 'ledger.db'}") as ledger:
        inputs = ledger_inputs(ledger, ports, sc.start, sc.end)
        scenes, obs, dets = ledger.scenes(), ledger.observations(), ledger.detections()
    port = next(x for x in ports if x.name == sc.load_port)
    utm = port.utm_crs()
    to_m = transformer("EPSG:4326", utm)
    index = BerthIndex(ports, params.portcalls.berth_margin_m)
    pp = params.portcalls
    persistent = find_persistent(inputs.detections, inputs.scenes, pp)
    visits = build_visits(
        inputs.detections, inputs.scenes, inputs.observations, ports, params, persistent
    )
    owner, _ = chain_recall(sc, stays, obs, dets, visits)
    hit_pairs = {(d.scene_id, owner[d.id]) for d in dets if d.id in owner}
    by_scene = {s.id: s for s in scenes}
    dets_of: dict[str, list] = defaultdict(list)
    for d in dets:
        dets_of[d.scene_id].append(d)
    calls = {
        i: x
        for i, x in enumerate(stays)
        if x.role == "load" and x.port == sc.load_port and x.berth == sc.load_berth
    }
    rows = []
    for o in obs:
        if o.port != sc.load_port or o.berth != sc.load_berth or o.state != "clear":
            continue
        for i, c in calls.items():
            if not c.arrive <= o.acquired < c.depart:
                continue
            scene = by_scene[o.scene_id]
            row = {
                "season": sc.name,
                "scene": o.scene_id,
                "sensor": o.sensor,
                "call": i,
                "true_length_m": c.length_m,
            }
            rows.append(row)
            arrived = c.arrive.strftime("%Y-%m-%dT%H:%M:%SZ")
            vid = vids.get((c.vessel, arrived), "")
            lab = _label_of(sim / "scenes" / o.scene_id, vid)
            row["occluded"] = None if lab is None else round(lab[1], 2)
            row["sighting"] = (o.scene_id, i) in hit_pairs
            if lab is None or lab[1] > 0.5:
                row["why"] = "no label" if lab is None else f"hull {lab[1]:.0%} under cloud"
                continue
            row["hull_in_image"] = True
            hull = apply(to_m, lab[0])

            def near(d, hull=hull):
                return hull.distance(Point(*to_m.transform(d.lon, d.lat))) <= NEAR_M

            model = next((d.model for d in dets if by_scene[d.scene_id].sensor == o.sensor), None)
            if low is not None and model is not None:
                raw = detect_scene(scene.path, low.get(model), scene_id=o.scene_id)
                close = [d for d in raw if near(d)]
                row["raw_score"] = round(max((d.score for d in close), default=0.0), 3)
                row["raw_any"] = bool(close)
                row["raw_threshold"] = row["raw_score"] >= low.threshold[model]
            led = [d for d in dets_of[o.scene_id] if near(d)]
            row["in_ledger"] = bool(led)
            if not led:
                row["why"] = (
                    "no raw peak"
                    if not row.get("raw_any", True)
                    else (
                        f"raw peak score {row.get('raw_score')}"
                        if not row.get("raw_threshold", True)
                        else "above threshold, not stored (land mask / size floor)"
                    )
                )
                continue
            keep = [d for d in led if d.id not in persistent]
            row["not_persistent"] = bool(keep)
            if not keep:
                row["why"] = "persistent: " + persistent[led[0].id][:60]
                continue
            along, why = [], []
            for d in keep:
                h = index.locate(d, scene.port)
                if h is None or h.berth != sc.load_berth:
                    why.append(f"located at {None if h is None else h.berth}")
                elif h.off_axis_deg > pp.alongside_deg or h.off_berth_m > pp.alongside_m:
                    why.append(f"off axis {h.off_axis_deg:.0f} deg, {h.off_berth_m:.0f} m off")
                else:
                    along.append(d)
            row["alongside"] = bool(along)
            if not along:
                row["why"] = "; ".join(why)
                continue
            err = pp.size_error_for(o.sensor)
            lengths = [err.debiased(o.gsd_m or scene.gsd_m, d.length_m, d.beam_m)[0] for d in along]
            row["debiased_length_m"] = round(max(lengths), 1)
            row["raw_length_m"] = max(d.length_m for d in along)
            row["tanker_length"] = any(pp.min_length_m <= x <= pp.max_length_m for x in lengths)
            if not row["tanker_length"]:
                row["why"] = f"length {row['debiased_length_m']} m (true {c.length_m})"
                continue
            if not row["sighting"]:
                row["why"] = "sighting not in a load visit of this call"
    return rows


def table(rows: list[dict], redetect: bool) -> str:
    steps = [s for s in STEPS if redetect or not s.startswith("raw")]
    out = [
        "| sensor | clear images in calls | "
        + " | ".join(s.replace("_", " ") for s in steps)
        + " | sightings outside the funnel | seasons: share with a sighting (median, range) |",
        "| --- " * (len(steps) + 4) + "|",
    ]
    by = defaultdict(list)
    for r in rows:
        by[r["sensor"]].append(r)
    for sensor, rs in sorted(by.items()):
        cells = []
        for k in range(len(steps)):
            n = sum(all(r.get(t) for t in steps[: k + 1]) for r in rs)
            cells.append(f"{n} ({n / len(rs):.2f})")
        # a sighting the chain scores although a step above failed here (another hull's
        # detection taken for this call, or a peak further than NEAR_M from the footprint)
        stray = sum(bool(r.get("sighting")) for r in rs) - sum(
            all(r.get(t) for t in steps) for r in rs
        )
        per = defaultdict(list)
        for r in rs:
            per[r["season"]].append(bool(r.get("sighting")))
        shares = sorted(sum(v) / len(v) for v in per.values())
        mid = shares[len(shares) // 2] if shares else float("nan")
        spread = f"{mid:.2f} ({shares[0]:.2f}-{shares[-1]:.2f}), {len(shares)} seasons"
        out.append(f"| {sensor} | {len(rs)} | " + " | ".join(cells) + f" | {stray} | {spread} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, nargs="+")
    ap.add_argument("--params", type=Path, default=None)
    ap.add_argument("--low", type=float, default=0.05, help="score threshold of the re-detection")
    ap.add_argument("--no-redetect", action="store_true", help="skip the raw steps")
    ap.add_argument("--csv", type=Path, default=None)
    a = ap.parse_args(argv)
    from pipeline.estimate.params import load_params

    if not 0 < a.low < 1:
        print("berth_funnel: --low must lie in (0, 1)", file=sys.stderr)
        return 2
    params = load_params(a.params)
    low = None if a.no_redetect else LowDetectors(a.low)
    rows = []
    for work in a.work:
        if not (work / "run" / "ledger.db").exists():
            print(f"{work}: no finished chain run, skipped", file=sys.stderr)
            continue
        rows += funnel_rows(work, params, low)
    if not rows:
        print("berth_funnel: no clear image of the load berth during a call", file=sys.stderr)
        return 2
    print(table(rows, not a.no_redetect))
    if a.csv:
        keys = sorted({k for r in rows for k in r})
        with a.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
