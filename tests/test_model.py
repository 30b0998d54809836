"""The model API: training semantics, backend agreement, reproducibility, faults.

The training loop is checked against an independent hand-written loop built
from the public *reference* kernel functions (``fastnn.reference``): batches
in order, the last partial batch used, lr decay per epoch, L2 penalty on
weights only, momentum/Nesterov/Adam state, loss recorded before each update.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings

import numpy as np
import pytest

import fastnn
import fastnn.reference as R
from fastnn import ACTIVATIONS, LOSSES, SGD, Adam, Dense, Sequential

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


def hand_fit(weights, acts, X, Y, loss, epochs, batch, opt):
    """Mini-batch training written from the public reference kernels, batches in order."""
    ws = [w.copy() for w in weights]
    state = [[np.zeros_like(w) for w in ws] for _ in range(2)]
    step, losses = 0, []
    for epoch in range(epochs):
        lr = opt.lr_at(epoch)
        total = 0.0
        for start in range(0, len(X), batch):
            x, y = X[start:start + batch], Y[start:start + batch]
            outs = [x]
            for l, act in enumerate(acts):
                outs.append(R.dense_forward(outs[-1], ws[2 * l], ws[2 * l + 1], act))
            total += float(R.loss_value(outs[-1], y, loss)) * len(x)
            grad_a = R.output_delta(outs[-1], y, loss, acts[-1])
            grads = [None] * len(ws)
            for l in range(len(acts) - 1, -1, -1):
                act = "identity" if l == len(acts) - 1 else acts[l]  # the output delta is already dL/dz
                gw, gb, grad_a = R.dense_backward(outs[l], ws[2 * l], outs[l + 1], grad_a, act,
                                                  compute_grad_x=l > 0)
                grads[2 * l], grads[2 * l + 1] = gw, gb
            step += 1
            for j, (p, g) in enumerate(zip(ws, grads)):
                wd = opt.weight_decay if j % 2 == 0 else 0.0
                if isinstance(opt, Adam):
                    R.adam_update(p, g, state[0][j], state[1][j], step, opt.lr, opt.beta1, opt.beta2, opt.eps, wd)
                elif opt.momentum > 0:
                    R.momentum_update(p, g, state[0][j], lr, opt.momentum, opt.nesterov, wd)
                else:
                    R.sgd_update(p, g, lr, wd)
        losses.append(total / len(X))
    return ws, losses


OPTIMIZERS = {
    "sgd": lambda: SGD(lr=0.1),
    "sgd_decay_l2": lambda: SGD(lr=0.2, decay=0.05, weight_decay=0.01),
    "momentum": lambda: SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001),
    "adam": lambda: Adam(lr=0.01, weight_decay=0.001),
}


#: Hidden widths that put the numba backend on each of its two training steps: every layer at most
#: config.NARROW_MAX_WIDTH wide trains feature-major (fastnn.kernels.feature_major), one wider layer row-major.
FIRST_HIDDEN = {"feature_major": 5, "row_major": fastnn.config.NARROW_MAX_WIDTH + 1}


@pytest.mark.parametrize("step", sorted(FIRST_HIDDEN))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_fit_matches_hand_written_loop(backend, opt_name, loss, step):
    """Whole fit (partial last batch, no shuffle) == the loop written from the reference kernels."""
    X, Y = make_data(n=23, d=3, k=3, loss=loss)
    acts = ["tanh", "relu", output_activation(loss, "sigmoid")]
    model = Sequential([Dense(FIRST_HIDDEN[step], acts[0]), Dense(4, acts[1]), Dense(3, acts[2])], input_dim=3,
                       backend=backend, seed=4, init="xavier")
    start = model.get_weights()
    history = model.fit(X, Y, epochs=6, batch_size=5, loss=loss, optimizer=OPTIMIZERS[opt_name](), shuffle=False)
    expected, expected_losses = hand_fit(start, acts, X, Y, loss, 6, 5, OPTIMIZERS[opt_name]())
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.loss, expected_losses, rtol=1e-10)
    assert model.step == 6 * 5  # 23 samples in batches of 5: 5 steps per epoch, the last one of 3


@pytest.mark.parametrize("step", sorted(FIRST_HIDDEN))
@pytest.mark.parametrize("hidden", ACTIVATIONS)
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("batch_size", [None, 8])
def test_backends_agree_float64(hidden, loss, batch_size, step):
    """Same seed and data: numba and numpy weights within 1e-8 relative after the whole fit."""
    X, Y = make_data(n=41, d=4, k=3, loss=loss, seed=1)
    if loss == "poisson":
        Y = np.abs(Y)
    weights = []
    for backend in BACKENDS:
        model = Sequential([Dense(FIRST_HIDDEN[step] + 1, hidden), Dense(3, output_activation(loss, "tanh"))],
                           input_dim=4, backend=backend, seed=7, init="xavier")
        history = model.fit(X, Y, epochs=40, batch_size=batch_size, loss=loss, optimizer=SGD(lr=0.05, momentum=0.5))
        assert not history.diverged  # a stable fit: agreement is about rounding, not chaos
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def _layout(widths):
    from fastnn.activations import RELU
    from fastnn.contract import make_layout

    layout, _ = make_layout(widths[0], widths[1:], [RELU] * (len(widths) - 1))
    return layout


def test_narrow_networks_are_the_ones_with_every_width_at_most_the_limit():
    """is_narrow: inputs and outputs of every layer at most NARROW_MAX_WIDTH; one wider anywhere: row-major."""
    from fastnn.kernels.train import is_narrow

    w = fastnn.config.NARROW_MAX_WIDTH
    assert is_narrow(_layout([w, w, w, 1]))
    assert is_narrow(_layout([1, 1]))
    assert not is_narrow(_layout([w + 1, 2, 1]))  # the input alone is too wide
    assert not is_narrow(_layout([2, 2, w + 1, 1]))
    assert not is_narrow(_layout([2, 2, 2, w + 1]))


def test_the_narrow_loop_is_picked_only_where_it_applies():
    """pick_train_epochs: the feature-major variant for narrow networks in the model's (KERAS) convention
    without sample weights, the row-major loop otherwise."""
    from fastnn.kernels import train

    narrow, wide = _layout([2, 4, 1]), _layout([2, fastnn.config.NARROW_MAX_WIDTH + 1, 1])
    assert train.pick_train_epochs(narrow, train.KERAS, False) is train.train_epochs_narrow
    assert train.pick_train_epochs(wide, train.KERAS, False) is train.train_epochs
    assert train.pick_train_epochs(narrow, train.SKLEARN, False) is train.train_epochs
    assert train.pick_train_epochs(narrow, train.KERAS, True) is train.train_epochs


@pytest.mark.parametrize("batch_size", [None, 7])
def test_feature_major_step_with_shuffling_validation_and_early_stopping(batch_size):
    """A narrow fit with everything switched on agrees with the numpy backend: shuffled mini-batches with a
    partial last one, validation after each epoch (which reuses the batch buffers), early stopping, softmax
    hidden layer, float64 and float32."""
    X, Y = make_data(n=30, d=3, k=3, loss="categorical_crossentropy", seed=5)
    Xv, Yv = make_data(n=9, d=3, k=3, loss="categorical_crossentropy", seed=6)
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-4)):
        results = []
        for backend in BACKENDS:
            model = Sequential([Dense(4, "softmax"), Dense(5, "sigmoid"), Dense(3, "softmax")], input_dim=3,
                               backend=backend, seed=2, dtype=dtype)
            history = model.fit(X, Y, epochs=25, batch_size=batch_size, loss="categorical_crossentropy",
                                optimizer=Adam(lr=0.05), validation_data=(Xv, Yv), patience=3)
            results.append((model.get_weights(), history.loss, history.val_loss, history.best_epoch))
        (w_numba, loss_numba, val_numba, best_numba), (w_numpy, loss_numpy, val_numpy, best_numpy) = results
        assert best_numba == best_numpy
        np.testing.assert_allclose(loss_numba, loss_numpy, rtol=rtol)
        np.testing.assert_allclose(val_numba, val_numpy, rtol=rtol)
        for a, b in zip(w_numba, w_numpy):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol / 10)


@pytest.mark.parametrize("opt", [SGD(lr=0.05, momentum=0.9, nesterov=True), Adam(lr=0.01)], ids=["nesterov", "adam"])
def test_backends_agree_float32(opt):
    X, Y = make_data(n=64, d=5, k=3, loss="categorical_crossentropy", seed=2)
    results = []
    for backend in BACKENDS:
        model = Sequential([Dense(16, "relu"), Dense(3, "softmax")], input_dim=5, backend=backend,
                           dtype="float32", seed=3)
        model.fit(X, Y, epochs=20, batch_size=16, loss="categorical_crossentropy", optimizer=opt)
        results.append(model.get_weights())
        assert all(w.dtype == np.float32 for w in model.get_weights())
        assert model.predict(X).dtype == np.float32
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


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


def test_shuffling_identical_across_backends():
    X, Y = make_data(n=50, d=3, k=1)
    got = []
    for backend in BACKENDS:
        model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend=backend, seed=5)
        model.fit(X, Y, epochs=7, batch_size=6, optimizer=SGD(0.05))
        got.append(model.get_weights())
    for a, b in zip(*got):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


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


def test_threads_do_not_change_results():
    X, Y = make_data(n=300, d=40, k=1)
    out = []
    for threads in (1, 2):
        with fastnn.config.parallel_mode("parallel"):
            model = Sequential([Dense(64, "relu"), Dense(1)], input_dim=40, seed=0, init="he")
            history = model.fit(X, Y, epochs=3, batch_size=64, optimizer=SGD(0.01), threads=threads)
        assert not history.diverged
        out.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*out))


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


def test_get_set_weights_roundtrip_and_build():
    model = Sequential([Dense(3, "relu"), Dense(2)], seed=0)
    ws = [np.arange(12.0).reshape(4, 3), np.zeros(3), np.ones((3, 2)), np.array([1.0, 2.0])]
    model.set_weights(ws)
    assert model.input_dim == 4
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), ws))
    x = np.array([[1.0, 0, 0, -1]])
    hidden = np.maximum(x @ ws[0] + ws[1], 0)
    np.testing.assert_allclose(model.predict(x), hidden @ ws[2] + ws[3])
