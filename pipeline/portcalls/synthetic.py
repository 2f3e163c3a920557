"""A seeded synthetic season of records (scenes, observations, detections, truth) for tests and
benchmarks of port calls and estimation, independent of imagery.

Tankers call at the load berth of a port (one at a time, queueing when busy) and sail on to a
discharge port; bulk carriers use another berth; a tug wanders onto the load berth now and then.
Sensors revisit on a fixed schedule (Sentinel-2 about every 2.5 days, a daily 3 m sensor);
clouds persist from day to day. In a clear image a vessel at a berth is detected with the given
recall, its length and beam perturbed with the detector's error model (part of the error repeats
for one hull and sensor). ``detections_from_truth`` does the same for any list of true stays, so
a simulator's truth can be scored the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from pipeline.config import Port, Vessel, load_port
from pipeline.portcalls.berths import BerthIndex
from pipeline.portcalls.params import SizeError, load_portcall_params
from pipeline.records import Detection, Observation, Scene, scene_id

SENSORS = {
    # name: (gsd_m, days of a 5-day cycle with a pass, hour UTC); the names the scenes carry,
    # those of configs/estimate portcalls.detector_recall
    "sentinel-2-l2a": (10.0, (0, 2), 2.0),
    "commercial-3m": (3.0, (0, 1, 2, 3, 4), 1.5),
}
SENSOR_ALIASES = {"sentinel-2": "sentinel-2-l2a", "daily": "commercial-3m"}  # short names


@dataclass
class Stay:
    """A vessel at a berth from arrive to depart (truth)."""

    vessel: str
    port: str
    berth: str
    arrive: datetime
    depart: datetime
    length_m: float
    beam_m: float
    along_m: float = 0.0
    dwt: float = 0.0
    barrels: float = 0.0
    product: str = "gasoil"
    role: str = "load"
    linked: int | None = None  # index of the discharge stay for a load stay
    in_registry: bool = True


@dataclass
class Season:
    ports: list[Port]
    scenes: list[Scene]
    observations: list[Observation]
    detections: list[Detection]
    stays: list[Stay]
    registry: list[Vessel]
    det_stay: dict[str, int] = field(default_factory=dict)  # detection id -> stay index

    def load_calls(self) -> list[Stay]:
        return [s for s in self.stays if s.role == "load"]


def footprint_wkt(index: BerthIndex, port: str, x: float, y: float, L: float, B: float, ax):
    """Oriented rectangle (WKT, EPSG:4326) of a hull centred at UTM (x, y) along unit axis ax."""
    from pyproj import Transformer
    from shapely.geometry import Polygon

    tr = Transformer.from_crs(index.ports[port].utm_crs(), "EPSG:4326", always_xy=True)
    ux, uy = ax
    vx, vy = -uy, ux
    pts = []
    for sl, sb in ((1, 1), (1, -1), (-1, -1), (-1, 1), (1, 1)):
        px = x + sl * ux * L / 2 + sb * vx * B / 2
        py = y + sl * uy * L / 2 + sb * vy * B / 2
        pts.append(tr.transform(px, py))
    lon, lat = tr.transform(x, y)
    return Polygon(pts).wkt, lon, lat


def schedule_scenes(ports: list[Port], start: datetime, days: int, sensors, cloud: float, rng):
    """Scenes of every port by the sensors' schedule, and per-berth clear/obscured observations."""
    scenes, obs = [], []
    state = rng.random() < cloud
    cloudy_day = []
    for _ in range(days):
        # persistent weather: keep yesterday's state with probability 0.6
        state = state if rng.random() < 0.6 else (rng.random() < cloud)
        cloudy_day.append(state)
    for port in ports:
        for day in range(days):
            for sensor in sensors:
                sensor = SENSOR_ALIASES.get(sensor, sensor)
                gsd, cycle, hour = SENSORS[sensor]
                if day % 5 not in cycle:
                    continue
                t = start + timedelta(days=day, hours=hour)
                sid = scene_id("synthetic", sensor, t, port.name)
                cloudy = cloudy_day[day] if rng.random() > 0.15 else not cloudy_day[day]
                scenes.append(
                    Scene(
                        id=sid,
                        source="synthetic",
                        sensor=sensor,
                        acquired=t,
                        port=port.name,
                        path="",
                        crs=port.utm_crs(),
                        gsd_m=gsd,
                        bands=["B02", "B03", "B04", "B08"],
                        valid_fraction=1.0,
                        cloud_fraction=0.9 if cloudy else 0.0,
                    )
                )
                for b in port.berths:
                    obs.append(
                        Observation(
                            scene_id=sid,
                            port=port.name,
                            berth=b.id,
                            acquired=t,
                            state="obscured" if cloudy else "clear",
                            clear_fraction=0.05 if cloudy else 1.0,
                            sensor=sensor,
                            gsd_m=gsd,
                        )
                    )
    return scenes, obs


