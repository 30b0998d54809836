"""fastnn._checks, the argument validation of both kernel backends (the model API's is in test_model_validation.py).

Every bad call raises the documented error, names the argument, and writes
nothing.  Both backends validate through :mod:`fastnn._checks`, so they must
raise the same exception type with the same message, and must leave every
array they would write (``out``, ``grad_*``, ``param``, optimizer state)
untouched.  Non-contiguous, read-only and array-like *inputs* are accepted
(copied or viewed as needed) and give the same results as contiguous arrays.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.activations import ACTIVATIONS
from fastnn.losses import LOSSES

F64 = np.float64
SENTINEL = 7.0  # pre-filled into every array a call could write


class Bad(NamedTuple):
    id: str
    function: str
    build: Callable  # () -> (args, kwargs, {name: array that must stay unchanged})
    exc: type
    match: str


def _arr(*shape, dtype=F64, fill=None):
    a = np.random.default_rng(sum(shape) + 1).standard_normal(shape).astype(dtype)
    return a if fill is None else np.full(shape, fill, dtype=dtype)


def _out(*shape, dtype=F64):
    return np.full(shape, SENTINEL, dtype=dtype)


def _readonly(a):
    a.flags.writeable = False
    return a


def _strided(*shape, dtype=F64):
    """A non-contiguous (every other column) writeable view."""
    base = np.full(shape[:-1] + (2 * shape[-1],), SENTINEL, dtype=dtype)
    return base[..., ::2]


def _overlapping_pair(shape):
    """Two (n, k) views of one buffer shifted by one element: partial overlap."""
    n = int(np.prod(shape))
    buf = np.full(n + 1, SENTINEL)
    return buf[:n].reshape(shape), buf[1:].reshape(shape)


NAMES_OF_ACTIVATIONS = re.escape(str(list(ACTIVATIONS)))
NAMES_OF_LOSSES = re.escape(str(list(LOSSES)))


def _bad_calls():
    c = []

    def add(id_, fn, exc, match, build):
        c.append(Bad(id_, fn, build, exc, match))

    # ---- activations -----------------------------------------------------
    z = lambda: _arr(2, 3)  # noqa: E731
    add("z-int", "activation_forward", TypeError, r"z must have dtype float32 or float64, got int64",
        lambda: ((np.arange(6).reshape(2, 3), "relu"), {}, {}))
    add("z-ragged", "activation_forward", TypeError, r"z must be an array of floats",
        lambda: (([[1.0, 2.0], [3.0]], "relu"), {}, {}))
    add("z-3d", "activation_forward", ValueError, r"z must be 1-D or 2-D, got 3-D",
        lambda: ((_arr(2, 2, 2), "relu"), {}, {}))
    add("z-no-columns", "activation_forward", ValueError, r"z must have at least one column",
        lambda: ((np.empty((3, 0)), "relu"), {}, {}))
    add("activation-unknown", "activation_forward", ValueError,
        r"unknown activation 'swish'; expected one of " + NAMES_OF_ACTIVATIONS,
        lambda: ((z(), "swish"), {"out": (o := _out(2, 3))}, {"out": o}))
    add("activation-not-str", "activation_forward", TypeError, r"activation must be a string",
        lambda: ((z(), 3), {}, {}))
    add("out-shape", "activation_forward", ValueError, r"out must have shape \(2, 3\), got \(3, 2\)",
        lambda: ((z(), "tanh"), {"out": (o := _out(3, 2))}, {"out": o}))
    add("out-dtype", "activation_forward", TypeError, r"out must have dtype float64, got float32",
        lambda: ((z(), "tanh"), {"out": (o := _out(2, 3, dtype=np.float32))}, {"out": o}))
    add("out-not-contiguous", "activation_forward", ValueError, r"out must be C-contiguous",
        lambda: ((z(), "tanh"), {"out": (o := _strided(2, 3))}, {"out": o}))
    add("out-readonly", "activation_forward", ValueError, r"out is read-only",
        lambda: ((z(), "tanh"), {"out": (o := _readonly(_out(2, 3)))}, {"out": o}))
    add("out-not-ndarray", "activation_forward", TypeError, r"out must be a numpy.ndarray",
        lambda: ((z(), "tanh"), {"out": [[0.0] * 3] * 2}, {}))
    def partial_overlap(make_args):
        first, second = _overlapping_pair((2, 3))
        return make_args(first), {"out": second}, {"out": second}

    add("out-partially-overlaps-z", "activation_forward", ValueError,
        r"out may be z itself \(in place\) but must not partially overlap it",
        lambda: partial_overlap(lambda first: (first, "sigmoid")))
    add("derivative-softmax", "activation_derivative", ValueError, r"'softmax' has no elementwise derivative",
        lambda: ((z(), "softmax"), {"out": (o := _out(2, 3))}, {"out": o}))
    add("grad_a-shape", "activation_backward", ValueError, r"grad_a must have shape \(2, 3\)",
        lambda: ((z(), _arr(3, 2), "tanh"), {"out": (o := _out(2, 3))}, {"out": o}))
    add("grad_a-dtype", "activation_backward", TypeError, r"grad_a has dtype float32 but the other arrays are float64",
        lambda: ((z(), _arr(2, 3, dtype=np.float32), "tanh"), {}, {}))
    add("out-partially-overlaps-grad_a", "activation_backward", ValueError, r"out may be grad_a itself",
        lambda: partial_overlap(lambda first: (z(), first, "softmax")))

    # ---- dense -----------------------------------------------------------
    def dense(n=2, d=3, k=4, **over):
        arrays = {"x": _arr(n, d), "w": _arr(d, k), "b": _arr(k)}
        arrays.update(over)
        return arrays

    def fwd(out=None, **over):
        a = dense(**over)
        kwargs = {} if out is None else {"out": out}
        return (a["x"], a["w"], a["b"], "relu"), kwargs, ({} if out is None else {"out": out})

    add("x-1d", "dense_forward", ValueError, r"x must be 2-D, got 1-D", lambda: fwd(x=_arr(3)))
    add("x-no-features", "dense_forward", ValueError, r"x must have at least one feature column",
        lambda: fwd(x=np.empty((2, 0)), w=np.empty((0, 4))))
    add("w-rows", "dense_forward", ValueError, r"w must have shape \(n_in, n_out\) with n_in = x.shape\[1\] = 3",
        lambda: fwd(out=_out(2, 4), w=_arr(5, 4)))
    add("b-shape", "dense_forward", ValueError, r"b must have shape \(4,\)", lambda: fwd(out=_out(2, 4), b=_arr(5)))
    add("b-2d", "dense_forward", ValueError, r"b must be 1-D, got 2-D", lambda: fwd(b=_arr(1, 4)))
    add("w-dtype", "dense_forward", TypeError, r"w has dtype float32 but the other arrays are float64",
        lambda: fwd(out=_out(2, 4), w=_arr(3, 4, dtype=np.float32)))
    add("x-int", "dense_forward", TypeError, r"x must have dtype float32 or float64",
        lambda: fwd(x=np.ones((2, 3), dtype=np.int32)))
    add("dense-out-shape", "dense_forward", ValueError, r"out must have shape \(2, 4\)", lambda: fwd(out=_out(4, 2)))
    add("dense-out-is-x", "dense_forward", ValueError, r"out must not share memory with x",
        lambda: (lambda a: ((a["x"], a["w"], a["b"], "relu"), {"out": a["x"]}, {"out": a["x"]}))(dense(k=3)))
    add("dense-activation-unknown", "dense_forward", ValueError, r"unknown activation 'gelu'; expected one of",
        lambda: (lambda a: ((a["x"], a["w"], a["b"], "gelu"), {}, {}))(dense()))

    def bwd(grad_w=None, grad_b=None, grad_x=None, compute_grad_x=True, **over):
        a = dense(**over)
        act = over.get("a", _arr(2, 4))
        g = over.get("grad_a", _arr(2, 4))
        kwargs = dict(grad_w=grad_w, grad_b=grad_b, grad_x=grad_x, compute_grad_x=compute_grad_x)
        watched = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
        return (a["x"], a["w"], act, g, "tanh"), kwargs, watched

    add("a-shape", "dense_backward", ValueError, r"a must have shape \(2, 4\)",
        lambda: bwd(grad_w=_out(3, 4), a=_arr(2, 5)))
    add("backward-grad_a-shape", "dense_backward", ValueError, r"grad_a must have shape \(2, 4\)",
        lambda: bwd(grad_w=_out(3, 4), grad_a=_arr(4, 2)))
    add("grad_x-without-compute", "dense_backward", ValueError, r"grad_x was given but compute_grad_x is False",
        lambda: bwd(grad_w=_out(3, 4), grad_b=_out(4), grad_x=_out(2, 3), compute_grad_x=False))
    add("compute_grad_x-not-bool", "dense_backward", TypeError, r"compute_grad_x must be a bool, got int",
        lambda: bwd(grad_w=_out(3, 4), compute_grad_x=1))
    add("grad_x-shape-after-valid-outputs", "dense_backward", ValueError, r"grad_x must have shape \(2, 3\)",
        lambda: bwd(grad_w=_out(3, 4), grad_b=_out(4), grad_x=_out(3, 2)))
    add("grad_w-not-contiguous", "dense_backward", ValueError, r"grad_w must be C-contiguous",
        lambda: bwd(grad_w=_strided(3, 4), grad_b=_out(4)))
    add("grad_w-dtype", "dense_backward", TypeError, r"grad_w must have dtype float64",
        lambda: bwd(grad_w=_out(3, 4, dtype=np.float32), grad_b=_out(4)))

    def grad_w_b_overlap():
        buf = np.full(12, SENTINEL)
        return bwd(grad_w=buf.reshape(3, 4), grad_b=buf[4:8], grad_x=_out(2, 3))
    add("grad_w-overlaps-grad_b", "dense_backward", ValueError, r"grad_w must not share memory with grad_b",
        grad_w_b_overlap)

    def grad_x_is_x():
        args, kwargs, watched = bwd(grad_w=_out(3, 4), grad_b=_out(4))
        kwargs["grad_x"] = watched["grad_x"] = args[0]
        return args, kwargs, watched
    add("grad_x-is-x", "dense_backward", ValueError, r"grad_x must not share memory with x", grad_x_is_x)

    # ---- losses ----------------------------------------------------------
    p = lambda: _arr(3, 4)  # noqa: E731
    for fn in [H.loss_function_name(name) for name in LOSSES] + ["mse_grad"]:
        add(f"{fn}-y_true-shape", fn, ValueError, r"y_true must have shape \(3, 4\)",
            lambda: ((p(), _arr(4, 3)), {}, {}))
        add(f"{fn}-y_true-dtype", fn, TypeError, r"y_true has dtype float32 but the other arrays are float64",
            lambda: ((p(), _arr(3, 4, dtype=np.float32)), {}, {}))
        add(f"{fn}-empty", fn, ValueError, r"y_pred must not be empty", lambda: ((np.empty((0, 4)),) * 2, {}, {}))
        add(f"{fn}-int", fn, TypeError, r"y_pred must have dtype float32 or float64",
            lambda: ((np.ones((3, 4), dtype=np.int64), p()), {}, {}))
    for name in LOSSES:
        fn = H.loss_gradient_name(name)
        add(f"{fn}-out-shape", fn, ValueError, r"out must have shape \(3, 4\)",
            lambda: ((p(), p()), {"out": (o := _out(4, 3))}, {"out": o}))
        add(f"{fn}-out-readonly", fn, ValueError, r"out is read-only",
            lambda: ((p(), p()), {"out": (o := _readonly(_out(3, 4)))}, {"out": o}))
        add(f"{fn}-out-partially-overlaps-y_true", fn, ValueError, r"out may be y_true itself",
            lambda: partial_overlap(lambda first: (_arr(2, 3), first)))
    add("loss-unknown", "loss_value", ValueError, r"unknown loss 'hinge'; expected one of " + NAMES_OF_LOSSES,
        lambda: ((p(), p(), "hinge"), {}, {}))
    add("loss-not-str", "loss_value", TypeError, r"loss must be a string", lambda: ((p(), p(), None), {}, {}))
    add("output_delta-loss-unknown", "output_delta", ValueError, r"unknown loss 'hinge'; expected one of",
        lambda: ((p(), p(), "hinge", "identity"), {"out": (o := _out(3, 4))}, {"out": o}))
    add("output_delta-activation-unknown", "output_delta", ValueError, r"unknown activation 'elu'; expected one of",
        lambda: ((p(), p(), "mse", "elu"), {"out": (o := _out(3, 4))}, {"out": o}))
    for name, spec in LOSSES.items():
        if spec.output_activation is None:
            continue
        for act in ACTIVATIONS:
            if act == spec.output_activation:
                continue
            add(f"output_delta-{name}-with-{act}", "output_delta", ValueError,
                rf"loss '{name}' is fused with a '{spec.output_activation}' output layer; got activation '{act}'",
                lambda act=act, name=name: ((p(), p(), name, act), {"out": (o := _out(3, 4))}, {"out": o}))
    for name, act in H.output_pairs():
        # the MSE path reads y_pred again after writing out (see _checks.output_delta_args)
        add(f"output_delta-{name}-{act}-out-is-y_pred", "output_delta", ValueError,
            r"out must not share memory with y_pred",
            lambda name=name, act=act: (lambda q: ((q, p(), name, act), {"out": q}, {"out": q}))(p()))

    # ---- optimizers ------------------------------------------------------
    def sgd(param=None, grad=None, lr=0.1, **kw):
        param = _arr(3, 4) if param is None else param
        grad = _arr(3, 4) if grad is None else grad
        return (param, grad, lr), kw, {"param": param}

    def momentum(param=None, velocity=None, lr=0.1, momentum=0.9, **kw):
        param = _arr(3, 4) if param is None else param
        velocity = _arr(3, 4) if velocity is None else velocity
        return (param, _arr(3, 4), velocity, lr, momentum), kw, {"param": param, "velocity": velocity}

    def adam(step=1, m=None, v=None, **kw):
        param = _arr(3, 4)
        m = _arr(3, 4) if m is None else m
        v = np.abs(_arr(3, 4)) if v is None else v
        return (param, _arr(3, 4), m, v, step), kw, {"param": param, "m": m, "v": v}

    add("param-list", "sgd_update", TypeError, r"param must be a numpy.ndarray", lambda: (([1.0, 2.0], [1.0, 2.0], 0.1), {}, {}))
    add("param-int", "sgd_update", TypeError, r"param must have dtype float32 or float64",
        lambda: sgd(param=np.ones((3, 4), dtype=np.int64)))
    add("param-3d", "sgd_update", ValueError, r"param must be 1-D or 2-D", lambda: sgd(param=_arr(2, 2, 2)))
    add("param-readonly", "sgd_update", ValueError, r"param is read-only", lambda: sgd(param=_readonly(_arr(3, 4))))
    add("param-not-contiguous", "sgd_update", ValueError, r"param must be C-contiguous",
        lambda: sgd(param=_arr(4, 3).T))
    add("grad-shape", "sgd_update", ValueError, r"grad must have shape \(3, 4\)", lambda: sgd(grad=_arr(4, 3)))
    add("grad-ndim", "sgd_update", ValueError, r"grad must be 2-D, got 1-D", lambda: sgd(grad=_arr(12)))
    add("grad-dtype", "sgd_update", TypeError, r"grad has dtype float32", lambda: sgd(grad=_arr(3, 4, dtype=np.float32)))
    add("grad-is-param", "sgd_update", ValueError, r"param must not share memory with grad",
        lambda: (lambda q: ((q, q, 0.1), {}, {"param": q}))(_arr(3, 4)))
    add("lr-negative", "sgd_update", ValueError, r"lr must be in \[0\.0, inf\), got -0\.1", lambda: sgd(lr=-0.1))
    add("lr-nan", "sgd_update", ValueError, r"lr must be finite, got nan", lambda: sgd(lr=float("nan")))
    add("lr-inf", "sgd_update", ValueError, r"lr must be finite, got inf", lambda: sgd(lr=float("inf")))
    add("lr-str", "sgd_update", TypeError, r"lr must be a real number, got str", lambda: sgd(lr="0.1"))
    add("lr-bool", "sgd_update", TypeError, r"lr must be a real number, got bool", lambda: sgd(lr=True))
    add("lr-array", "sgd_update", TypeError, r"lr must be a real number", lambda: sgd(lr=np.array([0.1])))
    add("weight_decay-negative", "sgd_update", ValueError, r"weight_decay must be in \[0\.0, inf\)",
        lambda: sgd(weight_decay=-1e-3))
    add("momentum-one", "momentum_update", ValueError, r"momentum must be in \[0\.0, 1\.0\), got 1\.0",
        lambda: momentum(momentum=1.0))
    add("momentum-above-one", "momentum_update", ValueError, r"momentum must be in \[0\.0, 1\.0\)",
        lambda: momentum(momentum=1.5))
    add("momentum-negative", "momentum_update", ValueError, r"momentum must be in \[0\.0, 1\.0\)",
        lambda: momentum(momentum=-0.1))
    add("momentum-lr-nan", "momentum_update", ValueError, r"lr must be finite", lambda: momentum(lr=float("nan")))
    add("nesterov-not-bool", "momentum_update", TypeError, r"nesterov must be a bool, got str",
        lambda: momentum(nesterov="yes"))
    add("velocity-shape", "momentum_update", ValueError, r"velocity must have shape \(3, 4\)",
        lambda: momentum(velocity=_arr(4, 3)))
    add("velocity-dtype", "momentum_update", TypeError, r"velocity must have dtype float64",
        lambda: momentum(velocity=_arr(3, 4, dtype=np.float32)))
    add("velocity-readonly", "momentum_update", ValueError, r"velocity is read-only",
        lambda: momentum(velocity=_readonly(_arr(3, 4))))
    add("velocity-not-ndarray", "momentum_update", TypeError, r"velocity must be a numpy.ndarray",
        lambda: momentum(velocity=[[0.0] * 4] * 3))
    add("velocity-is-param", "momentum_update", ValueError, r"velocity must not share memory with param",
        lambda: (lambda q: ((q, _arr(3, 4), q, 0.1, 0.9), {}, {"param": q}))(_arr(3, 4)))
    add("step-zero", "adam_update", ValueError, r"step must be >= 1, got 0", lambda: adam(step=0))
    add("step-float", "adam_update", TypeError, r"step must be an integer, got float", lambda: adam(step=1.0))
    add("step-bool", "adam_update", TypeError, r"step must be an integer, got bool", lambda: adam(step=True))
    add("beta1-one", "adam_update", ValueError, r"beta1 must be in \[0\.0, 1\.0\), got 1\.0", lambda: adam(beta1=1.0))
    add("beta2-above-one", "adam_update", ValueError, r"beta2 must be in \[0\.0, 1\.0\)", lambda: adam(beta2=1.5))
    add("eps-zero", "adam_update", ValueError, r"eps must be in \(0\.0, inf\), got 0\.0", lambda: adam(eps=0.0))
    add("adam-lr-nan", "adam_update", ValueError, r"lr must be finite", lambda: adam(lr=float("nan")))
    add("adam-lr-negative", "adam_update", ValueError, r"lr must be in \[0\.0", lambda: adam(lr=-1e-3))
    add("m-is-v", "adam_update", ValueError, r"m must not share memory with v",
        lambda: (lambda q: adam(m=q, v=q))(np.abs(_arr(3, 4))))
    add("m-shape", "adam_update", ValueError, r"m must have shape \(3, 4\)", lambda: adam(m=_arr(12)))
    return c


BAD_CALLS = _bad_calls()


def _call_and_catch(mod, bad):
    args, kwargs, watched = bad.build()
    before = {name: arr.copy() for name, arr in watched.items()}
    with pytest.raises(bad.exc, match=bad.match) as info:
        getattr(mod, bad.function)(*args, **kwargs)
    for name, arr in watched.items():
        assert np.array_equal(arr, before[name], equal_nan=True), f"{name} was written by a call that raised"
    return info


def test_bad_call_ids_are_unique():
    """Each bad call in the table below is a distinct case."""
    ids = [b.id for b in BAD_CALLS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("bad", BAD_CALLS, ids=lambda b: b.id)
def test_bad_call_raises_and_writes_nothing(bad, backend):
    """The call raises the documented exception type naming the argument, and no output array changes."""
    info = _call_and_catch(backend, bad)
    assert info.type is bad.exc, f"raised {info.type.__name__}, a subclass of {bad.exc.__name__}"


@pytest.mark.parametrize("bad", BAD_CALLS, ids=lambda b: b.id)
def test_both_backends_raise_identical_errors(bad):
    """Kernels and reference raise the same exception type with the same message for the same bad call."""
    errors = {}
    for name in H.BACKENDS:
        args, kwargs, _ = bad.build()
        try:
            getattr(H.backend(name), bad.function)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - comparing whatever is raised
            errors[name] = (type(exc), str(exc))
        else:
            errors[name] = None
    assert errors["kernels"] == errors["reference"], errors


# --------------------------------------------------------------------------
# inputs that are not C-contiguous, read-only or array-likes are accepted
# --------------------------------------------------------------------------

def _noncontiguous(a):
    """The same values as ``a`` in a non-C-contiguous layout (a strided view)."""
    a = np.asarray(a)
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    view = big[..., ::2]
    assert not view.flags.c_contiguous and np.array_equal(view, a)
    return view


def _fortran(a):
    f = np.asfortranarray(a)
    assert a.ndim < 2 or min(a.shape) == 1 or not f.flags.c_contiguous
    return f


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_noncontiguous_activation_inputs(backend, activation, dtype, rng):
    """Strided z, a and grad_a (2-D and 1-D) give exactly the contiguous results."""
    for shape in ((5, 7), (9,)):
        z = H.randn(rng, shape, dtype, scale=3.0)
        a = backend.activation_forward(z, activation)
        np.testing.assert_array_equal(backend.activation_forward(_noncontiguous(z), activation), a)
        g = H.randn(rng, shape, dtype)
        expected = backend.activation_backward(a, g, activation)
        np.testing.assert_array_equal(backend.activation_backward(_noncontiguous(a), _fortran(g), activation), expected)
        if activation != "softmax":
            np.testing.assert_array_equal(backend.activation_derivative(_noncontiguous(a), activation),
                                          backend.activation_derivative(a, activation))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_noncontiguous_dense_inputs(backend, activation, dtype, rng):
    """Fortran-ordered x, a transposed view as w and a strided b give exactly the contiguous results."""
    x, w, b = H.dense_inputs(rng, 6, 5, 4, dtype)
    a = backend.dense_forward(x, w, b, activation)
    w_view = np.ascontiguousarray(w.T).T  # same values, Fortran layout
    assert not w_view.flags.c_contiguous
    np.testing.assert_array_equal(backend.dense_forward(_fortran(x), w_view, _noncontiguous(b), activation), a)
    g = H.randn(rng, a.shape, dtype)
    expected = backend.dense_backward(x, w, a, g, activation)
    got = backend.dense_backward(_fortran(x), w_view, _noncontiguous(a), _fortran(g), activation)
    for e, r in zip(expected, got):
        np.testing.assert_array_equal(r, e)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_noncontiguous_loss_inputs(backend, loss, dtype, rng):
    """Strided y_pred / y_true give exactly the contiguous loss, gradient and output delta."""
    p, y = H.loss_inputs(rng, loss, (6, 5), dtype)
    ps, ys = _noncontiguous(p), _fortran(y)
    assert backend.loss_value(ps, ys, loss) == backend.loss_value(p, y, loss)
    grad = getattr(backend, H.loss_gradient_name(loss))
    np.testing.assert_array_equal(grad(ps, ys), grad(p, y))
    act = LOSSES[loss].output_activation or "tanh"
    np.testing.assert_array_equal(backend.output_delta(ps, ys, loss, act), backend.output_delta(p, y, loss, act))


def test_noncontiguous_gradient_in_optimizers(backend, dtype, rng):
    """A strided grad is accepted by every optimizer and gives the same update as a contiguous one."""
    p0, g = H.randn(rng, (4, 6), dtype), H.randn(rng, (4, 6), dtype)
    gs = _noncontiguous(g)
    calls = [
        lambda p, gr: backend.sgd_update(p, gr, 0.1, weight_decay=0.01),
        lambda p, gr: backend.momentum_update(p, gr, np.ones_like(p), 0.1, 0.9, nesterov=True),
        lambda p, gr: backend.adam_update(p, gr, np.ones_like(p), np.ones_like(p), 3, lr=0.01),
    ]
    for call in calls:
        p_c, p_s = p0.copy(), p0.copy()
        call(p_c, g)
        call(p_s, gs)
        np.testing.assert_array_equal(p_s, p_c)
        assert not np.array_equal(p_c, p0)


def test_readonly_and_arraylike_inputs(backend, rng):
    """Read-only arrays (e.g. memory maps) and nested lists are valid inputs (lists become float64)."""
    x, w, b = H.dense_inputs(rng, 4, 3, 2, np.float64)
    expected = backend.dense_forward(x, w, b, "sigmoid")
    ro = [_readonly(v.copy()) for v in (x, w, b)]
    np.testing.assert_array_equal(backend.dense_forward(*ro, "sigmoid"), expected)
    np.testing.assert_array_equal(backend.dense_forward(x.tolist(), w.tolist(), b.tolist(), "sigmoid"), expected)
    z = _readonly(H.randn(rng, (3, 5), np.float64))
    np.testing.assert_array_equal(backend.activation_forward(z, "softmax"),
                                  backend.activation_forward(z.copy(), "softmax"))
    np.testing.assert_array_equal(backend.activation_forward(z.tolist(), "softmax"),
                                  backend.activation_forward(z.copy(), "softmax"))
    p, y = H.loss_inputs(rng, "mse", (3, 4), np.float64)
    assert backend.mse_loss(_readonly(p.copy()), _readonly(y.copy())) == backend.mse_loss(p, y)
    param, g = H.randn(rng, (3,), np.float64), H.randn(rng, (3,), np.float64)
    expected_param = backend.sgd_update(param.copy(), g, 0.5)
    np.testing.assert_array_equal(backend.sgd_update(param.copy(), g.tolist(), 0.5), expected_param)
    np.testing.assert_array_equal(backend.sgd_update(param.copy(), _readonly(g.copy()), 0.5), expected_param)


def test_activation_aliases_and_exact_in_place_out_are_accepted(backend, rng):
    """Registry aliases are accepted and mean their target; out=z exactly (in place) is allowed."""
    from fastnn.activations import ALIASES

    z = H.randn(rng, (3, 4), np.float64)
    for alias, target in ALIASES.items():
        np.testing.assert_array_equal(backend.activation_forward(z, alias), backend.activation_forward(z, target))
    z2 = z.copy()
    assert backend.activation_forward(z2, "tanh", out=z2) is z2
