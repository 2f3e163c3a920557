"""Render a port scene: surface (water, land, piers, fixed look-alikes), vessels with shadows,
clouds, cloud shadows and haze, the sensor's blur and noise; and the SCL-like class mask.

Everything is vectorised numpy over the scene grid (or a small window around each vessel);
there are no per-pixel Python loops. Values are L2A-like digital numbers (reflectance x 10000)
calibrated against the real Sentinel-2 scenes in ``shared/data/sen2ships``
(see benchmarks/simulate_calibration.py and BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy import ndimage

from pipeline.simulate.sensors import Sensor

CANON = ("B02", "B03", "B04", "B08", "B11")

# Spectra in DN, bands B02, B03, B04, B08, B11 (calibrated to sen2ships, see module docstring)
SPECTRA = {
    "water": (1650, 1850, 1000, 700, 420),
    "water_turbid": (1900, 2500, 1900, 1100, 500),
    "built": (5200, 6000, 6500, 11500, 13500),
    "bare": (4200, 5200, 6200, 12500, 15500),
    "vegetation": (2800, 4300, 3200, 18000, 11500),
    "dry_vegetation": (3800, 4600, 5200, 12500, 14500),
    "snow": (11000, 11000, 10800, 9800, 1500),
    "concrete": (7200, 8000, 8400, 10200, 11500),
    "pontoon": (5200, 5600, 5800, 6200, 6000),
    "deck_red": (4200, 5200, 9000, 11000, 11000),
    "deck_green": (3900, 6500, 6000, 10000, 9500),
    "deck_grey": (5100, 6300, 7600, 9800, 10000),
    "deck_blue": (5100, 5800, 5400, 8200, 7800),
    "deck_rust": (3600, 4300, 6600, 8800, 9800),
    "deck_black": (2200, 2600, 3000, 3800, 3800),
    "catwalk": (7600, 9100, 10500, 12000, 11500),
    "superstructure": (10600, 12600, 14500, 16000, 14000),
    "hatch": (6000, 6700, 7500, 9500, 9500),
    "cargo_bright": (8100, 9500, 11000, 12500, 12500),
    "tank_roof": (11000, 11600, 12000, 12800, 12000),
    "containers_a": (4500, 5000, 7800, 9000, 9500),
    "containers_b": (6500, 7600, 7000, 9000, 9000),
    "containers_c": (3600, 4300, 4300, 6800, 7200),
    "cloud": (12500, 12600, 12800, 13200, 9000),
    "haze": (900, 700, 450, 250, 60),
    "whitecap": (6000, 6000, 6000, 5000, 2500),
}
SPECTRUM = {k: np.asarray(v, dtype=np.float32) for k, v in SPECTRA.items()}

DECKS = ("deck_red", "deck_green", "deck_grey", "deck_blue", "deck_rust", "deck_black")

# SCL codes (Sentinel-2 Scene Classification Layer)
SCL_NODATA, SCL_SHADOW, SCL_VEG, SCL_BARE, SCL_WATER = 0, 3, 4, 5, 6
SCL_CLOUD_MED, SCL_CLOUD_HIGH, SCL_CIRRUS, SCL_SNOW = 8, 9, 10, 11

# surface classes
WATER, LAND, PIER, LOOKALIKE = 0, 1, 2, 3


def spectrum(name: str, sensor: Sensor) -> np.ndarray:
    """A named spectrum in the sensor's bands (with its gain)."""
    s = SPECTRUM[name]
    idx = [CANON.index(b) for b in sensor.canonical]
    return s[idx] * np.asarray(sensor.gain, dtype=np.float32)


