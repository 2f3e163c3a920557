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
    # measured on the family's tuning seasons as the chain sees the berth (#13), detected with
    # the bundle's berth_score: what the bundle's berths.json says (477 of 534 at 0.45)
    import json

    from pipeline.config import HOME

    doc = json.loads((HOME / "models/tw-centernet-3m/berths.json").read_text())
    m = doc["sensors"]["commercial-3m"]
    assert p.image_recall("commercial-3m") == pytest.approx(m["found"] / m["tankers"], abs=0.01)
    assert 0.8 <= p.image_recall("commercial-3m") <= 0.99
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


def _berths_json(
    folder,
    sensor="somesat",
    tankers=100,
    found=60,
    by_sim=(0.5, 0.7),
    sha=None,
    counts=None,
    repeats=None,
):
    import json

    from pipeline.recordio import CALIBRATION_FORMAT

    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": CALIBRATION_FORMAT,
        "model": "my-detector",
        "weights_sha256": sha or "a" * 64,
        "sensors": {
            sensor: {
                "gsd_m": 3.0,
                "tankers": tankers,
                "found": found,
                "recall_by_simulation": list(by_sim),
                **({"tankers_by_simulation": list(counts)} if counts else {}),
                "matched": found,
                "length_bias_m": 0.0,
                "length_sd_m": 5.0,
                "beam_bias_m": 0.0,
                "beam_sd_m": 1.0,
                **(repeats or {}),
            }
        },
    }
    (folder / "berths.json").write_text(json.dumps(doc))
    return folder / "berths.json"


def test_a_measured_entry_reads_its_range_from_the_bundles_berths_json(tmp_path):
    """60 of 100 found (se 0.049), simulations 0.5 and 0.7: 0.50-0.70, the mean 0.60."""
    path = _berths_json(tmp_path / "bundle")

    def point_at(d):
        d["portcalls"]["detector_recall"]["somesat"] = {"measured": str(path)}

    p = load_portcall_params(_write(tmp_path, point_at))
    prior = p.recall_prior("somesat")
    assert prior.low == pytest.approx(0.5) and prior.high == pytest.approx(0.7)
    assert prior.mean == pytest.approx(0.6) and prior.measured == str(path)
    assert "60 of 100" in prior.source
    # a re-measured (retrained) bundle moves the prior with no edit of the config
    _berths_json(tmp_path / "bundle", found=90, by_sim=(0.88, 0.92))
    assert load_portcall_params(_write(tmp_path, point_at)).image_recall("somesat") > 0.85


def test_with_the_images_behind_each_share_the_prior_is_the_pooled_share_and_the_seasons_spread(
    tmp_path,
):
    """Counts given: the range is centred on the pooled share; seasons that differ by no more
    than chance give about the pooled share's own spread, a season of one image sets no bound,
    and real differences between seasons widen it."""

    def prior(found, by_sim, counts):
        path = _berths_json(tmp_path / "b", tankers=sum(counts), found=found, by_sim=by_sim,
                            counts=counts)  # fmt: skip

        def point_at(d):
            d["portcalls"]["detector_recall"]["somesat"] = {"measured": str(path)}

        return load_portcall_params(_write(tmp_path, point_at)).recall_prior("somesat")

    # 3 seasons of 40 at 0.80 / 0.75 / 0.85 (chance) and one of a single image, missed
    calm = prior(96, (0.8, 0.75, 0.85, 0.0), (40, 40, 40, 1))
    assert calm.mean == pytest.approx(96 / 121, abs=0.002)
    assert calm.low > 0.6 and calm.high < 0.95  # the 0.0 of one image is no bound
    # seasons at 0.5 and 0.95 (40 images each): far beyond chance, so the prior is wide
    wide = prior(58, (0.5, 0.95), (40, 40))
    assert wide.mean == pytest.approx(58 / 80, abs=0.002)
    assert wide.high - wide.low > 2 * (calm.high - calm.low)
    assert "between-simulation sd" in wide.source
    # near 1 the range narrows symmetrically, so its mean stays the pooled share
    high = prior(97, (1.0, 0.94), (50, 50))
    assert high.high <= 0.99 and high.mean == pytest.approx(0.97, abs=0.002)


def test_the_shipped_priors_are_the_released_bundles_measurements():
    p = load_portcall_params()
    for sensor, bundle in (
        ("sentinel-2-l2a", "tw-centernet-s2"),
        ("commercial-3m", "tw-centernet-3m"),
    ):
        prior = p.recall_prior(sensor)
        assert prior.measured == f"models/{bundle}/berths.json"
        assert prior.low < prior.mean < prior.high


