"""Loss functions and their gradients in plain NumPy.

``p`` is the prediction ``y_pred``, ``y`` the target ``y_true``, ``N`` the
number of elements and ``n`` the number of rows (a 1-D array is one row).
Loss values are returned as a NumPy scalar of the input dtype.

Cross-entropy is fused with its output activation (see :mod:`fastnn.losses`):
its ``*_delta`` functions return ``dL/dz`` for the output layer's
pre-activation ``z``, not ``dL/dp``.
"""

from __future__ import annotations

import numpy as np

from fastnn import _checks
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, loss_spec
from fastnn.reference.activations import activation_backward


def _clip_probabilities(p: np.ndarray) -> np.ndarray:
    # log(0) = -inf: clip p to [eps, 1 - eps], eps the machine epsilon of the
    # dtype (as scikit-learn does), so predictions of exactly 0 or 1 give a
    # large but finite loss.  np.finfo(...).eps has the array's dtype, so
    # float32 stays float32.
    eps = np.finfo(p.dtype).eps
    return np.clip(p, eps, 1 - eps)


def mse_loss(y_pred, y_true):
    """Mean squared error: ``L = mean((p - y)**2)`` over all elements.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Predictions, float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets, same dtype.

    Returns
    -------
    loss : numpy.float32 or numpy.float64
        Scalar of the input dtype.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args`: non-float or mixed dtypes,
        different shapes, wrong ndim, or empty arrays.
    """
    args = _checks.loss_args(y_pred, y_true)
    p, y = args.y_pred, args.y_true
    return p.dtype.type(np.mean((p - y) ** 2))


def mse_grad(y_pred, y_true, out=None):
    """Gradient of :func:`mse_loss` with respect to the predictions: ``dL/dp = 2 (p - y) / N``.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Predictions, float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets, same dtype.
    out : numpy.ndarray, shape of ``y_pred``, optional
        Where to write the gradient; may be ``y_pred`` or ``y_true`` itself.
        Allocated when None.

    Returns
    -------
    grad : numpy.ndarray, shape and dtype of ``y_pred``
        ``dL/dp`` (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args` (``want_out=True``): as
        :func:`mse_loss`, plus a bad ``out``.
    """
    args = _checks.loss_args(y_pred, y_true, out, want_out=True)
    p, y = args.y_pred, args.y_true
    args.out[...] = 2 * (p - y) / p.size
    return args.result


def binary_crossentropy_loss(y_pred, y_true):
    """Binary cross-entropy: ``L = -mean(y log(pc) + (1 - y) log(1 - pc))``.

    ``pc = clip(p, eps, 1 - eps)`` with ``eps = np.finfo(dtype).eps``; the
    mean runs over all elements (each column is an independent binary label).

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Predicted probabilities (sigmoid outputs), float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets in [0, 1], same dtype.

    Returns
    -------
    loss : numpy.float32 or numpy.float64
        Scalar of the input dtype.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args`, as :func:`mse_loss`.
    """
    args = _checks.loss_args(y_pred, y_true)
    y = args.y_true
    pc = _clip_probabilities(args.y_pred)
    return y.dtype.type(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))


def binary_crossentropy_delta(y_pred, y_true, out=None):
    """Gradient of :func:`binary_crossentropy_loss` through a sigmoid output: ``dL/dz = (p - y) / N``.

    With ``p = sigmoid(z)``, ``dL/dp = (p - y) / (p (1 - p) N)`` and
    ``dp/dz = p (1 - p)``: the two ``p (1 - p)`` cancel, which is why the
    loss is fused with its output activation (no division by ``p (1 - p)``,
    which is 0 for saturated outputs).

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Sigmoid outputs ``p``, float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets, same dtype.
    out : numpy.ndarray, shape of ``y_pred``, optional
        Where to write ``dL/dz``; may be ``y_pred`` or ``y_true`` itself.
        Allocated when None.

    Returns
    -------
    delta : numpy.ndarray, shape and dtype of ``y_pred``
        ``dL/dz`` of the output layer (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args` (``want_out=True``), as
        :func:`mse_grad`.
    """
    args = _checks.loss_args(y_pred, y_true, out, want_out=True)
    p, y = args.y_pred, args.y_true
    args.out[...] = (p - y) / p.size
    return args.result


def categorical_crossentropy_loss(y_pred, y_true):
    """Categorical cross-entropy: ``L = -sum(y log(pc)) / n``.

    ``pc = clip(p, eps, 1 - eps)`` with ``eps = np.finfo(dtype).eps``; the sum
    runs over all elements and is averaged over the ``n`` rows (samples).

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Predicted class probabilities (softmax rows), float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets (one-hot or probability rows), same dtype.

    Returns
    -------
    loss : numpy.float32 or numpy.float64
        Scalar of the input dtype.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args`, as :func:`mse_loss`.
    """
    args = _checks.loss_args(y_pred, y_true)
    y = args.y_true
    n = y.shape[0]
    pc = _clip_probabilities(args.y_pred)
    return y.dtype.type(-np.sum(y * np.log(pc)) / n)


