"""Fixtures of the kernels-vs-reference tests: the build selection each test runs under."""

from __future__ import annotations

import pytest

import fnn_helpers as H
from fastnn import config


@pytest.fixture(params=H.MODES)
def mode(request):
    """Run under "auto", forced "serial" and forced "parallel" selection."""
    with config.parallel_mode(request.param):
        yield request.param
