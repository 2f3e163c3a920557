"""Chain runs re-detected with a lower score threshold at the oil berths (issue #13).

    # 1. every kept scene of each run re-detected once at --low (land mask as the runner)
    python benchmarks/berth_redetect.py detect WORK [WORK...] --cache DIR [--low 0.05]
    # 2. copies of the runs whose ledgers hold what the detect step would have stored with a
    #    berth score per sensor: peaks at or above the bundle's threshold anywhere, and peaks at
    #    or above the berth score centred in an oil berth's zone (pipeline.run.detect.berth_zone)
    python benchmarks/berth_redetect.py ledgers WORK [WORK...] --cache DIR --out OUTDIR \
        --berth-score sentinel-2-l2a=0.15,commercial-3m=0.3
    # 3. the recall at the berth those ledgers give (detect_at_berths.py --chain), written as
    #    bundle copies under OUTDIR/bundles and OUTDIR/estimate.yaml (configs/estimate/default.yaml
    #    with its detector_recall entries measured there, [--set portcalls.KEY=VALUE ...])
    python benchmarks/berth_redetect.py priors OUTDIR/family-* --cache DIR --out OUTDIR
    # then score them as any chain run
    python benchmarks/estimate_calibration.py --chain --rescore --set tuning --work OUTDIR \
        --params OUTDIR/estimate.yaml ...

WORK: finished ``estimate_calibration.py --chain`` runs with their scenes kept (run/cache). The
copies in OUTDIR link the run's simulation and scenario; only ``run/ledger.db`` is new. A peak
below the threshold never suppresses one above it (point NMS keeps the best), so filtering one
low re-detection gives what detecting at each berth score would give.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sqlite3
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _models(ledger_db: Path) -> dict[str, str]:
    """scene id -> the model id that processed it in the chain run."""
    with sqlite3.connect(f"file:{ledger_db}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT scene_id, model FROM scene_processing").fetchall())


def redetect(work: Path, low: float) -> dict:
    """{"dets": {scene_id: [Detection]}, "threshold": {model: score}, "sensor", "port"}: one run
    re-detected at ``low`` without a land mask."""
    from pipeline.detect.infer import detect_scene
    from pipeline.ledger.store import open_for_reading
    from pipeline.run.detect import detector_with_score

    db = work / "run" / "ledger.db"
    with open_for_reading(f"sqlite:///{db}") as ledger:
        scenes = ledger.scenes()
    model_of = _models(db)
    cache: dict[str, object] = {}
    thresholds: dict[str, float] = {}
    out: dict[str, list] = {}
    for s in scenes:
        model = model_of.get(s.id)
        if model is None:
            continue
        if model not in cache:
            from pipeline.detect import load_detector

            det = load_detector(model.split("@")[0])
            if det.model_id != model:
                raise SystemExit(f"{work}: detections of {model}, the bundle is {det.model_id}")
            thresholds[model] = det.spec.thresholds.score
            cache[model] = detector_with_score(det, low)
        # no land mask here: write_ledger applies one (a learned detector does not use the land)
        out[s.id] = detect_scene(s.path, cache[model], scene_id=s.id)
    ports = {s.id: s.port for s in scenes}
    return {
        "dets": out,
        "threshold": thresholds,
        "sensor": {s.id: s.sensor for s in scenes},
        "port": ports,
    }


def write_ledger(
    work: Path, cached: dict, berth_score: dict[str, float], out: Path, quay_m: float
) -> int:
    """A copy of ``work`` in ``out`` whose ledger holds the filtered re-detection: the land mask
    as the runner's (``quay_m`` 0: the whole land polygons, as before #13), then the threshold
    away from the oil berths' zone and the berth score inside it (the zone of the berths the
    scene sees clear, as the runner's)."""
    from shapely.geometry import Point
    from shapely.prepared import prep

    from pipeline.config import load_port
    from pipeline.ledger.store import Ledger
    from pipeline.run.detect import berth_zone, hidden_berths, land_mask

    out.mkdir(parents=True, exist_ok=True)
    (out / "run").mkdir(exist_ok=True)
    shutil.copy2(work / "scenario.yaml", out / "scenario.yaml")
    for name in ("simulation", "report.html"):
        link = out / "run" / name
        if not link.exists():
            link.symlink_to((work / "run" / name).resolve())
    db = out / "run" / "ledger.db"
    shutil.copy2(work / "run" / "ledger.db", db)
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM detections")
        con.execute("DELETE FROM scene_processing")
    model_of = _models(work / "run" / "ledger.db")
    n = 0
    lands: dict[str, tuple] = {}
    zones: dict[tuple[str, frozenset], object] = {}
    with Ledger(f"sqlite:///{db}") as ledger:
        for sid, found in cached["dets"].items():
            name = cached["port"][sid]
            if name not in lands:
                port = load_port(name)
                lands[name] = (port, prep(land_mask(port, quay_m)))
            port, land = lands[name]
            hidden = hidden_berths(ledger.observations(ports=[name], scene_id=sid))
            if (name, hidden) not in zones:
                zone = berth_zone(port, hidden=hidden)
                zones[(name, hidden)] = zone and prep(zone)
            zone = zones[(name, hidden)]
            model = model_of[sid]
            th = cached["threshold"][model]
            floor = berth_score.get(cached["sensor"][sid], th)
            keep = []
            for d in found:
                pt = Point(d.lon, d.lat)
                if land.contains(pt):
                    continue
                if d.score >= th or (d.score >= floor and zone and zone.contains(pt)):
                    keep.append(d)
            ledger.add_detections(sid, model, keep)
            n += len(keep)
    return n


