from pipeline.config import utm_epsg


def test_utm_zone_at_the_edges():
    assert utm_epsg(133.06, 42.74) == "EPSG:32653"  # Vostochny
    assert utm_epsg(-3.6, -33.9) == "EPSG:32730"
    assert utm_epsg(180.0, 10.0) == "EPSG:32660"  # the antimeridian belongs to zone 60
    assert utm_epsg(-180.0, 10.0) == "EPSG:32601"
