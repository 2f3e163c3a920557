"""A classical SAR ship detector: cell-averaging CFAR on calibrated sigma0 (linear), land masked.

Per polarisation (VV and VH), each water pixel is compared with the mean of the water pixels
in a ring around it (an outer window minus a guard window that holds the ship itself):
a pixel is a ship pixel when ``x > alpha * mean_ring`` with ``alpha`` chosen for a false-alarm
probability ``pfa`` under multi-look gamma clutter of ``enl`` looks (Sentinel-1 IW GRD: 4.4).

Why cell-averaging in the linear domain: a multi-look intensity over a homogeneous sea is gamma
distributed, so the threshold multiplier for a false-alarm rate follows from the number of
looks alone, and the mean of linear intensities is its unbiased level estimate; a two-parameter
(mean and deviation) test in dB needs the deviation of the ring too, which bright neighbours
(a pier, another ship) inflate much more than they move the mean. Heterogeneous clutter
(wind rows, harbour shelter) is absorbed by the ring's local mean. Bright pixels found in a
first pass are censored from the ring (another ship beside a ship must not raise its
threshold), as is land: the ring averages water only (the port's land polygons rasterised
on the window; SAR has no cloud or SCL mask), seeds are not taken within ``land_buffer_m`` of
land (0 by default), and beside land the level also holds the land's own bright returns
(quay walls, cranes, tanks) spread into the water by the point-spread function, estimated from
the land pixels of the image itself (``spill``): a quay wall 20 m away is no ship, a hull
moored there is.

Seeds at ``pfa`` grow (hysteresis) into connected pixels above a looser ``pfa_grow``, so a ship
alongside keeps its whole bright extent; each component's minimum rotated rectangle gives the
axis, length and beam, over the pixels within ``extent_db`` of the component's peak (the
sidelobes and the faint tail of the main lobe left out). The bright extent is longer than the
hull (the 20 x 22 m resolution and the sidelobes spread it): the linear relation of bright
extent to true length (``length_gain``, ``length_bias_m``) and the beam bias, measured on
simulated scenes of tuning seeds (benchmarks/sar_cfar.py, BENCHMARKS.md), are inverted.
A bright line meeting the shore end-on (a jetty on piles missing from the land polygons) is
dropped; components shorter than ``min_length_m`` (after correction) are dropped.

This is the same family as SNAP's Ocean Tools "Adaptive Thresholding" (a two-parameter CFAR
with target / guard / background windows) and Global Fishing Watch's Sentinel-1 CFAR stage.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pipeline.detect.geometry import box_of_pixels

SPILL_HALF_PX = 6  # the spill envelope's half-width (13 x 13 px)


def spill_kernel(sigma_px: float, sidelobe: float) -> np.ndarray:
    """The isotropic envelope of the main lobe (Gaussian, ``sigma_px``) and the first
    sidelobes (``sidelobe`` x sinc^2 beyond 2 px) that land spreads into water; 0 at the
    centre (a pixel does not spill onto itself)."""
    half = SPILL_HALF_PX
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    r = np.hypot(xx, yy)
    k = np.maximum(
        np.exp(-0.5 * (r / sigma_px) ** 2),
        sidelobe * np.sinc(r / 2.0) ** 2 * (r > 2.0),
    )
    k[half, half] = 0.0
    return k


@functools.lru_cache(maxsize=16)
def _spill_kernel_fft(shape: tuple[int, int], sigma_px: float, sidelobe: float) -> np.ndarray:
    from scipy import fft

    return fft.rfftn(spill_kernel(sigma_px, sidelobe).astype(np.float32), shape)


def next_to(land: np.ndarray, xs: np.ndarray, ys: np.ndarray, px: int) -> np.ndarray:
    """Per pixel (``xs``, ``ys``), whether land lies within ``px`` pixels along both axes (the
    ``px``-fold 3 x 3 dilation of ``land``), from a crop around the pixels."""
    from scipy import ndimage

    h, w = land.shape
    y0, y1 = max(0, int(ys.min()) - px), min(h, int(ys.max()) + px + 1)
    x0, x1 = max(0, int(xs.min()) - px), min(w, int(xs.max()) + px + 1)
    sub = land[y0:y1, x0:x1]
    if not sub.any():
        return np.zeros(len(xs), dtype=bool)
    grown = ndimage.binary_dilation(sub, structure=np.ones((3, 3)), iterations=px)
    return grown[ys - y0, xs - x0]


def reaches_from(land: np.ndarray, xs: np.ndarray, ys: np.ndarray, reach: float) -> bool:
    """Whether a pixel (``xs``, ``ys``) lies at least ``reach`` px (Euclidean, between pixel
    centres) from every ``land`` pixel: the distance transform of a crop around the pixels
    grown by more than ``reach`` (any land nearer than that lies inside it, so the answer is
    the whole window's), not of the whole window."""
    from scipy import ndimage

    m = int(math.ceil(reach)) + 1
    h, w = land.shape
    y0, y1 = max(0, int(ys.min()) - m), min(h, int(ys.max()) + m + 1)
    x0, x1 = max(0, int(xs.min()) - m), min(w, int(xs.max()) + m + 1)
    sub = land[y0:y1, x0:x1]
    if not sub.any():
        return True
    dist = ndimage.distance_transform_edt(~sub)
    return float(dist[ys - y0, xs - x0].max()) >= reach


@functools.lru_cache(maxsize=64)
def gamma_alpha(pfa: float, looks: float) -> float:
    """Threshold multiplier of a CA-CFAR over gamma (``looks``) intensity of mean 1 (cached:
    scipy's inverse survival function cost a millisecond per call, twice per window)."""
    from scipy.stats import gamma

    return float(gamma.isf(pfa, looks, scale=1.0 / looks))


class CfarDetector:
    """CA-CFAR on Sentinel-1 sigma0, a :class:`pipeline.detect.detector.Detector`."""

    kind = "classical"
    name = "cfar-s1"
    bands = ["VV", "VH"]
    gsd_m = 10.0
    tile = 1024
    overlap = 128
    nms_radius_m = 60.0
    uses_land = True  # detect_grid hands it the port's land rasterised on each window

    enl = 4.4
    pfa = 1e-6
    pfa_grow = 3e-3
    guard_px = 21  # guard window side (holds a ship up to ~200 m)
    outer_px = 51  # outer window side: the ring between them is the background
    land_buffer_m = (
        0.0  # the spill term below does what a fixed buffer would, without losing berths
    )
    spill_sigma_px = 1.0  # main lobe of the 20 x 22 m resolution on 10 m pixels (sigma ~0.9)
    spill_sidelobe = 10**-2.1  # first sidelobe envelope below the peak (Hamming: ~ -21 dB)
    spill_margin = 1.0  # the expected spill of land into water, times this, joins the level
    extent_db = 13.0  # the bright extent: component pixels within this of its peak
    min_area_px = 3
    min_length_m = 25.0
    max_length_m = 450.0
    # bright extent = length_gain * true length + length_bias_m (least squares on the matched
    # detections of the tuning simulations, seeds 11 and 12: benchmarks/sar_cfar.py); inverted
    length_bias_m = 36.2
    length_gain = 0.885
    beam_bias_m = 30.0

    @property
    def model_id(self) -> str:
        # the settings that change the output are part of the id the ledger records
        return (
            f"{self.name}-pfa{self.pfa:g}-g{self.guard_px}-o{self.outer_px}"
            f"-lb{self.length_bias_m:g}x{self.length_gain:g}"
        )

    def ring_count(self, use: np.ndarray) -> np.ndarray:
        """How many pixels of ``use`` the ring (outer minus guard window) of each pixel holds."""
        from scipy import ndimage

        uf = use.astype(np.float64)
        o, g = self.outer_px, self.guard_px
        no = ndimage.uniform_filter(uf, o, mode="constant") * o * o
        ng = ndimage.uniform_filter(uf, g, mode="constant") * g * g
        return no - ng

    def background(self, x: np.ndarray, use: np.ndarray, n: np.ndarray | None = None) -> np.ndarray:
        """Mean of ``x`` (float64) over the ring (outer minus guard window) of the pixels in
        ``use``; ``n``: their count per ring (``ring_count``), when already made (the same for
        every band). Box sums by scipy's running-sum filter (at the demo's 400 x 300 px scenes
        faster than a summed-area table, BENCHMARKS.md)."""
        from scipy import ndimage

        xf = np.where(use, x, 0.0)
        o, g = self.outer_px, self.guard_px
        so = ndimage.uniform_filter(xf, o, mode="constant") * o * o
        sg = ndimage.uniform_filter(xf, g, mode="constant") * g * g
        if n is None:
            n = self.ring_count(use)
        mean = (so - sg) / np.maximum(n, 1.0)
        # too few background pixels (deep in land, tile corners): no decision there
        return np.where(n >= 0.1 * (o * o - g * g), mean, np.inf)

    def spill(self, x: np.ndarray, land: np.ndarray) -> np.ndarray:
        """The expected backscatter that bright land (quay walls, cranes, tanks) spreads into
        the water beside it through the point-spread function: the land pixels' own values
        convolved with an isotropic envelope of the main lobe and the first sidelobes.
        ``x`` is [bands, h, w] (all bands in one batched FFT) or [h, w]."""
        from scipy import fft

        if not land.any():
            return np.zeros_like(x)
        half = SPILL_HALF_PX
        h, w = land.shape
        shape = (fft.next_fast_len(h + 2 * half, True), fft.next_fast_len(w + 2 * half, True))
        kernel = _spill_kernel_fft(shape, self.spill_sigma_px, self.spill_sidelobe)
        # scipy.signal.fftconvolve(..., mode="same") in single precision (2.8x faster than
        # double; the spill is a level estimate, its rounding 1e-7 of the land's values), with
        # the kernel's transform made once per shape
        data = fft.rfftn(np.where(land, x, 0.0).astype(np.float32), shape, axes=(-2, -1))
        full = fft.irfftn(data * kernel, shape, axes=(-2, -1))
        return np.maximum(full[..., half : half + h, half : half + w], 0.0).astype(x.dtype)

    def _jetty_like(self, box, xs, ys, land) -> bool:
        """A bright line that meets the shore end-on (a jetty or pier on piles, not in the land
        polygons) rather than lying alongside it as a moored hull does: the pixels next to
        land (within two pixels: where a jetty joins the shore) cover less than a third of
        the axis, all at one end, and the other end reaches out from the shore by most of the
        length."""
        near = next_to(land, xs, ys, 2)
        if not near.any() or box.length < 3:
            return False
        if not reaches_from(land, xs, ys, 0.6 * box.length):
            return False
        ux, uy = math.cos(box.angle), math.sin(box.angle)
        t = (xs + 0.5 - box.cx) * ux + (ys + 0.5 - box.cy) * uy
        tn = t[near]
        span = float(t.max() - t.min()) + 1.0
        return float(tn.max() - tn.min()) + 1.0 < span / 3 and abs(float(tn.mean())) > span / 4

    def detect_array(self, refl: np.ndarray, valid: np.ndarray, land=None) -> list[dict]:
        from scipy import ndimage

        h, w = valid.shape
        land = np.zeros((h, w), dtype=bool) if land is None else land.astype(bool)
        water = valid & ~land
        if water.sum() < self.min_area_px * 10:
            return []
        buf = int(math.ceil(self.land_buffer_m / self.gsd_m))
        near_land = (
            ndimage.binary_dilation(land, structure=np.ones((3, 3)), iterations=buf)
            if buf > 0 and land.any()
            else land
        )
        a_seed = gamma_alpha(self.pfa, self.enl)
        a_grow = gamma_alpha(self.pfa_grow, self.enl)
        seeds = np.zeros((h, w), dtype=bool)
        grow = np.zeros((h, w), dtype=bool)
        strength = np.zeros((h, w), dtype=np.float64)
        use = water & ~near_land
        n_use = self.ring_count(use)  # the same for every band
        xs_all = refl.astype(np.float64)
        spills = self.spill_margin * self.spill(xs_all, land)
        for b in range(refl.shape[0]):
            x = xs_all[b]
            # pass 1: censor clearly bright pixels from the background
            mu = self.background(x, use, n_use)
            bright = ndimage.binary_dilation(x > a_grow * mu, iterations=2)
            mu = self.background(x, use & ~bright) + spills[b]
            ratio = x / mu
            seeds |= (ratio > a_seed) & use
            grow |= (ratio > a_grow) & water
            np.maximum(strength, np.where(water, ratio, 0.0), out=strength)
        if not seeds.any():
            return []
        lab, n = ndimage.label(grow, structure=np.ones((3, 3)))
        keep = np.unique(lab[seeds])
        keep = keep[keep > 0]
        out = []

        objects = ndimage.find_objects(lab)
        has_land = bool(land.any())
        for i in keep:
            sl = objects[i - 1]
            comp = lab[sl] == i
            r = np.where(comp, strength[sl], 0.0)
            comp &= r >= r.max() * 10 ** (-self.extent_db / 10)
            area = int(comp.sum())
            if area < self.min_area_px:
                continue
            ys, xs = np.nonzero(comp)
            ys = ys + sl[0].start
            xs = xs + sl[1].start
            box = box_of_pixels(xs, ys)
            if box is None:
                continue
            if has_land and self._jetty_like(box, xs, ys, land):
                continue
            length_m = (box.length * self.gsd_m - self.length_bias_m) / self.length_gain
            beam_m = max(self.gsd_m * 0.5, box.beam * self.gsd_m - self.beam_bias_m)
            if not (self.min_length_m <= length_m <= self.max_length_m):
                continue
            peak = float(r.max())
            score = 1.0 - math.exp(-math.log10(max(peak / a_seed, 1.0) + 1.0) * 3.0)
            out.append(
                {
                    "cx": box.cx,
                    "cy": box.cy,
                    "length": length_m / self.gsd_m,
                    "beam": min(max(beam_m, 5.0), length_m) / self.gsd_m,
                    "angle": box.angle,
                    "score": round(max(0.01, min(0.99, score)), 4),
                    "cls": "vessel",
                }
            )
        return out
