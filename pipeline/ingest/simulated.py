"""The simulator's output folder: ``DIR/scenes/<scene_id>/{scene.tif, scl.tif, item.json}``.

The STAC item gives the port (``tankerwatch:port``), sensor (``tankerwatch:sensor``) and time;
scl.tif (Sentinel-2 SCL codes) gives valid data and clouds. Scenes are re-cut to the AOI window
like any local file, so simulated and real scenes have the same record shape. Simulated
Sentinel-1 scenes (bands VV, VH) take the SAR path of local files (pipeline.ingest.sar), their
item as the sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import Port
from pipeline.ingest.base import Candidate, SceneSkip, Source
from pipeline.ingest.local import file_content, read_aoi, sar_declared, sar_raster
from pipeline.records import utc


class SimulatedSource(Source):
    """The simulator's output folder: a scene per STAC item of a requested port and period."""

    name = "simulated"
    needs_folder = True
    DEFAULT_SENSOR = "sentinel-2-l2a"  # items written before the simulator named its sensors

    def candidates(self, ports, t0, t1, skipped) -> list[Candidate]:
        folder = self.folder
        root = folder / "scenes" if (folder / "scenes").is_dir() else folder
        by_name = {p.name: p for p in ports}
        out: list[Candidate] = []
        for item_path in sorted(root.glob("*/item.json")):
            d = item_path.parent
            try:
                try:
                    item = json.loads(item_path.read_text(encoding="utf-8"))
                    props = item["properties"]
                    acquired = utc(props["datetime"])
                    port_name = props["tankerwatch:port"]
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise SceneSkip(f"{item_path}: not a simulator STAC item ({exc})") from None
                if not (d / "scene.tif").exists():
                    raise SceneSkip(f"{d / 'scene.tif'}: missing")
            except SceneSkip as skip:
                skipped.append((str(d), skip.reason))
                continue
            port = by_name.get(port_name)
            if port is None or not (t0 <= acquired <= t1):
                continue
            sensor = str(props.get("tankerwatch:sensor") or self.DEFAULT_SENSOR)
            scl = d / "scl.tif"
            out.append(
                Candidate(
                    source="simulated",
                    sensor=sensor,
                    acquired=acquired,
                    port=port,
                    load=_loader(
                        d / "scene.tif", port, scl if scl.exists() else None, props, self.settings
                    ),
                    origin=str(d.resolve()),
                    # a folder simulated again (another seed, a fixed scenario) reuses scene ids
                    content=file_content(d / "scene.tif", scl if scl.exists() else None),
                    properties={"tankerwatch:simulated": True, "tankerwatch:sim_scene": d.name},
                )
            )
        return out


def _loader(path: Path, port: Port, scl: Path | None, props: dict, settings):
    def load():
        raster = read_aoi(path, port, None, scl)
        if raster.cloud_source != "sar":
            return raster
        # a simulated SAR scene: its item says what the pixels are, as a sidecar would
        declared = sar_declared({}, {"properties": props}, raster.bands)
        return sar_raster(raster, declared, str(path), port.name, settings)

    return load
