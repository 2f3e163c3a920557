"""The training config (configs/train/*.yaml), validated by pydantic (unknown keys refused).

Registered with pipeline.config so `tankerwatch config check configs/train/x.yaml` validates it.
Dataset roots are resolved against the current folder first, then the repository root; the
environment variable TANKERWATCH_SEN2SHIPS overrides a root written as "sen2ships".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import REPO_ROOT, Strict, load_yaml_model
from pipeline.detect.bundle import (
    ArchSpec,
    InferenceSpec,
    NormSpec,
    ReflectanceNorm,
    Thresholds,
    check_norm_bands,
)
from pipeline.errors import TankerWatchError


class RealData(Strict):
    root: str = Field(description="dataset folder (<root>/<scene>/scene.tif + labels.geojson)")
    scenes: list[str] | None = Field(None, description="scene folders to use (default: all)")
    exclude: list[str] = Field(default_factory=list)
    weight: float = Field(1.0, gt=0, description="sampling weight of this source")

    def resolve_root(self) -> Path:
        return resolve_root(self.root)


class SimulatedData(Strict):
    """Simulated training chips (`tankerwatch simulate --chips`): read from ``root``, else from
    ``.cache/sim-chips/n<n>_s<seed>[_options]``, which `tankerwatch train` fills when missing."""

    n: int = Field(200, ge=1, description="number of simulated chips")
    seed: int = 0
    root: str | None = Field(None, description="existing chips folder; default: the chip cache")
    weight: float = Field(1.0, gt=0)
    options: dict = Field(
        default_factory=dict, description="extra chip options (pipeline.simulate.chips)"
    )

    def chips_dir(self) -> Path:
        if self.root:
            return resolve_root(self.root)
        opts = "_".join(f"{k}{v}" for k, v in sorted(self.options.items()))
        return (
            REPO_ROOT
            / ".cache"
            / "sim-chips"
            / f"n{self.n}_s{self.seed}{'_' + opts if opts else ''}"
        )

    def make_command(self) -> str:
        """The command that makes the default chip folder."""
        cmd = f"tankerwatch simulate --chips {self.n} --seed {self.seed}"
        for k, v in sorted(self.options.items()):
            if k == "sensors":
                cmd += f" --sensors {','.join(v)}"
            elif k == "sensor":
                cmd += f" --sensors {v}"
            elif k == "size_px":
                cmd += f" --chip-size {v}"
            elif k in ("port_p", "berth_p"):
                cmd += f" --{k.replace('_', '-')} {v}"
            else:
                cmd += f" (option {k}={v})"
        return f"{cmd} --out {self.chips_dir()}"


class HoldoutData(Strict):
    root: str
    scenes: list[str] | None = None
    label: str = "holdout"


class LengthCalibration(Strict):
    """Data measured on after training (never trained on), into the bundle's model.yaml:
    with ``score_thresholds``, the one of them with the best F1 on these data (labels and
    unmatched predictions >= ``min_length_m``; a tie goes to the higher) replaces
    ``thresholds.score``; then, over the matched detections at that threshold, the length
    relation detected = gain x true + bias (``fit_gain``; else gain 1 and bias the mean signed
    error) goes to ``calibration`` and decode inverts it."""

    simulated: SimulatedData
    min_length_m: float = Field(0.0, ge=0)
    score_thresholds: list[float] = Field(default_factory=list)
    fit_gain: bool = False

    @model_validator(mode="after")
    def _thresholds(self):
        if any(not 0 < t < 1 for t in self.score_thresholds):
            raise ValueError("score_thresholds must lie strictly between 0 and 1")
        return self


class AugmentSpec(Strict):
    """Augmentation of training chips (pipeline.detect.data.ChipSampler reads it as is). With
    SAR normalisation only the gains act (a gain is a dB offset of the backscatter); haze,
    glint, additive noise and the DN offset are optical and are not applied."""

    flips: bool = True
    rotate: bool = True
    scale: tuple[float, float] | None = Field((0.85, 1.15), description="None: no rescaling")
    gain: tuple[float, float] = (0.75, 1.3)
    band_gain: float = Field(0.1, ge=0, lt=1)
    haze: float = Field(0.08, ge=0)
    glint: float = Field(0.0, ge=0, description="max spectrally flat offset (reflectance)")
    noise: float = Field(0.01, ge=0)
    dn_offset_p: float = Field(0.1, ge=0, le=1)
    paste_p: float = Field(0.0, ge=0, le=1, description="share of chips with pasted ships")
    paste_scale: tuple[float, float] = (0.5, 1.1)


class TrainConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32",
        description=(
            "arithmetic of the forward pass: bf16 autocast over fp32 master weights, losses in "
            "fp32 (pipeline.detect.train.training_precision); auto = bf16 where the CPU computes "
            "it natively (AMX / AVX-512 BF16) or the GPU supports it, else fp32"
        ),
    )
    bands: list[str] = Field(default_factory=lambda: ["B02", "B03", "B04", "B08"])
    gsd_m: float = Field(10.0, gt=0)
    normalisation: NormSpec = Field(default_factory=ReflectanceNorm)
    architecture: ArchSpec = Field(default_factory=ArchSpec)
    init: str | None = Field(
        None,
        description=(
            "a detector bundle (name under models/ or folder) whose weights start the training "
            "(fine-tuning); its architecture, bands and grid must be this config's"
        ),
    )
    real: list[RealData] = Field(default_factory=list)
    simulated: SimulatedData | None = None
    holdout: list[HoldoutData] = Field(default_factory=list)
    length_calibration: LengthCalibration | None = None
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(16, ge=1)
    chip: int = Field(128, ge=32)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    ema: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="decay of the weights' moving average (0: off); the bundle keeps the average",
    )
    warmup_steps: int = Field(100, ge=0)
    positive_p: float = Field(0.7, ge=0, le=1)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    loss_weights: dict[str, float] = Field(default_factory=dict)
    checkpoint_every: int = Field(200, ge=1)
    threads: int = Field(0, ge=0, description="torch CPU threads (0: torch default)")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    inference: InferenceSpec = Field(default_factory=InferenceSpec)

    @model_validator(mode="after")
    def _check(self):
        if not self.real and self.simulated is None:
            raise ValueError("give training data: 'real' datasets and/or 'simulated' chips")
        if len(self.bands) != self.architecture.in_channels:
            raise ValueError(
                f"bands has {len(self.bands)} entries but architecture.in_channels is "
                f"{self.architecture.in_channels}"
            )
        if self.chip % 16:
            raise ValueError("chip must be a multiple of 16")
        check_norm_bands(self.normalisation, self.bands)
        cal = self.length_calibration
        if cal is not None and self.simulated is not None:
            if cal.simulated.chips_dir() == self.simulated.chips_dir():
                raise ValueError("length_calibration chips are the training chips")
            no_root = cal.simulated.root is None and self.simulated.root is None
            if no_root and cal.simulated.seed == self.simulated.seed:
                raise ValueError(
                    f"length_calibration seed {cal.simulated.seed} is the training chips' seed "
                    "(the first chips of the two sets would be the same)"
                )
        if self.augment.paste_p and "B08" not in self.bands:
            raise ValueError("augment.paste_p needs band B08 (the water mask for pasting)")
        for r in self.real:
            for h in self.holdout:
                if resolve_root_quiet(r.root) == resolve_root_quiet(h.root):
                    used = set(r.scenes or []) - set(r.exclude)
                    held = set(h.scenes or [])
                    if r.scenes is None:
                        overlap = held - set(r.exclude)
                    else:
                        overlap = used & held
                    if overlap or h.scenes is None:
                        raise ValueError(
                            f"holdout scenes also used for training: "
                            f"{', '.join(sorted(overlap)) or '(all)'}"
                        )
        return self


def resolve_root_quiet(root: str) -> str:
    try:
        return str(resolve_root(root).resolve())
    except TankerWatchError:
        return root


def resolve_root(root: str) -> Path:
    if root == "sen2ships" and os.environ.get("TANKERWATCH_SEN2SHIPS"):
        return Path(os.environ["TANKERWATCH_SEN2SHIPS"])
    p = Path(root)
    if p.is_absolute():
        return p
    for base in (Path.cwd(), REPO_ROOT):
        if (base / p).exists():
            return base / p
    if root == "sen2ships":
        cand = REPO_ROOT.parent / "shared" / "data" / "sen2ships"
        if cand.exists():
            return cand
    raise TankerWatchError(f"dataset root '{root}' not found (relative to . or {REPO_ROOT})")


def load_train_config(path: Path | str) -> TrainConfig:
    return load_yaml_model(TrainConfig, path)
