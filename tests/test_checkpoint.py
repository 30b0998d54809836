"""fit(checkpoint=, checkpoint_every=): atomic checkpoints during a fit, and bit-identical resumption from them.

A checkpoint is the ``Sequential.save`` file; "resume" means ``fastnn.load`` it
and ``fit`` the remaining epochs with the same data and settings.  Checkpoints
written during a fit are captured by wrapping ``fastnn.io.write_state`` (each
write's bytes, by the epoch count they hold), which is also how a crash right
after a checkpoint is simulated.
"""

from __future__ import annotations

import os
import pathlib
import signal
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Adam, Dense, Sequential, training
from fit_helpers import BACKENDS, make_data


class Crash(Exception):
    """Stands for the process dying right after a checkpoint was written."""


@pytest.fixture
def written(monkeypatch):
    """Every checkpoint write of the test as ``(epochs_trained, file bytes)``, in order.

    ``written.crash_after = e`` makes the write holding ``epochs_trained == e``
    raise :class:`Crash` once the file is complete; ``written.on_write`` is
    called after every write.
    """
    real = fastnn.io.write_state

    class Recorder(list):
        crash_after = None
        on_write = None

        def __call__(self, state, path):
            real(state, path)
            self.append((state["epochs_trained"], pathlib.Path(path).read_bytes()))
            if self.on_write is not None:
                self.on_write()
            if state["epochs_trained"] == self.crash_after:
                raise Crash

    recorder = Recorder()
    monkeypatch.setattr(fastnn.io, "write_state", recorder)
    return recorder


def load_bytes(data: bytes, tmp_path) -> Sequential:
    path = tmp_path / "copy.npz"
    path.write_bytes(data)
    return fastnn.load(path)


def same_weights(a: Sequential, b: Sequential) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def same_model(a: Sequential, b: Sequential) -> bool:
    """Weights, optimizer and its state, counters and shuffling stream: what the next fit continues from."""
    return (same_weights(a, b) and a.optimizer == b.optimizer and a.loss == b.loss
            and a.epochs_trained == b.epochs_trained and a.step == b.step
            and len(a._opt_state) == len(b._opt_state)
            and all(np.array_equal(u, v) for u, v in zip(a._opt_state, b._opt_state))
            and a._shuffle_rng.bit_generator.state == b._shuffle_rng.bit_generator.state)


OPTIMIZERS = {
    "sgd": SGD(0.05),
    "nesterov-decay": SGD(0.05, momentum=0.9, nesterov=True, decay=0.1),
    "adam": Adam(0.01, weight_decay=1e-3),
}
WIDTHS = {"narrow": [Dense(5, "tanh"), Dense(2)], "wide": [Dense(24, "relu"), Dense(17, "tanh"), Dense(2)]}


