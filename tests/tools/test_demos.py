"""The seed-tutorial demos (fastnn.tools.demos): their headline numbers, checked against the seeds' own code.

Each seed's training loop is re-implemented here in a few lines of plain
NumPy, following the seed's code (including its gradient conventions), and
the demo's numbers are compared with it, so no expected value is a number
copied from a fastnn run.  Headline numbers run at the demos' full settings.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import SGD, Adam, History
from fastnn.tools import demos

BACKENDS = ("numba", "numpy")


@pytest.fixture
def legacy_seed():
    """Let a test call ``np.random.seed`` as the seeds do, restoring the global state afterwards."""
    state = np.random.get_state()
    yield np.random.seed
    np.random.set_state(state)


# ----------------------------------------------------------------------
# seed code, in plain NumPy
# ----------------------------------------------------------------------


def seed000_loop(epochs):
    """Seed 000's loop; returns (loss per epoch, w after each epoch, b after each epoch)."""
    X = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    y_true = 2 * X
    w, b = 0.1, 0.0
    losses, ws, bs = [], [], []
    for _ in range(epochs):
        y_pred = w * X + b
        losses.append(np.mean((y_pred - y_true) ** 2))
        dw = (2 / len(X)) * np.dot(X, (y_pred - y_true))
        db = (2 / len(X)) * np.sum(y_pred - y_true)
        w, b = w - 0.01 * dw, b - 0.01 * db
        ws.append(w)
        bs.append(b)
    return losses, ws, bs


def seed003_train(X, y, W1, b1, W2, b2, epochs=2000, learning_rate=0.5):
    """Seed 003's NeuralNetwork.train (gradient of half the MSE, lr 0.5); returns the final predictions."""
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    b1, b2 = b1.reshape(1, -1), b2.reshape(1, -1)
    m = X.shape[0]
    for _ in range(epochs):
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        dz2 = (a2 - y) * a2 * (1 - a2)
        dW2, db2 = a1.T @ dz2 / m, np.sum(dz2, axis=0, keepdims=True) / m
        dz1 = dz2 @ W2.T * a1 * (1 - a1)
        dW1, db1 = X.T @ dz1 / m, np.sum(dz1, axis=0, keepdims=True) / m
        W1, b1 = W1 - learning_rate * dW1, b1 - learning_rate * db1
        W2, b2 = W2 - learning_rate * dW2, b2 - learning_rate * db2
    return sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2)


def seed001_data_and_init(seed):
    """Seed 001's __main__ data, then init_params(2, 3, 1), with the global legacy RNG."""
    seed(42)
    X = np.random.rand(100, 2)
    X[:, 0] = X[:, 0] * 100
    X[:, 1] = X[:, 1] * 9 + 1
    noise = np.random.normal(0, 5, (100, 1))
    Y = (X @ np.array([1.2, 5.0])).reshape(-1, 1) + 20.0 + noise
    w1 = np.random.randn(2, 3) * np.sqrt(2 / (2 + 3))
    w2 = np.random.randn(3, 1) * np.sqrt(2 / (3 + 1))
    return X, Y, (w1, np.zeros((1, 3)), w2, np.zeros((1, 1)))


def seed001_train(X, Y, params, epochs=1000, lr=0.001, decay_rate=0.001):
    """Seed 001's train_model (loss (1/2m) sum, gradients divided by m twice); returns final predictions."""
    w1, b1, w2, b2 = params
    m = X.shape[0]
    for epoch in range(epochs):
        z1 = X @ w1 + b1
        a1 = np.maximum(0, z1)
        a2 = a1 @ w2 + b2
        dz2 = (a2 - Y) / Y.shape[0]
        dw2, db2 = (1 / m) * a1.T @ dz2, (1 / m) * np.sum(dz2, axis=0, keepdims=True)
        dz1 = dz2 @ w2.T * (z1 > 0).astype(float)
        dw1, db1 = (1 / m) * X.T @ dz1, (1 / m) * np.sum(dz1, axis=0, keepdims=True)
        current_lr = lr / (1 + decay_rate * epoch)
        w1, b1, w2, b2 = w1 - current_lr * dw1, b1 - current_lr * db1, w2 - current_lr * dw2, b2 - current_lr * db2
    return np.maximum(0, X @ w1 + b1) @ w2 + b2


