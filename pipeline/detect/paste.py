"""Copy-paste augmentation (Ghiasi et al., 2021, "Simple Copy-Paste"): labelled ships cut out of
the training scenes are rotated, rescaled and pasted onto open water of other chips.

Few real ports carry few ships, mostly of a few sizes; pasting them elsewhere, at other scales
and headings, shows the model ships in more places and sizes than the labels alone. A ship is
pasted only where its surroundings are water (so no ship is taught on a roof), and its radiance
is shifted by the difference between the two water backgrounds: sun glint and haze are additive
and roughly spectrally flat, and shifting keeps a ship cut from a glinting sea from standing out
on a dark one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ShipCutout:
    refl: np.ndarray  # [bands, h, w] reflectance around the ship
    mask: np.ndarray  # [h, w] bool, the ship's own pixels
    water: np.ndarray  # [bands] median reflectance of the water just around it


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best splits ``values`` into two classes (Otsu, 1979); the middle of
    the best range when empty bins make several splits equally good."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float((edges[best[0] + 1] + edges[best[-1] + 1]) / 2)


def water_mask(nir: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Water of a scene: near-infrared (B08) below the scene's Otsu split of log NIR. Water
    stays far darker than land in NIR even where glint fools NDWI (sen2ships Algiers: water
    B08 about 3,200 DN, land about 14,800)."""
    from scipy import ndimage

    if valid.sum() < 16:
        return np.zeros_like(valid)
    lognir = np.log(np.maximum(nir, 1e-3))
    t = otsu_threshold(lognir[valid])
    water = (lognir < t) & valid
    return ndimage.binary_opening(water, iterations=1)


def cut_ships(
    refl: np.ndarray, label_mask: np.ndarray, water: np.ndarray, margin: int = 3
) -> list[ShipCutout]:
    """Every labelled ship of a scene with water around it (at least 5 water pixels in a 1-3 px
    ring), as a cut-out."""
    from scipy import ndimage

    lab, _ = ndimage.label(label_mask)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        y0, y1 = max(0, sl[0].start - margin), min(lab.shape[0], sl[0].stop + margin)
        x0, x1 = max(0, sl[1].start - margin), min(lab.shape[1], sl[1].stop + margin)
        m = lab[y0:y1, x0:x1] == k
        if m.sum() < 6:
            continue
        ring = ndimage.binary_dilation(m, iterations=3) & ~ndimage.binary_dilation(m)
        ring &= water[y0:y1, x0:x1]
        if ring.sum() < 5:
            continue
        patch = refl[:, y0:y1, x0:x1]
        out.append(ShipCutout(patch.copy(), m, np.median(patch[:, ring], axis=1)))
    return out


def paste_ship(
    refl: np.ndarray,
    label_mask: np.ndarray,
    water: np.ndarray,
    ship: ShipCutout,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.5, 1.1),
    tries: int = 8,
):
    """Paste ``ship`` (rotated, rescaled) onto open water of a chip, in place.

    refl [bands, S, S] and label_mask [S, S] are modified; returns the pasted ship's footprint
    as a shapely polygon in chip pixels, or None when no open water fits it.
    """
    from scipy import ndimage
    from shapely.geometry import MultiPoint

    zoom = float(rng.uniform(*scale))
    angle = float(rng.uniform(0.0, 360.0))
    m = ndimage.zoom(ship.mask.astype(np.float32), zoom, order=1)
    m = ndimage.rotate(m, angle, order=1, reshape=True) > 0.5
    if m.sum() < 3:
        return None
    h, w = m.shape
    size_y, size_x = label_mask.shape
    if h >= size_y - 2 or w >= size_x - 2:
        return None
    patch = np.stack(
        [
            ndimage.rotate(ndimage.zoom(b, zoom, order=1), angle, order=1, reshape=True)
            for b in ship.refl
        ]
    )
    near = ndimage.binary_dilation(m, iterations=3)
    ring = near & ~m
    for _ in range(tries):
        oy, ox = int(rng.integers(0, size_y - h)), int(rng.integers(0, size_x - w))
        if water[oy : oy + h, ox : ox + w][near].mean() < 0.97:
            continue
        if label_mask[oy : oy + h, ox : ox + w][near].any():
            continue
        dst = refl[:, oy : oy + h, ox : ox + w]
        shift = np.median(dst[:, ring], axis=1) - ship.water
        dst[:, m] = np.maximum(patch[:, m] + shift[:, None], 0.0)
        label_mask[oy : oy + h, ox : ox + w][m] = 1
        ys, xs = np.nonzero(m)
        corners = [
            (x + ox + dx, y + oy + dy)
            for x, y in zip(xs, ys, strict=True)
            for dx in (0, 1)
            for dy in (0, 1)
        ]
        return MultiPoint(corners).convex_hull
    return None
