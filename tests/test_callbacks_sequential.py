"""``Sequential.fit(callbacks=...)`` and the built-ins of ``fastnn/callbacks.py``.

Oracles: the model after epoch k of a fit is ``fit(epochs=k)`` on a fresh
model with the same seed (bit for bit: same weights, shuffles and batches);
the losses a callback sees are those of the fit's own ``History``; early
stopping's epochs are recomputed from that history.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn.callbacks import Callback, EarlyStopping, LambdaCallback

EPOCHS = 12


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(n)


def _model(backend="numba"):
    return fastnn.Sequential([fastnn.Dense(5, "tanh"), fastnn.Dense(1)], input_dim=3, seed=3, backend=backend)


X, Y = _data()
VAL = (X[:20] + 0.1, Y[:20])
FIT = {"batch_size": 16, "optimizer": fastnn.SGD(lr=0.05, momentum=0.9, decay=0.05), "validation_data": VAL}


def _fit(epochs, backend="numba", **kw):
    model = _model(backend)
    history = model.fit(X, Y, epochs=epochs, **{**FIT, **kw})
    return model, history


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


class Recorder(Callback):
    """Records every hook, and the model's weights and counters at each epoch end."""

    def __init__(self, every=1, stop_at=None, via_attribute=False):
        super().__init__()
        self.every, self.stop_at, self.via_attribute = every, stop_at, via_attribute
        self.calls, self.epochs, self.logs, self.weights, self.counters = [], [], [], [], []

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append("epoch")
        self.epochs.append(epoch)
        self.logs.append(logs)
        self.weights.append(self.model.get_weights())
        self.counters.append((self.model.epochs_trained, self.model.step))
        if epoch == self.stop_at:
            if self.via_attribute:
                self.model.stop_training = True
                return None
            return True
        return None

    def on_train_end(self, logs=None):
        self.calls.append("end")


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_logs_are_the_history_and_the_model_is_the_model_after_each_epoch(backend):
    rec = Recorder()
    model, history = _fit(EPOCHS, backend, callbacks=[rec])
    assert rec.calls == ["begin"] + ["epoch"] * EPOCHS + ["end"] and rec.model is model
    assert rec.epochs == list(range(EPOCHS))
    assert [log["loss"] for log in rec.logs] == history.loss
    assert [log["val_loss"] for log in rec.logs] == history.val_loss
    assert [log["lr"] for log in rec.logs] == history.lr
    plain, plain_history = _fit(EPOCHS, backend)
    assert _same(model, plain) and plain_history == history  # callbacks change nothing
    for k in (1, 5, EPOCHS):
        after_k, _ = _fit(k, backend)
        assert all(np.array_equal(u, v) for u, v in zip(rec.weights[k - 1], after_k.get_weights(), strict=True))
        assert rec.counters[k - 1] == (after_k.epochs_trained, after_k.step)


def test_no_validation_data_no_val_loss():
    rec = Recorder()
    _fit(3, validation_data=None, callbacks=[rec])
    assert all(set(log) == {"loss", "lr"} for log in rec.logs)


@pytest.mark.parametrize("via_attribute", [False, True])
def test_a_callback_stops_after_its_epoch_and_the_fit_can_go_on(via_attribute):
    rec = Recorder(stop_at=4, via_attribute=via_attribute)
    model, history = _fit(EPOCHS, callbacks=[rec])
    assert history.epochs == len(history.loss) == len(history.val_loss) == 5 and not history.stopped_early
    oracle, oracle_history = _fit(5)
    assert _same(model, oracle) and history.loss == oracle_history.loss
    assert (model.epochs_trained, model.step) == (oracle.epochs_trained, oracle.step)
    assert model.stop_training and rec.calls[-1] == "end"
    # the shuffling stream and optimizer state are those after 5 epochs: going on equals one long fit
    model.fit(X, Y, epochs=EPOCHS - 5, **FIT)
    assert _same(model, _fit(EPOCHS)[0])


