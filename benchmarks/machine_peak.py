"""This machine's arithmetic peak as torch reaches it (matmul and 3x3 convolution, fp32 and
bf16, per thread count), and the detector's FLOPs per pixel: the yardstick for the detect
path's achieved GFLOP/s in BENCHMARKS.md.

    .venv/bin/python benchmarks/machine_peak.py [--threads 1,2] [--seconds 2] [--model NAME]
        [--json OUT]

matmul: square n = 2048 (2 n^3 FLOP); convolution: 3x3, 64 -> 64 channels, 256 x 256 px, batch
1, channels_last (2 * 9 * 64 * 64 FLOP per output pixel), the shape of the detector's costlier
layers widened to where oneDNN is efficient; also the detector's own widest layer (3x3, 16 -> 16
at 512 x 512). bf16 runs under CPU autocast as the detector does. Each figure is the best of
repeated timings over about ``--seconds`` (the peak, not the average: the machine is shared).
FLOPs of the detector: torch.utils.flop_counter on one 512 px tile (multiply-add = 2 FLOP).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import machine, markdown, write_json  # noqa: E402


def best_rate(fn, flop: float, seconds: float) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    best = float("inf")
    end = time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() > end:
            break
    return flop / best / 1e9


def kernels(dtype_name: str):
    import torch

    bf16 = dtype_name == "bf16"
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    if bf16:
        a, b = a.bfloat16(), b.bfloat16()

    def mm():
        torch.mm(a, b)

    out = {"matmul 2048": (mm, 2.0 * n**3)}
    for label, c, hw in (("conv 3x3 64->64 @256", 64, 256), ("conv 3x3 16->16 @512", 16, 512)):
        conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).eval()
        conv = conv.to(memory_format=torch.channels_last)
        x = torch.randn(1, c, hw, hw).contiguous(memory_format=torch.channels_last)

        def run(conv=conv, x=x):
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                conv(x)

        out[label] = (run, 2.0 * 9 * c * c * hw * hw)
    return out


def model_flops(model_name: str | None) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pipeline.detect.bundle import load_detector

    det = load_detector(model_name)
    x = torch.zeros(1, len(det.bands), 512, 512)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        det.model(x)
    total = fc.get_total_flops()
    return {
        "model": det.model_id,
        "gflop_per_512_tile": total / 1e9,
        "kflop_per_px": total / 512**2 / 1e3,
    }


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    load_start = os.getloadavg()[0]
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for dtype_name in ("fp32", "bf16"):
            for label, (fn, flop) in kernels(dtype_name).items():
                rate = best_rate(fn, flop, args.seconds)
                rows.append(
                    {
                        "kernel": label,
                        "dtype": dtype_name,
                        "threads": threads,
                        "GFLOP/s": round(rate),
                        "GFLOP/s per thread": round(rate / threads),
                    }
                )
                print(rows[-1], flush=True)
    flops = model_flops(args.model)
    print(f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print(markdown(rows, ["kernel", "dtype", "threads", "GFLOP/s", "GFLOP/s per thread"]))
    print(
        f"detector {flops['model']}: {flops['gflop_per_512_tile']:.2f} GFLOP per 512 px tile "
        f"({flops['kflop_per_px']:.1f} kFLOP per pixel per pass)"
    )
    write_json(args.json, {"rows": rows, "model": flops, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
