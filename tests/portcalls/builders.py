"""Builders of scenes, observations and detections at real port berths (seeded, no blobs)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pipeline.config import load_port
from pipeline.estimate.params import load_params
from pipeline.portcalls.berths import BerthIndex
from pipeline.portcalls.synthetic import footprint_wkt
from pipeline.records import Detection, Observation, Scene, scene_id

T0 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)


class Builder:
    """Scenes of a port at given hours after T0; detections placed at a berth.

    ``vessel(scene, length, beam)`` takes the hull's true size: the detection measures it with
    the default config's detector bias at the scene's GSD, at an oil berth its sensor's bias
    measured there (``measured=True``: as given)."""

    def __init__(self, ports=("vostochny",), params=None):
        self.params = params or load_params()
        self.portcalls = self.params.portcalls
        self.error = self.portcalls.size_error
        self.ports = [load_port(p) for p in ports]
        self.index = BerthIndex(self.ports, 0.0)
        self.scenes: list[Scene] = []
        self.observations: list[Observation] = []
        self.detections: list[Detection] = []

    def scene(
        self,
        hours: float,
        state: str = "clear",
        sensor: str = "sentinel-2-l2a",
        gsd: float = 10.0,
        port: str = "vostochny",
        source: str = "test",
    ) -> Scene:
        t = T0 + timedelta(hours=hours)
        s = Scene(
            id=scene_id(source, sensor, t, port),
            source=source,
            sensor=sensor,
            acquired=t,
            port=port,
            path="",
            crs="",
            gsd_m=gsd,
            bands=[],
            valid_fraction=1.0,
            cloud_fraction=0.0 if state == "clear" else 0.9,
        )
        self.scenes.append(s)
        for p in self.ports:
            if p.name != port:
                continue
            for b in p.berths:
                self.observations.append(
                    Observation(
                        scene_id=s.id,
                        port=port,
                        berth=b.id,
                        acquired=t,
                        state=state,
                        clear_fraction=1.0 if state == "clear" else 0.0,
                        sensor=sensor,
                        gsd_m=gsd,
                    )
                )
        return s

    def vessel(
        self,
        scene: Scene,
        length: float,
        beam: float,
        along: float = 0.0,
        berth: str = "oil-1",
        offset_m: float = 0.0,
        gap_m: float | None = None,
        measured: bool = False,
        heading_deg: float | None = None,
    ) -> Detection:
        g = self.index.berths[(scene.port, berth)]
        if not measured:  # the sensor's bias, at an oil berth the one measured there
            pc = self.portcalls
            err = pc.berth_size_error_for(scene.sensor) if g.role != "other" else pc.size_error
            bias_l, bias_b = err.bias(scene.gsd_m)
            length, beam = length + bias_l, beam + bias_b
        c = g.shape_m.centroid
        nx, ny = -g.axis[1], g.axis[0]
        if gap_m is not None:  # hull side this far outside the berth polygon's long side
            xs, ys = g.shape_m.exterior.coords.xy
            half = max(
                abs((px - c.x) * nx + (py - c.y) * ny) for px, py in zip(xs, ys, strict=True)
            )
            offset_m = half + beam / 2 + gap_m
        x = c.x + g.axis[0] * along + nx * offset_m
        y = c.y + g.axis[1] * along + ny * offset_m
        wkt, lon, lat = footprint_wkt(self.index, scene.port, x, y, length, beam, g.axis)
        d = Detection(
            scene_id=scene.id,
            geometry=wkt,
            lon=lon,
            lat=lat,
            length_m=length,
            beam_m=beam,
            # along the berth unless told (footprint_wkt lays the hull along the berth's axis)
            heading_deg=(
                math.degrees(math.atan2(g.axis[0], g.axis[1])) % 180
                if heading_deg is None
                else heading_deg
            ),
            score=0.9,
            cls="vessel",
            model="test",
        )
        self.detections.append(d)
        return d

    def build(self, params=None):
        from pipeline.portcalls import build_visits

        return build_visits(
            self.detections, self.scenes, self.observations, self.ports, params or self.params
        )


def with_sentinel2_berth_share(params, share: float):
    """``params`` with Sentinel-2's size error at the oil berths sd 22.3 m (length) and 3.3 m
    (beam), unbiased, ``share`` of it repeated between images of one call."""
    from pipeline.portcalls.params import SizeError

    berth = SizeError(
        length_base_m=22.3, length_per_gsd=0.0, beam_base_m=3.3, beam_per_gsd=0.0,
        systematic_frac=share, source="test",
    )  # fmt: skip
    pc = params.portcalls.model_copy(
        update={"berth_size_error_by_sensor": {"sentinel-2-l2a": berth}}
    )
    return params.model_copy(update={"portcalls": pc})
