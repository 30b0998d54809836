"""Narrow networks evaluate feature-major: the same losses as the row-major kernel (predict: test_inference.py).

The feature-major kernels sum in another order (``reassoc``), so the
comparison is to rounding, against the row-major twins and against the
NumPy reference backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import Dense, Sequential
from fastnn.kernels import train as K
from fastnn.kernels.feature_major import fm_dataset_loss
from fastnn.losses import LOSSES

from fit_helpers import make_data


def _buffers(model, batch, k):
    width = sum(layer.units for layer in model.layers)
    return (np.empty(batch * model.input_dim), np.empty(batch * width), np.empty(batch * k))


@pytest.mark.parametrize("n, batch", [(1, 1), (7, 7), (13, 5), (40, 16)])
@pytest.mark.parametrize("acts", [("tanh", "sigmoid"), ("relu", "softmax"), ("sigmoid", "identity")])
def test_feature_major_loss_matches_the_row_major_kernel(n, batch, acts):
    k = 3 if acts[-1] == "softmax" else 1
    X, Y = make_data(n=n, d=4, k=k, seed=n)
    if acts[-1] == "softmax":
        Y = np.eye(k)[np.arange(n) % k]
    elif acts[-1] == "sigmoid":
        Y = (Y > 0).astype(np.float64)
    model = Sequential([Dense(6, acts[0]), Dense(k, acts[1])], input_dim=4, seed=1)
    theta, layout = model._theta, model._layout
    xb, abuf, yb = _buffers(model, batch, k)
    loss = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}.get(acts[-1], "mse")
    code, eps = LOSSES[loss].code, np.finfo(np.float64).eps
    fm_loss = fm_dataset_loss(X, Y, theta, layout, code, eps, batch, xb, yb, abuf, np.empty(batch))
    rm_loss = K.dataset_loss.serial(X, Y, theta, layout, code, eps, batch, xb, yb, abuf, np.empty(batch))
    assert fm_loss == pytest.approx(rm_loss, rel=1e-12)


def test_narrow_model_predict_and_evaluate_agree_with_the_reference_backend():
    X, Y = make_data(n=30, d=2, k=1, seed=3)
    fast = Sequential([Dense(4, "sigmoid"), Dense(1, "sigmoid")], input_dim=2, seed=0)
    ref = Sequential([Dense(4, "sigmoid"), Dense(1, "sigmoid")], input_dim=2, seed=0, backend="numpy")
    assert fast._narrow
    np.testing.assert_allclose(fast.predict(X), ref.predict(X), rtol=1e-12)
    assert fast.evaluate(X, Y)["loss"] == pytest.approx(ref.evaluate(X, Y)["loss"], rel=1e-12)
    wide = Sequential([Dense(40, "relu"), Dense(1)], input_dim=2, seed=0)
    assert not wide._narrow
