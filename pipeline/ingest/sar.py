"""Sentinel-1 backscatter as the cache holds it, and the checks that keep anything else out.

Every source hands its SAR pixels to :func:`calibrated`, which returns them in the cache's one
convention: float32 **linear power** of a calibrated backscatter coefficient (sigma0 or gamma0),
bands ``VV`` (and ``VH``), nodata 0, layover / shadow / missing pixels not valid. What the
pixels are is recorded in the scene's STAC item (:func:`item_properties`):

- ``tankerwatch:sar_quantity``: ``sigma0`` | ``gamma0`` (what the product is calibrated to);
  ``tankerwatch:sar_quantity_from``: where that came from (the catalogue, a tag, a band name, a
  sidecar, or ``assumed`` from the settings when a local file does not say);
- ``tankerwatch:sar_scale``: ``linear`` (always, in the cache); ``tankerwatch:sar_scale_source``:
  ``linear`` | ``db``, the scale the source delivered; ``tankerwatch:sar_scale_detected``: true
  when that scale was read off the values because nothing declared it;
- ``tankerwatch:layover_shadow_mask``: whether the source gave one; its pixels are the scene's
  obscured pixels (cached as ``cloud.tif``, 2 = obscured; ``eo:cloud_cover`` stays 0 and
  ``tankerwatch:layover_shadow_fraction`` holds their share of the AOI's valid pixels);
- ``sar:polarizations``, ``sat:orbit_state``, ``sat:relative_orbit``, ``view:incidence_angle``
  (and ``sat:absolute_orbit``, ``platform``, ``sar:instrument_mode``, ``s1:*``) as the
  catalogue gives them.

Refused, with one line naming the file or item and what is wrong (:class:`SceneSkip`):
uncalibrated DN (GRD amplitude, e.g. uint16 values in the hundreds), values that are neither
linear backscatter nor dB, a declared scale the values contradict, no VV, HH/HV products,
VV-only (single-pol) products unless ``sar.allow_single_pol``, and all-zero images.

Why VV-only is refused by default: the learned SAR detector takes VV and VH, and issue 16 lists a
missing VH as bad input; the CFAR baseline works on VV alone, so a user who runs only that can
set ``sar.allow_single_pol: true``. (Over the ports in configs/ Sentinel-1 acquires IW VV+VH.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.ingest.base import Raster, SceneSkip

QUANTITIES = ("sigma0", "gamma0")
SCALES = ("linear", "db")
POLARIZATIONS = ("VV", "VH")
# a valid pixel whose linear value is 0 or below (thermal noise subtracted past zero) is held
# here, -60 dB, far below Sentinel-1's noise floor (about -22 dB), so it stays data, not nodata
LINEAR_FLOOR = 1e-6
# linear backscatter of a scene: median well below 1 (sea -25..-10 dB, land -15..-5 dB); no
# natural AOI has a median above +3 dB. GRD amplitude DN: medians in the tens to thousands.
MAX_LINEAR_MEDIAN = 2.0
# dB: mostly negative, median between these
DB_MEDIAN_RANGE = (-50.0, 10.0)

# SNAP and similar tools name calibrated bands Sigma0_VV, Gamma0_VH, Sigma0_VV_db, ...
_SNAP_BAND = re.compile(r"^(sigma0|gamma0|beta0)_(vv|vh|hh|hv)(_db)?$", re.IGNORECASE)
# masks a SAR product may carry as a band: non-zero = layover, shadow or invalid
MASK_BANDS = {"mask", "shadowmask", "layover_shadow_mask", "ls_mask", "layover_shadow"}


@dataclass
class Declared:
    """What a source says its pixels are (None: it does not say)."""

    quantity: str | None = None
    scale: str | None = None
    quantity_from: str = ""
    scale_from: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)  # sat:/sar:/view:/s1: fields


def band_name(description: str) -> tuple[str, str | None, str | None] | None:
    """(polarization, quantity, scale) of a SNAP-style band name (``Sigma0_VV_db``), else None."""
    m = _SNAP_BAND.match(description.strip())
    if not m:
        return None
    quantity = m.group(1).lower()
    return m.group(2).upper(), quantity, "db" if m.group(3) else "linear"


def norm_quantity(value: Any) -> str | None:
    v = str(value or "").strip().lower().replace("_", "").replace("-", "")
    for q in ("sigma0", "gamma0", "beta0"):
        if v.startswith(q) or v == q.replace("0", "nought") or v == q.replace("0", "naught"):
            return q
    return None


def norm_scale(value: Any) -> str | None:
    v = str(value or "").strip().lower()
    if v in ("db", "decibel", "decibels", "log"):
        return "db"
    if v in ("linear", "linear_power", "power", "lin"):
        return "linear"
    return None


def metadata_fields(props: dict[str, Any]) -> dict[str, Any]:
    """The acquisition-geometry fields of a STAC item / catalogue feature worth keeping."""
    keep = {
        "platform",
        "constellation",
        "sat:orbit_state",
        "sat:relative_orbit",
        "sat:absolute_orbit",
        "sar:polarizations",
        "sar:instrument_mode",
        "sar:product_type",
        "sar:frequency_band",
        "view:incidence_angle",
        "view:off_nadir",
    }
    out = {k: v for k, v in props.items() if k in keep or k.startswith("s1:")}
    if "sat:relative_orbit" not in out:
        rel = relative_orbit(props.get("sat:absolute_orbit"), props.get("platform"))
        if rel is not None:
            out["sat:relative_orbit"] = rel
            out["tankerwatch:relative_orbit_from"] = "sat:absolute_orbit"
    if isinstance(out.get("sat:orbit_state"), str):
        out["sat:orbit_state"] = out["sat:orbit_state"].lower()
    return out


# ESA's relation of absolute to relative orbit (175 orbits per 12-day repeat cycle)
_ORBIT_OFFSET = {"sentinel-1a": 73, "sentinel-1b": 27}


def relative_orbit(absolute: Any, platform: Any) -> int | None:
    """Sentinel-1A/B relative orbit from the absolute orbit number (ESA: ``(abs - 73) mod 175
    + 1`` for 1A, ``(abs - 27) mod 175 + 1`` for 1B); None when either is unknown."""
    offset = _ORBIT_OFFSET.get(str(platform or "").strip().lower())
    try:
        n = int(absolute)
    except (TypeError, ValueError):
        return None
    if offset is None or n <= 0:
        return None
    return (n - offset) % 175 + 1


def detect_scale(values: np.ndarray) -> str | None:
    """``linear`` or ``db`` from the values of valid pixels, or None when they are neither
    (uncalibrated DN, amplitude counts, garbage)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    med = float(np.median(v))
    negative = float(np.mean(v < 0))
    if negative > 0.5 and DB_MEDIAN_RANGE[0] <= med <= DB_MEDIAN_RANGE[1]:
        return "db"
    if negative < 0.05 and 0 <= med <= MAX_LINEAR_MEDIAN:
        return "linear"
    return None


