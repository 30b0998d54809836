"""fastnn.training: the driver behind ``Sequential.fit`` (chunks, buffers, divergence, early-stopping restore)."""

from __future__ import annotations

import os
import signal
import threading
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Adam, Dense, Sequential, training
from fit_helpers import BACKENDS, make_data


def _slow_divergence(backend):
    """A linear model that first converges, then diverges along one direction.

    Full-batch gradient descent on MSE with two orthogonal, zero-mean
    features: the Hessian's eigenvalues are ``a**2`` and ``b**2`` (and 2 for
    the bias), so with ``lr = 0.5`` the error along feature 1 (a**2 = 8) is
    multiplied by ``1 - 4 = -3`` every epoch while the others vanish in one
    step.  Starting with a tiny error along feature 1 and a large one along
    feature 2, the loss falls, then grows 9x per epoch until it overflows.
    """
    a, b = np.sqrt(8.0), np.sqrt(2.0)
    X = np.array([[a, 0.0], [-a, 0.0], [0.0, b], [0.0, -b]])
    w_true = np.array([[0.5], [-1.0]])
    y = X @ w_true
    model = Sequential([Dense(1)], input_dim=2, backend=backend, seed=0)
    model.set_weights([w_true + np.array([[1e-6], [1.0]]), np.zeros(1)])
    return model, X, y


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_keeps_the_start_of_the_epoch_with_the_lowest_finite_loss(backend):
    model, X, y = _slow_divergence(backend)
    start = model.get_weights()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, y, epochs=2000, optimizer=SGD(lr=0.5))
    assert history.diverged and 10 < history.epochs < 2000
    best = int(np.argmin(history.loss))
    assert best > 0  # the loss fell first: this is not the start of the fit
    assert history.restored_epoch == best
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "non-finite" in messages[0]
    assert f"after epoch {best}:" in messages[0] and f"{history.loss[best]:.6g}" in messages[0]
    # the model is exactly the model after `best` epochs, counters included
    assert model.epochs_trained == best and model.step == best
    replay, _, _ = _slow_divergence(backend)
    replay.fit(X, y, epochs=best, optimizer=SGD(lr=0.5))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), start))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # finite weights: predict says nothing
        assert np.all(np.isfinite(model.predict(X)))


