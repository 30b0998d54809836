"""Activation kernels: forward, elementwise derivative, and backward (vector-Jacobian product).

Row helpers (``activate_row``, ``activation_backward_row``) do the work on one
sample; the array kernels run them over rows, in parallel over samples when
the array is large.  The dense and loss kernels and the fused training loops
call the row helpers directly, so there is one implementation of each formula.

The activation is chosen by its integer code from :mod:`fastnn.activations`:
one ``if`` per row, the loop inside each branch stays branch-free and
vectorisable.  Constants are made with ``dtype.type(...)`` so float32 math
stays float32 (a bare ``1.0`` would promote it to float64).

Reference twin: :mod:`fastnn.reference.activations`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fastnn import _checks, config
from fastnn.activations import EXP, IDENTITY, RELU, SIGMOID, SOFTMAX, TANH
from fastnn.kernels import vmath
from fastnn.kernels._jit import kernel, serial_kernel


# --------------------------------------------------------------------------
# row helpers (called from other kernels)
# --------------------------------------------------------------------------

@serial_kernel
def activate_row(z, out, code):
    """``out = f(z)`` for one row; ``out`` may be ``z`` (in place)."""
    zero = out.dtype.type(0.0)
    one = out.dtype.type(1.0)
    k = z.shape[0]
    if code == IDENTITY:
        for j in range(k):
            out[j] = z[j]
    elif code == RELU:
        for j in range(k):
            v = z[j]
            out[j] = zero if v < zero else v  # NaN stays NaN, as np.maximum
    elif code == SIGMOID:
        for j in range(k):
            v = z[j]
            # exp(-|z|) never overflows; the reference's formula, as a select (docs/design.md, "Row helpers")
            e = vmath.exp(-abs(v))
            out[j] = (one if v >= zero else e) / (one + e)
    elif code == TANH:
        for j in range(k):
            out[j] = vmath.tanh(z[j])
    elif code == EXP:
        for j in range(k):
            out[j] = vmath.exp(z[j])
    else:  # SOFTMAX: subtract the row max so exp never overflows
        m = z[0]
        for j in range(1, k):
            if z[j] > m:
                m = z[j]
        for j in range(k):  # the exps alone: this loop vectorises (with the sum in it, it could not)
            out[j] = vmath.exp(z[j] - m)
        s = zero
        for j in range(k):  # the same additions in the same order as one fused loop
            s += out[j]
        for j in range(k):
            out[j] = out[j] / s


@serial_kernel
def activation_derivative_row(a, out, code):
    """``out = f'(z)`` written with the output ``a``, for an elementwise activation."""
    zero = out.dtype.type(0.0)
    one = out.dtype.type(1.0)
    k = a.shape[0]
    if code == IDENTITY:
        for j in range(k):
            out[j] = one
    elif code == RELU:
        for j in range(k):
            out[j] = one if a[j] > zero else zero
    elif code == SIGMOID:
        for j in range(k):
            out[j] = a[j] * (one - a[j])
    elif code == TANH:
        for j in range(k):
            out[j] = one - a[j] * a[j]
    else:  # EXP: the derivative is the output itself
        for j in range(k):
            out[j] = a[j]


@serial_kernel
def activation_backward_row(a, grad_a, out, code):
    """``out = dL/dz`` from ``dL/da`` for one row; ``out`` may be ``grad_a`` or ``a``."""
    zero = out.dtype.type(0.0)
    one = out.dtype.type(1.0)
    k = a.shape[0]
    if code == IDENTITY:
        for j in range(k):
            out[j] = grad_a[j]
    elif code == RELU:
        for j in range(k):
            out[j] = grad_a[j] * (one if a[j] > zero else zero)
    elif code == SIGMOID:
        for j in range(k):
            out[j] = grad_a[j] * (a[j] * (one - a[j]))
    elif code == TANH:
        for j in range(k):
            out[j] = grad_a[j] * (one - a[j] * a[j])
    elif code == EXP:
        for j in range(k):
            out[j] = grad_a[j] * a[j]
    else:  # SOFTMAX: J^T g = a * (g - <g, a>)
        s = zero
        for j in range(k):
            s += grad_a[j] * a[j]
        for j in range(k):
            out[j] = a[j] * (grad_a[j] - s)


