"""Checks on the records port calls are built from, wherever they come from (files or ledger)."""

from __future__ import annotations

from collections import defaultdict

from pipeline.config import PORTS_DIR, Port
from pipeline.errors import TankerWatchError
from pipeline.records import Detection, Observation, Scene

# Scenes of one port and sensor from two sources this close in time are one satellite pass
# delivered twice (Sentinel Hub and Planetary Computer stamp the same Sentinel-1 slice seconds
# apart). No satellite of one sensor passes over a port twice within minutes, so 5 minutes
# cannot merge two real looks.
SAME_PASS_S = 300.0


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
    return one_scene_per_pass(
        [d for d in detections if d.scene_id in keep],
        [s for s in scenes if s.id in keep],
        [o for o in observations if o.port in berths],
    )


def same_pass_twins(
    scenes: list[Scene],
    observations: list[Observation],
    detections: list[Detection] = (),
    within_s: float = SAME_PASS_S,
) -> dict[str, str]:
    """Scenes that repeat another source's scene of the same pass: dropped id -> kept id.

    Scenes of one port and sensor from different sources acquired within ``within_s`` of each
    other form one pass; the scene kept is the one that saw the most berths clearly, then the one
    with the most detections, then the first by id. Scenes of one source are never merged (two
    granules of one datatake cover different parts of a port)."""
    clear = defaultdict(int)
    for o in observations:
        clear[o.scene_id] += o.state == "clear"
    found = defaultdict(int)
    for d in detections:
        found[d.scene_id] += 1
    twins: dict[str, str] = {}
    by_stream = defaultdict(list)
    for s in scenes:
        by_stream[(s.port, s.sensor)].append(s)
    for stream in by_stream.values():
        stream.sort(key=lambda s: (s.acquired, s.id))
        group: list[Scene] = []
        for s in [*stream, None]:
            if (
                s is not None
                and group
                and ((s.acquired - group[-1].acquired).total_seconds() <= within_s)
            ):
                group.append(s)
                continue
            if len({g.source for g in group}) > 1:
                best = min(group, key=lambda g: (-clear[g.id], -found[g.id], g.id))
                twins.update({g.id: best.id for g in group if g.id != best.id})
            group = [s]
    return twins


def one_scene_per_pass(
    detections: list[Detection], scenes: list[Scene], observations: list[Observation]
) -> tuple[list[Detection], list[Scene], list[Observation]]:
    """The records without the scenes that repeat a pass another source delivered
    (``same_pass_twins``): a pass seen twice must not count as two looks at a berth, nor its
    vessels as two sightings."""
    twins = same_pass_twins(scenes, observations, detections)
    if not twins:
        return detections, scenes, observations
    return (
        [d for d in detections if d.scene_id not in twins],
        [s for s in scenes if s.id not in twins],
        [o for o in observations if o.scene_id not in twins],
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
