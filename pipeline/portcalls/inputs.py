"""Checks on the records port calls are built from, wherever they come from (files or ledger)."""

from __future__ import annotations

from pipeline.config import PORTS_DIR, Port
from pipeline.errors import TankerWatchError
from pipeline.records import Detection, Observation, Scene


def check_inputs(
    detections: list[Detection],
    det_path,
    scenes: list[Scene],
    scenes_path,
    observations: list[Observation],
    obs_path,
    ports: list[Port],
) -> tuple[list[Detection], list[Scene], list[Observation]]:
    """One-line errors naming file and row: unknown scene, port or berth.

    Records of a port that has a config but was not selected are left out; a port with no config
    is an error. Returns the (detections, scenes, observations) of the selected ports.
    """
    known_scenes = {s.id for s in scenes}
    berths = {p.name: {b.id for b in p.berths} for p in ports}
    configured = {p.stem for p in PORTS_DIR.glob("*.yaml")} | set(berths)
    for i, s in enumerate(scenes, start=1):
        if s.port not in configured:
            raise TankerWatchError(
                f"{scenes_path} scene {i} ({s.id}): port '{s.port}' has no port config"
            )
    for i, d in enumerate(detections, start=1):
        if d.scene_id not in known_scenes:
            raise TankerWatchError(
                f"{det_path} feature {i}: scene '{d.scene_id}' is not in the scene catalogue "
                f"{scenes_path}"
            )
    for i, o in enumerate(observations, start=2):
        if o.port not in configured:
            raise TankerWatchError(f"{obs_path} row {i}: port '{o.port}' has no port config")
        if o.port not in berths:
            continue
        if o.berth not in berths[o.port]:
            raise TankerWatchError(
                f"{obs_path} row {i}: berth '{o.berth}' is unknown to port '{o.port}' "
                f"(known: {', '.join(sorted(berths[o.port]))})"
            )
    keep = {s.id for s in scenes if s.port in berths}
    return (
        [d for d in detections if d.scene_id in keep],
        [s for s in scenes if s.id in keep],
        [o for o in observations if o.port in berths],
    )


def one_model_per_sensor(
    dets: list[Detection], scenes: list[Scene], model: str | None, where: str
) -> list[Detection]:
    """Keep the detections of the chosen model(s) (``model``: comma-separated ids, or None for
    all) and refuse sightings of one sensor by two detectors: a visit's size and timeline must
    come from one consistent measurement (a 3 m and a 10 m detector may each have their sensor)."""
    if model:
        wanted = {m.strip() for m in model.split(",") if m.strip()}
        dets = [d for d in dets if d.model in wanted]
    sensor_of = {s.id: s.sensor for s in scenes}
    by_sensor: dict[str, set[str]] = {}
    for d in dets:
        by_sensor.setdefault(sensor_of.get(d.scene_id, "?"), set()).add(d.model)
    for sensor, models in sorted(by_sensor.items()):
        if len(models) > 1:
            raise TankerWatchError(
                f"{where}: {sensor} scenes have detections of several models "
                f"({', '.join(sorted(models))}): choose with --model (comma-separated, one per "
                "sensor)"
            )
    return dets
