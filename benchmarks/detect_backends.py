"""The detector's network on one set of tiles through several runtimes, side by side: torch
eager (fp32, fp32 channels_last, bf16 autocast channels_last: the detect path's own), torch.compile
(inductor), ONNX Runtime and OpenVINO (each when installed; neither is a TankerWatch dependency).

    .venv/bin/python benchmarks/detect_backends.py [--model NAME] [--tile-file TIF] [--tiles 16]
        [--size 512] [--batch 1] [--rounds 5] [--threads 2] [--work DIR] [--json OUT]

Tiles: ``--tiles`` windows of ``--size`` px read from ``--tile-file`` (default: the seeded
synthetic Sentinel-2 tile of benchmarks/pipeline_fullsize_tile.py, written into --work when
absent) and normalised as the detector does. Each round runs every backend over all tiles, in an
order that rotates from round to round, so load on the shared machine falls on all alike; the
table reports the median of the rounds (ms per tile, one forward pass), its ratio to eager bf16,
(with ``--threads N`` > 1 also eager with N tiles side by side, one thread each, as the detect
path runs several windows: ms per tile is then the set's wall time over the tiles)
and the largest difference of the vessel heatmap (probability) from eager fp32 over the tiles;
"CPU ms" is the process's CPU time per tile (threads summed; spinning threads count).
Exported graphs (ONNX, OpenVINO IR) are derived from the bundle's safetensors weights in --work,
never shipped. One-time costs (export, compilation) are reported apart.

To try the optional runtimes without adding them to the project:
``pip install --target DIR onnxruntime openvino onnx onnxscript`` then run with PYTHONPATH=DIR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_common import machine, markdown, write_json  # noqa: E402

OUTPUTS = ("heat", "cls", "offset", "size", "angle")


def load_tiles(path: Path, detector, n: int, size: int):
    """``n`` windows of ``size`` px spread over the file (those with water first), prepared."""
    import numpy as np
    from rasterio.windows import Window

    from pipeline.detect.raster import open_scene

    with open_scene(path, detector.bands, detector.gsd_m) as g:
        step = max(1, (g.width - size) // max(1, int(np.ceil(np.sqrt(n))) - 1))
        out = []
        for y in range(0, g.height - size + 1, step):
            for x in range(0, g.width - size + 1, step):
                refl, valid = g.read(Window(x, y, size, size))
                out.append(detector.prepare(refl, valid))
                if len(out) == n:
                    return out
    return out


class _Outputs:
    """A wrapper with a tuple output (what exporters and compilers want)."""

    @staticmethod
    def module(model):
        import torch

        class Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                o = self.m(x)
                return tuple(o[k] for k in OUTPUTS)

        return Wrap(model).eval()


def eager(model, precision: str, channels_last: bool):
    import copy

    import torch

    from pipeline.detect.precision import resolve_precision

    m = copy.deepcopy(model).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    m = m.to(memory_format=fmt)
    prec = resolve_precision(precision, "cpu")

    def run(x):
        with torch.inference_mode(), prec.autocast():
            return m(x.contiguous(memory_format=fmt))["heat"].float()

    return run, 0.0


def compiled(model, precision: str, sample, freezing: bool = False):
    """torch.compile (inductor); ``freezing``: weights as constants, so inductor folds and
    prepacks them and fuses each convolution with its ReLU (oneDNN post-ops), as PyTorch's CPU
    inference guidance recommends (TORCHINDUCTOR_FREEZING=1)."""
    import copy

    import torch
    import torch._inductor.config as inductor_config

    from pipeline.detect.precision import resolve_precision

    m = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    prec = resolve_precision(precision, "cpu")
    fn = torch.compile(m, dynamic=False)

    def run(x):
        with inductor_config.patch(freezing=freezing), torch.inference_mode(), prec.autocast():
            return fn(x.contiguous(memory_format=torch.channels_last))["heat"].float()

    t = time.perf_counter()
    run(sample)
    return run, time.perf_counter() - t


def onnx_file(model, sample, work: Path) -> tuple[Path, float]:
    import torch

    path = work / "detector.onnx"
    t = time.perf_counter()
    if not path.exists():
        m = _Outputs.module(model.to(memory_format=torch.contiguous_format))
        dims = {0: torch.export.Dim("b"), 2: torch.export.Dim("h"), 3: torch.export.Dim("w")}
        torch.onnx.export(
            m,
            (sample.contiguous(),),
            str(path),
            dynamo=True,
            input_names=["x"],
            output_names=list(OUTPUTS),
            dynamic_shapes={"x": dims},
        )
    return path, time.perf_counter() - t


def onnxruntime_backend(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t = time.perf_counter()
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(x):
        import torch

        return torch.from_numpy(sess.run(["heat"], {"x": x.contiguous().numpy()})[0])

    return run, time.perf_counter() - t


def openvino_backend(path: Path, threads: int, precision: str):
    import openvino as ov

    core = ov.Core()
    t = time.perf_counter()
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
    }
    compiled_model = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled_model.create_infer_request()
    heat = compiled_model.output("heat")

    def run(x):
        import torch

        return torch.from_numpy(request.infer({"x": x.contiguous().numpy()})[heat].copy())

    return run, time.perf_counter() - t


def main() -> int:
    import numpy as np
    import torch

    from pipeline.detect.bundle import DEFAULT_MODEL, load_detector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--tile-file", help="a scene to take the tiles from")
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1, help="tiles per forward call")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", help="folder for the tile file and exported graphs")
    ap.add_argument("--skip", default="", help="comma-separated backends to leave out")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="tw-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    det = load_detector(args.model, precision="fp32")
    if args.tile_file:
        tile_file = Path(args.tile_file)
    else:
        from pipeline_fullsize_tile import write_tile

        tile_file = work / "s2-synthetic-2048-seed0.tif"
        if not tile_file.exists():
            write_tile(tile_file, 2048, 0)
    tiles = load_tiles(tile_file, det, args.tiles * args.batch, args.size)
    if args.batch > 1:
        tiles = [torch.cat(tiles[i : i + args.batch]) for i in range(0, len(tiles), args.batch)]
    sample = tiles[0]
    model = det.model
    skip = set(filter(None, args.skip.split(",")))

    backends: dict = {}
    setup: dict = {}
    notes: dict = {}

    def add(name, make):
        if name in skip:
            return
        try:
            backends[name], setup[name] = make()
        except Exception as exc:  # an optional runtime absent or failing: say so, go on
            notes[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"

    add("eager fp32", lambda: eager(model, "fp32", False))
    # what the detect path runs with several threads: that many tiles side by side, each on
    # one thread (pipeline.detect.infer.window_workers), timed over the whole set of tiles
    side_by_side = {}
    if args.threads > 1:
        for prec in ("fp32", "bf16"):
            name = f"eager {prec} channels_last, {args.threads} tiles side by side"
            add(name, lambda prec=prec: eager(model, prec, True))
            side_by_side[name] = True
    add("eager fp32 channels_last", lambda: eager(model, "fp32", True))
    add("eager bf16 channels_last", lambda: eager(model, "bf16", True))
    add("torch.compile fp32", lambda: compiled(model, "fp32", sample))
    add("torch.compile bf16", lambda: compiled(model, "bf16", sample))
    add("torch.compile bf16 freezing", lambda: compiled(model, "bf16", sample, freezing=True))
    onnx_path = None
    try:
        onnx_path, setup["onnx export"] = onnx_file(model, sample, work)
    except Exception as exc:
        notes["onnx export"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    if onnx_path is not None:
        add("onnxruntime fp32", lambda: onnxruntime_backend(onnx_path, args.threads))
        add("openvino fp32", lambda: openvino_backend(onnx_path, args.threads, "fp32"))
        add("openvino bf16", lambda: openvino_backend(onnx_path, args.threads, "bf16"))

    names = list(backends)
    pool = None
    if side_by_side:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(args.threads, initializer=torch.set_num_threads, initargs=(1,))

    def over_tiles(n):
        if n in side_by_side:
            list(pool.map(backends[n], tiles))
        else:
            for x in tiles:
                backends[n](x)

    reference = {}
    with torch.inference_mode():
        for i, x in enumerate(tiles):
            reference[i] = torch.sigmoid(backends["eager fp32"](x))
        diff = {n: 0.0 for n in names}
        for n in names:
            for i, x in enumerate(tiles):
                d = (torch.sigmoid(backends[n](x).float()) - reference[i]).abs().max()
                diff[n] = max(diff[n], float(d))
        times: dict = {n: [] for n in names}
        cpu_times: dict = {n: [] for n in names}
        loads = []
        for r in range(args.rounds):
            loads.append(round(os.getloadavg()[0], 2))
            for k in range(len(names)):
                n = names[(r + k) % len(names)]
                t, c = time.perf_counter(), time.process_time()
                over_tiles(n)
                times[n].append((time.perf_counter() - t) / (len(tiles) * args.batch))
                cpu_times[n].append((time.process_time() - c) / (len(tiles) * args.batch))
    base = statistics.median(times.get("eager bf16 channels_last") or times[names[0]])
    flops = 31.66e3 * args.size * args.size  # the compact release: 31.7 kFLOP per pixel
    rows = []
    for n in names:
        med = statistics.median(times[n])
        rows.append(
            {
                "backend": n,
                "ms per tile": round(med * 1000, 1),
                "spread ms": f"{min(times[n]) * 1000:.1f}-{max(times[n]) * 1000:.1f}",
                "CPU ms per tile": round(statistics.median(cpu_times[n]) * 1000, 1),
                "vs eager bf16": round(base / med, 2),
                "GFLOP/s": round(flops / med / 1e9, 0),
                "max |d heat|": float(np.round(diff[n], 4)),
                "setup s": round(setup.get(n, 0.0), 1),
            }
        )
    print(
        f"{len(tiles)} x {args.batch} tiles of {args.size} px from {tile_file.name}; "
        f"{args.threads} threads; {args.rounds} rounds; load per round {loads}"
    )
    cols = ["backend", "ms per tile", "spread ms", "CPU ms per tile", "vs eager bf16", "GFLOP/s"]
    cols += ["max |d heat|"]
    print(markdown(rows, cols + ["setup s"]))
    for k, v in notes.items():
        print(f"- {k}: not measured ({v})")
    if "onnx export" in setup:
        print(f"- ONNX export (dynamo, dynamic shapes): {setup['onnx export']:.1f} s")
    write_json(args.json, {"rows": rows, "notes": notes, "loads": loads, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
