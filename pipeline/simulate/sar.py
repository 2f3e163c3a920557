"""Render a Sentinel-1-like IW GRD scene: calibrated sigma0 (linear power), VV and VH.

What is drawn, in this order (all numbers and their sources in BENCHMARKS.md, "Simulated
Sentinel-1"):

- sea clutter from the CMOD5.N geophysical model function (VV; Hersbach 2010) at the scene's
  wind speed, the wind direction relative to the radar look and the incidence angle, with
  kilometre-scale wind variability and sheltered (calmer, darker) water near the shore; VH from
  a linear cross-polarised wind model (about 0.58 dB per m/s, Vachon & Wolfe 2011);
- land by cover (vegetation, bare, built), piers and container stacks, fixed look-alikes
  (pontoons and concrete jetties bright, storage tanks with a bright double-bounce base on the
  side facing the radar and a radar shadow behind);
- double bounce of quay walls, breakwaters and pier edges that face the radar (wall-water
  dihedral) and crane-like point scatterers along pier edges;
- hulls: deck, pipe rack, superstructure and the hull-water dihedral of the side facing the
  radar, their brightness growing with size and varying between ships; each hull is smeared in
  azimuth (motion: sea state, speed) and imaged through a point-spread function with a main
  lobe of the 20 x 22 m resolution and the sidelobe cross along range and azimuth;
- the whole scene through the main lobe, multiplied by multi-look speckle (gamma distributed
  intensity with the product's equivalent number of looks), plus thermal noise at the scene's
  noise-equivalent sigma0 (noise not removed, as in a GRD calibrated without noise removal);
  signal and noise share the speckle (the look-averaged intensity of their sum).

Not simulated: the azimuth displacement of moving ships (they are drawn where they are),
wakes, azimuth ambiguities, terrain layover of hills.

The mask written beside the image (scl.tif) keeps the SCL codes so the ingest reads it like
the optical one, but holds no cloud: 0 where there is no data (swath edge) and where radar
shadow or layover hides the ground, 6 water, 4 vegetation, 5 bare / built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import ndimage, signal

from pipeline.simulate.render import (
    LAND,
    LOOKALIKE,
    LOOKALIKE_SPECTRA,
    PIER,
    SCL_BARE,
    SCL_NODATA,
    SCL_VEG,
    SCL_WATER,
    WATER,
    Grid,
    Surface,
    VesselDraw,
    _hull_materials,
    nodata_wedge,
    smooth_noise,
)
from pipeline.simulate.sensors import SarSensor


def db(x):
    return 10.0 * np.log10(np.maximum(x, 1e-12))


def lin(x_db):
    return np.power(10.0, np.asarray(x_db, dtype=np.float64) / 10.0)


# --------------------------------------------------------------------------- sea clutter

# CMOD5.N coefficients c1..c28 (Hersbach 2010, "Comparison of C-band scatterometer CMOD5.N
# equivalent neutral winds with ECMWF", J. Atmos. Oceanic Technol. 27); index 0 unused.
_C = (
    0.0,
    -0.6878,
    -0.7957,
    0.338,
    -0.1728,
    0.0,
    0.004,
    0.1103,
    0.0159,
    6.7329,
    2.7713,
    -2.2885,
    0.4971,
    -0.725,
    0.045,
    0.0066,
    0.3222,
    0.012,
    22.7,
    2.0813,
    3.0,
    8.3659,
    -3.3428,
    1.3236,
    6.2437,
    2.3893,
    0.3249,
    4.159,
    1.693,
)


def cmod5n(wind_ms, phi_deg, incidence_deg):
    """CMOD5.N VV sigma0 (linear) for wind speed (m/s, 10 m neutral), the angle between the
    radar look and the wind direction (degrees, 0 = looking upwind) and the incidence angle.
    Vectorised over numpy arrays (broadcast)."""
    c = _C
    v = np.maximum(np.asarray(wind_ms, dtype=np.float64), 1e-3)
    cosphi = np.cos(np.radians(np.asarray(phi_deg, dtype=np.float64)))
    x = (np.asarray(incidence_deg, dtype=np.float64) - 40.0) / 25.0
    x2 = x * x
    a0 = c[1] + c[2] * x + c[3] * x2 + c[4] * x * x2
    a1 = c[5] + c[6] * x
    a2 = c[7] + c[8] * x
    gam = c[9] + c[10] * x + c[11] * x2
    s0 = c[12] + c[13] * x
    s = a2 * v
    a3_low = (1.0 / (1.0 + np.exp(-s0))) * (np.maximum(s, 1e-9) / s0) ** (
        s0 * (1.0 - 1.0 / (1.0 + np.exp(-s0)))
    )
    a3 = np.where(s < s0, a3_low, 1.0 / (1.0 + np.exp(-s)))
    b0 = a3**gam * 10.0 ** (a0 + a1 * v)
    b1 = c[15] * v * (0.5 + x - np.tanh(4.0 * (x + c[16] + c[17] * v)))
    b1 = (c[14] * (1.0 + x) - b1) / (np.exp(0.34 * (v - c[18])) + 1.0)
    v0 = c[21] + c[22] * x + c[23] * x2
    d1 = c[24] + c[25] * x + c[26] * x2
    d2 = c[27] + c[28] * x
    y0, pn = c[19], c[20]
    a = y0 - (y0 - 1.0) / pn
    b = 1.0 / (pn * (y0 - 1.0) ** (pn - 1.0))
    v2 = v / v0 + 1.0
    v2 = np.where(v2 < y0, a + b * np.maximum(v2 - 1.0, 0.0) ** pn, v2)
    b2 = (-d1 + d2 * v2) * np.exp(-v2)
    return b0 * np.maximum(1.0 + b1 * cosphi + b2 * (2.0 * cosphi**2 - 1.0), 1e-6) ** 1.6


def vh_sea_db(wind_ms):
    """Cross-polarised (VH) sea sigma0 in dB: linear in wind speed, about -35.6 dB + 0.58 dB per
    m/s (Vachon & Wolfe 2011, RADARSAT-2 C-band; no incidence dependence at 30-45 degrees)."""
    return 0.580 * np.asarray(wind_ms, dtype=np.float64) - 35.652


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class SarConditions:
    """What changes between SAR acquisitions of one place (no clouds, no sun)."""

    when: datetime
    season: str
    wind_ms: float  # 10 m wind speed over open water
    wind_dir_deg: float  # direction the wind comes FROM, degrees from north
    sea_state: int  # 0-6, from the wind
    orbit_state: str  # ascending | descending
    relative_orbit: int
    incidence_deg: float
    heading_deg: float  # satellite track bearing
    nesz_db: float  # noise-equivalent sigma0 of this scene
    partial: bool  # a swath / slice edge cuts the scene

    @property
    def look_deg(self) -> float:
        """Bearing of the radar look (right-looking: track + 90 degrees)."""
        return (self.heading_deg + 90.0) % 360.0


def look_vectors(cond: SarConditions) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in pixel space (col, row; rows grow southwards): the range direction away
    from the radar, and the azimuth direction (along track)."""
    la = math.radians(cond.look_deg)
    ha = math.radians(cond.heading_deg)
    rng_v = np.array([math.sin(la), -math.cos(la)])
    az_v = np.array([math.sin(ha), -math.cos(ha)])
    return rng_v, az_v


