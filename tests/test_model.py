"""fastnn.model: Sequential and Dense (structure, initial weights, get/set_weights, evaluate).

Training is tested in test_training.py (the driver) and kernels/test_train.py (the loops).
"""

from __future__ import annotations


import numpy as np
import pytest

import fastnn
import fastnn.reference as R
from fastnn import Adam, Dense, Sequential



@pytest.mark.parametrize("init", fastnn.INITIALIZERS)
def test_initializers_scale(init):
    fan_in, fan_out = 400, 300
    w = Sequential([Dense(fan_out)], input_dim=fan_in, init=init, seed=0).get_weights()[0]
    expected_std = {
        "normal": 1.0,
        "xavier": np.sqrt(2 / (fan_in + fan_out)),
        "glorot_uniform": np.sqrt(6 / (fan_in + fan_out)) / np.sqrt(3),
        "he": np.sqrt(2 / fan_in),
    }[init]
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 0.02 * expected_std * 10
    if init == "glorot_uniform":
        assert np.abs(w).max() <= np.sqrt(6 / (fan_in + fan_out))


def test_evaluate_accuracy_and_integer_labels():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 3 classes
    model = Sequential([Dense(16, "relu"), Dense(3, "softmax")], input_dim=2, seed=0)
    model.fit(X, labels, epochs=200, loss="categorical_crossentropy", optimizer=Adam(0.05))
    result = model.evaluate(X, labels)
    p = model.predict(X)
    assert result["accuracy"] == pytest.approx(np.mean(p.argmax(1) == labels))
    assert result["accuracy"] > 0.9
    onehot = np.eye(3)[labels]
    assert model.evaluate(X, onehot)["loss"] == pytest.approx(float(R.categorical_crossentropy_loss(p, onehot)))

    binary = Sequential([Dense(8, "tanh"), Dense(1, "sigmoid")], input_dim=2, seed=0)
    yb = (X.sum(1) > 0).astype(float)
    binary.fit(X, yb, epochs=300, loss="binary_crossentropy", optimizer=Adam(0.05))
    res = binary.evaluate(X, yb)
    assert res["accuracy"] == pytest.approx(np.mean((binary.predict(X)[:, 0] > 0.5) == (yb > 0.5)))


def test_get_set_weights_roundtrip_and_build():
    model = Sequential([Dense(3, "relu"), Dense(2)], seed=0)
    ws = [np.arange(12.0).reshape(4, 3), np.zeros(3), np.ones((3, 2)), np.array([1.0, 2.0])]
    model.set_weights(ws)
    assert model.input_dim == 4
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), ws))
    x = np.array([[1.0, 0, 0, -1]])
    hidden = np.maximum(x @ ws[0] + ws[1], 0)
    np.testing.assert_allclose(model.predict(x), hidden @ ws[2] + ws[3])

