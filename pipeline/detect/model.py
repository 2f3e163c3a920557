"""The learned vessel detector: a centre-point (CenterNet / xView3-style) heatmap head over a
compact convolutional backbone built from torchvision components, trained from scratch.

Outputs per cell of the output grid (stride 2 or 4 of the model grid): a vessel-centre heatmap,
the sub-cell centre offset, log length and log beam in model pixels, the long-axis orientation as
(sin 2a, cos 2a) (a ship's axis is symmetric under 180 deg) and a tanker-vs-other logit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import Conv2dNormActivation

if TYPE_CHECKING:
    from pipeline.detect.bundle import ArchSpec

HEADS = {"heat": 1, "cls": 1, "offset": 2, "size": 2, "angle": 2}


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        Conv2dNormActivation(cin, cout, 3, stride=stride),
        Conv2dNormActivation(cout, cout, 3),
    )


class CompactBackbone(nn.Module):
    """Five stages at strides 1, 2, 4, 8, 16 (Conv-BN-ReLU blocks from torchvision.ops)."""

    def __init__(self, in_ch: int, widths: tuple[int, ...]):
        super().__init__()
        chans = [in_ch, *widths]
        self.stages = nn.ModuleList(
            _block(chans[i], chans[i + 1], 1 if i == 0 else 2) for i in range(len(widths))
        )
        self.channels = list(widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class ResNet18Backbone(nn.Module):
    """torchvision ResNet-18 (random init) with a stride-1 stem so small hulls survive; stages at
    strides 1, 2, 4, 8, 16."""

    def __init__(self, in_ch: int, widths: tuple[int, ...]):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        self.stem = Conv2dNormActivation(in_ch, widths[0], 3)
        self.down = Conv2dNormActivation(widths[0], 64, 3, stride=2)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            nn.Identity(),
        )
        self.channels = [widths[0], 64, 128, 256]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s1 = self.stem(x)
        s2 = self.layer1(self.down(s1))
        s4 = self.layer2(s2)
        s8 = self.layer3(s4)
        return [s1, s2, s4, s8]


class CenterNet(nn.Module):
    def __init__(self, arch: ArchSpec):
        super().__init__()
        self.arch = arch
        if arch.backbone == "compact":
            self.backbone = CompactBackbone(arch.in_channels, tuple(arch.widths))
        elif arch.backbone == "resnet18":
            self.backbone = ResNet18Backbone(arch.in_channels, tuple(arch.widths))
        else:
            raise ValueError(f"unknown backbone '{arch.backbone}'")
        chans = self.backbone.channels
        # the coarsest feature map's stride: crops must align to it (see predict)
        self.deepest_stride = 2 ** (len(chans) - 1)
        d = arch.decoder_width
        self.out_level = int(round(math.log2(arch.out_stride)))
        self.lateral = nn.ModuleList(nn.Conv2d(c, d, 1) for c in chans[self.out_level :])
        self.smooth = nn.ModuleList(
            Conv2dNormActivation(d, d, 3) for _ in range(len(chans) - 1 - self.out_level)
        )
        # one shared 3x3 trunk, then a 1x1 conv per output (five 3x3 head convs at the output
        # resolution cost more than the whole backbone)
        self.head_trunk = Conv2dNormActivation(d, d, 3)
        self.heads = nn.ModuleDict({k: nn.Conv2d(d, n, 1) for k, n in HEADS.items()})
        nn.init.constant_(self.heads["heat"].bias, -2.19)
        # context a crop needs around the cells it must reproduce exactly (see predict): the
        # receptive-field radius with a 15 % margin, in whole deepest strides
        radius = self.receptive_radius()
        self.tta_context_px = -(-int(1.15 * radius) // self.deepest_stride) * self.deepest_stride

    def receptive_radius(self) -> int:
        """Input pixels an output cell sees on each side: the backbone's 3x3 convolutions (in
        order, each at the stride reached before it) plus the decoder's upsampling and 3x3
        convolutions (at most twice the deepest stride) and the head trunk."""
        radius, stride = 0, 1
        for m in self.backbone.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
                radius += (m.kernel_size[0] // 2) * m.dilation[0] * stride
                stride *= m.stride[0]
        return radius + 2 * self.deepest_stride + 2 * self.arch.out_stride

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone(x)
        y = self.lateral[-1](feats[-1])
        for i, level in enumerate(range(len(feats) - 2, self.out_level - 1, -1)):
            lat = self.lateral[level - self.out_level](feats[level])
            y = F.interpolate(y, size=lat.shape[-2:], mode="nearest") + lat
            y = self.smooth[i](y)
        y = self.head_trunk(y)
        return {k: head(y) for k, head in self.heads.items()}


def build_model(arch: ArchSpec) -> CenterNet:
    return CenterNet(arch)


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode model with every BatchNorm that directly follows a convolution
    inside a Sequential (torchvision's Conv2dNormActivation) folded into that convolution's
    weights and bias: the same function, one pass over memory less per layer (about 15 %
    faster here). Other modules are left as they are."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    for mod in model.modules():
        if not isinstance(mod, nn.Sequential):
            continue
        for i in range(len(mod) - 1):
            conv, bn = mod[i], mod[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                mod[i] = fuse_conv_bn_eval(conv, bn)
                mod[i + 1] = nn.Identity()
    return model


# --------------------------------------------------------------------------- targets and loss


def render_targets(boxes, out_h: int, out_w: int, stride: int) -> dict[str, torch.Tensor]:
    """Dense training targets for one chip from pixel-space boxes (model grid)."""
    heat = torch.zeros(1, out_h, out_w)
    reg_w = torch.zeros(1, out_h, out_w)
    offset = torch.zeros(2, out_h, out_w)
    size = torch.zeros(2, out_h, out_w)
    angle = torch.zeros(2, out_h, out_w)
    cls = torch.zeros(1, out_h, out_w)
    cls_w = torch.zeros(1, out_h, out_w)
    ys = torch.arange(out_h, dtype=torch.float32).view(-1, 1) + 0.5
    xs = torch.arange(out_w, dtype=torch.float32).view(1, -1) + 0.5
    for b in boxes:
        cx, cy = b.cx / stride, b.cy / stride
        if not (0 <= cx < out_w and 0 <= cy < out_h):
            continue
        ca, sa = math.cos(b.angle), math.sin(b.angle)
        dx, dy = xs - cx, ys - cy
        u = dx * ca + dy * sa
        v = -dx * sa + dy * ca
        su = max(0.7, b.length / stride / 6.0)
        sv = max(0.7, b.beam / stride / 6.0)
        g = torch.exp(-(u**2) / (2 * su**2) - v**2 / (2 * sv**2))
        j, i = int(cx), int(cy)
        g[i, j] = 1.0
        better = g > heat[0]
        heat[0] = torch.where(better, g, heat[0])
        m = better & (g >= 0.5)
        m[i, j] = True
        offset[0][m] = cx - (xs.expand_as(g)[m] - 0.5)
        offset[1][m] = cy - (ys.expand_as(g)[m] - 0.5)
        size[0][m] = math.log(max(b.length, 1.0))
        size[1][m] = math.log(max(b.beam, 1.0))
        angle[0][m] = math.sin(2 * b.angle)
        angle[1][m] = math.cos(2 * b.angle)
        reg_w[0][m] = g[m]
        if b.cls in ("tanker", "other"):
            cls[0][m] = 1.0 if b.cls == "tanker" else 0.0
            cls_w[0][m] = 1.0
    return {
        "heat": heat,
        "reg_w": reg_w,
        "offset": offset,
        "size": size,
        "angle": angle,
        "cls": cls,
        "cls_w": cls_w,
    }


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on a Gaussian heatmap."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p**2 * (1 - target) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return (pos_loss.sum() + neg_loss.sum()) / n


def detection_loss(out: dict, tgt: dict, weights: dict | None = None) -> dict[str, torch.Tensor]:
    w = {"heat": 1.0, "offset": 1.0, "size": 1.0, "angle": 0.5, "cls": 0.2, **(weights or {})}
    heat = focal_loss(out["heat"], tgt["heat"])
    rw = tgt["reg_w"]
    norm = rw.sum().clamp(min=1.0)

    def l1(name: str) -> torch.Tensor:
        return (F.l1_loss(out[name], tgt[name], reduction="none") * rw).sum() / norm

    ang_pred = torch.tanh(out["angle"])
    angle = (F.l1_loss(ang_pred, tgt["angle"], reduction="none") * rw).sum() / norm
    cw = tgt["cls_w"]
    cls = (
        F.binary_cross_entropy_with_logits(out["cls"], tgt["cls"], reduction="none") * cw
    ).sum() / cw.sum().clamp(min=1.0)
    parts = {"heat": heat, "offset": l1("offset"), "size": l1("size"), "angle": angle, "cls": cls}
    parts["total"] = sum(w[k] * v for k, v in parts.items())
    return parts


# Flip averaging on crops: a crop reproduces the full tile's outputs in its core when it is
# aligned to the network's deepest stride (the strided convolutions then sample the same pixels)
# and extends past the core by the receptive-field radius (CenterNet.tta_context_px: 96 px for
# the compact backbone, whose radius is 83 px). A bundle may ask for less context
# (inference.tta_context_px): the released ones use 48 px, which left every detection of the
# yardsticks as the exact crops give it for half the flipped pixels (BENCHMARKS.md).
TTA_FULL_SHARE = 0.6  # crops covering more than this share of the tile: flip the whole tile
CROP_BUCKET = 64  # crops grow to whole multiples of this (px) to run in batches of one shape
FLIPS = ((3,), (2,), (2, 3))
# fewer flips (``tta_flips``): the 180-degree turn first (it moves every pixel), then the mirrors
FLIPS_BY_PREFERENCE = ((2, 3), (3,), (2,))


@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    tta: bool = False,
    tta_min_score: float = 0.0,
    tta_max_score: float = 1.0,
    tta_flips: int = 3,
    tta_context_px: int | None = None,
    tta_block_px: int | None = None,
) -> dict[str, torch.Tensor]:
    """The model's outputs; with ``tta`` the vessel heatmap and the log length / beam are
    averaged over the four flips of the input (flips leave sizes unchanged; offsets, angle and
    class come from the unflipped pass).

    ``tta_min_score`` > 0 spends the three flipped passes only where they can change the answer:
    around cells whose unflipped heat reaches it (crops with enough context to give the same
    values as flipping the whole tile); elsewhere the unflipped pass stands.

    ``tta_max_score`` < 1 leaves out the candidates the unflipped pass is already sure of: only
    around unflipped peaks (3 x 3 maxima) with heat in [``tta_min_score``, ``tta_max_score``)
    are the flips spent; a peak at or above it keeps its unflipped heat and sizes (unless the
    crops cover most of the tile, which is then flipped whole).
    ``tta_flips`` (1-3) is how many flipped passes are averaged with the plain one (``FLIPS``
    in order of preference: 1 is the 180-degree turn, 2 the two mirror images)."""
    out = model(x)
    if not tta:
        return out
    flips = flip_set(tta_flips)
    if tta_min_score <= 0 and tta_max_score >= 1:
        return _flip_average(model, x, out, flips)
    heat0 = torch.sigmoid(out["heat"].float())
    stride = x.shape[-1] // heat0.shape[-1]
    heat1 = heat0.amax(dim=(0, 1))
    hot = heat1 >= tta_min_score
    if tta_max_score < 1:
        peaks = heat1 == F.max_pool2d(heat1[None, None], 3, stride=1, padding=1)[0, 0]
        hot = hot & peaks & (heat1 < tta_max_score)
    deepest = getattr(model, "deepest_stride", 16)
    crops = tta_crops(
        hot,
        stride,
        tuple(x.shape[-2:]),
        deepest,
        getattr(model, "tta_context_px", 96) if tta_context_px is None else tta_context_px,
        tta_block_px,
    )
    if not crops:
        return out
    area = sum((c[1] - c[0]) * (c[3] - c[2]) for _, c in crops)
    if area >= TTA_FULL_SHARE * x.shape[-2] * x.shape[-1]:
        return _flip_average(model, x, out, flips)
    out = dict(out)
    heat = heat0.clone()
    size = out["size"].float().clone()
    n = x.shape[0]
    for group in _by_shape(crops, tuple(x.shape[-2:]), deepest):
        # crops of one shape go through each flipped pass as one batch; the unflipped pass
        # over a crop equals the tile's in its core, so the tile's is reused
        boxes = [[v // stride for v in crop] for _, crop in group]
        plain = {
            k: torch.cat([v[..., b[0] : b[1], b[2] : b[3]] for b in boxes]) for k, v in out.items()
        }
        xs = torch.cat([x[..., c[0] : c[1], c[2] : c[3]] for _, c in group])
        sub = _flip_average(model, xs, plain, flips)
        for i, ((core, _), (oy0, _, ox0, _)) in enumerate(zip(group, boxes, strict=True)):
            y0, y1, x0, x1 = (v // stride for v in core)
            sl = (slice(i * n, (i + 1) * n), slice(None), slice(y0 - oy0, y1 - oy0))
            sl = (*sl, slice(x0 - ox0, x1 - ox0))
            heat[..., y0:y1, x0:x1] = torch.sigmoid(sub["heat"][sl].float())
            size[..., y0:y1, x0:x1] = sub["size"][sl].float()
    out["heat"] = torch.logit(heat, eps=1e-6)
    out["size"] = size
    return out


def _by_shape(crops: list, shape: tuple[int, int], deepest: int) -> list[list]:
    """The (core, crop) boxes with each crop grown (inside the tile) to whole multiples of
    ``CROP_BUCKET`` px, grouped by the crops' shape: a few shapes, each one batch of crops
    through the network (the extra pixels are more real context, never padding)."""
    groups: dict = {}
    for core, crop in crops:
        box = []
        for lo, hi, limit in ((crop[0], crop[1], shape[0]), (crop[2], crop[3], shape[1])):
            want = min(limit, -(-(hi - lo) // CROP_BUCKET) * CROP_BUCKET)
            lo = max(0, min(limit - want, lo - (want - (hi - lo)) // 2 // deepest * deepest))
            box += [lo, lo + want]
        groups.setdefault((box[1] - box[0], box[3] - box[2]), []).append((core, tuple(box)))
    return list(groups.values())


def flip_set(n: int) -> tuple[tuple[int, ...], ...]:
    """The first ``n`` (1-3) of the flipped views, in order of preference (``FLIPS``)."""
    if not 1 <= n <= len(FLIPS):
        raise ValueError(f"tta_flips must be 1 to {len(FLIPS)}, not {n}")
    return tuple(FLIPS_BY_PREFERENCE[:n]) if n < len(FLIPS) else FLIPS


def _flip_average(
    model: nn.Module, x: torch.Tensor, out: dict | None = None, flips: tuple = FLIPS
) -> dict:
    """Heatmap (as a logit) and log sizes averaged over ``x`` and its ``flips`` (by default
    the four views). On a GPU the flipped copies run as one batch; on the CPU one after the
    other (batches of 3-4 512 px tiles took 1.3x the time per tile of single passes in bf16 on
    one thread: BENCHMARKS.md "Runtimes side by side")."""
    if out is None:
        out = model(x)
    n = x.shape[0]
    if x.device.type == "cpu":
        passes = [model(torch.flip(x, dims)) for dims in flips]
    else:
        both = model(torch.cat([torch.flip(x, dims) for dims in flips]))
        passes = [{k: v[i * n : (i + 1) * n] for k, v in both.items()} for i in range(len(flips))]
    heat = [torch.sigmoid(out["heat"].float())]
    size = [out["size"].float()]
    for flipped, dims in zip(passes, flips, strict=True):
        heat.append(torch.sigmoid(torch.flip(flipped["heat"].float(), dims)))
        size.append(torch.flip(flipped["size"].float(), dims))
    out = dict(out)
    out["heat"] = torch.logit(torch.stack(heat).mean(0), eps=1e-6)
    out["size"] = torch.stack(size).mean(0)
    return out


def tta_crops(
    hot: torch.Tensor,
    stride: int,
    shape: tuple[int, int],
    deepest: int = 16,
    context: int = 96,
    block: int | None = None,
) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """(core, crop) boxes (y0, y1, x0, x1 in input pixels) covering the output cells marked
    ``hot`` [h, w] of a tile of ``shape`` (a multiple of ``deepest``): cores are groups of
    touching blocks of ``block`` px (default 4 x ``deepest``; rounded up to ``deepest``)
    holding a hot cell, crops the cores grown by ``context`` px and aligned to ``deepest``,
    inside the tile."""
    if not bool(hot.any()):
        return []
    from scipy import ndimage

    height, width = shape
    block = 4 * deepest if block is None else max(deepest, -(-block // deepest) * deepest)
    cells = block // stride
    bh, bw = -(-hot.shape[0] // cells), -(-hot.shape[1] // cells)
    grid = F.pad(
        hot[None, None].float(), (0, bw * cells - hot.shape[1], 0, bh * cells - hot.shape[0])
    )
    # a hot cell within 2 cells of a block edge warms the neighbour block too (its 3x3 peak test
    # compares it with cells that must come from the same averaged map)
    grid = F.max_pool2d(grid, 5, stride=1, padding=2)
    blocks = F.max_pool2d(grid, cells)[0, 0].cpu().numpy() > 0
    labels, _ = ndimage.label(blocks)
    out = []
    for sl in ndimage.find_objects(labels):
        y0, y1 = sl[0].start * block, min(height, sl[0].stop * block)
        x0, x1 = sl[1].start * block, min(width, sl[1].stop * block)
        crop = (
            max(0, (y0 - context) // deepest * deepest),
            min(height, -(-(y1 + context) // deepest) * deepest),
            max(0, (x0 - context) // deepest * deepest),
            min(width, -(-(x1 + context) // deepest) * deepest),
        )
        out.append(((y0, y1, x0, x1), crop))
    return out


@torch.no_grad()
def decode(
    out: dict[str, torch.Tensor], stride: int, score_threshold: float, max_det: int = 500
) -> list[list[dict]]:
    """Peaks of the heatmap (3x3 max-pool NMS) -> per image a list of pixel-space detections."""
    heat = torch.sigmoid(out["heat"])
    peaks = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
    heat = heat * peaks
    results = []
    for b in range(heat.shape[0]):
        h = heat[b, 0]
        flat = h.flatten()
        k = min(max_det, flat.numel())
        scores, idx = torch.topk(flat, k)
        keep = scores >= score_threshold
        scores, idx = scores[keep], idx[keep]
        ys, xs = idx // h.shape[1], idx % h.shape[1]
        off = out["offset"][b][:, ys, xs]
        size = out["size"][b][:, ys, xs].exp()
        ang = torch.tanh(out["angle"][b][:, ys, xs])
        theta = (torch.atan2(ang[0], ang[1]) / 2) % math.pi
        p_tanker = torch.sigmoid(out["cls"][b][0, ys, xs])
        dets = []
        for n in range(len(scores)):
            length, beam = float(size[0, n]), float(size[1, n])
            if beam > length:
                length, beam = beam, length
            dets.append(
                {
                    "cx": (float(xs[n]) + float(off[0, n])) * stride,
                    "cy": (float(ys[n]) + float(off[1, n])) * stride,
                    "length": length,
                    "beam": beam,
                    "angle": float(theta[n]),
                    "score": float(scores[n]),
                    "p_tanker": float(p_tanker[n]),
                }
            )
        results.append(dets)
    return results
