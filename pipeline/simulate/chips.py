"""Randomised training chips in the dataset layout: ``out_dir/<chip_id>/scene.tif`` +
``labels.geojson`` (+ ``scl.tif``), across ports (configured and random harbours), sensors,
seasons and sea states, with hard negatives (piers, pontoons, jetties, clouds, empty chips).

Chips are deterministic: chip ``i`` of seed ``s`` is the same bytes on every run, and a chip
whose labels file exists is skipped (labels are written last), so an interrupted run resumes
without duplicates, and a set is complete when every chip has its labels.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from pipeline.config import utm_epsg
from pipeline.errors import TankerWatchError
from pipeline.simulate.compose import layout_surface, render_scene, write_labels
from pipeline.simulate.layout import Layout, port_layout, random_layout
from pipeline.simulate.render import Grid, write_geotiff
from pipeline.simulate.sensors import COMMERCIAL3M, SENTINEL1, SENTINEL2, SarPass, SarSensor, Sensor
from pipeline.simulate.vessels import Placer, make_vessel
from pipeline.simulate.weather import draw_conditions

DEFAULT_PORTS = ("vostochny", "rajin", "chongjin", "nampo")


def _chip_rng(seed: int, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(i), 0x5EED]))


def _populate(layout: Layout, region, rng: np.random.Generator, empty: bool) -> list:
    """Vessels for a chip: berthed ships (with tugs, barges alongside) and ships at anchor."""
    if empty:
        return []
    placer = Placer(layout, rng)
    vessels = []
    for berth in layout.berths:
        if not berth.polygon.intersects(region) or rng.random() > 0.7:
            continue
        kind = "tanker" if (berth.role != "other" or rng.random() < 0.3) else "cargo"
        vd = make_vessel(kind, rng, key=f"{kind}-{len(vessels)}")
        # keep berthed ships to what the berth can take (a little overhang is realistic)
        mrr = berth.polygon.minimum_rotated_rectangle
        xs, ys = mrr.exterior.coords.xy
        long_side = max(math.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]) for i in range(2))
        if vd.length_m > long_side * 1.3:
            s = long_side * float(rng.uniform(0.5, 1.2)) / vd.length_m
            vd.length_m, vd.beam_m = round(vd.length_m * s, 1), round(max(6.0, vd.beam_m * s), 1)
        vd.extra = {"role": berth.role, "visit_id": ""}
        if placer.at_berth(vd, berth) is None:
            continue
        vessels.append(vd)
        if rng.random() < 0.35:
            side = make_vessel(str(rng.choice(["tug", "barge"])), rng, key=f"aux-{len(vessels)}")
            side.extra = {"role": "tug" if side.kind == "tug" else "moored", "visit_id": ""}
            if placer.alongside(side, vd):
                vessels.append(side)
    n_anchor = int(rng.poisson(1.8))
    for _ in range(n_anchor):
        kind = str(rng.choice(["tanker", "cargo", "cargo", "tug", "barge"]))
        vd = make_vessel(kind, rng, key=f"{kind}-{len(vessels)}")
        vd.extra = {"role": "tug" if kind == "tug" else "anchored", "visit_id": ""}
        if placer.at_anchor(vd, region):
            if rng.random() < 0.35:
                vd.speed_kn = float(rng.uniform(3, 14))
                vd.extra["role"] = "tug" if kind == "tug" else "underway"
            vessels.append(vd)
    return vessels


def make_chip(
    i: int,
    seed: int,
    size_px: int,
    layouts: dict[str, Layout],
    sensors: tuple[Sensor, ...],
    port_p: float = 0.5,
    berth_p: float = 0.55,
):
    """Render chip ``i``: returns (Grid, Rendered, metadata dict). ``port_p``: share of chips
    in a configured port (the others in a random harbour); ``berth_p``: share of those centred
    near a berth (ships alongside the pier, or the empty pier: a hard negative). The same draws
    whatever the shares, so the defaults give the same chips as before they were settings."""
    rng = _chip_rng(seed, i)
    sensor = sensors[0] if len(sensors) == 1 or rng.random() < 0.75 else sensors[1]
    day = date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 730)))
    use_port = layouts and rng.random() < port_p
    half = size_px * sensor.gsd_m / 2
    if use_port:
        name = sorted(layouts)[int(rng.integers(0, len(layouts)))]
        layout = layouts[name]
        lon, lat = layout.lonlat_centre
        r = rng.random()
        if r < berth_p and layout.berths:
            b = layout.berths[int(rng.integers(0, len(layout.berths)))]
            c = b.polygon.centroid
            cx, cy = c.x + rng.uniform(-0.6, 0.6) * half, c.y + rng.uniform(-0.6, 0.6) * half
        else:
            minx, miny, maxx, maxy = layout.aoi.bounds
            cx, cy = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
    else:
        lat = float(rng.uniform(25, 60))
        lon = float(rng.uniform(-170, 170))
        crs = utm_epsg(lon, lat)
        cx, cy = 500_000.0 + rng.uniform(-5e4, 5e4), lat * 110_900.0
        layout = random_layout(rng, crs, cx, cy, max(half * 1.3, 600.0))
        name = "synthetic"
    grid = Grid.around(layout.crs, cx, cy, size_px, size_px, sensor.gsd_m)
    from shapely.geometry import box

    region = box(
        grid.x0, grid.y0 - size_px * sensor.gsd_m, grid.x0 + size_px * sensor.gsd_m, grid.y0
    )
    if isinstance(sensor, SarSensor):
        return _sar_chip(i, seed, size_px, sensor, rng, layout, name, grid, region, day, lon)
    hour = sensor.overpass_local_solar_h + rng.uniform(-0.5, 0.5) - lon / 15.0
    when = (datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)).replace(
        microsecond=0
    )
    kind = str(rng.choice(["normal"] * 7 + ["cloudy", "empty", "rough"]))
    cloud_scale = {"cloudy": 1.6}.get(kind, float(rng.uniform(0.1, 0.7)))
    cond = draw_conditions(when, lon, lat, rng, sensor.partial_rate, cloud_scale=cloud_scale)
    from dataclasses import replace

    # chips span latitudes and climates: snow only sometimes, rough seas on purpose
    cond = replace(cond, snow=cond.snow * float(rng.random() < 0.3))
    if kind == "rough":
        cond = replace(cond, sea_state=int(rng.integers(4, 7)))
    vessels = _populate(layout, region, rng, empty=(kind == "empty"))
    surface = layout_surface(layout, grid, rng)
    rendered = render_scene(surface, cond, vessels, sensor, rng)
    meta = _chip_meta(i, seed, name, sensor, when, cond, rendered.cloud_fraction, kind)
    return grid, rendered, meta, sensor


def _chip_meta(i, seed, name, sensor, when, cond, cloud_fraction: float, kind: str) -> dict:
    """What every chip's metadata says, optical or SAR."""
    return {
        "chip": i,
        "seed": seed,
        "layout": name,
        "sensor": sensor.name,
        "gsd_m": sensor.gsd_m,
        "acquired": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "season": cond.season,
        "sea_state": cond.sea_state,
        "cloud_fraction": cloud_fraction,
        "kind": kind,
    }


