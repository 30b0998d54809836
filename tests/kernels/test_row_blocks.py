"""Row blocks of the compiled row-major step (fastnn/kernels/train.py ``batch_loss_grad``, contract.row_blocks).

A large batch is cut into row blocks, each with its own forward and backward
pass and gradient slot, summed in block order.  These tests force the cut on
small networks (``config.ROW_BLOCK_MIN_MADDS`` set to 0: ``contract.row_blocks``
reads it at every fit) and check that the blocked step computes the same
fit as the NumPy reference and as the unblocked step (up to rounding), that
it does not depend on the thread count, and that sample weights, every loss
and a last batch too short to cut are handled.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import LOSSES, SGD, Adam, Dense, Sequential, config, contract
from fastnn.activations import RELU

from fit_helpers import BACKENDS, make_data, output_activation


@pytest.fixture
def always_blocked(monkeypatch):
    """Every batch of at least 2 * ROW_BLOCK_MIN_ROWS rows is cut into MAX_ROW_BLOCKS blocks."""
    monkeypatch.setattr(config, "ROW_BLOCK_MIN_MADDS", 0)


def _layout(widths):
    layout, _ = contract.make_layout(widths[0], widths[1:], [RELU] * (len(widths) - 1))
    return layout


def test_row_blocks_depend_on_the_batch_and_network_only():
    small, big = _layout([8, 16, 1]), _layout([256, 256, 10])
    assert 256 * 256 < config.COLUMN_SPLIT_MIN_WEIGHTS
    assert contract.row_blocks(200, small) == 1  # 200 * 144 madds: far below the threshold
    per_row = contract.madds_per_row(big)
    rows_at_threshold = -(-config.ROW_BLOCK_MIN_MADDS // per_row)
    assert contract.row_blocks(rows_at_threshold - 1, big) == 1
    many_rows = max(rows_at_threshold, config.MAX_ROW_BLOCKS * config.ROW_BLOCK_MIN_ROWS)
    assert contract.row_blocks(many_rows, big) == config.MAX_ROW_BLOCKS
    # never a block thinner than ROW_BLOCK_MIN_ROWS, whatever the work
    assert contract.row_blocks(config.ROW_BLOCK_MIN_ROWS, _layout([100_000, 1_000])) == 1
    with config.threads(1):  # the thread count plays no part
        assert contract.row_blocks(many_rows, big) == config.MAX_ROW_BLOCKS
    # a network with a weight matrix large enough to be split by columns is not cut into row blocks
    wide = _layout([config.COLUMN_SPLIT_MIN_WEIGHTS // 64, 64, 10])
    assert contract.row_blocks(512, wide) == 1


def _fit(backend, loss, X, Y, batch_size, dtype="float64", threads=None, opt=None):
    model = Sequential([Dense(40, "tanh"), Dense(24, "relu"), Dense(Y.shape[1], output_activation(loss, "sigmoid"))],
                       input_dim=X.shape[1], backend=backend, seed=3, init="xavier", dtype=dtype)
    history = model.fit(X, Y, epochs=4, batch_size=batch_size, loss=loss, optimizer=opt or Adam(lr=0.01),
                        threads=threads)
    assert not history.diverged
    return model.get_weights(), history.loss


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_blocked_step_matches_the_reference(always_blocked, loss):
    """Batches of 96 rows in two blocks (the last batch of 14 rows in one): the numba fit equals the numpy
    reference's to rounding, and its losses too."""
    X, Y = make_data(n=206, d=6, k=3, loss=loss, seed=11)
    if loss == "poisson":
        Y = np.abs(Y)
    (w_numba, loss_numba), (w_numpy, loss_numpy) = (_fit(b, loss, X, Y, 96) for b in BACKENDS)
    np.testing.assert_allclose(loss_numba, loss_numpy, rtol=1e-10)
    for a, b in zip(w_numba, w_numpy):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_blocked_and_unblocked_steps_agree(monkeypatch):
    """The cut changes only the order of the sums over rows: float32 weights within float32 rounding."""
    X, Y = make_data(n=300, d=10, k=4, loss="categorical_crossentropy", seed=2)
    unblocked = _fit("numba", "categorical_crossentropy", X, Y, 128, dtype="float32")
    monkeypatch.setattr(config, "ROW_BLOCK_MIN_MADDS", 0)
    blocked = _fit("numba", "categorical_crossentropy", X, Y, 128, dtype="float32")
    np.testing.assert_allclose(blocked[1], unblocked[1], rtol=1e-5)
    for a, b in zip(blocked[0], unblocked[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # and the cut did happen: summed in another order, some float32 weight rounds differently
    assert not all(np.array_equal(a, b) for a, b in zip(blocked[0], unblocked[0]))


def test_blocked_step_does_not_depend_on_the_thread_count(always_blocked):
    X, Y = make_data(n=256, d=12, k=1, loss="mse", seed=4)
    results = []
    for threads in (1, 2):
        with config.parallel_mode("parallel"):
            results.append(_fit("numba", "mse", X, Y, 128, dtype="float32", threads=threads,
                                opt=SGD(lr=0.01, momentum=0.9, nesterov=True)))
    (w1, l1), (w2, l2) = results
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", ["MLPRegressor", "MLPClassifier"])
def test_estimators_blocked_with_sample_weights(monkeypatch, estimator):
    """scikit-learn's convention with sample weights: the blocked step gives the unblocked step's fit."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((250, 7))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) if estimator == "MLPClassifier" else X @ rng.standard_normal(7)
    sw = rng.uniform(0.2, 3.0, 250)
    cls = getattr(fastnn, estimator)
    params = dict(hidden_layer_sizes=(30, 20), batch_size=100, max_iter=5, random_state=0, tol=0.0,
                  n_iter_no_change=10)
    plain = cls(**params).fit(X, y, sample_weight=sw)
    monkeypatch.setattr(config, "ROW_BLOCK_MIN_MADDS", 0)
    blocked = cls(**params).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(blocked.loss_curve_, plain.loss_curve_, rtol=1e-10)
    for a, b in zip(blocked.coefs_ + blocked.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_blocked_gradient_matches_finite_differences():
    """batch_loss_grad with two gradient slots: the gradient in slot 0 is the loss's derivative."""
    from fastnn.kernels import train
    from fastnn.losses import loss_code

    rng = np.random.default_rng(5)
    widths = [5, 9, 3]
    codes = [RELU, fastnn.activations.activation_code("softmax")]
    layout, n_params = contract.make_layout(widths[0], widths[1:], codes)
    theta = rng.standard_normal(n_params) * 0.5
    nb = 2 * config.ROW_BLOCK_MIN_ROWS + 3
    x = rng.standard_normal((nb, widths[0]))
    y = np.eye(3)[rng.integers(0, 3, nb)]
    buffers = dict(abuf=np.empty(nb * sum(widths[1:])), dbuf=np.empty(nb * max(widths)),
                   dbuf_other=np.empty(nb * max(widths)), rowloss=np.empty(nb))
    code = loss_code("categorical_crossentropy")

    def loss_grad(th, slots):
        grad = np.full(slots * n_params, np.nan)
        value, _ = train.batch_loss_grad.serial(x, y, np.empty(0), th, grad, layout, code, contract.KERAS, 0.0,
                                                1e-15, buffers["abuf"], buffers["dbuf"], buffers["dbuf_other"],
                                                buffers["rowloss"], nb)
        return value, grad[:n_params]

    value2, grad2 = loss_grad(theta, 2)
    value1, grad1 = loss_grad(theta, 1)
    assert value2 == pytest.approx(value1, rel=1e-13)
    np.testing.assert_allclose(grad2, grad1, rtol=1e-12, atol=1e-14)
    h = 1e-6
    numeric = np.array([(loss_grad(theta + h * e, 1)[0] - loss_grad(theta - h * e, 1)[0]) / (2 * h)
                        for e in np.eye(n_params)])
    np.testing.assert_allclose(grad2, numeric, rtol=1e-5, atol=1e-7)


def test_blas_single_threaded_sets_and_restores_every_blas_library():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    with config.blas_single_threaded():
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before
    with config.blas_single_threaded(active=False):
        assert blas_threads() == before
