"""The seed workloads trained the way the tutorials train them: a few NumPy lines per epoch.

A new user who has read the seed tutorials writes the training loop out by
hand: a forward pass, the loss, the gradients, the update, all as NumPy
expressions on the network's own arrays.  This module holds that loop for each
seed workload of :mod:`fastnn.tools.workloads`, written the way the tutorials
write it, so that ``fastnn compare`` and the asv suite can time fastnn against
what it replaces (and check that fastnn's plain-NumPy reference is about as
lean as such a loop).

Each loop does the arithmetic of its workload, not the tutorial's quirks:

- the loss is fastnn's MSE, the mean of the squared errors over every
  element, and the gradient is its true gradient ``2 (p - y) / y.size``
  (seed 001 divides by the number of samples twice, seed 003 uses the
  gradient of half the MSE; the workloads' learning rates already account
  for that, see :mod:`fastnn.tools.demos`);
- full-batch gradient descent with the learning rate ``lr / (1 + decay *
  epoch)`` of epoch ``epoch`` (``decay`` is 0 except for ``house``);
- the loss of an epoch is measured before its update, as the tutorials
  print it.

Started from the same initial weights, a loop ends at fastnn's weights up to
rounding (the same steps, evaluated in a slightly different order).

=========  ======================  =======================================
workload   loop                    network
=========  ======================  =======================================
linear     :func:`linear_loop`     one neuron ``w x + b`` on 1-D arrays
xor        :func:`xor_loop`        2-4-1, sigmoid hidden and output
house      :func:`house_loop`      2-3-1, ReLU hidden, identity output
classify   :func:`classify_loop`   2-4-1, ReLU hidden, sigmoid output
=========  ======================  =======================================

Weights are lists ``[W1, b1, W2, b2]`` as :meth:`fastnn.Sequential.get_weights`
returns them: ``W`` of shape ``(n_in, n_out)``, ``b`` of shape ``(n_out,)``.
Every loop copies the weights it is given and returns the trained copies.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """The logistic function as the tutorials write it, ``1 / (1 + exp(-z))``."""
    return 1 / (1 + np.exp(-z))


def relu(z):
    """``max(z, 0)`` elementwise."""
    return np.maximum(z, 0)


def linear_loop(x, y, w, b, epochs, lr):
    """Seed 000: one neuron ``y_hat = w x + b`` fitted by full-batch gradient descent on the MSE.

    Parameters
    ----------
    x, y : ndarray (n,)
        Inputs and targets.
    w, b : float
        Initial weight and bias.
    epochs : int
    lr : float

    Returns
    -------
    w, b : float
        The trained weight and bias.
    losses : list of float
        The MSE of each epoch, before its update.
    """
    losses = []
    for epoch in range(epochs):
        error = w * x + b - y
        losses.append(np.mean(error ** 2))
        grad = 2 * error / error.size
        w = w - lr * np.dot(x, grad)
        b = b - lr * np.sum(grad)
    return w, b, losses


def xor_loop(X, y, weights, epochs, lr):
    """Seed 003: a 2-4-1 network, sigmoid hidden and output layers, full-batch gradient descent on the MSE.

    Parameters
    ----------
    X : ndarray (n, 2)
    y : ndarray (n, 1)
    weights : list ``[W1, b1, W2, b2]``
        Initial weights (copied).
    epochs : int
    lr : float

    Returns
    -------
    weights : list ``[W1, b1, W2, b2]``
        The trained weights.
    losses : list of float
        The MSE of each epoch, before its update.
    """
    W1, b1, W2, b2 = (a.copy() for a in weights)
    losses = []
    for epoch in range(epochs):
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        losses.append(np.mean((a2 - y) ** 2))
        dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
        dz1 = dz2 @ W2.T * a1 * (1 - a1)
        W2 -= lr * (a1.T @ dz2)
        b2 -= lr * dz2.sum(axis=0)
        W1 -= lr * (X.T @ dz1)
        b1 -= lr * dz1.sum(axis=0)
    return [W1, b1, W2, b2], losses


def house_loop(X, y, weights, epochs, lr, decay):
    """Seed 001: a 2-3-1 regression network, ReLU hidden layer, identity output, with learning-rate decay.

    Epoch ``epoch`` steps with ``lr / (1 + decay * epoch)``.

    Parameters
    ----------
    X : ndarray (n, 2)
    y : ndarray (n, 1)
    weights : list ``[W1, b1, W2, b2]``
        Initial weights (copied).
    epochs : int
    lr, decay : float

    Returns
    -------
    weights : list ``[W1, b1, W2, b2]``
        The trained weights.
    losses : list of float
        The MSE of each epoch, before its update.
    """
    W1, b1, W2, b2 = (a.copy() for a in weights)
    losses = []
    for epoch in range(epochs):
        rate = lr / (1 + decay * epoch)
        a1 = relu(X @ W1 + b1)
        a2 = a1 @ W2 + b2
        losses.append(np.mean((a2 - y) ** 2))
        dz2 = 2 * (a2 - y) / y.size
        dz1 = dz2 @ W2.T * (a1 > 0)
        W2 -= rate * (a1.T @ dz2)
        b2 -= rate * dz2.sum(axis=0)
        W1 -= rate * (X.T @ dz1)
        b1 -= rate * dz1.sum(axis=0)
    return [W1, b1, W2, b2], losses


def classify_loop(X, y, weights, epochs, lr):
    """Seed 002: a 2-4-1 classifier, ReLU hidden layer, sigmoid output, full-batch gradient descent on the MSE.

    Parameters
    ----------
    X : ndarray (n, 2)
    y : ndarray (n, 1) of 0.0/1.0
    weights : list ``[W1, b1, W2, b2]``
        Initial weights (copied).
    epochs : int
    lr : float

    Returns
    -------
    weights : list ``[W1, b1, W2, b2]``
        The trained weights.
    losses : list of float
        The MSE of each epoch, before its update.
    """
    W1, b1, W2, b2 = (a.copy() for a in weights)
    losses = []
    for epoch in range(epochs):
        a1 = relu(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        losses.append(np.mean((a2 - y) ** 2))
        dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
        dz1 = dz2 @ W2.T * (a1 > 0)
        W2 -= lr * (a1.T @ dz2)
        b2 -= lr * dz2.sum(axis=0)
        W1 -= lr * (X.T @ dz1)
        b1 -= lr * dz1.sum(axis=0)
    return [W1, b1, W2, b2], losses


#: The seed workloads that have a tutorial-style loop, and the network each loop hard-codes.
TUTORIAL_LAYERS = {
    "linear": ((1, "identity"),),
    "xor": ((4, "sigmoid"), (1, "sigmoid")),
    "house": ((3, "relu"), (1, "identity")),
    "classify": ((4, "relu"), (1, "sigmoid")),
}
TUTORIAL_WORKLOADS = tuple(TUTORIAL_LAYERS)


def _check_settings(workload, config) -> None:
    """ValueError when ``workload`` is no longer the job its loop hard-codes (a changed workload definition)."""
    expected = {"layers": TUTORIAL_LAYERS[workload.name], "loss": "mse", "batch_size": None, "dtype": "float64",
                "momentum": 0.0, "weight_decay": 0.0}
    actual = {"layers": tuple(workload.layers), "loss": workload.loss, "batch_size": workload.batch_size,
              "dtype": workload.dtype, "momentum": config.get("momentum"), "weight_decay": config.get("weight_decay")}
    if workload.name != "house":
        expected["decay"], actual["decay"] = 0.0, config.get("decay")
    wrong = [f"{key} {actual[key]!r} (the loop assumes {value!r})" for key, value in expected.items()
             if actual[key] != value]
    if wrong:
        raise ValueError(f"workload {workload.name!r} no longer matches its tutorial-style loop: " + "; ".join(wrong))


def has_tutorial_loop(workload) -> bool:
    """True when ``workload`` (a :class:`fastnn.tools.workloads.Workload`) is a seed workload with a loop here."""
    return workload.name in TUTORIAL_WORKLOADS


def tutorial_call(workload, weights, epochs=None):
    """A no-argument callable that runs ``workload``'s tutorial-style loop from ``weights``.

    Everything the loop's caller would prepare once (the data, the settings
    read from the workload) is prepared here, so that timing the callable
    times the loop alone.

    Parameters
    ----------
    workload : Workload
        One of :data:`TUTORIAL_WORKLOADS`.
    weights : list of ndarray
        Initial weights ``[W0, b0, ...]`` (not modified).
    epochs : int, optional
        Default the workload's (fewer: the short untimed run that precedes
        each timed one in ``fastnn compare``).

    Returns
    -------
    callable
        Returns ``(weights, losses)``: the trained weights as a list like
        ``weights`` and the loss of each epoch.

    Raises
    ------
    ValueError
        For a workload without a tutorial-style loop, or one whose network,
        loss, batch size, dtype or optimizer settings are no longer those
        its loop hard-codes.
    """
    if not has_tutorial_loop(workload):
        raise ValueError(f"workload {workload.name!r} has no tutorial-style loop; "
                         f"expected one of {', '.join(TUTORIAL_WORKLOADS)}")
    config = workload.optimizer().get_config()
    _check_settings(workload, config)
    data = workload.data()
    X, y = data.X, data.y
    lr, decay = config["lr"], config.get("decay", 0.0)
    epochs = workload.epochs if epochs is None else epochs
    if workload.name == "linear":
        x, target = X[:, 0], y[:, 0]
        w, b = float(weights[0][0, 0]), float(weights[1][0])

        def call():
            w_end, b_end, losses = linear_loop(x, target, w, b, epochs, lr)
            return [np.array([[w_end]]), np.array([b_end])], losses
    elif workload.name == "house":
        def call():
            return house_loop(X, y, weights, epochs, lr, decay)
    else:
        loop = xor_loop if workload.name == "xor" else classify_loop

        def call():
            return loop(X, y, weights, epochs, lr)
    return call


def run_tutorial(workload, weights):
    """Run ``workload``'s tutorial-style loop from ``weights``; returns ``(weights, losses)`` (see :func:`tutorial_call`)."""
    return tutorial_call(workload, weights)()
