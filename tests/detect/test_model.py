"""The centre-point model: targets, loss and decoding agree with each other."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.detect.bundle import ArchSpec
from pipeline.detect.geometry import Box
from pipeline.detect.model import build_model, decode, detection_loss, render_targets


def _perfect_outputs(tgt):
    heat = tgt["heat"].clamp(1e-4, 1 - 1e-4)
    return {
        "heat": torch.log(heat / (1 - heat))[None],
        "offset": tgt["offset"][None],
        "size": tgt["size"][None],
        "angle": torch.atanh(tgt["angle"].clamp(-0.999999, 0.999999))[None],
        "cls": torch.where(tgt["cls"] > 0.5, 5.0, -5.0)[None],
    }


def test_decode_inverts_render_targets():
    boxes = [Box(21.3, 40.7, 18.0, 4.0, 0.6, "tanker"), Box(50.2, 12.9, 9.0, 2.5, 2.5, "other")]
    tgt = render_targets(boxes, 32, 32, stride=2)
    dets = sorted(decode(_perfect_outputs(tgt), 2, 0.5)[0], key=lambda d: d["cx"])
    assert len(dets) == 2
    for d, b in zip(dets, boxes, strict=True):
        assert abs(d["cx"] - b.cx) < 1e-3 and abs(d["cy"] - b.cy) < 1e-3
        assert math.isclose(d["length"], b.length, rel_tol=1e-3)
        assert math.isclose(d["beam"], b.beam, rel_tol=1e-3)
        assert abs(d["angle"] - b.angle) < 1e-3
    assert dets[0]["p_tanker"] > 0.9 and dets[1]["p_tanker"] < 0.1


def test_loss_is_lower_for_the_right_answer_and_backpropagates():
    boxes = [Box(20.0, 20.0, 16.0, 4.0, 0.3)]
    tgt = {k: v[None] for k, v in render_targets(boxes, 32, 32, stride=2).items()}
    good = detection_loss(_perfect_outputs({k: v[0] for k, v in tgt.items()}), tgt)["total"]
    torch.manual_seed(0)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8))
    out = model(torch.randn(1, 4, 64, 64))
    bad = detection_loss(out, tgt)
    assert float(good) < float(bad["total"])
    bad["total"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_output_grid_matches_stride():
    for stride in (2, 4):
        model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8, out_stride=stride))
        out = model(torch.zeros(1, 4, 64, 64))
        assert out["heat"].shape == (1, 1, 64 // stride, 64 // stride)


def test_flip_averaging_averages_the_heatmap_over_four_flips():
    from pipeline.detect.model import predict

    torch.manual_seed(1)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        plain, tta = predict(model, x), predict(model, x, tta=True)
        probs = [torch.sigmoid(model(x)["heat"])]
        for dims in ((3,), (2,), (2, 3)):
            probs.append(torch.flip(torch.sigmoid(model(torch.flip(x, dims))["heat"]), dims))
    torch.testing.assert_close(torch.sigmoid(tta["heat"]), torch.stack(probs).mean(0))
    torch.testing.assert_close(tta["offset"], plain["offset"])
    assert not torch.allclose(tta["heat"], plain["heat"])


@pytest.mark.parametrize(
    "arch",
    [
        ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8),
        ArchSpec(backbone="resnet18", widths=(8, 16, 16, 16, 16), decoder_width=8),
    ],
    ids=["compact", "resnet18"],
)
def test_receptive_radius_covers_what_an_output_cell_sees(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    size = 384
    x = torch.randn(1, 4, size, size, requires_grad=True)
    model(x)["heat"][0, 0, size // 4, size // 4].backward()  # the cell at the centre (stride 2)
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0), as_tuple=True)
    c = size // 2
    seen = max(c - rows.min(), rows.max() - c, c - cols.min(), cols.max() - c).item()
    assert 0 < seen <= model.receptive_radius() <= model.tta_context_px


@pytest.mark.parametrize(
    "arch",
    [
        ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8),
        ArchSpec(backbone="resnet18", widths=(8, 16, 16, 16, 16), decoder_width=8),
        ArchSpec(widths=(4, 8, 8, 8, 8, 8), decoder_width=8),
    ],
    ids=["compact", "resnet18", "compact-6-stages"],
)
def test_flip_averaging_on_crops_equals_flipping_the_whole_tile(arch):
    """Where candidates are, gated flip averaging gives the whole tile's flip average."""
    from pipeline.detect.model import TTA_FULL_SHARE, predict, tta_crops

    torch.manual_seed(2)
    model = build_model(arch).eval()
    x = torch.randn(1, 4, 256, 384)
    with torch.no_grad():
        plain = predict(model, x)
        full = predict(model, x, tta=True)
        heat0 = torch.sigmoid(plain["heat"])[0, 0]
        # a threshold that makes a few cells candidates, far fewer than the tile
        gate = float(heat0.flatten().topk(3).values[-1])
        gated = predict(model, x, tta=True, tta_min_score=gate)
    hot = torch.nonzero(heat0 >= gate)
    assert 0 < len(hot) <= 3
    for y, xx in hot.tolist():
        sl = (..., slice(max(0, y - 2), y + 3), slice(max(0, xx - 2), xx + 3))
        torch.testing.assert_close(gated["heat"][sl], full["heat"][sl], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(gated["size"][sl], full["size"][sl], atol=1e-5, rtol=1e-4)
    crops = tta_crops(heat0 >= gate, 2, (256, 384), model.deepest_stride, model.tta_context_px)
    if sum((c[1] - c[0]) * (c[3] - c[2]) for _, c in crops) >= TTA_FULL_SHARE * 256 * 384:
        # crops would cost about as much as the tile: the whole tile is flipped
        torch.testing.assert_close(gated["heat"], full["heat"])
        return
    # outside the crops' cores the unflipped pass stands
    far = torch.ones_like(heat0, dtype=torch.bool)
    for (y0, y1, x0, x1), _ in crops:
        far[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = False
    assert far.any()
    torch.testing.assert_close(gated["heat"][0, 0][far], plain["heat"][0, 0][far])
    torch.testing.assert_close(gated["offset"], plain["offset"])


def test_crops_grow_inside_the_tile_to_a_few_shapes_run_as_batches():
    from pipeline.detect.model import CROP_BUCKET, _by_shape, predict

    crops = [
        ((16, 32, 16, 32), (0, 64, 0, 80)),  # at the corner: grows away from the edge
        ((200, 216, 300, 316), (160, 256, 256, 368)),  # at the bottom edge
        ((96, 112, 96, 144), (48, 160, 48, 160)),
    ]
    groups = _by_shape(crops, (256, 384), 16)
    grown = [c for g in groups for c in g]
    assert sorted(core for core, _ in grown) == sorted(core for core, _ in crops)
    for core, (y0, y1, x0, x1) in grown:
        assert 0 <= y0 < y1 <= 256 and 0 <= x0 < x1 <= 384
        assert (y1 - y0) % CROP_BUCKET == 0 and (x1 - x0) % CROP_BUCKET == 0
        assert y0 % 16 == 0 and x0 % 16 == 0  # still aligned to the deepest stride
        assert y0 <= core[0] and core[1] <= y1 and x0 <= core[2] and core[3] <= x1
    # 64 x 80 -> 64 x 128; 96 x 112 and 112 x 112 -> 128 x 128: two shapes
    assert sorted(len(g) for g in groups) == [1, 2]

    # crops of one shape go through each flipped pass together: three candidates far apart
    class Spots(torch.nn.Module):
        deepest_stride, tta_context_px = 16, 48

        def forward(self, x):
            heat = torch.nn.functional.avg_pool2d(x[:, :1], 2)
            return {"heat": heat, "size": torch.zeros_like(heat).repeat(1, 2, 1, 1)}

    x = torch.full((1, 1, 512, 512), -9.0)
    for y, xx in ((100, 100), (100, 400), (400, 250)):
        x[..., y : y + 2, xx : xx + 2] = 9.0
    spots = Spots()
    batches = []
    spots.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
    out = predict(spots, x, tta=True, tta_min_score=0.5, tta_block_px=16)
    assert batches == [1, 3, 3, 3]  # the plain pass, then each flip over the three crops
    assert int((torch.sigmoid(out["heat"]) > 0.5).sum()) == 3


@pytest.mark.parametrize("context", [0, 32, 48])
def test_less_crop_context_is_an_approximation_that_costs_fewer_pixels(context):
    """tta_context_px below the receptive field: smaller crops, values near the exact ones."""
    from pipeline.detect.model import predict

    torch.manual_seed(4)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()
    x = torch.randn(1, 4, 512, 512)
    pixels = []
    model.register_forward_hook(lambda m, i, o: pixels.append(i[0].shape[0] * i[0][0, 0].numel()))
    with torch.no_grad():
        heat0 = torch.sigmoid(model(x)["heat"])[0, 0]
        gate = float(heat0.flatten().topk(2).values[-1])
        pixels.clear()
        exact = predict(model, x, tta=True, tta_min_score=gate)
        exact_px = sum(pixels)
        same = predict(model, x, tta=True, tta_min_score=gate, tta_context_px=None)
        pixels.clear()
        near = predict(
            model, x, tta=True, tta_min_score=gate, tta_context_px=context, tta_block_px=16
        )
        near_px = sum(pixels)
    torch.testing.assert_close(same["heat"], exact["heat"])
    assert near_px < exact_px
    hot = torch.nonzero(heat0 >= gate).tolist()
    got = torch.stack([torch.sigmoid(near["heat"][0, 0, y, xx]) for y, xx in hot])
    want = torch.stack([torch.sigmoid(exact["heat"][0, 0, y, xx]) for y, xx in hot])
    plain = heat0[[y for y, _ in hot], [xx for _, xx in hot]]
    if context >= 32:
        # a random network has no vessel: agreement is loose, but nearer than the plain pass
        assert (got - want).abs().max() <= (plain - want).abs().max() + 1e-6
    assert not torch.equal(near["heat"], exact["heat"]) or context >= 96


def test_gated_flip_averaging_without_candidates_is_one_pass_and_with_many_is_full():
    from pipeline.detect.model import predict

    torch.manual_seed(3)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()
    x = torch.randn(1, 4, 128, 128)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        none = predict(model, x, tta=True, tta_min_score=0.999)
        assert calls == [1]
        torch.testing.assert_close(none["heat"], model(x)["heat"])
        calls.clear()
        every = predict(model, x, tta=True, tta_min_score=1e-6)
        full = predict(model, x, tta=True)
    # the plain pass, then on the CPU the three flips one at a time (a batch is slower there)
    assert calls[:4] == [1, 1, 1, 1]
    torch.testing.assert_close(every["heat"], full["heat"])


def test_fusing_batch_norms_keeps_the_function_and_the_callers_model():
    from torch import nn

    from pipeline.detect.model import fuse_for_inference

    torch.manual_seed(4)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8))
    for m in model.modules():  # trained-looking statistics, not the identity of a fresh BN
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    model.eval()
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.randn(2, 4, 64, 96)
    with torch.no_grad():
        a, b = model(x), fused(x)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_fewer_flips_average_the_plain_pass_with_the_first_flipped_views():
    from pipeline.detect.model import FLIPS_BY_PREFERENCE, flip_set, predict

    torch.manual_seed(4)
    model = build_model(ArchSpec(widths=(4, 8, 8, 8, 8), decoder_width=8)).eval()
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        plain = model(x)
        for n in (1, 2):
            got = predict(model, x, tta=True, tta_flips=n)
            probs = [torch.sigmoid(plain["heat"])]
            for dims in FLIPS_BY_PREFERENCE[:n]:
                probs.append(torch.sigmoid(torch.flip(model(torch.flip(x, dims))["heat"], dims)))
            torch.testing.assert_close(torch.sigmoid(got["heat"]), torch.stack(probs).mean(0))
        assert len(flip_set(3)) == 3
    for bad in (0, 4):
        with pytest.raises(ValueError, match="tta_flips"):
            flip_set(bad)


