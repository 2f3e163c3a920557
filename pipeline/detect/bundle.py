"""Detector bundles: models/<name>/{weights.safetensors, model.yaml, card.md, metrics.json}.

Loading never unpickles: weights come from safetensors, settings from YAML validated by
pydantic. A bundle whose files disagree (checksum, tensor names or shapes, bands vs input
channels) is refused with one line naming the file.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.bands import SAR_BANDS
from pipeline.config import REPO_ROOT, _format_validation_error, read_yaml
from pipeline.detect.detector import CLASSICAL, Detector
from pipeline.detect.hull import LengthSpec
from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path, atomic_write_text, ensure_dir

MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL = "tw-centernet-s2"
BUNDLE_FORMAT = "tankerwatch-detector/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchSpec(_Strict):
    """The network, in model.yaml and the training config; ``build()`` makes it (untrained)."""

    kind: Literal["centernet"] = "centernet"
    backbone: Literal["compact", "resnet18"] = "compact"
    in_channels: int = Field(4, ge=1, le=16)
    widths: list[int] = Field(default_factory=lambda: [16, 32, 48, 64, 96])
    decoder_width: int = Field(32, ge=4)
    out_stride: Literal[1, 2, 4] = 2

    def build(self):
        from pipeline.detect.model import build_model

        return build_model(self)


class ReflectanceNorm(_Strict):
    """Optical input: reflectance (DN scaled and offset-corrected when read), a fixed log
    stretch (:func:`pipeline.detect.raster.normalise`)."""

    method: Literal["log1p-reflectance"] = "log1p-reflectance"
    dn_scale: float = 10000.0
    dn_offset: Literal["auto"] = "auto"


class SarDbNorm(_Strict):
    """SAR input: calibrated backscatter as linear power (sigma0 or gamma0), to dB, clipped to
    [db_min, db_max] and scaled to [-1, 1]; nodata and non-positive values read -1
    (:func:`pipeline.detect.raster.normalise_sar_db`)."""

    method: Literal["sar-db"]
    db_min: float = -35.0
    db_max: float = 10.0

    @model_validator(mode="after")
    def _range(self):
        if not self.db_max > self.db_min:
            raise ValueError(f"db_max ({self.db_max}) must exceed db_min ({self.db_min})")
        return self


# the bundle's input normalisation, by ``method`` (a model.yaml without it is optical)
NormSpec = Annotated[ReflectanceNorm | SarDbNorm, Field(discriminator="method")]


def normalise_input(norm, refl: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """The network's input from what the scene reader returns, as ``norm`` (a NormSpec) says."""
    from pipeline.detect.raster import normalise, normalise_sar_db

    if norm.method == "sar-db":
        return normalise_sar_db(refl, valid, norm.db_min, norm.db_max)
    return normalise(refl, valid)


class Calibration(_Strict):
    """Corrections measured after training on data it did not train on, applied at decode."""

    length_bias_m: float = Field(
        0.0,
        description="bias of the length relation detected = gain x true + bias (m) on the "
        "calibration data; decode reports (detected - bias) / gain",
    )
    length_gain: float = Field(1.0, gt=0.2, lt=5.0)
    measured_on: str = Field("", description="what the bias was measured on")
    n_pairs: int = Field(0, ge=0, description="matched detections it was measured from")


class Thresholds(_Strict):
    score: float = Field(0.3, gt=0, lt=1)
    nms_radius_m: float = Field(40.0, gt=0)
    min_length_m: float = Field(15.0, ge=0)
    tanker_p: float = Field(0.5, gt=0, lt=1)
    berth_score: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="peaks down to this score are kept where they are centred in the zone of an "
        "oil berth (the runner hands detect_scene the port's load and discharge berths): a "
        "tanker moored alongside scores lower than a ship in open water, and port calls test "
        "every sighting there (alongside, size, persistence). None: the score threshold "
        "everywhere. Chosen on the tuning chain runs (BENCHMARKS.md)",
    )