def detections_from_truth(
    stays: list[Stay],
    scenes: list[Scene],
    observations: list[Observation],
    ports: list[Port],
    err: SizeError,
    recall: float,
    rng: np.random.Generator,
    model: str = "truth-perturbed",
) -> tuple[list[Detection], dict[str, int]]:
    """Detections of the true stays in every clear image, with the detector's error model."""
    index = BerthIndex(ports, 0.0)
    by_scene = {s.id: s for s in scenes}
    clear = {(o.scene_id, o.port, o.berth) for o in observations if o.state == "clear"}
    bias: dict[tuple[int, str], tuple[float, float]] = {}
    f = err.systematic_frac
    dets, owner = [], {}
    for sc in sorted(scenes, key=lambda s: (s.acquired, s.id)):
        for i, st in enumerate(stays):
            if st.port != sc.port or not (st.arrive <= sc.acquired < st.depart):
                continue
            if (sc.id, st.port, st.berth) not in clear or rng.random() > recall:
                continue
            sl = err.length_sigma(sc.gsd_m, st.length_m)
            sb = err.beam_sigma(sc.gsd_m, st.beam_m)
            key = (i, sc.sensor)
            if key not in bias:  # the detector's mean error plus this hull's own, per sensor
                ml, mb = err.bias(sc.gsd_m)
                bias[key] = (
                    ml + rng.normal(0, math.sqrt(f) * sl),
                    mb + rng.normal(0, math.sqrt(f) * sb),
                )
            L = max(st.length_m + bias[key][0] + rng.normal(0, math.sqrt(1 - f) * sl), 5.0)
            B = max(st.beam_m + bias[key][1] + rng.normal(0, math.sqrt(1 - f) * sb), 2.0)
            g = index.berths[(st.port, st.berth)]
            c = g.shape_m.centroid
            along = st.along_m + rng.normal(0, sc.gsd_m / 2)
            x = c.x + g.axis[0] * along
            y = c.y + g.axis[1] * along
            wkt, lon, lat = footprint_wkt(index, st.port, x, y, L, B, g.axis)
            d = Detection(
                scene_id=sc.id,
                geometry=wkt,
                lon=lon,
                lat=lat,
                length_m=round(L, 1),
                beam_m=round(B, 1),
                heading_deg=round(math.degrees(math.atan2(g.axis[0], g.axis[1])) % 180, 1),
                score=round(float(rng.uniform(0.5, 0.99)), 3),
                cls="vessel",
                model=model,
            )
            dets.append(d)
            owner[d.id] = i
    _ = by_scene
    return dets, owner


def synthetic_fleet(rng: np.random.Generator, n: int = 10) -> list[Vessel]:
    """Registry rows of small product tankers with sizes (simulated, marked so)."""
    rows = []
    lengths = np.sort(rng.uniform(55, 125, n))
    for i, L in enumerate(lengths):
        B = 0.155 * L + 1.0 + rng.normal(0, 0.8)
        dwt = (L / 6.0) ** (1 / 0.325) * math.exp(rng.normal(0, 0.1))
        rows.append(
            Vessel(
                name=f"Synthetic {i + 1:02d}",
                imo=f"{9100000 + i * 17:07d}",
                flag="KP",
                length_m=round(float(L), 1),
                beam_m=round(float(B), 1),
                dwt=round(float(dwt)),
                product="refined",
                source="synthetic (seeded), not a real vessel",
            )
        )
    return rows