def _sar_chip(i, seed, size_px, sensor: SarSensor, rng, layout, name, grid, region, day, lon):
    """A SAR chip: a random pass (either direction, incidence across the IW swath), the month's
    wind (a quarter of the chips windy on purpose), the same vessels and hard negatives as an
    optical chip. Values are float32 linear sigma0 (VV, VH)."""
    from pipeline.simulate.sar import render_sar_scene
    from pipeline.simulate.weather import draw_sar_conditions

    state = "ascending" if rng.random() < 0.5 else "descending"
    orbit = int(rng.choice([p.relative_orbit for p in sensor.passes]))
    sar_pass = SarPass(orbit, state, 0, float(rng.uniform(30.0, 45.0)))
    node = sensor.ascending_local_h if state == "ascending" else sensor.descending_local_h
    hour = node + rng.uniform(-0.1, 0.1) - lon / 15.0
    when = (datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)).replace(
        microsecond=0
    )
    kind = str(rng.choice(["normal"] * 6 + ["windy", "windy", "empty", "calm"]))
    scale = {"windy": 1.8, "calm": 0.4}.get(kind, 1.0)
    cond = draw_sar_conditions(when, sar_pass, sensor, rng, wind_scale=scale)
    vessels = _populate(layout, region, rng, empty=(kind == "empty"))
    surface = layout_surface(layout, grid, rng)
    rendered = render_sar_scene(surface, cond, vessels, sensor, rng)
    meta = {
        **_chip_meta(i, seed, name, sensor, when, cond, 0.0, kind),
        "wind_ms": cond.wind_ms,
        "orbit_state": cond.orbit_state,
        "incidence_deg": round(cond.incidence_deg, 2),
        "backscatter": "sigma0 linear",
    }
    return grid, rendered, meta, sensor


