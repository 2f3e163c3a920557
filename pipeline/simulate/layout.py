"""Port layouts in metres: land, piers, berths and fixed look-alikes in the port's UTM zone.

A layout comes either from a port config (configs/ports/*.yaml) or is generated at random
for training chips (a wiggly coast with piers), so chips are not limited to four schematic ports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.records import stable_id

PIER_MAX_AREA_M2 = 250_000.0  # land rings smaller than this are drawn as concrete piers


@dataclass
class BerthGeom:
    id: str
    role: str  # load | discharge | other
    polygon: object  # shapely, metres
    # the berth's long axis (bearing, degrees from north, 0-180) and the side facing the pier
    axis_deg: float
    quay_side: tuple[float, float]  # unit vector from berth centre towards the quay

    def slot(
        self, length_m: float, beam_m: float, along: float = 0.0
    ) -> tuple[float, float, float]:
        """Centre (x, y) and heading for a hull lying alongside the quay face of this berth."""
        c = self.polygon.centroid
        mrr = self.polygon.minimum_rotated_rectangle
        xs, ys = mrr.exterior.coords.xy
        sides = [math.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]) for i in range(2)]
        width = min(sides)
        long_side = max(sides)
        off = max(0.0, width / 2 - beam_m / 2 - 1.0)
        th = math.radians(self.axis_deg)
        slack = max(0.0, (long_side - length_m) / 2)
        a = along * slack
        x = c.x + self.quay_side[0] * off + math.sin(th) * a
        y = c.y + self.quay_side[1] * off + math.cos(th) * a
        return x, y, self.axis_deg


@dataclass
class Layout:
    name: str
    crs: str
    aoi: object  # shapely polygon, metres
    land: list  # coast polygons (metres)
    piers: list  # pier polygons (metres)
    berths: list[BerthGeom]
    lookalikes: list[tuple[object, str]] = field(default_factory=list)  # (geometry, spectrum)
    lonlat_centre: tuple[float, float] = (0.0, 0.0)

    @property
    def land_union(self):
        from shapely.ops import unary_union

        return unary_union(self.land + self.piers)

    @property
    def water(self):
        return self.aoi.buffer(300).difference(self.land_union)

    def berth(self, berth_id: str) -> BerthGeom:
        for b in self.berths:
            if b.id == berth_id:
                return b
        raise KeyError(berth_id)


def _to_metres(crs: str):
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def project(geom):
        import shapely

        return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    return project


def _berth_geom(bid: str, role: str, poly, land_union) -> BerthGeom:
    mrr = poly.minimum_rotated_rectangle
    xs, ys = mrr.exterior.coords.xy
    best = max(range(2), key=lambda i: math.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]))
    dx, dy = xs[best + 1] - xs[best], ys[best + 1] - ys[best]
    axis = math.degrees(math.atan2(dx, dy)) % 180.0
    th = math.radians(axis)
    nx, ny = math.cos(th), -math.sin(th)  # perpendicular to the axis
    c = poly.centroid
    from shapely.geometry import Point

    d_plus = land_union.distance(Point(c.x + nx * 40, c.y + ny * 40))
    d_minus = land_union.distance(Point(c.x - nx * 40, c.y - ny * 40))
    side = (nx, ny) if d_plus <= d_minus else (-nx, -ny)
    return BerthGeom(bid, role, poly, axis, side)


def port_layout(port) -> Layout:
    """The layout of a configured port, in its UTM zone, with fixed look-alikes placed
    deterministically from the port name (pontoons and small jetties that are NOT vessels)."""
    from shapely.geometry import Polygon
    from shapely.ops import unary_union

    crs = port.utm_crs()
    project = _to_metres(crs)
    aoi = project(Polygon(port.aoi))
    coast, piers = [], []
    for ring in port.land:
        g = project(Polygon(ring))
        (piers if g.area < PIER_MAX_AREA_M2 else coast).append(g)
    land_union = unary_union(coast + piers)
    berths = [
        _berth_geom(b.id, b.role, project(Polygon(b.polygon)), land_union) for b in port.berths
    ]
    rng = np.random.default_rng(int(stable_id("lookalikes", port.name), 16) % 2**32)
    look = fixed_lookalikes(aoi, land_union, berths, rng)
    look += tank_farms(land_union, [b for b in berths if b.role != "other"], rng)
    return Layout(port.name, crs, aoi, coast, piers, berths, look, port.centroid)


def fixed_lookalikes(aoi, land_union, berths, rng: np.random.Generator, n: int = 6):
    """Pontoons, mooring dolphins and small jetties along the shore, clear of the berths."""
    from shapely import affinity
    from shapely.geometry import Point, box

    out = []
    shore = land_union.boundary.intersection(aoi.buffer(-50))
    if shore.is_empty or shore.length == 0:
        return out
    keep_clear = [b.polygon.buffer(80) for b in berths]
    tries = 0
    while len(out) < n and tries < 200:
        tries += 1
        p = shore.interpolate(float(rng.uniform(0, shore.length)))
        if any(k.contains(p) for k in keep_clear):
            continue
        # direction away from land
        best = None
        for ang in range(0, 360, 30):
            q = Point(
                p.x + 60 * math.sin(math.radians(ang)), p.y + 60 * math.cos(math.radians(ang))
            )
            d = land_union.distance(q)
            if best is None or d > best[0]:
                best = (d, ang)
        ang = best[1]
        kind = rng.choice(["pontoon", "jetty", "pontoon", "dolphins"])
        if kind == "jetty":
            L, W, dist, spec = rng.uniform(60, 160), rng.uniform(6, 10), 0.0, "concrete"
        elif kind == "pontoon":
            L, W, dist, spec = (
                rng.uniform(25, 60),
                rng.uniform(8, 14),
                rng.uniform(5, 25),
                "pontoon",
            )
        else:
            L, W, dist, spec = (
                rng.uniform(8, 14),
                rng.uniform(8, 12),
                rng.uniform(30, 70),
                "concrete",
            )
        cx = p.x + (dist + L / 2) * math.sin(math.radians(ang))
        cy = p.y + (dist + L / 2) * math.cos(math.radians(ang))
        rect = box(-W / 2, -L / 2, W / 2, L / 2)
        if kind == "pontoon" and rng.random() < 0.6:  # pontoons often lie along the shore
            rect = box(-L / 2, -W / 2, L / 2, W / 2)
        g = affinity.translate(affinity.rotate(rect, -ang, origin=(0, 0)), cx, cy)
        if any(k.intersects(g) for k in keep_clear):
            continue
        out.append((g, spec))
        keep_clear.append(g.buffer(40))
    return out


def tank_farms(land_union, berths, rng: np.random.Generator) -> list[tuple[object, str]]:
    """Round storage tanks on land behind oil berths: bright, vessel-sized look-alikes."""
    from shapely.geometry import Point

    out = []
    inland = land_union.buffer(-150)
    for b in berths:
        c = b.polygon.centroid
        placed = []
        # a cluster on the nearest solid ground within ~1 km of the berth
        anchor = None
        for _ in range(200):
            ang = float(rng.uniform(0, 2 * math.pi))
            d = float(rng.uniform(100, 1000))
            p = Point(c.x + d * math.sin(ang), c.y + d * math.cos(ang))
            if inland.contains(p) and (anchor is None or c.distance(p) < c.distance(anchor)):
                anchor = p
        if anchor is None:
            continue
        for _ in range(80):
            if len(placed) >= 8:
                break
            x = anchor.x + float(rng.uniform(-160, 160))
            y = anchor.y + float(rng.uniform(-160, 160))
            r = float(rng.uniform(9, 22))
            disk = Point(x, y).buffer(r, quad_segs=8)
            if not land_union.buffer(-15).contains(disk):
                continue
            if any(disk.distance(p) < 8 for p in placed):
                continue
            placed.append(disk)
            out.append((disk, "tank_roof"))
    return out


def random_layout(
    rng: np.random.Generator, crs: str, cx: float, cy: float, size_m: float
) -> Layout:
    """A random harbour around (cx, cy): a wiggly coast on one side, piers with berths, and
    a few look-alikes; for training chips beyond the configured ports."""
    from shapely import affinity
    from shapely.geometry import Polygon, box
    from shapely.ops import unary_union

    ang = float(rng.uniform(0, 360))
    half = size_m
    # coastline: a wiggly line at distance d from the centre, land beyond it
    d = float(rng.uniform(-0.35, 0.45)) * size_m
    xs = np.linspace(-half * 1.5, half * 1.5, 40)
    wig = np.cumsum(rng.normal(0, size_m * 0.015, size=xs.size))
    wig -= wig.mean()
    pts = [(x, d + y) for x, y in zip(xs, wig, strict=True)]
    pts += [(half * 1.5, half * 2), (-half * 1.5, half * 2)]
    coast = Polygon(pts).buffer(0)
    piers = []
    n_piers = int(rng.integers(0, 4))
    berths = []
    for i in range(n_piers):
        px = float(rng.uniform(-half * 0.8, half * 0.8))
        plen = float(rng.uniform(120, 500))
        pw = float(rng.uniform(25, 90))
        base = d + float(np.interp(px, xs, wig)) + 10
        pier = box(px - pw / 2, base - plen, px + pw / 2, base)
        piers.append(pier)
        for side in (-1, 1):
            if rng.random() < 0.8:
                bw = float(rng.uniform(35, 60))
                bx = px + side * (pw / 2 + bw / 2)
                berths.append(
                    (f"b{i}{'ab'[side > 0]}", box(bx - bw / 2, base - plen, bx + bw / 2, base - 10))
                )
    rot = lambda g: affinity.translate(affinity.rotate(g, ang, origin=(0, 0)), cx, cy)  # noqa: E731
    coast = rot(coast)
    piers = [rot(p) for p in piers]
    land_union = unary_union([coast, *piers])
    aoi = box(cx - size_m, cy - size_m, cx + size_m, cy + size_m)
    bgeoms = []
    for bid, poly in berths:
        poly = rot(poly).difference(land_union)
        if poly.is_empty or poly.area < 500:
            continue
        if poly.geom_type != "Polygon":
            poly = max(poly.geoms, key=lambda g: g.area)
        role = "load" if rng.random() < 0.4 else "other"
        bgeoms.append(_berth_geom(bid, role, poly, land_union))
    look = fixed_lookalikes(aoi, land_union, bgeoms, rng, n=int(rng.integers(0, 7)))
    if rng.random() < 0.4:
        look += tank_farms(land_union, bgeoms[:1], rng)
    coast_parts = [coast, *_islets_and_breakwaters(rng, aoi, land_union, bgeoms, piers)]
    return Layout("synthetic", crs, aoi, coast_parts, piers, bgeoms, look)


def _islets_and_breakwaters(rng, aoi, land_union, berths, piers) -> list:
    """Hard negatives in the water: rocks and islets (land), and breakwaters (added to
    ``piers``, drawn as concrete). Kept clear of berths; returns the islets."""
    from shapely import affinity
    from shapely.geometry import Point, box

    clear = land_union.buffer(60)
    for b in berths:
        clear = clear.union(b.polygon.buffer(120))
    water = aoi.difference(clear)
    if water.is_empty:
        return []
    minx, miny, maxx, maxy = water.bounds
    islets = []
    for _ in range(int(rng.integers(0, 4)) if rng.random() < 0.4 else 0):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not water.contains(p):
            continue
        r = float(rng.uniform(8, 45))
        blob = p.buffer(r, quad_segs=6)
        blob = affinity.scale(blob, float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5)))
        blob = affinity.rotate(blob, float(rng.uniform(0, 180)))
        islets.append(blob)
    if rng.random() < 0.3:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if water.contains(p):
            L, W = float(rng.uniform(150, 600)), float(rng.uniform(8, 20))
            bw = affinity.rotate(box(-L / 2, -W / 2, L / 2, W / 2), float(rng.uniform(0, 180)))
            bw = affinity.translate(bw, p.x, p.y)
            if not any(bw.intersects(b.polygon.buffer(60)) for b in berths):
                piers.append(bw)
    return islets