@serial_kernel
def activate_block(z, nb, k, code):
    """Apply activation ``code`` in place to ``z``, an (nb, k) row-major block stored flat.

    Elementwise activations run over the whole block in one loop (one
    branch per block, not per row: a row of a narrow layer is a handful of
    elements); softmax runs per row, by index, without per-row array views.
    """
    if code != SOFTMAX:
        activate_row(z, z, code)
        return
    zero = z.dtype.type(0.0)
    for i in range(nb):
        base = i * k
        m = z[base]
        for j in range(base + 1, base + k):
            if z[j] > m:
                m = z[j]
        for j in range(base, base + k):  # the exps alone vectorise (see activate_row)
            z[j] = vmath.exp(z[j] - m)
        s = zero
        for j in range(base, base + k):
            s += z[j]
        for j in range(base, base + k):
            z[j] = z[j] / s


@serial_kernel
def activation_backward_block(a, g, nb, k, code):
    """Turn ``g`` (dL/da) into dL/dz in place; ``a`` and ``g`` are (nb, k) row-major blocks stored flat.

    The block twin of :func:`activation_backward_row`: one loop over the
    whole block for elementwise activations, softmax per row by index.
    """
    if code != SOFTMAX:
        activation_backward_row(a, g, g, code)
        return
    zero = g.dtype.type(0.0)
    for i in range(nb):
        base = i * k
        s = zero
        for j in range(base, base + k):
            s += g[j] * a[j]
        for j in range(base, base + k):
            g[j] = a[j] * (g[j] - s)


# --------------------------------------------------------------------------
# array kernels: parallel over rows
# --------------------------------------------------------------------------

@kernel
def _activation_forward(z, out, code):
    for i in prange(z.shape[0]):
        activate_row(z[i], out[i], code)


@kernel
def _activation_derivative(a, out, code):
    for i in prange(a.shape[0]):
        activation_derivative_row(a[i], out[i], code)


@kernel
def _activation_backward(a, grad_a, out, code):
    for i in prange(a.shape[0]):
        activation_backward_row(a[i], grad_a[i], out[i], code)


# --------------------------------------------------------------------------
# public wrappers: validate, then pick a build
# --------------------------------------------------------------------------

def activation_forward(z, activation, out=None):
    """Apply an activation: ``a = f(z)``.

    Parameters
    ----------
    z : array_like, shape (n, k) or (k,)
        Pre-activations, float32 or float64.  A 1-D array is one row.
    activation : str
        A name from :data:`fastnn.activations.ACTIVATIONS`.  ``softmax`` is
        taken over each row.
    out : ndarray, optional
        Output of ``z``'s shape and dtype; may be ``z`` itself.

    Returns
    -------
    a : ndarray, same shape and dtype as ``z``

    Raises
    ------
    TypeError, ValueError
        Bad dtype, shape, activation name or ``out`` (see :mod:`fastnn._checks`).
    """
    args = _checks.activation_args("z", z, activation, out)
    _activation_forward.pick(config.use_parallel(args.a.size))(args.a, args.out, args.code)
    return args.result


def activation_derivative(a, activation, out=None):
    """Elementwise derivative ``f'(z)`` written with the output ``a = f(z)``.

    Parameters
    ----------
    a : array_like, shape (n, k) or (k,)
        Activation outputs.
    activation : str
        An elementwise activation (identity, relu, sigmoid, tanh, exp); softmax's
        derivative is a Jacobian, see :func:`activation_backward`.
    out : ndarray, optional
        Output of ``a``'s shape and dtype; may be ``a`` itself.

    Returns
    -------
    d : ndarray, same shape and dtype as ``a``
        identity: 1; relu: ``a > 0``; sigmoid: ``a (1 - a)``; tanh: ``1 - a**2``; exp: ``a``.
    """
    args = _checks.activation_args("a", a, activation, out, elementwise_only=True)
    _activation_derivative.pick(config.use_parallel(args.a.size))(args.a, args.out, args.code)
    return args.result


def activation_backward(a, grad_a, activation, out=None):
    """Back-propagate through an activation: ``dL/dz`` from ``dL/da``.

    Parameters
    ----------
    a : array_like, shape (n, k) or (k,)
        Activation outputs ``f(z)``.
    grad_a : array_like, same shape as ``a``
        Upstream gradient ``dL/da``.
    activation : str
        A registry name.
    out : ndarray, optional
        Output of ``a``'s shape and dtype; may be ``grad_a`` itself.

    Returns
    -------
    grad_z : ndarray, same shape and dtype as ``a``
        ``grad_a * f'(a)`` elementwise; for softmax, per row,
        ``a * (grad_a - sum(grad_a * a))``.
    """
    args = _checks.activation_args("a", a, activation, out, grad=grad_a)
    _activation_backward.pick(config.use_parallel(args.a.size))(args.a, args.grad, args.out, args.code)
    return args.result
