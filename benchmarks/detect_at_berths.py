"""The detector where the estimate needs it: tankers at load and discharge berths, per sensor.

    .venv/bin/python benchmarks/detect_at_berths.py --sim DIR [DIR...] [--model M]
        [--models S=M,...] [--sensors S,...] [--every K] [--json OUT] [--write-bundle]
    # as the whole chain sees the berth: finished runs of estimate_calibration.py --chain
    .venv/bin/python benchmarks/detect_at_berths.py --chain WORK [WORK...] [--json OUT]
        [--write-bundle]

On a simulated scenario (``tankerwatch simulate --out DIR [--seed N]``), every scene holding a
tanker at a load or discharge berth (label role ``load`` / ``discharge``, at most half under
cloud) is detected with its sensor's model, and the labels are matched as in ``evaluate``
(centre within 30 m of the footprint, one-to-one). Printed per sensor and model: recall of those
berthed tankers, and the length / beam error of the matched ones (mean absolute, root mean
square, bias = mean, sd = spread around the bias), pooled over the simulations given, and the
spread of the length errors of one call (a hull's stay at the berth) about their own mean,
pooled over the calls measured more than once: the systematic share ``1 - (within / sd)^2`` is
the part of a hull's error that repeats from image to image of a stay, which averaging its
sightings cannot remove. These
are the numbers behind ``portcalls.detector_recall`` (per sensor) and
``portcalls.size_error`` in configs/estimate: measure them on a simulation with another seed than
the one you score the estimate on.

``--chain``: the same numbers measured as the whole chain sees the berth, from finished runs of
``benchmarks/estimate_calibration.py --chain`` (each WORK folder holds ``scenario.yaml``,
``run/ledger.db`` and ``run/simulation/truth``; the rendered scenes are not needed). For every
image of a load or discharge berth that port calls take as clear, taken while a true call lay
there, the call is found when the run's detections hold a sighting of it there as port calls
make them (``pipeline.portcalls.visits``: persistent objects set apart, only hulls moored
alongside, the detector's bias removed, a length in the tanker range); sightings are matched to
the calls at the berth one to one by length. This is the recall per clear image that port calls
and the estimate's coverage model assume, on the seasons of the scenario family (the chain cuts
and boxes them) rather than on the default scenario's full scenes. Use the family's TUNING
seeds only (never the scoring seeds or the scored default scenario). Each scenario's share is
written with the images behind it (``tankers_by_simulation``): the recall prior's spread is
then the spread between seasons beyond their binomial noise (``RecallPrior.from_calibration``),
so a season of one or two images does not set a bound.

``--write-bundle`` writes the numbers into each measured bundle as ``berths.json`` (format
``tankerwatch-berth-calibration/1``, docs/ARCHITECTURE.md): the run reads it and the estimate
takes its recall and size error as the detector's priors, so a retrained bundle needs only this
re-measurement, never a hand-edited configs/estimate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # estimate_accuracy's truth reader (--chain)

from pipeline.simulate.calibration import scene_sensor  # noqa: E402

BERTHED = ("load", "discharge")


def berthed_labels(folder: Path) -> list[dict]:
    from pipeline.detect.evaluate import OCCLUDED_IGNORE
    from pipeline.detect.geometry import read_labels

    raw = json.loads((folder / "labels.geojson").read_text())["features"]
    labels = read_labels(folder / "labels.geojson")
    return [
        lab | {"role": f["properties"].get("role"), "call": f["properties"].get("visit_id")}
        for lab, f in zip(labels, raw, strict=True)
        if f["properties"].get("role") in BERTHED and lab["occluded"] <= OCCLUDED_IGNORE
    ]


from pipeline.detect.berth_calibration import CALIBRATION_FILE, CALIBRATION_FORMAT  # noqa: E402


def measure(
    sim: Path,
    models: dict[str, str | None],
    default: str | None,
    every: int = 1,
    sensors: set[str] | None = None,
    port_land: bool = False,
):
    from shapely.geometry import Point

    from pipeline.detect.bundle import load_detector
    from pipeline.detect.evaluate import _utm_of, match
    from pipeline.detect.geometry import to_crs
    from pipeline.detect.infer import detect_scene

    detectors: dict = {}
    rows: dict[tuple[str, str], list] = defaultdict(list)
    folders = sorted(p for p in (sim / "scenes").iterdir() if (p / "scene.tif").exists())
    for folder in folders[::every]:
        labels = berthed_labels(folder)
        if not labels:
            continue
        sensor = scene_sensor(folder)
        if sensors and sensor not in sensors:
            continue
        key = models.get(sensor, default)
        if key not in detectors:
            detectors[key] = load_detector(key)
        det = detectors[key]
        land = None
        if port_land or getattr(det, "uses_land", False):
            # the SAR CFAR masks the port's land itself; with --land every detector is handed
            # it, as runs do (land_mask: detections centred on land dropped, hull lengths cut)
            from pipeline.detect.land import scene_land_or_none

            land = scene_land_or_none(folder)[0]
        dets = detect_scene(folder / "scene.tif", det, scene_id=folder.name, land=land)
        crs = _utm_of([lab["geometry"] for lab in labels])
        pts = [to_crs(Point(d.lon, d.lat), "EPSG:4326", crs) for d in dets]
        shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
        found = {j: i for i, j, _ in match(pts, shapes)}
        for j, lab in enumerate(labels):
            d = dets[found[j]] if j in found else None
            rows[(sensor, det.model_id)].append(
                {
                    "sim": str(sim),
                    "bundle": key,
                    "gsd_m": _gsd(folder),
                    "found": d is not None,
                    "call": f"{sim}:{lab['call']}" if lab.get("call") else None,
                    "length_m": None if lab.get("length_m") is None else float(lab["length_m"]),
                    "dl": None if d is None else d.length_m - float(lab["length_m"]),
                    "db": None if d is None else d.beam_m - float(lab["beam_m"]),
                }
            )
    return rows


def measure_chain(work: Path, params=None) -> dict[tuple[str, str], list]:
    """Rows as ``measure`` gives them, from one finished ``estimate_calibration.py --chain`` run:
    each clear image of a load/discharge berth taken during a true call, found or not by the
    sightings port calls make of the run's detections (see the module docstring)."""
    from estimate_accuracy import _truth_from_sim  # noqa: PLC0415

    from pipeline.config import load_port
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls.berths import BerthIndex
    from pipeline.portcalls.persistent import find_persistent
    from pipeline.portcalls.visits import _params, _timelines
    from pipeline.simulate.scenario import load_scenario

    p = _params(params)
    sc = load_scenario(work / "scenario.yaml")
    sim = work / "run" / "simulation"
    stays, _, _ = _truth_from_sim(sim)
    ports = [load_port(n) for n in sorted({sc.load_port, *(d.port for d in sc.discharge)})]
    with open_for_reading(f"sqlite:///{work / 'run' / 'ledger.db'}") as ledger:
        scenes, obs, dets = ledger.scenes(), ledger.observations(), ledger.detections()
    names = {o.port for o in obs}
    ports = [x for x in ports if x.name in names]
    persistent = find_persistent(dets, scenes, p)
    dets = [d for d in dets if d.id not in persistent]
    index = BerthIndex(ports, p.berth_margin_m)
    lines = _timelines(dets, scenes, [o for o in obs if o.port in names], index, p)
    model_of: dict[str, str] = {}  # sensor -> the model id that detected its scenes
    sensor_of = {x.id: x.sensor for x in scenes}
    for d in dets:
        model_of.setdefault(sensor_of.get(d.scene_id, ""), d.model)
    rows: dict[tuple[str, str], list] = defaultdict(list)
    for (port, berth), epochs in lines.items():
        if index.role(port, berth) not in BERTHED:
            continue
        here = [x for x in stays if x.port == port and x.berth == berth and x.role in BERTHED]
        for ep in epochs:
            if not ep.clear:
                continue
            calls = [x for x in here if x.arrive <= ep.time < x.depart]
            if not calls:
                continue
            sights = [s for s in ep.sightings if p.min_length_m <= s.length_m <= p.max_length_m]
            # one to one by length: the longest hulls to the longest sightings
            calls.sort(key=lambda x: -x.length_m)
            sights.sort(key=lambda s: -s.length_m)
            model = model_of.get(ep.sensor, "")
            bundle = model.split("@")[0]
            for k, c in enumerate(calls):
                s = sights[k] if k < len(sights) else None
                rows[(ep.sensor, model)].append(
                    {
                        "sim": str(sim),
                        "bundle": bundle,
                        "gsd_m": ep.gsd_m,
                        "found": s is not None,
                        "call": f"{sim}:{c.vessel}:{c.arrive.isoformat()}",
                        "length_m": c.length_m,
                        # the raw detection against the truth (as measure: the bias is measured)
                        "dl": None if s is None else s.det.length_m - c.length_m,
                        "db": None if s is None else s.det.beam_m - c.beam_m,
                    }
                )
    return rows


