"""Argument validation shared by both backends.

Numba does not bounds-check: a wrong shape that reaches a kernel reads or
writes outside an array and corrupts memory silently.  So every public
function of :mod:`fastnn.kernels` *and* of :mod:`fastnn.reference` starts by
calling one of the ``*_args`` functions below, which

- accept any array-like for read-only inputs and make it C-contiguous
  (a copy only when needed),
- require float32 or float64 and one dtype across all arrays of a call
  (``TypeError`` otherwise: fastnn never silently changes precision),
- check every shape against the others (``ValueError`` naming the argument
  and the shapes it got),
- check ``out``/in-place arrays: exact shape and dtype, C-contiguous,
  writeable, and not overlapping an input they would clobber,
- check scalar hyper-parameters (finite, in range).

Sharing this layer means both backends accept and reject exactly the same
calls; they differ only in how they compute.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from fastnn.activations import SOFTMAX, activation_code
from fastnn.losses import LossSpec, loss_spec

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------

def as_float_array(name: str, value, ndims=(1, 2)) -> np.ndarray:
    """Return ``value`` as a C-contiguous float32/float64 array with an allowed ndim."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain array, not a masked array (use {name}.filled(...))")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of floats; could not convert it: {exc}") from None
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {arr.dtype} "
            f"(convert with {name}.astype(np.float32) or np.float64)"
        )
    if arr.ndim not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {allowed}, got {arr.ndim}-D array of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_same_dtype(dtype: np.dtype, **arrays) -> None:
    """Raise TypeError unless every array in ``arrays`` has ``dtype``."""
    for name, arr in arrays.items():
        if arr is not None and arr.dtype != dtype:
            raise TypeError(
                f"{name} has dtype {arr.dtype} but the other arrays are {dtype}; "
                "all arrays of one call must share a dtype"
            )


def check_shape(name: str, arr: np.ndarray, shape: tuple, why: str = "") -> None:
    """Raise ValueError unless ``arr.shape == shape``."""
    if arr.shape != tuple(shape):
        extra = f" ({why})" if why else ""
        raise ValueError(f"{name} must have shape {tuple(shape)}{extra}, got {arr.shape}")


def check_writable(name: str, arr, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Validate an array that a kernel writes into: exact shape/dtype, C-contiguous, writeable."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray to be written in place, got {type(arr).__name__}")
    if isinstance(arr, (np.ma.MaskedArray, np.matrix)):
        raise TypeError(f"{name} must be a plain numpy.ndarray, not {type(arr).__name__} (it is written in place)")
    if arr.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    check_shape(name, arr, shape)
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous to be written in place (use np.ascontiguousarray)")
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; it must be writeable to be updated in place")
    return arr


