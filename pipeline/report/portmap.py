"""The report's interactive port map: AOI, land, berths, one scene's image and detections, and
the run's visits, on a Leaflet map built with folium, so a person can see at a glance whether the
port geometry fits the imagery.

Self-contained: Leaflet 1.9.4 (BSD-2-Clause) is vendored under ``vendor/leaflet`` and inlined
into the report (its two control icons as data URIs; the default marker icon, which this map
does not use, left out); folium's default CDN scripts and styles
(Leaflet, jQuery, Bootstrap, Font Awesome) are dropped, and a map that would still load anything
from elsewhere raises instead of being written. The background is plain; OpenStreetMap tiles are
an optional base layer (off by default, so an offline report makes no request at all). The scene
is warped to Web Mercator (EPSG:3857, Leaflet's projection), so that an image overlay stretched
between its corners lies where the pixels are; its PNG is embedded as a data URI.

The scene shown per port is the one passed (``--map-scene``), else by default the scene with the
most detections at berths (footprints within the port-call berth margin of a berth polygon),
ties going to the clearer (lower cloud fraction), then the later one; scenes whose raster is on
disk come first, so the image can be shown.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.config import Port, load_port
from pipeline.errors import TankerWatchError
from pipeline.records import Detection, Scene, Visit, iso

MAP_HEIGHT_PX = 560
MAX_IMAGE_PX = 1600  # longest side of the embedded scene image
DEFAULT_MARGIN_M = 50.0  # berth margin when the run's config does not say
ROLE_COLOURS = {"load": "#d62828", "discharge": "#1d4ed8", "other": "#6b7280"}
EVIDENCE = "#e76f51"  # a detection that is evidence of a visit (the charts' visit colour)
OTHER_DETECTION = "#ffdd00"  # any other detection (the chips' footprint colour)
LAND = "#8d6e63"
OSM_NAME = "OpenStreetMap (needs network)"
PLAIN_NAME = "plain background"
MAP_CSS = """
.tw-map .leaflet-container{background:#eef1f4}
.tw-map .leaflet-popup-content table td{padding:1px 6px;border:0}
.mapcaption{font-size:.85em;color:#444;max-width:1100px}
"""


@dataclass
class PortMap:
    """One port's map: the HTML fragment (div, styles, script) and what is on it."""

    port: str
    scene: Scene | None
    chosen_by: str
    html: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- Leaflet assets


def _vendor() -> Any:
    return resources.files("pipeline.report").joinpath("vendor", "leaflet")


def leaflet_head() -> str:
    """Leaflet's CSS and JS, inlined (the layer-control icons as data URIs)."""
    root = _vendor()
    css = root.joinpath("leaflet.css").read_text(encoding="utf-8")
    for name in ("layers.png", "layers-2x.png"):
        b64 = base64.b64encode(root.joinpath("images", name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{b64})")
    # the map draws no default (image) markers: their icon path is not needed, nor fetched
    css = css.replace("url(images/marker-icon.png)", "none")
    js = root.joinpath("leaflet.js").read_text(encoding="utf-8")
    if "</script" in js.lower():  # would end the inline script early
        raise RuntimeError("vendored leaflet.js contains '</script'")
    return f"<style>{css}{MAP_CSS}</style>\n<script>{js}</script>"


# --------------------------------------------------------------------------- choosing a scene


def berth_margin_m(run_config: dict[str, Any] | None) -> float:
    """The run's port-call berth margin (a footprint within it of a berth is at the berth)."""
    try:
        return float(run_config["estimate"]["portcalls"]["berth_margin_m"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        from pipeline.portcalls.params import load_portcall_params

        try:
            return float(load_portcall_params().berth_margin_m)
        except Exception:
            return DEFAULT_MARGIN_M


def at_berths(port: Port, detections: list[Detection], margin_m: float) -> dict[str, str]:
    """Detection id -> the berth its footprint meets (the port-call stage's rule)."""
    from pipeline.portcalls.berths import BerthIndex

    index = BerthIndex([port], margin_m)
    out = {}
    for d in detections:
        hit = index.locate(d, port.name)
        if hit is not None:
            out[d.id] = hit.berth
    return out


def rank_scenes(
    scenes: list[Scene], detections: list[Detection], berth_of: dict[str, str]
) -> list[tuple[Scene, int, int]]:
    """(scene, detections at berths, detections) best first: raster on disk, most detections
    at berths, clearest, latest."""
    n_at: dict[str, int] = {}
    n_all: dict[str, int] = {}
    for d in detections:
        n_all[d.scene_id] = n_all.get(d.scene_id, 0) + 1
        if d.id in berth_of:
            n_at[d.scene_id] = n_at.get(d.scene_id, 0) + 1
    rows = [(s, n_at.get(s.id, 0), n_all.get(s.id, 0)) for s in scenes]
    rows.sort(
        key=lambda r: (
            not Path(r[0].path).is_file(),
            -r[1],
            r[0].cloud_fraction,
            -r[0].acquired.timestamp(),
            r[0].id,
        )
    )
    return rows


# --------------------------------------------------------------------------- the scene image


def scene_overlay(scene: Scene, aoi) -> tuple[bytes, list[list[float]]]:
    """The scene over the AOI, warped to Web Mercator, as an RGBA PNG (nodata transparent)
    and its bounds [[south, west], [north, east]]. Raises FileNotFoundError when the raster is
    gone."""
    import math

    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds

    from pipeline.bands import band_indexes

    path = Path(scene.path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    with rasterio.open(path) as src:
        if src.crs is None:
            raise TankerWatchError(f"{path}: raster has no CRS")
        sb = transform_bounds(src.crs, "EPSG:3857", *src.bounds)
        ab = transform_bounds("EPSG:4326", "EPSG:3857", *aoi.bounds)
        b = (max(sb[0], ab[0]), max(sb[1], ab[1]), min(sb[2], ab[2]), min(sb[3], ab[3]))
        if b[0] >= b[2] or b[1] >= b[3]:  # the scene does not reach the AOI: show all of it
            b = sb
        lat = math.degrees(math.atan(math.sinh((b[1] + b[3]) / 2 / 6378137.0)))
        gsd = abs(src.res[0]) if src.crs.is_projected else abs(src.res[0]) * 111_320.0
        res = max(gsd / math.cos(math.radians(lat)), max(b[2] - b[0], b[3] - b[1]) / MAX_IMAGE_PX)
        width = max(1, round((b[2] - b[0]) / res))
        height = max(1, round((b[3] - b[1]) / res))
        try:
            idx = band_indexes(list(src.descriptions), ["B04", "B03", "B02"], str(path))
        except Exception:
            idx = [1, 1, 1]  # single band (e.g. SAR) or unnamed bands: grey
        dst = np.zeros((3, height, width), dtype="float32")
        nodata = src.nodata if src.nodata is not None else 0
        reproject(
            source=rasterio.band(src, idx),
            destination=dst,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=nodata,
            dst_transform=from_bounds(*b, width, height),
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=Resampling.average if res > gsd * 1.5 else Resampling.nearest,
        )
    valid = np.isfinite(dst).all(axis=0) & (dst != nodata).any(axis=0)
    rgba = np.zeros((height, width, 4), dtype="uint8")
    for i in range(3):
        vals = dst[i][valid]
        if vals.size:
            lo, hi = np.percentile(vals, [2, 98])
            band = np.clip((np.nan_to_num(dst[i]) - lo) / max(hi - lo, 1e-6) * 255, 0, 255)
            rgba[..., i] = band.astype("uint8")
    rgba[..., 3] = np.where(valid, 255, 0).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    w, s, e, n = transform_bounds("EPSG:3857", "EPSG:4326", *b)
    return buf.getvalue(), [[s, w], [n, e]]


# --------------------------------------------------------------------------- the map


def _e(v: Any) -> str:
    if hasattr(v, "tzinfo"):
        v = iso(v)
    return html.escape("" if v is None else str(v))


def _popup(title: str, rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<b>{_e(title)}</b><table>{body}</table>"


def _feature(geometry: dict, cls: str, popup: str, label: str, **style: Any) -> dict:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"popup": popup, "label": label, "style": {"className": cls, **style}},
    }


def _layer(folium: Any, name: str, features: list[dict], point: bool = False) -> Any:
    """A GeoJson layer whose features carry their own style, popup and tooltip."""
    fg = folium.FeatureGroup(name=name)
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda f: f["properties"]["style"],
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            # points as vector circles: Leaflet's default marker is an image it would fetch
            marker=folium.CircleMarker(radius=7 if point else 4),
        ).add_to(fg)
    return fg


_DROP = (
    re.compile(r"<meta[^>]*>", re.S),  # the report has its own charset and viewport
    re.compile(r"<style>\s*html,\s*body\s*\{.*?\}\s*</style>", re.S),  # full-page map styles
)


def _fragment(m: Any) -> str:
    """The map's styles, div and script, without folium's page shell and CDN resources."""
    root = m.get_root()
    root.render()
    header = root.header.render()
    for rx in _DROP:
        header = rx.sub("", header)
    body = root.html.render()
    script = root.script.render()
    external = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)\s*=", header + body + script)
    if external:  # a folium element brought its own CDN resource: do not write it
        raise RuntimeError(f"map would load external resources: {external}")
    return f"{header}\n{body}\n<script>{script}</script>"


def build_port_map(
    port: Port,
    scene: Scene | None,
    chosen_by: str,
    detections: list[Detection],
    berth_of: dict[str, str],
    visits: list[Visit],
    evidence: dict[str, Detection],
    delivery_of: dict[str, Any],
) -> PortMap:
    """One port's map. ``detections`` are the scene's; ``evidence`` the detections the visits
    rest on (for their positions); ``delivery_of`` visit id -> its delivery."""
    import folium
    from shapely.geometry import mapping

    notes: list[str] = []
    counts = {"aoi": 1, "land": len(port.land), "berths": len(port.berths)}
    aoi = port.aoi_shape
    w, s, e, n = aoi.bounds
    m = folium.Map(
        location=[(s + n) / 2, (w + e) / 2],
        tiles=None,
        height=f"{MAP_HEIGHT_PX}px",
        control_scale=True,
        zoom_start=14,
    )
    m.default_js, m.default_css = [], []  # Leaflet is inlined once in the report's head
    folium.FeatureGroup(name=PLAIN_NAME, overlay=False, show=True).add_to(m)
    folium.TileLayer("OpenStreetMap", name=OSM_NAME, overlay=False, show=False).add_to(m)
    folium.map.CustomPane("scene", z_index=350).add_to(m)  # under the vectors, whatever is on

    counts["image"] = 0
    if scene is not None:
        try:
            png, bounds = scene_overlay(scene, aoi)
        except FileNotFoundError:
            notes.append(f"the raster of scene {scene.id} is missing ({scene.path}): no image")
        except Exception as exc:  # a damaged raster must not stop the report
            notes.append(f"the raster of scene {scene.id} could not be read: {exc}")
        else:
            url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            folium.raster_layers.ImageOverlay(
                url,
                bounds=bounds,
                name=f"scene image {scene.acquired:%Y-%m-%d}",
                pane="scene",
                pixelated=True,
                className="tw-image",
            ).add_to(m)
            counts["image"] = 1

    land = [
        _feature(
            mapping(p),
            "tw-land",
            _popup(f"land polygon {i}", [("port", port.name)]),
            f"land {i}",
            color=LAND,
            weight=1,
            fillColor=LAND,
            fillOpacity=0.2,
        )
        for i, p in enumerate(_land_rings(port))
    ]
    _layer(folium, "land", land).add_to(m)
    prov = port.provenance
    aoi_f = _feature(
        mapping(aoi),
        "tw-aoi",
        _popup(
            f"AOI of {port.display_name}",
            [("port", port.name), ("geometry", prov.method), ("precision (m)", prov.precision_m)],
        ),
        "AOI",
        color="#111111",
        weight=2,
        dashArray="6 4",
        fill=False,
    )
    _layer(folium, "AOI", [aoi_f]).add_to(m)
    berths = []
    for b in port.berths:
        colour = ROLE_COLOURS.get(b.role, ROLE_COLOURS["other"])
        bp = b.provenance or prov
        berths.append(
            _feature(
                mapping(b.shape),
                "tw-berth",
                _popup(
                    f"berth {b.id}",
                    [
                        ("name", b.name),
                        ("role", b.role),
                        ("product", b.product or "n/a"),
                        ("precision (m)", bp.precision_m),
                    ],
                ),
                f"{b.id} ({b.role})",
                color=colour,
                weight=2,
                fillColor=colour,
                fillOpacity=0.15,
            )
        )
    _layer(folium, f"berths ({len(berths)})", berths).add_to(m)

    visit_of = {det_id: v.id for v in visits for det_id in v.evidence}
    dets = []
    for d in detections:
        geom = _geometry(d)
        visit = visit_of.get(d.id)
        colour = EVIDENCE if visit else OTHER_DETECTION
        dets.append(
            _feature(
                geom,
                "tw-detection",
                _popup(
                    f"detection {d.id}",
                    [
                        ("class", d.cls),
                        ("length x beam (m)", f"{d.length_m:.0f} x {d.beam_m:.0f}"),
                        ("heading (deg)", f"{d.heading_deg:.0f}"),
                        ("score", f"{d.score:.2f}"),
                        ("berth", berth_of.get(d.id, "none")),
                        ("visit", visit or "none"),
                        ("model", d.model),
                    ],
                ),
                f"{d.length_m:.0f} m {d.cls}"
                + (f" at {berth_of[d.id]}" if d.id in berth_of else ""),
                color=colour,
                weight=2,
                fillColor=colour,
                fillOpacity=0.35,
            )
        )
    counts["detections"] = len(dets)
    if scene is not None:
        _layer(folium, f"detections in the scene ({len(dets)})", dets).add_to(m)

    shapes = {b.id: b.shape for b in port.berths}
    marks, unplaced = [], 0
    for v in sorted(visits, key=lambda v: (v.first_seen, v.id)):
        pts = [evidence[i] for i in v.evidence if i in evidence]
        if pts:
            lon = sum(p.lon for p in pts) / len(pts)
            lat = sum(p.lat for p in pts) / len(pts)
        elif v.berth in shapes:
            c = shapes[v.berth].centroid
            lon, lat = c.x, c.y
        else:
            unplaced += 1
            continue
        in_scene = scene is not None and (
            scene.id in (v.sightings or []) or any(p.scene_id == scene.id for p in pts)
        )
        dlv = delivery_of.get(v.id)
        rows = [
            ("berth", v.berth),
            ("arrived after", v.arrived_after),
            ("first seen", v.first_seen),
            ("last seen", v.last_seen),
            ("departed before", v.departed_before),
            ("images", v.n_obs),
            ("length x beam (m)", f"{v.length_m:.0f} x {v.beam_m:.0f}"),
            ("vessel key", v.vessel_key),
        ]
        if dlv is not None:
            rows += [("delivery", dlv.id), ("vessel", dlv.vessel)]
        if in_scene:
            rows.append(("in this scene", "yes"))
        marks.append(
            _feature(
                {"type": "Point", "coordinates": [lon, lat]},
                "tw-visit",
                _popup(f"visit {v.id}", rows),
                f"{v.berth}: {v.first_seen:%Y-%m-%d} to {v.last_seen:%Y-%m-%d}",
                color="#1d3557",
                weight=2,
                fillColor=EVIDENCE if in_scene else "#ffffff",
                fillOpacity=0.9 if in_scene else 0.6,
            )
        )
    if unplaced:
        notes.append(f"{unplaced} visits at berths this port file does not have are not drawn")
    counts["visits"] = len(marks)
    _layer(folium, f"visits ({len(marks)})", marks, point=True).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    frag = (
        f'<div class="tw-map" data-port="{_e(port.name)}" '
        f'data-scene="{_e(scene.id if scene else "")}">{_fragment(m)}</div>'
    )
    return PortMap(port.name, scene, chosen_by, frag, counts, notes)


def _land_rings(port: Port) -> list[Any]:
    from shapely.geometry import Polygon

    return [Polygon(r) for r in port.land]


def _geometry(d: Detection) -> dict:
    """The footprint as GeoJSON (a point buffered to the length when there is no polygon)."""
    from shapely import wkt
    from shapely.geometry import mapping

    if d.geometry:
        try:
            g = wkt.loads(d.geometry)
            if not g.is_empty:
                return mapping(g)
        except Exception:
            pass
    return {"type": "Point", "coordinates": [d.lon, d.lat]}


# --------------------------------------------------------------------------- per port


def resolve_ports(
    ledger: Any, run: Any, ports: list[Port] | None, chosen: dict[str, Scene]
) -> tuple[list[Port], list[str]]:
    """The ports to map and notes on those without a port file. Given ``ports`` win; else the
    run's ports (its config), else the ports of the ledger's scenes; a ``--map-scene`` scene's
    port is always mapped."""
    if ports is not None:
        names = [p.name for p in ports]
        for s in chosen.values():
            if s.port not in names:
                raise TankerWatchError(
                    f"--map-scene {s.id}: its port '{s.port}' is not among --ports "
                    f"({', '.join(names)})"
                )
        return list(ports), []
    cfg = (run.config or {}) if run is not None else {}
    names = cfg.get("ports") if isinstance(cfg.get("ports"), list) else None
    if not names:
        names = sorted({s.port for s in ledger.scenes()})
    names = sorted(set(names) | {s.port for s in chosen.values()})
    out, notes = [], []
    for name in names:
        try:
            out.append(load_port(name))
        except TankerWatchError as exc:
            if any(s.port == name for s in chosen.values()):
                raise TankerWatchError(
                    f"--map-scene: no port file for port '{name}' ({exc}); pass it with --ports"
                ) from None
            notes.append(f"port {name}: no map ({exc}); pass its port file with --ports")
    return out, notes


def check_map_scenes(ledger: Any, scene_ids: list[str]) -> dict[str, Scene]:
    """port -> the scene asked for; one line naming the scene when it is not in the ledger."""
    out: dict[str, Scene] = {}
    for sid in scene_ids:
        scene = ledger.scene(sid)
        if scene is None:
            raise TankerWatchError(
                f"--map-scene: ledger at {ledger.display_url} has no scene {sid}"
            )
        if scene.port in out and out[scene.port].id != sid:
            raise TankerWatchError(
                f"--map-scene: two scenes of port '{scene.port}' ({out[scene.port].id}, {sid}); "
                "give one per port"
            )
        out[scene.port] = scene
    return out


def port_maps(
    ledger: Any,
    run: Any,
    visits: dict[str, Visit],
    deliveries: list[Any],
    ports: list[Port] | None = None,
    map_scenes: list[str] | None = None,
) -> tuple[list[PortMap], list[str]]:
    """Every port's map for the report, and notes on the ports without one."""
    chosen = check_map_scenes(ledger, map_scenes or [])
    mapped, notes = resolve_ports(ledger, run, ports, chosen)
    models = set(run.model.split(",")) if run is not None and run.model else None
    margin = berth_margin_m(run.config if run is not None else None)
    delivery_of = {d.load_visit: d for d in deliveries}
    out = []
    for port in mapped:
        scenes = ledger.scenes(ports=[port.name])
        dets = [
            d for d in ledger.detections(ports=[port.name]) if models is None or d.model in models
        ]
        berth_of = at_berths(port, dets, margin)
        ranked = rank_scenes(scenes, dets, berth_of)
        if port.name in chosen:
            scene, chosen_by = chosen[port.name], "chosen with --map-scene"
        elif ranked:
            scene = ranked[0][0]
            chosen_by = (
                "chosen by default: the scene with the most detections at berths, then the "
                "clearest, then the latest"
            )
        else:
            scene, chosen_by = None, "no scene of this port in the ledger"
        scene_dets = [d for d in dets if scene is not None and d.scene_id == scene.id]
        port_visits = [v for v in visits.values() if v.port == port.name]
        ids = sorted({i for v in port_visits for i in v.evidence})
        evidence = {d.id: d for d in ledger.detections(ids=ids)} if ids else {}
        pm = build_port_map(
            port, scene, chosen_by, scene_dets, berth_of, port_visits, evidence, delivery_of
        )
        pm.html += _caption(port, pm, ranked, margin)
        out.append(pm)
    return out, notes


def _caption(port: Port, pm: PortMap, ranked: list[tuple[Scene, int, int]], margin: float) -> str:
    prov = port.provenance
    s = pm.scene
    scene_txt = (
        f"Scene <code>{_e(s.id)}</code> ({_e(s.sensor)}, {s.gsd_m:g} m), acquired "
        f"{_e(iso(s.acquired))}, cloud {s.cloud_fraction:.0%}; {_e(pm.chosen_by)}."
        if s is not None
        else "No scene of this port in the ledger."
    )
    notes = "".join(f" Note: {_e(n)}." for n in pm.notes)
    rows = "".join(
        f"<tr><td><code>{_e(sc.id)}</code></td><td>{_e(iso(sc.acquired))}</td>"
        f'<td class="n">{n_at}</td><td class="n">{n_all}</td>'
        f'<td class="n">{sc.cloud_fraction:.0%}</td></tr>'
        for sc, n_at, n_all in ranked[:5]
    )
    table = (
        "<table><tr><th>scene</th><th>acquired</th><th>detections at berths</th>"
        f"<th>detections</th><th>cloud</th></tr>{rows}</table>"
        if rows
        else ""
    )
    return (
        f'<p class="mapcaption">{_e(port.display_name)}: AOI (dashed), land (brown), berths '
        "(red load, blue discharge, grey other), the scene's detections (orange: evidence of a "
        "visit; yellow: not in any visit) and the run's visits (circles at their detections' "
        f"mean position; filled: seen in this scene). {scene_txt}{notes} Port geometry: "
        f"{_e(prov.method)} (precision {prov.precision_m:g} m). A detection is at a berth when "
        f"its footprint is within {margin:g} m of the berth polygon. Show another scene with "
        "<code>tankerwatch report --map-scene SCENE_ID</code>; the best candidates:</p>"
        f"{table}"
    )
