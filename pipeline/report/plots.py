"""Report charts (matplotlib, Agg backend) and evidence chips (rasterio windowed reads).

Every chart function returns PNG bytes; the caller embeds them in the HTML and writes them
beside it. Evidence chips are JPEG (a report may hold hundreds).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.recordio import whole_calls
from pipeline.records import Detection, Scene, utc
from pipeline.report.figures import (
    UNSCR_2397_REFINED_CAP_BBL,
    ReportData,
    ais_state,
    cumulative,
)

CLEAR = "#2a9d8f"
OBSCURED = "#9e9e9e"
VISIT = "#e76f51"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _empty(title: str, note: str) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 1.6))
    ax.set_axis_off()
    ax.set_title(title, loc="left")
    ax.text(0.5, 0.4, note, ha="center", va="center", transform=ax.transAxes, color="#555")
    return _png(fig)


def timeline_png(data: ReportData) -> bytes:
    """Visits per berth as bars (first to last sighting; thin line: arrival/departure bounds),
    over every observation of that berth (clear: tick, obscured by cloud or gap: grey x)."""
    plt = _plt()
    berths = sorted(
        {(o.port, o.berth) for o in data.observations}
        | {(v.port, v.berth) for v in data.visits.values()}
    )
    if not berths:
        return _empty("Visits per berth", "no observations in the ledger")
    fig, ax = plt.subplots(figsize=(11, 0.7 * len(berths) + 1.6))
    ypos = {b: i for i, b in enumerate(berths)}
    for state, color, marker in (("clear", CLEAR, "|"), ("obscured", OBSCURED, "x")):
        pts = [(o.acquired, ypos[(o.port, o.berth)]) for o in data.observations if o.state == state]
        if pts:
            ax.scatter(
                [p[0] for p in pts],
                [p[1] - 0.3 for p in pts],
                marker=marker,
                color=color,
                s=30,
                label=f"observation: {state}",
                zorder=2,
            )
    labelled = False
    for v in data.visits.values():
        y = ypos[(v.port, v.berth)]
        lo = v.arrived_after or v.first_seen
        hi = v.departed_before or v.last_seen
        ax.plot([lo, hi], [y, y], color=VISIT, lw=1, alpha=0.6, zorder=3)
        ax.plot(
            [v.first_seen, v.last_seen],
            [y, y],
            color=VISIT,
            lw=7,
            solid_capstyle="butt",
            zorder=4,
            label=None if labelled else "visit (first to last sighting)",
        )
        if v.first_seen == v.last_seen:
            ax.scatter([v.first_seen], [y], color=VISIT, s=40, zorder=4)
        labelled = True
    ax.set_yticks(range(len(berths)), [f"{p} / {b}" for p, b in berths])
    ax.set_ylim(-0.8, len(berths) + 0.2)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Visits per berth, with every clear and obscured observation", loc="left")
    ax.legend(loc="upper right", ncol=3, fontsize=8, framealpha=0.9)
    fig.autofmt_xdate()
    return _png(fig)


def cumulative_png(data: ReportData) -> bytes:
    """Cumulative refined-product barrels per year against the UNSCR 2397 cap."""
    plt = _plt()
    series = cumulative(data, "refined")
    if not series:
        return _empty("Cumulative barrels vs the UNSCR 2397 cap", "no refined-product deliveries")
    fig, ax = plt.subplots(figsize=(11, 4.5))
    corrected = _corrected_monthly(data)
    # hold the last total flat to the end of the period shown
    end = max([series[-1][0] + timedelta(days=7)] + [c[0] for c in corrected])
    series = [*series, (end, series[-1][1])]
    t = [s[0] for s in series]

    def col(k: str) -> list[float]:
        return [s[1][k] for s in series]

    ax.fill_between(
        t, col("barrels_p10"), col("barrels_p90"), step="post", color=VISIT, alpha=0.18,
        label="p10-p90 envelope (observed deliveries)",
    )  # fmt: skip
    ax.step(t, col("barrels_p50"), where="post", color=VISIT, lw=2, label="p50, observed")
    for k, style, name in (
        ("barrels_33", ":", "loaded to 1/3"),
        ("barrels_50", "--", "loaded to 1/2"),
        ("barrels_90", "-.", "loaded to 90 %"),
    ):
        ax.step(t, col(k), where="post", color="#264653", lw=1, ls=style, label=name)
    if corrected:
        ax.plot(
            [c[0] for c in corrected],
            [c[1] for c in corrected],
            "o-",
            color="#6a4c93",
            ms=3,
            lw=1.2,
            label="p50, coverage-corrected (month ends)",
        )
    ax.axhline(UNSCR_2397_REFINED_CAP_BBL, color="black", lw=1.5)
    ax.text(
        1.0, UNSCR_2397_REFINED_CAP_BBL, "UNSCR 2397 cap: 500,000 bbl refined / year ",
        va="bottom", ha="right", fontsize=9, transform=ax.get_yaxis_transform(),
    )  # fmt: skip
    for c in data.coverage.get("caps") or []:
        refined = c.get("product_class", "refined") == "refined"
        if refined and str(c.get("scenario")) == "p50" and c.get("cap_passed_utc"):
            when = utc(c["cap_passed_utc"])
            ax.axvline(when, color="black", ls=":", lw=1)
            ax.text(
                when, 0, f" cap passed {when:%Y-%m-%d} (p50)", rotation=90, va="bottom",
                fontsize=8, bbox={"fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip
    for c in data.coverage.get("caps") or []:
        refined = c.get("product_class", "refined") == "refined"
        if refined and c.get("scenario") == "corrected" and c.get("cap_passed_utc"):
            when = utc(c["cap_passed_utc"])
            ax.axvline(when, color="#6a4c93", ls=":", lw=1)
            ax.text(
                when, 0, f" cap passed {when:%Y-%m-%d} (corrected p50)", rotation=90,
                va="bottom", fontsize=8, color="#6a4c93",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip
    ax.set_ylabel("barrels (cumulative within each year)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.grid(alpha=0.3)
    ax.set_title("Cumulative refined-product barrels vs the UNSCR 2397 cap", loc="left")
    ax.set_ylim(0, max(UNSCR_2397_REFINED_CAP_BBL, *col("barrels_p90"), *col("barrels_90")) * 1.12)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _png(fig)


def _corrected_monthly(data: ReportData) -> list[tuple[datetime, float]]:
    """Month-end points of the coverage-corrected cumulative p50 barrels (all ports)."""
    import calendar
    from datetime import UTC

    per_month: dict[str, float] = {}
    for r in data.coverage.get("by_month") or []:
        if r.get("barrels_corrected_p50") is None:
            return []  # no observation schedule: no corrected figures in this run
        per_month[r["month"]] = per_month.get(r["month"], 0.0) + float(r["barrels_corrected_p50"])
    out, year, total = [], None, 0.0
    for month in sorted(per_month):
        y, m = (int(x) for x in month.split("-"))
        if y != year:
            year, total = y, 0.0
        total += per_month[month]
        last = calendar.monthrange(y, m)[1]
        out.append((datetime(y, m, last, 23, 59, tzinfo=UTC), total))
    return out


def monthly_png(data: ReportData) -> bytes:
    """Calls per month: observed, and coverage-corrected p50 with its p10-p90 range."""
    plt = _plt()
    keys = ("calls_observed", "calls_corrected_p10", "calls_corrected_p50", "calls_corrected_p90")
    rows: dict[str, dict[str, float]] = {}
    corrected = True
    for r in data.coverage.get("by_month") or []:
        r = whole_calls(r)  # calls are whole numbers where shown
        acc = rows.setdefault(r["month"], dict.fromkeys(keys, 0.0))
        corrected = corrected and r.get("calls_corrected_p50") is not None
        for k in keys:
            acc[k] += float(r.get(k) or 0.0)
    if not rows:
        return _empty("Calls per month", "no coverage figures in this run")
    months = sorted(rows)
    x = list(range(len(months)))
    obs = [rows[m]["calls_observed"] for m in months]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.bar([i - 0.2 for i in x], obs, width=0.4, color=VISIT, label="observed")
    if corrected:
        p50 = [rows[m]["calls_corrected_p50"] for m in months]
        lo = [max(0.0, p50[i] - rows[m]["calls_corrected_p10"]) for i, m in enumerate(months)]
        hi = [max(0.0, rows[m]["calls_corrected_p90"] - p50[i]) for i, m in enumerate(months)]
        ax.bar(
            [i + 0.2 for i in x], p50, width=0.4, color="#6a4c93", alpha=0.8,
            yerr=[lo, hi], capsize=3, label="coverage-corrected p50 (p10-p90)",
        )  # fmt: skip
    else:
        ax.text(0.99, 0.95, "no corrected figures (no observation schedule)",
                transform=ax.transAxes, ha="right", va="top", color="#555")  # fmt: skip
    ax.set_xticks(x, months, rotation=45)
    ax.set_ylabel("tanker calls")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title("Calls per month, observed and corrected for gaps and clouds", loc="left")
    return _png(fig)


# ---------------------------------------------------------------------- evidence chips
AIS_TRACK = "#457b9d"
AIS_GAP_S = 3600  # a track is broken where reports are more than an hour apart
DETECTION_STYLE = {  # ais_state -> colour, marker, legend label (drawn in this order)
    "": ("#6c757d", "s", "detection of a call without an AIS verdict"),
    "named": ("#2a9d8f", "o", "detection of a call named by its transponder"),
    "dark": ("#d62828", "X", "detection of a dark call (no transponder matched)"),
}


def ais_map_png(data: ReportData) -> bytes | None:
    """Per port, the AIS tracks around the calls (thin lines, one per transponder) with the
    calls' detections on top, coloured dark / named by AIS / no verdict. None without AIS."""
    if data.ais is None or data.ais.empty:
        return None
    import numpy as np

    plt = _plt()
    state = {}
    port_of = {}
    for d in data.deliveries:
        v = data.visits.get(d.load_visit)
        for det_id in data.evidence.get(d.id, {}).get("detections", []):
            state[det_id] = ais_state(d)
            port_of[det_id] = v.port if v else "?"
    ports = sorted({port_of[i] for i in state if i in data.detections})
    if not ports:
        return None
    fig, axes = plt.subplots(1, len(ports), figsize=(6.5 * len(ports), 6.2), squeeze=False)
    ais = data.ais.sort_values(["mmsi", "time"])
    for ax, port in zip(axes[0], ports, strict=True):
        dets = [data.detections[i] for i in state if i in data.detections and port_of[i] == port]
        lon = np.array([d.lon for d in dets])
        lat = np.array([d.lat for d in dets])
        pad = 0.03
        box = (lon.min() - pad, lon.max() + pad, lat.min() - pad, lat.max() + pad)
        here = ais[ais.lon.between(box[0], box[1]) & ais.lat.between(box[2], box[3])]
        for _mmsi, tr in here.groupby("mmsi", sort=True):
            t = (tr["time"] - tr["time"].iloc[0]).dt.total_seconds().to_numpy()
            x, y = tr["lon"].to_numpy(float), tr["lat"].to_numpy(float)
            cut = np.flatnonzero(np.diff(t) > AIS_GAP_S) + 1  # no line across a silence
            x, y = np.insert(x, cut, np.nan), np.insert(y, cut, np.nan)
            ax.plot(x, y, "-", color=AIS_TRACK, lw=0.7, alpha=0.55)
            ax.plot(x, y, ".", color=AIS_TRACK, ms=1.2, alpha=0.4)
        n_tracks = here["mmsi"].nunique()
        label = f"AIS reports ({n_tracks} transponder{'' if n_tracks == 1 else 's'})"
        ax.plot([], [], "-", color=AIS_TRACK, label=label)
        for key, (color, marker, label) in DETECTION_STYLE.items():
            sel = [d for d in dets if state[d.id] == key]
            if sel:
                ax.scatter(
                    [d.lon for d in sel], [d.lat for d in sel], c=color, marker=marker, s=46,
                    edgecolors="white", linewidths=0.6, zorder=3, label=f"{label}: {len(sel)}",
                )  # fmt: skip
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
        ax.set_aspect(1 / np.cos(np.radians((box[2] + box[3]) / 2)))  # metres equal both ways
        ax.ticklabel_format(useOffset=False)
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.grid(alpha=0.3)
        ax.set_title(f"{port}: AIS tracks and the calls' detections", loc="left")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
    return _png(fig)