def _sim_name(sim: Path) -> str:
    """'<scenario> seed <n>' from a simulation's manifest (the folder name without one)."""
    try:
        m = json.loads((sim / "simulation.json").read_text())
        return f"{m['scenario']} seed {m['seed']}"
    except (OSError, ValueError, KeyError):
        return sim.name


def _gsd(folder: Path) -> float | None:
    item = folder / "item.json"
    return float(json.loads(item.read_text())["properties"]["gsd"]) if item.exists() else None


def within_call_sd(hit: list[dict], key: str) -> tuple[float | None, int]:
    """The pooled spread of the errors of one call (a hull's stay at the berth) about their own
    mean (the part that does not repeat between images of that stay), and how many calls were
    measured more than once. Per call, not per hull: on the tuning chain a 3 m hull's error
    repeats within a stay (share 0.62) but hardly from one call to its next (0.05)."""
    by_call: dict[str, list[float]] = defaultdict(list)
    for r in hit:
        by_call[r.get("call") or id(r)].append(r[key])
    groups = [np.asarray(v, dtype=float) for v in by_call.values() if len(v) > 1]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return None, 0
    return float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)), len(groups)


LENGTH_EDGES_M = (80.0, 95.0, 110.0)  # the tankers' length bins of recall_by_length


def recall_by_length(rows: list[dict], edges=LENGTH_EDGES_M) -> dict | None:
    """Tankers and those found per bin of true hull length (None: rows without lengths)."""
    import bisect

    if not rows or any(r.get("length_m") is None for r in rows):
        return None
    tankers, found = [0] * (len(edges) + 1), [0] * (len(edges) + 1)
    for r in rows:
        k = bisect.bisect_right(edges, r["length_m"])
        tankers[k] += 1
        found[k] += bool(r["found"])
    return {"edges_m": list(edges), "tankers": tankers, "found": found}


