"""Vessel types and their plausible dimensions; placing hulls in a layout without collisions."""

from __future__ import annotations

import math

import numpy as np

from pipeline.simulate.layout import BerthGeom, Layout
from pipeline.simulate.render import DECKS, VesselDraw


def tanker_dims_from_dwt(dwt: float) -> tuple[float, float]:
    """Length and beam (m) of a small product tanker of ``dwt`` tonnes (regression on
    coastal product tankers: about 57 m at 1,000 dwt, 81 m at 3,000, 115 m at 9,000)."""
    length = 6.0 * dwt**0.325
    return length, 0.155 * length + 1.0


def make_vessel(kind: str, rng: np.random.Generator, key: str = "", **kw) -> VesselDraw:
    """A random vessel of one kind (tanker, cargo, tug, barge) with plausible dimensions."""
    if kind == "tanker":
        dwt = float(np.exp(rng.uniform(np.log(800), np.log(60000))))
        L, B = tanker_dims_from_dwt(dwt)
        deck = str(rng.choice(["deck_red", "deck_green", "deck_grey", "deck_red", "deck_rust"]))
        fb, sh = 2.0 + L / 60, 8.0 + L / 25
    elif kind == "cargo":
        L = float(rng.uniform(60, 290))
        B = L / rng.uniform(6.0, 7.5)
        deck = str(rng.choice(DECKS))
        fb, sh = 3.0 + L / 50, 10.0 + L / 20
    elif kind == "tug":
        L = float(rng.uniform(20, 36))
        B = L / rng.uniform(2.8, 3.4)
        deck = str(rng.choice(["deck_black", "deck_red", "deck_blue", "deck_grey"]))
        fb, sh = 1.5, 6.0
    elif kind == "barge":
        L = float(rng.uniform(30, 85))
        B = L / rng.uniform(3.2, 4.5)
        deck = str(rng.choice(["deck_rust", "deck_black", "deck_grey"]))
        fb, sh = 1.2, 0.0
    else:
        raise ValueError(kind)
    args = dict(
        key=key or kind,
        kind=kind,
        x=0.0,
        y=0.0,
        length_m=round(L, 1),
        beam_m=round(B, 1),
        heading_deg=0.0,
        deck=deck,
        freeboard_m=fb,
        super_height_m=sh,
        cls="tanker" if kind == "tanker" else "other",
    )
    args.update(kw)
    return VesselDraw(**args)


def footprint(vd: VesselDraw):
    from shapely.geometry import Polygon

    return Polygon(vd.corners())


class Placer:
    """Places hulls into a layout: at berths, alongside others, or at anchor; no overlaps."""

    def __init__(self, layout: Layout, rng: np.random.Generator):
        self.layout = layout
        self.rng = rng
        self.land = layout.land_union
        self.taken: list = []

    def _free(self, vd: VesselDraw, on_water: bool = True) -> bool:
        fp = footprint(vd)
        if on_water and fp.buffer(-1.0).intersects(self.land):
            return False
        return not any(fp.intersects(t) for t in self.taken)

    def commit(self, vd: VesselDraw) -> VesselDraw:
        self.taken.append(footprint(vd).buffer(2.0))
        return vd

    def at_berth(
        self,
        vd: VesselDraw,
        berth: BerthGeom,
        along: float | None = None,
        flip: bool | None = None,
        force: bool = False,
    ) -> VesselDraw | None:
        if along is None:
            along = float(self.rng.uniform(-1, 1))
        if flip is None:
            flip = bool(self.rng.random() < 0.5)
        x, y, axis = berth.slot(vd.length_m, vd.beam_m, along)
        vd.x, vd.y = x, y
        vd.heading_deg = (axis + (180.0 if flip else 0.0)) % 360
        return self.commit(vd) if (force or self._free(vd)) else None

    def alongside(self, vd: VesselDraw, host: VesselDraw, gap_m: float = 1.5) -> VesselDraw | None:
        """Moor ``vd`` alongside ``host`` (a barge or bunker tug at a tanker), on the sea side."""
        th = math.radians(host.heading_deg)
        nx, ny = math.cos(th), -math.sin(th)
        off = host.beam_m / 2 + vd.beam_m / 2 + gap_m
        along = float(self.rng.uniform(-0.3, 0.3)) * host.length_m
        for side in (1, -1):
            vd.x = host.x + side * nx * off + math.sin(th) * along
            vd.y = host.y + side * ny * off + math.cos(th) * along
            vd.heading_deg = (host.heading_deg + (180 if self.rng.random() < 0.3 else 0)) % 360
            if self._free(vd):
                return self.commit(vd)
        return None

    def at_anchor(
        self,
        vd: VesselDraw,
        region,
        tries: int = 30,
        rng: np.random.Generator | None = None,
        force: bool = False,
    ) -> VesselDraw | None:
        """Somewhere on open water inside ``region`` (a shapely polygon in metres).

        With ``force`` the last candidate on water is kept even if it touches another hull
        (a vessel the truth says is there must be drawn)."""
        from shapely.geometry import Point

        rng = rng or self.rng
        minx, miny, maxx, maxy = region.bounds
        water = region.difference(self.land.buffer(vd.length_m * 0.3 + 20))
        if water.is_empty:
            return None
        last = None
        for _ in range(tries):
            x = float(rng.uniform(minx, maxx))
            y = float(rng.uniform(miny, maxy))
            if not water.contains(Point(x, y)):
                continue
            vd.x, vd.y = x, y
            vd.heading_deg = float(rng.uniform(0, 360))
            last = (x, y, vd.heading_deg)
            if self._free(vd):
                return self.commit(vd)
        if force and last is not None:
            vd.x, vd.y, vd.heading_deg = last
            return self.commit(vd)
        return None
