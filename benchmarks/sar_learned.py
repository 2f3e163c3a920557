"""Sentinel-1 detectors side by side on the scoring scenes of benchmarks/sar_cfar.py.

    PYTHONPATH=. python benchmarks/sar_learned.py --seeds 21,22,23,31,32 --work /tmp/sar-cfar \
        --models models/tw-centernet-s1,cfar

The scenes are the default scenario cut to Sentinel-1 only and to 2024-04-01..2024-05-15 (about
40 scenes over the four ports per seed; made by sar_cfar.simulate_seed and reused). For each
detector and seed, `tankerwatch evaluate`'s scoring with the mission-size rule (labels and
unmatched predictions >= 50 m): precision, recall, F1, length MAE and signed length bias (after
the bundle's own correction), recall alongside / in open water; and recall at berths (labels
whose role is load / discharge / other, any length; sar_cfar.berth_recall). One JSON line per
detector and seed, then mean, min and standard deviation over seeds per detector.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from sar_cfar import berth_recall, simulate_seed  # noqa: E402

KEYS = ("precision", "recall", "f1", "length_mae_m", "length_bias_m", "berth_recall")


def main() -> None:
    from pipeline.detect import load_detector
    from pipeline.detect.evaluate import evaluate_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="21,22,23,31,32")
    ap.add_argument("--work", default="/tmp/sar-cfar")
    ap.add_argument("--models", default="models/tw-centernet-s1,cfar")
    args = ap.parse_args()
    work = Path(args.work)
    rows: dict[str, list[dict]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        root = simulate_seed(seed, work)
        for name in args.models.split(","):
            det = load_detector(name)
            res = evaluate_dataset(root, det, min_length_m=50.0, on_skip=lambda *a: None)
            o = res["overall"]
            br, _ = berth_recall(root, det)
            row = {
                "model": det.model_id,
                "seed": seed,
                "scenes": len(res["scenes"]),
                **{k: o.get(k) for k in KEYS[:5]},
                **{k: o[k] for k in ("tp", "fp", "fn")},
                "recall_alongside": (o.get("recall_alongside") or {}).get("recall"),
                "recall_open": (o.get("recall_open") or {}).get("recall"),
                "length_mae_by_size": {k: v["mae_m"] for k, v in o["length_mae_by_size"].items()},
                **br,
            }
            rows.setdefault(name, []).append(row)
            print(json.dumps(row), flush=True)
    for name, rs in rows.items():
        for k in (*KEYS, "recall_alongside"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                print(
                    f"{name} {k}: mean {statistics.mean(vals):.3f}, min {min(vals):.3f}, "
                    f"max {max(vals):.3f}, sd {sd:.3f}"
                )


if __name__ == "__main__":
    main()
