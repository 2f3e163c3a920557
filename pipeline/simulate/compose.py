"""Compose one scene: layout + conditions + vessels -> DN image, SCL mask and label footprints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.simulate.layout import Layout
from pipeline.simulate.render import (
    SCL_CIRRUS,
    SCL_CLOUD_HIGH,
    SCL_CLOUD_MED,
    SCL_NODATA,
    WATER,
    Conditions,
    Grid,
    Surface,
    VesselDraw,
    apply_atmosphere,
    apply_sensor,
    build_surface,
    draw_vessels,
    make_atmosphere,
    nodata_wedge,
    scl_mask,
    surface_reflectance,
)
from pipeline.simulate.sensors import Sensor


@dataclass
class Rendered:
    dn: np.ndarray  # uint16 [bands, H, W]
    scl: np.ndarray  # uint8 [H, W]
    labels: list[dict]  # GeoJSON features (EPSG:4326) of labelled vessels visible in the grid
    valid_fraction: float
    cloud_fraction: float


def layout_surface(layout: Layout, grid: Grid, rng: np.random.Generator) -> Surface:
    return build_surface(grid, layout.land, layout.piers, layout.lookalikes, rng)


def render_scene(
    surface: Surface,
    cond: Conditions,
    vessels: list[VesselDraw],
    sensor: Sensor,
    rng: np.random.Generator,
) -> Rendered:
    grid = surface.grid
    shape = (grid.height, grid.width)
    img = surface_reflectance(surface, cond, sensor, rng)
    water = surface.cls == WATER
    cover, info = draw_vessels(
        img, grid, vessels, sensor, cond.sun_elev_deg, cond.sun_az_deg, rng, water
    )
    atm = make_atmosphere(shape, cond, sensor, rng)
    apply_atmosphere(img, atm, cond, sensor)
    dn = apply_sensor(img, sensor, rng)
    nodata = nodata_wedge(shape, rng) if cond.partial else None
    if nodata is not None:
        dn[:, nodata] = 0
    scl = scl_mask(surface, cond, atm, cover, nodata)
    valid = scl != SCL_NODATA
    n_valid = int(valid.sum())
    cloudy = np.isin(scl, (SCL_CLOUD_MED, SCL_CLOUD_HIGH, SCL_CIRRUS))
    cloud_fraction = float(cloudy.sum() / n_valid) if n_valid else 1.0
    occl = np.clip(atm.cloud + 0.45 * atm.cirrus, 0, 1)
    for inf in info:
        win = inf["window"]
        inf["occluded"] = 0.0
        if win is not None:
            r0, r1, c0, c1 = win
            cov = cover[r0:r1, c0:c1]
            tot = float(cov.sum())
            if tot > 0:
                inf["occluded"] = round(float((cov * occl[r0:r1, c0:c1]).sum()) / tot, 3)
    labels = label_features(grid, vessels, info, nodata)
    return Rendered(dn, scl, labels, n_valid / valid.size, round(cloud_fraction, 4))


def label_features(
    grid: Grid, vessels: list[VesselDraw], info: list[dict], nodata: np.ndarray | None
) -> list[dict]:
    """GeoJSON features (EPSG:4326 oriented rectangles) for labelled vessels in the scene.

    A vessel is labelled when at least half its footprint lies inside the grid and its
    centre is not in nodata (it is labelled under clouds too: the truth is what is there).
    """
    from pyproj import Transformer

    t = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    feats = []
    for vd, inf in zip(vessels, info, strict=True):
        if not vd.labelled or inf["bbox_px"] is None:
            continue
        corners = vd.corners()
        cols, rows = grid.pixel(corners[:, 0], corners[:, 1])
        full_w = float(cols.max() - cols.min()) * float(rows.max() - rows.min())
        x, y, w, h = inf["bbox_px"]
        if full_w <= 0 or (w * h) / full_w < 0.5:
            continue
        ccol, crow = grid.pixel(vd.x, vd.y)
        if nodata is not None:
            ic, ir = int(ccol), int(crow)
            if 0 <= ir < grid.height and 0 <= ic < grid.width and nodata[ir, ic]:
                continue
        lon, lat = t.transform(corners[:, 0], corners[:, 1])
        ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
        ring.append(ring[0])
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "id": len(feats),
                    "class": vd.cls,
                    "vessel": vd.name or vd.key,
                    "kind": vd.kind,
                    "length_m": round(vd.length_m, 1),
                    "beam_m": round(vd.beam_m, 1),
                    "heading_deg": round(vd.heading_deg % 360, 1),
                    "bbox_px": inf["bbox_px"],
                    "occluded": inf.get("occluded", 0.0),
                    **vd.extra,
                },
            }
        )
    return feats


def write_labels(path: Path, features: list[dict], extra: dict | None = None) -> None:
    from pipeline.fsutil import atomic_write_text

    doc = {"type": "FeatureCollection", "crs_note": "EPSG:4326", **(extra or {})}
    doc["features"] = features
    atomic_write_text(path, json.dumps(doc, sort_keys=False, separators=(",", ":")) + "\n")
