"""Helpers shared by the fastnn test modules: tolerances, realistic inputs, kernel-test shapes, a table of calls.

Everything that names an activation or a loss is derived from the registries
(:data:`fastnn.activations.ACTIVATIONS`, :data:`fastnn.losses.LOSSES`), so a
newly registered activation or loss is tested without touching the tests.
"""

from __future__ import annotations

import importlib
import math
from typing import Callable, NamedTuple

import numpy as np

from fastnn.activations import ACTIVATIONS, ELEMENTWISE_ACTIVATIONS
from fastnn.losses import LOSSES

DTYPES = (np.float32, np.float64)
BUILDS = ("serial", "parallel")
MODES = ("auto",) + BUILDS
BACKENDS = ("kernels", "reference")


def backend(name: str):
    """The backend module ``fastnn.<name>``."""
    return importlib.import_module(f"fastnn.{name}")


def shape_id(shape) -> str:
    return "x".join(map(str, shape))


# --------------------------------------------------------------------------
# tolerances
# --------------------------------------------------------------------------
#
# Two implementations of one formula differ by rounding only.  The allowance
# has two parts:
#
# * a base relative/absolute tolerance for elementwise results: exp, log and
#   tanh come from different libraries (NumPy's SIMD loops vs LLVM/libm) and may
#   differ by a few ulp.  1e-5 is ~84 float32 ulp, 1e-12 ~4500 float64 ulp,
#   both far below any formula error (which is O(1) relative).
# * for reductions, the classical forward-error bound of a sum of m terms in
#   any order, |fl(sum) - sum| <= m * u * sum|terms| for each implementation
#   (u = eps / 2), i.e. at most m * eps * sum|terms| between the two.  The
#   caller passes m ("terms") and sum|terms| ("scale"): with cancellation the
#   error is relative to the magnitude of the terms, not of the result.

BASE_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
BASE_ATOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-14}


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def assert_close(actual, desired, dtype, *, terms=0, scale=None, err_msg=""):
    """Assert ``|actual - desired| <= base_rtol |desired| + base_atol + terms * eps * scale`` elementwise.

    Identical values (including equal infinities) always pass; NaN never does
    unless both are NaN at the same place.
    """
    dt = np.dtype(dtype)
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape}. {err_msg}"
    a64 = actual.astype(np.float64)
    d64 = desired.astype(np.float64)
    bound = BASE_RTOL[dt] * np.abs(d64) + BASE_ATOL[dt]
    if terms:
        bound = bound + terms * eps(dt) * np.asarray(scale, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        err = np.abs(a64 - d64)
        ok = (err <= bound) | (a64 == d64) | (np.isnan(a64) & np.isnan(d64))
    if not np.all(ok):
        bad = np.argwhere(~np.reshape(ok, np.shape(ok) or (1,)))
        first = tuple(int(i) for i in bad[0]) if actual.ndim else ()
        flat_err = np.where(ok, 0.0, np.nan_to_num(err, nan=np.inf) / np.broadcast_to(bound, np.shape(err)))
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(flat_err), np.shape(err))) if actual.ndim else ()
        raise AssertionError(
            f"{len(bad)} of {max(actual.size, 1)} elements differ beyond tolerance ({dt}). {err_msg}\n"
            f"first at {first}: actual={float(a64[first])!r} desired={float(d64[first])!r} "
            f"bound={float(np.broadcast_to(bound, np.shape(err))[first]):.3g}\n"
            f"worst at {worst}: actual={float(a64[worst])!r} desired={float(d64[worst])!r} "
            f"err/bound={float(flat_err[worst]):.3g}"
        )


def rows(arr):
    """Numpy view of an array as rows (n, k): a 1-D array is one row, as in the library."""
    arr = np.asarray(arr)
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


def sum_terms(n: int) -> int:
    """Allowance (in eps) for a sum of ``n`` terms.

    NumPy's ``sum``/``mean`` use pairwise summation (blocks of 128 summed with
    8 accumulators, i.e. <= 16 additions per accumulator, then a binary tree),
    error <= (16 + 3 + log2(n / 128)) u; the kernels accumulate in float64 and
    their own error is negligible.  We allow twice that.
    """
    return 2 * (19 + max(0, math.ceil(math.log2(max(n, 1) / 128))))


