"""Training data: scenes in the dataset layout, warped once to the model grid (local UTM at the
model GSD) and sampled as augmented chips.

Copy-paste (pipeline.detect.paste) puts labelled ships cut from the training scenes onto open
water of other chips. Geometric augmentation runs through torchvision.transforms.v2 on a
``tv_tensors.Image`` with the vessels as oriented ``tv_tensors.BoundingBoxes`` (XYXYXYXY), so
flips, arbitrary rotations and scale move the boxes with the pixels; lengths are re-measured from
the moved corners. Radiometric
augmentation (per-band gain, brightness, haze, sun glint, noise, the +1000 DN offset) acts on
reflectance before normalisation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipeline.detect.geometry import (
    Box,
    box_from_corners,
    labels_to_pixel_boxes,
    read_labels,
)
from pipeline.detect.raster import read_full
from pipeline.detect.train_config import AugmentSpec
from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)


def scene_dirs(root: Path | str) -> list[Path]:
    """Scene folders of a dataset: <root>/<scene>/scene.tif or <root>/scenes/<scene>/scene.tif."""
    root = Path(root)
    if not root.is_dir():
        raise TankerWatchError(f"{root}: dataset folder not found")
    base = root / "scenes" if (root / "scenes").is_dir() else root
    dirs = sorted(p.parent for p in base.glob("*/scene.tif"))
    if not dirs:
        raise TankerWatchError(f"{root}: no <scene>/scene.tif found (dataset layout)")
    return dirs


@dataclass
class SceneData:
    name: str
    refl: np.ndarray  # [bands, h, w] reflectance on the model grid
    valid: np.ndarray
    boxes: list[Box]
    weight: float = 1.0
    source: str = "real"
    mask: np.ndarray | None = None  # [h, w] uint8: 1 on labelled ship footprints
    water: np.ndarray | None = None  # [h, w] bool, for copy-paste (set by prepare_paste)


def load_scene(folder: Path, bands: list[str], gsd_m: float, source: str = "real") -> SceneData:
    from rasterio.features import rasterize

    from pipeline.detect.geometry import to_crs

    refl, valid, crs, transform = read_full(folder / "scene.tif", bands, gsd_m)
    labels = read_labels(folder / "labels.geojson")
    boxes = labels_to_pixel_boxes(labels, crs, transform)
    mask = np.zeros(valid.shape, np.uint8)
    if labels:
        shapes = [(to_crs(lab["geometry"], "EPSG:4326", crs), 1) for lab in labels]
        mask = rasterize(shapes, out_shape=valid.shape, transform=transform, dtype="uint8")
    return SceneData(folder.name, refl, valid, boxes, source=source, mask=mask)


def prepare_paste(scenes: list[SceneData], bands: list[str]) -> list:
    """Water masks of the scenes (from B08) and the ship cut-outs of the real ones."""
    from pipeline.detect.paste import cut_ships, water_mask

    if "B08" not in bands:
        raise TankerWatchError("copy-paste augmentation needs band B08 (its water mask)")
    nir = bands.index("B08")
    bank = []
    for s in scenes:
        s.water = water_mask(s.refl[nir], s.valid)
        if s.source == "real" and s.mask is not None:
            bank += cut_ships(s.refl, s.mask, s.water)
    return bank


@dataclass
class ChipSampler:
    """Random chips from in-memory scenes; ``positive_p`` of them centred near a vessel.
    With ``augment.paste_p`` > 0 and a ship ``bank`` (prepare_paste), that share of the chips
    gets 1 + Poisson(1) ships pasted onto its open water."""

    scenes: list[SceneData]
    chip: int = 128
    stride: int = 2
    positive_p: float = 0.7
    augment: AugmentSpec | None = field(default_factory=AugmentSpec)
    bank: list = field(default_factory=list)
    norm: object = None  # the bundle's NormSpec (None: optical reflectance)

    def __post_init__(self) -> None:
        w = np.array([max(s.weight, 1e-6) for s in self.scenes], dtype=np.float64)
        self.p = w / w.sum()

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
        from pipeline.detect.model import render_targets

        s = self.scenes[rng.choice(len(self.scenes), p=self.p)]
        pad = int(self.chip * 0.45) if self.augment and self.augment.rotate else 0
        size = self.chip + 2 * pad
        _, H, W = s.refl.shape
        if s.boxes and rng.random() < self.positive_p:
            b = s.boxes[rng.integers(len(s.boxes))]
            cx = b.cx + rng.uniform(-0.35, 0.35) * self.chip
            cy = b.cy + rng.uniform(-0.35, 0.35) * self.chip
        else:
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        x0, y0 = int(round(cx - size / 2)), int(round(cy - size / 2))
        refl, valid = _crop(s.refl, s.valid, x0, y0, size)
        boxes = [
            Box(b.cx - x0, b.cy - y0, b.length, b.beam, b.angle, b.cls)
            for b in s.boxes
            if -b.length < b.cx - x0 < size + b.length and -b.length < b.cy - y0 < size + b.length
        ]
        a = self.augment
        if a and a.paste_p and self.bank and s.water is not None and rng.random() < a.paste_p:
            boxes += self._paste(s, refl, x0, y0, size, rng)
        from pipeline.detect.bundle import ReflectanceNorm, normalise_input

        norm = self.norm or ReflectanceNorm()
        if self.augment:
            refl = radiometric(refl, valid, rng, self.augment, sar=norm.method == "sar-db")
        x = torch.from_numpy(normalise_input(norm, refl, valid))
        if self.augment:
            x, boxes = geometric(x, boxes, rng, self.augment)
        if pad:
            x = x[:, pad : pad + self.chip, pad : pad + self.chip]
            boxes = [Box(b.cx - pad, b.cy - pad, b.length, b.beam, b.angle, b.cls) for b in boxes]
        x = x.contiguous()
        n = self.chip // self.stride
        return x, render_targets(boxes, n, n, self.stride)

    def _paste(self, s: SceneData, refl, x0: int, y0: int, size: int, rng) -> list[Box]:
        from pipeline.detect.geometry import box_from_polygon
        from pipeline.detect.paste import paste_ship

        mask = _crop(s.mask[None].astype(np.float32), s.valid, x0, y0, size)[0][0] > 0
        water = _crop(s.water[None].astype(np.float32), s.valid, x0, y0, size)[0][0] > 0
        out = []
        for _ in range(1 + int(rng.poisson(1.0))):
            ship = self.bank[int(rng.integers(len(self.bank)))]
            poly = paste_ship(refl, mask, water, ship, rng, self.augment.paste_scale)
            if poly is not None:
                out.append(box_from_polygon(poly, "vessel"))
        return out

    def batch(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, dict]:
        xs, ts = zip(*(self.sample(rng) for _ in range(n)), strict=True)
        return torch.stack(xs), {k: torch.stack([t[k] for t in ts]) for k in ts[0]}


def _crop(refl: np.ndarray, valid: np.ndarray, x0: int, y0: int, size: int):
    b, H, W = refl.shape
    out = np.zeros((b, size, size), np.float32)
    ov = np.zeros((size, size), bool)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(W, x0 + size), min(H, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = refl[:, sy0:sy1, sx0:sx1]
        ov[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = valid[sy0:sy1, sx0:sx1]
    return out, ov


def radiometric(
    refl: np.ndarray,
    valid: np.ndarray,
    rng: np.random.Generator,
    a: AugmentSpec,
    sar: bool = False,
) -> np.ndarray:
    """Gain, per-band gain, haze (a smooth additive veil), sensor noise, residual DN offset.
    ``sar`` (linear backscatter): the gains alone (calibration and incidence offsets in dB)."""
    nb, h, w = refl.shape
    out = refl * rng.uniform(*a.gain)
    out = out * (1 + rng.uniform(-a.band_gain, a.band_gain, size=(nb, 1, 1)))
    if sar:
        out = out.astype(np.float32)
        out[:, ~valid] = 0.0
        return out
    if a.haze and rng.random() < 0.5:
        coarse = rng.uniform(0, a.haze, size=(1, 4, 4)).astype(np.float32)
        veil = torch.nn.functional.interpolate(
            torch.from_numpy(coarse)[None], size=(h, w), mode="bilinear", align_corners=False
        )[0].numpy()
        spectral = np.linspace(1.0, 0.6, nb).reshape(nb, 1, 1)  # haze is bluer
        out = out + veil * spectral
    if a.glint and rng.random() < 0.5:
        # sun glint and thin cloud: spectrally flat, smooth in space (sen2ships Algiers and
        # Busan water reads 3,000-3,900 DN in every band, Durban's 100-1,500)
        coarse = rng.uniform(0, a.glint, size=(1, 3, 3)).astype(np.float32)
        veil = torch.nn.functional.interpolate(
            torch.from_numpy(coarse)[None], size=(h, w), mode="bilinear", align_corners=False
        )[0].numpy()
        out = out + veil * (1 + rng.uniform(-0.1, 0.1, size=(nb, 1, 1)))
    if a.noise:
        out = out + rng.normal(0, rng.uniform(0, a.noise), size=out.shape)
    if a.dn_offset_p and rng.random() < a.dn_offset_p:
        out = out + 0.1  # a +1000 DN offset that was not removed
    out = out.astype(np.float32)
    out[:, ~valid] = 0.0
    return out


def geometric(
    x: torch.Tensor, boxes: list[Box], rng: np.random.Generator, a: AugmentSpec
) -> tuple[torch.Tensor, list[Box]]:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    size = x.shape[-1]
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
    ops = []
    if a.flips:
        ops += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    angle = float(rng.uniform(-180, 180)) if a.rotate else 0.0
    scale = float(rng.uniform(*a.scale)) if a.scale else 1.0
    ops.append(v2.RandomAffine(degrees=(angle, angle), scale=(scale, scale), fill=-1.0))
    img = tv_tensors.Image(x)
    if boxes:
        corners = torch.tensor(
            np.stack([b.corners().reshape(-1) for b in boxes]), dtype=torch.float32
        )
        bb = tv_tensors.BoundingBoxes(
            corners, format="XYXYXYXY", canvas_size=(size, size), clamping_mode=None
        )
        img, bb = v2.Compose(ops)(img, bb)
        out = [
            box_from_corners(c.reshape(4, 2).numpy(), b.cls)
            for c, b in zip(bb.as_subclass(torch.Tensor), boxes, strict=True)
        ]
    else:
        img = v2.Compose(ops)(img)
        out = []
    return img.as_subclass(torch.Tensor), out


def fixed_chips(sampler: ChipSampler, n: int, seed: int) -> list[tuple[torch.Tensor, dict]]:
    rng = np.random.default_rng(seed)
    return [sampler.sample(rng) for _ in range(n)]


def ship_count(scenes: list[SceneData]) -> int:
    return sum(len(s.boxes) for s in scenes)


def mean_len_m(scenes: list[SceneData], gsd_m: float) -> float:
    lens = [b.length * gsd_m for s in scenes for b in s.boxes]
    return float(np.mean(lens)) if lens else math.nan
