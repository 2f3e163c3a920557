"""Length from the hull's own pixels against the detector's size regression (issue #14 item 5).

Two steps, so the detector runs once and the length settings are tried offline:

    # 1. detect once (the bundle's shipped threshold), keeping the raw pixel-space detections
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/length_hull.py detect \
        --model tw-centernet-s2 --data ../shared/data/sen2ships --cache /tmp/length-cache/real.json
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/length_hull.py detect \
        --model tw-centernet-s2 --data /tmp/length-sim --sensor sentinel-2-l2a --max 110 \
        --cache /tmp/length-cache/sim-s2.json
    # 2. measure the lengths and score them (leave-one-port-out over the real ports)
    .venv/bin/python benchmarks/length_hull.py cv --cache /tmp/length-cache/real.json
    .venv/bin/python benchmarks/length_hull.py score --cache /tmp/length-cache/sim-s2.json

Every length mode is scored on the same matched detections (matched once, by the
regression's centres, with the rule of ``evaluate``), so the modes differ in length only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def scene_list(data: Path, sensor: str | None, n: int | None) -> list[Path]:
    from pipeline.detect.data import scene_dirs
    from pipeline.simulate.calibration import simulated_scene_dirs

    dirs = simulated_scene_dirs(data, sensor) if sensor else scene_dirs(data)
    if n and len(dirs) > n:
        step = max(1, len(dirs) // n)
        dirs = dirs[::step][:n]
    return dirs


def cmd_detect(args) -> None:
    """Raw detections (pixel space of the model grid) of every scene, to a JSON cache."""
    import torch

    from pipeline.detect.bundle import load_detector
    from pipeline.detect.infer import detect_grid
    from pipeline.detect.raster import open_scene

    torch.set_num_threads(1)
    det = load_detector(args.model)
    out = {"model": args.model, "model_id": det.model_id, "scenes": {}}
    for d in scene_list(Path(args.data), args.sensor, args.max):
        t0 = time.time()
        with open_scene(d / "scene.tif", det.bands, det.gsd_m) as grid:
            raw = detect_grid(grid, det)
        out["scenes"][d.name] = {"dir": str(d.resolve()), "raw": raw}
        print(f"{d.name}: {len(raw)} detections, {time.time() - t0:.1f} s", flush=True)
    Path(args.cache).write_text(json.dumps(out, default=float) + "\n")


class MemGrid:
    """A whole scene grid held in memory, read by windows like a SceneGrid."""

    def __init__(self, path: Path, bands: list[str], gsd_m: float):
        from pipeline.detect.raster import read_full

        self.refl, self.valid, self.crs, self.transform = read_full(path, bands, gsd_m)
        self.gsd_m = gsd_m
        self.height, self.width = self.valid.shape

    def read(self, win):
        r0, c0 = int(win.row_off), int(win.col_off)
        r1, c1 = r0 + int(win.height), c0 + int(win.width)
        return self.refl[:, r0:r1, c0:c1], self.valid[r0:r1, c0:c1]


def matched(cache: dict, land_from_port: bool) -> list[dict]:
    """Matched (detection, label) pairs of every cached scene, matched once on the regression's
    centres with evaluate's rule (centre within 30 m of the footprint, Hungarian; labels more
    than half hidden left out, and so the detections near them)."""
    from shapely.geometry import Point

    from pipeline.detect.bundle import load_detector
    from pipeline.detect.evaluate import OCCLUDED_IGNORE, _label_length, _utm_of, match
    from pipeline.detect.geometry import read_labels, to_crs
    from pipeline.detect.infer import detection_records, off_land
    from pipeline.detect.land import port_land

    det = load_detector(cache["model"])
    pairs = []
    for name, sc in cache["scenes"].items():
        d = Path(sc["dir"])
        grid = MemGrid(d / "scene.tif", det.bands, det.gsd_m)
        land = port_land(d)[0] if land_from_port else None
        raw = off_land(sc["raw"], grid, land)
        recs = detection_records(raw, grid, name, det.model_id)
        labels = [
            lab
            for lab in read_labels(d / "labels.geojson")
            if lab.get("occluded", 0.0) <= OCCLUDED_IGNORE
        ]
        if not labels or not recs:
            continue
        crs = _utm_of([lab["geometry"] for lab in labels])
        shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
        pts = [to_crs(Point(r.lon, r.lat), "EPSG:4326", crs) for r in recs]
        for i, j, _ in match(pts, shapes):
            pairs.append(
                {
                    "scene": name,
                    "grid": grid,
                    "land": land,
                    "raw": raw[i],
                    "true_m": _label_length(labels[j], shapes[j]),
                    "true_beam": labels[j].get("beam_m"),
                    "regression_m": raw[i]["length"] * grid.gsd_m,
                    "bands": det.bands,
                }
            )
    return pairs


def measure_all(pairs: list[dict], spec) -> list[tuple[dict | None, str]]:
    from pipeline.detect.hull import measure_on_grid

    return [measure_on_grid(p["grid"], p["raw"], spec, p["bands"], p["land"]) for p in pairs]


def lengths(pairs, found, spec) -> list[float]:
    """Length (m) of each pair under ``spec`` (mode, bias, blend, ratio guard)."""
    from pipeline.detect.hull import apply

    out = []
    for p, (f, _) in zip(pairs, found, strict=True):
        g = p["grid"].gsd_m
        out.append(apply(p["raw"], f, spec, g)["length"] * g)
    return out


SIZES = (("< 60 m", 0, 60), ("60-120 m", 60, 120), ("120-200 m", 120, 200), ("> 200 m", 200, 1e9))


def stats(pairs, est) -> dict:
    """MAE and signed error (m), overall and per size class of the labelled length."""
    import numpy as np

    err = np.array([e - p["true_m"] for p, e in zip(pairs, est, strict=True)])
    true = np.array([p["true_m"] for p in pairs])
    out = {
        "all": (
            len(err),
            float(np.abs(err).mean()) if len(err) else None,
            float(err.mean()) if len(err) else None,
        )
    }
    for name, lo, hi in SIZES:
        m = (true >= lo) & (true < hi)
        out[name] = (
            int(m.sum()),
            float(np.abs(err[m]).mean()) if m.any() else None,
            float(err[m].mean()) if m.any() else None,
        )
    return out


def fmt(st: dict) -> str:
    def one(v):
        n, mae, bias = v
        return "n/a" if not n else f"{mae:.1f} ({bias:+.1f}, {n})"

    return " | ".join(one(st[k]) for k in ["all"] + [s[0] for s in SIZES])


SHEADER = (
    "| {what} | length | MAE m (signed, n) | < 60 m | 60-120 m | 120-200 m | > 200 m |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)


def grid_specs():
    """The settings tried: measurement (band, level fraction, gap) x use (mode, blend)."""
    from pipeline.detect.hull import LengthSpec

    for band in ("nir", "bright"):
        for frac in (0.3, 0.4, 0.5, 0.6):
            for gap in (1.0, 2.0, 3.0):
                yield LengthSpec(mode="hull", band=band, level_fraction=frac, gap_px=gap)


USES = [("hull", 1.0), ("blend", 0.25), ("blend", 0.5), ("blend", 0.75), ("blend", 0.9)]
RATIOS = [(0.4, 2.5), (0.6, 1.6)]


def sources(found) -> str:
    import collections

    c = collections.Counter(why for _, why in found)
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))


def choose(pairs, table, true, train, fit_bias=True):
    """(MAE, spec, lengths) of the setting with the least MAE on the ``train`` pairs; each
    setting is tried with no measured-length bias and with the bias fitted on ``train`` (the
    median signed error of the measured lengths there)."""
    import numpy as np

    best = None
    for s2, found, est in table:
        for fit in (False, True) if fit_bias else (False,):
            bias = 0.0
            if fit:
                used = np.array([f is not None for f, _ in found]) & train
                meas = np.array(
                    [
                        (f["length"] * p["grid"].gsd_m) if f else np.nan
                        for p, (f, _) in zip(pairs, found, strict=True)
                    ]
                )
                bias = float(np.median(meas[used] - true[used])) if used.any() else 0.0
            s3 = s2.model_copy(update={"bias_m": round(bias, 1)})
            e = np.array(lengths(pairs, found, s3)) if fit else est
            mae = float(np.abs(e[train] - true[train]).mean())
            if best is None or mae < best[0] - 1e-9:
                best = (mae, s3, e)
    return best


def cmd_cv(args) -> None:
    """Leave one port out: settings chosen on the other ports' matched pairs (pooled MAE),
    scored on the port left out, against the regression on the same pairs."""
    import statistics

    import numpy as np

    cache = json.loads(Path(args.cache).read_text())
    pairs = matched(cache, land_from_port=False)
    ports = sorted({p["scene"] for p in pairs})
    print(f"{len(pairs)} matched pairs over {len(ports)} ports", flush=True)
    table = []  # (spec, use, bias_fit, lengths per pair, found)
    t0 = time.time()
    for spec in grid_specs():
        found = measure_all(pairs, spec)
        for mode, w in USES:
            for quay in ("hull", "regression") if args.alongside == "any" else (args.alongside,):
                for ratio in RATIOS:
                    s2 = spec.model_copy(
                        update={
                            "mode": mode,
                            "blend_weight": w,
                            "alongside": quay,
                            "ratio_range": ratio,
                        }
                    )
                    table.append((s2, found, np.array(lengths(pairs, found, s2))))
    print(f"measured {len(table)} settings in {time.time() - t0:.0f} s", flush=True)
    true = np.array([p["true_m"] for p in pairs])
    reg = np.array([p["regression_m"] for p in pairs])
    port_of = np.array([p["scene"] for p in pairs])
    folds = {}
    oof_hull = np.zeros(len(pairs))
    for port in ports:
        train, test = port_of != port, port_of == port
        best = choose(pairs, table, true, train, not args.no_bias)
        _, s3, e = best
        oof_hull[test] = e[test]
        folds[port] = {
            "spec": s3,
            "hull": stats([p for p, t in zip(pairs, test, strict=True) if t], e[test]),
            "regression": stats([p for p, t in zip(pairs, test, strict=True) if t], reg[test]),
        }
        print(f"{port}: chose {describe(s3)}", flush=True)
    print("\nPer fold (port left out): MAE m (signed error, n)\n")
    print(SHEADER.format(what="port left out"))
    for port, f in folds.items():
        print(f"| {port} | regression | {fmt(f['regression'])} |")
        print(f"| {port} | hull, CV-chosen | {fmt(f['hull'])} |")
    print(f"| all 7 (out of fold) | regression | {fmt(stats(pairs, reg))} |")
    print(f"| all 7 (out of fold) | hull, CV-chosen | {fmt(stats(pairs, oof_hull))} |")
    held = np.isin(port_of, HELD)
    hp = [p for p, h in zip(pairs, held, strict=True) if h]
    print(f"| held-out 3 (out of fold) | regression | {fmt(stats(hp, reg[held]))} |")
    print(f"| held-out 3 (out of fold) | hull, CV-chosen | {fmt(stats(hp, oof_hull[held]))} |")
    final = choose(pairs, table, true, np.ones(len(pairs), bool), not args.no_bias)
    print(
        f"\nchosen on all {len(ports)} ports pooled: {describe(final[1])}"
        f" (MAE there {final[0]:.1f})"
    )
    print("as JSON: " + final[1].model_dump_json(exclude={"measured_on"}))
    for key in ("regression", "hull"):
        maes = [f[key]["all"][1] for f in folds.values()]
        print(
            f"\n{key}: MAE over folds {statistics.mean(maes):.1f} ± {statistics.stdev(maes):.1f}"
            f" (min {min(maes):.1f}, max {max(maes):.1f})"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    p: {
                        "spec": f["spec"].model_dump(),
                        "hull": f["hull"],
                        "regression": f["regression"],
                    }
                    for p, f in folds.items()
                },
                indent=1,
            )
            + "\n"
        )


HELD = ["durban", "honolulu", "klang"]


def describe(spec) -> str:
    w = f" w={spec.blend_weight:g}" if spec.mode == "blend" else ""
    return (
        f"{spec.mode}{w} band={spec.band} level={spec.level_fraction:g} gap={spec.gap_px:g} "
        f"bias={spec.bias_m:+g} m alongside={spec.alongside} "
        f"ratio={spec.ratio_range[0]:g}-{spec.ratio_range[1]:g}"
    )


def cmd_score(args) -> None:
    """The regression and given settings on the same matched pairs of one cache."""
    import numpy as np

    from pipeline.detect.hull import LengthSpec

    cache = json.loads(Path(args.cache).read_text())
    pairs = matched(cache, land_from_port=not args.no_land)
    reg = np.array([p["regression_m"] for p in pairs])
    print(f"{len(pairs)} matched pairs, {len(cache['scenes'])} scenes", flush=True)
    print(SHEADER.format(what="data"))
    print(f"| {args.label} | regression | {fmt(stats(pairs, reg))} |")
    for text in args.spec:
        spec = LengthSpec.model_validate(json.loads(text))
        found = measure_all(pairs, spec)
        est = lengths(pairs, found, spec)
        print(f"| {args.label} | {describe(spec)} | {fmt(stats(pairs, est))} |")
        print(f"  (measurement: {sources(found)})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("detect")
    p.add_argument("--model", default="tw-centernet-s2")
    p.add_argument("--data", required=True)
    p.add_argument("--sensor", default=None)
    p.add_argument("--max", type=int, default=None)
    p.add_argument("--cache", required=True)
    p = sub.add_parser("cv")
    p.add_argument("--cache", required=True)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--no-bias", action="store_true", help="do not fit a measured-length bias to the labels"
    )
    p.add_argument(
        "--alongside",
        choices=["any", "hull", "regression"],
        default="any",
        help="only this alongside setting (hulls with a bright quay or neighbour beside them)",
    )
    p = sub.add_parser("score")
    p.add_argument("--cache", required=True)
    p.add_argument("--label", default="data")
    p.add_argument("--no-land", action="store_true", help="do not use the port's land")
    p.add_argument("--spec", action="append", default=[], help="LengthSpec as JSON (repeat)")
    args = ap.parse_args()
    {"detect": cmd_detect, "cv": cmd_cv, "score": cmd_score}[args.cmd](args)


if __name__ == "__main__":
    main()