# --------------------------------------------------------------------------- backscatter tables

# VV / VH sigma0 in dB of surfaces (C band, 30-45 degrees; see BENCHMARKS.md)
LAND_DB = {
    "vegetation": (-8.0, -14.5),
    "bare": (-13.0, -21.0),
    "built": (-4.0, -11.0),
    "snow": (-11.0, -19.0),
    "pier": (-11.0, -19.0),  # flat concrete: mostly specular away from the radar
    "containers": (1.0, -8.0),  # stacks: many corners
    "pontoon": (2.0, -9.0),
    "concrete": (-2.0, -11.0),  # jetties and dolphins on piles
    "tank_roof": (-3.0, -12.0),
}
EDGE_DB = (10.0, -2.0)  # wall-water double bounce of a quay facing the radar (VV, VH)
CRANE_DB = (20.0, 8.0)  # a crane / gantry: a strong point target (peak pixel)
TANK_BASE_DB = (15.0, 3.0)  # tank wall-ground dihedral on the side facing the radar
# hull materials: deck, catwalk / manifold, superstructure, hatch, cargo (VV dB; VH - 8 dB)
HULL_DB = (2.0, 9.0, 17.0, 4.0, 6.0)
HULL_SIDE_DB = 12.0  # hull-water double bounce of the side facing the radar, broadside
SHIP_SPREAD_DB = 2.5  # ship-to-ship spread (lognormal)
SHIP_XPOL_DB = -8.0  # VH relative to VV on a hull
TALL_M = {"tank_roof": 18.0}


