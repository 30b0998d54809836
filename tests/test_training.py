"""fastnn.training: the driver behind ``Sequential.fit`` (chunks, buffers, divergence, early-stopping restore)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Dense, Sequential, training

BACKENDS = ["numba", "numpy"]


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


def test_buffer_cache_reuses_small_buffers_only_for_the_same_shape():
    layout, _ = fastnn.contract.make_layout(3, [4, 1], [1, 0])
    cache = training.BufferCache()
    first = cache.allocate(layout, np.dtype(np.float64), n=10, batch=5, early_stopping=False, shuffle_rows=2,
                           n_opt_state=1)
    again = cache.allocate(layout, np.dtype(np.float64), n=10, batch=5, early_stopping=False, shuffle_rows=2,
                           n_opt_state=1)
    assert again.grad is first.grad and again.abuf is first.abuf
    assert again.opt_state[0] is not first.opt_state[0]  # optimizer state is always new (zeros)
    assert not np.any(again.opt_state[0])
    other = cache.allocate(layout, np.dtype(np.float64), n=11, batch=5, early_stopping=False, shuffle_rows=2,
                           n_opt_state=1)
    assert other.grad is not first.grad
    assert first.snapshot.size == fastnn.contract.snapshot_size(first.grad.size)