def activation_scale(z, activation):
    """``(terms, scale)`` for ``activation_forward(z)``: softmax is a row reduction."""
    z2 = rows(z).astype(np.float64)
    if activation != "softmax":
        return 0, None
    # exp(z - m): the subtraction rounds with error eps*|z - m|, amplified to a
    # relative error of eps*|z - m| by exp; the row sum adds k eps.
    k = z2.shape[1]
    span = np.abs(z2 - z2.max(axis=1, keepdims=True))
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a = e / e.sum(axis=1, keepdims=True)
    return 1, (a * (k + 4 + span)).reshape(np.shape(z))


def backward_scale(a, grad_a, activation):
    """``(terms, scale)`` bounding the rounding of ``activation_backward(a, grad_a)``."""
    a2 = rows(a).astype(np.float64)
    g2 = rows(grad_a).astype(np.float64)
    if activation == "softmax":
        k = a2.shape[1]
        s = np.sum(np.abs(g2 * a2), axis=1, keepdims=True)
        return k + 3, (np.abs(a2) * (np.abs(g2) + s)).reshape(np.shape(a))
    return 3, (np.abs(g2) * (np.abs(a2) + 1) ** 2).reshape(np.shape(a))


def dense_forward_scale(x, w, b, activation):
    """``(terms, scale)`` for ``dense_forward``: a dot product of length d plus the bias.

    Every activation is 1-Lipschitz in each coordinate (sigmoid 1/4, softmax
    <= 1/2 of the row's largest input error), so the error of ``z`` carries
    over; softmax adds its own row sum (k terms of size <= 1).
    """
    x64, w64, b64 = (np.asarray(v, dtype=np.float64) for v in (x, w, b))
    d, k = w64.shape
    zscale = np.abs(x64) @ np.abs(w64) + np.abs(b64)
    if activation == "softmax":
        row = zscale.max(axis=1, keepdims=True)
        return d + k + 4, np.broadcast_to(np.maximum(row, 1.0), zscale.shape)
    return d + 2, zscale


def dense_backward_scales(x, w, a, grad_a, activation):
    """``(terms, scale)`` for each of grad_w, grad_b, grad_x of ``dense_backward``."""
    x64 = np.asarray(x, dtype=np.float64)
    w64 = np.asarray(w, dtype=np.float64)
    n, d = x64.shape
    k = w64.shape[1]
    dterms, dscale = backward_scale(a, grad_a, activation)
    return {
        "grad_w": (n + dterms, np.abs(x64).T @ dscale),
        "grad_b": (n + dterms, dscale.sum(axis=0)),
        "grad_x": (k + dterms, dscale @ np.abs(w64).T),
    }


# --------------------------------------------------------------------------
# realistic inputs
# --------------------------------------------------------------------------

