"""Seed 001: house-price regression, 2-3-1 ReLU hidden layer, identity output, lr decay.

The seed reports half the MSE and divides its gradient by the number of
samples once too often; :func:`run_house` trains the seed's configuration
as written, with the seed's actual steps, and on standardised data.
"""

from __future__ import annotations

import numpy as np

from fastnn import SGD, Dense, Sequential
from fastnn.tools.demos.common import DemoResult, Run, build_model, format_seconds, r2_score, regression_run, timed_fit

HOUSE_N = 100
HOUSE_TRUE_WEIGHTS = (1.2, 5.0)
HOUSE_TRUE_BIAS = 20.0
HOUSE_NOISE_STD = 5.0
HOUSE_EPOCHS = 1000
SEED001_LR = 0.001
SEED001_DECAY = 0.001
#: Seed 001's loss is (1/2m) sum(e^2) = MSE / 2, and it divides that loss's
#: gradient by m once more, so its step is lr / (2 m) times the MSE gradient.
HOUSE_SEED_EQUIVALENT_LR = SEED001_LR / (2 * HOUSE_N)
HOUSE_STANDARDISED_LR = 0.1
#: A house the seed's article prices by hand: area 100, location 8 -> 180.
HOUSE_EXAMPLE = (100.0, 8.0)


def house_data():
    """Seed 001's data and initial weights, drawn in the seed's order from seed 42.

    ``np.random.seed(42)``, then ``X = rand(100, 2)`` scaled to area 0-100
    and location 1-10, noise ``normal(0, 5, (100, 1))``, ``Y = X @ [1.2, 5] +
    20 + noise``; then ``init_params``: ``w1 = randn(2, 3) * sqrt(2/5)``,
    ``w2 = randn(3, 1) * sqrt(2/4)``, zero biases.  A private
    ``RandomState(42)`` gives the same numbers without touching NumPy's
    global random state.

    Returns
    -------
    X : ndarray (100, 2)
    Y : ndarray (100, 1)
    weights : list ``[w1, b1, w2, b2]`` for :meth:`Sequential.set_weights`
    """
    rs = np.random.RandomState(42)
    X = rs.rand(HOUSE_N, 2)
    X[:, 0] = X[:, 0] * 100
    X[:, 1] = X[:, 1] * 9 + 1
    noise = rs.normal(0, HOUSE_NOISE_STD, (HOUSE_N, 1))
    Y = (X @ np.array(HOUSE_TRUE_WEIGHTS)).reshape(-1, 1) + HOUSE_TRUE_BIAS + noise
    w1 = rs.randn(2, 3) * np.sqrt(2 / (2 + 3))
    w2 = rs.randn(3, 1) * np.sqrt(2 / (3 + 1))
    return X, Y, [w1, np.zeros(3), w2, np.zeros(1)]


def house_true_price(X) -> np.ndarray:
    """The noise-free price ``1.2 area + 5 location + 20``, shape (n, 1)."""
    return (np.asarray(X) @ np.array(HOUSE_TRUE_WEIGHTS)).reshape(-1, 1) + HOUSE_TRUE_BIAS


def _house_model(backend, dtype, weights) -> Sequential:
    model = build_model([Dense(3, "relu"), Dense(1, "identity")], backend, dtype, init="xavier")
    model.set_weights(weights)
    return model


def dead_relu_units(model, X) -> int:
    """Number of first-layer units whose pre-activation is <= 0 for every row of ``X``."""
    w, b = model.get_weights()[:2]
    z = np.asarray(X, dtype=np.float64) @ w + b
    return int(np.sum(np.all(z <= 0, axis=0)))


def mean_slopes(price, X, rel_step=1e-4) -> list[float]:
    """Average partial derivatives of ``price(X)`` over the rows of ``X`` (central differences).

    Parameters
    ----------
    price : callable
        Maps an (n, 2) array of raw features to (n, 1) prices.
    X : ndarray (n, 2)
    rel_step : float
        Step as a fraction of each feature's standard deviation.

    Returns
    -------
    list of float
        ``[d price / d area, d price / d location]``.
    """
    slopes = []
    for j in range(X.shape[1]):
        h = rel_step * X[:, j].std()
        up, down = X.copy(), X.copy()
        up[:, j] += h
        down[:, j] -= h
        slopes.append(float(np.mean((price(up) - price(down)) / (2 * h))))
    return slopes