def test_divergence_restores_the_same_weights_on_both_backends():
    results = []
    for backend in BACKENDS:
        model, X, y = _slow_divergence(backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            history = model.fit(X, y, epochs=2000, optimizer=SGD(lr=0.5))
        results.append((history.restored_epoch, model.get_weights()))
    (e0, w0), (e1, w1) = results
    assert e0 == e1
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_in_the_first_epoch_keeps_the_weights_from_before_the_fit(backend):
    model, X, y = _slow_divergence(backend)
    model.fit(X, y, epochs=3, optimizer=SGD(lr=0.5))
    before = model.get_weights()
    counters = (model.epochs_trained, model.step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X * 1e200, y, epochs=5, optimizer=SGD(lr=0.5))
    assert history.diverged and history.epochs == 0 and history.restored_epoch == 0
    assert "before this fit" in str(caught[0].message)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    assert (model.epochs_trained, model.step) == counters


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_and_evaluate_warn_when_they_return_non_finite_values(backend):
    model = Sequential([Dense(3, "relu"), Dense(1)], input_dim=2, backend=backend, seed=0)
    X = np.array([[1e300, 1e300], [1.0, 2.0]])
    model.set_weights([np.full((2, 3), 1e300), np.zeros(3), np.full((3, 1), 1e300), np.zeros(1)])
    with pytest.warns(RuntimeWarning, match="predict\\(\\) returns NaN or infinity"):
        out = model.predict(X)
    assert not np.all(np.isfinite(out))
    with pytest.warns(RuntimeWarning, match="evaluate\\(\\) returns a non-finite loss"):
        result = model.evaluate(X, np.zeros((2, 1)))
    assert not np.isfinite(result["loss"])
    small = Sequential([Dense(1)], input_dim=2, backend=backend, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small.predict(np.ones((3, 2)))
        small.evaluate(np.ones((3, 2)), np.ones(3))


def test_first_chunk_is_one_call_for_small_fits_and_bounded_for_large_ones():
    """The pessimistic cost model: a seed-sized fit is a single chunk; a big one takes about CHUNK_SECONDS."""
    assert training.first_chunk("numba", n=4, batch=4, n_layers=2, work=4 * 12) >= 2000
    big = training.first_chunk("numba", n=60_000, batch=256, n_layers=3, work=256 * 235_000)
    n_batches = -(-60_000 // 256)
    assert big == 1 or big * n_batches * 256 * 235_000 * fastnn.config.FIRST_CHUNK_SECONDS_PER_MADD <= (
        fastnn.config.CHUNK_SECONDS)


def _request(model, X, y, **settings):
    args = dict(epochs=3, batch_size=5, loss="mse", optimizer=None, shuffle=True, verbose=0, validation_data=None,
                patience=None, min_delta=0.0, threads=None)
    args.update(settings)
    return training.check_fit_args(model, X, y, **args)


def test_plan_pool_reuses_a_small_plan_only_for_the_same_settings_and_shapes():
    model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3)
    X, Y = make_data(n=10, d=3, k=1)
    pool = training.PlanPool()
    first = pool.take(_request(model, X, Y), "numba", model._layout, model.dtype)
    busy = pool.take(_request(model, X, Y), "numba", model._layout, model.dtype)  # first is in use: a new plan
    assert busy is not first and busy.buffers.grad is not first.buffers.grad
    pool.give_back(first)
    other_model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=5)  # same shape: shares the plan
    again = pool.take(_request(other_model, X + 1, Y), "numba", other_model._layout, model.dtype)
    assert again is first
    pool.give_back(again)
    assert first.buffers.snapshot.size == fastnn.contract.snapshot_size(model.n_params)
    for changed in (dict(batch_size=4), dict(epochs=4), dict(shuffle=False), dict(patience=2),
                    dict(optimizer=SGD(0.5)), dict(epochs=5), dict(min_delta=0.1)):
        other = pool.take(_request(model, X, Y, **changed), "numba", model._layout, model.dtype)
        assert other is not first and other.buffers.grad is not first.buffers.grad, changed
    assert pool.take(_request(model, X[:9], Y[:9]), "numba", model._layout, model.dtype) is not first
    wider = Sequential([Dense(5, "tanh"), Dense(1)], input_dim=3)
    assert pool.take(_request(wider, X, Y), "numba", wider._layout, wider.dtype) is not first
    # a plan whose buffers exceed REUSED_BUFFER_BYTES is not kept (the next fit allocates again)
    big_X, big_Y = make_data(n=20_000, d=3, k=1)
    big = pool.take(_request(model, big_X, big_Y, batch_size=None, epochs=1), "numba", model._layout, model.dtype)
    assert sum(a.nbytes for a in big.buffers) > fastnn.config.REUSED_BUFFER_BYTES
    pool.give_back(big)
    assert pool.take(_request(model, big_X, big_Y, batch_size=None, epochs=1), "numba", model._layout,
                     model.dtype) is not big
    for epochs in range(1, 3 * training.PlanPool.MAX_KEPT):  # the pool stays bounded
        pool.give_back(pool.take(_request(model, X, Y, epochs=epochs), "numba", model._layout, model.dtype))
    assert len(pool._kept) <= training.PlanPool.MAX_KEPT
    state = training.new_optimizer_state(7, np.dtype(np.float32), 1)
    assert [s.shape for s in state] == [(7,), (0,)] and not np.any(state[0]) and state[0].dtype == np.float32


def test_fits_in_threads_at_once_each_get_their_own_plan():
    """Models of one shape fitted in several threads at once: each result equals the same fit run alone."""
    import concurrent.futures

    X, Y = make_data(n=16, d=3, k=1)

    def fit(seed):
        model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=seed)
        model.fit(X, Y, epochs=300, batch_size=4, optimizer=SGD(0.05))
        return model.get_weights()[0]

    alone = [fit(seed) for seed in range(6)]
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        together = list(ex.map(fit, range(6)))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_repeated_fit_on_a_kept_plan_trains_like_a_fresh_model(backend):
    """The second fit reuses the plan (buffers, state array): same result as one fit of a new model."""
    X, Y = make_data(n=12, d=3, k=1)
    kwargs = dict(epochs=4, batch_size=5, optimizer=SGD(0.05, momentum=0.5), patience=1, validation_data=(X, Y))
    reused = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend=backend, seed=3)
    first = reused.fit(X, Y, **kwargs)
    second = reused.fit(X, Y, **kwargs)
    fresh = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend=backend, seed=3)
    fresh.fit(X, Y, **kwargs)
    fresh_second = fresh.fit(X, Y, **{**kwargs, "optimizer": SGD(0.05, momentum=0.5)})  # equal settings: kept state
    np.testing.assert_array_equal(reused.get_weights()[0], fresh.get_weights()[0])
    assert second.loss == fresh_second.loss and second.val_loss == fresh_second.val_loss
    assert first.loss != second.loss  # the history holds its own copy, not a view of the reused buffer


