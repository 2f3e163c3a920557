"""Simulate a scenario: scenes in the dataset layout plus the truth, deterministically.

    simulate(scenario, out_dir, seed=None) -> Path

Output (contract, see docs/ARCHITECTURE.md)::

    DIR/scenes/<scene_id>/scene.tif, scl.tif, labels.geojson, item.json
    DIR/truth/visits.csv, deliveries.csv, fleet.csv
    DIR/simulation.json            what was simulated (scenario, seed, counts; no timestamps)

Everything is written into a hidden staging folder beside DIR and renamed onto DIR at the
end, so DIR is either complete or absent; an interrupted run resumes from the staging folder
(scenes whose item.json exists are kept). Same scenario and seed: same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.errors import TankerWatchError
from pipeline.records import scene_id, stable_id
from pipeline.simulate.compose import Rendered, layout_surface, render_scene, write_labels
from pipeline.simulate.layout import Layout, port_layout
from pipeline.simulate.render import Grid, VesselDraw, write_geotiff
from pipeline.simulate.sar import render_sar_scene
from pipeline.simulate.scenario import Scenario, load_scenario, registry_path
from pipeline.simulate.schedule import Schedule, build_schedule
from pipeline.simulate.sensors import SarPass, SarSensor, Sensor, get_sensor
from pipeline.simulate.vessels import Placer, make_vessel
from pipeline.simulate.weather import draw_conditions, draw_sar_conditions

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(int(stable_id(*parts, length=16), 16))


@dataclass
class PlannedScene:
    id: str
    port: str
    sensor: Sensor
    acquired: datetime
    grid: Grid
    sar_pass: SarPass | None = None  # the relative orbit of a SAR scene


def scenario_digest(sc: Scenario, seed: int) -> str:
    dump = sc.model_dump(mode="json")
    # fields added later leave the digest of a scenario that does not use them unchanged, so a
    # simulation made before them is still recognised (same scenes, same bytes)
    if dump["weather"].get("wind_scale") == 1.0:
        del dump["weather"]["wind_scale"]
    if dump["weather"] == {"cloud_scale": 1.0}:
        del dump["weather"]
    if dump["ais"] is None:
        del dump["ais"]
    elif dump["ais"].get("interval_transit_s") is None:
        del dump["ais"]["interval_transit_s"]
    for plan in dump["sensors"]:
        if plan["revisit_days"] == 1:
            del plan["revisit_days"]
    if dump["calls"]["load_dwell_sigma_ln"] == 0.6:
        del dump["calls"]["load_dwell_sigma_ln"]
    text = json.dumps(dump, sort_keys=True) + f"|{seed}|{FORMAT_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()


def scene_grid(sc: Scenario, layout: Layout, sensor: Sensor, box_m, centre: str) -> Grid:
    if centre == "berth":
        berth = sc.load_berth if layout.name == sc.load_port else None
        if berth is None:
            berth = next(d.berth for d in sc.discharge if d.port == layout.name)
        c = layout.berth(berth).polygon.centroid
    else:
        c = layout.aoi.centroid
    w = max(8, int(round(box_m[0] / sensor.gsd_m)))
    h = max(8, int(round(box_m[1] / sensor.gsd_m)))
    return Grid.around(layout.crs, c.x, c.y, w, h, sensor.gsd_m)


def plan_scenes(sc: Scenario, layouts: dict[str, Layout], seed: int) -> list[PlannedScene]:
    out = []
    for plan in sc.sensors:
        sensor = get_sensor(plan.name)
        for port in plan.ports or sc.ports:
            layout = layouts[port]
            lon, lat = layout.lonlat_centre
            phase = int(stable_id("phase", port, sensor.name), 16) % sensor.cycle_days
            rng = _rng("acq", seed, sensor.name, port)
            grid = scene_grid(sc, layout, sensor, plan.box_m, plan.centre)
            if isinstance(sensor, SarSensor):
                times = sensor.pass_schedule(sc.start, sc.end, lon, rng, phase, lat)
            else:
                times = [
                    (t, None) for t in sensor.acquisitions(sc.start, sc.end, lon, rng, phase, lat)
                ]
            for when, sar_pass in times:
                if (when.date() - sc.start).days % plan.revisit_days:
                    continue
                sid = scene_id("simulated", sensor.name, when, port)
                out.append(PlannedScene(sid, port, sensor, when, grid, sar_pass))
    out.sort(key=lambda s: (s.acquired, s.port, s.sensor.name))
    return out


def scene_conditions(sc: Scenario, layout: Layout, ps: PlannedScene, rng: np.random.Generator):
    """The conditions of a planned scene, its first draws from the scene's ``rng``: sea and pass
    for a radar scene, weather (cloud cover and the rest) for an optical one."""
    if ps.sar_pass is not None:
        return draw_sar_conditions(ps.acquired, ps.sar_pass, ps.sensor, rng, sc.weather.wind_scale)
    lon, lat = layout.lonlat_centre
    return draw_conditions(
        ps.acquired, lon, lat, rng, ps.sensor.partial_rate, sc.weather.cloud_scale
    )


def planned_conditions(sc: Scenario, layouts: dict[str, Layout], ps: PlannedScene, seed: int):
    """The conditions the simulator draws for ``ps`` (``scene_conditions`` from the scene's own
    seeded stream), without rendering it: what benchmarks check schedules and clouds with."""
    return scene_conditions(sc, layouts[ps.port], ps, _rng("scene", seed, ps.id))


def scene_vessels(
    sc: Scenario,
    layout: Layout,
    grid: Grid,
    when: datetime,
    schedule: Schedule,
    seed: int,
    rng: np.random.Generator,
    fleet: dict | None = None,
) -> list[VesselDraw]:
    """Every hull present at ``when``: berth visits (truth), tankers waiting at anchor,
    moored barges (change monthly), tugs and ships at anchor (bystanders)."""
    from shapely.geometry import box

    placer = Placer(layout, rng)
    out: list[VesselDraw] = []
    port = layout.name
    for v in schedule.visits:
        if v.port != port or not v.present(when):
            continue
        vd = VesselDraw(
            key=v.id,
            kind=v.kind,
            x=0.0,
            y=0.0,
            length_m=v.length_m,
            beam_m=v.beam_m,
            heading_deg=0.0,
            deck=v.deck,
            freeboard_m=v.freeboard_m,
            super_height_m=v.super_height_m,
            cls="tanker" if v.kind == "tanker" else "other",
            name=v.vessel,
            extra={"role": v.role, "visit_id": v.id},
        )
        placer.at_berth(vd, layout.berth(v.berth), along=v.along, flip=v.flip, force=True)
        out.append(vd)
    aoi = layout.aoi
    for a in schedule.anchorages:
        if a.port != port or not (a.start <= when < a.end):
            continue
        fv = (fleet or {}).get(a.vessel)
        vd = make_vessel("tanker", rng, key=a.id, name=a.vessel)
        if fv is not None:
            vd.length_m, vd.beam_m, vd.deck = fv.length_m, fv.beam_m, fv.deck
        vd.extra = {"role": "anchored", "visit_id": ""}
        if placer.at_anchor(vd, aoi, rng=_rng("anchor", seed, a.id), force=True):
            out.append(vd)
    by = sc.bystanders
    epoch = (when - datetime(2024, 1, 1, tzinfo=UTC)).days // 30
    brng = _rng("barges", seed, port, epoch)
    shore = aoi.intersection(layout.land_union.buffer(150))
    for i in range(by.barges):
        vd = make_vessel("barge", brng, key=f"barge-{port}-{epoch}-{i}")
        vd.name = vd.key
        vd.extra = {"role": "moored", "visit_id": ""}
        if placer.at_anchor(vd, shore, rng=brng):
            out.append(vd)
    view = aoi.intersection(
        box(grid.x0, grid.y0 - grid.height * grid.gsd_m, grid.x0 + grid.width * grid.gsd_m, grid.y0)
    )
    if view.is_empty:
        return out
    for i in range(int(rng.poisson(by.tugs_mean))):
        vd = make_vessel("tug", rng, key=f"tug-{i}")
        vd.extra = {"role": "tug", "visit_id": ""}
        hosts = [h for h in out if h.kind in ("tanker", "cargo")]
        if hosts and rng.random() < 0.5:
            if placer.alongside(vd, hosts[int(rng.integers(0, len(hosts)))]):
                out.append(vd)
        elif placer.at_anchor(vd, view):
            if rng.random() < 0.6:  # tugs move about the harbour
                vd.speed_kn = float(rng.uniform(3, 10))
            out.append(vd)
    for i in range(int(rng.poisson(by.anchored_mean))):
        kind = str(rng.choice(["cargo", "cargo", "tanker", "barge"]))
        vd = make_vessel(kind, rng, key=f"anchored-{i}")
        if kind == "tanker":  # foreign coastal tankers, not the scenario's fleet
            vd.length_m = round(float(rng.uniform(60, 180)), 1)
            vd.beam_m = round(vd.length_m * 0.16, 1)
        vd.extra = {"role": "anchored", "visit_id": ""}
        if placer.at_anchor(vd, view):
            if rng.random() < 0.3:  # some are under way, entering or leaving
                vd.speed_kn = float(rng.uniform(4, 12))
                vd.extra["role"] = "underway"
            out.append(vd)
    return out


def sar_properties(sensor: SarSensor, cond) -> dict:
    """STAC sar / sat / view extension fields of a simulated Sentinel-1 scene, and what its
    pixel values are (calibrated sigma0, linear power, thermal noise not removed)."""
    return {
        "platform": sensor.platform,
        "constellation": "sentinel-1",
        "instruments": ["c-sar"],
        "sar:instrument_mode": "IW",
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:polarizations": list(sensor.polarizations),
        "sar:product_type": "GRD",
        "sar:resolution_range": sensor.resolution_m[0],
        "sar:resolution_azimuth": sensor.resolution_m[1],
        "sar:pixel_spacing_range": sensor.gsd_m,
        "sar:pixel_spacing_azimuth": sensor.gsd_m,
        "sar:looks_range": 5,
        "sar:looks_azimuth": 1,
        "sar:looks_equivalent_number": sensor.enl,
        "sar:observation_direction": "right",
        "sat:orbit_state": cond.orbit_state,
        "sat:relative_orbit": cond.relative_orbit,
        "view:incidence_angle": round(cond.incidence_deg, 2),
        "s1:resolution": "high",
        "s1:processing_level": "1",
        "tankerwatch:backscatter": "sigma0",
        "tankerwatch:backscatter_scale": "linear",
        "tankerwatch:thermal_noise_removed": False,
        "tankerwatch:nesz_db": round(cond.nesz_db, 2),
        "tankerwatch:wind_ms": cond.wind_ms,
        "tankerwatch:wind_from_deg": cond.wind_dir_deg,
        "tankerwatch:track_deg": round(cond.heading_deg, 2),
    }


SAR_EXTENSIONS = [
    "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
]


def stac_item(ps: PlannedScene, r: Rendered, cond) -> dict:
    import pystac
    from pyproj import Transformer

    g = ps.grid
    t = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True)
    xs = [g.x0, g.x0 + g.width * g.gsd_m, g.x0 + g.width * g.gsd_m, g.x0]
    ys = [g.y0, g.y0, g.y0 - g.height * g.gsd_m, g.y0 - g.height * g.gsd_m]
    lon, lat = t.transform(xs, ys)
    ring = [[round(a, 7), round(b, 7)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    bbox = [min(lon), min(lat), max(lon), max(lat)]
    epsg = int(g.crs.split(":")[1])
    sar = isinstance(ps.sensor, SarSensor)
    if sar:
        optical = sar_properties(ps.sensor, cond)
    else:
        optical = {
            "eo:cloud_cover": round(100 * r.cloud_fraction, 2),
            "view:sun_elevation": round(cond.sun_elev_deg, 2),
            "view:sun_azimuth": round(cond.sun_az_deg, 2),
        }
    item = pystac.Item(
        id=ps.id,
        geometry={"type": "Polygon", "coordinates": [ring]},
        bbox=[round(v, 7) for v in bbox],
        datetime=ps.acquired,
        properties={
            "gsd": ps.sensor.gsd_m,
            "proj:code": f"EPSG:{epsg}",
            "proj:epsg": epsg,  # the pre-2.0 name, kept for readers that look for it
            "proj:shape": [g.height, g.width],
            "proj:transform": list(g.transform)[:6],
            **optical,
            "tankerwatch:port": ps.port,
            "tankerwatch:sensor": ps.sensor.name,
            "tankerwatch:source": "simulated",
            "tankerwatch:bands": list(ps.sensor.bands),
            "tankerwatch:valid_fraction": round(r.valid_fraction, 4),
            "tankerwatch:cloud_fraction": r.cloud_fraction,
            "tankerwatch:sea_state": cond.sea_state,
            "tankerwatch:n_labels": len(r.labels),
        },
        stac_extensions=[
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            *(
                SAR_EXTENSIONS
                if sar
                else ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]
            ),
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
        ],
    )
    bands = (
        {"sar:polarizations": list(ps.sensor.bands)}
        if sar
        else {"eo:bands": [{"name": b} for b in ps.sensor.bands]}
    )
    item.add_asset(
        "image",
        pystac.Asset(
            href="./scene.tif",
            media_type=pystac.MediaType.GEOTIFF,
            roles=["data"],
            extra_fields=bands,
        ),
    )
    # a SAR scene's mask holds valid data and land / water only (no clouds)
    item.add_asset(
        "scl",
        pystac.Asset(
            href="./scl.tif",
            media_type=pystac.MediaType.GEOTIFF,
            roles=["data-mask"] if sar else ["cloud"],
        ),
    )
    item.add_asset(
        "labels",
        pystac.Asset(href="./labels.geojson", media_type="application/geo+json", roles=["labels"]),
    )
    return item.to_dict(include_self_link=False, transform_hrefs=False)


def _prepare_out(out: Path, digest: str, seed: int) -> tuple[Path, bool]:
    """(staging folder, already_complete). One-line errors for unusable output folders."""
    from pipeline.fsutil import ensure_dir

    if out.exists() and not out.is_dir():
        raise TankerWatchError(f"{out}: exists and is not a folder")
    for anc in out.parents:
        if anc.exists():
            if not anc.is_dir():
                raise TankerWatchError(f"{out}: cannot create folder ({anc} is a file)")
            break
    if out.is_dir() and any(out.iterdir()):
        manifest = out / "simulation.json"
        try:
            done = json.loads(manifest.read_text())
        except (OSError, ValueError):
            done = None
        if done and done.get("scenario_sha256") == digest:
            return out, True
        raise TankerWatchError(
            f"{out}: folder exists and is not empty (not this scenario and seed); "
            "choose a new --out folder"
        )
    parent = ensure_dir(out.parent if str(out.parent) else Path("."))
    stage = parent / f".{out.name}.partial-{digest[:12]}"
    ensure_dir(stage)
    return stage, False


def simulate(
    scenario: Scenario | Path | str | None,
    out_dir: Path | str,
    seed: int | None = None,
    progress: bool = False,
) -> Path:
    """Simulate ``scenario`` (a Scenario, a path, or None for the default) into ``out_dir``.

    Returns ``out_dir``. Raises TankerWatchError (one line) for bad scenarios or folders.
    """
    from pipeline.config import load_port, load_registry
    from pipeline.fsutil import atomic_write_text
    from pipeline.simulate.fleet import complete_fleet
    from pipeline.simulate.truth import write_deliveries, write_fleet, write_visits

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    seed = sc.seed if seed is None else int(seed)
    out = Path(out_dir)
    digest = scenario_digest(sc, seed)
    stage, complete = _prepare_out(out, digest, seed)
    if complete:
        log.info("%s already holds this simulation; nothing to do", out)
        return out

    registry = load_registry(registry_path(sc))
    f = sc.fleet
    fleet = complete_fleet(registry, f.vessels, f.dwt_t.min, f.dwt_t.max, f.dwt_median_t, seed)
    schedule = build_schedule(sc, fleet, seed)
    by_name = {v.name: v for v in fleet}
    layouts = {p: port_layout(load_port(p)) for p in sc.ports}
    scenes = plan_scenes(sc, layouts, seed)
    surfaces = {}
    it = scenes
    if progress:
        from rich.progress import track

        it = track(scenes, description=f"simulating {len(scenes)} scenes")
    for ps in it:
        d = stage / "scenes" / ps.id
        if (d / "item.json").exists():
            continue
        key = (ps.port, ps.sensor.name, ps.grid)
        if key not in surfaces:
            surfaces[key] = layout_surface(
                layouts[ps.port], ps.grid, _rng("surface", seed, *key[:2])
            )
        rng = _rng("scene", seed, ps.id)
        cond = scene_conditions(sc, layouts[ps.port], ps, rng)
        vessels = scene_vessels(
            sc, layouts[ps.port], ps.grid, ps.acquired, schedule, seed, rng, by_name
        )
        if ps.sar_pass is not None:
            r = render_sar_scene(surfaces[key], cond, vessels, ps.sensor, rng)
        else:
            r = render_scene(surfaces[key], cond, vessels, ps.sensor, rng)
        tags = {
            "SOURCE": "simulated",
            "SENSOR": ps.sensor.name,
            "PORT": ps.port,
            "ACQUIRED": ps.acquired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        write_geotiff(d / "scene.tif", r.dn, ps.grid, list(ps.sensor.bands), tags)
        write_geotiff(d / "scl.tif", r.scl[None], ps.grid, ["SCL"], tags)
        write_labels(d / "labels.geojson", r.labels, {"scene": "scene.tif", "scene_id": ps.id})
        item = stac_item(ps, r, cond)
        atomic_write_text(d / "item.json", json.dumps(item, sort_keys=True, indent=1) + "\n")
    truth = stage / "truth"
    write_visits(truth / "visits.csv", schedule.visits)
    ais = None
    if sc.ais is not None:
        from pipeline.simulate.ais import ais_csv, simulate_ais

        ais = simulate_ais(sc.ais, schedule, layouts, seed)
        atomic_write_text(stage / "ais" / "ais.csv", ais_csv(ais))
    write_deliveries(truth / "deliveries.csv", schedule.deliveries, ais)
    write_fleet(truth / "fleet.csv", fleet)
    manifest = {
        "format_version": FORMAT_VERSION,
        "scenario": sc.name,
        "seed": seed,
        "scenario_sha256": digest,
        "start": sc.start.isoformat(),
        "end": sc.end.isoformat(),
        "ports": sc.ports,
        "sensors": [s.name for s in sc.sensors],
        "scenes": len(scenes),
        "pixels": int(sum(s.grid.width * s.grid.height for s in scenes)),
        "load_calls": sum(1 for v in schedule.visits if v.role == "load"),
        "deliveries": len(schedule.deliveries),
    }
    if ais is not None:
        manifest["ais_reports"] = len(ais.rows)
    atomic_write_text(stage / "simulation.json", json.dumps(manifest, indent=1) + "\n")
    if out.is_dir():
        out.rmdir()  # empty (checked above)
    try:
        os.replace(stage, out)
    except OSError as exc:
        raise TankerWatchError(
            f"{out}: cannot move the finished simulation into place ({exc.strerror})"
        ) from None
    return out
