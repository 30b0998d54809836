"""The training loops of both backends (fastnn/kernels/train.py, feature_major.py, network.py; their twin
fastnn/reference/train.py), exercised through ``Sequential.fit``.

Each loop is checked against an independent hand-written loop built from the
public *reference* kernel functions (``fastnn.reference``): batches in order,
the last partial batch used, lr decay per epoch, L2 penalty on weights only,
momentum/Nesterov/Adam state, loss recorded before each update; and the two
backends against each other, on both compiled steps (feature-major for narrow
networks, row-major otherwise).
"""

from __future__ import annotations


import numpy as np
import pytest

import fastnn
import fastnn.reference as R
from fastnn import ACTIVATIONS, LOSSES, SGD, Adam, Dense, Sequential

from fit_helpers import BACKENDS, make_data, output_activation


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


def test_shuffling_identical_across_backends():
    X, Y = make_data(n=50, d=3, k=1)
    got = []
    for backend in BACKENDS:
        model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend=backend, seed=5)
        model.fit(X, Y, epochs=7, batch_size=6, optimizer=SGD(0.05))
        got.append(model.get_weights())
    for a, b in zip(*got):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


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

