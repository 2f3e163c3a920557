"""Port-call parameters: the detector recall is one table, by sensor name, read by both stages."""

from __future__ import annotations

import pytest
import yaml

from pipeline.errors import TankerWatchError
from pipeline.estimate.params import load_params
from pipeline.portcalls.params import DEFAULT_PARAMS, load_portcall_params


def _write(tmp_path, edit):
    data = yaml.safe_load(DEFAULT_PARAMS.read_text())
    edit(data)
    path = tmp_path / "estimate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_table_names_the_released_sensors_and_a_default():
    p = load_portcall_params()
    assert {"sentinel-2-l2a", "commercial-3m", "default"} <= set(p.detector_recall)
    assert p.image_recall("commercial-3m") == pytest.approx(0.77)
    assert p.image_recall("an-unlisted-sensor") == p.detector_recall["default"].mean


def test_a_new_sensor_is_one_more_entry(tmp_path):
    def add(d):
        d["portcalls"]["detector_recall"]["sentinel-1-grd"] = {"low": 0.5, "high": 0.7}

    path = _write(tmp_path, add)
    assert load_portcall_params(path).image_recall("sentinel-1-grd") == pytest.approx(0.6)
    # the estimate reads the same table (no second copy to keep in step)
    est = load_params(path)
    assert est.portcalls.recall_prior("sentinel-1-grd").low == 0.5


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("portcalls", "miss_recall", 0.32),
        ("portcalls", "miss_recall_fine", 0.77),
        ("coverage", "detector_recall_fine", {"dist": "uniform", "low": 0.6, "high": 0.8}),
        ("coverage", "fine_gsd_m", 5.0),
        ("coverage", "detector_recall", {"dist": "uniform", "low": 0.2, "high": 0.4}),
    ],
)
def test_a_config_with_recall_by_gsd_is_refused_in_one_line(tmp_path, section, key, value):
    def old(d):
        d[section][key] = value

    path = _write(tmp_path, old)
    with pytest.raises(TankerWatchError) as err:
        load_params(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and section in msg
    assert f"'{key}' is retired" in msg and "portcalls.detector_recall" in msg


def test_an_inverted_or_empty_recall_table_is_refused(tmp_path):
    def inverted(d):
        d["portcalls"]["detector_recall"]["default"] = {"low": 0.8, "high": 0.2}

    with pytest.raises(TankerWatchError, match="detector_recall.default"):
        load_portcall_params(_write(tmp_path, inverted))

    def empty(d):
        d["portcalls"]["detector_recall"] = {}

    with pytest.raises(TankerWatchError, match="detector_recall"):
        load_portcall_params(_write(tmp_path, empty))
