"""Trace a port from its images: land and water from a stack of clear scenes, berths where hulls
lie alongside land again and again, as a draft port config to be reviewed.

Land: each scene's water index with the pixels its SCL calls nodata, cloud, cloud shadow or
cirrus masked out (scenes without SCL: only nodata), then the per-pixel median over the stack:
ships, wakes and passing clouds that cover a pixel in fewer than half the clear images fall out.
The index is NDWI = (green - NIR) / (green + NIR) (McFeeters 1996); ``index: mndwi`` uses
MNDWI = (green - SWIR) / (green + SWIR) (B03, B11; Xu 2006) instead, and ``auto`` MNDWI where
the scenes have B11. NDWI is the default: on the seven real development scenes it put more of
the labelled ships on the water side than MNDWI did (BENCHMARKS.md). Land is the median index
below ``ndwi_land``,
cleaned like ``pipeline.detect.land`` (land specks and water holes under a few hundred pixels
dropped), less the water the index missed (``dark_water``: pixels connected to the index's water
that are as dark as water in NIR, such as turbid or glinting harbour water and shadowed docks,
which NDWI puts a little under 0), turned into polygons (``rasterio.features.shapes``) and
simplified to one pixel (``shapely`` Douglas-Peucker at the GSD), so the outline claims no
more than the imagery shows.
Scenes of several grids (Sentinel-2 over the AOI, a 3 m box at one berth): the grid that covers
the most ground is used for land (ties: the one with more scenes).

Berths: detections that are not persistent objects (``pipeline.portcalls.persistent``) and lie
alongside the traced land (footprint within ``alongside_m``) are linked when their centres are
closer than ``link_m`` (connected components of the radius graph: DBSCAN's core idea with
``min_samples`` 1, on ``scipy.spatial.cKDTree``); a cluster seen in at least ``min_scenes``
distinct images on at least ``min_days`` distinct days is a berth where ships stop. Its axis is the
axial mean of the hulls' headings, its polygon the rectangle on that axis holding the middle 90 %
of the hulls' footprints less the traced land, and its precision the hulls' across-berth
scatter combined with the GSD.
A traced berth within ``match_m`` of a berth of the existing port config takes that berth's id,
name, role and product; the others are ``traced-N`` with role ``other`` for the reviewer to name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.errors import TankerWatchError
from pipeline.records import Detection, Scene, utc

# SCL classes that show nothing of the ground: nodata, saturated, cloud shadow, cloud, cirrus
SCL_HIDDEN = (0, 1, 3, 8, 9, 10)


@dataclass
class TraceParams:
    index: str = "ndwi"  # water index: ndwi, mndwi, or auto (MNDWI where B11 is there)
    ndwi_land: float = 0.0  # median water index below this is land
    min_land_px: int = 200  # land components smaller than this many pixels are dropped
    max_hole_px: int = 100  # water holes smaller than this inside land are filled
    min_valid: int = 3  # a pixel needs this many clear looks to be classed at all
    max_cloud: float = 0.6  # scenes with more cloud over the AOI are left out of the median
    # water darker than land in the index's dark band (NIR for NDWI) that the index calls land
    # (turbid or glinting harbour water, shadowed docks): grown from the sure water into pixels
    # connected to it whose median dark band lies below water + dark_water x (land - water),
    # the two medians of the scene; None: off
    dark_water: float | None = 0.25
    dark_water_min_index: float = -0.15  # ...and whose index is at least this
    alongside_m: float = 30.0  # a hull whose footprint is this close to land lies alongside
    link_m: float = 60.0  # hull centres closer than this link into one berth cluster
    min_scenes: int = 3  # a berth: hulls seen there in at least this many images...
    min_days: int = 3  # ...on at least this many different days
    # shorter hulls (tugs, boats, pier fittings) make no berth: the port calls' shortest tanker,
    # measured less the detector's bias when its size error is given
    min_length_m: float = 40.0
    match_m: float = 150.0  # a traced berth this close to a configured one takes its id and role
    # hulls whose heading is further than this from their cluster's axis lie across the berth
    # (barges moored off the quay) and are left out of it; None: all kept
    max_heading_dev_deg: float | None = 30.0


@dataclass
class StackScene:
    path: Path
    acquired: datetime | None
    sensor: str
    scl: Path | None
    cloud: float | None = None  # cloud fraction over the scene, when known


@dataclass
class TracedBerth:
    polygon_m: object  # shapely, in the trace CRS
    axis_deg: float  # 0-180, clockwise from north
    n_detections: int
    n_scenes: int
    n_days: int
    scatter_m: float  # across-berth 1-sigma scatter of the hull centres
    precision_m: float
    id: str = ""
    name: str = ""
    role: str = "other"
    product: str | None = None


@dataclass
class Trace:
    port: str
    crs: str  # the grid's CRS (metres)
    gsd_m: float
    transform: object  # affine of the land grid
    land_mask: np.ndarray  # bool [H, W]
    median_ndwi: np.ndarray  # float [H, W] (nan: no clear look)
    median_rgb: np.ndarray | None  # float [H, W, 3] reflectance-like, for the picture
    footprint_m: object  # the grid's valid area (shapely, CRS metres)
    land_m: object  # traced land (shapely, CRS metres), simplified
    berths: list[TracedBerth]
    n_scenes: int  # scenes in the median
    n_scenes_given: int
    sensors: list[str]
    first: datetime | None
    last: datetime | None
    index: str = "ndwi"  # the water index used
    n_detections_used: int = 0
    persistent_left_out: int = 0
    dark_water_px: int = 0  # pixels the index called land taken as dark water (dark_water)
    notes: list[str] = field(default_factory=list)

    @property
    def precision_m(self) -> float:
        return max([self.gsd_m] + [b.precision_m for b in self.berths])


# --------------------------------------------------------------------------- the stack


def scene_folder_item(path: Path) -> tuple[Path, dict]:
    """(scene.tif, STAC properties or {}) for a scene folder or a scene GeoTIFF."""
    path = Path(path)
    tif = path / "scene.tif" if path.is_dir() else path
    if not tif.exists():
        raise TankerWatchError(f"{path}: no scene GeoTIFF (scene.tif) there")
    item = tif.parent / "item.json"
    props: dict = {}
    if item.exists():
        try:
            props = json.loads(item.read_text(encoding="utf-8")).get("properties", {}) or {}
        except ValueError as exc:
            raise TankerWatchError(f"{item}: malformed STAC item ({exc})") from None
    return tif, props


def stack_from_paths(paths: list[Path]) -> list[StackScene]:
    """Scene folders or GeoTIFFs (a folder of scene folders is walked) as a stack; SCL from a
    ``scl.tif`` beside each scene, cloud cover from its STAC item (``eo:cloud_cover``)."""
    out = []
    todo: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise TankerWatchError(f"{p}: no such file or folder")
        if p.is_dir() and not (p / "scene.tif").exists():
            found = sorted(q.parent for q in p.rglob("scene.tif"))
            if not found:
                raise TankerWatchError(f"{p}: no scene.tif in this folder or below it")
            todo += found
        else:
            todo.append(p)
    for p in todo:
        tif, props = scene_folder_item(p)
        cloud = props.get("eo:cloud_cover")
        when = props.get("datetime") or _tag_time(tif)
        scl = tif.parent / "scl.tif"
        out.append(
            StackScene(
                path=tif,
                acquired=utc(when) if when else None,
                sensor=str(props.get("tankerwatch:sensor", "")),
                scl=scl if scl.exists() else None,
                cloud=None if cloud is None else float(cloud) / 100.0,
            )
        )
    return out


def _tag_time(tif: Path) -> str | None:
    import rasterio

    try:
        with rasterio.open(tif) as src:
            return src.tags().get("ACQUIRED")
    except rasterio.errors.RasterioIOError as exc:
        raise TankerWatchError(f"{tif}: cannot read ({exc})") from None


def stack_from_scenes(scenes: list[Scene]) -> list[StackScene]:
    """Catalogue scenes (the ledger's) as a stack; SCL from ``scl.tif`` beside each."""
    out = []
    for s in scenes:
        tif = Path(s.path)
        scl = tif.parent / "scl.tif"
        out.append(
            StackScene(tif, s.acquired, s.sensor, scl if scl.exists() else None, s.cloud_fraction)
        )
    return out


def _read(sc: StackScene, index: str):
    """(gsd, water index, rgb or None, clear mask) of one scene. ``index``: ndwi, mndwi or auto
    (MNDWI where the scene has B11, else NDWI)."""
    import rasterio

    from pipeline.bands import band_indexes

    try:
        with rasterio.open(sc.path) as src:
            if src.crs is None:
                raise TankerWatchError(f"{sc.path}: no CRS")
            descs = list(src.descriptions)
            names = {(d or "").upper() for d in descs}
            use = index if index != "auto" else ("mndwi" if "B11" in names else "ndwi")
            other = "B11" if use == "mndwi" else "B08"
            ig, io_ = band_indexes(descs, ["B03", other], str(sc.path))
            green = src.read(ig).astype(np.float32)
            dark = src.read(io_).astype(np.float32)
            rgb = None
            try:
                ir, igg, ib = band_indexes(descs, ["B04", "B03", "B02"], str(sc.path))
                rgb = np.stack([src.read(i) for i in (ir, igg, ib)], axis=-1).astype(np.float32)
            except TankerWatchError:
                pass
            gsd = abs(src.transform.a)
            if src.crs.is_geographic:
                gsd *= 111_320.0
    except rasterio.errors.RasterioIOError as exc:
        raise TankerWatchError(f"{sc.path}: cannot read ({exc})") from None
    clear = (green > 0) & (dark > 0)
    if sc.scl is not None:
        try:
            with rasterio.open(sc.scl) as src:
                scl = src.read(1)
        except rasterio.errors.RasterioIOError as exc:
            raise TankerWatchError(f"{sc.scl}: cannot read ({exc})") from None
        if scl.shape == clear.shape:
            clear &= ~np.isin(scl, SCL_HIDDEN)
    # the +1000 DN offset of newer L2A products cancels in the difference: the sign holds
    with np.errstate(invalid="ignore", divide="ignore"):
        wi = (green - dark) / (green + dark)
    wi[~clear] = np.nan
    dark = dark.copy()
    dark[~clear] = np.nan
    return gsd, wi, rgb, clear, use, dark


def _clean(land: np.ndarray, p: TraceParams) -> np.ndarray:
    from scipy import ndimage

    lab, k = ndimage.label(land, structure=np.ones((3, 3)))
    if k:
        sizes = np.bincount(lab.ravel())
        keep = sizes >= p.min_land_px
        keep[0] = False
        land = keep[lab]
    lab, k = ndimage.label(~land)
    if k:
        sizes = np.bincount(lab.ravel())
        fill = sizes < p.max_hole_px
        fill[0] = False
        land = land | fill[lab]
    return land


def dark_water(land: np.ndarray, index: np.ndarray, dark: np.ndarray, p: TraceParams):
    """``land`` less the water the index missed: pixels connected to the sure water (what the
    index calls water) through pixels as dark as water in the index's dark band (NIR for NDWI).

    Water absorbs NIR whatever its colour, while the index needs green above NIR: turbid,
    glinting or hazy harbour water, and docks in the shadow of a quay or a bridge, have NDWI a
    little under 0 and were taken for land (Algiers' basin and near-shore sea, sen2ships).
    "Dark" is set by the scene itself: below water + ``dark_water`` x (land - water), the
    median dark band of the sure water and of the land. Dark land (shadows, asphalt) is reached
    only where it touches that water, and an index under ``dark_water_min_index`` (vegetation,
    roofs) stops the growth."""
    from scipy import ndimage

    ok = np.isfinite(index) & np.isfinite(dark)
    water = ok & ~land
    if p.dark_water is None or water.sum() < p.min_land_px or (land & ok).sum() < p.min_land_px:
        return land
    w50 = float(np.median(dark[water]))
    l50 = float(np.median(dark[land & ok]))
    if not l50 > w50:
        return land  # water no darker than land in this band: nothing to tell them apart by
    thr = w50 + p.dark_water * (l50 - w50)
    maybe = land & ok & (dark <= thr) & (index >= p.dark_water_min_index)
    grown = ndimage.binary_propagation(water, mask=water | maybe)
    return _clean(land & ~grown, p)


def median_land(stack: list[StackScene], p: TraceParams):
    """(gsd, transform, crs, median water index, median RGB, land mask, n scenes used, index
    used, pixels of dark water taken from the index's land) over the grid that covers the most
    ground."""
    import rasterio

    if not stack:
        raise TankerWatchError("no scenes to trace from")
    clear = [sc for sc in stack if sc.cloud is None or sc.cloud <= p.max_cloud]
    if not clear:
        raise TankerWatchError(
            f"no clear scenes to trace from: all {len(stack)} have more than "
            f"{p.max_cloud:.0%} cloud"
        )
    groups: dict = {}
    for sc in clear:
        with rasterio.open(sc.path) as src:
            key = (src.crs.to_string() if src.crs else "", tuple(src.transform[:6]), src.shape)
            area = abs(src.transform.a * src.transform.e) * src.width * src.height
        groups.setdefault(key, [area, []])[1].append(sc)
    key = max(groups, key=lambda k: (groups[k][0], len(groups[k][1])))
    chosen = groups[key][1]
    ndwis, darks, rgbs, gsd, transform, crs = [], [], [], 0.0, None, None
    used = set()
    for sc in chosen:
        gsd, ndwi, rgb, clear, which, dark = _read(sc, p.index)
        used.add(which)
        ndwis.append(ndwi)
        darks.append(dark)
        if rgb is not None:
            r = rgb.copy()
            r[~clear] = np.nan
            rgbs.append(r)
    with rasterio.open(chosen[0].path) as src:
        transform, crs = src.transform, src.crs.to_string()
    cube = np.stack(ndwis)
    looks = np.isfinite(cube).sum(axis=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan pixels stay nan
        med = np.nanmedian(cube, axis=0)
        med_dark = np.nanmedian(np.stack(darks), axis=0) if p.dark_water is not None else None
        med_rgb = np.nanmedian(np.stack(rgbs), axis=0) if rgbs else None
    med[looks < p.min_valid] = np.nan
    land = np.isfinite(med) & (med < p.ndwi_land)
    land = _clean(land, p)
    grown = 0
    if med_dark is not None:
        before = int(land.sum())
        land = dark_water(land, med, med_dark, p)
        grown = max(before - int(land.sum()), 0)
    return gsd, transform, crs, med, med_rgb, land, len(chosen), "/".join(sorted(used)), grown


def _polygons(mask: np.ndarray, transform) -> object:
    from rasterio import features
    from shapely.geometry import shape
    from shapely.ops import unary_union

    polys = [
        shape(g)
        for g, v in features.shapes(mask.astype(np.uint8), mask=mask, transform=transform)
        if v == 1
    ]
    return unary_union(polys) if polys else None


# --------------------------------------------------------------------------- berths


def _axial_mean_deg(headings: np.ndarray) -> float:
    """Mean direction of undirected axes (0-180): angles doubled, averaged, halved."""
    a = np.radians(np.asarray(headings, dtype=float) * 2.0)
    return float(math.degrees(math.atan2(np.sin(a).mean(), np.cos(a).mean())) / 2.0) % 180.0


def _axial_dev_deg(heading: float, axis: float) -> float:
    """Angle (0-90) between an undirected heading and an axis, degrees."""
    d = abs(float(heading) - float(axis)) % 180.0
    return min(d, 180.0 - d)


def _footprints_m(dets: list[Detection], crs: str) -> list:
    from shapely import wkt
    from shapely.geometry import Point

    from pipeline.geo import reproject, transformer

    tr = transformer("EPSG:4326", crs)
    out = []
    for d in dets:
        g = None
        if d.geometry:
            try:
                g = wkt.loads(d.geometry)
            except Exception:
                raise TankerWatchError(f"detection {d.id}: geometry is not valid WKT") from None
        if g is None or g.is_empty:
            x, y = tr.transform(d.lon, d.lat)
            g = Point(x, y).buffer(max(d.length_m, 1.0) / 2)
        else:
            g = reproject(g, "EPSG:4326", crs)
        out.append(g)
    return out


def propose_berths(
    detections: list[Detection],
    scenes: list[Scene],
    land_m,
    crs: str,
    gsd_m: float,
    p: TraceParams,
    persistent: dict[str, str] | None = None,
    size_error_for=None,
) -> tuple[list[TracedBerth], int]:
    """Berths where hulls lie alongside ``land_m`` again and again; (berths, detections used).
    ``size_error_for`` (sensor name -> portcalls SizeError, e.g. ``PortcallParams.size_error_for``):
    lengths are compared less the bias of the detector of each scene's sensor."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    from shapely import affinity
    from shapely.geometry import box

    persistent = persistent or {}
    when = {s.id: s.acquired for s in scenes}
    gsd_of = {s.id: s.gsd_m for s in scenes}
    sensor_of = {s.id: s.sensor for s in scenes}

    def length(d: Detection) -> float:
        if size_error_for is None:
            return d.length_m
        err = size_error_for(sensor_of.get(d.scene_id, ""))
        return err.debiased(gsd_of.get(d.scene_id) or gsd_m, d.length_m, d.beam_m)[0]

    cand = [
        d
        for d in detections
        if d.id not in persistent and d.scene_id in when and length(d) >= p.min_length_m
    ]
    if not cand or land_m is None or land_m.is_empty:
        return [], 0
    fps = _footprints_m(cand, crs)
    near = land_m.buffer(p.alongside_m)
    keep = [i for i, g in enumerate(fps) if g.intersects(near)]
    cand = [cand[i] for i in keep]
    fps = [fps[i] for i in keep]
    if not cand:
        return [], 0
    xy = np.array([[g.centroid.x, g.centroid.y] for g in fps])
    pairs = cKDTree(xy).query_pairs(p.link_m, output_type="ndarray")
    n = len(cand)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    k, labels = connected_components(graph, directed=False)
    berths = []
    used = 0
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        axis = _axial_mean_deg(np.array([cand[i].heading_deg for i in idx]))
        if p.max_heading_dev_deg is not None:
            # a berth's hulls lie along it: one across it (a barge moored off the quay, a boat
            # alongside a ship) is no hull of this berth. Twice, so that the axis the strays
            # are judged against is the others' mean
            for _ in range(2):
                dev = np.array([_axial_dev_deg(cand[i].heading_deg, axis) for i in idx])
                keep = idx[dev <= p.max_heading_dev_deg]
                if len(keep) == 0:
                    break
                idx = keep
                axis = _axial_mean_deg(np.array([cand[i].heading_deg for i in idx]))
        scenes_c = {cand[i].scene_id for i in idx}
        days = {when[s].date() for s in scenes_c}
        if len(scenes_c) < p.min_scenes or len(days) < p.min_days:
            continue
        used += len(idx)
        th = math.radians(axis)
        u = np.array([math.sin(th), math.cos(th)])  # along the berth (x east, y north)
        v = np.array([math.cos(th), -math.sin(th)])  # across it
        pts = np.concatenate([np.asarray(fps[i].exterior.coords) for i in idx])
        a = pts @ u
        b = pts @ v
        a0, a1 = np.percentile(a, [5, 95])
        b0, b1 = np.percentile(b, [5, 95])
        centres = xy[idx]
        across = centres @ v
        scatter = float(np.std(across)) if len(idx) > 1 else 0.0
        # the finest imagery that saw the berth sets the pixel error of a hull's centre
        g = min(gsd_of.get(cand[i].scene_id) or gsd_m for i in idx)
        prec = math.hypot(g, scatter)
        rect = box(a0, b0, a1, b1)  # in (along, across) coordinates
        # back to (x, y): x = a*u_x + b*v_x, y = a*u_y + b*v_y
        poly = affinity.affine_transform(rect, [u[0], v[0], u[1], v[1], 0.0, 0.0])
        # a berth is water: the part of the rectangle over the traced land is cut away (the
        # 10 m footprints of hulls alongside take in the quay edge)
        water = poly.difference(land_m)
        if water.geom_type == "MultiPolygon":
            water = max(water.geoms, key=lambda g: g.area)
        if water.geom_type == "Polygon" and water.area >= 0.3 * poly.area:
            poly = water.simplify(gsd_m / 2, preserve_topology=True)
        berths.append(
            TracedBerth(
                polygon_m=poly,
                axis_deg=round(axis, 1),
                n_detections=len(idx),
                n_scenes=len(scenes_c),
                n_days=len(days),
                scatter_m=round(scatter, 1),
                precision_m=round(prec, 1),
            )
        )
    berths.sort(key=lambda b: -b.n_scenes)
    return berths, used


def name_berths(berths: list[TracedBerth], port, crs: str, p: TraceParams) -> None:
    """Ids, names and roles: from the configured berth nearest each traced one (within
    ``match_m``, each configured berth used once), else ``traced-N`` with role ``other``."""
    from pipeline.geo import reproject

    known = []
    if port is not None:
        known = [(b, reproject(b.shape, "EPSG:4326", crs)) for b in port.berths]
    taken: set[str] = set()
    pairs = sorted(
        (tb.polygon_m.centroid.distance(g.centroid), i, b.id)
        for i, tb in enumerate(berths)
        for b, g in known
    )
    by_id = {b.id: b for b, _ in known}
    named: set[int] = set()
    for dist, i, bid in pairs:
        if dist > p.match_m or i in named or bid in taken:
            continue
        b = by_id[bid]
        tb = berths[i]
        tb.id, tb.name, tb.role, tb.product = b.id, b.name, b.role, b.product
        named.add(i)
        taken.add(bid)
    n = 0
    for i, tb in enumerate(berths):
        if i in named:
            continue
        n += 1
        while f"traced-{n}" in taken:
            n += 1
        tb.id, tb.name, tb.role = f"traced-{n}", f"Traced berth {n} (to be named)", "other"
        taken.add(tb.id)


# --------------------------------------------------------------------------- the whole trace


def trace_port(
    port,
    stack: list[StackScene],
    detections: list[Detection] | None = None,
    scenes: list[Scene] | None = None,
    params: TraceParams | None = None,
    persistent: dict[str, str] | None = None,
    size_error_for=None,
) -> Trace:
    """Land from ``stack``, berths from ``detections`` (of ``scenes``; none: land only).

    ``port``: the configured port (name, AOI, existing berths to take ids and roles from) or
    None. ``persistent``: detection id -> reason of detections set apart as fixed objects
    (``pipeline.portcalls.persistent.find_persistent``); they make no berth. ``size_error_for``:
    sensor name -> the detector's size error (configs/estimate ``portcalls.size_error`` and
    ``size_error_by_sensor``: ``PortcallParams.size_error_for``), to debias hull lengths."""
    from shapely.geometry import box

    from pipeline.geo import reproject

    p = params or TraceParams()
    gsd, transform, crs, med, med_rgb, land, n_used, index, grown = median_land(stack, p)
    h, w = land.shape
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (w, h)
    footprint = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    seen = _polygons(np.isfinite(med), transform)
    if seen is not None:
        footprint = seen
    land_m = _polygons(land, transform)
    if land_m is not None:
        land_m = land_m.simplify(gsd, preserve_topology=True).buffer(0)
    times = [s.acquired for s in stack if s.acquired is not None]
    notes = []
    if port is not None:
        aoi_m = reproject(port.aoi_shape, "EPSG:4326", crs)
        if not footprint.intersects(aoi_m):
            raise TankerWatchError(
                f"port '{port.name}': the scenes do not cover its AOI (wrong port or scenes?)"
            )
    berths, used = [], 0
    n_persistent = len(persistent or {})
    if detections:
        berths, used = propose_berths(
            detections, scenes or [], land_m, crs, gsd, p, persistent, size_error_for
        )
        if port is not None:
            aoi_m = reproject(port.aoi_shape, "EPSG:4326", crs)
            inside = [b for b in berths if aoi_m.contains(b.polygon_m)]
            if len(inside) < len(berths):
                notes.append(f"{len(berths) - len(inside)} traced berths outside the AOI left out")
            berths = inside
        name_berths(berths, port, crs, p)
    else:
        notes.append("no detections given: land only, no berths proposed")
    return Trace(
        port=port.name if port is not None else "",
        crs=crs,
        gsd_m=round(gsd, 2),
        transform=transform,
        land_mask=land,
        median_ndwi=med,
        median_rgb=med_rgb,
        footprint_m=footprint,
        land_m=land_m,
        berths=berths,
        n_scenes=n_used,
        n_scenes_given=len(stack),
        sensors=sorted({s.sensor for s in stack if s.sensor}),
        first=min(times) if times else None,
        last=max(times) if times else None,
        index=index,
        n_detections_used=used,
        persistent_left_out=n_persistent,
        dark_water_px=grown,
        notes=notes,
    )


# --------------------------------------------------------------------------- the draft


def _ring(geom) -> list[list[float]]:
    return [[round(float(x), 6), round(float(y), 6)] for x, y in geom.exterior.coords]


def _valid_ring(ring) -> bool:
    from shapely.geometry import Polygon

    return len(ring) >= 4 and Polygon(ring).is_valid and Polygon(ring).area > 0


def draft_port(trace: Trace, port) -> dict:
    """The traced port as a port config (the schema of configs/ports/*.yaml) to be reviewed.

    Land inside the traced footprint is the traced land; land of ``port`` outside it (not
    imaged) is kept and the provenance says so. Holes in the land (enclosed water) cannot be
    written in this schema and are filled."""
    from shapely.geometry import Polygon
    from shapely.ops import unary_union

    from pipeline.geo import reproject

    land = trace.land_m if trace.land_m is not None else Polygon()
    kept_outside = False
    if port is not None and port.land:
        old_m = reproject(port.land_shape, "EPSG:4326", trace.crs)
        outside = old_m.difference(trace.footprint_m.buffer(trace.gsd_m))
        if not outside.is_empty and outside.area > 25 * trace.gsd_m**2:
            land = unary_union([land, outside])
            kept_outside = True
    if port is not None:
        land = land.intersection(
            reproject(port.aoi_shape, "EPSG:4326", trace.crs).buffer(10 * trace.gsd_m)
        )
    parts = [g for g in getattr(land, "geoms", [land]) if g.geom_type == "Polygon"]
    rings = []
    for g in sorted(parts, key=lambda g: -g.area):
        if g.area < 4 * trace.gsd_m**2:
            continue
        ll = reproject(Polygon(g.exterior), trace.crs, "EPSG:4326")
        r = _ring(ll)
        if not _valid_ring(r):
            r = _ring(ll.buffer(0)) if ll.buffer(0).geom_type == "Polygon" else r
        if _valid_ring(r):
            rings.append(r)
    berths = []
    for b in trace.berths:
        ring = _ring(reproject(b.polygon_m, trace.crs, "EPSG:4326"))
        entry = {"id": b.id, "name": b.name, "role": b.role}
        if b.product:
            entry["product"] = b.product
        entry["polygon"] = ring
        entry["provenance"] = {
            "method": (
                f"traced: {b.n_detections} hull detections alongside land in {b.n_scenes} "
                f"images on {b.n_days} days; axis {b.axis_deg:.0f} deg from their headings"
            ),
            "precision_m": max(1.0, round(b.precision_m, 1)),
            "approximate": True,
            "sources": [f"across-berth scatter of the hull centres {b.scatter_m:.1f} m (1 sigma)"],
        }
        berths.append(entry)
    span = ""
    if trace.first and trace.last:
        span = f", {trace.first.date().isoformat()} to {trace.last.date().isoformat()}"
    sensors = ", ".join(trace.sensors) or "scenes"
    method = (
        f"traced from {trace.n_scenes} scenes ({sensors} at {trace.gsd_m:g} m{span}): land is the "
        f"per-pixel median {trace.index.upper()} below 0 over the clear pixels (SCL where "
        "present)"
        + (
            f", less {trace.dark_water_px} pixels of water as dark as the sea joined to it"
            if trace.dark_water_px
            else ""
        )
        + f", simplified to one pixel; {len(trace.berths)} berths where hulls lay "
        "alongside land again and again "
        f"({trace.n_detections_used} detections; {trace.persistent_left_out} detections of "
        "persistent objects left out)"
    )
    if kept_outside:
        method += "; land outside the imaged footprint kept from the previous config"
    method += ". A draft: review it on the PNG beside this file before use."
    prov = {
        "method": method,
        "precision_m": max(1.0, round(trace.precision_m, 1)),
        "approximate": True,
        "sources": [f"land: pixel size {trace.gsd_m:g} m"]
        + [f"berth {b.id}: {b.precision_m:.1f} m" for b in trace.berths],
    }
    base = {
        "name": port.name if port is not None else trace.port,
        "display_name": port.display_name if port is not None else trace.port,
        "country": port.country if port is not None else "",
        "timezone": port.timezone if port is not None else "UTC",
        "role": port.role if port is not None else "load",
    }
    aoi = (
        port.aoi
        if port is not None
        else _ring(reproject(trace.footprint_m, trace.crs, "EPSG:4326"))
    )
    return {
        **base,
        "provenance": prov,
        "aoi": [list(p) for p in aoi],
        "land": rings,
        "berths": berths,
    }


class _Flow(list):
    """A (lon, lat) pair written inline: - [lon, lat]."""


def port_yaml(draft: dict, header: str = "") -> str:
    """``draft`` as YAML in the layout of configs/ports/*.yaml (points inline)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(
        _Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
    )

    def flow(ring):
        return [_Flow(p) for p in ring]

    doc = dict(draft)
    doc["aoi"] = flow(doc["aoi"])
    doc["land"] = [flow(r) for r in doc["land"]]
    doc["berths"] = [{**b, "polygon": flow(b["polygon"])} for b in doc["berths"]]
    body = yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True)
    return header + body


def trace_png(trace: Trace, title: str = "") -> bytes:
    """A picture of the traced land (outline) and berths (filled, labelled) over the median
    scene (true colour where the bands are there, else the median NDWI), PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = trace.land_mask.shape
    t = trace.transform
    x0, y0 = t @ (0, 0)
    x1, y1 = t @ (w, h)
    extent = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    fig, ax = plt.subplots(figsize=(8, 8 * h / max(w, 1) + 0.6), dpi=110)
    if trace.median_rgb is not None:
        rgb = trace.median_rgb.copy()
        lo, hi = np.nanpercentile(rgb, 2), np.nanpercentile(rgb, 98)
        rgb = np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)
        rgb[~np.isfinite(rgb)] = 0
        ax.imshow(rgb, extent=extent, origin="upper")
    else:
        ax.imshow(trace.median_ndwi, extent=extent, origin="upper", cmap="Blues")

    def outline(g, **kw):
        for part in getattr(g, "geoms", [g]):
            if part.geom_type != "Polygon":
                continue
            xs, ys = part.exterior.xy
            ax.plot(xs, ys, **kw)

    if trace.land_m is not None:
        outline(trace.land_m, color="yellow", lw=1.2)
    for b in trace.berths:
        xs, ys = b.polygon_m.exterior.xy
        ax.fill(xs, ys, color="red" if b.role != "other" else "orange", alpha=0.45)
        ax.plot(xs, ys, color="red", lw=1.0)
        c = b.polygon_m.centroid
        ax.annotate(
            b.id,
            (c.x, c.y),
            color="white",
            fontsize=8,
            ha="center",
            bbox={"facecolor": "black", "alpha": 0.5, "pad": 1},
        )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_title(
        title
        or f"{trace.port}: traced land (yellow) and berths over the median of "
        f"{trace.n_scenes} scenes",
        fontsize=9,
    )
    ax.set_xlabel(f"{trace.crs} x (m)")
    ax.set_ylabel("y (m)")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