def _build(backend, dtype, width):
    return Sequential([Dense(layer.units, layer.activation) for layer in WIDTHS[width]], input_dim=3,
                      backend=backend, dtype=dtype, seed=4)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "in-order"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_is_bit_identical(tmp_path, written, backend, dtype, shuffle, opt, width):
    """A fit of 7 epochs with checkpoints at 3 and 6 == 3 epochs, load, 4 more == load the epoch-3 checkpoint, 4 more.

    37 rows in batches of 8: the last batch of every epoch is short.
    """
    X, Y = make_data(n=37, d=3, k=2)
    settings = dict(batch_size=8, shuffle=shuffle, validation_data=(X[:9], Y[:9]))
    path = tmp_path / "ckpt.npz"
    full = _build(backend, dtype, width)
    full_history = full.fit(X, Y, epochs=7, optimizer=OPTIMIZERS[opt], checkpoint=path, checkpoint_every=3,
                            **settings)
    assert [epochs for epochs, _ in written] == [3, 6, 7]
    assert same_model(fastnn.load(path), full)

    first = _build(backend, dtype, width)
    first.fit(X, Y, epochs=3, optimizer=OPTIMIZERS[opt], checkpoint=path, **settings)
    assert written[-1][0] == 3  # the same model as the long fit's checkpoint of epoch 3 (the zip's times differ)
    assert same_model(fastnn.load(path), load_bytes(written[0][1], tmp_path))
    for resumed in (fastnn.load(path), load_bytes(written[0][1], tmp_path)):
        assert resumed.backend == backend and resumed.dtype == np.dtype(dtype) and resumed.epochs_trained == 3
        history = resumed.fit(X, Y, epochs=4, **settings)  # optimizer, loss: the file's
        assert same_model(resumed, full)
        assert history.loss == full_history.loss[3:] and history.val_loss == full_history.val_loss[3:]
        assert history.lr == full_history.lr[3:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoints_hold_the_state_after_exactly_their_epochs(tmp_path, written, monkeypatch, backend):
    """Chunks are cut at checkpoint epochs, however else they are cut (loss-buffer room, row orders per chunk):
    each file equals a model fitted for exactly that many epochs, shuffling stream included."""
    X, Y = make_data(n=37, d=3, k=2)
    monkeypatch.setattr(fastnn.config, "MAX_CHUNK_EPOCHS", 4)
    monkeypatch.setattr(fastnn.config, "PERMUTATION_BYTES", 8 * 37 * 2)  # row orders of 2 epochs per chunk
    settings = dict(batch_size=8, optimizer=SGD(0.05, momentum=0.9))
    model = Sequential([Dense(5, "tanh"), Dense(2)], input_dim=3, backend=backend, seed=1)
    history = model.fit(X, Y, epochs=11, checkpoint=str(tmp_path / "c.npz"), checkpoint_every=3, **settings)
    assert history.epochs == 11 and [epochs for epochs, _ in written] == [3, 6, 9, 11]
    for epochs, data in written:
        plain = Sequential([Dense(5, "tanh"), Dense(2)], input_dim=3, backend=backend, seed=1)
        plain.fit(X, Y, epochs=epochs, **settings)
        assert same_model(load_bytes(data, tmp_path), plain)
    assert same_model(fastnn.load(tmp_path / "c.npz"), model)

    written.clear()  # a checkpoint epoch at the end of the fit is written once
    model.fit(X, Y, epochs=10, checkpoint=tmp_path / "c.npz", checkpoint_every=5)
    assert [epochs for epochs, _ in written] == [16, 21]


def test_file_after_fit_equals_model(tmp_path):
    X, Y = make_data(n=20, d=3, k=1)
    path = tmp_path / "model.ckpt"  # used as given: no suffix added
    model = Sequential([Dense(4, "tanh"), Dense(1)], seed=0)  # built by the fit
    model.fit(X, Y, epochs=5, batch_size=6, optimizer=Adam(0.01), checkpoint=path, checkpoint_every=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
    loaded = fastnn.load(path)
    assert same_model(loaded, model) and loaded.epochs_trained == 5 and loaded.step == 5 * 4
    model.fit(X, Y, epochs=0, checkpoint=path)  # no epochs: the file is still the model at the end of the fit
    assert same_model(fastnn.load(path), model)


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    X, Y = make_data(n=20, d=3, k=1)
    settings = dict(batch_size=6, optimizer=SGD(0.05, momentum=0.9))
    real_savez, calls = np.savez, []

    def savez_failing_after_first(file, **arrays):
        calls.append(1)
        if len(calls) == 1:
            return real_savez(file, **arrays)
        file.write(b"PK\x03\x04 partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_failing_after_first)
    path = tmp_path / "c.npz"
    model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    with pytest.raises(OSError, match="disk full"):
        model.fit(X, Y, epochs=6, checkpoint=path, checkpoint_every=2, **settings)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary file left
    two = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    two.fit(X, Y, epochs=2, **settings)
    assert same_model(fastnn.load(path), two)  # the checkpoint of epoch 2, whole
    # the model holds the state of the checkpoint it failed to write (epoch 4), counters included
    four = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    four.fit(X, Y, epochs=4, **settings)
    assert same_model(model, four)


@pytest.mark.parametrize("checkpoint, every, error, match", [
    (123, 1, TypeError, "checkpoint must be a path"),
    (b"c.npz", 1, TypeError, "checkpoint must be a path"),
    ("", 1, ValueError, "empty"),
    (".", 1, ValueError, "directory"),
    ("missing/c.npz", 1, ValueError, "does not exist"),
    ("c.npz", 0, ValueError, "checkpoint_every must be >= 1"),
    ("c.npz", 1.5, TypeError, "checkpoint_every must be an integer"),
    ("c.npz", True, TypeError, "checkpoint_every must be an integer"),
    ("c.npz", "2", TypeError, "checkpoint_every must be an integer"),
    (None, -1, ValueError, "checkpoint_every must be >= 1"),
])
def test_bad_arguments_raise_and_change_nothing(tmp_path, monkeypatch, checkpoint, every, error, match):
    monkeypatch.chdir(tmp_path)
    X, Y = make_data(n=20, d=3, k=1)
    model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    model.fit(X, Y, epochs=2, batch_size=6, optimizer=Adam(0.01))
    before = Sequential.from_state(model.to_state())
    with pytest.raises(error, match=match):
        model.fit(X, Y, epochs=3, batch_size=6, checkpoint=checkpoint, checkpoint_every=every)
    assert same_model(model, before) and list(tmp_path.iterdir()) == []


def test_checkpoint_directory_must_be_writable(tmp_path, monkeypatch):
    """(Root may write anywhere, so the permission test asks os.access what the driver asks it.)"""
    asked = []

    def access(path, mode):
        asked.append((path, mode))
        return False

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ValueError, match="not writable"):
        training.check_checkpoint(tmp_path / "c.npz")
    assert asked == [(str(tmp_path), os.W_OK | os.X_OK)]


def test_path_types(tmp_path):
    class Custom(os.PathLike):
        def __fspath__(self):
            return str(tmp_path / "custom.npz")

    class BytesPath(os.PathLike):
        def __fspath__(self):
            return os.fsencode(tmp_path / "b.npz")

    assert training.check_checkpoint(tmp_path / "p.npz") == str(tmp_path / "p.npz")
    assert training.check_checkpoint(Custom()) == str(tmp_path / "custom.npz")
    with pytest.raises(TypeError, match="checkpoint must be a str path"):
        training.check_checkpoint(BytesPath())
    X, Y = make_data(n=10, d=3, k=1)
    model = Sequential([Dense(1)], input_dim=3, seed=0)
    model.fit(X, Y, epochs=2, checkpoint=Custom())
    assert same_model(fastnn.load(tmp_path / "custom.npz"), model)


def test_early_stopping_checkpoints_and_resumption(tmp_path, written):
    """With ``min_delta`` huge, only a fit's first epoch counts as an improvement: patience=2 stops after 3.

    A checkpoint during the fit holds the current weights, not the best; the
    one at the end holds what the model holds (the best).  A fit resumed from
    a checkpoint starts its patience count afresh, as documented: it runs 3
    epochs where the uninterrupted fit ran 1 more.
    """
    X, Y = make_data(n=20, d=3, k=1)
    settings = dict(batch_size=6, patience=2, min_delta=1e9)

    def build():
        return Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)

    full = build()
    full_history = full.fit(X, Y, epochs=10, optimizer=SGD(0.05), checkpoint=tmp_path / "c.npz",
                            checkpoint_every=2, **settings)
    assert full_history.stopped_early and full_history.epochs == 3 and full_history.best_epoch == 0
    assert [epochs for epochs, _ in written] == [2, 3]
    after = {}
    for epochs in (1, 2):
        after[epochs] = build()
        after[epochs].fit(X, Y, epochs=epochs, batch_size=6, optimizer=SGD(0.05))
    mid = load_bytes(written[0][1], tmp_path)
    assert same_weights(mid, after[2]) and not same_weights(mid, after[1])  # current, not best
    assert same_weights(fastnn.load(tmp_path / "c.npz"), full) and same_weights(full, after[1])  # best

    # the process dies right after the epoch-2 checkpoint; resume from it
    crashed = build()
    written.crash_after = 2
    with pytest.raises(Crash):
        crashed.fit(X, Y, epochs=10, optimizer=SGD(0.05), checkpoint=tmp_path / "d.npz", checkpoint_every=2,
                    **settings)
    written.crash_after = None
    resumed = fastnn.load(tmp_path / "d.npz")
    assert same_model(resumed, mid)
    history = resumed.fit(X, Y, epochs=8, **settings)
    assert history.loss[0] == full_history.loss[2]  # the same trajectory ...
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 0  # ... a fresh patience count


def test_ctrl_c_writes_the_checkpoint(tmp_path, written):
    """SIGINT while a checkpoint is written: the write completes, the fit ends after that epoch (interrupted)
    and the end-of-fit checkpoint is written too, a second SIGINT during it not interrupting it either."""
    X, Y = make_data(n=20, d=3, k=1)
    settings = dict(batch_size=6, optimizer=Adam(0.01))
    model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    written.on_write = lambda: os.kill(os.getpid(), signal.SIGINT)
    history = model.fit(X, Y, epochs=50, checkpoint=tmp_path / "c.npz", checkpoint_every=4, **settings)
    written.on_write = None
    assert history.interrupted and history.epochs == 4 and len(history.loss) == 4
    assert [epochs for epochs, _ in written] == [4, 4]
    assert same_model(fastnn.load(tmp_path / "c.npz"), model)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = fastnn.load(tmp_path / "c.npz")
    resumed.fit(X, Y, epochs=46, batch_size=6)
    full = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
    full.fit(X, Y, epochs=50, **settings)
    assert same_model(resumed, full)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_writes_the_restored_weights(tmp_path, backend):
    X, Y = make_data(n=40, d=3, k=1)
    Y = Y * 1e3
    model = Sequential([Dense(8, "relu"), Dense(1)], input_dim=3, backend=backend, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(X, Y, epochs=200, batch_size=8, optimizer=SGD(lr=5.0), checkpoint=tmp_path / "c.npz",
                            checkpoint_every=3)
    assert history.diverged
    loaded = fastnn.load(tmp_path / "c.npz")  # (load would refuse non-finite weights)
    assert same_model(loaded, model) and loaded.epochs_trained == history.restored_epoch


def test_check_fit_args_records_the_checkpoint_settings(tmp_path):
    X, Y = make_data(n=10, d=3, k=1)
    model = Sequential([Dense(1)], input_dim=3)
    args = dict(epochs=3, batch_size=5, loss="mse", optimizer=None, shuffle=True, verbose=0, validation_data=None,
                patience=None, min_delta=0.0, threads=None)
    request = training.check_fit_args(model, X, Y, **args)
    assert request.checkpoint is None and request.checkpoint_every == 1
    request = training.check_fit_args(model, X, Y, **args, checkpoint=tmp_path / "c.npz",
                                      checkpoint_every=np.int64(4))
    assert request.checkpoint == str(tmp_path / "c.npz") and type(request.checkpoint_every) is int
    assert request.checkpoint_every == 4 and list(tmp_path.iterdir()) == []


def test_run_fit_hook_without_a_model():
    """The driver's hook as another caller (a distributed driver) sees it: counters over the model's life."""
    X, Y = make_data(n=12, d=3, k=1)
    model = Sequential([Dense(2, "tanh"), Dense(1)], input_dim=3, seed=0)
    args = dict(epochs=7, batch_size=5, loss="mse", optimizer=SGD(0.1), shuffle=True, verbose=0,
                validation_data=None, patience=None, min_delta=0.0, threads=None)
    request = training.check_fit_args(model, X, Y, **args, checkpoint_every=3)
    plan = training.make_plan(request, model.backend, model._layout, model.dtype)
    theta = model._theta.copy()
    state = training.new_optimizer_state(theta.size, model.dtype, request.optimizer.n_state)
    calls = []
    outcome = training.run_fit(request, plan, model.backend, theta, model._layout, state,
                               np.random.default_rng(0), 10, 100,
                               on_checkpoint=lambda epochs, step: calls.append((epochs, step, theta.copy())))
    assert [(e, s) for e, s, _ in calls] == [(13, 109), (16, 118), (17, 121)]  # 3 batches per epoch
    assert (outcome.epochs_trained, outcome.step) == (17, 121) and np.array_equal(calls[-1][2], theta)
    # without a hook the checkpoint settings change nothing
    again = model._theta.copy()
    state = training.new_optimizer_state(theta.size, model.dtype, request.optimizer.n_state)
    training.run_fit(request, plan, model.backend, again, model._layout, state, np.random.default_rng(0), 10, 100)
    assert np.array_equal(again, theta)