def _describe(values: np.ndarray) -> str:
    v = values[np.isfinite(values)]
    return (
        f"median {float(np.median(v)):.4g}, range {float(v.min()):.4g}..{float(v.max()):.4g}, "
        f"{100 * float(np.mean(v < 0)):.0f} % negative"
    )


def check_polarizations(bands: list[str], origin: str, allow_single_pol: bool) -> None:
    """SceneSkip unless ``bands`` hold VV and VH (or VV alone, when single-pol is allowed)."""
    if "VV" not in bands:
        other = [b for b in bands if b in ("HH", "HV")]
        if other:
            raise SceneSkip(
                f"{origin}: a {'/'.join(other)} product; TankerWatch reads Sentinel-1 VV "
                "(and VH) backscatter"
            )
        raise SceneSkip(f"{origin}: no VV band (has {', '.join(b for b in bands if b)})")
    if "VH" not in bands and not allow_single_pol:
        raise SceneSkip(
            f"{origin}: VV only (single-pol), no VH band; the SAR detector takes VV and VH "
            "(set sar.allow_single_pol: true to keep VV-only scenes for the CFAR detector)"
        )


def calibrated(
    raster: Raster,
    declared: Declared,
    origin: str,
    port_name: str,
    allow_single_pol: bool,
    default_quantity: str | None = None,
    layover_shadow: np.ndarray | None = None,
) -> Raster:
    """The raster in the cache's SAR convention (float32 linear power, VV then VH), or
    SceneSkip naming ``origin`` and what is wrong. ``raster.valid`` says which pixels have data;
    ``layover_shadow``: pixels the radar could not see (radar shadow, layover). They become the
    raster's ``cloud`` mask (``cloud_source`` "sar"): a berth under them is observed but
    obscured, as a berth under cloud is in an optical image; nothing else obscures SAR."""
    bands = list(raster.bands)
    check_polarizations(bands, origin, allow_single_pol)
    pols = [p for p in POLARIZATIONS if p in bands]
    data = raster.data[[bands.index(p) for p in pols]]
    note = f" ({data.dtype.name} pixels)" if data.dtype.kind in "iub" else ""
    valid = raster.valid.copy()
    vals = data.astype(np.float64)
    finite = np.isfinite(vals).all(axis=0)
    valid &= finite
    if not valid.any():
        zero = bool(np.all(np.where(np.isfinite(vals), vals, 0) == 0))
        what = "all-zero image" if zero else "no valid pixels (all nodata)"
        raise SceneSkip(f"{origin}: {what} over the AOI of port '{port_name}'")
    vv = vals[0][valid]
    if np.all(vv == 0):
        raise SceneSkip(f"{origin}: all-zero image over the AOI of port '{port_name}' (VV is 0)")
    found = detect_scale(vv)
    if found is None:
        raise SceneSkip(
            f"{origin}: VV values are not calibrated backscatter{note} ({_describe(vv)}); "
            "uncalibrated DN / amplitude? Calibrate to sigma0 or gamma0 (linear or dB) first"
        )
    if declared.scale is not None and declared.scale != found:
        raise SceneSkip(
            f"{origin}: declared {declared.scale} ({declared.scale_from}) but the VV values look "
            f"{found} ({_describe(vv)})"
        )
    quantity, quantity_from = declared.quantity, declared.quantity_from
    if quantity == "beta0":
        raise SceneSkip(
            f"{origin}: beta0 backscatter ({quantity_from}); calibrate to sigma0 or gamma0"
        )
    if quantity is None:
        if default_quantity is None:
            raise SceneSkip(f"{origin}: does not say whether it holds sigma0 or gamma0")
        quantity, quantity_from = default_quantity, "assumed (settings: local.sar_quantity)"
    out = vals.astype(np.float64)
    if found == "db":
        out = np.power(10.0, out / 10.0)
    out = np.where(valid[None], np.maximum(out, LINEAR_FLOOR), 0.0).astype(np.float32)
    props = {
        **declared.metadata,
        "sar:polarizations": pols,
        "tankerwatch:sar_quantity": quantity,
        "tankerwatch:sar_quantity_from": quantity_from,
        "tankerwatch:sar_scale": "linear",
        "tankerwatch:sar_scale_source": found,
        "tankerwatch:sar_scale_detected": declared.scale is None,
    }
    if found == "db":
        props["tankerwatch:sar_converted"] = "10^(dB/10)"
    hidden = None
    if layover_shadow is not None:
        hidden = layover_shadow.astype(bool) & valid
        props["tankerwatch:layover_shadow_mask"] = True
    return Raster(
        data=out,
        bands=pols,
        crs=raster.crs,
        transform=raster.transform,
        nodata=0,
        valid=valid,
        scl=None,
        cloud=hidden,
        cloud_source="sar",
        properties={**raster.properties, **props},
    )


def incidence_mean(angle: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean incidence angle (degrees) over valid pixels, or None."""
    a = angle[valid & np.isfinite(angle) & (angle > 0) & (angle < 90)]
    if a.size == 0:
        return None
    value = float(a.mean())
    return round(value, 2) if math.isfinite(value) else None


def is_sar(bands: list[str]) -> bool:
    return "VV" in bands or "VH" in bands or "HH" in bands