def _house_raw_run(group, X, Y, weights, backend, dtype, lr) -> tuple[dict, Run]:
    model = _house_model(backend, dtype, weights)
    history, seconds, messages = timed_fit(model, X, Y, epochs=HOUSE_EPOCHS, optimizer=SGD(lr=lr, decay=SEED001_DECAY))
    pred = model.predict(X)
    row = {
        "lr": lr, "epochs_run": history.epochs, "diverged": history.diverged, "warnings": messages,
        "loss_first": history.loss[0], "loss_max": max(history.loss), "loss_max_epoch": int(np.argmax(history.loss)),
        "mse": model.evaluate(X, Y)["loss"], "r2": r2_score(Y, pred),
        "dead_units": dead_relu_units(model, X), "seconds": seconds,
        "lr_final": history.lr[-1] if history.lr else None,
    }
    return row, regression_run(group, f"lr {lr:g}", model, history, X, Y, seconds, pred)


def _house_standardised_run(X, Y, weights, backend, dtype) -> tuple[dict, Run]:
    x_mean, x_std = X.mean(axis=0), X.std(axis=0)
    y_mean, y_std = float(Y.mean()), float(Y.std())
    Xs, Ys = (X - x_mean) / x_std, (Y - y_mean) / y_std
    model = _house_model(backend, dtype, weights)
    history, seconds, messages = timed_fit(model, Xs, Ys, epochs=HOUSE_EPOCHS,
                                      optimizer=SGD(lr=HOUSE_STANDARDISED_LR, decay=SEED001_DECAY))

    def price(raw):
        return model.predict((raw - x_mean) / x_std) * y_std + y_mean

    pred = price(X)
    example = np.array([HOUSE_EXAMPLE])
    row = {
        "lr": HOUSE_STANDARDISED_LR, "diverged": history.diverged, "warnings": messages,
        "mse_standardised": model.evaluate(Xs, Ys)["loss"], "mse": float(np.mean((pred - Y) ** 2)),
        "r2": r2_score(Y, pred), "slopes": mean_slopes(price, X),
        "example_price": float(price(example)[0, 0]), "example_true": float(house_true_price(example)[0, 0]),
        "dead_units": dead_relu_units(model, Xs), "seconds": seconds,
    }
    run = regression_run("standardised", f"lr {HOUSE_STANDARDISED_LR:g}", model, history, Xs, Y, seconds, pred)
    return row, run


