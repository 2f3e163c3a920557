"""Fixtures of the port-call tests."""

from __future__ import annotations

import pytest

from pipeline.estimate.params import load_params

from .builders import Builder


@pytest.fixture
def builder():
    return Builder()


@pytest.fixture
def params():
    return load_params()
