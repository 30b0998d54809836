"""Shared pytest fixtures for the fastnn core tests.

Plain helpers (tolerances, input generators, the table of calls) live in
``tests/fnn_helpers.py`` so that test modules can import them; this file only
makes the package importable from a source checkout and defines fixtures.

``tests/`` has no ``__init__.py`` and every test subdirectory has one, so
pytest's default ("prepend") import mode puts ``tests/`` on ``sys.path``: a
test module in any subdirectory imports ``fnn_helpers`` and ``_workers``
directly (layout: ``tests/README.md``).
"""

from __future__ import annotations

import contextlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastnn import config  # noqa: E402

import fnn_helpers as H  # noqa: E402


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: results never depend on test order."""
    return np.random.default_rng(20260522)


@pytest.fixture(params=H.DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    """float32 and float64, the two supported dtypes."""
    return np.dtype(request.param)


@pytest.fixture(params=H.BACKENDS)
def backend(request):
    """Each backend module in turn: ``fastnn.kernels`` and ``fastnn.reference``."""
    return H.backend(request.param)


IMPLEMENTATIONS = [("kernels", "serial"), ("kernels", "parallel"), ("reference", None)]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda p: "-".join(filter(None, p)))
def impl(request):
    """Each backend module, the kernels once per build: kernels-serial, kernels-parallel, reference."""
    name, build = request.param
    with config.parallel_mode(build) if build else contextlib.nullcontext():
        yield H.backend(name)


@pytest.fixture(params=H.BUILDS)
def both_builds(request):
    """Run the test body with the serial, then the parallel build forced."""
    with config.parallel_mode(request.param):
        yield request.param
