"""Numeric precision of detector inference: fp32, or bf16 / fp16 autocast, with channels_last.

``auto`` picks bf16 on CPUs that compute it natively (Intel AMX or AVX-512 BF16, read from the
CPU flags at run time), fp32 on other CPUs (emulated bf16 is slower than fp32 there), and on
CUDA bf16 where the GPU supports it, else fp16. Autocast keeps the reductions and the heads'
sigmoid/exp in fp32 where torch's autocast lists say so; the decode always runs in fp32.
channels_last (NHWC) is used on every path: oneDNN's convolutions are faster in it, in fp32 too.

The choice is the bundle's (``inference.precision`` in model.yaml), overridable per run
(``--precision`` of detect / evaluate, ``TANKERWATCH_PRECISION``). The accuracy parity of bf16
with fp32 is measured in benchmarks/detect_parity.py (BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ENV_VAR = "TANKERWATCH_PRECISION"
# CPU flags (Linux /proc/cpuinfo names) of native bf16 / fp16 arithmetic
NATIVE_FLAGS = {"bf16": ("amx_bf16", "avx512_bf16"), "fp16": ("amx_fp16", "avx512_fp16")}


@dataclass(frozen=True)
class Precision:
    """What a forward pass runs in: ``name`` fp32 | bf16 | fp16 on ``device_type``."""

    name: str
    device_type: str
    reason: str = ""

    @property
    def dtype(self):
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self):
        """Context for the forward pass (a no-op for fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype)


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist: not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native(
    name: str = "bf16", flags: frozenset[str] | None = None, machine: str | None = None
) -> bool:
    """Whether this CPU computes ``name`` (bf16 | fp16) natively (x86 AMX / AVX-512 only)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        # oneDNN's reduced-precision kernels elsewhere (Arm BF16) are not measured here
        return False
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in NATIVE_FLAGS.get(name, ()))


def resolve_precision(
    requested: str | None,
    device: str = "cpu",
    *,
    flags: frozenset[str] | None = None,
    machine: str | None = None,
    cuda_bf16: bool | None = None,
    env: bool = True,
) -> Precision:
    """The precision to run: ``requested`` (auto | fp32 | bf16 | fp16; None = auto) resolved
    for ``device`` ("cpu", "cuda", "cuda:1"). ``TANKERWATCH_PRECISION`` overrides ``auto``
    (unless ``env`` is False: training reads its precision from its config alone)."""
    req = (requested or "auto").lower()
    if req == "auto" and env and os.environ.get(ENV_VAR):
        req = os.environ[ENV_VAR].strip().lower()
    if req not in PRECISIONS:
        raise TankerWatchError(f"precision '{req}': unknown (use one of {', '.join(PRECISIONS)})")
    device_type = str(device).split(":")[0]
    if device_type == "cuda":
        if req == "auto":
            if cuda_bf16 is None:
                import torch

                cuda_bf16 = torch.cuda.is_bf16_supported()
            req = "bf16" if cuda_bf16 else "fp16"
            return Precision(req, "cuda", "auto: CUDA")
        return Precision(req, "cuda", "requested")
    if device_type != "cpu":
        return Precision("fp32" if req == "auto" else req, device_type, "requested")
    if req == "auto":
        if cpu_has_native("bf16", flags, machine):
            return Precision("bf16", "cpu", "auto: CPU has native bf16 (AMX / AVX-512 BF16)")
        return Precision("fp32", "cpu", "auto: no native bf16 on this CPU")
    if req in ("bf16", "fp16") and not cpu_has_native(req, flags, machine):
        log.warning("precision %s requested on a CPU without native %s: emulated, slow", req, req)
    return Precision(req, "cpu", "requested")