def write_chips(
    out_dir: Path | str,
    n: int,
    seed: int = 0,
    size_px: int = 256,
    sensors: tuple[str, ...] = ("sentinel-2-l2a", "commercial-3m"),
    ports: tuple[str, ...] = DEFAULT_PORTS,
    progress: bool = False,
    max_occluded: float = 0.5,
    sensor: str | None = None,
    port_p: float = 0.5,
    berth_p: float = 0.55,
) -> list[Path]:
    """Write ``n`` training chips to ``out_dir/<chip_id>/`` and return the chip folders.

    Each chip folder holds ``scene.tif`` (uint16, band descriptions), ``scl.tif`` and
    ``labels.geojson`` (EPSG:4326 oriented rectangles; properties class "tanker"|"other",
    length_m, beam_m, heading_deg, bbox_px [x, y, w, h], occluded). Vessels more than
    ``max_occluded`` hidden by cloud are left out of the labels. Same seed, same bytes.

    ``sensor`` (one name) overrides ``sensors``: ``sensor="sentinel-1-grd"`` writes SAR chips,
    ``scene.tif`` float32 linear sigma0 bands VV, VH (``scl.tif``: nodata / shadow, land and
    water only, no clouds).

    ``port_p`` / ``berth_p`` (0-1): the share of chips in a configured port, and of those the
    share centred near one of its berths (see make_chip); more of both gives more ships moored
    alongside piers and more empty piers.
    """
    from pipeline.config import load_port
    from pipeline.fsutil import ensure_dir

    if n < 0:
        raise TankerWatchError(f"--chips: must be 0 or more (got {n})")
    if size_px < 32 or size_px > 4096:
        raise TankerWatchError(f"chip size: must be 32-4096 px (got {size_px})")
    for key, v in (("port_p", port_p), ("berth_p", berth_p)):
        if not 0.0 <= v <= 1.0:
            raise TankerWatchError(f"chip option {key}: must be 0-1 (got {v})")
    if sensor is not None:
        sensors = (sensor,)
    known = {"sentinel-2-l2a": SENTINEL2, "commercial-3m": COMMERCIAL3M, SENTINEL1.name: SENTINEL1}
    try:
        sens = tuple(known[s] for s in sensors)
    except KeyError as exc:
        raise TankerWatchError(f"unknown sensor {exc} (known: {', '.join(known)})") from None
    out = ensure_dir(out_dir)
    layouts = {p: port_layout(load_port(p)) for p in ports}
    paths = []
    it = range(n)
    if progress:
        from rich.progress import track

        it = track(it, description="chips")
    for i in it:
        d = out / chip_id(seed, i)
        paths.append(d)
        if (d / "labels.geojson").exists():
            continue
        grid, r, meta, used = make_chip(i, seed, size_px, layouts, sens, port_p, berth_p)
        ensure_dir(d)
        tags = {"SOURCE": "simulated", "SENSOR": used.name, "ACQUIRED": meta["acquired"]}
        write_geotiff(d / "scene.tif", r.dn, grid, list(used.bands), tags)
        write_geotiff(d / "scl.tif", r.scl[None], grid, ["SCL"], tags)
        # a vessel hidden under thick cloud is not something a detector can learn from
        feats = [f for f in r.labels if f["properties"]["occluded"] < max_occluded]
        for k, f in enumerate(feats):
            f["properties"]["id"] = k
        write_labels(d / "labels.geojson", feats, {"scene": "scene.tif", **meta})
    return paths


def chip_id(seed: int, i: int) -> str:
    return f"chip-s{seed}-{i:05d}"


def ensure_chips(out_dir: Path | str, n: int, seed: int = 0, progress: bool = False, **options):
    """The chips, made unless ``out_dir`` already holds all ``n`` of this seed (the training
    data step, run by `tankerwatch train` before training, as `tankerwatch simulate --chips`)."""
    folders = [Path(out_dir) / chip_id(seed, i) for i in range(n)]
    if all((d / "labels.geojson").exists() for d in folders):
        return folders
    return write_chips(out_dir, n, seed=seed, progress=progress, **options)
