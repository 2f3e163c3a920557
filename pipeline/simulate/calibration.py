"""Compare simulated 10 m scenes with real Sentinel-2 scenes (shared/data/sen2ships).

Per scene: per-band percentiles of water, land and ship pixels, ship lengths and ship/water
contrast, measured the same way on real and simulated scenes:

- water: NDWI = (B03 - B08) / (B03 + B08) > 0.2, away from ships; land: NDWI < 0, away from
  ships; ships: inside the label footprints (rasterised on the scene grid) of ships of at
  least 60 m (the real labels hardly include smaller ones); lengths are of all labels.
- contrast per ship: 90th percentile of its pixels minus the median of the water in a ring of
  2-6 pixels around it, per band.
- simulated pixels under cloud, cloud shadow or nodata (SCL) are left out.

Used by benchmarks/simulate_calibration.py and tests/simulate/test_calibration.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BANDS = ("B02", "B03", "B04", "B08", "B11")
PCTS = (5, 25, 50, 75, 95)


MIN_SHIP_M = 60.0  # the real labels hardly include smaller ships (5th percentile ~70 m)


def _labels_mask(path: Path, src, only_clear: bool, min_length_m: float = 0.0):
    import shapely
    from pyproj import Transformer
    from rasterio.features import rasterize
    from shapely.geometry import shape

    fc = json.loads(path.read_text())
    t = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
    geoms, lengths = [], []
    for f in fc["features"]:
        p = f["properties"]
        if only_clear and p.get("occluded", 0) > 0.05:
            continue
        lengths.append(float(p["length_m"]))
        if float(p["length_m"]) < min_length_m:
            continue
        g = shape(f["geometry"])
        g = shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        geoms.append(g)
    ids = np.zeros((src.height, src.width), dtype=np.int32)
    if geoms:
        ids = rasterize(
            [(g, i + 1) for i, g in enumerate(geoms)],
            out_shape=(src.height, src.width),
            transform=src.transform,
            all_touched=False,
            dtype="int32",
        )
    return ids, lengths


def scene_stats(scene_dir: Path) -> dict | None:
    """Statistics of one scene folder (scene.tif + labels.geojson [+ scl.tif])."""
    import rasterio
    from scipy import ndimage

    from pipeline.bands import band_indexes

    scene = scene_dir / "scene.tif"
    with rasterio.open(scene) as src:
        idx = band_indexes(src.descriptions, list(BANDS), str(scene))
        a = src.read(idx).astype(np.float32)
        ids, lengths = _labels_mask(
            scene_dir / "labels.geojson", src, only_clear=True, min_length_m=MIN_SHIP_M
        )
    valid = (a[0] > 0) & np.isfinite(a).all(axis=0)
    scl_path = scene_dir / "scl.tif"
    if scl_path.exists():
        with rasterio.open(scl_path) as s:
            scl = s.read(1)
        valid &= ~np.isin(scl, (0, 3, 8, 9, 10))
    if valid.mean() < 0.5:
        return None
    g, n = a[1], a[3]
    ndwi = (g - n) / np.maximum(g + n, 1.0)
    ships = ids > 0
    near = ndimage.binary_dilation(ships, iterations=2)
    water = (ndwi > 0.2) & ~near & valid
    land = (ndwi < 0.0) & ~near & valid
    ship = ships & valid
    out: dict = {"scene": scene_dir.name, "n_ships": int(ids.max())}
    for name, m in (("water", water), ("land", land), ("ship", ship)):
        if m.sum() < 20:
            out[name] = None
            continue
        out[name] = {b: np.percentile(a[i][m], PCTS).round(0).tolist() for i, b in enumerate(BANDS)}
    # per-ship contrast against the water ring around it
    contrast = []
    for k in range(1, int(ids.max()) + 1):
        m = (ids == k) & valid
        if m.sum() < 2:
            continue
        ring = ndimage.binary_dilation(m, iterations=6) & ~ndimage.binary_dilation(m, iterations=2)
        ring &= water
        if ring.sum() < 10:
            continue
        contrast.append(
            [float(np.percentile(a[i][m], 90) - np.median(a[i][ring])) for i in range(5)]
        )
    out["contrast"] = contrast
    out["lengths_m"] = lengths
    return out


def summarise(stats: list[dict]) -> dict:
    """Across scenes: the range (min, max) of per-scene medians per class and band, ship
    length percentiles and contrast percentiles."""
    summary: dict = {}
    for cls in ("water", "land", "ship"):
        meds = {b: [s[cls][b][2] for s in stats if s.get(cls)] for b in BANDS}
        summary[cls] = {
            b: {
                "min": float(np.min(v)) if v else None,
                "median": float(np.median(v)) if v else None,
                "max": float(np.max(v)) if v else None,
            }
            for b, v in meds.items()
        }
    lengths = [x for s in stats for x in s["lengths_m"]]
    summary["length_m"] = np.percentile(lengths, PCTS).round(0).tolist() if lengths else None
    con = np.array([c for s in stats for c in s["contrast"]])
    summary["contrast"] = (
        {b: np.percentile(con[:, i], PCTS).round(0).tolist() for i, b in enumerate(BANDS)}
        if len(con)
        else None
    )
    summary["n_scenes"] = len(stats)
    summary["n_ships"] = int(sum(s["n_ships"] for s in stats))
    return summary


def collect(folders: list[Path]) -> list[dict]:
    out = []
    for d in folders:
        s = scene_stats(d)
        if s is not None:
            out.append(s)
    return out


def real_scene_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).glob("*/scene.tif"))


def scene_sensor(folder: Path) -> str | None:
    """The sensor of a simulated scene (its item.json) or chip (its labels' metadata)."""
    item = folder / "item.json"
    if item.exists():
        return json.loads(item.read_text())["properties"]["tankerwatch:sensor"]
    return json.loads((folder / "labels.geojson").read_text()).get("sensor")


def simulated_scene_dirs(root: Path, sensor: str = "sentinel-2-l2a") -> list[Path]:
    """Scene folders of one sensor (default the 10 m one) of a simulation (DIR/scenes/*) or of a
    chip folder (DIR/*)."""
    return [
        tif.parent
        for tif in sorted(Path(root).rglob("scene.tif"))
        if scene_sensor(tif.parent) == sensor
    ]
