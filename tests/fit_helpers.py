"""Data and settings shared by the tests that train models (tests/test_*.py, tests/kernels/test_train.py)."""

from __future__ import annotations

import numpy as np

from fastnn import LOSSES

BACKENDS = ("numba", "numpy")


def make_data(n=37, d=3, k=2, loss="mse", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "mse":
        Y = rng.standard_normal((n, k))
    elif loss == "binary_crossentropy":
        Y = (rng.random((n, k)) > 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(1.5, (n, k)).astype(float)
    else:
        Y = np.eye(k)[rng.integers(0, k, n)]
    return X, Y


def output_activation(loss, default="identity"):
    return LOSSES[loss].output_activation or default