def test_a_measured_entry_that_is_stale_missing_or_for_another_sensor_is_refused(tmp_path):
    path = _berths_json(tmp_path / "bundle", sha="b" * 64)
    (tmp_path / "bundle" / "model.yaml").write_text("weights:\n  sha256: " + "c" * 64 + "\n")

    def entry(sensor, where):
        def edit(d):
            d["portcalls"]["detector_recall"][sensor] = {"measured": where}

        return edit

    cases = [
        (entry("somesat", str(path)), "re-measure"),  # weights changed since it was measured
        (entry("somesat", str(tmp_path / "nowhere.json")), "file not found"),
    ]
    for edit, words in cases:
        with pytest.raises(TankerWatchError, match=words) as err:
            load_portcall_params(_write(tmp_path, edit))
        assert "\n" not in str(err.value) and "detector_recall" in str(err.value)
    (tmp_path / "bundle" / "model.yaml").unlink()
    with pytest.raises(TankerWatchError, match="no measurement for sensor 'othersat'"):
        load_portcall_params(_write(tmp_path, entry("othersat", str(path))))


def test_a_measured_recall_by_length_is_kept_relative_to_the_pooled_recall(tmp_path):
    """60 of 100 found: short hulls 10 of 40, long ones 50 of 60. Each bin is shrunk toward the
    pooled 0.6 by 4 tankers and kept over it, so a short hull is found about half as often."""
    repeats = {"recall_by_length": {"edges_m": [80.0], "tankers": [40, 60], "found": [10, 50]}}
    path = _berths_json(tmp_path / "bundle", repeats=repeats)

    def point_at(d):
        d["portcalls"]["detector_recall"]["somesat"] = {"measured": str(path)}

    prior = load_portcall_params(_write(tmp_path, point_at)).recall_prior("somesat")
    assert prior.length_edges_m == [80.0]
    assert prior.relative(70.0) == pytest.approx((10 + 4 * 0.6) / 44 / 0.6, abs=1e-3)
    assert prior.relative(120.0) == pytest.approx((50 + 4 * 0.6) / 64 / 0.6, abs=1e-3)
    assert prior.relative(70.0) < 0.5 * prior.relative(120.0) + 0.05
    # unmeasured by length: every hull alike
    plain = load_portcall_params(_write(tmp_path, lambda d: None)).recall_prior("sentinel-1-grd")
    assert plain.relative(70.0) == plain.relative(120.0) == 1.0


def test_a_measured_berth_size_error_reads_bias_spread_and_systematic_share(tmp_path):
    """berths.json measured one call's errors spreading 2 m about their own mean against 5 m
    overall: 84 % of the variance repeats between images of a stay."""
    repeats = {"length_within_call_sd_m": 2.0, "calls_repeated": 12, "systematic_frac": 0.84}
    path = _berths_json(tmp_path / "bundle", repeats=repeats)

    def point_at(d):
        d["portcalls"]["berth_size_error_by_sensor"]["somesat"] = {"measured": str(path)}

    p = load_portcall_params(_write(tmp_path, point_at))
    err = p.berth_size_error_for("somesat")
    assert err.systematic_frac == pytest.approx(0.84)
    assert err.length_sigma(10.0) == pytest.approx(5.0) == err.length_sigma(3.0)
    assert err.beam_sigma(3.0) == pytest.approx(1.0) and err.bias(3.0) == (0.0, 0.0)
    assert str(path) in err.source and "12 calls" in err.source
    # open water keeps the sensor's own numbers
    assert p.size_error_for("somesat") == p.size_error
    # a file without calls measured twice: the share is the stated assumption
    path = _berths_json(tmp_path / "bundle")
    err = load_portcall_params(_write(tmp_path, point_at)).berth_size_error_for("somesat")
    assert err.systematic_frac == 0.5 and "ASSUMPTION" in err.source


def test_a_measured_berth_size_error_with_numbers_beside_it_or_no_sensor_is_refused(tmp_path):
    path = _berths_json(tmp_path / "bundle")

    def both(d):
        d["portcalls"]["berth_size_error_by_sensor"]["somesat"] = {
            "measured": str(path),
            "systematic_frac": 0.3,
        }

    with pytest.raises(TankerWatchError, match="drop \\['systematic_frac'\\]") as err:
        load_portcall_params(_write(tmp_path, both))
    assert "\n" not in str(err.value)

    def other(d):
        d["portcalls"]["berth_size_error_by_sensor"]["othersat"] = {"measured": str(path)}

    with pytest.raises(TankerWatchError, match="berth_size_error_by_sensor.othersat"):
        load_portcall_params(_write(tmp_path, other))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # a split probability outside (0, 1)
        *(("split_p_max", v) for v in (0.0, 1.0, -0.2)),
        # a hull recall weight that is not positive
        *(("hull_recall_n", v) for v in (0, -1.0, "many")),
        # a berth capacity that is not a positive whole number
        *(("berth_capacity", v) for v in (0, -1, 1.5)),
    ],
)
def test_a_bad_visit_setting_is_refused_in_one_line(tmp_path, key, value):
    def bad(d):
        d["portcalls"][key] = value

    path = _write(tmp_path, bad)
    with pytest.raises(TankerWatchError, match=key) as err:
        load_portcall_params(path)
    assert "\n" not in str(err.value)