def test_every_runs_on_multiples_and_mixes_with_others():
    sparse, dense = Recorder(every=5), Recorder(every=3)
    model, history = _fit(EPOCHS, callbacks=[sparse, dense])
    assert sparse.epochs == [4, 9] and dense.epochs == [2, 5, 8, 11]
    for rec in (sparse, dense):
        for epoch, weights, log in zip(rec.epochs, rec.weights, rec.logs):
            assert log["loss"] == history.loss[epoch]
            after, _ = _fit(epoch + 1)
            assert all(np.array_equal(u, v) for u, v in zip(weights, after.get_weights(), strict=True))
    assert _same(model, _fit(EPOCHS)[0])


def test_exception_propagates_and_keeps_the_epochs_trained():
    def explode(epoch, logs):
        if epoch == 2:
            raise RuntimeError("boom")

    model = _model()
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, Y, epochs=EPOCHS, callbacks=[LambdaCallback(on_epoch_end=explode)], **FIT)
    oracle, _ = _fit(3)
    assert _same(model, oracle) and (model.epochs_trained, model.step) == (oracle.epochs_trained, oracle.step)


def test_early_stopping_callback_matches_its_rule_on_the_history():
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    opt = fastnn.Adam(lr=0.2)
    model, history = _fit(200, optimizer=opt, callbacks=[stopper])
    # the rule recomputed from the history: stop at the 2nd epoch in a row without a new minimum
    best, wait, stop = np.inf, 0, None
    for epoch, value in enumerate(history.val_loss):
        if value < best:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= 2:
                stop = epoch
                break
    assert stop is not None and history.epochs == stop + 1 < 200, "the settings must make the rule stop"
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (stop, best_epoch, best)
    assert _same(model, _fit(best_epoch + 1, optimizer=opt)[0])  # the best epoch's weights are back


def test_early_stopping_needs_the_monitored_value():
    with pytest.raises(ValueError, match="val_loss.*validation_data"):
        _fit(3, validation_data=None, callbacks=[EarlyStopping()])


def test_callbacks_with_patience_and_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    rec = Recorder(stop_at=6)
    model, history = _fit(EPOCHS, callbacks=[rec], patience=100, checkpoint=path, checkpoint_every=4)
    assert history.epochs == 7 and history.best_epoch is not None
    saved = fastnn.load(path)  # the end of the fit is saved: what the model holds (the best weights)
    assert _same(saved, model) and saved.epochs_trained == model.epochs_trained
    # the callback saw the current weights after each epoch, not the best so far
    after_7, _ = _fit(7)
    assert all(np.array_equal(u, v) for u, v in zip(rec.weights[-1], after_7.get_weights(), strict=True))


@pytest.mark.parametrize("callbacks,error,match", [
    (Recorder(), TypeError, "list of fastnn.callbacks.Callback"),
    ([Recorder], TypeError, r"callbacks\[0\] is the class Recorder"),
    ([Recorder(), lambda epoch, logs: None], TypeError, r"callbacks\[1\] must be a fastnn.callbacks.Callback"),
    ([Recorder(every=0)], ValueError, r"callbacks\[0\].every must be an int >= 1"),
    ([Recorder(every=2.5)], ValueError, r"callbacks\[0\].every"),
])
def test_bad_callbacks_are_rejected_before_anything_changes(callbacks, error, match):
    model = _model()
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(X, Y, epochs=2, callbacks=callbacks, **FIT)
    assert all(np.array_equal(u, v) for u, v in zip(before, model.get_weights(), strict=True))
    assert model.epochs_trained == 0 and model.optimizer is None


def test_builtin_arguments_are_checked():
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(monitor="accuracy")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_empty_list_is_no_callbacks():
    model, history = _fit(3, callbacks=[])
    plain, plain_history = _fit(3)
    assert _same(model, plain) and history == plain_history