def seed002_run(seed, epochs=10_000):
    """Seed 002's script; returns (X, y, initial weights, last loss, its accuracy, accuracy after training)."""
    seed(42)
    X = np.random.randn(100, 2)
    y = (np.sum(X, axis=1) > 0).astype(np.float32).reshape(-1, 1)
    W1, b1 = np.random.randn(2, 4), np.zeros((1, 4))
    W2, b2 = np.random.randn(4, 1), np.zeros((1, 1))
    initial = [W1.copy(), b1.ravel(), W2.copy(), b2.ravel()]

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    for _ in range(epochs):
        z1 = X @ W1 + b1
        a1 = np.maximum(0, z1)
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)
        loss = np.mean((a2 - y) ** 2)
        dz2 = 2 * (a2 - y) / y.size * sigmoid(z2) * (1 - sigmoid(z2))
        dW2, db2 = a1.T @ dz2, np.sum(dz2, axis=0, keepdims=True)
        dz1 = dz2 @ W2.T * (z1 > 0).astype(np.float32)
        dW1, db1 = X.T @ dz1, np.sum(dz1, axis=0, keepdims=True)
        W2, b2, W1, b1 = W2 - 0.01 * dW2, b2 - 0.01 * db2, W1 - 0.01 * dW1, b1 - 0.01 * db1
    seed_accuracy = np.mean((a2 > 0.5).astype(np.int32) == y)  # the seed's print: a2 of the last forward pass
    final = sigmoid(np.maximum(0, X @ W1 + b1) @ W2 + b2)
    return X, y, initial, loss, seed_accuracy, np.mean((final > 0.5) == (y > 0.5))


# ----------------------------------------------------------------------
# linear (seed 000)
# ----------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def linear_result(request):
    return demos.run_demo("linear", backend=request.param)


def test_linear_after_100_epochs_is_what_the_seed_code_gives(linear_result):
    n = linear_result.numbers
    losses, ws, bs = seed000_loop(100)
    assert f"{n['w']:.4f}, {n['b']:.4f}" == "1.7390, 0.5419"
    assert n["w"] == pytest.approx(ws[-1], abs=1e-12)
    assert n["b"] == pytest.approx(bs[-1], abs=1e-12)
    assert f"{n['loss_last_epoch']:.4f}" == "0.0573"
    assert n["loss_last_epoch"] == pytest.approx(losses[99], rel=1e-12)
    assert n["prediction_at_4"] == pytest.approx(4 * ws[-1] + bs[-1], abs=1e-12)


def test_linear_progress_lines_match_the_seed_loop(linear_result):
    losses, ws, bs = seed000_loop(100)
    progress = linear_result.numbers["progress"]
    assert [p["epoch"] for p in progress] == [0, 20, 40, 60, 80]
    for p in progress:
        e = p["epoch"]
        assert (p["loss"], p["w"], p["b"]) == pytest.approx((losses[e], ws[e], bs[e]), rel=1e-12, abs=1e-12)


def test_linear_converged_run_and_first_epoch(linear_result):
    c = linear_result.numbers["converged"]
    _, ws, bs = seed000_loop(5000)
    expected_first = next(e + 1 for e, (w, b) in enumerate(zip(ws, bs)) if f"{w:.4f}" == "2.0000"
                          and f"{b:.4f}" in ("0.0000", "-0.0000"))
    assert f"{c['w']:.4f}, {c['b']:.4f}" == "2.0000, 0.0000"
    assert c["first_epoch"] == expected_first
    assert 3000 <= c["first_epoch"] <= 3100  # "about 3,050" (seeds/README.md)


def test_linear_one_epoch_fits_equal_one_long_fit(linear_result):
    """The converged run (one fit call per epoch) passes through the 100-epoch run's weights."""
    hundred, converged = linear_result.runs
    assert converged.history.loss[:100] == pytest.approx(hundred.history.loss, rel=1e-12)


def test_linear_float32_headline():
    n = demos.run_linear(dtype="float32", converged_epochs=100)
    assert f"{n.numbers['w']:.4f}, {n.numbers['b']:.4f}" == "1.7390, 0.5419"


