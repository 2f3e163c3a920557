"""What the simulated Sentinel-1 scenes look like, in the numbers the literature gives.

    PYTHONPATH=. python benchmarks/sar_calibration.py --sim /tmp/sar-cfar/seed-31

Over every sentinel-1-grd scene of a simulation: the equivalent number of looks of open water
(mean^2 / variance in 16 x 16 px windows at least 300 m from land and ships), the median open
water VV and VH sigma0 in dB binned by the scene's wind speed beside CMOD5.N at the scene's
geometry, the thermal noise level used, and each labelled hull's contrast (mean of its 5
brightest VV pixels over the scene's open-water median, dB) by length class.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    import rasterio
    from scipy import ndimage

    from pipeline.simulate.sar import cmod5n, db

    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", type=Path, required=True)
    a = ap.parse_args()
    enl, sea_rows, contrast = [], [], []
    for d in sorted((a.sim / "scenes").iterdir()):
        item = json.loads((d / "item.json").read_text())["properties"]
        if item.get("tankerwatch:sensor") != "sentinel-1-grd":
            continue
        with rasterio.open(d / "scene.tif") as src:
            vv, vh = src.read(1).astype(np.float64), src.read(2).astype(np.float64)
        with rasterio.open(d / "scl.tif") as src:
            scl = src.read(1)
        labels = json.loads((d / "labels.geojson").read_text())["features"]
        hull = np.zeros(vv.shape, dtype=bool)
        for f in labels:
            x, y, w, h = f["properties"]["bbox_px"]
            hull[int(y) : int(y + h) + 1, int(x) : int(x + w) + 1] = True
        water = scl == 6
        far = ndimage.distance_transform_edt(water) > 30
        far &= ~ndimage.binary_dilation(hull, iterations=15)
        if far.sum() < 500:
            continue
        for i in range(0, vv.shape[0] - 16, 16):
            for j in range(0, vv.shape[1] - 16, 16):
                if far[i : i + 16, j : j + 16].all():
                    win = vv[i : i + 16, j : j + 16]
                    enl.append(win.mean() ** 2 / win.var())
        look = (item["tankerwatch:track_deg"] + 90.0) % 360.0
        phi = (item["tankerwatch:wind_from_deg"] + 180.0 - look) % 360.0
        wind, inc = item["tankerwatch:wind_ms"], item["view:incidence_angle"]
        sea_vv = float(np.median(vv[far]))
        sea_rows.append(
            (
                wind,
                float(db(sea_vv)),
                float(db(np.median(vh[far]))),
                float(db(cmod5n(wind, phi, inc))),
                item["tankerwatch:nesz_db"],
            )
        )
        for f in labels:
            x, y, w, h = f["properties"]["bbox_px"]
            win = vv[int(y) : int(y + h) + 1, int(x) : int(x + w) + 1]
            top = np.sort(win.ravel())[-5:].mean()
            contrast.append((f["properties"]["length_m"], float(db(top) - db(sea_vv))))
    enl = np.array(enl)
    print(f"open-water ENL (16x16 windows): median {np.median(enl):.2f}, n {enl.size}")
    rows = np.array(sea_rows)
    print("wind m/s | scenes | sea VV dB (median) | CMOD5.N VV dB | sea VH dB | NESZ dB")
    for lo, hi in ((0, 3), (3, 5), (5, 7), (7, 10), (10, 30)):
        k = (rows[:, 0] >= lo) & (rows[:, 0] < hi)
        if k.any():
            m = np.median(rows[k], axis=0)
            print(f"{lo}-{hi} | {k.sum()} | {m[1]:.1f} | {m[3]:.1f} | {m[2]:.1f} | {m[4]:.1f}")
    c = np.array(contrast)
    print("hull length | n | VV contrast dB P10 / P50 / P90")
    for lo, hi in ((0, 50), (50, 120), (120, 500)):
        k = (c[:, 0] >= lo) & (c[:, 0] < hi)
        if k.any():
            p = np.percentile(c[k, 1], [10, 50, 90])
            print(f"{lo}-{hi} m | {k.sum()} | {p[0]:.1f} / {p[1]:.1f} / {p[2]:.1f}")


if __name__ == "__main__":
    main()
