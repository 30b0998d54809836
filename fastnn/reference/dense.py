"""A fully connected (dense) layer in plain NumPy: ``a = f(x @ w + b)`` and its gradients."""

from __future__ import annotations

from fastnn import _checks
from fastnn.reference.activations import _backward, _forward


def dense_forward(x, w, b, activation, out=None):
    """Forward pass of a dense layer: ``out = f(x @ w + b)``.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Input rows (n samples, d features), float32 or float64.
    w : array_like, shape (d, k)
        Weights, same dtype as ``x``.
    b : array_like, shape (k,)
        Biases, same dtype as ``x``.
    activation : str
        A name from :data:`fastnn.activations.ACTIVATIONS` (or an alias).
    out : numpy.ndarray, shape (n, k), optional
        Where to write the activations; must not overlap ``x``, ``w`` or
        ``b``.  Allocated when None.

    Returns
    -------
    out : numpy.ndarray, shape (n, k)
        The layer's activations ``a``, same dtype as ``x``.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.dense_forward_args`: unknown activation,
        non-float or mixed dtypes, inconsistent shapes, or a bad ``out``.
    """
    args = _checks.dense_forward_args(x, w, b, activation, out)
    z = args.x @ args.w + args.b  # b broadcasts over the rows
    args.out[...] = _forward(z, args.code)
    return args.out


def dense_backward(x, w, a, grad_a, activation, grad_w=None, grad_b=None, grad_x=None, compute_grad_x=True):
    """Backward pass of a dense layer ``a = f(x @ w + b)``.

    With ``delta = dL/dz`` computed from ``a`` and ``grad_a`` exactly as
    :func:`fastnn.reference.activation_backward` does, the chain rule through
    ``z = x @ w + b`` gives::

        grad_w = x.T @ delta          # dL/dw
        grad_b = delta.sum(axis=0)    # dL/db: b is added to every row
        grad_x = delta @ w.T          # dL/dx, passed on to the previous layer

    Parameters
    ----------
    x : array_like, shape (n, d)
        The layer's input in the forward pass, float32 or float64.
    w : array_like, shape (d, k)
        Weights, same dtype as ``x``.  (``b`` does not enter the gradients.)
    a : array_like, shape (n, k)
        The layer's output ``f(x @ w + b)``.
    grad_a : array_like, shape (n, k)
        Upstream gradient ``dL/da``.
    activation : str
        The activation used in the forward pass.
    grad_w : numpy.ndarray, shape (d, k), optional
        Where to write ``dL/dw``.  Allocated when None.
    grad_b : numpy.ndarray, shape (k,), optional
        Where to write ``dL/db``.  Allocated when None.
    grad_x : numpy.ndarray, shape (n, d), optional
        Where to write ``dL/dx``.  Allocated when None and ``compute_grad_x``.
    compute_grad_x : bool, default True
        False skips ``dL/dx`` (the first layer does not need it).

    Returns
    -------
    grad_w : numpy.ndarray, shape (d, k)
    grad_b : numpy.ndarray, shape (k,)
    grad_x : numpy.ndarray, shape (n, d), or None when ``compute_grad_x`` is False

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.dense_backward_args`: unknown activation,
        non-float or mixed dtypes, inconsistent shapes, a non-bool
        ``compute_grad_x``, ``grad_x`` given with ``compute_grad_x=False``,
        or output arrays of the wrong shape/dtype or overlapping each other
        or an input.
    """
    args = _checks.dense_backward_args(x, w, a, grad_a, activation, grad_w, grad_b, grad_x, compute_grad_x)
    delta = _backward(args.a, args.grad_a, args.code)  # dL/dz, shape (n, k)
    args.grad_w[...] = args.x.T @ delta
    args.grad_b[...] = delta.sum(axis=0)
    if args.grad_x is not None:
        args.grad_x[...] = delta @ args.w.T
    return args.grad_w, args.grad_b, args.grad_x
