"""Every Numba kernel against its plain-NumPy twin.

For each public function x every registered activation/loss x float32/float64
x shapes that include 1x1, odd sizes, sizes that are not a multiple of the
thread count and sizes large enough for the parallel build (at least
``fastnn.config.PARALLEL_MIN_WORK`` elements or multiply-adds), under the
"auto" selection and with the serial and the parallel build forced.

Tolerances: see ``fnn_helpers.assert_close`` (rounding-error bounds, by dtype).
Serial vs parallel builds and 1 vs N threads must agree bit for bit: the
kernels document that their results do not depend on the thread count.
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
from fastnn.activations import ACTIVATIONS, ELEMENTWISE_ACTIVATIONS
from fastnn.losses import LOSSES

K = H.backend("kernels")
R = H.backend("reference")

# (n, k) shapes, 1-D shapes (one row) and the large one for the parallel path.
ACT_SHAPES = [(1, 1), (3, 1), (1, 5), (7, 13), (5,), (1,), (300, 257)]
# (n, d, k) for dense layers: n*d*k = 9.9e6 >> PARALLEL_MIN_WORK for the last one.
DENSE_SHAPES = [(1, 1, 1), (3, 1, 4), (1, 5, 1), (7, 13, 11), (300, 129, 257)]
PARAM_SHAPES = [(1, 1), (7,), (3, 1), (7, 13), (300, 257)]

def test_large_shapes_reach_the_parallel_threshold():
    """The 'large' shapes used below really are above PARALLEL_MIN_WORK (else the parallel path is untested)."""
    assert np.prod(ACT_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(DENSE_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(PARAM_SHAPES[-1]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.ACT_SHAPES[True]) >= config.PARALLEL_MIN_WORK
    assert np.prod(H.DENSE_SHAPES[True]) >= config.PARALLEL_MIN_WORK


@pytest.fixture(params=H.MODES)
def mode(request):
    """Run under "auto", forced "serial" and forced "parallel" selection."""
    with config.parallel_mode(request.param):
        yield request.param


def _nan_like(arr):
    """An output buffer full of NaN: a kernel that accumulates into ``out`` instead of writing it fails."""
    return np.full_like(arr, np.nan)


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(activation, shape, dtype, mode, rng):
    """activation_forward(z) matches the reference; also into a caller's out and in place (out=z)."""
    z = H.randn(rng, shape, dtype, scale=3.0)
    expected = R.activation_forward(z, activation)
    terms, scale = H.activation_scale(z, activation)

    got = K.activation_forward(z, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale, err_msg=f"{activation} {mode}")

    out = _nan_like(z)
    assert K.activation_forward(z, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    z_inplace = z.copy()
    assert K.activation_forward(z_inplace, activation, out=z_inplace) is z_inplace
    H.assert_close(z_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=z (in place)")


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ELEMENTWISE_ACTIVATIONS)
def test_activation_derivative(activation, shape, dtype, mode, rng):
    """activation_derivative(a) matches the reference, also with out= and in place (out=a)."""
    a = H.activation_output(H.randn(rng, shape, dtype, scale=3.0), activation)
    expected = R.activation_derivative(a, activation)
    # 1 - a*a and a*(1-a) cancel near |a| = 1: the error is relative to 1 + a^2.
    scale = 1.0 + np.abs(a.astype(np.float64)) ** 2

    got = K.activation_derivative(a, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=2, scale=scale)

    out = _nan_like(a)
    assert K.activation_derivative(a, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=2, scale=scale, err_msg="out=")

    a_inplace = a.copy()
    K.activation_derivative(a_inplace, activation, out=a_inplace)
    H.assert_close(a_inplace, expected, dtype, terms=2, scale=scale, err_msg="out=a (in place)")


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward(activation, shape, dtype, mode, rng):
    """activation_backward(a, grad_a) matches the reference; out=, out=grad_a and out=a in place."""
    a = H.activation_output(H.randn(rng, shape, dtype, scale=3.0), activation)
    g = H.randn(rng, shape, dtype)
    expected = R.activation_backward(a, g, activation)
    terms, scale = H.backward_scale(a, g, activation)

    got = K.activation_backward(a, g, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale)

    out = _nan_like(a)
    assert K.activation_backward(a, g, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    g_inplace = g.copy()
    K.activation_backward(a, g_inplace, activation, out=g_inplace)
    H.assert_close(g_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=grad_a")

    a_inplace = a.copy()
    K.activation_backward(a_inplace, g, activation, out=a_inplace)
    H.assert_close(a_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=a")


# --------------------------------------------------------------------------
# dense layer
# --------------------------------------------------------------------------

@pytest.mark.parametrize("ndk", DENSE_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward(activation, ndk, dtype, mode, rng):
    """dense_forward = f(x @ w + b) matches the reference, with and without a caller's out."""
    n, d, k = ndk
    x, w, b = H.dense_inputs(rng, n, d, k, dtype)
    expected = R.dense_forward(x, w, b, activation)
    terms, scale = H.dense_forward_scale(x, w, b, activation)

    got = K.dense_forward(x, w, b, activation)
    assert got.shape == (n, k) and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale, err_msg=f"{activation} {mode}")

    out = np.full((n, k), np.nan, dtype=dtype)
    assert K.dense_forward(x, w, b, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")


@pytest.mark.parametrize("ndk", DENSE_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_backward(activation, ndk, dtype, mode, rng):
    """dense_backward's grad_w, grad_b, grad_x match the reference; caller buffers are overwritten, not accumulated."""
    n, d, k = ndk
    x, w, b = H.dense_inputs(rng, n, d, k, dtype)
    a = R.dense_forward(x, w, b, activation)
    g = H.randn(rng, (n, k), dtype)
    expected = dict(zip(("grad_w", "grad_b", "grad_x"), R.dense_backward(x, w, a, g, activation)))
    bounds = H.dense_backward_scales(x, w, a, g, activation)

    got = dict(zip(("grad_w", "grad_b", "grad_x"), K.dense_backward(x, w, a, g, activation)))
    for name, (terms, scale) in bounds.items():
        assert got[name].dtype == dtype
        H.assert_close(got[name], expected[name], dtype, terms=terms, scale=scale, err_msg=f"{name} {mode}")

    buffers = {name: _nan_like(arr) for name, arr in expected.items()}
    returned = K.dense_backward(x, w, a, g, activation, **buffers)
    for name, ret in zip(("grad_w", "grad_b", "grad_x"), returned):
        assert ret is buffers[name], f"{name} must be returned in the caller's buffer"
        terms, scale = bounds[name]
        H.assert_close(ret, expected[name], dtype, terms=terms, scale=scale, err_msg=f"{name} into out")

    gw, gb, gx = K.dense_backward(x, w, a, g, activation, compute_grad_x=False)
    assert gx is None
    H.assert_close(gw, expected["grad_w"], dtype, terms=bounds["grad_w"][0], scale=bounds["grad_w"][1])
    H.assert_close(gb, expected["grad_b"], dtype, terms=bounds["grad_b"][0], scale=bounds["grad_b"][1])


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------

def _assert_loss_close(got, expected, dtype, size, err_msg=""):
    # every per-element term of the three losses is >= 0, so the sum of |terms| is the loss itself
    assert isinstance(got, np.floating) and got.dtype == dtype, f"loss must be a {dtype} scalar, got {type(got)}"
    H.assert_close(got, expected, dtype, terms=H.sum_terms(size), scale=abs(float(expected)), err_msg=err_msg)


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_functions(loss, shape, dtype, mode, rng):
    """<loss>_loss and loss_value(…, loss) match the reference; loss_value dispatches to <loss>_loss."""
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    fname = H.loss_function_name(loss)
    expected = getattr(R, fname)(p, y)
    got = getattr(K, fname)(p, y)
    _assert_loss_close(got, expected, dtype, p.size, err_msg=fname)
    assert K.loss_value(p, y, loss) == got, "loss_value must dispatch to the same computation"
    _assert_loss_close(K.loss_value(p, y, loss), R.loss_value(p, y, loss), dtype, p.size, err_msg="loss_value")


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_gradients(loss, shape, dtype, mode, rng):
    """mse_grad / *_delta match the reference; out=, out=y_true and out=y_pred (in place) too."""
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    fname = H.loss_gradient_name(loss)
    expected = getattr(R, fname)(p, y)
    got = getattr(K, fname)(p, y)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, err_msg=fname)

    out = _nan_like(p)
    assert getattr(K, fname)(p, y, out=out) is out
    H.assert_close(out, expected, dtype, err_msg="out=")

    for which in ("y_pred", "y_true"):
        p2, y2 = p.copy(), y.copy()
        target = p2 if which == "y_pred" else y2
        getattr(K, fname)(p2, y2, out=target)
        H.assert_close(target, expected, dtype, err_msg=f"out={which} (in place)")


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss, activation", list(H.output_pairs()))
def test_output_delta(loss, activation, shape, dtype, mode, rng):
    """output_delta matches the reference for every valid (loss, output activation) pair; out= and out=y_true too."""
    p, y = H.loss_inputs(rng, loss, shape, dtype, activation=activation)
    expected = R.output_delta(p, y, loss, activation)
    if LOSSES[loss].output_activation is None:  # activation_backward of 2 (p - y) / N
        grad_p = 2.0 * (p.astype(np.float64) - y) / p.size
        terms, scale = H.backward_scale(p, grad_p, activation)
    else:
        terms, scale = 0, None
    got = K.output_delta(p, y, loss, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale)

    out = _nan_like(p)
    assert K.output_delta(p, y, loss, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    y2 = y.copy()
    K.output_delta(p, y2, loss, activation, out=y2)
    H.assert_close(y2, expected, dtype, terms=terms, scale=scale, err_msg="out=y_true (in place)")


# --------------------------------------------------------------------------
# optimizers (in place, several steps)
# --------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": dict(lr=0.1),
    "sgd-decay": dict(lr=0.1, weight_decay=0.01),
    "momentum": dict(lr=0.1, momentum=0.9),
    "momentum-nesterov-decay": dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adam": dict(lr=0.01),
    "adam-decay": dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01),
}
STATE = {"sgd": (), "momentum": ("velocity",), "adam": ("m", "v")}


def _step(mod, kind, param, grad, state, t, hyper):
    if kind == "sgd":
        return mod.sgd_update(param, grad, **hyper)
    if kind == "momentum":
        return mod.momentum_update(param, grad, state["velocity"], **hyper)
    return mod.adam_update(param, grad, state["m"], state["v"], t, **hyper)


@pytest.mark.parametrize("shape", PARAM_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps(name, shape, dtype, mode, rng):
    """Several in-place updates: param and the state arrays (velocity, m, v) evolve like the reference's."""
    kind = name.split("-")[0]
    hyper = OPTIMIZERS[name]
    p0 = H.randn(rng, shape, dtype)
    params = {"k": p0.copy(), "r": p0.copy()}
    states = {side: {s: np.zeros_like(p0) for s in STATE[kind]} for side in "kr"}
    for t in range(1, 5):
        grad = H.randn(rng, shape, dtype)
        ret_k = _step(K, kind, params["k"], grad, states["k"], t, hyper)
        _step(R, kind, params["r"], grad, states["r"], t, hyper)
        assert ret_k is params["k"], "the update must return param itself"
        assert params["k"].dtype == dtype
        # Every operand is O(1) here (lr * g <= ~0.5, |adam step| <= ~lr * 3), so each
        # of the ~8 roundings per step is bounded by eps * (1 + |p0| + |param|).
        scale = 1.0 + np.abs(p0.astype(np.float64)) + np.abs(params["r"].astype(np.float64))
        H.assert_close(params["k"], params["r"], dtype, terms=8 * t, scale=scale, err_msg=f"param, step {t}")
        for s in STATE[kind]:
            ref = states["r"][s]
            assert states["k"][s].dtype == dtype
            H.assert_close(states["k"][s], ref, dtype, terms=8 * t, scale=np.max(np.abs(ref.astype(np.float64))),
                           err_msg=f"{s}, step {t}")
    assert not np.array_equal(params["k"], p0), "the updates must change param"


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
