"""A bundle's calibration at berths (berths.json): read, refused when stale or malformed."""

from __future__ import annotations

import json

import pytest

from pipeline.detect.berth_calibration import (
    CALIBRATION_FORMAT,
    bundle_calibration,
    read_calibration,
)
from pipeline.detect.bundle import read_spec, resolve_bundle_dir
from pipeline.errors import TankerWatchError

SENSOR = {
    "gsd_m": 3.0,
    "tankers": 100,
    "found": 80,
    "recall_by_simulation": [0.7, 0.9],
    "matched": 80,
    "length_bias_m": -1.0,
    "length_sd_m": 5.0,
    "beam_bias_m": 1.0,
    "beam_sd_m": 0.9,
}


def _write(tmp_path, **over):
    doc = {
        "format": CALIBRATION_FORMAT,
        "model": "m",
        "weights_sha256": "a" * 64,
        "measured": {"command": "x", "simulations": [], "when_utc": ""},
        "sensors": {"commercial-3m": dict(SENSOR)},
    } | over
    path = tmp_path / "berths.json"
    path.write_text(json.dumps(doc))
    return path


def test_reads_one_record_per_sensor(tmp_path):
    (c,) = read_calibration(_write(tmp_path), "a" * 64)
    assert (c.sensor, c.tankers, c.found, c.recall) == ("commercial-3m", 100, 80, 0.8)
    assert c.recall_by_simulation == (0.7, 0.9) and c.length_bias_m == -1.0


def test_the_tankers_behind_each_share_are_read_when_given(tmp_path):
    (c,) = read_calibration(_write(tmp_path), "a" * 64)
    assert c.tankers_by_simulation == ()  # a file written before they were kept
    sensors = {"commercial-3m": SENSOR | {"tankers_by_simulation": [40, 60]}}
    (c,) = read_calibration(_write(tmp_path, sensors=sensors), "a" * 64)
    assert c.tankers_by_simulation == (40, 60)


def test_the_systematic_share_is_read_when_measured_and_refused_outside_0_1(tmp_path):
    (c,) = read_calibration(_write(tmp_path), "a" * 64)
    assert c.systematic_frac is None and c.calls_repeated == 0
    measured = SENSOR | {"length_within_call_sd_m": 2.0, "calls_repeated": 9,
                         "systematic_frac": 0.84}  # fmt: skip
    (c,) = read_calibration(_write(tmp_path, sensors={"commercial-3m": measured}), "a" * 64)
    assert (c.systematic_frac, c.calls_repeated, c.length_within_call_sd_m) == (0.84, 9, 2.0)
    for bad in (1.5, -0.1, "most", True):
        path = _write(tmp_path, sensors={"commercial-3m": measured | {"systematic_frac": bad}})
        with pytest.raises(TankerWatchError, match="systematic_frac") as err:
            read_calibration(path, "a" * 64)
        assert "\n" not in str(err.value) and "berths.json" in str(err.value)


def test_recall_by_length_is_read_when_measured_and_refused_when_malformed(tmp_path):
    by_length = {"edges_m": [80, 95], "tankers": [40, 40, 20], "found": [30, 35, 15]}
    sensors = {"commercial-3m": SENSOR | {"recall_by_length": by_length}}
    (c,) = read_calibration(_write(tmp_path, sensors=sensors), "a" * 64)
    assert c.recall_by_length == ((80.0, 95.0), (40, 40, 20), (30, 35, 15))
    for bad in (
        {"edges_m": [95, 80], "tankers": [1, 1, 1], "found": [0, 0, 0]},  # edges not rising
        {"edges_m": [80], "tankers": [1, 1, 1], "found": [0, 0, 0]},  # a bin too many
        {"edges_m": [80], "tankers": [1, 1], "found": [2, 0]},  # more found than tankers
        {"edges_m": [80], "tankers": [1.5, 1], "found": [0, 0]},  # not counts
        "80-95",
    ):
        path = _write(tmp_path, sensors={"commercial-3m": SENSOR | {"recall_by_length": bad}})
        with pytest.raises(TankerWatchError, match="recall_by_length") as err:
            read_calibration(path, "a" * 64)
        assert "\n" not in str(err.value) and "berths.json" in str(err.value)


def test_calibration_of_other_weights_is_refused(tmp_path):
    with pytest.raises(TankerWatchError, match="measured with weights aaaa"):
        read_calibration(_write(tmp_path), "b" * 64)


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"format": "x/1"}, "field 'format'"),
        ({"sensors": {}}, "no sensor measured"),
        ({"sensors": {"s": SENSOR | {"found": 101}}}, "0 <= found <= tankers"),
        ({"sensors": {"s": SENSOR | {"length_sd_m": None}}}, "'length_sd_m' is missing"),
        ({"sensors": {"s": SENSOR | {"recall_by_simulation": [2]}}}, "recall_by_simulation"),
        # the counts behind the shares: one per share, summing to the tankers
        ({"sensors": {"s": SENSOR | {"tankers_by_simulation": [100]}}}, "tankers_by_simulation"),
        ({"sensors": {"s": SENSOR | {"tankers_by_simulation": [50, 49]}}}, "summing to"),
        ({"sensors": {"s": SENSOR | {"tankers_by_simulation": [100, 0]}}}, "count > 0"),
    ],
)
def test_malformed_files_fail_in_one_line_naming_the_field(tmp_path, over, needle):
    with pytest.raises(TankerWatchError, match=needle) as e:
        read_calibration(_write(tmp_path, **over))
    assert "\n" not in str(e.value) and "berths.json" in str(e.value)


def test_released_bundles_carry_a_calibration_of_their_own_weights():
    for name, sensor in (
        ("tw-centernet-s2", "sentinel-2-l2a"),
        ("tw-centernet-3m", "commercial-3m"),
    ):
        folder = resolve_bundle_dir(name)
        cals = bundle_calibration(folder, read_spec(folder).weights.sha256)
        assert [c.sensor for c in cals] == [sensor]
        assert 0 < cals[0].recall < 1 and cals[0].tankers > 50
        # measured on the family's tuning seasons as the chain sees the berth (#13), with the
        # images behind each season's share
        assert sum(cals[0].tankers_by_simulation) == cals[0].tankers


def test_a_bundle_without_the_file_has_no_calibration(tmp_path):
    assert bundle_calibration(tmp_path, "a" * 64) == []
