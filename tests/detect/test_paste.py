"""Copy-paste augmentation: the water mask, ship cut-outs, pasting only onto open water, and the
sampler's labels for pasted ships."""

from __future__ import annotations

import numpy as np

from detect import synth
from pipeline.detect.data import ChipSampler, SceneData, prepare_paste
from pipeline.detect.geometry import box_from_polygon
from pipeline.detect.paste import cut_ships, otsu_threshold, paste_ship, water_mask


def test_otsu_splits_two_populations():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0.0, 0.1, 500), rng.normal(3.0, 0.1, 300)])
    assert 0.5 < otsu_threshold(v) < 2.5


def _harbour(seed=0):
    """Water on the left, land (bright in NIR) on the right, one labelled ship on the water."""
    refl, _, _, _ = synth.utm_scene(96, 96, ships=[(30, 48, 200, 30, 90)], seed=seed)
    refl[:, :, 60:] = np.array([0.08, 0.10, 0.12, 0.40])[:, None, None]
    valid = np.ones((96, 96), bool)
    mask = np.zeros((96, 96), np.uint8)
    mask[46:50, 20:40] = 1  # the ship's footprint (length 20 px, heading 90 deg)
    return refl, valid, mask


def test_water_mask_follows_nir():
    refl, valid, _ = _harbour()
    water = water_mask(refl[3], valid)
    assert water[:, :55].mean() > 0.95
    assert water[:, 62:].mean() < 0.01


def test_paste_lands_on_open_water_only_and_keeps_the_ship_size():
    refl, valid, mask = _harbour()
    water = water_mask(refl[3], valid)
    bank = cut_ships(refl, mask, water)
    assert len(bank) == 1 and bank[0].mask.sum() == 80
    rng = np.random.default_rng(1)
    target = refl.copy()
    tmask, before = mask.astype(bool).copy(), refl.copy()
    poly = paste_ship(target, tmask, water, bank[0], rng, scale=(1.0, 1.0), tries=50)
    assert poly is not None
    box = box_from_polygon(poly)
    assert 18 <= box.length <= 24  # 20 px ship, rotated and re-rasterised
    assert box.cx < 58  # on the water side
    changed = np.abs(target - before).sum(axis=0) > 1e-6
    assert changed.any() and not changed[:, 60:].any()  # land untouched
    assert tmask.sum() > mask.sum()  # the pasted footprint joins the label mask
    # a chip without open water gets no ship
    land = np.zeros_like(water)
    assert paste_ship(refl.copy(), mask.astype(bool), land, bank[0], rng, tries=20) is None


def test_sampler_labels_pasted_ships():
    refl, valid, mask = _harbour()
    from pipeline.detect.geometry import Box

    scene = SceneData("h", refl, valid, [Box(30, 48, 20, 4, 0.0)], mask=mask)
    bank = prepare_paste([scene], ["B02", "B03", "B04", "B08"])
    from pipeline.detect.train_config import AugmentSpec

    aug = AugmentSpec(flips=False, rotate=False, scale=None, paste_p=1.0, paste_scale=(0.6, 0.8))
    plain = ChipSampler([scene], chip=64, positive_p=1.0, augment=AugmentSpec(paste_p=0.0))
    pasted = ChipSampler([scene], chip=64, positive_p=1.0, augment=aug, bank=bank)
    n_plain = sum(
        float(plain.sample(np.random.default_rng(i))[1]["heat"].eq(1).sum()) for i in range(8)
    )
    n_pasted = sum(
        float(pasted.sample(np.random.default_rng(i))[1]["heat"].eq(1).sum()) for i in range(8)
    )
    assert n_pasted > n_plain
