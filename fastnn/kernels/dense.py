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
from fastnn.kernels._jit import kernel, opaque_kernel, serial_kernel
from fastnn.kernels.activations import activate_row, activation_backward_row


# --------------------------------------------------------------------------
# row helpers: one output row each, inlined into the fused loops too (docs/design.md, "Row helpers")
# --------------------------------------------------------------------------

@serial_kernel
def dense_forward_row(x_row, w, b, out_row, code):
    """``out_row = f(x_row @ w + b)``: start at ``b``, add ``x[p] * w[p, :]`` for p in order."""
    d, k = w.shape
    for j in range(k):
        out_row[j] = b[j]
    for p in range(d):
        xv = x_row[p]
        for j in range(k):
            out_row[j] += xv * w[p, j]
    activate_row(out_row, out_row, code)


@opaque_kernel
def matmul_into(a, b, out):
    """``out = a @ b`` through BLAS (``a``/``b`` C- or F-contiguous, ``out`` C-contiguous)."""
    np.dot(a, b, out)


@serial_kernel
def add_bias_rows(out, b):
    """``out[i, :] += b`` for every row of the (nb, k) block ``out`` (2-D indexing: no per-row views)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


@serial_kernel
def grad_w_row(x, delta, p, out_row):
    """Row ``p`` of ``x.T @ delta``: ``sum_i x[i, p] * delta[i, :]``, samples in order."""
    zero = out_row.dtype.type(0.0)
    k = delta.shape[1]
    for j in range(k):
        out_row[j] = zero
    for i in range(x.shape[0]):
        xv = x[i, p]
        for j in range(k):
            out_row[j] += xv * delta[i, j]


@serial_kernel
def grad_b_sum(delta, out):
    """``out = delta.sum(axis=0)``, samples in order (serial: O(n k), vectorised over columns)."""
    zero = out.dtype.type(0.0)
    k = delta.shape[1]
    for j in range(k):
        out[j] = zero
    for i in range(delta.shape[0]):
        for j in range(k):
            out[j] += delta[i, j]


@serial_kernel
def grad_x_row(delta_row, w, out_row):
    """One row of ``delta @ w.T``: ``out_row[p] = sum_j delta_row[j] * w[p, j]``."""
    d, k = w.shape
    zero = out_row.dtype.type(0.0)
    for p in range(d):
        s = zero
        for j in range(k):
            s += delta_row[j] * w[p, j]
        out_row[p] = s


# --------------------------------------------------------------------------
# array kernels
# --------------------------------------------------------------------------

@kernel
def _dense_forward(x, w, b, out, code):
    for i in prange(x.shape[0]):
        dense_forward_row(x[i], w, b, out[i], code)


@kernel
def _dense_backward(x, w, a, grad_a, code, delta, grad_w, grad_b, grad_x, compute_grad_x):
    n, d = x.shape
    for i in prange(n):
        activation_backward_row(a[i], grad_a[i], delta[i], code)
    for p in prange(d):
        grad_w_row(x, delta, p, grad_w[p])
    grad_b_sum(delta, grad_b)
    if compute_grad_x:
        for i in prange(n):
            grad_x_row(delta[i], w, grad_x[i])


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
