"""Run by tests/test_distributed.py under torchrun: a few data-parallel steps of the real
detector model (tiny widths) through pipeline.distributed, then each rank's parameters saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from pipeline import distributed as D
from pipeline.detect.bundle import ArchSpec
from pipeline.detect.geometry import Box
from pipeline.detect.model import build_model, detection_loss, render_targets

ARCH = ArchSpec(widths=(8, 8, 8, 8, 8), decoder_width=8, out_stride=2)
CHIP = 32
BATCH = 4  # global batch
LR = 0.05


def make_batch(seed: list[int], n: int):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(n, ARCH.in_channels, CHIP, CHIP)).astype(np.float32))
    targets = []
    for _ in range(n):
        cx, cy = rng.uniform(4, CHIP - 4, 2)
        box = Box(float(cx), float(cy), 8.0, 2.0, float(rng.uniform(0, 3.1)), "tanker")
        targets.append(render_targets([box], CHIP // 2, CHIP // 2, ARCH.out_stride))
    return x, {k: torch.stack([t[k] for t in targets]) for k in targets[0]}


def train_step(model, opt, x, tgt) -> float:
    loss = detection_loss(model(x), tgt)["total"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def main(out: Path, steps: int) -> None:
    from safetensors.torch import save_file

    from pipeline.fsutil import atomic_path, atomic_write_text

    torch.set_num_threads(1)
    dist = D.setup("cpu", timeout_s=120)
    torch.manual_seed(dist.rank)  # a different init per rank: DDP must broadcast rank 0's
    model = D.wrap(build_model(ARCH).train(), dist)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for step in range(steps):
        x, tgt = make_batch(D.batch_seed(0, step, dist), D.per_rank_batch(BATCH, dist))
        losses.append(D.mean_across(train_step(model, opt, x, tgt), dist))
    params = {k: v.detach().contiguous() for k, v in D.unwrap(model).named_parameters()}
    with atomic_path(out / f"rank{dist.rank}.safetensors") as tmp:
        save_file(params, str(tmp))
    if dist.is_main:
        info = {"world_size": dist.world_size, "backend": dist.backend, "losses": losses}
        atomic_write_text(out / "main.json", json.dumps(info))
    D.barrier(dist)
    D.teardown(dist)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
