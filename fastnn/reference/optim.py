"""Optimizer updates in plain NumPy: SGD, momentum (optionally Nesterov), Adam.

Every update works IN PLACE on ``param`` and on the optimizer state
(``velocity``, ``m``, ``v``) and returns ``param``.  Weight decay is coupled
L2 regularisation: the gradient becomes ``g = grad + weight_decay * param``
before anything else.

The validators return hyper-parameters as Python floats; NumPy treats those
as "weak" scalars, so a float32 parameter stays float32.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn import _checks


def sgd_update(param, grad, lr, weight_decay=0.0):
    """Plain gradient descent step: ``param -= lr * g`` with ``g = grad + weight_decay * param``.

    Parameters
    ----------
    param : numpy.ndarray, shape (d,) or (d, k)
        Parameters, float32 or float64, updated in place.
    grad : array_like, shape of ``param``
        Gradient ``dL/dparam``, same dtype.
    lr : float
        Learning rate, >= 0.
    weight_decay : float, default 0.0
        L2 coefficient, >= 0.

    Returns
    -------
    param : numpy.ndarray
        The same array, updated.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.sgd_args`: ``param`` not a writeable
        C-contiguous float array, ``grad`` of another shape or dtype or
        overlapping ``param``, or a hyper-parameter that is not a finite
        number in range.
    """
    args = _checks.sgd_args(param, grad, lr, weight_decay)
    param = args.param
    g = args.grad + args.weight_decay * param
    param -= args.lr * g
    return param


def momentum_update(param, grad, velocity, lr, momentum, nesterov=False, weight_decay=0.0):
    """Momentum step (scikit-learn / Keras convention), optionally Nesterov.

    With ``g = grad + weight_decay * param``::

        velocity = momentum * velocity - lr * g
        param   += velocity                            # classical momentum
        param   += momentum * velocity - lr * g        # nesterov=True

    The Nesterov form evaluates the step at the look-ahead point, written
    with the gradient at the current ``param``.

    Parameters
    ----------
    param : numpy.ndarray, shape (d,) or (d, k)
        Parameters, float32 or float64, updated in place.
    grad : array_like, shape of ``param``
        Gradient ``dL/dparam``, same dtype.
    velocity : numpy.ndarray, shape of ``param``
        Velocity state (zeros before the first step), same dtype, updated in place.
    lr : float
        Learning rate, >= 0.
    momentum : float
        Momentum coefficient in [0, 1).
    nesterov : bool, default False
        Use Nesterov's accelerated gradient.
    weight_decay : float, default 0.0
        L2 coefficient, >= 0.

    Returns
    -------
    param : numpy.ndarray
        The same array, updated.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.momentum_args`: as :func:`sgd_update`,
        plus ``velocity`` not a writeable C-contiguous array of the shape and
        dtype of ``param`` or overlapping it, ``momentum`` outside [0, 1),
        or a non-bool ``nesterov``.
    """
    args = _checks.momentum_args(param, grad, velocity, lr, momentum, nesterov, weight_decay)
    param, velocity = args.param, args.velocity
    g = args.grad + args.weight_decay * param
    velocity[...] = args.momentum * velocity - args.lr * g
    if args.nesterov:
        param += args.momentum * velocity - args.lr * g
    else:
        param += velocity
    return param


def adam_update(param, grad, m, v, step, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam step (Kingma & Ba, in the scikit-learn / Keras form).

    With ``g = grad + weight_decay * param`` and ``t = step``::

        m = beta1 * m + (1 - beta1) * g          # running mean of g
        v = beta2 * v + (1 - beta2) * g**2       # running mean of g**2
        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        param -= lr_t * m / (sqrt(v) + eps)

    ``lr_t`` folds the bias corrections of ``m`` and ``v`` (both start at 0)
    into the step size.

    Parameters
    ----------
    param : numpy.ndarray, shape (d,) or (d, k)
        Parameters, float32 or float64, updated in place.
    grad : array_like, shape of ``param``
        Gradient ``dL/dparam``, same dtype.
    m, v : numpy.ndarray, shape of ``param``
        First and second moment estimates (zeros before the first step),
        same dtype, updated in place.
    step : int
        Number of this update, counting from 1.
    lr : float, default 0.001
        Learning rate, >= 0.
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of ``m`` and ``v``, in [0, 1).
    eps : float, default 1e-8
        Added to ``sqrt(v)`` to avoid dividing by zero, > 0.
    weight_decay : float, default 0.0
        L2 coefficient, >= 0.

    Returns
    -------
    param : numpy.ndarray
        The same array, updated.

    Raises
    ------
    TypeError, ValueError
        From :func:`fastnn._checks.adam_args`: as :func:`sgd_update`, plus
        ``m``/``v`` not writeable C-contiguous arrays of the shape and dtype
        of ``param`` or overlapping it or each other, ``step`` not an
        integer >= 1, betas outside [0, 1), or ``eps`` <= 0.
    """
    args = _checks.adam_args(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay)
    param, m, v = args.param, args.m, args.v
    beta1, beta2, t = args.beta1, args.beta2, args.step
    g = args.grad + args.weight_decay * param
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g**2
    # A Python float (computed in double precision): NumPy keeps param's dtype.
    lr_t = args.lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    param -= lr_t * m / (np.sqrt(v) + args.eps)
    return param
