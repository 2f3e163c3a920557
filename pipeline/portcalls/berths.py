"""Which berth a detection lies at, and where along it, in true ground metres (local UTM)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.config import Port
from pipeline.errors import TankerWatchError
from pipeline.records import Detection


@dataclass
class BerthGeometry:
    port: str
    berth: str
    role: str
    product: str | None
    shape_m: object  # shapely polygon in the port's UTM CRS
    zone_m: object  # shape_m buffered by the margin
    origin: tuple[float, float]
    axis: tuple[float, float]  # unit vector along the berth's long side

    def along_m(self, x: float, y: float) -> float:
        return (x - self.origin[0]) * self.axis[0] + (y - self.origin[1]) * self.axis[1]


@dataclass
class BerthHit:
    port: str
    berth: str
    role: str
    along_m: float
    off_axis_deg: float = 0.0  # the hull's heading against the berth's long side (0-90)
    off_berth_m: float = 0.0  # its centre's distance from the berth polygon (0: inside)


def _long_axis(poly) -> tuple[tuple[float, float], tuple[float, float]]:
    rect = poly.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy
    pts = list(zip(xs, ys, strict=True))[:4]
    best = None
    for i in range(len(pts) - 1):
        (x0, y0), (x1, y1) = pts[i], pts[i + 1]
        d = math.hypot(x1 - x0, y1 - y0)
        if best is None or d > best[0]:
            best = (d, (x0, y0), ((x1 - x0) / d, (y1 - y0) / d) if d else (1.0, 0.0))
    if best is None:
        c = poly.centroid
        return (c.x, c.y), (1.0, 0.0)
    return best[1], best[2]


def _to_crs(geom, transformer):
    from pipeline.geo import apply

    return apply(transformer, geom)


class BerthIndex:
    """Berth polygons of the given ports in each port's UTM zone, grown by ``margin_m``."""

    def __init__(self, ports: list[Port], margin_m: float):
        from pyproj import Transformer

        self.ports = {p.name: p for p in ports}
        self._to_m = {}
        self.berths: dict[tuple[str, str], BerthGeometry] = {}
        for port in ports:
            tr = Transformer.from_crs("EPSG:4326", port.utm_crs(), always_xy=True)
            self._to_m[port.name] = tr
            for b in port.berths:
                shape_m = _to_crs(b.shape, tr)
                origin, axis = _long_axis(shape_m)
                self.berths[(port.name, b.id)] = BerthGeometry(
                    port=port.name,
                    berth=b.id,
                    role=b.role,
                    product=b.product,
                    shape_m=shape_m,
                    zone_m=shape_m.buffer(margin_m),
                    origin=origin,
                    axis=axis,
                )

    def has_port(self, port: str) -> bool:
        return port in self.ports

    def has_berth(self, port: str, berth: str) -> bool:
        return (port, berth) in self.berths

    def role(self, port: str, berth: str) -> str:
        return self.berths[(port, berth)].role

    def product(self, port: str, berth: str) -> str | None:
        return self.berths[(port, berth)].product

    def footprint_m(self, det: Detection, port: str):
        """The detection's footprint in the port's UTM CRS (its centre point if no polygon)."""
        from shapely import wkt
        from shapely.geometry import Point

        tr = self._to_m[port]
        geom = None
        if det.geometry:
            try:
                geom = wkt.loads(det.geometry)
            except Exception:
                raise TankerWatchError(
                    f"detection {det.id} (scene {det.scene_id}): geometry is not valid WKT"
                ) from None
        if geom is None or geom.is_empty:
            x, y = tr.transform(det.lon, det.lat)
            return Point(x, y).buffer(max(det.length_m, 1.0) / 2)
        return _to_crs(geom, tr)

    def locate(self, det: Detection, port: str) -> BerthHit | None:
        """The berth whose (grown) polygon the footprint meets most; None when none."""
        if port not in self.ports:
            raise TankerWatchError(f"detection {det.id}: port '{port}' is not in the port configs")
        fp = self.footprint_m(det, port)
        best = None
        for (pname, _), g in self.berths.items():
            if pname != port or not fp.intersects(g.zone_m):
                continue
            overlap = fp.intersection(g.zone_m).area
            dist = fp.distance(g.shape_m)
            key = (overlap, -dist)
            if best is None or key > best[0]:
                best = (key, g)
        if best is None:
            return None
        g = best[1]
        c = fp.centroid
        axis_deg = math.degrees(math.atan2(g.axis[0], g.axis[1]))  # clockwise from grid north
        off = abs(((det.heading_deg - axis_deg) % 180.0 + 90.0) % 180.0 - 90.0)
        return BerthHit(
            port=g.port,
            berth=g.berth,
            role=g.role,
            along_m=g.along_m(c.x, c.y),
            off_axis_deg=off,
            off_berth_m=float(g.shape_m.distance(c)),
        )
