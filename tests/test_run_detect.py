"""The run's detect step: the oil berths' zone handed to detection (low peaks kept there)."""

from __future__ import annotations

from pipeline.config import load_port
from pipeline.geo import apply, transformer
from pipeline.run.detect import BERTH_ZONE_M, berth_zone, detector_with_score


def _metres(port, geom):
    return apply(transformer("EPSG:4326", port.utm_crs()), geom)


def test_the_zone_is_the_oil_berths_grown_by_the_margin():
    port = load_port("vostochny")
    zone = _metres(port, berth_zone(port))
    oil = [b for b in port.berths if b.role in ("load", "discharge")]
    other = [b for b in port.berths if b.role == "other"]
    assert oil
    for b in oil:
        shape = _metres(port, b.shape)
        assert zone.contains(shape)
        # the margin reaches BERTH_ZONE_M out, and no further
        assert zone.buffer(-1.0).contains(shape.buffer(BERTH_ZONE_M - 2.0))
        assert not zone.contains(shape.buffer(BERTH_ZONE_M + 2.0))
    for b in other:  # a cargo quay is no oil berth: its hulls keep the threshold
        far = _metres(port, b.shape)
        assert not far.within(zone)


def test_a_port_without_oil_berths_has_no_zone():
    port = load_port("vostochny")
    cargo = port.model_copy(update={"berths": [b for b in port.berths if b.role == "other"]})
    assert berth_zone(cargo) is None


def test_a_detector_without_with_score_is_used_as_is():
    from pipeline.detect.baseline import BaselineDetector

    base = BaselineDetector()
    assert detector_with_score(base, 0.1) is base


def test_the_land_mask_spares_the_quay_beside_an_oil_berth_only():
    from shapely.geometry import Point

    from pipeline.run.detect import BERTH_QUAY_M, land_mask

    port = load_port("vostochny")
    land = _metres(port, port.land_shape)
    mask = _metres(port, land_mask(port))
    oil = _metres(port, port.berth("oil-1").shape)
    # the land that touches the oil berth: a point on it a few metres from the berth is spared
    edge = land.intersection(oil.buffer(BERTH_QUAY_M / 3))
    assert not edge.is_empty
    spot = edge.representative_point()
    assert land.contains(spot) and not mask.contains(spot)
    # land far from every oil berth stays land, and nothing outside the land is masked
    far = [
        Point(x, y)
        for x, y in land.representative_point().coords
        if oil.distance(Point(x, y)) > BERTH_QUAY_M
    ]
    assert far and all(mask.contains(p) for p in far)
    assert mask.difference(land).area < 1.0
    # quay_m 0: the land polygons as they are
    assert _metres(port, land_mask(port, 0.0)).symmetric_difference(land).area < 1.0


def test_only_optical_detectors_get_the_oil_berths_quay_spared():
    from pipeline.detect.baseline import BaselineDetector
    from pipeline.detect.cfar import CfarDetector
    from pipeline.run.detect import spares_quay

    # the CFAR takes the spared quay for water in its background and shore tests
    assert not spares_quay(CfarDetector())
    assert spares_quay(BaselineDetector())

    class RadarBundle:
        bands = ("VV", "VH")

    class OpticalBundle:
        bands = ("B02", "B03", "B04", "B08")

    assert not spares_quay(RadarBundle()) and spares_quay(OpticalBundle())


def _obs(berth, state, scene="s1"):
    from datetime import UTC, datetime

    from pipeline.records import Observation

    return Observation(
        scene_id=scene,
        port="vostochny",
        berth=berth,
        acquired=datetime(2024, 5, 1, tzinfo=UTC),
        state=state,
        clear_fraction=1.0 if state == "clear" else 0.2,
        sensor="sentinel-2-l2a",
        gsd_m=10.0,
    )


def test_hidden_berths_are_those_no_observation_of_the_scene_sees_clear():
    from pipeline.run.detect import hidden_berths

    obs = [_obs("oil-1", "obscured"), _obs("oil-2", "clear"), _obs("oil-3", "obscured")]
    obs.append(_obs("oil-3", "clear"))  # the same berth twice in a scene: clear if any says so
    assert hidden_berths(obs) == frozenset({"oil-1"})
    assert hidden_berths([]) == frozenset()


def _two_oil_berths():
    """Vostochny with its coal quay taken for a second oil berth."""
    port = load_port("vostochny")
    berths = [b.model_copy(update={"role": "load"}) if b.id == "coal-1" else b for b in port.berths]
    return port.model_copy(update={"berths": berths})


def test_the_zone_leaves_out_the_berths_under_cloud():
    port = _two_oil_berths()
    zone = _metres(port, berth_zone(port, hidden=frozenset({"oil-1"})))
    assert not zone.intersects(_metres(port, port.berth("oil-1").shape))
    assert zone.contains(_metres(port, port.berth("coal-1").shape))
    assert berth_zone(port, hidden=frozenset({"oil-1", "coal-1"})) is None


def test_the_detect_step_keeps_low_peaks_only_at_berths_the_scene_sees_clear(tmp_path, monkeypatch):
    """The runner hands detection the zone of the oil berths observed clear in that scene (its
    observations are in the ledger since ingest): a berth under cloud keeps the threshold."""
    import dataclasses
    from datetime import UTC, datetime

    import pipeline.config
    import pipeline.detect as detect_pkg
    from pipeline.ledger.store import Ledger
    from pipeline.records import Scene
    from pipeline.run import detect as run_detect

    port = _two_oil_berths()
    monkeypatch.setattr(pipeline.config, "load_port", lambda name: port)
    scene = Scene(
        id="s1", source="local", sensor="sentinel-2-l2a",
        acquired=datetime(2024, 5, 1, tzinfo=UTC), port="vostochny", path="s1.tif",
        crs="EPSG:32653", gsd_m=10.0, bands=["B04"], valid_fraction=1.0, cloud_fraction=0.3,
    )  # fmt: skip
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(db) as ledger:
        ledger.add_scene(scene, [_obs("oil-1", "obscured"), _obs("coal-1", "clear")])

    class Bundle:
        model_id = "bundle-x"
        berth_score = 0.2

    handed = {}

    def fake_detect_scene(path, det, **kw):
        handed.update(kw)
        return []

    monkeypatch.setitem(run_detect._WORKER_CACHE, "bundle-x", Bundle())
    monkeypatch.setattr(detect_pkg, "detect_scene", fake_detect_scene)
    task = run_detect.SceneTask(
        scene_id="s1", path="s1.tif", port="vostochny", db_url=db, model="bundle-x",
        land_mask=False,
    )  # fmt: skip
    assert run_detect.detect_one_scene(task) == 0
    assert handed["berth_score"] == 0.2
    zone = _metres(port, handed["berths"])
    assert not zone.intersects(_metres(port, port.berth("oil-1").shape))
    assert zone.contains(_metres(port, port.berth("coal-1").shape))
    # the same scene with both berths clear: both in the zone
    with Ledger(db) as ledger:
        ledger.add_scene(
            dataclasses.replace(scene, id="s2"),
            [_obs("oil-1", "clear", "s2"), _obs("coal-1", "clear", "s2")],
        )
    task2 = run_detect.SceneTask(
        scene_id="s2", path="s2.tif", port="vostochny", db_url=db, model="bundle-x",
        land_mask=False,
    )  # fmt: skip
    run_detect.detect_one_scene(task2)
    both = _metres(port, handed["berths"])
    assert both.contains(_metres(port, port.berth("oil-1").shape))