def _sidelobe_kernel(
    sensor: SarSensor, rng_v: np.ndarray, az_v: np.ndarray, half: int = 12
) -> np.ndarray:
    """The point-spread function of a strong point target on the 10 m grid: a Gaussian main
    lobe of the resolution plus sinc-squared sidelobes along range and azimuth only (the
    cross), Hamming-weighted: the first sidelobe about 21 dB below the peak."""
    g = sensor.gsd_m
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    r = xx * rng_v[0] + yy * rng_v[1]  # pixels along range
    a = xx * az_v[0] + yy * az_v[1]  # pixels along azimuth
    res_r, res_a = sensor.resolution_m[0] / g, sensor.resolution_m[1] / g
    main = np.exp(-0.5 * ((r / (res_r / 2.355)) ** 2 + (a / (res_a / 2.355)) ** 2))

    def lobes(t, res):
        u = np.abs(t) / res
        env = np.sinc(u) ** 2
        return np.where(u > 1.0, env, 0.0) * 10 ** (-0.8)  # -13 dB sinc - 8 dB weighting

    width = 0.6  # the cross is about one pixel wide
    cross = lobes(r, res_r) * np.exp(-0.5 * (a / width) ** 2) + lobes(a, res_a) * np.exp(
        -0.5 * (r / width) ** 2
    )
    k = main + cross
    return k / k.sum()