def test_history_lists_are_made_on_first_access_and_stay_editable():
    history = training.History()
    opt = SGD(0.1, decay=0.5)
    history.record_chunk(np.array([3.0, 2.0]), None, opt, 0)
    history.record_chunk(np.array([1.0]), np.array([1.5]), opt, 2)
    assert history.loss == [3.0, 2.0, 1.0] and history.val_loss == [1.5]
    expected_lr = [opt.lr_at(e) for e in range(3)]
    opt.lr = 99.0  # changed after the fit: the recorded schedule keeps the values it was fitted with
    assert history.lr == expected_lr
    history.loss += [0.5]
    assert history.loss == [3.0, 2.0, 1.0, 0.5] and history.history["loss"] is history.loss
    assert training.History(loss=[1.0], epochs=1) == training.History(loss=[1.0], epochs=1)
    assert "loss=[1.0]" in repr(training.History(loss=[1.0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_weights_and_shuffling_matters(backend):
    X, Y = make_data(n=50, d=3, k=1)

    def run(seed, shuffle=True):
        model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend=backend, seed=seed)
        model.fit(X, Y, epochs=5, batch_size=8, shuffle=shuffle, optimizer=SGD(0.05))
        return model.get_weights()

    first, again, other, unshuffled = run(0), run(0), run(1), run(0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.allclose(first[0], other[0])
    assert not np.allclose(first[0], unshuffled[0])


def test_one_setting_limits_numba_and_every_blas_pool_and_restores_them():
    """threads= / config.threads / set_num_threads drive Numba's threads and every BLAS pool (NumPy's, and
    SciPy's that the compiled loops call) together; the first two restore the previous settings."""
    from threadpoolctl import threadpool_info

    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    X, Y = make_data(n=64, d=40, k=1)
    model = Sequential([Dense(64, "relu"), Dense(1)], input_dim=40, seed=0)
    model.fit(X, Y, epochs=1, batch_size=32)  # a BLAS layer: SciPy's BLAS is loaded now

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    before_numba, before_blas = fastnn.config.get_num_threads(), blas_threads()
    assert before_blas
    with fastnn.config.threads(1):
        assert fastnn.config.get_num_threads() == 1 and set(blas_threads()) == {1}
    assert fastnn.config.get_num_threads() == before_numba and blas_threads() == before_blas

    seen = []
    real_run = fastnn.training._run  # the epochs of a fit, inside its thread setting

    def spy(*args, **kwargs):
        seen.append((fastnn.config.get_num_threads(), set(blas_threads())))
        return real_run(*args, **kwargs)

    fastnn.training._run = spy
    try:
        model.fit(X, Y, epochs=1, batch_size=32, threads=1)
    finally:
        fastnn.training._run = real_run
    assert seen == [(1, {1})]
    assert fastnn.config.get_num_threads() == before_numba and blas_threads() == before_blas

    fastnn.config.set_num_threads(1)
    try:
        assert fastnn.config.get_num_threads() == 1 and set(blas_threads()) == {1}
    finally:
        fastnn.config.set_num_threads(before_numba)
    assert fastnn.config.get_num_threads() == before_numba and set(blas_threads()) == {before_numba}


def test_defaults_and_history():
    model = Sequential([Dense(3)], input_dim=2, seed=0)
    assert model.layers[0].activation == "identity"
    X, Y = make_data(n=10, d=2, k=3)
    history = model.fit(X, Y, epochs=4)
    assert model.loss == "mse" and model.step == 4  # full batch: one step per epoch
    assert len(history.loss) == 4 and history.val_loss == [] and history.epochs == 4
    assert history.history["loss"] == history.loss


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_and_early_stopping_restore_best(backend):
    X, Y = make_data(n=60, d=4, k=1, seed=3)
    Xv, Yv = make_data(n=30, d=4, k=1, seed=4)  # unrelated targets: validation loss soon rises
    model = Sequential([Dense(32, "tanh"), Dense(1)], input_dim=4, backend=backend, seed=0)
    history = model.fit(X, Y, epochs=500, batch_size=10, optimizer=SGD(0.05, momentum=0.9),
                        validation_data=(Xv, Yv), patience=5)
    assert history.stopped_early and history.epochs < 500
    assert len(history.val_loss) == history.epochs
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best
    assert history.epochs == best + 1 + 5
    assert model.evaluate(Xv, Yv)["loss"] == pytest.approx(history.val_loss[best], rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_loss_stops_and_keeps_last_finite_weights(backend):
    X, Y = make_data(n=40, d=3, k=1)
    Y = Y * 1e3
    def build():
        return Sequential([Dense(8, "relu"), Dense(1)], input_dim=3, backend=backend, seed=0)
    model = build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, Y, epochs=200, batch_size=8, optimizer=SGD(lr=5.0))
    # exactly one warning, fastnn's own: no overflow noise from NumPy
    assert [str(w.message) for w in caught if "non-finite" in str(w.message)] and len(caught) == 1
    assert history.diverged and history.epochs < 200
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    replay = build()
    replay.fit(X, Y, epochs=history.epochs, batch_size=8, optimizer=SGD(lr=5.0))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_keeps_last_completed_epoch(backend):
    X, Y = make_data(n=200, d=8, k=1)
    def build():
        return Sequential([Dense(32, "tanh"), Dense(1)], input_dim=8, backend=backend, seed=0)
    model = build()
    model.fit(X, Y, epochs=1, optimizer=SGD(0.001))  # compile outside the interrupted fit
    model = build()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        history = model.fit(X, Y, epochs=10_000_000, batch_size=16, optimizer=SGD(0.001))
    finally:
        timer.cancel()
    assert history.interrupted and 0 < history.epochs < 10_000_000
    assert len(history.loss) == history.epochs
    replay = build()
    replay.fit(X, Y, epochs=history.epochs, batch_size=16, optimizer=SGD(0.001))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights()))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_verbose_progress(capsys):
    X, Y = make_data(n=20, d=2, k=1)
    model = Sequential([Dense(1)], input_dim=2, seed=0)
    model.fit(X, Y, epochs=30, verbose=1)
    err = capsys.readouterr().err
    assert "epoch 30/30" in err and "loss:" in err
    model.fit(X, Y, epochs=3, verbose=2)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3


def test_fit_continues_across_calls_like_one_fit():
    X, Y = make_data(n=30, d=3, k=1)
    for opt in (SGD(0.05, momentum=0.9, decay=0.1), Adam(0.01)):
        one = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
        one.fit(X, Y, epochs=10, batch_size=7, optimizer=opt)
        two = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, seed=0)
        two.fit(X, Y, epochs=4, batch_size=7, optimizer=opt)
        two.fit(X, Y, epochs=6, batch_size=7)  # keeps optimizer, state, lr schedule and shuffling stream
        assert all(np.array_equal(a, b) for a, b in zip(one.get_weights(), two.get_weights()))



@pytest.mark.parametrize("backend", BACKENDS)
def test_chunk_boundaries_do_not_change_results(backend, monkeypatch):
    """Chunks of at most MAX_CHUNK_EPOCHS epochs (the loss buffers' room): a fit cut into chunks of 3 epochs
    gives the same weights and history as a fit in one chunk, shuffling, validation and Adam included."""
    X, Y = make_data(n=30, d=3, k=2)

    def fit():
        model = Sequential([Dense(5, "tanh"), Dense(2)], input_dim=3, backend=backend, seed=3)
        history = model.fit(X, Y, epochs=10, batch_size=7, optimizer=Adam(0.01), validation_data=(X[:9], Y[:9]))
        return model, history

    whole, whole_history = fit()
    monkeypatch.setattr(fastnn.config, "MAX_CHUNK_EPOCHS", 3)
    chunked, chunked_history = fit()
    assert len(chunked_history.loss) == 10 and chunked_history.loss == whole_history.loss
    assert chunked_history.val_loss == whole_history.val_loss and chunked.step == whole.step
    assert all(np.array_equal(a, b) for a, b in zip(chunked.get_weights(), whole.get_weights()))