def randn(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def activation_output(z, activation):
    """``f(z)`` from the reference backend: valid inputs for derivative/backward."""
    return backend("reference").activation_forward(z, activation)


def one_hot(rng, shape, dtype):
    """Rows with a single 1 (a 1-D shape is one row)."""
    k = shape[-1]
    n = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    y = np.zeros((n, k), dtype=dtype)
    y[np.arange(n), rng.integers(0, k, size=n)] = 1
    return y.reshape(shape)


def targets(rng, loss, shape, dtype):
    """Targets a user would pass: one-hot rows (softmax CE), 0/1 labels (sigmoid CE), counts (Poisson), reals (MSE)."""
    spec = LOSSES[loss]
    if spec.is_classification and spec.output_activation == "softmax":
        return one_hot(rng, shape, dtype)
    if spec.is_classification:
        return rng.integers(0, 2, size=shape).astype(dtype)
    if spec.output_activation == "exp":  # Poisson: counts
        return rng.poisson(1.5, size=shape).astype(dtype)
    return randn(rng, shape, dtype)


def loss_inputs(rng, loss, shape, dtype, activation=None):
    """``(y_pred, y_true)``: y_pred is the output of the loss's output activation.

    For MSE (no fused activation) ``activation`` picks the output layer
    (identity by default, i.e. unconstrained real predictions).
    """
    spec = LOSSES[loss]
    act = spec.output_activation or activation or "identity"
    y_pred = activation_output(randn(rng, shape, dtype, scale=2.0), act)
    return y_pred, targets(rng, loss, shape, dtype)


def dense_inputs(rng, n, d, k, dtype):
    """``(x, w, b)`` with Glorot-like weights so pre-activations are O(1)."""
    x = randn(rng, (n, d), dtype)
    w = randn(rng, (d, k), dtype, scale=1.0 / math.sqrt(d))
    b = randn(rng, (k,), dtype, scale=0.5)
    return x, w, b


# --------------------------------------------------------------------------
# shapes and output buffers of the kernels-vs-reference tests (tests/kernels/)
# --------------------------------------------------------------------------
#
# 1x1, odd sizes, sizes that are not a multiple of the thread count, and a last,
# large shape above config.PARALLEL_MIN_WORK for the parallel path (checked in
# tests/kernels/test_jit.py).

# (n, k) shapes and 1-D shapes (one row): activations and losses.
ROW_SHAPES = [(1, 1), (3, 1), (1, 5), (7, 13), (5,), (1,), (300, 257)]
# (n, d, k) for dense layers: n*d*k = 9.9e6 >> PARALLEL_MIN_WORK for the last one.
LAYER_SHAPES = [(1, 1, 1), (3, 1, 4), (1, 5, 1), (7, 13, 11), (300, 129, 257)]
# optimizer parameters: a weight matrix or a bias vector.
PARAM_SHAPES = [(1, 1), (7,), (3, 1), (7, 13), (300, 257)]


def nan_like(arr):
    """An output buffer full of NaN: a kernel that accumulates into ``out`` instead of writing it fails."""
    return np.full_like(arr, np.nan)


# --------------------------------------------------------------------------
# names derived from the registries
# --------------------------------------------------------------------------

def loss_function_name(loss: str) -> str:
    """Public loss-value function of a registered loss, e.g. ``mse_loss``."""
    return f"{loss}_loss"


def loss_gradient_name(loss: str) -> str:
    """Public gradient function: ``<loss>_grad`` (dL/dp) if unfused, ``<loss>_delta`` (dL/dz) if fused."""
    return f"{loss}_grad" if LOSSES[loss].output_activation is None else f"{loss}_delta"


def output_pairs():
    """Every valid (loss, output activation) pair of ``output_delta``."""
    for name, spec in LOSSES.items():
        for act in ACTIVATIONS if spec.output_activation is None else (spec.output_activation,):
            yield name, act


# --------------------------------------------------------------------------
# a table of calls covering every public function
# --------------------------------------------------------------------------
#
# ``Case.build(rng, dtype, large)`` draws inputs once and returns ``run(module)``,
# which calls the function of that backend on fresh copies of the inputs and
# returns a dict of every array/scalar it produced (including in-place state).

ACT_SHAPES = {False: (7, 13), True: (300, 257)}      # 300*257 >= PARALLEL_MIN_WORK elements
DENSE_SHAPES = {False: (7, 13, 11), True: (300, 129, 257)}


class Case(NamedTuple):
    id: str
    function: str
    build: Callable


def _act_forward(act):
    def build(rng, dtype, large):
        z = randn(rng, ACT_SHAPES[large], dtype, scale=3.0)
        return lambda mod: {"a": mod.activation_forward(z, act)}
    return build


def _act_derivative(act):
    def build(rng, dtype, large):
        a = activation_output(randn(rng, ACT_SHAPES[large], dtype, scale=3.0), act)
        return lambda mod: {"d": mod.activation_derivative(a, act)}
    return build


def _act_backward(act):
    def build(rng, dtype, large):
        shape = ACT_SHAPES[large]
        a = activation_output(randn(rng, shape, dtype, scale=3.0), act)
        g = randn(rng, shape, dtype)
        return lambda mod: {"grad_z": mod.activation_backward(a, g, act)}
    return build


def _dense_forward(act):
    def build(rng, dtype, large):
        x, w, b = dense_inputs(rng, *DENSE_SHAPES[large], dtype)
        return lambda mod: {"a": mod.dense_forward(x, w, b, act)}
    return build


def _dense_backward(act, compute_grad_x):
    def build(rng, dtype, large):
        x, w, b = dense_inputs(rng, *DENSE_SHAPES[large], dtype)
        a = backend("reference").dense_forward(x, w, b, act)
        g = randn(rng, a.shape, dtype)

        def run(mod):
            gw, gb, gx = mod.dense_backward(x, w, a, g, act, compute_grad_x=compute_grad_x)
            out = {"grad_w": gw, "grad_b": gb}
            if compute_grad_x:
                out["grad_x"] = gx
            return out
        return run
    return build


def _loss_value_fn(loss, fname):
    def build(rng, dtype, large):
        p, y = loss_inputs(rng, loss, ACT_SHAPES[large], dtype)
        if fname == "loss_value":
            return lambda mod: {"loss": mod.loss_value(p, y, loss)}
        return lambda mod: {"loss": getattr(mod, fname)(p, y)}
    return build


def _loss_grad_fn(loss):
    def build(rng, dtype, large):
        p, y = loss_inputs(rng, loss, ACT_SHAPES[large], dtype)
        return lambda mod: {"grad": getattr(mod, loss_gradient_name(loss))(p, y)}
    return build


def _output_delta(loss, act):
    def build(rng, dtype, large):
        p, y = loss_inputs(rng, loss, ACT_SHAPES[large], dtype, activation=act)
        return lambda mod: {"delta": mod.output_delta(p, y, loss, act)}
    return build


OPTIM_STEPS = 3


def _optimizer(kind, **hyper):
    def build(rng, dtype, large):
        shape = ACT_SHAPES[large]
        p0 = randn(rng, shape, dtype)
        grads = [randn(rng, shape, dtype) for _ in range(OPTIM_STEPS)]

        def run(mod):
            param = p0.copy()
            state = {name: np.zeros_like(p0) for name in {"sgd": (), "momentum": ("velocity",),
                                                          "adam": ("m", "v")}[kind]}
            returned = []
            for t, g in enumerate(grads, start=1):
                if kind == "sgd":
                    returned.append(mod.sgd_update(param, g, **hyper))
                elif kind == "momentum":
                    returned.append(mod.momentum_update(param, g, state["velocity"], **hyper))
                else:
                    returned.append(mod.adam_update(param, g, state["m"], state["v"], t, **hyper))
            assert all(r is param for r in returned), f"{kind}_update must return param itself"
            return {"param": param, **state}
        return run
    return build


def all_cases():
    """One Case per function x activation/loss (x option) combination, all 16 functions."""
    cases = []
    for act in ACTIVATIONS:
        cases.append(Case(f"activation_forward-{act}", "activation_forward", _act_forward(act)))
        cases.append(Case(f"activation_backward-{act}", "activation_backward", _act_backward(act)))
        cases.append(Case(f"dense_forward-{act}", "dense_forward", _dense_forward(act)))
        cases.append(Case(f"dense_backward-{act}", "dense_backward", _dense_backward(act, True)))
        cases.append(Case(f"dense_backward-{act}-no_grad_x", "dense_backward", _dense_backward(act, False)))
    for act in ELEMENTWISE_ACTIVATIONS:
        cases.append(Case(f"activation_derivative-{act}", "activation_derivative", _act_derivative(act)))
    for loss in LOSSES:
        cases.append(Case(loss_function_name(loss), loss_function_name(loss),
                          _loss_value_fn(loss, loss_function_name(loss))))
        cases.append(Case(f"loss_value-{loss}", "loss_value", _loss_value_fn(loss, "loss_value")))
        cases.append(Case(loss_gradient_name(loss), loss_gradient_name(loss), _loss_grad_fn(loss)))
    for loss, act in output_pairs():
        cases.append(Case(f"output_delta-{loss}-{act}", "output_delta", _output_delta(loss, act)))
    cases.append(Case("sgd_update", "sgd_update", _optimizer("sgd", lr=0.1, weight_decay=0.01)))
    for nesterov in (False, True):
        cases.append(Case(f"momentum_update-nesterov={nesterov}", "momentum_update",
                          _optimizer("momentum", lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=0.01)))
    cases.append(Case("adam_update", "adam_update", _optimizer("adam", lr=0.01, weight_decay=0.01)))
    return cases


CASES = all_cases()
