"""Seed 002: a 2-4-1 ReLU/sigmoid classifier of ``x1 + x2 > 0``, MSE, 10,000 epochs."""

from __future__ import annotations

import numpy as np

from fastnn import SGD, Dense
from fastnn.tools.demos.common import DemoResult, Run, build_model, format_seconds, timed_fit

CLASSIFY_N = 100
CLASSIFY_LR = 0.01
CLASSIFY_EPOCHS = 10_000


def classify_data():
    """Seed 002's data and initial weights, drawn in the seed's order from seed 42.

    ``np.random.seed(42)``; ``X = randn(100, 2)``; ``y = (sum(X, 1) > 0)``;
    ``W1 = randn(2, 4)``, ``b1 = 0``, ``W2 = randn(4, 1)``, ``b2 = 0``.  A
    private ``RandomState(42)`` gives the same numbers without touching
    NumPy's global random state.

    Returns
    -------
    X : ndarray (100, 2)
    y : ndarray (100, 1) of 0.0/1.0
    weights : list ``[W1, b1, W2, b2]``
    """
    rs = np.random.RandomState(42)
    X = rs.randn(CLASSIFY_N, 2)
    y = (np.sum(X, axis=1) > 0).astype(np.float64).reshape(-1, 1)
    w1 = rs.randn(2, 4)
    w2 = rs.randn(4, 1)
    return X, y, [w1, np.zeros(4), w2, np.zeros(1)]


def run_classify(backend="numba", dtype="float64", epochs=CLASSIFY_EPOCHS) -> DemoResult:
    """Seed 002: a 2-4-1 ReLU/sigmoid classifier of ``x1 + x2 > 0``, MSE, 10,000 epochs.

    Data and initial weights exactly as the seed draws them
    (:func:`classify_data`); full-batch SGD, lr 0.01.  Seed 002 computes the
    true MSE gradient (``2 (a2 - y) / y.size``), so its learning rate
    carries over unchanged; ``examples/seed_classify.py`` trains the same
    network with the raw kernels and gets the same numbers.

    Parameters
    ----------
    backend : {"numba", "numpy"}
    dtype : {"float64", "float32"}
    epochs : int, default 10000

    Returns
    -------
    DemoResult
        ``numbers``: ``accuracy`` (of the trained model on the training
        data), ``loss_first`` (epoch 0), ``loss_last_epoch`` (before the last
        update, as the seed's loop computes it), ``loss_after``, ``epochs``,
        ``seconds``.
    """
    X, y, weights = classify_data()
    model = build_model([Dense(4, "relu"), Dense(1, "sigmoid")], backend, dtype)
    model.set_weights(weights)
    history, seconds, _ = timed_fit(model, X, y, epochs=epochs, optimizer=SGD(lr=CLASSIFY_LR))
    p = model.predict(X)
    numbers = {
        "epochs": epochs, "lr": CLASSIFY_LR,
        "accuracy": float(np.mean((p > 0.5) == (y > 0.5))),
        "loss_first": history.loss[0] if history.loss else None,
        "loss_last_epoch": history.loss[-1] if history.loss else None,
        "loss_after": model.evaluate(X, y)["loss"],
        "seconds": seconds,
    }
    run = Run("as written", f"{epochs} epochs", model, history, X, y, p, "classification", "mse", seconds)
    return DemoResult("classify", "Seed 002: binary classification", backend, np.dtype(dtype).name, numbers, [run])


def format_classify(r: DemoResult) -> list[str]:
    """The report lines of a :func:`run_classify` result (printed by :func:`fastnn.tools.demos.format_result`)."""
    n = r.numbers
    return [
        "Data: 100 points randn(100, 2) (seed 42), label = (x1 + x2 > 0); the seed's initial weights.",
        f"Network 2-4-1 ReLU/sigmoid, MSE, full-batch SGD lr {n['lr']}, {n['epochs']} epochs.",
        f"Loss: {n['loss_first']:.4f} at epoch 0, {n['loss_last_epoch']:.6f} at epoch {n['epochs'] - 1} "
        f"(before its update), {n['loss_after']:.6f} after training.",
        f"Training accuracy: {n['accuracy']:.2%}.",
        f"Fit time: {format_seconds(n['seconds'])}.",
    ]

