"""Fixtures of the estimation tests."""

from __future__ import annotations

import pytest

from pipeline.estimate.params import load_params


@pytest.fixture
def params():
    return load_params()
