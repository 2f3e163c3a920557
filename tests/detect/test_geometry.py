"""Pixel geometry: the rotated rectangle around a component's pixels."""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.detect.geometry import box_from_polygon, box_of_pixels


def test_box_of_pixels_is_the_rectangle_around_every_pixel_corner():
    """The same box as the convex hull of each pixel's four corners made point by point (the
    way it was made before numpy built the corners), on random components."""
    from shapely.geometry import MultiPoint

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        xs, ys = rng.integers(0, 25, n), rng.integers(0, 25, n)
        pts = [
            (x + dx, y + dy) for x, y in zip(xs, ys, strict=True) for dx in (0, 1) for dy in (0, 1)
        ]
        hull = MultiPoint(pts).convex_hull
        want = box_from_polygon(hull) if hull.geom_type == "Polygon" else None
        got = box_of_pixels(xs, ys)
        assert (got is None) == (want is None)
        if got is not None:
            assert dataclasses.astuple(got) == dataclasses.astuple(want)


def test_a_row_of_pixels_is_a_box_of_one_pixel_beam():
    box = box_of_pixels(np.array([3, 4, 5, 6]), np.array([2, 2, 2, 2]))
    assert (box.length, box.beam) == (4.0, 1.0)
    assert (box.cx, box.cy) == (5.0, 2.5)
