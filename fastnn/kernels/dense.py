"""Dense-layer kernels: forward (matmul + bias + activation fused) and backward.

Every parallel loop owns the outputs it writes, so there are no races and
every sum runs in a fixed order: results do not depend on the thread count.

- forward: parallel over samples; each output row starts at ``b`` and
  accumulates ``x[i, p] * w[p, :]`` for p = 0..d-1 (a contiguous, vectorisable
  inner loop), then the activation is applied to the row while it is in cache.
- backward: ``delta = grad_a * f'(a)`` (parallel over samples),
  ``grad_w = x.T @ delta`` (parallel over rows of ``grad_w``, i.e. input
  features), ``grad_b = delta.sum(0)`` (serial, vectorised over columns),
  ``grad_x = delta @ w.T`` (parallel over samples).

Reference twin: :mod:`fastnn.reference.dense`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fastnn import _checks, config
from fastnn.kernels._jit import kernel
from fastnn.kernels.activations import activate_row, activation_backward_row


@kernel
def _dense_forward(x, w, b, out, code):
    n, d = x.shape
    k = w.shape[1]
    for i in prange(n):
        row = out[i]
        for j in range(k):
            row[j] = b[j]
        for p in range(d):
            xv = x[i, p]
            for j in range(k):
                row[j] += xv * w[p, j]
        activate_row(row, row, code)


@kernel
def _dense_backward(x, w, a, grad_a, code, delta, grad_w, grad_b, grad_x, compute_grad_x):
    n, d = x.shape
    k = w.shape[1]
    zero = delta.dtype.type(0.0)
    for i in prange(n):
        activation_backward_row(a[i], grad_a[i], delta[i], code)
    for p in prange(d):
        gw = grad_w[p]
        for j in range(k):
            gw[j] = zero
        for i in range(n):
            xv = x[i, p]
            for j in range(k):
                gw[j] += xv * delta[i, j]
    for j in range(k):
        grad_b[j] = zero
    for i in range(n):
        for j in range(k):
            grad_b[j] += delta[i, j]
    if compute_grad_x:
        for i in prange(n):
            for p in range(d):
                s = zero
                for j in range(k):
                    s += delta[i, j] * w[p, j]
                grad_x[i, p] = s


def dense_forward(x, w, b, activation, out=None):
    """Forward pass of a dense layer: ``out = f(x @ w + b)``.

    Parameters
    ----------
    x : array_like, shape (n_samples, n_in)
    w : array_like, shape (n_in, n_out)
    b : array_like, shape (n_out,)
    activation : str
        A name from :data:`fastnn.activations.ACTIVATIONS`.
    out : ndarray, shape (n_samples, n_out), optional
        Preallocated output (same dtype, C-contiguous, not overlapping the inputs).

    Returns
    -------
    out : ndarray, shape (n_samples, n_out)

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Shapes that do not chain (the message gives the shapes), bad ``out``.
    """
    args = _checks.dense_forward_args(x, w, b, activation, out)
    n, d = args.x.shape
    work = n * d * args.w.shape[1]
    _dense_forward.pick(config.use_parallel(work) and n > 1)(args.x, args.w, args.b, args.out, args.code)
    return args.out


def dense_backward(x, w, a, grad_a, activation, grad_w=None, grad_b=None, grad_x=None, compute_grad_x=True):
    """Backward pass of a dense layer ``a = f(x @ w + b)``.

    Parameters
    ----------
    x : array_like, shape (n_samples, n_in)
        The layer's input.
    w : array_like, shape (n_in, n_out)
    a : array_like, shape (n_samples, n_out)
        The layer's output ``f(x @ w + b)``.
    grad_a : array_like, shape (n_samples, n_out)
        Upstream gradient ``dL/da``.  For a cross-entropy output layer pass the
        fused ``dL/dz`` from :func:`fastnn.kernels.output_delta` with
        ``activation="identity"``.
    activation : str
        The layer's activation.
    grad_w, grad_b, grad_x : ndarray, optional
        Preallocated outputs of shapes (n_in, n_out), (n_out,), (n_samples, n_in).
    compute_grad_x : bool, default True
        Skip ``grad_x`` (e.g. for the first layer).

    Returns
    -------
    grad_w : ndarray, shape (n_in, n_out)
        ``x.T @ delta`` with ``delta = dL/dz``.
    grad_b : ndarray, shape (n_out,)
        ``delta.sum(axis=0)``.
    grad_x : ndarray, shape (n_samples, n_in), or None
        ``delta @ w.T``, or None when ``compute_grad_x`` is False.
    """
    args = _checks.dense_backward_args(x, w, a, grad_a, activation, grad_w, grad_b, grad_x, compute_grad_x)
    n, d = args.x.shape
    k = args.w.shape[1]
    delta = np.empty((n, k), dtype=args.x.dtype)
    grad_x_buf = args.grad_x if args.grad_x is not None else np.empty((0, 0), dtype=args.x.dtype)
    _dense_backward.pick(config.use_parallel(n * d * k))(
        args.x, args.w, args.a, args.grad_a, args.code, delta,
        args.grad_w, args.grad_b, grad_x_buf, args.grad_x is not None,
    )
    return args.grad_w, args.grad_b, args.grad_x
