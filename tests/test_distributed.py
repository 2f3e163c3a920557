"""Data-parallel training plumbing (pipeline.distributed) on a real 2-process gloo job."""

from __future__ import annotations

import copy
import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import distributed as D
from pipeline.errors import TankerWatchError

HERE = Path(__file__).resolve().parent


def _worker():
    spec = importlib.util.spec_from_file_location(
        "distributed_worker", HERE / "distributed_worker.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_without_torchrun_is_unchanged(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    d = D.from_env({})
    assert not d.active and d.is_main and d.world_size == 1
    assert D.setup("cpu") == D.Dist()  # no process group, nothing to join
    assert D.batch_seed(7, 3, d) == [7, 3]  # single-process batches as before
    assert D.per_rank_batch(16, d) == 16
    model = object()
    assert D.wrap(model, d) is model
    assert D.mean_across(2.5, d) == 2.5


def test_env_of_a_torchrun_rank():
    d = D.from_env({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (d.rank, d.world_size, d.local_rank, d.active, d.is_main) == (2, 4, 0, True, False)
    assert D.batch_seed(7, 3, d) == [7, 3, 2]
    assert D.per_rank_batch(16, d) == 4 and D.per_rank_batch(6, d) == 2
    assert D.device_for(d, "cuda") == "cuda:0" and D.device_for(d, "cpu") == "cpu"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 is outside 0..1"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0 must be at least 1"),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "-1"}, "LOCAL_RANK=-1"),
    ],
)
def test_bad_torchrun_environment_is_one_line(env, needle):
    with pytest.raises(TankerWatchError, match=needle):
        D.from_env(env)


def test_rendezvous_nobody_joins_is_one_clear_error(monkeypatch):
    port = _free_port()
    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    with pytest.raises(TankerWatchError, match=f"rendezvous at 127.0.0.1:{port} failed for rank 0"):
        D.setup("cpu", timeout_s=2)


@pytest.mark.slow
def test_two_gloo_processes_stay_identical_and_match_averaged_gradients(tmp_path):
    import torch
    from safetensors.torch import load_file

    from pipeline.detect.model import build_model

    steps = 3
    res = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
            "--master-port", str(_free_port()),
            str(HERE / "distributed_worker.py"), str(tmp_path), str(steps),
        ],
        capture_output=True, text=True, timeout=300, cwd=HERE.parent,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads((tmp_path / "main.json").read_text())
    assert info["world_size"] == 2 and info["backend"] == "gloo"
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # the replicas never drift apart

    # The same steps in one process: rank 0's init, each rank's batch, averaged gradients.
    w = _worker()
    torch.manual_seed(0)
    ref = build_model(w.ARCH).train()
    losses = []
    for step in range(steps):
        grads, step_losses = [], []
        for rank in range(2):
            replica = copy.deepcopy(ref)
            dist = D.Dist(rank=rank, world_size=2)
            x, tgt = w.make_batch(D.batch_seed(0, step, dist), D.per_rank_batch(w.BATCH, dist))
            opt = torch.optim.SGD(replica.parameters(), lr=0.0)
            step_losses.append(w.train_step(replica, opt, x, tgt))
            grads.append([p.grad.clone() for p in replica.parameters()])
        with torch.no_grad():
            for i, p in enumerate(ref.parameters()):
                p -= w.LR * (grads[0][i] + grads[1][i]) / 2
        losses.append(sum(step_losses) / 2)
    for k, v in ref.named_parameters():
        assert torch.allclose(r0[k], v.detach(), atol=1e-5, rtol=1e-4), k
    assert info["losses"] == pytest.approx(losses, rel=1e-4)
    assert losses[0] != losses[-1]  # it did train
