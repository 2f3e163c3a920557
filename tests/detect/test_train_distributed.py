"""`tankerwatch train` under torchrun: two CPU processes (gloo) train one bundle together."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import yaml
from safetensors.torch import load_file

from detect.test_train import dataset, write_config  # noqa: F401  (fixture and helper)
from pipeline.detect.bundle import load_detector


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_write_one_bundle(tmp_path, dataset):  # noqa: F811
    cfg = write_config(tmp_path, dataset, steps=4, batch_size=2)
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "pipeline.cli", "train", "--config", str(cfg), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    det = load_detector(out)  # rank 0 wrote a complete, loadable bundle
    assert det.name == "tiny-test"
    state = yaml.safe_load((out / "checkpoint" / "state.yaml").read_text())
    assert state["step"] == 4
    weights = load_file(out / "weights.safetensors")
    assert weights and all(t.isfinite().all() for t in weights.values())
