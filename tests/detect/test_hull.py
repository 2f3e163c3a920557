"""Length and beam from the hull's own pixels: constructed hulls of known length and axis, a hull
alongside a quay, a hull bow-on to land, and the cases where the regression is kept."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from detect import synth
from pipeline.detect.baseline import BaselineDetector
from pipeline.detect.hull import LengthSpec, apply, contrast_image, hull_lengths, measure
from pipeline.detect.infer import detect_scene

BANDS = synth.BANDS


def render(h, w, hulls, ss=8):
    """Share of each pixel covered by oriented rectangles (cx, cy, length, beam, angle) given in
    pixels (pixel i spans [i, i+1]), by supersampling."""
    ys, xs = np.mgrid[0 : h * ss, 0 : w * ss]
    x, y = (xs + 0.5) / ss, (ys + 0.5) / ss
    m = np.zeros(x.shape, bool)
    for cx, cy, length, beam, ang in hulls:
        u = (x - cx) * math.cos(ang) + (y - cy) * math.sin(ang)
        v = -(x - cx) * math.sin(ang) + (y - cy) * math.cos(ang)
        m |= (np.abs(u) <= length / 2) & (np.abs(v) <= beam / 2)
    return m.reshape(h, ss, w, ss).mean(axis=(1, 3))


def scene(cover, land=None, seed=0):
    """Reflectance [4, h, w]: water, hulls (``cover``), optional bright land (boolean)."""
    rng = np.random.default_rng(seed)
    refl = synth.WATER[:, None, None] * (1 - cover) + synth.HULL[:, None, None] * cover
    if land is not None:
        refl = np.where(land[None], synth.HULL[:, None, None] * 0.9, refl)
    return (refl + rng.normal(0, 0.003, refl.shape)).astype(np.float32)


class ArrayGrid:
    """A scene grid held in memory (what hull_lengths reads windows from)."""

    def __init__(self, refl, gsd_m=10.0):
        self.refl, self.valid = refl, np.ones(refl.shape[1:], bool)
        self.height, self.width = self.valid.shape
        self.gsd_m = gsd_m

    def read(self, win):
        r0, c0 = int(win.row_off), int(win.col_off)
        sl = (slice(r0, r0 + int(win.height)), slice(c0, c0 + int(win.width)))
        return self.refl[:, sl[0], sl[1]], self.valid[sl]


HULL = LengthSpec(mode="hull", beam="hull")


@pytest.mark.parametrize(
    "length,angle",
    [(6.0, 0.0), (9.3, 0.4), (15.2, math.pi / 4), (20.0, 1.2), (31.7, 2.6), (44.0, math.pi / 2)],
)
def test_a_constructed_hull_is_measured_within_a_pixel(length, angle):
    refl = scene(render(100, 100, [(50.3, 49.6, length, 2.6, angle)]), seed=int(length))
    # the regression's guess: 30 % long, 6 degrees off, centre half a pixel off
    det = {"cx": 50.0, "cy": 50.0, "length": 1.3 * length, "beam": 3.5, "angle": angle + 0.1}
    (out,) = hull_lengths(ArrayGrid(refl), [det], HULL, BANDS)
    assert out["length_source"] == "hull"
    assert abs(out["length"] - length) < 1.0
    assert abs(out["beam"] - 2.6) < 1.0
    d_angle = abs((out["angle"] - angle + math.pi / 2) % math.pi - math.pi / 2)
    assert d_angle < math.radians(4 if length > 8 else 20)
    # the footprint is centred on the hull
    assert math.hypot(out["cx"] - 50.3, out["cy"] - 49.6) < 1.0


def test_regression_mode_leaves_the_detections_alone():
    refl = scene(render(60, 60, [(30, 30, 20, 3, 0.0)]))
    det = {"cx": 30.0, "cy": 30.0, "length": 33.0, "beam": 4.0, "angle": 0.0}
    (out,) = hull_lengths(ArrayGrid(refl), [det], LengthSpec(), BANDS)
    assert out["length"] == 33.0 and out["length_source"] == "regression"


def test_blend_weighs_measurement_and_regression():
    refl = scene(render(60, 60, [(30, 30, 20, 3, 0.0)]))
    det = {"cx": 30.0, "cy": 30.0, "length": 26.0, "beam": 4.0, "angle": 0.0}
    spec = LengthSpec(mode="blend", blend_weight=0.25)
    (out,) = hull_lengths(ArrayGrid(refl), [det], spec, BANDS)
    assert out["length_source"] == "blend"
    assert abs(out["length"] - (0.25 * 20 + 0.75 * 26)) < 0.3


def test_the_measured_bias_is_removed_in_metres():
    refl = scene(render(60, 60, [(30, 30, 20, 3, 0.0)]))
    det = {"cx": 30.0, "cy": 30.0, "length": 24.0, "beam": 4.0, "angle": 0.0}
    spec = LengthSpec(mode="hull", bias_m=-15.0)  # the beam stays the regression's
    (out,) = hull_lengths(ArrayGrid(refl), [det], spec, BANDS)
    assert out["beam"] == 4.0
    assert abs(out["length"] - 21.5) < 0.7  # 20 px + 15 m at 10 m


def quay_scene():
    """A hull of 24 px along a bright quay face (the quay is land from row 36 down)."""
    land = np.zeros((90, 90), bool)
    land[36:, :] = True
    cover = render(90, 90, [(45.2, 34.5, 24.0, 3.0, 0.0)])
    return scene(cover, land), land


def test_a_hull_alongside_a_quay_is_measured_along_itself_and_marked():
    refl, _ = quay_scene()
    det = {"cx": 45.0, "cy": 34.6, "length": 18.0, "beam": 3.0, "angle": 0.03}
    (out,) = hull_lengths(ArrayGrid(refl), [det], HULL, BANDS)
    # no land polygons: the quay is bright like the hull; the strip along the hull's axis keeps
    # the quay's face out of the length, and the beam search finds the quay on one side
    assert out["length_source"] == "hull"
    assert abs(out["length"] - 24.0) < 1.0
    found, why = measure(
        contrast_image(refl, np.ones((90, 90), bool), BANDS, "nir", None)[0], det, HULL, 10.0
    )
    assert why == "hull" and found["alongside"]
    # told to, it keeps the regression for hulls against a quay
    keep = LengthSpec(mode="hull", alongside="regression")
    (out,) = hull_lengths(ArrayGrid(refl), [det], keep, BANDS)
    assert out["length"] == 18.0 and out["length_source"] == "alongside"


def test_land_cuts_a_hull_moored_bow_on_to_a_quay():
    land = np.zeros((80, 80), bool)
    land[:, 52:] = True  # the quay face at x = 52; the hull runs into it, bow first
    cover = render(80, 80, [(45.0, 40.0, 20.0, 3.0, 0.0)])  # spans x 35-55: 3 px on the quay
    refl = scene(cover, land)
    valid = np.ones((80, 80), bool)
    det = {"cx": 43.0, "cy": 40.0, "length": 14.0, "beam": 3.0, "angle": 0.0}
    # without the land the hull runs on into the bright quay: not credible
    c, _ = contrast_image(refl, valid, BANDS, "nir", None)
    assert measure(c, det, HULL, 10.0) == (None, "open")
    # with it, the hull ends at the quay face
    c, _ = contrast_image(refl, valid, BANDS, "nir", land)
    found, why = measure(c, det, HULL, 10.0)
    assert why == "hull" and abs(found["length"] - 17.0) < 1.0


def test_hulls_bow_to_stern_are_told_apart_by_the_gap_between_them():
    cover = render(100, 100, [(35.0, 50.0, 20.0, 3.0, 0.0), (59.0, 50.0, 20.0, 3.0, 0.0)])
    refl = scene(cover)  # a 4 px gap of water between them
    det = {"cx": 35.0, "cy": 50.0, "length": 22.0, "beam": 3.0, "angle": 0.0}
    (out,) = hull_lengths(ArrayGrid(refl), [det], HULL, BANDS)
    assert out["length_source"] == "hull" and abs(out["length"] - 20.0) < 1.0


@pytest.mark.parametrize(
    "case,why",
    [("faint", "faint"), ("dry", "no-water"), ("merged", "open"), ("far", "disagrees")],
)
def test_the_regression_is_kept_where_the_measurement_is_not_credible(case, why):
    det = {"cx": 40.0, "cy": 40.0, "length": 20.0, "beam": 3.0, "angle": 0.0}
    if case == "faint":  # a hull hardly brighter than the water's noise
        cover = render(80, 80, [(40, 40, 20, 3, 0.0)]) * 0.02
        refl = scene(cover)
    elif case == "dry":  # no water around the detection: no background
        refl = np.tile(synth.HULL[:, None, None], (1, 80, 80)).astype(np.float32)
    elif case == "merged":  # a bright line running on past the search (a breakwater)
        refl = scene(render(80, 80, [(40, 40, 200, 3, 0.0)]))
    else:  # a 6 px blob where the regression says 20 px: outside ratio_range
        refl = scene(render(80, 80, [(40, 40, 6, 3, 0.0)]))
    (out,) = hull_lengths(ArrayGrid(refl), [det], HULL, BANDS)
    assert out["length_source"] == why
    assert out["length"] == 20.0 and out["beam"] == 3.0 and out["cx"] == 40.0


def test_a_hull_cut_by_the_scene_edge_or_nodata_keeps_the_regression():
    refl = scene(render(60, 60, [(8, 30, 24, 3, 0.0)]))  # from x = -4: off the scene
    det = {"cx": 8.0, "cy": 30.0, "length": 14.0, "beam": 3.0, "angle": 0.0}
    (out,) = hull_lengths(ArrayGrid(refl), [det], HULL, BANDS)
    assert out["length_source"] == "open" and out["length"] == 14.0
    grid = ArrayGrid(scene(render(60, 60, [(30, 30, 24, 3, 0.0)])))
    grid.valid[:, 38:] = False  # nodata over the hull's far end
    (out,) = hull_lengths(grid, [dict(det, cx=30.0)], HULL, BANDS)
    assert out["length_source"] == "open" and out["length"] == 14.0
    grid.valid[:, 28:] = False  # and over its centre
    (out,) = hull_lengths(grid, [dict(det, cx=30.0)], HULL, BANDS)
    assert out["length_source"] == "edge" and out["length"] == 14.0


def test_apply_without_a_measurement_keeps_the_detection():
    det = {"cx": 1.0, "cy": 2.0, "length": 10.0, "beam": 2.0, "angle": 0.5}
    assert apply(det, None, HULL, 10.0) == det


@pytest.mark.parametrize(
    "over",
    [
        {"mode": "mask"},
        {"ratio_range": (1.2, 2.0)},
        {"level_fraction": 1.5},
        {"blend_weight": 2.0},
        {"unknown": 1},
    ],
)
def test_bad_length_settings_are_refused(over):
    with pytest.raises(ValidationError):
        LengthSpec.model_validate({"mode": "hull", **over})


def test_hull_lengths_need_near_infrared_and_green():
    from pipeline.detect.bundle import ModelSpec

    fields = {
        "format": "tankerwatch-detector/1",
        "name": "x",
        "architecture": {"in_channels": 2},
        "bands": ["VV", "VH"],
        "gsd_m": 10.0,
        "normalisation": {"method": "sar-db"},
        "weights": {"sha256": "0" * 64, "tensors": 1},
    }
    ModelSpec.model_validate(fields)  # a SAR bundle with the regression's lengths is fine
    with pytest.raises(ValidationError, match="needs bands B03 and B08"):
        ModelSpec.model_validate({**fields, "length": {"mode": "hull"}})


class WrongLengths(BaselineDetector):
    """The baseline with a regression-like error: every length 40 % long."""

    def __init__(self, spec):
        self.length_spec = spec

    def detect_array(self, refl, valid):
        return [dict(d, length=d["length"] * 1.4) for d in super().detect_array(refl, valid)]


def test_detect_scene_measures_the_hull_when_the_detector_says_so(tmp_path):
    ships = [(64, 64, 200, 30, 60)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=5)
    path = synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs)
    (reg,) = detect_scene(path, WrongLengths(LengthSpec()))
    (hull,) = detect_scene(path, WrongLengths(HULL))
    assert reg.length_m > 260
    assert abs(hull.length_m - 200) < 10
    assert abs(hull.heading_deg - 60) < 5


def test_the_model_id_names_how_lengths_are_measured(tmp_path):
    """The same weights give other lengths with another ``length`` setting: the ledger must see
    another model (re-detect, new run), and the regression keeps the id it always had."""
    from pipeline.detect.bundle import ModelSpec, bundle_model_id

    fields = {
        "format": "tankerwatch-detector/1",
        "name": "x",
        "architecture": {},
        "bands": BANDS,
        "gsd_m": 10.0,
        "weights": {"sha256": "ab" * 32, "tensors": 1},
    }
    reg = bundle_model_id(ModelSpec.model_validate(fields))
    assert reg == "x@" + "ab" * 6
    ids = {
        bundle_model_id(ModelSpec.model_validate({**fields, "length": length}))
        for length in (
            {"mode": "hull"},
            {"mode": "blend"},
            {"mode": "blend", "blend_weight": 0.6},
            {"mode": "hull", "measured_on": "notes do not change the output"},
        )
    }
    assert len(ids) == 3 and reg not in ids
    assert all(i.startswith(reg + "+") for i in ids)