def output_array(name: str, out, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Allocate an output array, or validate the caller's ``out``."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    return check_writable(name, out, shape, dtype)


def check_no_overlap(out_name: str, out: np.ndarray, **inputs) -> None:
    """Raise ValueError if ``out`` shares memory with any of ``inputs``."""
    for name, arr in inputs.items():
        if arr is not None and np.may_share_memory(out, arr):
            raise ValueError(f"{out_name} must not share memory with {name}")


def check_no_partial_overlap(out_name: str, out: np.ndarray, **inputs) -> None:
    """Allow ``out`` to be exactly an input (in-place elementwise op), but no other overlap."""
    for name, arr in inputs.items():
        if arr is None or not np.may_share_memory(out, arr):
            continue
        same = (
            out.__array_interface__["data"][0] == arr.__array_interface__["data"][0]
            and out.shape == arr.shape
            and out.strides == arr.strides
        )
        if not same:
            raise ValueError(f"{out_name} may be {name} itself (in place) but must not partially overlap it")


def check_scalar(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """Return ``value`` as a finite Python float inside the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise ValueError(f"{name} must be finite, got an integer too large for a float") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        left = ("(" if low_open else "[") + (str(low) if low is not None else "-inf")
        right = (str(high) if high is not None else "inf") + (")" if high_open or high is None else "]")
        raise ValueError(f"{name} must be in {left}, {right}, got {value}")
    return value


def check_int(name: str, value, *, low: int, high: int = 2**53) -> int:
    """Return ``value`` as a Python int in ``[low, high]`` (default ``high``: exactly representable as a float)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def as_rows(arr: np.ndarray) -> np.ndarray:
    """View a 1-D array of length k as one row of shape (1, k); 2-D arrays pass through."""
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------

class ActivationArgs(NamedTuple):
    a: np.ndarray        # (n, k) input rows: z for forward, a for derivative/backward
    grad: np.ndarray | None  # (n, k) upstream gradient (backward only)
    code: int
    out: np.ndarray      # (n, k) view of the result
    result: np.ndarray   # what the public function returns (input's shape)


_NO_GRAD = object()


def activation_args(name: str, arr, activation, out, grad=_NO_GRAD, *, elementwise_only=False) -> ActivationArgs:
    """Validate an activation call.  ``name`` is the argument's name ("z" or "a").

    ``grad`` (``grad_a`` of ``activation_backward``) is required when passed:
    None there is an error, not "no gradient".
    """
    if grad is None:
        raise TypeError("grad_a must be an array of floats, got None")
    if grad is _NO_GRAD:
        grad = None
    code = activation_code(activation)
    if elementwise_only and code == SOFTMAX:
        raise ValueError(
            "activation 'softmax' has no elementwise derivative (its Jacobian couples a row); "
            "use activation_backward(a, grad_a, 'softmax')"
        )
    arr = as_float_array(name, arr)
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
    if grad is not None:
        grad = as_float_array("grad_a", grad)
        check_same_dtype(arr.dtype, grad_a=grad)
        check_shape("grad_a", grad, arr.shape, f"the shape of {name}")
    result = output_array("out", out, arr.shape, arr.dtype)
    check_no_partial_overlap("out", result, **{name: arr, "grad_a": grad})
    return ActivationArgs(as_rows(arr), None if grad is None else as_rows(grad), code, as_rows(result), result)


# --------------------------------------------------------------------------
# dense layer
# --------------------------------------------------------------------------

class DenseForwardArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    code: int
    out: np.ndarray


def _dense_params(x, w, b):
    x = as_float_array("x", x, ndims=(2,))
    w = as_float_array("w", w, ndims=(2,))
    b = as_float_array("b", b, ndims=(1,))
    check_same_dtype(x.dtype, w=w, b=b)
    n, d = x.shape
    if d == 0:
        raise ValueError(f"x must have at least one feature column, got shape {x.shape}")
    if w.shape[0] != d:
        raise ValueError(
            f"w must have shape (n_in, n_out) with n_in = x.shape[1] = {d}; got x {x.shape}, w {w.shape}"
        )
    k = w.shape[1]
    if k == 0:
        raise ValueError(f"w must have at least one output column, got shape {w.shape}")
    check_shape("b", b, (k,), f"(n_out,) with n_out = w.shape[1]; w is {w.shape}")
    return x, w, b


def dense_forward_args(x, w, b, activation, out) -> DenseForwardArgs:
    """Validate ``dense_forward(x, w, b, activation, out)``."""
    code = activation_code(activation)
    x, w, b = _dense_params(x, w, b)
    out = output_array("out", out, (x.shape[0], w.shape[1]), x.dtype)
    check_no_overlap("out", out, x=x, w=w, b=b)
    return DenseForwardArgs(x, w, b, code, out)


class DenseBackwardArgs(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    a: np.ndarray
    grad_a: np.ndarray
    code: int
    grad_w: np.ndarray
    grad_b: np.ndarray
    grad_x: np.ndarray | None


def dense_backward_args(x, w, a, grad_a, activation, grad_w, grad_b, grad_x, compute_grad_x) -> DenseBackwardArgs:
    """Validate ``dense_backward(...)``; ``b`` is not needed for the gradients."""
    code = activation_code(activation)
    x = as_float_array("x", x, ndims=(2,))
    w = as_float_array("w", w, ndims=(2,))
    n, d = x.shape
    if d == 0:
        raise ValueError(f"x must have at least one feature column, got shape {x.shape}")
    if w.shape[0] != d or w.shape[1] == 0:
        raise ValueError(
            f"w must have shape (n_in, n_out) with n_in = x.shape[1] = {d} and n_out >= 1; "
            f"got x {x.shape}, w {w.shape}"
        )
    k = w.shape[1]
    a = as_float_array("a", a, ndims=(2,))
    grad_a = as_float_array("grad_a", grad_a, ndims=(2,))
    check_same_dtype(x.dtype, w=w, a=a, grad_a=grad_a)
    check_shape("a", a, (n, k), f"(n_samples, n_out) from x {x.shape} and w {w.shape}")
    check_shape("grad_a", grad_a, (n, k), f"the shape of a")
    if not isinstance(compute_grad_x, (bool, np.bool_)):
        raise TypeError(f"compute_grad_x must be a bool, got {type(compute_grad_x).__name__}")
    grad_w = output_array("grad_w", grad_w, (d, k), x.dtype)
    grad_b = output_array("grad_b", grad_b, (k,), x.dtype)
    if compute_grad_x:
        grad_x = output_array("grad_x", grad_x, (n, d), x.dtype)
    elif grad_x is not None:
        raise ValueError("grad_x was given but compute_grad_x is False")
    inputs = dict(x=x, w=w, a=a, grad_a=grad_a)
    check_no_overlap("grad_w", grad_w, grad_b=grad_b, grad_x=grad_x, **inputs)
    check_no_overlap("grad_b", grad_b, grad_x=grad_x, **inputs)
    if grad_x is not None:
        check_no_overlap("grad_x", grad_x, **inputs)
    return DenseBackwardArgs(x, w, a, grad_a, code, grad_w, grad_b, grad_x)


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------

class LossArgs(NamedTuple):
    y_pred: np.ndarray   # (n, k) rows
    y_true: np.ndarray   # (n, k) rows
    out: np.ndarray | None  # (n, k) rows view of the result (gradients only)
    result: np.ndarray | None


def loss_args(y_pred, y_true, out=None, *, want_out=False) -> LossArgs:
    """Validate a loss or loss-gradient call: same shape, same dtype, non-empty."""
    y_pred = as_float_array("y_pred", y_pred)
    y_true = as_float_array("y_true", y_true)
    check_same_dtype(y_pred.dtype, y_true=y_true)
    check_shape("y_true", y_true, y_pred.shape, "the shape of y_pred")
    if y_pred.size == 0:
        raise ValueError(f"y_pred must not be empty, got shape {y_pred.shape}")
    result = None
    if want_out:
        result = output_array("out", out, y_pred.shape, y_pred.dtype)
        check_no_partial_overlap("out", result, y_pred=y_pred, y_true=y_true)
    elif out is not None:  # pragma: no cover - internal misuse
        raise ValueError("out is not accepted here")
    return LossArgs(as_rows(y_pred), as_rows(y_true), None if result is None else as_rows(result), result)


def output_delta_args(y_pred, y_true, loss, activation, out) -> tuple[LossSpec, int, LossArgs]:
    """Validate ``output_delta``: the (loss, output activation) pair, then the arrays.

    ``out`` may not overlap ``y_pred`` here (not even exactly): the MSE path
    reads ``y_pred`` again, for the activation derivative, after writing ``out``.
    """
    spec, code = output_delta_spec(loss, activation)
    args = loss_args(y_pred, y_true, out, want_out=True)
    check_no_overlap("out", args.result, y_pred=args.y_pred)
    return spec, code, args


def output_delta_spec(loss, activation) -> tuple[LossSpec, int]:
    """Validate the (loss, output activation) pair of ``output_delta``."""
    spec = loss_spec(loss)
    code = activation_code(activation)
    if spec.output_activation is not None and activation_code(spec.output_activation) != code:
        raise ValueError(
            f"loss {spec.name!r} is fused with a {spec.output_activation!r} output layer; "
            f"got activation {activation!r}"
        )
    return spec, code


# --------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------

def param_args(param, grad, **state) -> tuple[np.ndarray, np.ndarray, dict]:
    """Validate an in-place optimizer update: ``param`` and ``state`` are written, ``grad`` read."""
    if not isinstance(param, np.ndarray):
        raise TypeError(f"param must be a numpy.ndarray (it is updated in place), got {type(param).__name__}")
    if isinstance(param, (np.ma.MaskedArray, np.matrix)):
        raise TypeError(f"param must be a plain numpy.ndarray, not {type(param).__name__} (it is updated in place)")
    if param.dtype not in FLOAT_DTYPES:
        raise TypeError(f"param must have dtype float32 or float64, got {param.dtype}")
    if param.ndim not in (1, 2):
        raise ValueError(f"param must be 1-D or 2-D, got {param.ndim}-D array of shape {param.shape}")
    check_writable("param", param, param.shape, param.dtype)
    grad = as_float_array("grad", grad, ndims=(param.ndim,))
    check_same_dtype(param.dtype, grad=grad)
    check_shape("grad", grad, param.shape, "the shape of param")
    checked = {}
    for name, arr in state.items():
        checked[name] = check_writable(name, arr, param.shape, param.dtype)
        check_no_overlap(name, arr, param=param, grad=grad)
    check_no_overlap("param", param, grad=grad)
    names = list(checked)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            check_no_overlap(first, checked[first], **{second: checked[second]})
    return param, grad, checked


class SGDArgs(NamedTuple):
    param: np.ndarray
    grad: np.ndarray
    lr: float
    weight_decay: float


def sgd_args(param, grad, lr, weight_decay) -> SGDArgs:
    """Validate ``sgd_update``."""
    param, grad, _ = param_args(param, grad)
    return SGDArgs(param, grad, check_scalar("lr", lr, low=0.0), check_scalar("weight_decay", weight_decay, low=0.0))


class MomentumArgs(NamedTuple):
    param: np.ndarray
    grad: np.ndarray
    velocity: np.ndarray
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float


def momentum_args(param, grad, velocity, lr, momentum, nesterov, weight_decay) -> MomentumArgs:
    """Validate ``momentum_update``."""
    param, grad, state = param_args(param, grad, velocity=velocity)
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
    return MomentumArgs(
        param, grad, state["velocity"],
        check_scalar("lr", lr, low=0.0),
        check_scalar("momentum", momentum, low=0.0, high=1.0, high_open=True),
        bool(nesterov),
        check_scalar("weight_decay", weight_decay, low=0.0),
    )


class AdamArgs(NamedTuple):
    param: np.ndarray
    grad: np.ndarray
    m: np.ndarray
    v: np.ndarray
    step: int
    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float


def adam_args(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay) -> AdamArgs:
    """Validate ``adam_update``."""
    param, grad, state = param_args(param, grad, m=m, v=v)
    return AdamArgs(
        param, grad, state["m"], state["v"],
        check_int("step", step, low=1),
        check_scalar("lr", lr, low=0.0),
        check_scalar("beta1", beta1, low=0.0, high=1.0, high_open=True),
        check_scalar("beta2", beta2, low=0.0, high=1.0, high_open=True),
        check_scalar("eps", eps, low=0.0, low_open=True),
        check_scalar("weight_decay", weight_decay, low=0.0),
    )