def summarise(rows: list[dict]) -> dict:
    hit = [r for r in rows if r["found"]]
    out = {"tankers": len(rows), "found": len(hit), "recall": round(len(hit) / len(rows), 3)}
    for k, name in (("dl", "length"), ("db", "beam")):
        e = np.array([r[k] for r in hit], dtype=float)
        out[f"{name}_mae_m"] = round(float(np.abs(e).mean()), 1) if len(e) else None
        out[f"{name}_rms_m"] = round(float(np.sqrt((e**2).mean())), 1) if len(e) else None
        out[f"{name}_bias_m"] = round(float(e.mean()), 1) if len(e) else None
        out[f"{name}_sd_m"] = round(float(e.std()), 1) if len(e) else None
        within, calls = within_call_sd(hit, k)
        out[f"{name}_within_call_sd_m"] = None if within is None else round(within, 1)
        out["calls_repeated"] = calls
    # the share of the length variance a hull carries from image to image of one stay (a bias
    # of the detector on that hull as it lies there): what repeated sightings cannot average away
    out["recall_by_length"] = recall_by_length(rows)
    sd, within = out["length_sd_m"], out["length_within_call_sd_m"]
    out["systematic_frac"] = (
        round(min(max(1.0 - (within / sd) ** 2, 0.0), 1.0), 2) if sd and within is not None
        else None
    )  # fmt: skip
    return out


class StaleDetections(ValueError):
    """The detections measured were made by other weights than the bundle to be written."""