def _line_kernel(direction: np.ndarray, length_px: float) -> np.ndarray | None:
    """A normalised line kernel (azimuth smearing) of ``length_px`` along ``direction``."""
    if length_px < 0.75:
        return None
    half = int(math.ceil(length_px / 2)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    along = xx * direction[0] + yy * direction[1]
    across = -xx * direction[1] + yy * direction[0]
    k = (np.abs(along) <= length_px / 2) * np.exp(-0.5 * (across / 0.5) ** 2)
    return k / k.sum()


def _shift_mask(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``mask`` sampled at (col + dx, row + dy) (nearest, False outside)."""
    h, w = mask.shape
    rows, cols = np.mgrid[0:h, 0:w]
    c = np.rint(cols + dx).astype(np.intp)
    r = np.rint(rows + dy).astype(np.intp)
    ok = (c >= 0) & (c < w) & (r >= 0) & (r < h)
    out = np.zeros_like(mask)
    out[ok] = mask[r[ok], c[ok]]
    return out


def static_scatterers(surface: Surface, seed: int) -> list[tuple[int, int]]:
    """Crane-like point scatterers on pier pixels at the water's edge, the same for every scene
    of a place (pixel row, col)."""
    pier = surface.cls == PIER
    if not pier.any():
        return []
    water = surface.cls == WATER
    edge = pier & ndimage.binary_dilation(water, structure=np.ones((3, 3)))
    rows, cols = np.nonzero(edge)
    if rows.size == 0:
        return []
    rng = np.random.default_rng(seed)
    n = max(1, rows.size // 25)
    pick = rng.choice(rows.size, size=min(n, rows.size), replace=False)
    return [(int(rows[i]), int(cols[i])) for i in np.sort(pick)]


def background(
    surface: Surface, cond: SarConditions, sensor: SarSensor, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean sigma0 (linear) [2, H, W] of the diffuse scene, the point-target layer [2, H, W],
    the wall-water double-bounce layer [2, H, W], the radar-shadow / layover mask and the wind
    field over water (m/s)."""
    cls = surface.cls
    h, w = cls.shape
    g = sensor.gsd_m
    rng_v, az_v = look_vectors(cond)
    diffuse = np.zeros((2, h, w), dtype=np.float64)
    points = np.zeros((2, h, w), dtype=np.float64)
    # --- water: CMOD5.N with km-scale wind variability and shelter near the shore
    var = smooth_noise((h, w), rng, max(2.0, 2000.0 / g), octaves=3)
    shelter = 0.55 + 0.45 * (1.0 - np.exp(-surface.shore_dist_m / 400.0))
    wind = np.clip(cond.wind_ms * (1.0 + 0.18 * var) * shelter, 0.3, 40.0)
    phi = (cond.wind_dir_deg + 180.0 - cond.look_deg) % 360.0  # 0: radar looks upwind
    water = cls == WATER
    diffuse[0][water] = cmod5n(wind[water], phi, cond.incidence_deg)
    diffuse[1][water] = lin(vh_sea_db(wind[water]))
    # --- land by cover
    land = cls == LAND
    if land.any():
        v = surface.veg[land]
        t = surface.texture[land]
        veg = lin(LAND_DB["vegetation"][0]), lin(LAND_DB["vegetation"][1])
        bare = lin(LAND_DB["bare"][0]), lin(LAND_DB["bare"][1])
        built = lin(LAND_DB["built"][0]), lin(LAND_DB["built"][1])
        bare_frac = np.clip(0.5 + 0.5 * t, 0, 1)
        for p in range(2):
            urban = built[p] * (1 - bare_frac) + bare[p] * bare_frac
            diffuse[p][land] = (v * veg[p] + (1 - v) * urban) * lin(3.0 * t)
    pier = cls == PIER
    if pier.any():
        cont = surface.blocks[pier] > 0
        for p in range(2):
            diffuse[p][pier] = np.where(
                cont, lin(LAND_DB["containers"][p]), lin(LAND_DB["pier"][p])
            ) * lin(2.0 * surface.texture[pier])
    look = cls == LOOKALIKE
    tank = np.zeros((h, w), dtype=bool)
    if look.any():
        names = np.array(LOOKALIKE_SPECTRA)[surface.lookalike_spec]
        for name in ("pontoon", "concrete", "tank_roof", "deck_rust", "deck_grey"):
            m = look & (names == name)
            if not m.any():
                continue
            key = name if name in LAND_DB else "pontoon"
            for p in range(2):
                diffuse[p][m] = lin(LAND_DB[key][p])
        tank = look & (names == "tank_roof")
    solid = land | pier | (look & ~tank)
    # --- double bounce of walls facing the radar: solid pixels at the water's edge whose
    # outward normal points at the radar (the dihedral response falls off within ~15 degrees)
    toward = -rng_v
    sm = ndimage.gaussian_filter(solid.astype(np.float64), 1.5)
    gy, gx = np.gradient(sm)
    norm = np.hypot(gx, gy) + 1e-9
    cosang = np.clip(-(gx * toward[0] + gy * toward[1]) / norm, 0.0, 1.0)
    edge = solid & ndimage.binary_dilation(water, structure=np.ones((3, 3)))
    strength = lin(rng.normal(0.0, 2.0, size=(h, w)))
    edges = np.zeros((2, h, w), dtype=np.float64)
    for p in range(2):
        edges[p] = edge * cosang**8 * lin(EDGE_DB[p]) * strength
    # --- tanks: bright base on the side facing the radar, shadow behind (and layover)
    shadow = np.zeros((h, w), dtype=bool)
    if tank.any():
        base = tank & ~_shift_mask(tank, toward[0], toward[1])
        for p in range(2):
            points[p][base] += lin(TANK_BASE_DB[p]) * 0.3
        shadow |= _cast(
            tank, rng_v, TALL_M["tank_roof"] * math.tan(math.radians(cond.incidence_deg)) / g
        )
        shadow |= (
            _cast(
                tank, -rng_v, TALL_M["tank_roof"] / math.tan(math.radians(cond.incidence_deg)) / g
            )
            & ~tank
        )
    # --- cranes along pier edges: strong point targets; a lattice crane casts no solid shadow
    # (a shadow marked nodata on the pier would make the berth beside it unobserved)
    for r, c in static_scatterers(surface, seed=int(surface.grid.x0 * 7 + surface.grid.y0) % 2**31):
        for p in range(2):
            points[p, r, c] += lin(CRANE_DB[p]) * float(rng.uniform(0.3, 1.0))
    # radar shadow only matters on land (water is dark anyway; a shadowed berth is not nodata)
    shadow &= land | pier | tank
    for p in range(2):
        diffuse[p][shadow] = 0.0
    return diffuse, points, edges, shadow, wind


def _cast(mask: np.ndarray, direction: np.ndarray, length_px: float) -> np.ndarray:
    """Pixels within ``length_px`` of ``mask`` along ``direction`` (the mask itself excluded)."""
    out = np.zeros_like(mask)
    steps = max(1, int(math.ceil(length_px)))
    for k in range(1, steps + 1):
        f = min(k, length_px)
        out |= _shift_mask(mask, -direction[0] * f, -direction[1] * f)
    return out & ~mask


# --------------------------------------------------------------------------- hulls

_SS = 4  # supersampling per pixel side


def draw_hulls(
    points: np.ndarray,
    grid: Grid,
    vessels: list[VesselDraw],
    cond: SarConditions,
    sensor: SarSensor,
    rng: np.random.Generator,
    cover_all: np.ndarray | None = None,
) -> list[dict]:
    """Add each hull's backscatter (linear sigma0, before the PSF) to ``points`` [2, H, W] in
    place; returns per vessel its pixel window and bbox_px (as the optical renderer)."""
    _, h, w = points.shape
    g = grid.gsd_m
    rng_v, az_v = look_vectors(cond)
    toward = -rng_v  # pixel direction to the radar
    off = (np.arange(_SS, dtype=np.float64) + 0.5) / _SS
    info = []
    table = lin(np.array(HULL_DB))
    for vd in vessels:
        reach = vd.length_m / 2 + 3 * g
        col_c, row_c = grid.pixel(vd.x, vd.y)
        r = int(math.ceil(reach / g)) + 1
        c0, c1 = int(math.floor(col_c)) - r, int(math.floor(col_c)) + r + 1
        r0, r1 = int(math.floor(row_c)) - r, int(math.floor(row_c)) + r + 1
        cc0, cc1, rr0, rr1 = max(c0, 0), min(c1, w), max(r0, 0), min(r1, h)
        seed = int(rng.integers(0, 2**31))
        ship_db = float(rng.normal(0.0, SHIP_SPREAD_DB))
        if cc0 >= cc1 or rr0 >= rr1:
            info.append({"window": None, "bbox_px": None, "cover_px": 0.0})
            continue
        ww, wh = cc1 - cc0, rr1 - rr0
        cols = (np.arange(cc0, cc1)[:, None] + off[None, :]).reshape(-1)
        rows = (np.arange(rr0, rr1)[:, None] + off[None, :]).reshape(-1)
        X = grid.x0 + cols[None, :] * g
        Y = grid.y0 - rows[:, None] * g
        X, Y = np.broadcast_arrays(X, Y)
        th = math.radians(vd.heading_deg)
        sa, ca = math.sin(th), math.cos(th)
        dx, dy = X - vd.x, Y - vd.y
        u, v = dx * sa + dy * ca, dx * ca - dy * sa
        mat = _hull_materials(vd.kind, u, v, vd.length_m, vd.beam_m, seed)
        hull = mat > 0
        # the hull side facing the radar: hull samples whose neighbour toward the radar (one
        # beam-width step in map metres) is outside the hull; brightest broadside
        tx, ty = toward[0], -toward[1]  # map (east, north)
        step = max(2.0, 0.35 * vd.beam_m)
        us, vs = (
            (dx + tx * step) * sa + (dy + ty * step) * ca,
            (dx + tx * step) * ca - (dy + ty * step) * sa,
        )
        outside = _hull_materials(vd.kind, us, vs, vd.length_m, vd.beam_m, seed) == 0
        side = hull & outside
        # broadside factor: the hull axis perpendicular to the look (|cos| of look vs beam axis)
        beam_axis = np.array([ca, -sa])  # map vector across the hull
        broad = abs(float(beam_axis @ np.array([tx, ty])))
        size_db = 10.0 * math.log10(max(vd.length_m, 10.0) / 80.0)
        val = np.where(hull, table[np.clip(mat, 1, 5) - 1], 0.0)
        val = val + side * lin(HULL_SIDE_DB) * broad**4
        if vd.kind == "barge":
            val *= lin(-3.0)
        val *= lin(ship_db + size_db)
        var = lin(rng.normal(0.0, 2.0, size=val.shape))
        px = (val * var).reshape(wh, _SS, ww, _SS).mean(axis=(1, 3))
        # azimuth smearing: hull motion (roll, pitch: sea state) and speed
        smear = 0.25 * cond.sea_state + (0.8 + vd.speed_kn / 6.0 if vd.speed_kn > 0.5 else 0.0)
        k = _line_kernel(az_v, smear)
        if k is not None:
            px = signal.fftconvolve(px, k, mode="same")
        points[0, rr0:rr1, cc0:cc1] += px
        points[1, rr0:rr1, cc0:cc1] += px * lin(SHIP_XPOL_DB + float(rng.normal(0, 1.5)))
        cov = hull.reshape(wh, _SS, ww, _SS).mean(axis=(1, 3))
        if cover_all is not None:
            np.maximum(cover_all[rr0:rr1, cc0:cc1], cov, out=cover_all[rr0:rr1, cc0:cc1])
        cxs, cys = grid.pixel(vd.corners()[:, 0], vd.corners()[:, 1])
        x0, x1 = max(0.0, float(cxs.min())), min(float(w), float(cxs.max()))
        y0, y1 = max(0.0, float(cys.min())), min(float(h), float(cys.max()))
        bbox = None
        if x1 > x0 and y1 > y0:
            bbox = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
        info.append(
            {
                "window": (rr0, rr1, cc0, cc1),
                "bbox_px": bbox,
                "cover_px": float(cov.sum()),
                "occluded": 0.0,
            }
        )
    return info


# --------------------------------------------------------------------------- the scene


@dataclass
class SarRendered:
    sigma0: np.ndarray  # float32 [2, H, W] linear sigma0 (VV, VH); 0 = nodata
    scl: np.ndarray  # uint8 [H, W]: 0 nodata / shadow / layover, 4, 5, 6
    labels: list[dict]
    valid_fraction: float
    cloud_fraction: float = 0.0
    mean_sea_vv_db: float = float("nan")  # median open-water VV of the scene (before noise)

    @property
    def dn(self) -> np.ndarray:  # the name the optical writers use
        return self.sigma0


def render_sar_scene(
    surface: Surface,
    cond: SarConditions,
    vessels: list[VesselDraw],
    sensor: SarSensor,
    rng: np.random.Generator,
) -> SarRendered:
    from pipeline.simulate.compose import label_features

    grid = surface.grid
    shape = (grid.height, grid.width)
    rng_v, az_v = look_vectors(cond)
    diffuse, points, edges, shadow, _ = background(surface, cond, sensor, rng)
    cover = np.zeros(shape, dtype=np.float64)
    info = draw_hulls(points, grid, vessels, cond, sensor, rng, cover)
    # a hull moored in front of a quay wall hides the wall-water dihedral behind it
    hidden = np.zeros(shape, dtype=bool)
    hull = cover > 0.2
    for k in (1.0, 2.0, 3.0):
        hidden |= _shift_mask(hull, -rng_v[0] * k, -rng_v[1] * k)
    diffuse += edges * ~hidden
    kernel = _sidelobe_kernel(sensor, rng_v, az_v)
    mean = np.empty_like(diffuse)
    for p in range(2):
        sig = sensor.psf_sigma_px[p]
        blurred = ndimage.gaussian_filter(diffuse[p], sig, mode="nearest")
        mean[p] = blurred + np.maximum(signal.fftconvolve(points[p], kernel, mode="same"), 0.0)
    sea = surface.cls == WATER
    sea_vv = float(np.median(db(mean[0][sea]))) if sea.any() else float("nan")
    L = sensor.enl
    nesz = lin(cond.nesz_db)
    out = np.empty((2,) + shape, dtype=np.float32)
    for p in range(2):
        # signal and thermal noise share each complex sample: the look-averaged intensity is
        # gamma distributed around their sum
        speckle = rng.gamma(L, 1.0 / L, size=shape)
        out[p] = np.maximum((mean[p] + nesz) * speckle, 1e-6).astype(np.float32)
    nodata = nodata_wedge(shape, rng) if cond.partial else None
    scl = np.full(shape, SCL_WATER, dtype=np.uint8)
    land = surface.cls == LAND
    scl[land] = np.where(surface.veg[land] > 0.5, SCL_VEG, SCL_BARE)
    scl[(surface.cls == PIER) | (surface.cls == LOOKALIKE)] = SCL_BARE
    scl[shadow] = SCL_NODATA
    if nodata is not None:
        out[:, nodata] = 0.0
        scl[nodata] = SCL_NODATA
    labels = label_features(grid, vessels, info, nodata)
    valid = int((scl != SCL_NODATA).sum())
    return SarRendered(out, scl, labels, valid / scl.size, 0.0, round(sea_vv, 2))