def spectra_table(names: list[str], sensor: Sensor) -> np.ndarray:
    return np.stack([spectrum(n, sensor) for n in names], axis=0)  # [n, bands]


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in a metric CRS: origin (x0, y0) is the upper-left corner."""

    crs: str
    x0: float
    y0: float
    width: int
    height: int
    gsd_m: float

    @property
    def transform(self):
        from affine import Affine

        return Affine(self.gsd_m, 0.0, self.x0, 0.0, -self.gsd_m, self.y0)

    def pixel(self, x: np.ndarray | float, y: np.ndarray | float):
        """Map coordinates -> fractional pixel (col, row); pixel centres at .5."""
        return (np.asarray(x) - self.x0) / self.gsd_m, (self.y0 - np.asarray(y)) / self.gsd_m

    def coords(self, col: np.ndarray | float, row: np.ndarray | float):
        return self.x0 + np.asarray(col) * self.gsd_m, self.y0 - np.asarray(row) * self.gsd_m

    @staticmethod
    def around(crs: str, cx: float, cy: float, width: int, height: int, gsd_m: float) -> Grid:
        x0 = math.floor((cx - width * gsd_m / 2) / gsd_m) * gsd_m
        y0 = math.ceil((cy + height * gsd_m / 2) / gsd_m) * gsd_m
        return Grid(crs, float(x0), float(y0), int(width), int(height), float(gsd_m))


# --------------------------------------------------------------------------- noise fields


def _upsample(small: np.ndarray, shape: tuple[int, int], scale: float, oy: float, ox: float):
    """Smooth (smoothstep-weighted bilinear) upsampling of a coarse grid onto ``shape``."""
    h, w = shape
    ys = oy + np.arange(h, dtype=np.float32) / scale
    xs = ox + np.arange(w, dtype=np.float32) / scale
    i0 = np.floor(ys).astype(np.intp)
    j0 = np.floor(xs).astype(np.intp)
    fy = (ys - i0)[:, None]
    fx = (xs - j0)[None, :]
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    a = small[i0][:, j0]
    b = small[i0][:, j0 + 1]
    c = small[i0 + 1][:, j0]
    d = small[i0 + 1][:, j0 + 1]
    top = a + (b - a) * fx
    bot = c + (d - c) * fx
    return top + (bot - top) * fy


def smooth_noise(
    shape: tuple[int, int], rng: np.random.Generator, scale_px: float, octaves: int = 4
) -> np.ndarray:
    """Fractal value noise in about [-1, 1]: octaves of smoothly upsampled random grids,
    from ``scale_px`` down by halves (never below 1 px)."""
    h, w = shape
    out = np.zeros(shape, dtype=np.float32)
    amp, total = 1.0, 0.0
    scale = max(float(scale_px), 1.0)
    for _ in range(octaves):
        if scale <= 1.0:
            layer = rng.standard_normal(shape).astype(np.float32)
        elif scale <= 12.0:
            # fine scales: blurred white noise (isotropic, no grid artefacts)
            layer = ndimage.gaussian_filter(
                rng.standard_normal(shape).astype(np.float32), scale / 2.5, mode="wrap"
            )
            layer /= float(layer.std()) or 1.0
        else:
            gh, gw = int(math.ceil(h / scale)) + 2, int(math.ceil(w / scale)) + 2
            small = rng.standard_normal((gh, gw)).astype(np.float32)
            oy, ox = float(rng.uniform(0, 1)), float(rng.uniform(0, 1))
            layer = _upsample(small, shape, scale, oy, ox)
        out += amp * layer
        total += amp
        amp *= 0.5
        if scale <= 1.0:
            break
        scale = max(scale / 2.0, 1.0)
    out /= total
    std = float(out.std()) or 1.0
    return np.clip(out / (2.5 * std), -1.0, 1.0)


def octaves_for(scale_px: float, finest_px: float = 2.0) -> int:
    return max(1, int(math.log2(max(scale_px, 2.0) / finest_px)) + 1)


# --------------------------------------------------------------------------- sun


def sun_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Solar elevation and azimuth (degrees, azimuth clockwise from north) - NOAA formulae."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hour - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    tst = hour * 60 + eqtime + 4 * lon
    ha = math.radians(tst / 4 - 180)
    la = math.radians(lat)
    cos_zen = math.sin(la) * math.sin(decl) + math.cos(la) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    elev = 90 - math.degrees(zen)
    az = math.degrees(
        math.atan2(math.sin(ha), math.cos(ha) * math.sin(la) - math.tan(decl) * math.cos(la))
    )
    return elev, (az + 180) % 360


# --------------------------------------------------------------------------- surface


@dataclass
class Surface:
    """The static part of a scene: surface classes and base reflectance (before season)."""

    grid: Grid
    cls: np.ndarray  # uint8 [H, W]: WATER, LAND, PIER, LOOKALIKE
    veg: np.ndarray  # float32 [H, W] vegetation fraction of land pixels
    texture: np.ndarray  # float32 [H, W] in [-1, 1]: land brightness texture
    lookalike_spec: np.ndarray  # uint8 [H, W] index into LOOKALIKE_SPECTRA (0 none)
    land_dist_m: np.ndarray  # float32 [H, W] distance of a land pixel from the water (m)
    shore_dist_m: np.ndarray  # float32 [H, W] distance of a water pixel from land (m)
    blocks: np.ndarray  # uint8 [H, W] 0 bare quay, 1-3 stacks of cargo / containers on piers


LOOKALIKE_SPECTRA = ("water", "pontoon", "concrete", "deck_rust", "deck_grey", "tank_roof")
BLOCK_SPECTRA = ("concrete", "containers_a", "containers_b", "containers_c")


def build_surface(
    grid: Grid,
    land_geoms: list,
    pier_geoms: list,
    lookalikes: list[tuple[object, str]],
    rng: np.random.Generator,
) -> Surface:
    """Rasterise land, piers and fixed look-alikes (shapely geometries in the grid CRS)."""
    from rasterio.features import rasterize

    shape = (grid.height, grid.width)
    cls = np.zeros(shape, dtype=np.uint8)
    if land_geoms:
        land = rasterize([(g, 1) for g in land_geoms], out_shape=shape, transform=grid.transform)
        cls[land > 0] = LAND
    if pier_geoms:
        pier = rasterize([(g, 1) for g in pier_geoms], out_shape=shape, transform=grid.transform)
        cls[pier > 0] = PIER
    look_idx = np.zeros(shape, dtype=np.uint8)
    if lookalikes:
        vals = [(g, LOOKALIKE_SPECTRA.index(s)) for g, s in lookalikes]
        look_idx = rasterize(
            vals, out_shape=shape, transform=grid.transform, all_touched=False, dtype="uint8"
        )
        # pontoons and jetties on water, storage tanks on land
        cls[look_idx > 0] = LOOKALIKE
    landish = cls == LAND
    dist = ndimage.distance_transform_edt(landish).astype(np.float32) * grid.gsd_m
    solid = (cls == LAND) | (cls == PIER)
    shore = (
        ndimage.distance_transform_edt(~solid).astype(np.float32) * grid.gsd_m
        if solid.any()
        else np.full(shape, 1e4, np.float32)
    )
    scale = max(2.0, 400.0 / grid.gsd_m)
    n = smooth_noise(shape, rng, scale, octaves=5)
    # built-up and bare ground near the shore, vegetation inland
    veg = np.clip(0.5 + 0.6 * n + (dist - 350.0) / 600.0, 0.0, 1.0).astype(np.float32)
    tex = smooth_noise(shape, rng, max(1.5, 60.0 / grid.gsd_m), octaves=4)
    # cargo on quays: blocks of ~15-40 m (stacks, bulk piles), nearest-neighbour so edges are hard
    cell = max(1, int(round(15.0 / grid.gsd_m)))
    small = rng.integers(0, 10, size=(-(-shape[0] // cell), -(-shape[1] // cell)))
    blocks = np.repeat(np.repeat(small, cell, 0), cell, 1)[: shape[0], : shape[1]]
    blocks = np.where(blocks <= 3, blocks, 0).astype(np.uint8)
    return Surface(grid, cls, veg, tex, look_idx.astype(np.uint8), dist, shore, blocks)


@dataclass(frozen=True)
class Conditions:
    """What changes between acquisitions of one place."""

    when: datetime
    sun_elev_deg: float
    sun_az_deg: float
    cloud_cover: float  # target fraction of the scene under cloud (0-1)
    haze: float  # 0-1 aerosol / thin-haze amount
    cirrus: float  # 0-1 thin cirrus amount
    sea_state: int  # 0 (calm) .. 6 (rough)
    water_gain: float  # scene-level water brightness factor (turbidity, sky)
    turbidity: float  # 0-1
    season: str  # "winter", "spring", "summer", "autumn"
    snow: float  # 0-1 snow cover on land
    partial: bool  # a nodata wedge cuts the scene


def surface_reflectance(
    surface: Surface, cond: Conditions, sensor: Sensor, rng: np.random.Generator
) -> np.ndarray:
    """Float32 [bands, H, W] reflectance of the surface under ``cond`` (no vessels, no clouds)."""
    h, w = surface.cls.shape
    nb = len(sensor.bands)
    water = (
        spectrum("water", sensor) * (1 - cond.turbidity)
        + spectrum("water_turbid", sensor) * cond.turbidity
    )
    water = water * cond.water_gain
    # gentle large-scale water variation + wind waves growing with sea state
    wv = smooth_noise((h, w), rng, max(2.0, 500.0 / sensor.gsd_m), octaves=3)
    img = np.empty((nb, h, w), dtype=np.float32)
    waves = 0.0
    if cond.sea_state > 0:
        wl = max(1.0, 30.0 / sensor.gsd_m)
        waves = smooth_noise((h, w), rng, wl, octaves=2) * (0.03 * cond.sea_state)
    # near-shore water is more turbid (run-off, resuspension), fading over a few hundred metres
    turbid = spectrum("water_turbid", sensor) * cond.water_gain
    near = (np.exp(-surface.shore_dist_m / 250.0) * (0.25 + 0.5 * cond.turbidity)).astype(
        np.float32
    )
    near *= np.clip(1.0 + 0.8 * wv, 0.0, 2.0)
    for b in range(nb):
        img[b] = (water[b] * (1 - near) + turbid[b] * near) * (1.0 + 0.08 * wv + waves)
    # whitecaps from sea state 4 up: sparse bright specks on open water
    if cond.sea_state >= 4:
        caps = rng.random((h, w)) < 0.002 * (cond.sea_state - 3) * (sensor.gsd_m / 10.0) ** 2
        wc = spectrum("whitecap", sensor)
        frac = rng.uniform(0.15, 0.5, size=int(caps.sum())).astype(np.float32)
        for b in range(nb):
            band = img[b]
            band[caps] = band[caps] * (1 - frac) + wc[b] * frac
    # land: vegetation / built / bare mixed, season-dependent
    land = surface.cls == LAND
    if land.any():
        season_veg = {"winter": "dry_vegetation", "spring": "dry_vegetation"}.get(
            cond.season, "vegetation"
        )
        greenness = {"winter": 0.0, "spring": 0.4, "summer": 1.0, "autumn": 0.5}[cond.season]
        veg_s = spectrum("vegetation", sensor) * greenness + spectrum(season_veg, sensor) * (
            1 - greenness
        )
        built, bare = spectrum("built", sensor), spectrum("bare", sensor)
        v = surface.veg[land]
        t = surface.texture[land]
        bare_frac = np.clip(0.5 + 0.5 * t, 0, 1)
        for b in range(nb):
            urban = built[b] * (1 - bare_frac) + bare[b] * bare_frac
            val = (v * veg_s[b] + (1 - v) * urban) * (1.0 + 0.25 * t)
            img[b][land] = val
        if cond.snow > 0:
            sn = spectrum("snow", sensor)
            cover = np.clip(cond.snow * 1.6 - 0.6 + 0.5 * surface.texture[land], 0, 1) * cond.snow
            for b in range(nb):
                img[b][land] = img[b][land] * (1 - cover) + sn[b] * cover
    pier = surface.cls == PIER
    if pier.any():
        table = spectra_table(list(BLOCK_SPECTRA), sensor)
        idx = surface.blocks[pier]
        t = surface.texture[pier]
        for b in range(nb):
            img[b][pier] = table[idx, b] * (1.0 + 0.15 * t)
    look = surface.cls == LOOKALIKE
    if look.any():
        table = spectra_table(list(LOOKALIKE_SPECTRA), sensor)
        idx = surface.lookalike_spec[look]
        for b in range(nb):
            img[b][look] = table[idx, b]
    return img


# --------------------------------------------------------------------------- vessels


@dataclass
class VesselDraw:
    """One hull to draw, in the grid CRS (metres). ``heading_deg``: bow bearing from north."""

    key: str
    kind: str  # tanker, cargo, tug, barge
    x: float
    y: float
    length_m: float
    beam_m: float
    heading_deg: float
    deck: str = "deck_red"
    freeboard_m: float = 3.0
    super_height_m: float = 9.0
    labelled: bool = True
    speed_kn: float = 0.0  # under way: a wake trails behind the stern
    cls: str = "other"  # label class: "tanker" or "other"
    name: str = ""
    extra: dict = field(default_factory=dict)

    def corners(self) -> np.ndarray:
        """Oriented rectangle (length x beam) corners, [4, 2] map coordinates."""
        th = math.radians(self.heading_deg)
        ax, ay = math.sin(th), math.cos(th)  # along (bow)
        cx, cy = math.cos(th), -math.sin(th)  # across (starboard)
        hl, hb = self.length_m / 2, self.beam_m / 2
        pts = [(hl, -hb), (hl, hb), (-hl, hb), (-hl, -hb)]
        return np.array([(self.x + u * ax + v * cx, self.y + u * ay + v * cy) for u, v in pts])


# material ids inside a hull
_M_NONE, _M_DECK, _M_CATWALK, _M_SUPER, _M_HATCH, _M_CARGO = 0, 1, 2, 3, 4, 5
_SS = 5  # supersampling per pixel side


def _hull_materials(kind: str, u: np.ndarray, v: np.ndarray, L: float, B: float, seed: int):
    """Material id per sample for a hull in its own frame (u along to bow, v across)."""
    hl, hb = L / 2, B / 2
    bow_len = {"tanker": 0.16, "cargo": 0.16, "tug": 0.3, "barge": 0.04}.get(kind, 0.15) * L
    stern_round = {"tug": 0.25}.get(kind, 0.03) * L
    half = np.full(u.shape, hb, dtype=np.float32)
    fwd = u > hl - bow_len
    half = np.where(fwd, hb * np.sqrt(np.clip((hl - u) / bow_len, 0, 1)), half)
    aft = u < -hl + stern_round
    half = np.where(aft, hb * np.sqrt(np.clip((u + hl) / stern_round, 0, 1)) * 0.3 + 0.7 * hb, half)
    inside = (np.abs(u) <= hl) & (np.abs(v) <= half)
    m = np.where(inside, _M_DECK, _M_NONE).astype(np.uint8)
    if kind == "tanker":
        m[inside & (np.abs(v) < max(0.06 * B, 0.7))] = _M_CATWALK  # pipe rack / catwalk
        m[inside & (np.abs(u) < 0.025 * L + 1.0)] = _M_CATWALK  # manifold
        sup = (u > -hl + 0.02 * L) & (u < -hl + 0.16 * L) & (np.abs(v) < 0.85 * hb)
        m[inside & sup] = _M_SUPER
    elif kind == "cargo":
        period = L / 7.0
        ph = np.mod(u + hl, period) / period
        holds = (u > -hl + 0.22 * L) & (u < hl - 0.14 * L) & (np.abs(v) < 0.8 * hb) & (ph > 0.12)
        rng = np.random.default_rng(seed)
        m[inside & holds] = _M_HATCH if rng.random() < 0.6 else _M_CARGO
        sup = (u > -hl + 0.03 * L) & (u < -hl + 0.15 * L) & (np.abs(v) < 0.9 * hb)
        m[inside & sup] = _M_SUPER
    elif kind == "tug":
        sup = (np.abs(u + 0.05 * L) < 0.18 * L) & (np.abs(v) < 0.6 * hb)
        m[inside & sup] = _M_SUPER
    elif kind == "barge":
        rng = np.random.default_rng(seed)
        if rng.random() < 0.5:
            cargo = (np.abs(u) < 0.4 * L) & (np.abs(v) < 0.7 * hb)
            m[inside & cargo] = _M_CARGO
    return m


def draw_vessels(
    img: np.ndarray,
    grid: Grid,
    vessels: list[VesselDraw],
    sensor: Sensor,
    sun_elev_deg: float,
    sun_az_deg: float,
    rng: np.random.Generator,
    water: np.ndarray | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Draw wakes, hulls and their shadows into ``img`` in place (wakes only on ``water``).

    Returns the hull coverage map [H, W] and, per vessel, its pixel window and bbox_px.
    """
    nb, h, w = img.shape
    cover_all = np.zeros((h, w), dtype=np.float32)
    info = []
    g = grid.gsd_m
    tan_e = math.tan(math.radians(max(sun_elev_deg, 5.0)))
    saz = math.radians(sun_az_deg)
    # shadow falls away from the sun
    sdx, sdy = -math.sin(saz), -math.cos(saz)
    off = (np.arange(_SS, dtype=np.float32) + 0.5) / _SS
    for vd in vessels:
        if vd.speed_kn > 0.5:
            draw_wake(img, grid, vd, sensor, water)
    for vd in vessels:
        reach = vd.length_m / 2 + vd.super_height_m / tan_e + 2 * g
        col_c, row_c = grid.pixel(vd.x, vd.y)
        r = int(math.ceil(reach / g)) + 1
        c0, c1 = int(math.floor(col_c)) - r, int(math.floor(col_c)) + r + 1
        r0, r1 = int(math.floor(row_c)) - r, int(math.floor(row_c)) + r + 1
        cc0, cc1, rr0, rr1 = max(c0, 0), min(c1, w), max(r0, 0), min(r1, h)
        if cc0 >= cc1 or rr0 >= rr1:
            info.append({"window": None, "bbox_px": None, "cover_px": 0.0})
            continue
        ww, wh = cc1 - cc0, rr1 - rr0
        cols = (np.arange(cc0, cc1)[:, None] + off[None, :]).reshape(-1)  # ww*_SS
        rows = (np.arange(rr0, rr1)[:, None] + off[None, :]).reshape(-1)
        X = grid.x0 + cols[None, :] * g
        Y = grid.y0 - rows[:, None] * g
        X, Y = np.broadcast_arrays(X, Y)  # [wh*_SS, ww*_SS]
        th = math.radians(vd.heading_deg)
        sa, ca = math.sin(th), math.cos(th)

        def frame(dx, dy, sa=sa, ca=ca):
            return dx * sa + dy * ca, dx * ca - dy * sa

        u, v = frame(X - vd.x, Y - vd.y)
        seed = int(rng.integers(0, 2**31))
        mat = _hull_materials(vd.kind, u, v, vd.length_m, vd.beam_m, seed)
        # shadows: the hull (freeboard) and the superstructure, displaced away from the sun
        sh_len = vd.freeboard_m / tan_e
        us, vs = frame(X - vd.x - sdx * sh_len, Y - vd.y - sdy * sh_len)
        shadow = _hull_materials(vd.kind, us, vs, vd.length_m, vd.beam_m, seed) > 0
        if vd.kind in ("tanker", "cargo", "tug"):
            for frac in (0.35, 0.7, 1.0):
                L2 = vd.super_height_m * frac / tan_e
                us, vs = frame(X - vd.x - sdx * L2, Y - vd.y - sdy * L2)
                shadow |= _hull_materials(vd.kind, us, vs, vd.length_m, vd.beam_m, seed) == (
                    _M_SUPER
                )
        shadow &= mat == _M_NONE
        deck = spectrum(vd.deck, sensor)
        table = np.stack(
            [
                np.zeros(nb, np.float32),
                deck,
                spectrum("catwalk", sensor),
                spectrum("superstructure", sensor),
                spectrum("hatch", sensor),
                spectrum("cargo_bright", sensor),
            ]
        )
        # paint, weathering and load vary brightness between ships (lognormal, ~ x0.6-x1.6)
        table[1:] *= float(np.exp(rng.normal(0.0, 0.25)))
        # deck variation: rust, stains, equipment (per sample multiplicative)
        var = 1.0 + 0.12 * rng.standard_normal(mat.shape).astype(np.float32)
        hull = mat > 0
        shade = np.where(shadow, 0.45, 1.0).astype(np.float32)
        for b in range(nb):
            bg = img[b, rr0:rr1, cc0:cc1]
            bg_s = np.repeat(np.repeat(bg, _SS, axis=0), _SS, axis=1)
            val = np.where(hull, table[mat, b] * var, bg_s * shade)
            img[b, rr0:rr1, cc0:cc1] = val.reshape(wh, _SS, ww, _SS).mean(axis=(1, 3))
        cov = hull.reshape(wh, _SS, ww, _SS).mean(axis=(1, 3)).astype(np.float32)
        cover_all[rr0:rr1, cc0:cc1] = np.maximum(cover_all[rr0:rr1, cc0:cc1], cov)
        # exact bbox of the oriented rectangle, clipped to the grid
        cx, cy = grid.pixel(vd.corners()[:, 0], vd.corners()[:, 1])
        x0, x1 = max(0.0, float(cx.min())), min(float(w), float(cx.max()))
        y0, y1 = max(0.0, float(cy.min())), min(float(h), float(cy.max()))
        bbox = None
        if x1 > x0 and y1 > y0:
            bbox = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
        info.append({"window": (rr0, rr1, cc0, cc1), "bbox_px": bbox, "cover_px": float(cov.sum())})
    return cover_all, info