def categorical_crossentropy_delta(y_pred, y_true, out=None):
    """Gradient of :func:`categorical_crossentropy_loss` through a softmax output: ``dL/dz = (p - y) / n``.

    With ``p = softmax(z)`` row by row and rows of ``y`` summing to 1, the
    softmax Jacobian ``diag(p) - p p^T`` applied to ``dL/dp = -y / (p n)``
    simplifies to ``(p - y) / n``.

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Softmax outputs ``p``, float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets whose rows sum to 1, same dtype.
    out : numpy.ndarray, shape of ``y_pred``, optional
        Where to write ``dL/dz``; may be ``y_pred`` or ``y_true`` itself.
        Allocated when None.

    Returns
    -------
    delta : numpy.ndarray, shape and dtype of ``y_pred``
        ``dL/dz`` of the output layer (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.loss_args` (``want_out=True``), as
        :func:`mse_grad`.
    """
    args = _checks.loss_args(y_pred, y_true, out, want_out=True)
    p, y = args.y_pred, args.y_true
    n = p.shape[0]
    args.out[...] = (p - y) / n
    return args.result


def loss_value(y_pred, y_true, loss):
    """Value of the loss named ``loss`` (a name or alias from :data:`fastnn.losses.LOSSES`).

    Parameters
    ----------
    y_pred, y_true : array_like, same shape (n, k) or (k,)
        Predictions and targets, float32 or float64.
    loss : str
        ``"mse"``, ``"binary_crossentropy"`` or ``"categorical_crossentropy"``
        (or an alias).

    Returns
    -------
    loss : numpy.float32 or numpy.float64
        Scalar of the input dtype.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn.losses.loss_spec` for an unknown loss, then from
        :func:`fastnn._checks.loss_args`.
    """
    code = loss_spec(loss).code
    if code == MSE:
        return mse_loss(y_pred, y_true)
    if code == BINARY_CROSSENTROPY:
        return binary_crossentropy_loss(y_pred, y_true)
    if code == CATEGORICAL_CROSSENTROPY:
        return categorical_crossentropy_loss(y_pred, y_true)
    raise AssertionError(f"unhandled loss code {code}")  # pragma: no cover


def output_delta(y_pred, y_true, loss, activation, out=None):
    """``dL/dz`` of the output layer, whose activation output is ``y_pred``.

    ======================== =================================================
    mse                      ``activation_backward(p, mse_grad(p, y), activation)``
    binary_crossentropy      ``(p - y) / N``  (activation must be sigmoid)
    categorical_crossentropy ``(p - y) / n``  (activation must be softmax)
    ======================== =================================================

    Parameters
    ----------
    y_pred : array_like, shape (n, k) or (k,)
        Output-layer activations ``p``, float32 or float64.
    y_true : array_like, shape of ``y_pred``
        Targets, same dtype.
    loss : str
        A loss name or alias.
    activation : str
        The output layer's activation.
    out : numpy.ndarray, shape of ``y_pred``, optional
        Where to write ``dL/dz``; may be ``y_pred`` or ``y_true`` itself.
        Allocated when None.

    Returns
    -------
    delta : numpy.ndarray, shape and dtype of ``y_pred``
        ``dL/dz`` (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.output_delta_spec` for an unknown loss or
        activation or a cross-entropy loss paired with the wrong activation;
        then from :func:`fastnn._checks.loss_args` (``want_out=True``) for
        the arrays.
    """
    spec, _ = _checks.output_delta_spec(loss, activation)
    if spec.code == MSE:
        # Validate (and allocate out) as the cross-entropy branches do, so that
        # out is also checked against y_true, which activation_backward never sees.
        args = _checks.loss_args(y_pred, y_true, out, want_out=True)
        grad_p = mse_grad(args.y_pred, args.y_true)  # dL/dp
        activation_backward(args.y_pred, grad_p, activation, out=args.out)  # dL/dz = dL/dp * dp/dz
        return args.result
    if spec.code == BINARY_CROSSENTROPY:
        return binary_crossentropy_delta(y_pred, y_true, out=out)
    if spec.code == CATEGORICAL_CROSSENTROPY:
        return categorical_crossentropy_delta(y_pred, y_true, out=out)
    raise AssertionError(f"unhandled loss code {spec.code}")  # pragma: no cover
