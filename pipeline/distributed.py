"""Data-parallel training plumbing for torchrun (DistributedDataParallel).

``torchrun --nproc-per-node N -m pipeline.cli train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. A training loop uses
this module as follows, and stays a plain single process when those variables are absent::

    dist = setup(device)                       # init_process_group: gloo on CPU, nccl on CUDA
    model = wrap(build_model(...).to(device_for(dist, device)), dist)
    rng = np.random.default_rng(batch_seed(cfg.seed, step, dist))  # each rank its own chips
    ...                                        # backward() all-reduces (averages) gradients
    if dist.is_main: save checkpoints and the bundle from unwrap(model)
    teardown(dist)

Every rank starts from the same weights (DDP broadcasts rank 0's parameters when wrapping) and
applies the same averaged gradient, so the replicas stay identical; a per-rank batch of
``per_rank_batch(batch_size, dist)`` keeps the global batch about the configured size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from pipeline.errors import TankerWatchError

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(environ: Mapping[str, str] | None = None) -> Dist:
    """The process's place in a torchrun job (rank 0 of 1 without torchrun); one-line errors."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return Dist()
    values = {}
    for name in ENV_VARS:
        raw = env.get(name, "0")
        try:
            values[name] = int(raw)
        except ValueError:
            raise TankerWatchError(
                f"environment variable {name}='{raw}' is not an integer (set by torchrun)"
            ) from None
    world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
    if world < 1:
        raise TankerWatchError(f"environment variable WORLD_SIZE={world} must be at least 1")
    if not 0 <= rank < world:
        raise TankerWatchError(f"environment variable RANK={rank} is outside 0..{world - 1}")
    if local < 0:
        raise TankerWatchError(f"environment variable LOCAL_RANK={local} must not be negative")
    return Dist(rank=rank, world_size=world, local_rank=local)


def setup(device: str = "cpu", timeout_s: float = 300.0) -> Dist:
    """Join the torchrun process group (a no-op for a single process). gloo on CPU, nccl on
    CUDA; a rendezvous that fails or times out is one TankerWatchError naming the address."""
    dist = from_env()
    if not dist.active:
        return dist
    import torch
    import torch.distributed as tdist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(dist.local_rank)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        tdist.init_process_group(
            backend,
            rank=dist.rank,
            world_size=dist.world_size,
            timeout=timedelta(seconds=timeout_s),
        )
    except (RuntimeError, ValueError, OSError) as exc:  # DistStoreError is a RuntimeError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise TankerWatchError(
            f"torchrun rendezvous at {where} failed for rank {dist.rank} of "
            f"{dist.world_size} ({first})"
        ) from None
    return replace(dist, backend=backend)


def device_for(dist: Dist, device: str) -> str:
    """This rank's device: its own GPU (``cuda:LOCAL_RANK``) under torchrun, else ``device``."""
    if device.startswith("cuda") and dist.active:
        return f"cuda:{dist.local_rank}"
    return device


def wrap(model: Any, dist: Dist) -> Any:
    """DistributedDataParallel around ``model`` (already on its device) when running under
    torchrun; the model itself otherwise."""
    if not dist.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist.local_rank] if dist.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: Any) -> Any:
    """The plain module (what checkpoints and bundles save)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def batch_seed(seed: int, step: int, dist: Dist) -> list[int]:
    """Seed of one step's batch: unchanged for a single process, one stream per rank else."""
    return [seed, step] if not dist.active else [seed, step, dist.rank]


def per_rank_batch(batch_size: int, dist: Dist) -> int:
    """Chips per rank so that the global batch is at least ``batch_size``."""
    return max(1, -(-batch_size // dist.world_size))


def mean_across(value: float, dist: Dist) -> float:
    """The mean of a scalar over the ranks (for logging a loss every rank agrees on)."""
    if not dist.active:
        return float(value)
    import torch
    import torch.distributed as tdist

    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.backend == "nccl":
        t = t.cuda()
    tdist.all_reduce(t)
    return float(t.item()) / dist.world_size


def barrier(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as tdist

        tdist.barrier()


def teardown(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as tdist

        if tdist.is_initialized():
            tdist.destroy_process_group()