def synthetic_season(
    seed: int = 0,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    days: int = 366,
    n_calls: int = 89,
    sensors: tuple[str, ...] = ("sentinel-2",),
    cloud: float = 0.5,
    recall: float = 0.95,
    unknown_share: float = 0.2,
    err: SizeError | None = None,
    loading: tuple[float, float] = (1 / 3, 0.9),
    discharge: bool = True,
) -> Season:
    """A seeded season at Vostochny (+ Rajin, Chongjin, Nampo when ``discharge``)."""
    rng = np.random.default_rng(seed)
    err = err or load_portcall_params().size_error
    names = ["vostochny"] + (["rajin", "chongjin", "nampo"] if discharge else [])
    ports = [load_port(n) for n in names]
    fleet = synthetic_fleet(rng)
    stays: list[Stay] = []
    end = start + timedelta(days=days)
    t = start
    gap_h = days * 24 / n_calls
    busy_until: dict[str, datetime] = {}
    while len([s for s in stays if s.role == "load"]) < n_calls:
        t = t + timedelta(hours=float(rng.exponential(gap_h)))
        prev_load = [s for s in stays if s.role == "load"]
        if prev_load and t < prev_load[-1].depart:
            t = prev_load[-1].depart + timedelta(hours=2)
        if t >= end - timedelta(days=3):
            break
        dwell = float(36 * math.exp(rng.normal(0, 0.5)))
        if rng.random() < unknown_share:
            L = float(rng.uniform(50, 130))
            v = Vessel(
                name=f"Unlisted {len(stays):03d}",
                length_m=round(L, 1),
                beam_m=round(0.155 * L + 1.0 + float(rng.normal(0, 0.8)), 1),
                dwt=round((L / 6.0) ** (1 / 0.325) * math.exp(float(rng.normal(0, 0.1)))),
                product="refined",
                source="synthetic unlisted",
            )
            listed = False
        else:  # a registry tanker that is back from its last voyage
            free = [f for f in fleet if busy_until.get(f.name, start) <= t]
            if not free:
                t = min(busy_until.values())
                continue
            v = free[int(rng.integers(len(free)))]
            listed = True
        lf = float(rng.uniform(*loading))
        prod = "gasoil" if rng.random() < 0.7 else "gasoline"
        bpt = 7.46 if prod == "gasoil" else 8.50
        share = float(rng.uniform(0.92, 0.97))
        stays.append(
            Stay(
                vessel=v.name,
                port="vostochny",
                berth="oil-1",
                arrive=t,
                depart=t + timedelta(hours=dwell),
                length_m=v.length_m,
                beam_m=v.beam_m,
                along_m=float(rng.uniform(-25, 25)),
                dwt=v.dwt,
                barrels=v.dwt * share * lf * bpt,
                product=prod,
                in_registry=listed,
            )
        )
        if discharge:
            load_i = len(stays) - 1
            r = rng.random()
            dport, transit = (
                ("rajin", 20 + rng.exponential(8))
                if r < 0.6
                else ("chongjin", 30 + rng.exponential(10))
                if r < 0.85
                else ("nampo", 160 + rng.uniform(0, 40))
            )
            a = stays[load_i].depart + timedelta(hours=float(transit))
            stays.append(
                Stay(
                    vessel=v.name,
                    port=dport,
                    berth="oil-1",
                    arrive=a,
                    depart=a + timedelta(hours=float(rng.uniform(20, 48))),
                    length_m=v.length_m,
                    beam_m=v.beam_m,
                    role="discharge",
                    in_registry=listed,
                )
            )
            stays[load_i].linked = len(stays) - 1
            home = float(transit) + float(rng.uniform(48, 288))  # sail back, idle 2-12 days
            busy_until[v.name] = stays[-1].depart + timedelta(hours=home)
        else:
            busy_until[v.name] = stays[-1].depart + timedelta(days=float(rng.uniform(4, 14)))
    # bulk carriers at the coal berth and a tug that sometimes sits at the oil berth
    for k in range(40):
        a = start + timedelta(days=float(rng.uniform(0, days - 4)))
        L = float(rng.uniform(170, 230))
        stays.append(
            Stay(
                f"Bulk {k:02d}",
                "vostochny",
                "coal-1",
                a,
                a + timedelta(days=float(rng.uniform(1, 4))),
                L,
                L / 6.5,
                along_m=float(rng.uniform(-120, 120)),
                role="other",
            )
        )
    for k in range(6):
        a = start + timedelta(days=float(rng.uniform(0, days - 2)))
        stays.append(
            Stay(
                f"Tug {k}",
                "vostochny",
                "oil-1",
                a,
                a + timedelta(hours=float(rng.uniform(3, 20))),
                28.0,
                9.0,
                along_m=45.0,
                role="tug",
            )
        )
    scenes, obs = schedule_scenes(ports, start, days, sensors, cloud, rng)
    dets, owner = detections_from_truth(stays, scenes, obs, ports, err, recall, rng)
    return Season(ports, scenes, obs, dets, stays, fleet, owner)
