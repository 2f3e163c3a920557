"""The centre-point model: targets, loss and decoding agree with each other."""

from __future__ import annotations

import math

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