def test_first_epoch_showing():
    assert demos.first_epoch_showing([1.9, 1.99996, 2.0], [0.1, -0.00004, 0.0]) == 2
    assert demos.first_epoch_showing([1.9], [0.0]) is None


# ----------------------------------------------------------------------
# xor (seed 003)
# ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_xor_seed_config_reproduces_seed_code_with_half_the_lr(backend):
    """fastnn at lr 0.25 with the true MSE gradient = seed 003 at lr 0.5 with half of it."""
    X, y = demos.xor_data()
    model = demos.xor_seed_model(backend, seed=3)
    w1, b1, w2, b2 = model.get_weights()
    model.fit(X, y, epochs=demos.XOR_EPOCHS, optimizer=SGD(lr=demos.XOR_SEED_LR))
    expected = seed003_train(X, y, w1, b1, w2, b2)
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_xor_demo_seed_config_often_fails_and_better_solves(backend):
    result = demos.run_demo("xor", backend=backend)
    rows, better = result.numbers["seed_config"], result.numbers["better"]
    assert [r["seed"] for r in rows] == [0, 1, 2, 3, 4]
    assert all(0.01 <= r["loss"] <= 0.22 for r in rows)
    assert not all(r["solved"] for r in rows)
    assert all(r["solved"] for r in better)
    for r in better:
        p = np.array(r["predictions"])
        assert np.all(np.abs(p - np.array(demos.XOR_Y)) < demos.XOR_TOLERANCE)


