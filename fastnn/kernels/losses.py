"""Loss kernels: values and gradients of MSE and cross-entropy.

Loss values accumulate in float64 whatever the input dtype (one partial sum
per row, owned by its ``prange`` iteration, then a serial sum in row order:
deterministic at any thread count) and are returned as a scalar of the input
dtype.  Cross-entropy gradients are fused with their output activation, so
the delta at the output pre-activation is ``(p - y) / N``.

Reference twin: :mod:`fastnn.reference.losses`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fastnn import _checks, config
from fastnn.kernels import vmath
from fastnn.kernels._jit import kernel, serial_kernel
from fastnn.kernels.activations import activation_backward_row
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, POISSON, loss_spec


@serial_kernel
def _sum_rows(partial):
    total = 0.0
    for i in range(partial.shape[0]):
        total += partial[i]
    return total


@serial_kernel
def loss_row_sum(p, y, code, eps):
    """Sum over one row of the per-element loss, in float64 (before the sign and the mean)."""
    one = p.dtype.type(1.0)
    hi = one - eps
    s = 0.0
    if code == MSE:
        for j in range(p.shape[0]):
            diff = np.float64(p[j]) - np.float64(y[j])
            s += diff * diff
    elif code == POISSON:
        for j in range(p.shape[0]):
            v = np.float64(p[j])
            t = np.float64(y[j])
            if t != 0.0:  # a zero count subtracts 0.0: skip its log
                v -= t * vmath.log(np.float64(max(p[j], eps)))
            s += v
    else:
        # A zero weight (t or 1 - t) adds -0.0 to s (the clipped log is finite), so its log is skipped: one log
        # per sample for one-hot and 0/1 targets instead of one per output.
        for j in range(p.shape[0]):
            pc = np.float64(min(max(p[j], eps), hi))  # log(0) never happens
            t = np.float64(y[j])
            if t != 0.0:
                s += t * vmath.log(pc)
            if code == BINARY_CROSSENTROPY and t != 1.0:
                s += (1.0 - t) * vmath.log(1.0 - pc)
    return s


@serial_kernel
def loss_from_sum(total, code, n_rows, n_elements):
    """Turn the float64 sum of :func:`loss_row_sum` over all rows into the loss value."""
    if code == MSE or code == POISSON:
        return total / n_elements
    if code == BINARY_CROSSENTROPY:
        return -total / n_elements
    return -total / n_rows


@kernel
def _loss_sum(p, y, code, eps):
    """Sum of :func:`loss_row_sum` over rows: one partial sum per row, then summed in row order."""
    n = p.shape[0]
    partial = np.empty(n, dtype=np.float64)
    for i in prange(n):
        partial[i] = loss_row_sum(p[i], y[i], code, eps)
    return _sum_rows(partial)


@serial_kernel
def scaled_difference_row(p, y, out, scale):
    """One row of ``scale * (p - y)``: ``dL/dp`` for MSE (scale 2/N), ``dL/dz`` for fused CE."""
    for j in range(p.shape[0]):
        out[j] = scale * (p[j] - y[j])


@kernel
def _scaled_difference(p, y, out, scale):
    for i in prange(p.shape[0]):
        scaled_difference_row(p[i], y[i], out[i], scale)


@kernel
def _mse_output_delta(p, y, out, scale, act_code):
    for i in prange(p.shape[0]):
        scaled_difference_row(p[i], y[i], out[i], scale)
        activation_backward_row(p[i], out[i], out[i], act_code)


# --------------------------------------------------------------------------
# public wrappers
# --------------------------------------------------------------------------

def _eps(dtype):
    return dtype.type(np.finfo(dtype).eps)


def _loss(y_pred, y_true, code):
    args = _checks.loss_args(y_pred, y_true)
    p, y = args.y_pred, args.y_true
    total = _loss_sum.pick(config.use_parallel(p.size) and p.shape[0] > 1)(p, y, code, _eps(p.dtype))
    return p.dtype.type(loss_from_sum(total, code, p.shape[0], p.size))


def _delta_scale(p, code):
    """``2/N`` for MSE's dL/dp; ``1/N`` for binary CE's and Poisson's, ``1/n_rows`` for categorical CE's dL/dz."""
    one = p.dtype.type(1.0)
    if code == MSE:
        return p.dtype.type(2.0) / p.dtype.type(p.size)
    if code == BINARY_CROSSENTROPY or code == POISSON:
        return one / p.dtype.type(p.size)
    return one / p.dtype.type(p.shape[0])


def _scaled_difference_call(y_pred, y_true, out, code):
    args = _checks.loss_args(y_pred, y_true, out, want_out=True)
    p = args.y_pred
    _scaled_difference.pick(config.use_parallel(p.size))(p, args.y_true, args.out, _delta_scale(p, code))
    return args.result


def mse_loss(y_pred, y_true):
    """Mean squared error over all elements: ``mean((p - y)**2)``.

    Parameters
    ----------
    y_pred, y_true : array_like, same shape (n, k) or (k,)

    Returns
    -------
    loss : numpy scalar of the input dtype
    """
    return _loss(y_pred, y_true, MSE)


def mse_grad(y_pred, y_true, out=None):
    """Gradient of :func:`mse_loss` with respect to ``y_pred``: ``2 (p - y) / p.size``.

    Parameters
    ----------
    y_pred, y_true : array_like, same shape (n, k) or (k,)
    out : ndarray, optional

    Returns
    -------
    grad : ndarray, shape and dtype of ``y_pred``
    """
    return _scaled_difference_call(y_pred, y_true, out, MSE)


def binary_crossentropy_loss(y_pred, y_true):
    """Binary cross-entropy, mean over all elements.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]`` (``eps`` the dtype's machine epsilon).

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Sigmoid outputs.
    y_true : array_like, same shape
        Targets in [0, 1].

    Returns
    -------
    loss : numpy scalar of the input dtype
    """
    return _loss(y_pred, y_true, BINARY_CROSSENTROPY)


def binary_crossentropy_delta(y_pred, y_true, out=None):
    """Gradient of :func:`binary_crossentropy_loss` with respect to the sigmoid's input.

    Returns
    -------
    delta : ndarray, shape and dtype of ``y_pred``
        ``(p - y) / p.size``.
    """
    return _scaled_difference_call(y_pred, y_true, out, BINARY_CROSSENTROPY)


def categorical_crossentropy_loss(y_pred, y_true):
    """Categorical cross-entropy: ``-sum(y log p) / n_samples``, ``p`` clipped to ``[eps, 1 - eps]``.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Softmax outputs (a 1-D array is one sample).
    y_true : array_like, same shape
        One-hot (or probability) targets.

    Returns
    -------
    loss : numpy scalar of the input dtype
    """
    return _loss(y_pred, y_true, CATEGORICAL_CROSSENTROPY)


def categorical_crossentropy_delta(y_pred, y_true, out=None):
    """Gradient of :func:`categorical_crossentropy_loss` with respect to the softmax's input.

    Returns
    -------
    delta : ndarray, shape and dtype of ``y_pred``
        ``(p - y) / n_samples``.
    """
    return _scaled_difference_call(y_pred, y_true, out, CATEGORICAL_CROSSENTROPY)


def poisson_loss(y_pred, y_true):
    """Poisson loss (Keras): ``mean(p - y log p)`` over all elements, ``p`` clipped below at ``eps``.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Rates from an ``exp`` output layer.
    y_true : array_like, same shape
        Counts or rates, >= 0.

    Returns
    -------
    loss : numpy scalar of the input dtype
    """
    return _loss(y_pred, y_true, POISSON)


def poisson_delta(y_pred, y_true, out=None):
    """Gradient of :func:`poisson_loss` with respect to the ``exp`` layer's input: ``(p - y) / p.size``."""
    return _scaled_difference_call(y_pred, y_true, out, POISSON)


_LOSS_FUNCTIONS = {
    MSE: mse_loss,
    BINARY_CROSSENTROPY: binary_crossentropy_loss,
    CATEGORICAL_CROSSENTROPY: categorical_crossentropy_loss,
    POISSON: poisson_loss,
}


def loss_value(y_pred, y_true, loss):
    """Value of the registered loss ``loss`` (a name from :data:`fastnn.losses.LOSSES`)."""
    return _LOSS_FUNCTIONS[loss_spec(loss).code](y_pred, y_true)


def output_delta(y_pred, y_true, loss, activation, out=None):
    """Gradient of the loss with respect to the output layer's pre-activation ``z``.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        The output layer's activations ``f(z)``.
    y_true : array_like, same shape
    loss : str
        A name from :data:`fastnn.losses.LOSSES`.
    activation : str
        The output layer's activation; cross-entropy losses require their fused
        activation (sigmoid for binary, softmax for categorical).
    out : ndarray, optional

    Returns
    -------
    delta : ndarray, shape and dtype of ``y_pred``
        mse: ``activation_backward(p, 2 (p - y) / N, activation)``;
        binary cross-entropy and Poisson: ``(p - y) / N``; categorical: ``(p - y) / n``.
    """
    spec, act_code, args = _checks.output_delta_args(y_pred, y_true, loss, activation, out)
    p, y = args.y_pred, args.y_true
    parallel = config.use_parallel(p.size)
    scale = _delta_scale(p, spec.code)
    if spec.code == MSE:
        _mse_output_delta.pick(parallel)(p, y, args.out, scale, act_code)
    else:
        _scaled_difference.pick(parallel)(p, y, args.out, scale)
    return args.result
