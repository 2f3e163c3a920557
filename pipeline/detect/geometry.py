"""Vessel geometry: oriented rectangles in a metric grid, labels in the dataset layout, and the
conversions between pixel space of the model grid, UTM metres and EPSG:4326."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import TankerWatchError


@dataclass
class Box:
    """An oriented rectangle in pixel coordinates of a grid (x right, y down)."""

    cx: float
    cy: float
    length: float  # pixels, long side
    beam: float  # pixels, short side
    angle: float  # radians, direction of the long axis in pixel space, in [0, pi)
    cls: str = "vessel"

    def corners(self) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        ux, uy = c * self.length / 2, s * self.length / 2
        vx, vy = -s * self.beam / 2, c * self.beam / 2
        return np.array(
            [
                [self.cx - ux - vx, self.cy - uy - vy],
                [self.cx + ux - vx, self.cy + uy - vy],
                [self.cx + ux + vx, self.cy + uy + vy],
                [self.cx - ux + vx, self.cy - uy + vy],
            ]
        )


def box_from_corners(pts: np.ndarray, cls: str = "vessel") -> Box:
    """Box from 4 corner points (any order around the rectangle, any parallelogram-ish quad)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    cx, cy = pts.mean(axis=0)
    e1 = pts[1] - pts[0]
    e2 = pts[2] - pts[1]
    l1, l2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    if l1 >= l2:
        length, beam, axis = l1, l2, e1
    else:
        length, beam, axis = l2, l1, e2
    angle = math.atan2(axis[1], axis[0]) % math.pi
    return Box(float(cx), float(cy), length, beam, angle, cls)


def box_from_polygon(poly, cls: str = "vessel") -> Box:
    """Minimum rotated rectangle of a (pixel-space) shapely polygon."""
    rect = poly.minimum_rotated_rectangle
    coords = np.asarray(rect.exterior.coords)[:4] if rect.geom_type == "Polygon" else None
    if coords is None or len(coords) < 4:
        c = poly.centroid
        return Box(c.x, c.y, 1.0, 1.0, 0.0, cls)
    return box_from_corners(coords, cls)


_CORNER_DX = np.array([0.0, 0.0, 1.0, 1.0])
_CORNER_DY = np.array([0.0, 1.0, 0.0, 1.0])


def box_of_pixels(xs: np.ndarray, ys: np.ndarray, cls: str = "vessel") -> Box | None:
    """Minimum rotated rectangle around whole pixels (column ``xs``, row ``ys``), or None when
    they span no area (a single row or column of pixels still does: each pixel is a square)."""
    import shapely

    # each pixel's four corners, (x, y), (x, y + 1), (x + 1, y), (x + 1, y + 1), made by numpy
    # (a shapely Point per corner cost more than the whole CFAR around it)
    xs = np.asarray(xs, dtype=np.float64)[:, None]
    ys = np.asarray(ys, dtype=np.float64)[:, None]
    pts = np.stack([xs + _CORNER_DX, ys + _CORNER_DY], axis=-1).reshape(-1, 2)
    hull = shapely.multipoints(pts).convex_hull
    if hull.geom_type != "Polygon":
        return None
    return box_from_polygon(hull, cls)


def heading_from_pixel_angle(angle: float) -> float:
    """Compass bearing (deg from north, clockwise, in [0, 180)) of a long axis given in pixel
    space of a north-up grid (y down). Bow and stern are not told apart."""
    dx, dy_north = math.cos(angle), -math.sin(angle)
    return math.degrees(math.atan2(dx, dy_north)) % 180.0


def pixel_angle_from_heading(heading_deg: float) -> float:
    h = math.radians(heading_deg)
    return math.atan2(-math.cos(h), math.sin(h)) % math.pi


def normalise_class(value: object) -> str:
    v = str(value or "vessel").strip().lower()
    if v == "tanker":
        return "tanker"
    if v in ("other", "cargo", "ferry", "tug", "fishing"):
        return "other"
    return "vessel"


def read_labels(path: Path | str) -> list[dict]:
    """Label features of a dataset scene: [{'geometry': shapely (EPSG:4326), 'cls', 'length_m',
    'beam_m'}]. A missing file means no labels; a malformed one is a one-line error."""
    from shapely.geometry import shape

    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for feat in data.get("features", []):
            props = feat.get("properties") or {}
            geom = shape(feat["geometry"])
            out.append(
                {
                    "geometry": geom,
                    "cls": normalise_class(props.get("class")),
                    "length_m": props.get("length_m"),
                    "beam_m": props.get("beam_m"),
                    "occluded": float(props.get("occluded") or 0.0),
                }
            )
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TankerWatchError(f"{path}: malformed labels ({exc})") from None


def to_crs(geom, src: str, dst):
    from pipeline.geo import reproject

    return reproject(geom, src, dst)


def labels_to_pixel_boxes(labels: list[dict], crs, transform) -> list[Box]:
    """Label footprints (EPSG:4326) as oriented boxes in pixel space of a metric grid."""
    from shapely import affinity

    inv = ~transform
    boxes = []
    for lab in labels:
        g = to_crs(lab["geometry"], "EPSG:4326", crs)
        g = affinity.affine_transform(g, [inv.a, inv.b, inv.d, inv.e, inv.xoff, inv.yoff])
        boxes.append(box_from_polygon(g, lab["cls"]))
    return boxes


def footprint_lonlat(box: Box, crs, transform):
    """(shapely polygon EPSG:4326, lon, lat) of a pixel-space box on a metric grid."""
    from shapely.geometry import Polygon

    from pipeline.geo import transformer

    # the cached transformer: building one per detection cost 5 ms, 13 s on a full granule
    tr = transformer(crs, "EPSG:4326")
    pts = [transform @ (float(x), float(y)) for x, y in box.corners()]
    lons, lats = tr.transform([p[0] for p in pts], [p[1] for p in pts])
    cx, cy = transform @ (box.cx, box.cy)
    lon, lat = tr.transform(cx, cy)
    return Polygon(list(zip(lons, lats, strict=True))), float(lon), float(lat)