def chip_jpeg(scene: Scene, detection: Detection, min_px: int = 32, out_px: int = 256) -> bytes:
    """An RGB image chip (JPEG) around one detection with its footprint drawn, cut with a
    windowed read from the scene raster. Raises FileNotFoundError when the raster is gone."""
    import numpy as np
    import rasterio
    from PIL import Image, ImageDraw
    from rasterio.warp import transform_geom
    from rasterio.windows import Window
    from shapely import wkt
    from shapely.geometry import mapping, shape

    from pipeline.bands import band_indexes

    path = Path(scene.path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    with rasterio.open(path) as src:
        geom = shape(transform_geom("EPSG:4326", src.crs, mapping(wkt.loads(detection.geometry))))
        inv = ~src.transform
        cols_rows = [inv @ xy for xy in geom.exterior.coords]
        c0 = min(c for c, _ in cols_rows)
        c1 = max(c for c, _ in cols_rows)
        r0 = min(r for _, r in cols_rows)
        r1 = max(r for _, r in cols_rows)
        size = max(min_px, int(max(c1 - c0, r1 - r0) * 2.0) + 8)
        cc, rc = (c0 + c1) / 2, (r0 + r1) / 2
        col0 = int(max(0, min(src.width - size, round(cc - size / 2))))
        row0 = int(max(0, min(src.height - size, round(rc - size / 2))))
        win = Window(col0, row0, min(size, src.width), min(size, src.height))
        try:
            idx = band_indexes(list(src.descriptions), ["B04", "B03", "B02"], str(path))
        except Exception:
            idx = [1, 1, 1]  # single band (e.g. SAR) or unnamed bands: grey
        data = src.read(idx, window=win).astype("float32")
        nodata = src.nodata
    valid = np.isfinite(data)
    if nodata is not None:
        valid &= data != nodata
    rgb = np.zeros(data.shape, dtype="uint8")
    for b in range(data.shape[0]):
        vals = data[b][valid[b]]
        if vals.size:
            lo, hi = np.percentile(vals, [2, 98])
            rgb[b] = np.clip((data[b] - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype("uint8")
    img = Image.fromarray(np.moveaxis(rgb, 0, -1), "RGB")
    scale = max(1, out_px // max(img.width, img.height))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    pts = [((c - col0) * scale, (r - row0) * scale) for c, r in cols_rows]
    draw.line(pts + [pts[0]], fill=(255, 221, 0), width=2)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
