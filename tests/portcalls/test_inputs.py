"""Records port calls are built from: one scene per satellite pass when two sources deliver it."""

from __future__ import annotations

from pipeline.config import load_port
from pipeline.portcalls import check_inputs
from pipeline.portcalls.inputs import one_scene_per_pass, same_pass_twins

S1 = "sentinel-1-grd"
SECOND = 1 / 3600


def _checked(b):
    return check_inputs(
        b.detections, "dets", b.scenes, "scenes", b.observations, "obs", [load_port("vostochny")]
    )


def test_a_pass_from_two_sources_counts_once(builder):
    b = builder
    hub = b.scene(10, sensor=S1, source="sentinelhub")
    pc = b.scene(10 + 12 * SECOND, sensor=S1, source="planetary-computer")
    b.vessel(hub, 100, 16)
    b.vessel(pc, 100, 16)
    dets, scenes, obs = _checked(b)
    assert [s.id for s in scenes] == [hub.id]  # equally clear, as many detections: first by id
    assert {d.scene_id for d in dets} == {hub.id}
    assert {o.scene_id for o in obs} == {hub.id}
    visits = [v for v in b.build() if v.berth == "oil-1"]
    assert len(visits) == 1


def test_the_twin_that_saw_more_clearly_is_kept(builder):
    b = builder
    cloudy = b.scene(10, sensor=S1, source="a-source", state="obscured")
    clear = b.scene(10 + 40 * SECOND, sensor=S1, source="b-source")
    b.vessel(clear, 100, 16)
    assert same_pass_twins(b.scenes, b.observations, b.detections) == {cloudy.id: clear.id}
    dets, scenes, obs = one_scene_per_pass(b.detections, b.scenes, b.observations)
    assert [s.id for s in scenes] == [clear.id]
    assert len(dets) == 1 and all(o.scene_id == clear.id for o in obs)


def test_separate_looks_are_kept(builder):
    b = builder
    b.scene(10, sensor=S1, source="sentinelhub")
    b.scene(10 + 20 * SECOND, sensor=S1, source="sentinelhub")  # one source: two granules
    b.scene(11, sensor=S1, source="planetary-computer")  # an hour later: another look
    b.scene(10, sensor="sentinel-2-l2a", source="earth-search")  # another sensor
    assert same_pass_twins(b.scenes, b.observations, b.detections) == {}
    dets, scenes, obs = _checked(b)
    assert len(scenes) == 4 and len(obs) == len(b.observations)