def draw_wake(
    img: np.ndarray, grid: Grid, vd: VesselDraw, sensor: Sensor, water: np.ndarray | None
) -> None:
    """Turbulent wake and Kelvin arms behind a vessel under way: whitish water fading with
    distance, longer and brighter with speed (drawn before hulls, at pixel resolution)."""
    nb, h, w = img.shape
    g = grid.gsd_m
    wake_len = vd.length_m * (1.5 + 0.3 * vd.speed_kn)
    th = math.radians(vd.heading_deg)
    sa, ca = math.sin(th), math.cos(th)
    stern_x, stern_y = vd.x - sa * vd.length_m / 2, vd.y - ca * vd.length_m / 2
    reach = wake_len + vd.length_m
    col_c, row_c = grid.pixel(stern_x, stern_y)
    r = int(math.ceil(reach / g)) + 1
    c0, c1 = max(int(col_c) - r, 0), min(int(col_c) + r + 1, w)
    r0, r1 = max(int(row_c) - r, 0), min(int(row_c) + r + 1, h)
    if c0 >= c1 or r0 >= r1:
        return
    X = grid.x0 + (np.arange(c0, c1, dtype=np.float32) + 0.5)[None, :] * g
    Y = grid.y0 - (np.arange(r0, r1, dtype=np.float32) + 0.5)[:, None] * g
    dx, dy = X - stern_x, Y - stern_y
    back = -(dx * sa + dy * ca)  # metres behind the stern
    side = np.abs(dx * ca - dy * sa)
    behind = back > 0
    fade = np.exp(-np.maximum(back, 0) / (0.45 * wake_len))
    centre = np.exp(-((side / (0.6 * vd.beam_m + 0.04 * np.maximum(back, 0))) ** 2))
    # Kelvin arms at ~19.5 degrees, fainter and shorter than the turbulent wake
    arms = np.exp(-(((side - back * 0.34) / (0.5 * g + 2.0)) ** 2)) * 0.3
    arms *= np.exp(-np.maximum(back, 0) / (0.2 * wake_len))
    alpha = (behind * fade * np.clip(centre + arms, 0, 1)).astype(np.float32)
    alpha *= min(0.35, 0.04 * vd.speed_kn)
    if water is not None:
        alpha *= water[r0:r1, c0:c1]
    foam = spectrum("whitecap", sensor)
    for b in range(nb):
        win = img[b, r0:r1, c0:c1]
        win += (foam[b] - win) * alpha