class InferenceSpec(_Strict):
    tile: int = Field(512, ge=64)
    overlap: int = Field(96, ge=0)
    tta: bool = Field(False, description="average the heatmap over the four flips (4x cost)")
    tta_min_score: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="flip-average only around cells whose unflipped heat reaches this "
        "(0: the whole tile); 0.2 left every detection of the yardsticks unchanged",
    )
    tta_max_score: float = Field(
        1.0,
        gt=0,
        le=1,
        description="flip-average only around unflipped peaks below this (those at or above it "
        "keep the unflipped heat and sizes; 1: every candidate is flipped)",
    )
    tta_flips: int = Field(
        3, ge=1, le=3, description="flipped passes averaged with the plain one (3: all four views)"
    )
    tta_context_px: int | None = Field(
        None,
        ge=0,
        description="context around each flipped crop, px (None: the network's receptive "
        "field, which reproduces flipping the whole window exactly; less is an approximation)",
    )
    tta_block_px: int | None = Field(
        None,
        ge=1,
        description="the blocks flipped crops' cores are made of, px (None: 4 x the network's "
        "deepest stride)",
    )
    min_water_px: int = Field(
        16,
        ge=0,
        description="windows with fewer water pixels (NDWI > 0) are not detected on (0: all)",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 on CPUs with AMX / AVX-512 BF16 and on CUDA (fp16 where the GPU "
        "lacks bf16), fp32 elsewhere",
    )

    @model_validator(mode="after")
    def _overlap(self):
        if self.overlap >= self.tile:
            raise ValueError("overlap must be smaller than tile")
        return self


class WeightsSpec(_Strict):
    file: str = "weights.safetensors"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tensors: int = Field(ge=1)


class ModelSpec(_Strict):
    format: Literal["tankerwatch-detector/1"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    architecture: ArchSpec
    bands: list[str] = Field(min_length=1)
    gsd_m: float = Field(gt=0)
    normalisation: NormSpec = Field(default_factory=ReflectanceNorm)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    calibration: Calibration = Field(default_factory=Calibration)
    inference: InferenceSpec = Field(default_factory=InferenceSpec)
    length: LengthSpec = Field(
        default_factory=LengthSpec,
        description="length and beam: the network's regression, or measured from the hull's "
        "pixels (pipeline.detect.hull)",
    )
    classes: list[str] = Field(default_factory=lambda: ["tanker", "other"])
    class_head_trained: bool = False
    weights: WeightsSpec
    trained: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bands_match(self):
        if len(self.bands) != self.architecture.in_channels:
            raise ValueError(
                f"{len(self.bands)} bands but architecture.in_channels is "
                f"{self.architecture.in_channels}"
            )
        check_norm_bands(self.normalisation, self.bands)
        if self.length.mode != "regression":
            from pipeline.bands import canonical_band

            names = {canonical_band(b) for b in self.bands}
            if self.normalisation.method == "sar-db" or not {"B03", "B08"} <= names:
                raise ValueError(
                    f"length mode {self.length.mode} measures hulls in B08 against NDWI water: "
                    f"it needs bands B03 and B08 (bands: {self.bands})"
                )
        return self


def check_norm_bands(norm, bands: list[str]) -> None:
    """SAR normalisation takes SAR polarisations only, and optical none of them."""
    sar = [b for b in bands if b.upper() in SAR_BANDS]
    if norm.method == "sar-db" and len(sar) != len(bands):
        other = [b for b in bands if b.upper() not in SAR_BANDS]
        raise ValueError(
            f"normalisation sar-db needs SAR bands ({'/'.join(SAR_BANDS)}), not {other}"
        )
    if norm.method != "sar-db" and sar:
        raise ValueError(f"bands {sar} are SAR polarisations: use normalisation method sar-db")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_model_id(spec: ModelSpec) -> str:
    """What the ledger records as a bundle's "model": name and weights (the name alone would
    let a retrained bundle under the same name pass for the old one: no re-detection, no new
    run), and, where lengths are measured from the hull, that setting (the same weights then
    give other lengths)."""
    base = f"{spec.name}@{spec.weights.sha256[:12]}"
    length = spec.length
    if length.mode == "regression":
        return base
    digest = hashlib.sha256(length.model_dump_json(exclude={"measured_on"}).encode()).hexdigest()
    return f"{base}+{length.mode}-{digest[:8]}"


# --------------------------------------------------------------------------- detectors


class LearnedDetector:
    """A loaded bundle, a :class:`pipeline.detect.detector.Detector`: ``detect_array(refl,
    valid)`` -> pixel-space detections (model grid)."""

    kind = "learned"

    def __init__(
        self,
        spec: ModelSpec,
        model,
        path: Path | None = None,
        device: str = "cpu",
        precision: str | None = None,
    ):
        import torch

        from pipeline.detect.model import fuse_for_inference
        from pipeline.detect.precision import resolve_precision

        self.spec = spec
        # the network as inference runs it: batch norms folded into the convolutions (a copy:
        # the caller's model is left alone), channels_last
        self.model = fuse_for_inference(model).to(memory_format=torch.channels_last)
        self.path = path
        self.device = device
        self.precision = resolve_precision(precision or spec.inference.precision, device)

    name = property(lambda self: self.spec.name)
    model_id = property(lambda self: bundle_model_id(self.spec))

    length_spec = property(lambda self: self.spec.length)
    bands = property(lambda self: list(self.spec.bands))
    gsd_m = property(lambda self: self.spec.gsd_m)
    tile = property(lambda self: self.spec.inference.tile)
    overlap = property(lambda self: self.spec.inference.overlap)
    min_water_px = property(lambda self: self.spec.inference.min_water_px)
    nms_radius_m = property(lambda self: self.spec.thresholds.nms_radius_m)
    score_threshold = property(lambda self: self.spec.thresholds.score)
    berth_score = property(lambda self: self.spec.thresholds.berth_score)

    def with_score(self, score: float) -> LearnedDetector:
        """This detector (the same network, shared) reporting every peak down to ``score``."""
        import copy

        other = copy.copy(self)
        th = self.spec.thresholds.model_copy(update={"score": score})
        other.spec = self.spec.model_copy(update={"thresholds": th})
        return other

    def prepare(self, refl: np.ndarray, valid: np.ndarray):
        """The network's input tensor [1, bands, h', w'] (normalised, padded to a multiple of
        the deepest stride, channels_last, on the device)."""
        import torch

        _, h, w = refl.shape
        align = getattr(self.model, "deepest_stride", 16)
        ph, pw = (-h) % align, (-w) % align
        x = normalise_input(self.spec.normalisation, refl, valid)
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), constant_values=-1.0)
        # channels_last made by numpy (HWC memory viewed as NCHW): no torch op, so the reader
        # thread this runs in starts no OpenMP team of its own
        hwc = np.ascontiguousarray(x.transpose(1, 2, 0))
        x = torch.from_numpy(hwc).permute(2, 0, 1)[None]
        return x.to(self.device, memory_format=torch.channels_last)

    def forward(self, x) -> dict:
        """The network's outputs (fp32, on the CPU) for a prepared input: every pass the
        detection makes (flip averaging included), in the detector's precision."""
        import torch

        from pipeline.detect.model import predict

        inf = self.spec.inference
        with torch.inference_mode(), self.precision.autocast():
            out = predict(
                self.model,
                x,
                inf.tta,
                inf.tta_min_score,
                inf.tta_max_score,
                inf.tta_flips,
                inf.tta_context_px,
                inf.tta_block_px,
            )
        return {k: v.float().cpu() for k, v in out.items()}

    def detect_array(self, refl: np.ndarray, valid: np.ndarray) -> list[dict]:
        """Detections in a reflectance array [bands, h, w] on the model grid (pixel units)."""
        return self.detect_prepared(self.prepare(refl, valid), valid)

    def detect_prepared(self, x, valid: np.ndarray) -> list[dict]:
        """detect_array on an input already made by ``prepare`` (the tiling loop prepares the
        next windows in its reader thread); ``valid`` is the window's [h, w] mask."""
        from pipeline.detect.model import decode

        s = self.spec.architecture.out_stride
        h, w = valid.shape
        out = self.forward(x)
        # room for every peak of a large tile (500 per 512 px tile, as before)
        max_det = max(500, 500 * h * w // (512 * 512))
        dets = decode(out, s, self.spec.thresholds.score, max_det=max_det)[0]
        keep = []
        min_len_px = self.spec.thresholds.min_length_m / self.gsd_m
        bias_px = self.spec.calibration.length_bias_m / self.gsd_m
        gain = self.spec.calibration.length_gain
        for d in dets:
            if (
                bias_px or gain != 1.0
            ):  # the measured length relation, inverted before the size rule
                d["length"] = max(1.0, (d["length"] - bias_px) / gain)
            if not (0 <= d["cx"] < w and 0 <= d["cy"] < h):
                continue
            if d["length"] < min_len_px:
                continue
            ix, iy = min(w - 1, int(d["cx"])), min(h - 1, int(d["cy"]))
            if not valid[iy, ix]:
                continue
            if self.spec.class_head_trained:
                d["cls"] = "tanker" if d["p_tanker"] >= self.spec.thresholds.tanker_p else "other"
            else:
                d["cls"] = "vessel"
            keep.append(d)
        return keep


def _device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_bundle_dir(name_or_path: str | Path | None) -> Path:
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if p.name == "model.yaml" and p.exists():
        return p.parent
    cand = MODELS_DIR / str(name_or_path)
    if cand.is_dir():
        return cand
    known = sorted(x.name for x in MODELS_DIR.glob("*/model.yaml") for x in [x.parent])
    raise TankerWatchError(
        f"model '{name_or_path}' not found (a folder with model.yaml; known: "
        f"{', '.join(known + sorted(CLASSICAL))})"
    )


def read_spec(folder: Path) -> ModelSpec:
    yml = folder / "model.yaml"
    if not yml.exists():
        raise TankerWatchError(f"{yml}: file not found (not a detector bundle)")
    data = read_yaml(yml)
    if data is None:
        raise TankerWatchError(f"{yml}: file is empty")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise TankerWatchError(_format_validation_error(yml, exc)) from None


def load_detector(
    name_or_path: str | Path | None = None, device: str = "auto", precision: str | None = None
) -> Detector:
    """Load a detector: None -> the released default (DEFAULT_MODEL), a name of
    ``pipeline.detect.detector.CLASSICAL`` ("baseline") -> that classical detector, else a
    bundle name under models/ or a bundle folder. ``precision`` (auto | fp32 | bf16 | fp16)
    overrides a bundle's ``inference.precision``."""
    if name_or_path is not None and str(name_or_path) in CLASSICAL:
        return CLASSICAL[str(name_or_path)]()
    folder = resolve_bundle_dir(name_or_path)
    spec = read_spec(folder)
    wfile = folder / spec.weights.file
    if not wfile.exists():
        raise TankerWatchError(f"{wfile}: weights file not found")
    digest = sha256_file(wfile)
    if digest != spec.weights.sha256:
        raise TankerWatchError(
            f"{wfile}: checksum {digest[:12]}... does not match model.yaml "
            f"({spec.weights.sha256[:12]}...)"
        )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(wfile))
    except (SafetensorError, OSError, ValueError) as exc:
        raise TankerWatchError(f"{wfile}: not a readable safetensors file ({exc})") from None
    model = spec.architecture.build()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise TankerWatchError(
            f"{wfile}: tensors disagree with the architecture in model.yaml ({what}; "
            f"{len(missing)} missing, {len(extra)} unexpected)"
        )
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise TankerWatchError(
                f"{wfile}: tensor {k} has shape {tuple(state[k].shape)}, model.yaml's "
                f"architecture needs {tuple(v.shape)}"
            )
    model.load_state_dict(state, strict=True)
    dev = _device(device)
    return LearnedDetector(spec, model.to(dev), folder, dev, precision)


def save_bundle(
    folder: Path | str,
    model,
    spec_fields: dict,
    card_md: str | None = None,
    metrics: dict | None = None,
) -> ModelSpec:
    """Write weights (safetensors) then model.yaml with their checksum; atomic per file."""
    import json

    import yaml
    from safetensors.torch import save_file

    folder = ensure_dir(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    wfile = folder / "weights.safetensors"
    with atomic_path(wfile) as tmp:
        save_file(state, str(tmp), metadata={"format": BUNDLE_FORMAT})
    fields = dict(spec_fields)
    fields["format"] = BUNDLE_FORMAT
    fields["weights"] = {
        "file": wfile.name,
        "sha256": sha256_file(wfile),
        "tensors": len(state),
    }
    spec = ModelSpec.model_validate(fields)
    atomic_write_text(
        folder / "model.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
    )
    if card_md is not None:
        atomic_write_text(folder / "card.md", card_md)
    if metrics is not None:
        atomic_write_text(folder / "metrics.json", json.dumps(_clean(metrics), indent=2) + "\n")
    return spec


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
