"""Length and beam of a detected hull from its own pixels (issue #14 item 5).

The size regression of a learned detector leans to the ship sizes it was trained on (long hulls
measured short, small hulls long). Here the length is measured instead along the detection's
axis in the image itself:

1. *contrast*: the hull band (``nir``: B08; ``bright``: the larger of B08 and the mean of the
   visible bands) less the median of the water around the detection (NDWI > 0, off the land
   handed in), in units of that water's robust spread (MAD);
2. *axis*: the detected axis, refined by a small search over angle and lateral offset for the
   line that collects the most contrast;
3. *profile*: the contrast along that axis line (bilinear samples,
   ``scipy.ndimage.map_coordinates``); its level is the median over the central part of the
   detected hull;
4. *extent*: from the centre outwards, the last point above ``level_fraction`` of the level
   before the profile stays below it for more than ``gap_px`` (dark deck fittings and the
   hatches of a hull break its brightness for a pixel or so); each end is interpolated between
   samples. At half the level (0.5) a hull's blurred edge is crossed where the hull ends, so
   the extent is its length within a pixel whatever the blur (a symmetric blur moves no
   half-level crossing of a hull longer than it);
5. the beam the same way across the axis, over the middle of the measured extent.

The measurement is *not credible*, and the regression is kept, when: the detection has too
little water around it to know the background (``no-water``); the hull is not clearly brighter
than the water (``faint``); the profile runs to the end of the search without ending (merged
along the axis with a quay or a neighbour moored bow to stern: ``open``); or the measured
length disagrees with the regression by more than ``ratio_range`` (``disagrees``). Land
(configured port polygons) ends the profile: a hull moored bow-on to a quay is cut there; a
hull moored alongside a quay lies beside it, off the axis line, and the beam search stops
at the quay (one side reaching the search limit: twice the other side's half-width). A hull that
runs off the scene or into nodata (``edge``) is not measured either. Such a hull
is marked ``alongside``: its axial profile may follow the quay's edge past the hull, and
``LengthSpec.alongside`` says whether its measured length is used.

Modes (``LengthSpec.mode``, the bundle's ``length`` in model.yaml): ``regression`` (the
network's sizes, unchanged), ``hull`` (the measured length where credible), ``blend``
(``blend_weight`` x measured + (1 - weight) x regression, where credible). The beam is measured
too, and used with ``beam: hull``; by default it stays the regression's.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

STEP_PX = 0.25  # sampling step along the profiles
# contrast given to land: far below any threshold, but finite (an infinity times a bilinear
# weight of 0 is NaN, which reads as missing data)
LAND = -1e6


class LengthSpec(BaseModel):
    """How a learned bundle measures length and beam (model.yaml ``length``)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["regression", "hull", "blend"] = "regression"
    band: Literal["nir", "bright"] = Field(
        "nir", description="hull band: nir (B08) or bright (max of B08 and the visible mean)"
    )
    level_fraction: float = Field(
        0.5, gt=0.05, lt=1.0, description="the hull ends where the profile falls below this x level"
    )
    gap_px: float = Field(1.0, ge=0, le=10, description="darker gaps along a hull bridged (px)")
    min_contrast: float = Field(
        6.0, ge=0, description="the hull's level must exceed the water median by this many MADs"
    )
    ratio_range: tuple[float, float] = Field(
        (0.4, 2.5), description="measured / regression length outside this: keep the regression"
    )
    blend_weight: float = Field(0.5, ge=0, le=1, description="weight of the measurement (blend)")
    beam: Literal["regression", "hull"] = Field(
        "regression",
        description="beam from the regression, or measured across the hull as the length is "
        "(at 10 m a beam of 2-5 px is widened by the blur: measured, the simulated beam MAE "
        "doubled)",
    )
    bias_m: float = Field(
        0.0, description="measured-length bias (m), subtracted from the measured length"
    )
    max_length_m: float = Field(500.0, gt=0, description="longest hull searched for")
    alongside: Literal["hull", "regression"] = Field(
        "hull",
        description="a hull with a bright neighbour or quay against one side: its measured "
        "length (hull) or the regression's (the profile may follow the quay's edge)",
    )
    measured_on: str = Field("", description="what the settings were chosen on")

    @model_validator(mode="after")
    def _ratio(self):
        lo, hi = self.ratio_range
        if not 0 < lo < 1 < hi:
            raise ValueError(f"ratio_range {self.ratio_range}: needs 0 < low < 1 < high")
        return self


def hull_band(refl: np.ndarray, bands: list[str], which: str) -> np.ndarray:
    """The band a hull stands out in, from reflectance [bands, h, w] read in ``bands`` order."""
    from pipeline.bands import canonical_band

    names = [canonical_band(b) for b in bands]
    if "B08" not in names:
        raise ValueError(f"hull length needs the near-infrared band B08 (bands: {bands})")
    nir = refl[names.index("B08")].astype(np.float64)
    if which == "nir":
        return nir
    vis = [refl[names.index(b)] for b in ("B02", "B03", "B04") if b in names]
    if not vis:
        return nir
    return np.maximum(nir, np.mean(vis, axis=0, dtype=np.float64))