def _better_xor_worst_error(backend, seed, dtype="float64"):
    X, y = demos.xor_data()
    model = demos.xor_better_model(backend, dtype, seed)
    model.fit(X, y, epochs=demos.XOR_BETTER_EPOCHS, optimizer=Adam(lr=demos.XOR_BETTER_LR),
              loss="binary_crossentropy")
    return float(np.max(np.abs(model.predict(X) - y)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_xor_better_config_solves_seeds_0_to_19_numba(dtype):
    errors = [_better_xor_worst_error("numba", s, dtype) for s in range(20)]
    assert max(errors) < demos.XOR_TOLERANCE, errors


@pytest.mark.parametrize("seed", [5, 11, 19])
def test_xor_better_config_solves_on_numpy(seed):
    assert _better_xor_worst_error("numpy", seed) < demos.XOR_TOLERANCE


def test_xor_seed_option_shifts_the_seeds():
    result = demos.run_xor(seed=7, n_seeds=2, epochs=10, better_epochs=10)
    assert [r["seed"] for r in result.numbers["seed_config"]] == [7, 8]
    assert [r["seed"] for r in result.numbers["better"]] == [7, 8]
    assert len(result.runs) == 4


def test_xor_labels_and_title_name_the_networks_trained():
    """The better runs are labelled with the 2-8-1 network they train (width from XOR_BETTER_HIDDEN), not 2-4-1."""
    better_net = f"2-{demos.XOR_BETTER_HIDDEN}-1"
    seed_net = f"2-{demos.XOR_SEED_HIDDEN}-1"
    result = demos.run_xor(backend="numpy", n_seeds=2, epochs=5, better_epochs=5)
    better = [run for run in result.runs if run.group == "better"]
    assert len(better) == 2
    for run in better:
        assert run.model.layers[0].units == demos.XOR_BETTER_HIDDEN
        assert run.label.startswith(f"{better_net}, ") and seed_net not in run.label
    for run in result.runs:
        if run.group == "as written":
            assert run.label.startswith(f"{seed_net}, ")
    assert better_net in result.title
    assert f"Better: {better_net} tanh/sigmoid" in demos.format_result(result)


# ----------------------------------------------------------------------
# house (seed 001)
# ----------------------------------------------------------------------


def test_house_data_and_initial_weights_are_the_seeds(legacy_seed):
    X, Y, weights = demos.house_data()
    X0, Y0, (w1, b1, w2, b2) = seed001_data_and_init(legacy_seed)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    for got, want in zip(weights, (w1, b1.ravel(), w2, b2.ravel())):
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module", params=BACKENDS)
def house_result(request):
    return demos.run_demo("house", backend=request.param)


def test_house_seed_equivalent_lr_reproduces_the_seed_code(house_result, legacy_seed):
    X, Y, params = seed001_data_and_init(legacy_seed)
    seed_pred = seed001_train(X, Y, params)
    s = house_result.numbers["seed_equivalent"]
    assert s["lr"] == pytest.approx(0.001 / 200)
    assert s["r2"] == pytest.approx(demos.r2_score(Y, seed_pred), abs=1e-9)
    np.testing.assert_allclose(house_result.runs[1].y_pred, seed_pred, rtol=1e-9)


def test_house_as_written_is_reported_honestly(house_result):
    a = house_result.numbers["as_written"]
    assert a["lr"] == 0.001
    assert a["loss_max"] > 100 * a["loss_first"]  # the step overshoots
    assert a["r2"] < 0  # worse than predicting the mean
    assert a["dead_units"] == 3
    assert a["diverged"] == (a["epochs_run"] < 1000)
    assert a["lr_final"] == pytest.approx(0.001 / (1 + 0.001 * 999))


def test_house_standardised_config_fits_well(house_result):
    z, true_r2 = house_result.numbers["standardised"], house_result.numbers["true_r2"]
    assert z["r2"] > 0.97
    assert z["r2"] > true_r2 - 0.01  # about as good as the noise allows
    assert z["slopes"][0] == pytest.approx(1.2, abs=0.1)
    assert z["slopes"][1] == pytest.approx(5.0, abs=0.5)
    assert z["example_true"] == pytest.approx(180.0)
    assert z["example_price"] == pytest.approx(180.0, abs=10)


def test_house_history_has_the_decaying_lr(house_result):
    lr = house_result.runs[2].history.lr
    assert lr[0] == pytest.approx(0.1) and lr[999] == pytest.approx(0.1 / (1 + 0.001 * 999))


def test_r2_score():
    assert demos.r2_score([1, 2, 3], [1, 2, 3]) == 1.0
    assert demos.r2_score([1, 2, 3], [2, 2, 2]) == 0.0


# ----------------------------------------------------------------------
# classify (seed 002)
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed002():
    state = np.random.get_state()
    try:
        return seed002_run(np.random.seed)
    finally:
        np.random.set_state(state)


def test_classify_data_and_initial_weights_are_the_seeds(seed002):
    X0, y0, initial, *_ = seed002
    X, y, weights = demos.classify_data()
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    for got, want in zip(weights, initial):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_classify_accuracy_and_loss_match_the_seed_code(backend, seed002):
    _, _, _, seed_loss, seed_accuracy, final_accuracy = seed002
    n = demos.run_demo("classify", backend=backend).numbers
    assert n["accuracy"] == final_accuracy
    assert n["accuracy"] == seed_accuracy
    assert n["loss_last_epoch"] == pytest.approx(seed_loss, rel=1e-9)


# ----------------------------------------------------------------------
# dispatch, printing, plumbing
# ----------------------------------------------------------------------


def test_run_demo_rejects_bad_names_and_seeds():
    with pytest.raises(ValueError, match="unknown demo"):
        demos.run_demo("nope")
    with pytest.raises(ValueError, match="takes no seed"):
        demos.run_demo("linear", seed=1)


@pytest.mark.parametrize("name", list(demos.DEMOS))
def test_format_result_reports_time_and_backend(name):
    kwargs = {"linear": {"epochs": 20, "converged_epochs": 30}, "xor": {"n_seeds": 1, "epochs": 5,
              "better_epochs": 5}, "classify": {"epochs": 5}}.get(name, {})
    result = demos.run_demo(name, backend="numpy", **kwargs)
    text = demos.format_result(result)
    assert text.startswith(f"== {name}: ")
    assert "backend numpy, float64" in text
    assert "Total time:" in text
    assert result.seconds > 0


def test_format_linear_says_the_article_differs():
    text = demos.format_result(demos.run_demo("linear"))
    assert "w = 1.7390, b = 0.5419" in text
    assert "w = 2.0000, b = 0.0000" in text
    assert "not those" in text


def test_fit_helper_refuses_a_partial_run():
    class Interrupted:
        def fit(self, X, y, **kwargs):
            return History(interrupted=True)

    with pytest.raises(KeyboardInterrupt):
        demos._fit(Interrupted(), None, None)


def test_demos_leave_the_global_random_state_alone():
    state = np.random.get_state()
    demos.house_data()
    demos.classify_data()
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
