"""Reprojecting shapely geometries: one implementation for every stage (pyproj, lon/lat order)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def transformer(src, dst):
    """A cached pyproj Transformer (always x/y = lon/lat order)."""
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def apply(tr, geom):
    """``geom`` with every coordinate passed through the pyproj transformer ``tr``."""
    import shapely

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, move)


def reproject(geom, src, dst):
    """``geom`` from CRS ``src`` to CRS ``dst``."""
    return apply(transformer(src, dst), geom)