def water_of(refl: np.ndarray, bands: list[str], valid: np.ndarray) -> np.ndarray:
    """NDWI > 0 (green brighter than near-infrared) on valid pixels."""
    from pipeline.bands import canonical_band

    names = [canonical_band(b) for b in bands]
    g, n = refl[names.index("B03")], refl[names.index("B08")]
    return ((g - n) > 0) & valid


def _sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` at continuous pixel coordinates (pixel i spans [i, i+1]);
    outside the image: NaN (no data, as invalid pixels)."""
    from scipy.ndimage import map_coordinates

    h, w = img.shape
    out = map_coordinates(img, [ys - 0.5, xs - 0.5], order=1, mode="nearest")
    outside = (xs < 0) | (ys < 0) | (xs > w) | (ys > h)
    return np.where(outside, np.nan, out)


def _walk(p: np.ndarray, i0: int, thr: float, gap: int, direction: int):
    """From index ``i0`` outwards: the interpolated position (in samples) where ``p`` last
    crosses ``thr`` before staying below it for more than ``gap`` samples, and whether the walk
    ran off the end of ``p`` or into missing data (NaN: off the scene, nodata) before the hull
    ended (no end found). Land (``LAND``, below any threshold) ends a hull."""
    last = i0
    below = 0
    i = i0
    n = len(p)
    while True:
        i += direction
        if i < 0 or i >= n or np.isnan(p[i]):
            return float(last), True
        if p[i] >= thr:
            last, below = i, 0
        else:
            below += 1
            if below > gap:
                break
    nxt = last + direction
    a, b = p[last], p[nxt]
    frac = 0.0 if not np.isfinite(b) or a == b else (a - thr) / (a - b)
    return last + direction * float(np.clip(frac, 0.0, 1.0)), False


def measure(
    contrast: np.ndarray, det: dict, spec: LengthSpec, gsd_m: float
) -> tuple[dict | None, str]:
    """Measure one hull. ``contrast``: the hull band less the water background in MADs of the
    water (land ``LAND``, invalid pixels NaN), on a crop; ``det``: the detection in that crop's
    pixel coordinates (cx, cy, length, beam, angle). Returns ({cx, cy, length, beam, angle,
    alongside} in crop pixels, "hull") or (None, reason)."""
    L = max(float(det["length"]), 1.0)
    B = max(float(det["beam"]), 1.0)
    th0 = float(det["angle"])
    cx, cy = float(det["cx"]), float(det["cy"])
    c = contrast
    clipped = np.where(np.isfinite(c), np.maximum(c, 0.0), 0.0)
    # 2. the axis: angle and lateral offset collecting the most contrast over the detected hull
    t_core = np.arange(-0.4 * L, 0.4 * L + 1e-9, STEP_PX)
    best = (-1.0, th0, 0.0)
    for d_deg in np.arange(-12.0, 12.1, 2.0):
        th = th0 + math.radians(d_deg)
        ux, uy, vx, vy = math.cos(th), math.sin(th), -math.sin(th), math.cos(th)
        for s in (-0.5, 0.0, 0.5):  # wider would drift onto a quay beside the hull
            xs, ys = cx + t_core * ux + s * vx, cy + t_core * uy + s * vy
            score = float(np.nansum(_sample(clipped, xs, ys)))
            if score > best[0] + 1e-9:
                best = (score, th, s)
    _, th, s0 = best
    ux, uy, vx, vy = math.cos(th), math.sin(th), -math.sin(th), math.cos(th)
    cx, cy = cx + s0 * vx, cy + s0 * vy
    # 3. the profile along the axis line (a strip wider than the line would take in the face of
    # a quay the hull lies against)
    half_search = min(L + 5.0, spec.max_length_m / gsd_m / 2.0)
    t = np.arange(-half_search, half_search + 1e-9, STEP_PX)
    prof = _sample(c, cx + t * ux, cy + t * uy)
    core = np.abs(t) <= max(1.0, 0.25 * L)
    if np.isnan(prof[core]).any():
        return None, "edge"  # the hull runs off the scene or into nodata
    level = float(np.median(prof[core]))
    if not np.isfinite(level) or level < spec.min_contrast:
        return None, "faint"
    thr = spec.level_fraction * level
    i_core = np.nonzero(core)[0]
    i0 = int(i_core[np.argmax(prof[i_core])])
    gap = int(round(spec.gap_px / STEP_PX))
    lo, open_lo = _walk(prof, i0, thr, gap, -1)
    hi, open_hi = _walk(prof, i0, thr, gap, +1)
    if open_lo or open_hi:
        return None, "open"
    t_lo, t_hi = t[0] + lo * STEP_PX, t[0] + hi * STEP_PX
    length = t_hi - t_lo
    mid = 0.5 * (t_lo + t_hi)
    mx, my = cx + mid * ux, cy + mid * uy
    # 5. the beam: across the axis, the median over the middle of the measured extent
    ts = np.linspace(mid - 0.3 * length, mid + 0.3 * length, 7)
    s_half = max(2.0 * B, 4.0)
    ss = np.arange(-s_half, s_half + 1e-9, STEP_PX)
    across = np.median(
        [_sample(c, cx + tt * ux + ss * vx, cy + tt * uy + ss * vy) for tt in ts], axis=0
    )
    j0 = int(np.argmin(np.abs(ss)))
    b_level = float(across[j0])
    beam = None
    alongside = False
    if np.isfinite(b_level) and b_level >= spec.min_contrast:
        b_thr = spec.level_fraction * b_level
        blo, oblo = _walk(across, j0, b_thr, 0, -1)
        bhi, obhi = _walk(across, j0, b_thr, 0, +1)
        a, b = (j0 - blo) * STEP_PX, (bhi - j0) * STEP_PX
        alongside = oblo or obhi
        if not (oblo or obhi):
            beam = a + b
        elif oblo != obhi:  # a quay or a neighbour on one side: the other side, twice
            beam = 2.0 * (b if oblo else a)
    if beam is None:
        beam = B
    beam = float(min(max(beam, 0.5), length))
    found = {"cx": float(mx), "cy": float(my), "length": float(length), "beam": beam}
    return dict(found, angle=th % math.pi, alongside=bool(alongside)), "hull"


def contrast_image(
    refl: np.ndarray, valid: np.ndarray, bands: list[str], band: str, land: np.ndarray | None
) -> tuple[np.ndarray | None, str]:
    """The hull band less the water median, in MADs of the water (land: ``LAND``; invalid: NaN), or
    (None, "no-water") when fewer than 20 water pixels surround the detection."""
    x = hull_band(refl, bands, band)
    water = water_of(refl, bands, valid)
    off = ~valid if land is None else (~valid | land)
    water &= ~off
    if int(water.sum()) < 20:
        return None, "no-water"
    w = x[water]
    med = float(np.median(w))
    mad = float(np.median(np.abs(w - med))) * 1.4826
    mad = max(mad, 1e-3)  # reflectance units: calm water is flat to well under this
    c = (x - med) / mad
    c = np.where(valid, c, np.nan)
    return (c if land is None else np.where(land & valid, LAND, c)), "ok"


def apply(det: dict, found: dict | None, spec: LengthSpec, gsd_m: float) -> dict:
    """The detection with its length and beam as ``spec.mode`` says, given a measurement
    (``found``, crop offsets already undone) or None."""
    out = dict(det)
    if spec.mode == "regression" or found is None:
        return out
    if spec.alongside == "regression" and found.get("alongside"):
        out["length_source"] = "alongside"
        return out
    length = found["length"] - spec.bias_m / gsd_m
    lo, hi = spec.ratio_range
    if not lo <= length / max(det["length"], 1e-6) <= hi:
        out["length_source"] = "disagrees"
        return out
    w = 1.0 if spec.mode == "hull" else spec.blend_weight
    out["length"] = max(1.0, w * length + (1 - w) * det["length"])
    beam = w * found["beam"] + (1 - w) * det["beam"] if spec.beam == "hull" else det["beam"]
    out["beam"] = min(out["length"], beam)
    if w >= 0.5:  # the footprint follows the measured hull
        out["cx"], out["cy"], out["angle"] = found["cx"], found["cy"], found["angle"]
    out["length_source"] = "hull" if w == 1.0 else "blend"
    return out


def measure_on_grid(grid, det: dict, spec: LengthSpec, bands: list[str], land=None):
    """(measurement in grid pixels or None, reason) for one detection of an opened scene grid;
    ``land``: shapely EPSG:4326 or None."""
    from rasterio.windows import Window

    from pipeline.detect.infer import land_raster

    half = int(math.ceil(min(det["length"] + 5.0, spec.max_length_m / grid.gsd_m / 2) + 12))
    x0 = max(0, int(det["cx"]) - half)
    y0 = max(0, int(det["cy"]) - half)
    x1 = min(grid.width, int(det["cx"]) + half + 1)
    y1 = min(grid.height, int(det["cy"]) + half + 1)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None, "edge"
    win = Window(x0, y0, x1 - x0, y1 - y0)
    refl, valid = grid.read(win)
    mask = land_raster(grid, land, win) if land is not None else None
    c, why = contrast_image(refl, valid, bands, spec.band, mask)
    if c is None:
        return None, why
    local = dict(det, cx=det["cx"] - x0, cy=det["cy"] - y0)
    found, why = measure(c, local, spec, grid.gsd_m)
    if found is None:
        return None, why
    found["cx"] += x0
    found["cy"] += y0
    return found, why


def hull_lengths(grid, dets: list[dict], spec: LengthSpec, bands: list[str], land=None):
    """``dets`` (grid pixels) with lengths and beams as ``spec`` says; each gets
    ``length_source``: hull / blend, or why the regression was kept (regression, faint, open,
    no-water, disagrees, alongside, edge)."""
    if spec.mode == "regression":
        return [dict(d, length_source="regression") for d in dets]
    out = []
    for d in dets:
        found, why = measure_on_grid(grid, d, spec, bands, land)
        r = apply(d, found, spec, grid.gsd_m)
        r.setdefault("length_source", why)
        out.append(r)
    return out