# --------------------------------------------------------------------------- atmosphere + sensor


@dataclass
class Atmosphere:
    cloud: np.ndarray  # opacity 0-1 [H, W]
    cirrus: np.ndarray  # thin cirrus opacity 0-1
    shadow: np.ndarray  # cloud-shadow darkening 0-1


def make_atmosphere(
    shape: tuple[int, int], cond: Conditions, sensor: Sensor, rng: np.random.Generator
) -> Atmosphere:
    h, w = shape
    cloud = np.zeros(shape, np.float32)
    shadow = np.zeros(shape, np.float32)
    if cond.cloud_cover > 0.005:
        # cloud shadow: the cloud field displaced away from the sun by the cloud height. The
        # field is drawn on a canvas larger by the displacement, so clouds just outside the
        # scene cast their shadows into it (no straight shadow edges at the scene border).
        tan_e = math.tan(math.radians(max(cond.sun_elev_deg, 5.0)))
        height_m = float(rng.uniform(800, 2500))
        d = height_m / tan_e / sensor.gsd_m
        saz = math.radians(cond.sun_az_deg)
        dcol, drow = int(round(-math.sin(saz) * d)), int(round(math.cos(saz) * d))
        ch, cw = h + abs(drow), w + abs(dcol)
        # the field is drawn at ~20 m and smoothly upsampled (clouds have no sharper edges
        # worth the cost), plus a little pixel-scale texture at the edges
        f = max(1, int(round(20.0 / sensor.gsd_m)))
        sc = max(3.0, 2500.0 / (sensor.gsd_m * f))
        coarse = (-(-ch // f) + 2, -(-cw // f) + 2)
        n = smooth_noise(coarse, rng, sc, octaves=octaves_for(sc, 1.5))
        if f > 1:
            n = _upsample(n, (ch, cw), float(f), 0.0, 0.0)
        fine = rng.standard_normal(n.shape).astype(np.float32)
        n += 0.012 * ndimage.gaussian_filter(fine, 1.5, mode="wrap") / 0.19
        # the scene window and the window whose clouds shade it
        r0, c0 = max(0, drow), max(0, dcol)
        r1, c1 = max(0, -drow), max(0, -dcol)
        t = float(np.quantile(n[r0 : r0 + h, c0 : c0 + w], 1.0 - cond.cloud_cover))
        edge = 0.2
        full = np.clip((n - t) / edge, 0.0, 1.0).astype(np.float32)
        cloud = full[r0 : r0 + h, c0 : c0 + w]
        caster = full[r1 : r1 + h, c1 : c1 + w]
        shadow = np.clip(caster * (1 - cloud), 0, 1).astype(np.float32)
    cirrus = np.zeros(shape, np.float32)
    if cond.cirrus > 0.01:
        n = smooth_noise(shape, rng, max(3.0, 1500.0 / sensor.gsd_m), octaves=3)
        cirrus = (np.clip(0.5 + 0.7 * n, 0, 1) * cond.cirrus).astype(np.float32)
    return Atmosphere(cloud, cirrus, shadow)


def apply_atmosphere(img: np.ndarray, atm: Atmosphere, cond: Conditions, sensor: Sensor) -> None:
    """Cloud shadows, haze, cirrus and clouds over the surface (in place)."""
    cl = spectrum("cloud", sensor)
    hz = spectrum("haze", sensor)
    for b in range(img.shape[0]):
        band = img[b]
        band *= 1.0 - 0.5 * atm.shadow
        band += hz[b] * (cond.haze + 0.6 * atm.cirrus)
        op = np.clip(atm.cloud + 0.45 * atm.cirrus, 0, 1)
        band *= 1.0 - op
        band += cl[b] * op


def apply_sensor(img: np.ndarray, sensor: Sensor, rng: np.random.Generator) -> np.ndarray:
    """PSF blur and noise, then uint16 DN (>= 1, since 0 is nodata)."""
    out = np.empty(img.shape, dtype=np.uint16)
    for b in range(img.shape[0]):
        band = ndimage.gaussian_filter(img[b], sensor.psf_sigma_px[b], mode="nearest")
        sd = np.sqrt(sensor.noise_dn[b] ** 2 + (sensor.noise_rel * band) ** 2)
        band = band + sd * rng.standard_normal(band.shape).astype(np.float32)
        out[b] = np.clip(np.rint(band), 1, 65535).astype(np.uint16)
    return out


def nodata_wedge(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of a swath / tile edge cutting off part of the scene."""
    h, w = shape
    ang = math.radians(rng.uniform(-15, 15) + (90 if rng.random() < 0.5 else 0))
    nx, ny = math.cos(ang), math.sin(ang)
    rows, cols = np.mgrid[0:h, 0:w]
    proj = (cols - w / 2) * nx + (rows - h / 2) * ny
    lim = float(np.max(np.abs(proj)))
    t = rng.uniform(0.15, 0.75) * lim * (1 if rng.random() < 0.5 else -1)
    return proj > t if t > 0 else proj < t


def scl_mask(
    surface: Surface,
    cond: Conditions,
    atm: Atmosphere,
    vessel_cover: np.ndarray,
    nodata: np.ndarray | None,
) -> np.ndarray:
    """An SCL-like class mask on the scene grid."""
    cls = surface.cls
    scl = np.full(cls.shape, SCL_WATER, dtype=np.uint8)
    land = cls == LAND
    scl[land] = np.where(surface.veg[land] > 0.5, SCL_VEG, SCL_BARE)
    if cond.snow > 0.3:
        snowy = land & (np.clip(cond.snow * 1.6 - 0.6 + 0.5 * surface.texture, 0, 1) > 0.5)
        scl[snowy] = SCL_SNOW
    scl[(cls == PIER) | (cls == LOOKALIKE)] = SCL_BARE
    scl[vessel_cover > 0.5] = SCL_BARE
    scl[atm.shadow > 0.3] = SCL_SHADOW
    scl[atm.cirrus > 0.35] = SCL_CIRRUS
    scl[atm.cloud > 0.2] = SCL_CLOUD_MED
    scl[atm.cloud > 0.6] = SCL_CLOUD_HIGH
    if nodata is not None:
        scl[nodata] = SCL_NODATA
    return scl


# --------------------------------------------------------------------------- writing


def write_geotiff(
    path, data: np.ndarray, grid: Grid, descriptions: list[str] | None, tags: dict[str, str]
) -> None:
    """Deterministic GeoTIFF (fixed creation options, no timestamps), written atomically."""
    import rasterio

    from pipeline.fsutil import atomic_path

    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": 0,
        "compress": "deflate",
        "predictor": 3 if data.dtype.kind == "f" else 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "interleave": "pixel" if data.shape[0] > 1 else "band",
    }
    with atomic_path(path) as tmp:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data)
                if descriptions:
                    for i, d in enumerate(descriptions, start=1):
                        dst.set_band_description(i, d)
                dst.update_tags(**tags)
