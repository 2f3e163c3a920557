"""Training step time in fp32 and bf16 autocast, side by side, and a short loss curve of each.

    .venv/bin/python benchmarks/train_precision.py --config configs/train/NAME.yaml
        [--steps 30] [--warmup 3] [--threads 1] [--chip N[,N...]] [--curve 200] [--json OUT]

Loads the config's training data (real scenes + simulated chips, as `tankerwatch train`),
draws ``--steps`` batches once, then runs the same training step (forward, fp32 losses,
backward, gradient clipping, AdamW, weight average) on those batches in each mode, interleaved
in rounds of 5 steps so a change in the machine's load hits every mode alike:

- ``fp32``: the step as it was before precision was a setting (NCHW);
- ``fp32-cl``: fp32 with channels_last (what ``precision: fp32`` trains with now);
- ``bf16-cl``: bf16 autocast over fp32 master weights, channels_last (``precision: bf16``).

Printed: seconds per step (median and quartiles over the timed steps), the speed-up against
fp32, and the time to draw a batch (augmentation, on the CPU in every mode). With ``--curve N``,
two runs of N steps from the same initial weights on the same batches (the recipe's learning
rate schedule with its steps, at the config's chip size): fp32-cl and bf16-cl, their running
losses side by side (the running loss is the training log's: 0.98 x previous + 0.02 x this).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = {"fp32": ("fp32", False), "fp32-cl": ("fp32", True), "bf16-cl": ("bf16", True)}


def make_sampler(cfg, chip: int | None):
    import tempfile

    from pipeline.detect.data import ChipSampler, prepare_paste
    from pipeline.detect.train import load_training_scenes

    scenes, _ = load_training_scenes(cfg, Path(tempfile.gettempdir()))
    bank = prepare_paste(scenes, cfg.bands) if cfg.augment.paste_p else []
    return ChipSampler(
        scenes,
        chip=chip or cfg.chip,
        stride=cfg.architecture.out_stride,
        positive_p=cfg.positive_p,
        augment=cfg.augment,
        bank=bank,
        norm=cfg.normalisation,
    )


class Runner:
    """One model + optimiser + weight average, stepping in one mode."""

    def __init__(self, cfg, mode: str, seed: int = 0):
        import copy

        import torch

        from pipeline.detect.precision import Precision

        name, self.cl = MODES[mode]
        self.prec = Precision(name, "cpu", "benchmark")
        torch.manual_seed(seed)
        self.net = cfg.architecture.build()
        if self.cl:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.net) if cfg.ema else None
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.cfg = cfg
        self.net.train()

    def step(self, step: int, x, tgt) -> dict:
        import torch

        from pipeline.detect.model import detection_loss
        from pipeline.detect.train import lr_at, update_ema

        if self.cl:
            x = x.contiguous(memory_format=torch.channels_last)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.cfg, step)
        with self.prec.autocast():
            pred = self.net(x)
        pred = {k: v.float() for k, v in pred.items()}
        parts = detection_loss(pred, tgt, self.cfg.loss_weights)
        self.opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        if self.ema is not None:
            update_ema(self.ema, self.net, self.cfg.ema, step)
        return {k: float(v.detach()) for k, v in parts.items()}


def quartiles(v: list[float]) -> dict:
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return {"median": round(q[1], 4), "q1": round(q[0], 4), "q3": round(q[2], 4), "n": len(v)}


def main() -> int:
    import numpy as np
    import torch

    from pipeline.detect.train_config import load_train_config
    from pipeline.errors import TankerWatchError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per mode")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per mode first")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--chip", default=None, help="chip sizes to time, comma-separated (default: the config's)"
    )
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--curve", type=int, default=0, help="loss-curve steps per precision (0: none)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    try:
        cfg = load_train_config(a.config)
    except TankerWatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    bs = a.batch_size or cfg.batch_size
    t0 = time.time()
    sampler = make_sampler(cfg, None)
    load_s = time.time() - t0
    n = a.warmup + a.steps
    chips = [int(c) for c in a.chip.split(",")] if a.chip else [cfg.chip]
    res = {
        "config": str(a.config),
        "batch_size": bs,
        "threads": a.threads,
        "load_s": round(load_s, 1),
        "chips": {},
    }
    print(f"{a.config} batch {bs}, {a.threads} thread(s), {a.steps} timed steps per mode")
    print("| chip px | mode | s/step median (q1-q3) | vs fp32 | batch drawing s |")
    print("| --- | --- | --- | --- | --- |")
    for chip in chips:
        sampler.chip = chip
        draw_s, batches = [], []
        for i in range(n):
            rng = np.random.default_rng([cfg.seed, i])
            t = time.perf_counter()
            batches.append(sampler.batch(rng, bs))
            draw_s.append(time.perf_counter() - t)
        runners = {m: Runner(cfg, m) for m in MODES}
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for i in range(0, n, 5):
            for m, r in runners.items():
                for s in range(i, min(n, i + 5)):
                    t = time.perf_counter()
                    r.step(s, *batches[s])
                    if s >= a.warmup:
                        times[m].append(time.perf_counter() - t)
        entry = {
            "draw_batch_s": quartiles(draw_s),
            "step_s": {m: quartiles(v) for m, v in times.items()},
        }
        res["chips"][str(chip)] = entry
        base = entry["step_s"]["fp32"]["median"]
        for m, q in entry["step_s"].items():
            print(
                f"| {chip} | {m} | {q['median']:.3f} ({q['q1']:.3f}-{q['q3']:.3f}) | "
                f"{base / q['median']:.2f}x | {entry['draw_batch_s']['median']:.3f} |"
            )
    print(f"loading the training data: {load_s:.0f} s")
    res["loadavg_1m_after_timing"] = os.getloadavg()[0]
    print(f"load average (1 min) after the timing: {res['loadavg_1m_after_timing']:.2f}")
    if a.curve:
        sampler.chip = cfg.chip
        batches = [sampler.batch(np.random.default_rng([cfg.seed, i]), bs) for i in range(a.curve)]
        curves = {}
        for m in ("fp32-cl", "bf16-cl"):
            r = Runner(cfg, m)
            run, pts = None, []
            for s in range(a.curve):
                loss = r.step(s, *batches[s])["total"]
                run = loss if run is None else 0.98 * run + 0.02 * loss
                if (s + 1) % max(1, a.curve // 10) == 0:
                    pts.append((s + 1, round(run, 4)))
            curves[m] = pts
        res["curve"] = curves
        print("| step | fp32 running loss | bf16 running loss | difference |")
        print("| --- | --- | --- | --- |")
        for (s, x), (_, y) in zip(curves["fp32-cl"], curves["bf16-cl"], strict=True):
            print(f"| {s} | {x:.4f} | {y:.4f} | {100 * (y - x) / x:+.1f} % |")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
