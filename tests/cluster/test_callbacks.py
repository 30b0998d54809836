"""``Sequential.fit(callbacks=...)`` on dask input: callbacks run after the rounds (fastnn/cluster/sequential.py)."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastnn
from fastnn.callbacks import LambdaCallback


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] - X[:, 1] > 0).astype(np.int64)


def _model():
    return fastnn.Sequential([fastnn.Dense(6, "relu"), fastnn.Dense(2, "softmax")], seed=0)


FIT = {"batch_size": 32, "loss": "categorical_crossentropy", "optimizer": fastnn.Adam(lr=0.01)}


def test_callbacks_run_after_rounds_and_stop_there(dask_client):
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=(150, 4)), da.from_array(y, chunks=150)
    seen = []

    def on_epoch_end(epoch, logs):
        seen.append((epoch, logs["loss"], logs["val_loss"]))
        return epoch == 3  # stop after the round ending on epoch 3 (0-based)

    model = _model()
    history = model.fit(Xd, yd, epochs=10, validation_data=(X[:100], y[:100]),
                        callbacks=[LambdaCallback(on_epoch_end=on_epoch_end)], **FIT)
    assert [s[0] for s in seen] == [0, 1, 2, 3] and history.epochs == 4 and model.epochs_trained == 4
    assert [s[1] for s in seen] == history.loss and [s[2] for s in seen] == history.val_loss
    oracle = _model()
    oracle.fit(Xd, yd, epochs=4, validation_data=(X[:100], y[:100]), **FIT)
    np.testing.assert_array_equal(model.get_weights()[0], oracle.get_weights()[0])

    # rounds of sync_every=2 epochs: a callback with every=1 runs once per round, on its last epoch
    rounds = []
    _model().fit(Xd, yd, epochs=6, sync_every=2, callbacks=[LambdaCallback(lambda e, logs: rounds.append(e))],
                 **FIT)
    assert rounds == [1, 3, 5]