class _LocalNet(torch.nn.Module):
    """A stand-in network with a small, lopsided receptive field (so flips change its output)
    and two bright blobs' worth of clear peaks: heat = an asymmetric 5 x 5 average - 3."""

    deepest_stride = 16
    tta_context_px = 16

    def __init__(self):
        super().__init__()
        self.register_buffer("k", (torch.arange(25.0) / 300.0).reshape(1, 1, 5, 5))

    def forward(self, x):
        v = torch.nn.functional.conv2d(x[:, :1], self.k, padding=2)[..., ::2, ::2]
        return {"heat": v - 3.0, "size": torch.cat([v, 2 * v], 1)}


def test_candidates_the_plain_pass_is_sure_of_are_not_flipped():
    """With tta_max_score, a peak at or above it keeps its unflipped heat and sizes; one below
    it (and at or above tta_min_score) gets the whole tile's flip average; a ceiling of 1
    flips around both, as without it."""
    from pipeline.detect.model import predict

    torch.manual_seed(5)
    x = torch.zeros(1, 1, 512, 512)
    x[..., 98:103, 98:103] = 6.0 + torch.rand(5, 5)  # strong: heat about 0.97
    x[..., 398:403, 398:403] = 3.0 + torch.rand(5, 5)  # weak: heat about 0.6
    model = _LocalNet()
    with torch.no_grad():
        plain = model(x)
        full = predict(model, x, tta=True)
        gated = predict(model, x, tta=True, tta_min_score=0.3, tta_max_score=0.9)
        every = predict(model, x, tta=True, tta_min_score=0.3, tta_max_score=1.0)
    heat0 = torch.sigmoid(plain["heat"])[0, 0]
    assert float(heat0[50, 50]) > 0.9 and 0.3 < float(heat0[200, 200]) < 0.9
    strong, weak = (..., 50, 50), (..., 200, 200)
    torch.testing.assert_close(gated["heat"][strong], plain["heat"][strong], atol=1e-4, rtol=0)
    torch.testing.assert_close(gated["size"][strong], plain["size"][strong])
    assert not torch.allclose(full["heat"][strong], plain["heat"][strong], atol=1e-2)
    torch.testing.assert_close(gated["heat"][weak], full["heat"][weak])
    torch.testing.assert_close(gated["size"][weak], full["size"][weak])
    torch.testing.assert_close(every["heat"][strong], full["heat"][strong])
    torch.testing.assert_close(every["size"][weak], full["size"][weak])