def write_priors(works: list[Path], out: Path, sets: list[str]) -> Path:
    """OUT/estimate.yaml: the shipped estimate config with each sensor's detector_recall read
    from a berths.json measured on ``works`` as detect_at_berths.py --chain measures it (copies
    of the bundles' model.yaml beside them, for the weights check)."""
    import json

    import yaml

    sys.path.insert(0, str(REPO / "benchmarks"))
    from collections import defaultdict

    from detect_at_berths import calibration_documents, measure_chain  # noqa: PLC0415

    from pipeline.portcalls.params import DEFAULT_PARAMS

    rows: dict = defaultdict(list)
    for w in works:
        for key, r in measure_chain(w).items():
            rows[key] += r
    docs = calibration_documents(rows, ["--chain", *map(str, works)])
    data = yaml.safe_load(DEFAULT_PARAMS.read_text())
    table = data["portcalls"]["detector_recall"]
    for folder, doc in docs.items():
        target = out / "bundles" / folder.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "model.yaml", target / "model.yaml")
        (target / "berths.json").write_text(json.dumps(doc, indent=1) + "\n")
        for sensor, m in doc["sensors"].items():
            table[sensor] = {"measured": str((target / "berths.json").resolve())}
            print(f"{sensor}: {m['found']} of {m['tankers']}", file=sys.stderr)
    for kv in sets:  # SECTION.KEY[.KEY...]=YAML
        key, value = kv.split("=", 1)
        *path, name = key.split(".")
        node = data
        for k in path:
            node = node.setdefault(k, {})
        node[name] = yaml.safe_load(value)
    path = out / "estimate.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["detect", "ledgers", "priors"])
    ap.add_argument("work", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--low", type=float, default=0.05)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--berth-score", default="", help="SENSOR=SCORE,...")
    ap.add_argument(
        "--quay-m",
        type=float,
        default=None,
        help="the land mask spares the quay this close to an oil berth (default: the runner's)",
    )
    ap.add_argument("--set", nargs="*", default=[], help="with priors: portcalls.KEY=VALUE ...")
    a = ap.parse_args(argv)
    a.cache.mkdir(parents=True, exist_ok=True)
    works = [w for w in a.work if (w / "run" / "report.html").exists()]
    if not works:
        print("berth_redetect: no finished chain run given", file=sys.stderr)
        return 2
    if a.step == "priors":
        if a.out is None:
            print("berth_redetect: priors needs --out", file=sys.stderr)
            return 2
        print(write_priors(works, a.out, a.set), file=sys.stderr)
        return 0
    if a.step == "detect":
        for w in works:
            f = a.cache / f"{w.name}.pkl"
            if f.exists():
                continue
            f.write_bytes(pickle.dumps(redetect(w, a.low)))
            print(f"{w.name}: re-detected", file=sys.stderr)
        return 0
    if a.out is None:
        print("berth_redetect: ledgers needs --out", file=sys.stderr)
        return 2
    try:
        scores = {
            k: float(v) for k, v in (kv.split("=", 1) for kv in a.berth_score.split(",") if kv)
        }
    except ValueError:
        print(f"berth_redetect: --berth-score '{a.berth_score}': SENSOR=SCORE,...", file=sys.stderr)
        return 2
    for w in works:
        f = a.cache / f"{w.name}.pkl"
        if not f.exists():
            print(f"{w.name}: not re-detected (run the detect step), skipped", file=sys.stderr)
            continue
        from pipeline.run.detect import BERTH_QUAY_M

        quay = BERTH_QUAY_M if a.quay_m is None else a.quay_m
        n = write_ledger(w, pickle.loads(f.read_bytes()), scores, a.out / w.name, quay)
        print(f"{w.name}: {n} detections", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
