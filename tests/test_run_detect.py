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