def calibration_documents(rows: dict[tuple[str, str], list], argv: list[str]) -> dict:
    """bundle path -> its berths.json document (one entry per sensor measured with it), with
    each simulation's share and the tankers behind it (the prior's spread weighs them)."""
    from datetime import UTC, datetime

    from pipeline.detect.bundle import bundle_model_id, read_spec, resolve_bundle_dir

    docs: dict = {}
    for (sensor, model), r in sorted(rows.items()):
        bundle = r[0]["bundle"]
        if bundle == "baseline":
            continue  # the classical detector has no bundle folder to carry the file
        folder = resolve_bundle_dir(bundle)
        model_spec = read_spec(folder)
        spec = model_spec.model_dump(mode="json")
        if "@" in model and model != bundle_model_id(model_spec):
            # runs of an earlier detector (--chain reads stored detections): other weights, or
            # the same weights with lengths measured another way (model.yaml ``length``)
            raise StaleDetections(
                f"{folder}: the detections measured are of {model}, the bundle now gives "
                f"{bundle_model_id(model_spec)} (re-run the chain with this bundle first)"
            )
        s = summarise(r)
        by_sim = {}
        for x in r:
            by_sim.setdefault(_sim_name(Path(x["sim"])), []).append(x["found"])
        gsd = [x["gsd_m"] for x in r if x["gsd_m"]]
        doc = docs.setdefault(
            folder,
            {
                "format": CALIBRATION_FORMAT,
                "model": spec["name"],
                "weights_sha256": spec["weights"]["sha256"],
                "measured": {
                    "command": "python benchmarks/detect_at_berths.py " + " ".join(argv),
                    "simulations": sorted(by_sim),
                    "when_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "sensors": {},
            },
        )
        doc["sensors"][sensor] = {
            "gsd_m": float(np.median(gsd)) if gsd else float(spec["gsd_m"]),
            "tankers": s["tankers"],
            "found": s["found"],
            "recall_by_simulation": [round(sum(v) / len(v), 3) for _, v in sorted(by_sim.items())],
            "tankers_by_simulation": [len(v) for _, v in sorted(by_sim.items())],
            "matched": s["found"],
            "length_bias_m": s["length_bias_m"],
            "length_sd_m": s["length_sd_m"],
            "beam_bias_m": s["beam_bias_m"],
            "beam_sd_m": s["beam_sd_m"],
        }
        if s["recall_by_length"] is not None:
            doc["sensors"][sensor]["recall_by_length"] = s["recall_by_length"]
        if s["systematic_frac"] is not None:
            doc["sensors"][sensor] |= {
                "length_within_call_sd_m": s["length_within_call_sd_m"],
                "calls_repeated": s["calls_repeated"],
                "systematic_frac": s["systematic_frac"],
            }
    return docs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--sim", type=Path, nargs="+", help="simulator output folders")
    src.add_argument(
        "--chain",
        type=Path,
        nargs="+",
        help="finished estimate_calibration.py --chain run folders (tuning seeds): the berth as "
        "the whole chain sees it",
    )
    ap.add_argument("--model", default=None, help="bundle for sensors not in --models")
    ap.add_argument("--models", default="commercial-3m=tw-centernet-3m", help="SENSOR=BUNDLE,...")
    ap.add_argument("--every", type=int, default=1, help="every k-th scene only")
    ap.add_argument(
        "--land",
        action="store_true",
        help="hand every detector the port's land, as runs do (default: only the SAR CFAR)",
    )
    ap.add_argument("--sensors", default=None, help="measure these sensors only (comma-separated)")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    ap.add_argument(
        "--write-bundle", action="store_true", help="write berths.json into each measured bundle"
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    models = dict(kv.split("=", 1) for kv in a.models.split(",") if kv.strip())
    rows: dict[tuple[str, str], list] = defaultdict(list)
    only = {s.strip() for s in a.sensors.split(",") if s.strip()} if a.sensors else None
    for sim in a.sim or []:
        for key, r in measure(sim, models, a.model, a.every, only, a.land).items():
            rows[key] += r
    for work in a.chain or []:
        if not (work / "run" / "ledger.db").exists():
            print(f"{work}: no finished chain run (run/ledger.db), skipped", file=sys.stderr)
            continue
        for key, r in measure_chain(work).items():
            rows[key] += r
    if not rows:
        print("detect_at_berths: no tanker at a berth in a clear image", file=sys.stderr)
        return 2
    print(
        "| sensor | model | tankers at berths | found | recall | length MAE / RMS / bias / sd m | "
        "beam MAE / RMS / bias / sd m | length sd within a call m (calls) | systematic share |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    table = {}
    for (sensor, model), r in sorted(rows.items()):
        s = summarise(r)
        table[f"{sensor} {model}"] = s

        def f(v):
            return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v}"

        print(
            f"| {sensor} | {model} | {s['tankers']} | {s['found']} | {s['recall']:.2f} | "
            f"{f(s['length_mae_m'])} / {f(s['length_rms_m'])} / {f(s['length_bias_m'])} / "
            f"{f(s['length_sd_m'])} | {f(s['beam_mae_m'])} / {f(s['beam_rms_m'])} / "
            f"{f(s['beam_bias_m'])} / {f(s['beam_sd_m'])} | "
            f"{f(s['length_within_call_sd_m'])} ({s['calls_repeated']}) | "
            f"{f(s['systematic_frac'])} |"
        )
    if a.json:
        a.json.write_text(json.dumps(table, indent=2) + "\n")
    if a.write_bundle:
        from pipeline.fsutil import atomic_write_text

        try:
            documents = calibration_documents(rows, argv)
        except StaleDetections as exc:
            print(f"detect_at_berths: {exc}", file=sys.stderr)
            return 2
        for folder, doc in documents.items():
            atomic_write_text(folder / CALIBRATION_FILE, json.dumps(doc, indent=1) + "\n")
            print(f"wrote {folder / CALIBRATION_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
