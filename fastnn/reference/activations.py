"""Activation functions in plain NumPy: forward pass, derivative, backward pass.

Derivatives are written with the activation *output* ``a = f(z)`` (see
:mod:`fastnn.activations`), so a network only has to keep the activations of
its forward pass.  Every array is processed as rows of shape ``(n, k)``;
softmax normalises each row.
"""

from __future__ import annotations

import numpy as np

from fastnn import _checks
from fastnn.activations import EXP, IDENTITY, RELU, SIGMOID, SOFTMAX, TANH


# --------------------------------------------------------------------------
# the formulas (private: they take validated 2-D arrays and an integer code)
# --------------------------------------------------------------------------

def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-z)) overflows for z << 0.  With e = exp(-|z|) <= 1 both
    # branches only ever see a small exponential:
    #   z >= 0:  1 / (1 + exp(-z))
    #   z <  0:  exp(z) / (1 + exp(z))   (the same value, multiplied by exp(z)/exp(z))
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    # Subtracting the row maximum changes nothing mathematically (it cancels
    # between numerator and denominator) but keeps every exponent <= 0, so
    # exp cannot overflow and the row sum is >= 1.
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(z: np.ndarray, code: int) -> np.ndarray:
    """Return ``f(z)`` for the activation with integer ``code``.

    The identity returns ``z`` itself: callers copy the result into their
    output array anyway.
    """
    if code == IDENTITY:
        return z
    if code == RELU:
        return np.maximum(z, 0)
    if code == SIGMOID:
        return _sigmoid(z)
    if code == TANH:
        return np.tanh(z)
    if code == SOFTMAX:
        return _softmax(z)
    if code == EXP:
        # exp overflows to inf above ~709 (float64) / ~88 (float32), as in the
        # kernels; that is the true value's limit, not an error to warn about.
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise AssertionError(f"unhandled activation code {code}")  # pragma: no cover


def _derivative(a: np.ndarray, code: int) -> np.ndarray:
    """Return ``f'(z)`` written with the output ``a`` (elementwise activations only)."""
    if code == IDENTITY:
        return np.ones_like(a)
    if code == RELU:
        # The kink at z = 0 gets derivative 0 (a == 0 there), as in scikit-learn.
        return (a > 0).astype(a.dtype)
    if code == SIGMOID:
        return a * (1 - a)
    if code == TANH:
        return 1 - a * a
    if code == EXP:
        return a.copy()  # d exp(z) / dz = exp(z) = a
    raise AssertionError(f"activation code {code} has no elementwise derivative")  # pragma: no cover


def _backward(a: np.ndarray, grad_a: np.ndarray, code: int) -> np.ndarray:
    """Return ``dL/dz`` from the output ``a`` and the upstream gradient ``dL/da``.

    Shared with :func:`fastnn.reference.dense.dense_backward`.
    """
    if code == SOFTMAX:
        # The softmax Jacobian of one row is J = diag(a) - a a^T.  It is
        # symmetric, so dL/dz = J @ grad_a = a * grad_a - a * (a . grad_a):
        # a Jacobian-vector product that never builds the k x k matrix.
        return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))
    # Elementwise activations have a diagonal Jacobian: the chain rule is a product.
    return grad_a * _derivative(a, code)


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

def activation_forward(z, activation, out=None):
    """Apply an activation function: ``a = f(z)``.

    ======== =========================================================
    identity ``a = z``
    relu     ``a = max(z, 0)``
    sigmoid  ``a = 1 / (1 + exp(-z))``, evaluated as ``1 / (1 + e)``
             for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0`` with
             ``e = exp(-|z|)`` so that no exponential overflows
    tanh     ``a = tanh(z)``
    exp      ``a = exp(z)`` (overflows to inf for large ``z``, as it must)
    softmax  row-wise ``a_j = exp(z_j - m) / sum_i exp(z_i - m)`` with
             ``m`` the row maximum
    ======== =========================================================

    Parameters
    ----------
    z : array_like, shape (n, k) or (k,)
        Pre-activations, float32 or float64.  A 1-D array is one row.
    activation : str
        A name from :data:`fastnn.activations.ACTIVATIONS` (or an alias).
    out : numpy.ndarray, shape of ``z``, optional
        Where to write the result; same dtype as ``z``.  May be ``z`` itself
        (in place).  Allocated when None.

    Returns
    -------
    a : numpy.ndarray, shape and dtype of ``z``
        The activations (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.activation_args`: unknown activation,
        non-float or mixed dtypes, wrong ndim, zero columns, or an ``out``
        of the wrong shape/dtype, not writeable, not C-contiguous, or
        partially overlapping ``z``.
    """
    args = _checks.activation_args("z", z, activation, out)
    args.out[...] = _forward(args.a, args.code)
    return args.result


def activation_derivative(a, activation, out=None):
    """Derivative ``f'(z)`` of an elementwise activation, written with its output ``a``.

    ======== ===========================
    identity ``1``
    relu     ``1 if a > 0 else 0``
    sigmoid  ``a (1 - a)``
    tanh     ``1 - a**2``
    exp      ``a``
    ======== ===========================

    Parameters
    ----------
    a : array_like, shape (n, k) or (k,)
        Activations ``f(z)``, float32 or float64.
    activation : str
        An elementwise activation name (not ``"softmax"``).
    out : numpy.ndarray, shape of ``a``, optional
        Where to write the result; may be ``a`` itself.  Allocated when None.

    Returns
    -------
    d : numpy.ndarray, shape and dtype of ``a``
        ``f'(z)`` elementwise (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.activation_args` with
        ``elementwise_only=True``: as :func:`activation_forward`, and
        ``ValueError`` for ``"softmax"``, whose Jacobian is not diagonal
        (use :func:`activation_backward`).
    """
    args = _checks.activation_args("a", a, activation, out, elementwise_only=True)
    args.out[...] = _derivative(args.a, args.code)
    return args.result


def activation_backward(a, grad_a, activation, out=None):
    """Back-propagate through an activation: ``dL/dz`` from ``dL/da``.

    Elementwise activations: ``grad_z = grad_a * f'(z)`` (see
    :func:`activation_derivative`).  Softmax, row by row:
    ``grad_z = a * (grad_a - sum_j(grad_a_j * a_j))``, the product of the
    Jacobian ``diag(a) - a a^T`` with ``grad_a``.

    Parameters
    ----------
    a : array_like, shape (n, k) or (k,)
        Activations ``f(z)`` of the forward pass, float32 or float64.
    grad_a : array_like, shape of ``a``
        Upstream gradient ``dL/da``, same dtype as ``a``.
    activation : str
        A name from :data:`fastnn.activations.ACTIVATIONS` (or an alias).
    out : numpy.ndarray, shape of ``a``, optional
        Where to write the result; may be ``a`` or ``grad_a`` itself.
        Allocated when None.

    Returns
    -------
    grad_z : numpy.ndarray, shape and dtype of ``a``
        ``dL/dz`` (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.activation_args`: as
        :func:`activation_forward`, plus ``grad_a`` of another shape or dtype.
    """
    args = _checks.activation_args("a", a, activation, out, grad=grad_a)
    args.out[...] = _backward(args.a, args.grad, args.code)
    return args.result
