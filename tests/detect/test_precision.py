"""Inference precision: bf16 where the CPU computes it natively, fp32 elsewhere, fp16/bf16 on
CUDA; overrides; and the bf16 path's outputs against fp32 on one model."""

from __future__ import annotations

import pytest
import torch

from pipeline.detect.precision import (
    ENV_VAR,
    cpu_flags,
    cpu_has_native,
    resolve_precision,
)
from pipeline.errors import TankerWatchError

AMX = frozenset({"avx512f", "amx_tile", "amx_bf16", "amx_int8"})
AVX512_BF16 = frozenset({"avx512f", "avx512_bf16"})
PLAIN = frozenset({"avx2", "fma"})


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        (AMX, "x86_64", "bf16"),
        (AVX512_BF16, "x86_64", "bf16"),
        (PLAIN, "x86_64", "fp32"),
        (frozenset(), "x86_64", "fp32"),  # no /proc/cpuinfo: not Linux
        (AMX, "aarch64", "fp32"),  # only the x86 kernels are measured
    ],
)
def test_auto_on_cpu_follows_the_cpu_flags(flags, machine, expected):
    p = resolve_precision("auto", "cpu", flags=flags, machine=machine)
    assert p.name == expected and p.device_type == "cpu"
    assert resolve_precision(None, "cpu", flags=flags, machine=machine).name == expected


def test_auto_on_cuda_is_bf16_where_supported_else_fp16():
    assert resolve_precision("auto", "cuda", cuda_bf16=True).name == "bf16"
    assert resolve_precision("auto", "cuda:1", cuda_bf16=False).name == "fp16"
    assert resolve_precision("fp32", "cuda", cuda_bf16=True).name == "fp32"


def test_explicit_choice_wins_and_emulated_bf16_is_only_a_warning(caplog):
    assert resolve_precision("fp32", "cpu", flags=AMX, machine="x86_64").name == "fp32"
    with caplog.at_level("WARNING"):
        p = resolve_precision("bf16", "cpu", flags=PLAIN, machine="x86_64")
    assert p.name == "bf16" and "emulated" in caplog.text


def test_environment_overrides_auto_only(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "fp32")
    assert resolve_precision("auto", "cpu", flags=AMX, machine="x86_64").name == "fp32"
    assert resolve_precision("bf16", "cpu", flags=AMX, machine="x86_64").name == "bf16"
    monkeypatch.setenv(ENV_VAR, "fp8")
    with pytest.raises(TankerWatchError, match="precision 'fp8': unknown"):
        resolve_precision("auto", "cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16 amx_tile\n\n")
    flags = cpu_flags(str(info))
    assert {"avx512_bf16", "amx_tile"} <= flags
    assert cpu_has_native("bf16", flags, "x86_64")
    assert not cpu_has_native("fp16", flags, "x86_64")
    assert cpu_flags(str(tmp_path / "absent")) == frozenset()


def test_bf16_forward_is_close_to_fp32():
    from pipeline.detect.bundle import ArchSpec
    from pipeline.detect.model import build_model

    torch.manual_seed(0)
    model = build_model(ArchSpec(widths=(8, 16, 16, 16, 16), decoder_width=8)).eval()
    x = torch.randn(1, 4, 128, 128)
    fp32 = resolve_precision("fp32", "cpu")
    bf16 = resolve_precision("bf16", "cpu")
    with torch.inference_mode():
        with fp32.autocast():
            a = torch.sigmoid(model(x)["heat"])
        with bf16.autocast():
            b = model(x)["heat"]
        assert b.dtype == torch.bfloat16  # the path really ran in bf16
        b = torch.sigmoid(b.float())
    assert float((a - b).abs().max()) < 0.02
