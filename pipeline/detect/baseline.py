"""The classical baseline detector, behind the same interface as a learned bundle.

Water from NDWI (green vs near-infrared), hulls as pixels much brighter in NIR than the local
water and surrounded mostly by water, grouped into connected components (scipy.ndimage), kept
when their size is vessel-like; each component's minimum rotated rectangle gives length, beam and
axis. No training; thresholds are fixed constants below.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.detect.geometry import box_of_pixels


class BaselineDetector:
    """The classical detector, a :class:`pipeline.detect.detector.Detector`."""

    kind = "baseline"
    name = "baseline-ndwi"
    model_id = name  # no weights: the code version (recorded with every run) identifies it
    bands = ["B02", "B03", "B04", "B08"]
    gsd_m = 10.0
    tile = 1024
    overlap = 128
    nms_radius_m = 40.0
    min_water_px = 50  # detect_array finds nothing with less water: the tiling loop skips

    ndwi_water = 0.0  # NDWI above this is water
    context_px = 15  # window for "surrounded by water"
    context_water = 0.45  # fraction of water in that window a hull needs
    k_mad = 6.0  # hull NIR must exceed water median by k MADs ...
    min_contrast = 0.03  # ... and by this much reflectance
    min_area_px = 2
    max_area_px = 800
    min_length_m = 20.0
    max_length_m = 450.0

    def detect_array(self, refl: np.ndarray, valid: np.ndarray) -> list[dict]:
        from scipy import ndimage

        blue, green, red, nir = refl[0], refl[1], refl[2], refl[3]
        ndwi = (green - nir) / (green + nir + 1e-6)
        water = (ndwi > self.ndwi_water) & valid
        if water.sum() < self.min_water_px:
            return []
        context = ndimage.uniform_filter(water.astype(np.float32), size=self.context_px)
        bright_band = np.maximum(nir, (blue + green + red) / 3)
        wvals = bright_band[water]
        med = float(np.median(wvals))
        mad = float(np.median(np.abs(wvals - med))) * 1.4826 + 1e-4
        thr = med + max(self.k_mad * mad, self.min_contrast)
        cand = (bright_band > thr) & ~water & valid & (context > self.context_water * 0.5)
        labels, n = ndimage.label(cand, structure=np.ones((3, 3)))
        if n == 0:
            return []
        out = []
        objects = ndimage.find_objects(labels)
        for i, sl in enumerate(objects, start=1):
            comp = labels[sl] == i
            area = int(comp.sum())
            if not (self.min_area_px <= area <= self.max_area_px):
                continue
            ys, xs = np.nonzero(comp)
            ys = ys + sl[0].start
            xs = xs + sl[1].start
            # the component's surroundings must be mostly water (not a roof inland)
            if float(context[ys, xs].mean()) < self.context_water * 0.6:
                continue
            box = box_of_pixels(xs, ys)
            if box is None:
                continue
            length_m = box.length * self.gsd_m
            if not (self.min_length_m <= length_m <= self.max_length_m):
                continue
            contrast = float(bright_band[ys, xs].mean() - med)
            score = 1.0 - math.exp(-contrast / 0.1)
            out.append(
                {
                    "cx": box.cx,
                    "cy": box.cy,
                    "length": box.length,
                    "beam": box.beam,
                    "angle": box.angle,
                    "score": round(max(0.01, min(0.99, score)), 4),
                    "cls": "vessel",
                }
            )
        return out
