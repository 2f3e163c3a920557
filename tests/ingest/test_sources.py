"""The source registry: one class per source, looked up by name."""

from __future__ import annotations

import inspect

import pytest

from pipeline.errors import TankerWatchError
from pipeline.ingest.base import Source
from pipeline.ingest.sources import SOURCES, source_class


def test_every_source_is_a_class_with_its_name_and_one_listing_method():
    assert set(SOURCES) == {"sentinelhub", "stac", "local", "simulated"}
    for name, cls in SOURCES.items():
        assert issubclass(cls, Source) and cls.name == name
        params = list(inspect.signature(cls.candidates).parameters)
        assert params == ["self", "ports", "t0", "t1", "skipped"]
    assert {n for n, c in SOURCES.items() if c.needs_folder} == {"local", "simulated"}


def test_unknown_source_names_the_known_ones():
    with pytest.raises(TankerWatchError, match="unknown source 'ftp' \\(use sentinelhub, stac"):
        source_class("ftp")


def test_run_configs_accept_the_registered_sources_only():
    from pydantic import ValidationError

    from pipeline.run import SourceSpec

    assert SourceSpec(source="stac").source == "stac"
    with pytest.raises(ValidationError, match="unknown source 'ftp'"):
        SourceSpec(source="ftp")
