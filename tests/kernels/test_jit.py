"""The serial and parallel builds of every kernel (``fastnn.kernels._jit``) and the choice between them.

``_jit.kernel`` compiles each kernel twice; the public function picks a build
by problem size (``fastnn.config.use_parallel``).  Serial vs parallel builds
and 1 vs N threads must agree bit for bit: the kernels document that their
results do not depend on the thread count.  And "auto" really takes the
parallel build for large inputs, and only for them.  Every public function is
covered through the table of calls ``fnn_helpers.CASES``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fnn_helpers as H
from fastnn import config

K = H.backend("kernels")


def test_large_shapes_reach_the_parallel_threshold():
    """The 'large' shapes (fnn_helpers) really are above PARALLEL_MIN_WORK (else the parallel path is untested)."""
    assert np.prod(H.ROW_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.LAYER_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.PARAM_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.ACT_SHAPES[True]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.DENSE_SHAPES[True]) >= config.PARALLEL_MIN_WORK


# --------------------------------------------------------------------------
# serial vs parallel builds, 1 vs N threads: bit for bit
# --------------------------------------------------------------------------

def _kernel_runner(case, dtype, large):
    """Draw the inputs once (outside any thread setting: BLAS in the reference is thread-dependent)."""
    return case.build(np.random.default_rng(7), dtype, large)


def _assert_identical(a, b, what):
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {name} dtype/shape differ"
        assert np.array_equal(x, y, equal_nan=True), (
            f"{what}: {name} not bitwise equal; max |diff| = {np.nanmax(np.abs(x.astype(float) - y)):.3g}"
        )


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("case", H.CASES, ids=lambda c: c.id)
def test_serial_and_parallel_builds_are_bitwise_equal(case, large, dtype):
    """The parallel build of every kernel gives exactly the serial build's bits (fixed summation order)."""
    run = _kernel_runner(case, dtype, large)
    with config.parallel_mode("serial"):
        serial = run(K)
    with config.parallel_mode("parallel"):
        parallel = run(K)
    _assert_identical(serial, parallel, f"{case.id} serial vs parallel")


@pytest.mark.skipif(config.get_num_threads() < 2, reason="needs at least 2 Numba threads")
@pytest.mark.parametrize("case", H.CASES, ids=lambda c: c.id)
def test_results_do_not_depend_on_thread_count(case, dtype):
    """With the parallel build, 1 thread and all threads give bitwise-equal results (large inputs)."""
    run = _kernel_runner(case, dtype, True)
    with config.parallel_mode("parallel"):
        with config.threads(1):
            one = run(K)
        many = run(K)
    _assert_identical(one, many, f"{case.id} 1 thread vs {config.get_num_threads()}")


# --------------------------------------------------------------------------
# "auto" really takes the parallel path for large inputs, and only for them
# --------------------------------------------------------------------------
# Numba starts its threading layer the first time a parallel build is compiled,
# loaded or run; until then numba.threading_layer() raises ValueError.  A fresh
# interpreter therefore tells us whether any parallel build was used.

_PROBE = textwrap.dedent(
    """
    import sys
    import numba, numpy as np
    sys.path.insert(0, {root!r})
    import fastnn.kernels as K
    rng = np.random.default_rng(0)
    n, d, k = {shape}
    x = rng.standard_normal((n, d)); w = rng.standard_normal((d, k)) / d; b = np.zeros(k)
    a = np.tanh(x @ w + b)  # plain NumPy: the setup must not touch a kernel
    calls = {{
        "dense_forward": lambda: K.dense_forward(x, w, b, "tanh"),
        "dense_backward": lambda: K.dense_backward(x, w, a, a, "tanh"),
        "activation_forward": lambda: K.activation_forward(a, "softmax"),
        "activation_derivative": lambda: K.activation_derivative(a, "tanh"),
        "activation_backward": lambda: K.activation_backward(a, a, "tanh"),
        "mse_loss": lambda: K.mse_loss(a, a * 0.5),
        "mse_grad": lambda: K.mse_grad(a, a * 0.5),
        "binary_crossentropy_loss": lambda: K.binary_crossentropy_loss(np.abs(a), a * 0),
        "categorical_crossentropy_delta": lambda: K.categorical_crossentropy_delta(np.abs(a), a * 0),
        "output_delta": lambda: K.output_delta(a, a * 0.5, "mse", "tanh"),
        "sgd_update": lambda: K.sgd_update(a.copy(), a, 0.1),
        "momentum_update": lambda: K.momentum_update(a.copy(), a, np.zeros_like(a), 0.1, 0.9),
        "adam_update": lambda: K.adam_update(a.copy(), a * 0.5, np.zeros_like(a), np.zeros_like(a), 1),
    }}
    names = {names!r} or list(calls)
    for name in names:
        calls[name]()
    try:
        numba.threading_layer()
        print("parallel")
    except ValueError:
        print("serial")
    """
)


def _probe(shape, names):
    root = str(pathlib.Path(H.__file__).resolve().parents[1])
    code = _PROBE.format(root=root, shape=shape, names=names)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def test_auto_mode_uses_serial_builds_for_small_inputs():
    """Small calls in "auto" mode never touch a parallel build."""
    assert _probe((7, 5, 3), []) == "serial"


@pytest.mark.parametrize("name", ["dense_forward", "dense_backward", "activation_forward", "mse_loss",
                                  "output_delta", "sgd_update", "adam_update"])
def test_auto_mode_uses_parallel_builds_for_large_inputs(name):
    """A call above PARALLEL_MIN_WORK in "auto" mode runs the parallel build (with 2 threads)."""
    assert _probe(H.DENSE_SHAPES[True], [name]) == "parallel"
