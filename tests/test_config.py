from pipeline.config import utm_epsg


def test_utm_zone_at_the_edges():
    assert utm_epsg(133.06, 42.74) == "EPSG:32653"  # Vostochny
    assert utm_epsg(-3.6, -33.9) == "EPSG:32730"
    assert utm_epsg(180.0, 10.0) == "EPSG:32660"  # the antimeridian belongs to zone 60
    assert utm_epsg(-180.0, 10.0) == "EPSG:32601"


def test_a_config_that_extends_another_states_only_what_it_changes(tmp_path):
    import pytest

    from pipeline.config import read_yaml
    from pipeline.errors import TankerWatchError

    (tmp_path / "base.yaml").write_text(
        "a: {x: 1, y: {p: 2, q: 3}}\nb: [1, 2]\nc: keep\n", encoding="utf-8"
    )
    (tmp_path / "variant.yaml").write_text(
        "extends: base.yaml\na: {y: {q: 30}}\nb: [9]\n", encoding="utf-8"
    )
    assert read_yaml(tmp_path / "variant.yaml") == {
        "a": {"x": 1, "y": {"p": 2, "q": 30}},  # mappings laid into mappings
        "b": [9],  # anything else replaced
        "c": "keep",
    }
    # a chain of variants, each beside the file it extends
    (tmp_path / "third.yaml").write_text("extends: variant.yaml\nc: changed\n", encoding="utf-8")
    assert read_yaml(tmp_path / "third.yaml")["a"]["y"] == {"p": 2, "q": 30}
    bad = {
        "missing.yaml": ("extends: nowhere.yaml\n", "nowhere.yaml: file not found"),
        "loop.yaml": ("extends: loop.yaml\n", "extends this file again"),
        "empty.yaml": ("extends: ''\n", "the name of a YAML file"),
        "list.yaml": ("extends: b.txt\n", "is not a YAML mapping"),
    }
    (tmp_path / "b.txt").write_text("- 1\n", encoding="utf-8")
    for name, (text, words) in bad.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(TankerWatchError, match=words) as err:
            read_yaml(tmp_path / name)
        assert (
            "\n" not in str(err.value) and name in str(err.value) and "'extends'" in str(err.value)
        )


def test_the_laden_estimate_config_is_the_default_but_for_its_loading_factor():
    """configs/estimate/laden.yaml extends default.yaml: its port calls, coverage and every
    other setting are the default's, so the two cannot drift apart again (they had: the laden
    file lacked the berth capacity, the split setting and the berth size errors)."""
    from pipeline.estimate.params import load_params
    from pipeline.portcalls.params import DEFAULT_PARAMS

    default, laden = load_params(), load_params(DEFAULT_PARAMS.parent / "laden.yaml")
    assert laden.model_copy(update={"volume": default.volume}) == default
    assert laden.volume.loading_factor != default.volume.loading_factor
    assert laden.volume.model_copy(update={"loading_factor": default.volume.loading_factor}) == (
        default.volume
    )