def run_house(backend="numba", dtype="float64") -> DemoResult:
    """Seed 001: house-price regression, 2-3-1 ReLU hidden, identity output, lr decay.

    Data and initial weights exactly as the seed draws them
    (:func:`house_data`); ``SGD(decay=0.001)`` is the seed's schedule
    ``lr / (1 + 0.001 epoch)``; 1000 epochs, full batch, MSE.

    Seed 001 reports the loss ``(1/2m) sum(e^2)`` (half the MSE) and its
    backward pass divides that loss's gradient by ``m`` a second time; fastnn
    computes the true gradient of the loss it reports (the MSE).  So the
    seed's ``lr = 0.001`` is fastnn's ``lr = 0.001 / (2 * 100) = 5e-6``.
    Three runs, from the same initial weights:

    1. *As written*: ``lr = 0.001`` with the true gradient on the raw
       features (area up to 100): the second epoch's loss explodes, all
       hidden ReLU units die and the network predicts a constant (R^2 below
       0).  fastnn would stop and warn if the loss became non-finite
       (``History.diverged``); here it stays finite.
    2. *Seed-equivalent*: ``lr = 5e-6``, the seed's actual updates; R^2 about
       0.71 after 1000 epochs.
    3. *Standardised*: inputs and targets scaled to zero mean and unit
       variance, ``lr = 0.1`` with the same decay: R^2 about 0.985, the
       level of the true function itself (the noise limits it), with slopes
       close to the true 1.2 and 5.

    Returns
    -------
    DemoResult
        ``numbers``: ``as_written`` and ``seed_equivalent`` (``lr,
        epochs_run, diverged, warnings, loss_first, loss_max,
        loss_max_epoch, mse, r2, dead_units, seconds, lr_final``),
        ``standardised`` (``lr, mse, r2, slopes, example_price,
        example_true, dead_units, seconds, ...``), ``true_r2`` (R^2 of the
        noise-free price function on the data).
    """
    X, Y, weights = house_data()
    numbers = {"epochs": HOUSE_EPOCHS, "decay": SEED001_DECAY, "true_r2": r2_score(Y, house_true_price(X))}
    runs = []
    for key, group, lr in (("as_written", "as written", SEED001_LR),
                           ("seed_equivalent", "seed-equivalent", HOUSE_SEED_EQUIVALENT_LR)):
        numbers[key], run = _house_raw_run(group, X, Y, weights, backend, dtype, lr)
        runs.append(run)
    numbers["standardised"], run = _house_standardised_run(X, Y, weights, backend, dtype)
    runs.append(run)
    return DemoResult("house", "Seed 001: house prices", backend, np.dtype(dtype).name, numbers, runs)


def _divergence_note(row) -> str:
    if row["diverged"]:
        return f"fastnn stopped it after {row['epochs_run']} epochs: " + "; ".join(row["warnings"])
    return "the loss stayed finite, so fastnn did not flag divergence"


def format_house(r: DemoResult) -> list[str]:
    """The report lines of a :func:`run_house` result (printed by :func:`fastnn.tools.demos.format_result`)."""
    n = r.numbers
    a, s, z = n["as_written"], n["seed_equivalent"], n["standardised"]
    lines = [
        f"Data: 100 houses, area 0-100, location 1-10, price = 1.2 area + 5 location + 20 + N(0, 5); the true "
        f"function has R^2 {n['true_r2']:.4f} on it.",
        f"Network 2-3-1 ReLU/identity, the seed's Xavier initial weights, MSE, {n['epochs']} epochs, lr decay "
        f"lr / (1 + {n['decay']} epoch).",
        "fastnn uses the true gradient of the MSE; the seed reports MSE/2 and divides its gradient by m twice,",
        f"so the seed's lr 0.001 equals fastnn lr {s['lr']:g}.",
        f"1. As written (lr {a['lr']:g}, true gradient, raw features): loss {a['loss_first']:.1f} at epoch 0, "
        f"{a['loss_max']:.4g} at epoch {a['loss_max_epoch']};",
        f"   {_divergence_note(a)}. {a['dead_units']} of 3 hidden ReLU units dead; "
        f"final MSE {a['mse']:.1f}, R^2 {a['r2']:.4f}.",
        f"2. Seed-equivalent (lr {s['lr']:g}): final MSE {s['mse']:.2f} (the seed's loss {s['mse'] / 2:.2f}), "
        f"R^2 {s['r2']:.4f}, {s['dead_units']} of 3 units dead.",
        f"3. Standardised inputs and targets (lr {z['lr']:g}): MSE {z['mse']:.2f}, R^2 {z['r2']:.4f}; "
        f"{z['dead_units']} of 3 units dead.",
        f"   Learned slopes (mean over the data): {z['slopes'][0]:.3f} per unit area (true 1.2), "
        f"{z['slopes'][1]:.3f} per location point (true 5).",
        f"   Price of area {HOUSE_EXAMPLE[0]:g}, location {HOUSE_EXAMPLE[1]:g}: {z['example_price']:.1f} "
        f"(true function {z['example_true']:.1f}).",
        "Fit time per run: " + ", ".join(format_seconds(row["seconds"]) for row in (a, s, z)) + ".",
    ]
    return lines

