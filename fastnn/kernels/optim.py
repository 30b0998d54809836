"""Optimizer update kernels, in place, on a flat view of each parameter array.

All updates use coupled L2 weight decay, ``g = grad + weight_decay * param``,
and the scikit-learn / Keras conventions:

- SGD:       ``param -= lr * g``
- momentum:  ``velocity = momentum * velocity - lr * g``;
             ``param += velocity`` (Nesterov: ``param += momentum * velocity - lr * g``)
- Adam:      ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g**2``;
             ``param -= lr_t * m / (sqrt(v) + eps)`` with
             ``lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t)``.

Hyper-parameters are combined in float64 by the wrapper (``1 - b1``,
``lr_t``) and passed to the kernel in the parameter's dtype, so float32
updates run in float32.  Every element is independent: parallel loops are
race-free by construction.

Reference twin: :mod:`fastnn.reference.optim`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from fastnn import _checks, config
from fastnn.config import UPDATE_CHUNK as CHUNK
from fastnn.kernels._jit import kernel, serial_kernel


# slices first: an offset index stops vectorisation (docs/design.md, "Row helpers")


@serial_kernel
def sgd_range(param, grad, lr, weight_decay, start, stop):
    """SGD on ``param[start:stop]``."""
    p = param[start:stop]
    gr = grad[start:stop]
    for i in range(p.shape[0]):
        g = gr[i] + weight_decay * p[i]
        p[i] -= lr * g


@serial_kernel
def momentum_range(param, grad, velocity, lr, momentum, nesterov, weight_decay, start, stop):
    """(Nesterov) momentum on ``param[start:stop]``."""
    p = param[start:stop]
    gr = grad[start:stop]
    vel = velocity[start:stop]
    for i in range(p.shape[0]):
        g = gr[i] + weight_decay * p[i]
        v = momentum * vel[i] - lr * g
        vel[i] = v
        if nesterov:
            p[i] += momentum * v - lr * g
        else:
            p[i] += v


@serial_kernel
def adam_range(param, grad, m, v, lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,
               weight_decay, start, stop):
    """Adam on ``param[start:stop]`` with the bias-corrected step size ``lr_t``."""
    p = param[start:stop]
    gr = grad[start:stop]
    ms = m[start:stop]
    vs = v[start:stop]
    for i in range(p.shape[0]):
        g = gr[i] + weight_decay * p[i]
        mi = beta1 * ms[i] + one_minus_beta1 * g
        vi = beta2 * vs[i] + one_minus_beta2 * (g * g)
        ms[i] = mi
        vs[i] = vi
        p[i] -= lr_t * mi / (np.sqrt(vi) + eps)


@kernel
def _sgd_update(param, grad, lr, weight_decay):
    n = param.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        sgd_range(param, grad, lr, weight_decay, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def _momentum_update(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    n = param.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        momentum_range(param, grad, velocity, lr, momentum, nesterov, weight_decay,
                       c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def _adam_update(param, grad, m, v, lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay):
    n = param.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        adam_range(param, grad, m, v, lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,
                   weight_decay, c * CHUNK, min(n, (c + 1) * CHUNK))


def _flat(arr):
    return arr.reshape(-1)  # a view: the validators guarantee C-contiguity


def sgd_update(param, grad, lr, weight_decay=0.0):
    """Plain SGD step, in place: ``param -= lr * (grad + weight_decay * param)``.

    Parameters
    ----------
    param : ndarray, shape (n_in, n_out) or (n_out,)
        Updated in place (C-contiguous, writeable, float32/float64).
    grad : array_like, same shape and dtype as ``param``
    lr : float, >= 0
    weight_decay : float, >= 0
        L2 penalty coefficient.

    Returns
    -------
    param : ndarray
        The same array, updated.
    """
    args = _checks.sgd_args(param, grad, lr, weight_decay)
    t = args.param.dtype.type
    _sgd_update.pick(config.use_parallel(args.param.size))(
        _flat(args.param), _flat(args.grad), t(args.lr), t(args.weight_decay)
    )
    return args.param


def momentum_update(param, grad, velocity, lr, momentum, nesterov=False, weight_decay=0.0):
    """SGD with (Nesterov) momentum, in place on ``param`` and ``velocity``.

    Parameters
    ----------
    param : ndarray, shape (n_in, n_out) or (n_out,)
    grad : array_like, same shape and dtype
    velocity : ndarray, same shape and dtype
        Momentum buffer (start at zeros), updated in place.
    lr : float, >= 0
    momentum : float, in [0, 1)
    nesterov : bool
    weight_decay : float, >= 0

    Returns
    -------
    param : ndarray
    """
    args = _checks.momentum_args(param, grad, velocity, lr, momentum, nesterov, weight_decay)
    t = args.param.dtype.type
    _momentum_update.pick(config.use_parallel(args.param.size))(
        _flat(args.param), _flat(args.grad), _flat(args.velocity),
        t(args.lr), t(args.momentum), args.nesterov, t(args.weight_decay),
    )
    return args.param


def adam_update(param, grad, m, v, step, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """One Adam step, in place on ``param``, ``m`` and ``v``.

    Parameters
    ----------
    param : ndarray, shape (n_in, n_out) or (n_out,)
    grad : array_like, same shape and dtype
    m, v : ndarray, same shape and dtype
        First and second moment estimates (start at zeros), updated in place.
    step : int, >= 1
        The number of this update, counting from 1 (bias correction).
    lr : float, >= 0
    beta1, beta2 : float, in [0, 1)
    eps : float, > 0
    weight_decay : float, >= 0

    Returns
    -------
    param : ndarray
    """
    args = _checks.adam_args(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay)
    t = args.param.dtype.type
    lr_t = args.lr * math.sqrt(1.0 - args.beta2 ** args.step) / (1.0 - args.beta1 ** args.step)
    _adam_update.pick(config.use_parallel(args.param.size))(
        _flat(args.param), _flat(args.grad), _flat(args.m), _flat(args.v),
        t(lr_t), t(args.beta1), t(1.0 - args.beta1), t(args.beta2), t(1.0 - args.beta2),
        t(args.eps), t(args.weight_decay),
    )
    return args.param
