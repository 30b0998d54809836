"""The four seed tutorials, reproduced with :class:`fastnn.Sequential`.

Each demo builds the seed's data (and, where the seed fixes them, its initial
weights) exactly as the seed's code does, trains fastnn models on the
requested backend, and returns a :class:`DemoResult` holding every number it
reports.  :func:`format_result` turns a result into the printed report; it
only formats numbers the demo computed.

==========  ========  ==========================================================
demo        seed      what it shows
==========  ========  ==========================================================
linear      000       one neuron learns y = 2x; what 100 epochs really give
xor         003       2-4-1 sigmoid net on XOR, as written (often fails) and a
                      configuration that solves it for every seed tried
house       001       2-3-1 ReLU regression of house prices with lr decay;
                      the seed's gradient scaling, and a working setup
classify    002       2-4-1 ReLU/sigmoid classifier, 10,000 epochs, accuracy
==========  ========  ==========================================================

Gradient conventions matter when a seed's learning rate is reused: fastnn
always computes the true gradient of the loss it reports (MSE = mean of the
squared errors).  Seeds 000 and 002 do the same, so their learning rates carry
over unchanged; seed 003 uses the gradient of *half* the MSE it prints and
seed 001 divides its gradient by the number of samples once too often.  The
demos for those two say how their learning rates translate.

Run them with ``fastnn demo NAME`` (see :mod:`fastnn.tools.cli`) or
``run_demo(NAME)``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fastnn import SGD, Adam, Dense, History, Sequential

# ----------------------------------------------------------------------
# results
# ----------------------------------------------------------------------


@dataclass
class Run:
    """One trained model of a demo, with what its plots need.

    Attributes
    ----------
    group : str
        Runs of the same group are drawn on one loss plot (e.g. the seeds of
        one configuration).
    label : str
        Short description of this run.
    model : Sequential
        The trained model.
    history : History
        Its training history.
    X : ndarray
        The model's inputs.
    y_true, y_pred : ndarray
        Targets and predictions after training, in the units the demo
        reports (for the standardised house model: prices).
    kind : {"regression", "classification"}
    loss_name : str
        The loss the model was trained on.
    seconds : float
        Wall time of the training (``fit`` calls only).
    """

    group: str
    label: str
    model: Sequential
    history: History
    X: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    kind: str
    loss_name: str
    seconds: float


@dataclass
class DemoResult:
    """Everything a demo computed.

    Attributes
    ----------
    name : str
        Demo name (a key of :data:`DEMOS`).
    title : str
        Human-readable title.
    backend, dtype : str
        The model settings used.
    numbers : dict
        The headline numbers (demo-specific keys, documented on each
        ``run_*`` function); the printed report is made from these.
    runs : list of Run
        The trained models, for plots and further inspection.
    seconds : float
        Wall time of the whole demo (training and evaluation), excluding the
        one-off compilation of the kernels.
    warmup_seconds : float
        Time spent compiling or loading the compiled kernels before the demo
        (0 when they were already loaded in this process).
    """

    name: str
    title: str
    backend: str
    dtype: str
    numbers: dict
    runs: list = field(default_factory=list)
    seconds: float = 0.0
    warmup_seconds: float = 0.0


# ----------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------


def _model(layers, backend, dtype, init="normal", seed=0, input_dim=None) -> Sequential:
    return Sequential(layers, input_dim=input_dim, backend=backend, dtype=dtype, init=init, seed=seed)


def _fit(model, X, y, **kwargs):
    """``model.fit`` timed, with fastnn's divergence warning captured instead of printed.

    Raises KeyboardInterrupt when Ctrl-C ended the fit early, so no demo
    reports the numbers of a partial run.

    Returns
    -------
    history : History
    seconds : float
    warning_messages : list of str
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        start = time.perf_counter()
        history = model.fit(X, y, **kwargs)
        seconds = time.perf_counter() - start
    if history.interrupted:  # fit returns normally after Ctrl-C; a demo must not report a partial run
        raise KeyboardInterrupt
    return history, seconds, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def format_seconds(seconds: float) -> str:
    """``"12.3 ms"`` below a tenth of a second, else ``"1.234 s"``."""
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds:.3f} s"


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (1 is perfect, 0 is the mean).

    Parameters
    ----------
    y_true, y_pred : array_like
        Same number of values (flattened).

    Returns
    -------
    float
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    ss_res = np.sum((y_true - y_pred) ** 2)
    ss_tot = np.sum((y_true - y_true.mean()) ** 2)
    return float(1.0 - ss_res / ss_tot)


_WARMED: set = set()


def warm_up(backend="numba", dtype="float64") -> float:
    """Compile (or load from Numba's cache) the training kernels for ``backend``/``dtype``.

    The demos call it so that their timings measure training, not the
    one-off compilation.  Returns the seconds it took (0 after the first call
    per backend and dtype).
    """
    if (backend, dtype) in _WARMED:
        return 0.0
    start = time.perf_counter()
    model = _model([Dense(2, "relu"), Dense(1, "sigmoid")], backend, dtype)
    X, y = np.zeros((3, 2)), np.zeros((3, 1))
    model.fit(X, y, epochs=1)
    model.predict(X)
    model.evaluate(X, y)
    _WARMED.add((backend, dtype))
    return time.perf_counter() - start


# ----------------------------------------------------------------------
# linear: seed 000
# ----------------------------------------------------------------------

#: Seed 000's inputs; the targets are ``2 * x``.
LINEAR_X = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
LINEAR_INITIAL_W, LINEAR_INITIAL_B = 0.1, 0.0
LINEAR_LR = 0.01
LINEAR_EPOCHS = 100
LINEAR_CONVERGED_EPOCHS = 5000
#: The seed prints its loss and weights at these epochs.
LINEAR_PRINT_EVERY = 20


def linear_data():
    """Seed 000's data: ``X`` (6, 1) = 0.5, 1.0, ..., 3.0 and ``y = 2 X``."""
    X = np.array(LINEAR_X, dtype=np.float64).reshape(-1, 1)
    return X, 2.0 * X


def _linear_model(backend, dtype) -> Sequential:
    model = _model([Dense(1, "identity")], backend, dtype)
    model.set_weights([np.array([[LINEAR_INITIAL_W]]), np.array([LINEAR_INITIAL_B])])
    return model


def _w_b(model):
    w, b = model.get_weights()
    return float(w[0, 0]), float(b[0])


def _linear_trace(X, y, backend, dtype, epochs):
    """Train one epoch per ``fit`` call, recording w and b after every epoch.

    Returns
    -------
    model, history (all epochs joined), w (epochs,), b (epochs,), seconds
    """
    model = _linear_model(backend, dtype)
    optimizer = SGD(lr=LINEAR_LR)
    w, b = np.empty(epochs), np.empty(epochs)
    joined = History()
    seconds = 0.0
    for e in range(epochs):
        history, took, _ = _fit(model, X, y, epochs=1, optimizer=optimizer)
        seconds += took
        joined.loss += history.loss
        joined.lr += history.lr
        w[e], b[e] = _w_b(model)
    joined.epochs = epochs
    return model, joined, w, b, seconds


def first_epoch_showing(w, b, w_target=2.0, b_target=0.0, decimals=4):
    """Number of epochs after which ``w`` and ``b`` first round to the targets, or None.

    Parameters
    ----------
    w, b : sequence of float
        Values after each epoch (index ``e`` = after ``e + 1`` epochs).
    w_target, b_target : float
    decimals : int, default 4
        As printed with ``:.4f``.

    Returns
    -------
    int or None
    """
    for e, (wi, bi) in enumerate(zip(w, b)):
        if round(float(wi), decimals) == w_target and round(float(bi), decimals) == b_target:
            return e + 1
    return None


def run_linear(backend="numba", dtype="float64", epochs=LINEAR_EPOCHS,
               converged_epochs=LINEAR_CONVERGED_EPOCHS) -> DemoResult:
    """Seed 000: one neuron ``y = w x + b`` learns ``y = 2x`` by full-batch gradient descent.

    Exactly the seed's setup: 6 points, ``w = 0.1, b = 0`` to start, MSE,
    lr 0.01, 100 epochs.  Seed 000 computes the true MSE gradient, so the
    learning rate carries over unchanged.  The seed's article prints
    ``w = 2.0000, b = 0.0000`` as its result, but its code gives
    ``w = 1.7390, b = 0.5419`` after 100 epochs; this demo reports what the
    code does, then trains a second model for ``converged_epochs`` epochs one
    epoch at a time to find when w and b first show as 2.0000 and 0.0000.

    Parameters
    ----------
    backend : {"numba", "numpy"}
    dtype : {"float64", "float32"}
    epochs : int, default 100
    converged_epochs : int, default 5000

    Returns
    -------
    DemoResult
        ``numbers``: ``w``, ``b``, ``loss_last_epoch`` (``history.loss[-1]``,
        the loss before the last update, as the seed prints it),
        ``loss_after``, ``prediction_at_4``, ``progress`` (list of
        ``{epoch, loss, w, b}`` every 20 epochs: loss before the update,
        w and b after it), ``converged`` (``epochs, w, b, loss_after,
        prediction_at_4, first_epoch``; ``first_epoch`` is None if w and b
        never round to 2 and 0).
    """
    X, y = linear_data()
    model = _linear_model(backend, dtype)
    history, seconds, _ = _fit(model, X, y, epochs=epochs, optimizer=SGD(lr=LINEAR_LR))
    w, b = _w_b(model)
    numbers = {
        "epochs": epochs, "lr": LINEAR_LR, "w": w, "b": b,
        "loss_last_epoch": history.loss[-1] if history.loss else None,
        "loss_after": model.evaluate(X, y)["loss"],
        "prediction_at_4": float(model.predict([[4.0]])[0, 0]),
    }
    runs = [_regression_run(f"{epochs} epochs", f"{epochs} epochs (seed 000 as written)", model, history, X, y,
                            seconds)]
    c_model, c_history, w_trace, b_trace, c_seconds = _linear_trace(X, y, backend, dtype, converged_epochs)
    numbers["progress"] = [
        {"epoch": e, "loss": c_history.loss[e], "w": float(w_trace[e]), "b": float(b_trace[e])}
        for e in range(0, min(epochs, converged_epochs), LINEAR_PRINT_EVERY)
    ]
    cw, cb = _w_b(c_model)
    numbers["converged"] = {
        "epochs": converged_epochs, "w": cw, "b": cb,
        "loss_after": c_model.evaluate(X, y)["loss"],
        "prediction_at_4": float(c_model.predict([[4.0]])[0, 0]),
        "first_epoch": first_epoch_showing(w_trace, b_trace),
        "seconds": c_seconds,
    }
    runs.append(_regression_run("converged", f"{converged_epochs} epochs", c_model, c_history, X, y, c_seconds))
    return DemoResult("linear", "Seed 000: one neuron learns y = 2x", backend, np.dtype(dtype).name, numbers, runs)


def _regression_run(group, label, model, history, X, y, seconds, y_pred=None) -> Run:
    y_pred = model.predict(X) if y_pred is None else y_pred
    return Run(group, label, model, history, X, y, y_pred, "regression", model.loss or "mse", seconds)


def _format_linear(r: DemoResult) -> list[str]:
    n, c = r.numbers, r.numbers["converged"]
    lines = [
        f"Data: x = 0.5, 1.0, ..., 3.0, y = 2x.  Start w = {LINEAR_INITIAL_W:g}, b = {LINEAR_INITIAL_B:g}.  "
        f"Full-batch gradient descent on MSE, lr {n['lr']}.",
        "Progress (loss before the epoch's update, w and b after it - what the seed's loop prints):",
    ]
    lines += [f"  epoch {p['epoch']:4d}: loss {p['loss']:.4f}, w = {p['w']:.4f}, b = {p['b']:.4f}"
              for p in n["progress"]]
    lines += [
        f"After {n['epochs']} epochs: w = {n['w']:.4f}, b = {n['b']:.4f}; loss at epoch {n['epochs'] - 1} = "
        f"{n['loss_last_epoch']:.4f} (after the last update: {n['loss_after']:.4f}); "
        f"prediction for x = 4.0: {n['prediction_at_4']:.4f} (true 8).",
    ]
    if n["epochs"] == LINEAR_EPOCHS:
        lines += [
            "  Note: the seed's article shows 'w = 2.0000, b = 0.0000' here (and an epoch-0 line 'loss 9.8125, "
            "w=0.3550, b=0.1050');",
            "  its code, run as written, gives the numbers above, not those.",
        ]
    lines += [
        f"Converged run ({c['epochs']} epochs): w = {c['w']:.4f}, b = {c['b']:.4f}, loss {c['loss_after']:.3g}, "
        f"prediction for x = 4.0: {c['prediction_at_4']:.4f}.",
    ]
    if c["first_epoch"] is None:
        lines.append(f"  w and b do not round to 2.0000 and 0.0000 within {c['epochs']} epochs.")
    else:
        lines.append(f"  w and b first show as 2.0000 and 0.0000 (4 decimals) after {c['first_epoch']} epochs.")
    lines.append(f"Fit time: {n['epochs']} epochs {format_seconds(r.runs[0].seconds)}; converged run "
                 f"{format_seconds(c['seconds'])} "
                 f"({c['epochs']} one-epoch fit calls, to record w and b after every epoch).")
    return lines


# ----------------------------------------------------------------------
# xor: seed 003
# ----------------------------------------------------------------------

XOR_X = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
XOR_Y = (0.0, 1.0, 1.0, 0.0)
XOR_EPOCHS = 2000
#: Seed 003's learning rate, applied to the gradient of half its MSE.
SEED003_LR = 0.5
#: The same steps with fastnn's true MSE gradient (twice the seed's gradient).
XOR_SEED_LR = SEED003_LR / 2
XOR_BETTER_HIDDEN = 8
XOR_BETTER_LR = 0.05
XOR_BETTER_EPOCHS = 2000
#: A run "solves" XOR when every prediction is within this of its target.
XOR_TOLERANCE = 0.1
XOR_N_SEEDS = 5


def xor_data():
    """The XOR truth table: ``X`` (4, 2) and ``y`` (4, 1)."""
    return np.array(XOR_X), np.array(XOR_Y).reshape(-1, 1)


def xor_seed_model(backend="numba", dtype="float64", seed=0) -> Sequential:
    """Seed 003's network, built: 2-4-1, sigmoid hidden and output, randn weights (from ``seed``), zero biases."""
    return _model([Dense(4, "sigmoid"), Dense(1, "sigmoid")], backend, dtype, init="normal", seed=seed, input_dim=2)


def xor_better_model(backend="numba", dtype="float64", seed=0) -> Sequential:
    """The configuration that solves XOR, built: 2-8-1, tanh hidden, sigmoid output, randn weights."""
    return _model([Dense(XOR_BETTER_HIDDEN, "tanh"), Dense(1, "sigmoid")], backend, dtype, init="normal", seed=seed,
                  input_dim=2)


def _xor_run(group, model, X, y, seed, epochs, optimizer, loss) -> tuple[dict, Run]:
    history, seconds, _ = _fit(model, X, y, epochs=epochs, optimizer=optimizer, loss=loss)
    p = model.predict(X)
    errors = np.abs(p - y)
    row = {
        "seed": seed,
        "loss": model.evaluate(X, y)["loss"],
        "mse": model.evaluate(X, y, loss="mse")["loss"],
        "predictions": [float(v) for v in p.ravel()],
        "correct": int(np.sum(errors < 0.5)),
        "solved": bool(np.all(errors < XOR_TOLERANCE)),
        "seconds": seconds,
    }
    run = Run(group, f"model seed {seed}", model, history, X, y, p, "classification", loss, seconds)
    return row, run


def run_xor(backend="numba", dtype="float64", seed=0, n_seeds=XOR_N_SEEDS, epochs=XOR_EPOCHS,
            better_epochs=XOR_BETTER_EPOCHS) -> DemoResult:
    """Seed 003: a 2-4-1 sigmoid network on XOR, as written and in a configuration that works.

    *As written*: 2-4-1, sigmoid hidden and output, randn initial weights
    (``init="normal"``), MSE, full batch, 2000 epochs.  Seed 003's backward
    pass is the gradient of **half** the MSE it prints (``dz2 = (a2 - y) *
    a2 (1 - a2)``, ``dW = a.T @ dz / m``), while fastnn computes the true
    MSE gradient, twice as large: the seed's ``lr = 0.5`` is therefore
    fastnn's ``lr = 0.25`` (same updates).  With 2000 epochs this usually
    ends with a loss between 0.01 and 0.22 and often has not solved XOR (the
    article's 0.0011 and [0.01, 0.99, 0.99, 0.01] are not what its code
    gives).

    *Better*: 2-8-1, tanh hidden, sigmoid output, binary cross-entropy,
    Adam(lr=0.05), 2000 epochs, randn weights.  It solved XOR (every
    prediction within 0.1 of its target) for each of the seeds 0-999 on the
    numba backend in float64 (0-199 in float32, 0-19 on the numpy backend).
    With 4 tanh hidden units (and Adam) 3 to 5 seeds in a hundred, e.g.
    seed 8, stay stuck in a local minimum where two outputs sit at 0.5.

    Parameters
    ----------
    backend : {"numba", "numpy"}
    dtype : {"float64", "float32"}
    seed : int, default 0
        Model seeds ``seed, seed + 1, ..., seed + n_seeds - 1`` are tried
        (they seed the initial weights).
    n_seeds : int, default 5
    epochs, better_epochs : int, default 2000

    Returns
    -------
    DemoResult
        ``numbers``: ``seed_config`` and ``better``, each a list of
        ``{seed, loss, mse, predictions, correct, solved, seconds}``
        (``loss``: the configuration's own loss after training; ``correct``:
        predictions on the right side of 0.5), plus the settings.
    """
    X, y = xor_data()
    numbers = {"epochs": epochs, "better_epochs": better_epochs, "seed_lr": XOR_SEED_LR,
               "tolerance": XOR_TOLERANCE, "seed_config": [], "better": []}
    runs = []
    for s in range(seed, seed + n_seeds):
        row, run = _xor_run("as written", xor_seed_model(backend, dtype, s), X, y, s, epochs,
                            SGD(lr=XOR_SEED_LR), "mse")
        numbers["seed_config"].append(row)
        runs.append(run)
    for s in range(seed, seed + n_seeds):
        row, run = _xor_run("better", xor_better_model(backend, dtype, s), X, y, s, better_epochs,
                            Adam(lr=XOR_BETTER_LR), "binary_crossentropy")
        numbers["better"].append(row)
        runs.append(run)
    return DemoResult("xor", "Seed 003: XOR with a 2-4-1 network", backend, np.dtype(dtype).name, numbers, runs)


def _format_xor_rows(rows, loss_label, loss_format) -> list[str]:
    lines = []
    for row in rows:
        preds = ", ".join(f"{p:.2f}" for p in row["predictions"])
        verdict = "solved" if row["solved"] else f"not solved ({row['correct']}/4 on the right side of 0.5)"
        loss = format(row["loss"], loss_format)
        lines.append(f"  seed {row['seed']:3d}: {loss_label} {loss}  predictions [{preds}]  {verdict}")
    return lines


def _format_xor(r: DemoResult) -> list[str]:
    n = r.numbers
    seed_rows, better_rows = n["seed_config"], n["better"]
    losses = [row["loss"] for row in seed_rows]
    lines = [
        "Targets [0, 1, 1, 0].  'Solved' = every prediction within "
        f"{n['tolerance']} of its target.",
        f"As written: 2-4-1 sigmoid/sigmoid, randn init, MSE, full batch, {n['epochs']} epochs, fastnn lr "
        f"{n['seed_lr']}",
        "  (= the seed's lr 0.5: its backward pass is the gradient of half the MSE, fastnn's is the true MSE "
        "gradient).",
    ]
    lines += _format_xor_rows(seed_rows, "MSE", ".4f")
    lines.append(f"  -> solved {sum(row['solved'] for row in seed_rows)} of {len(seed_rows)}; final loss "
                 f"{min(losses):.4f} to {max(losses):.4f} (the article prints 0.0011).")
    lines.append(f"Better: 2-{XOR_BETTER_HIDDEN}-1 tanh/sigmoid, randn init, binary cross-entropy, "
                 f"Adam(lr={XOR_BETTER_LR}), {n['better_epochs']} epochs:")
    lines += _format_xor_rows(better_rows, "BCE", ".1e")
    lines.append(f"  -> solved {sum(row['solved'] for row in better_rows)} of {len(better_rows)}; MSE "
                 f"{max(row['mse'] for row in better_rows):.2e} at most.")
    seconds = [row["seconds"] for row in seed_rows], [row["seconds"] for row in better_rows]
    lines.append(f"Fit time per model (mean): as written {format_seconds(float(np.mean(seconds[0])))}, "
                 f"better {format_seconds(float(np.mean(seconds[1])))}.")
    return lines


# ----------------------------------------------------------------------
# house: seed 001
# ----------------------------------------------------------------------

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
    model = _model([Dense(3, "relu"), Dense(1, "identity")], backend, dtype, init="xavier")
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
    history, seconds, messages = _fit(model, X, Y, epochs=HOUSE_EPOCHS, optimizer=SGD(lr=lr, decay=SEED001_DECAY))
    pred = model.predict(X)
    row = {
        "lr": lr, "epochs_run": history.epochs, "diverged": history.diverged, "warnings": messages,
        "loss_first": history.loss[0], "loss_max": max(history.loss), "loss_max_epoch": int(np.argmax(history.loss)),
        "mse": model.evaluate(X, Y)["loss"], "r2": r2_score(Y, pred),
        "dead_units": dead_relu_units(model, X), "seconds": seconds,
        "lr_final": history.lr[-1] if history.lr else None,
    }
    return row, _regression_run(group, f"lr {lr:g}", model, history, X, Y, seconds, pred)


def _house_standardised_run(X, Y, weights, backend, dtype) -> tuple[dict, Run]:
    x_mean, x_std = X.mean(axis=0), X.std(axis=0)
    y_mean, y_std = float(Y.mean()), float(Y.std())
    Xs, Ys = (X - x_mean) / x_std, (Y - y_mean) / y_std
    model = _house_model(backend, dtype, weights)
    history, seconds, messages = _fit(model, Xs, Ys, epochs=HOUSE_EPOCHS,
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
    run = _regression_run("standardised", f"lr {HOUSE_STANDARDISED_LR:g}", model, history, Xs, Y, seconds, pred)
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


def _format_house(r: DemoResult) -> list[str]:
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


# ----------------------------------------------------------------------
# classify: seed 002
# ----------------------------------------------------------------------

CLASSIFY_N = 100
CLASSIFY_LR = 0.01
CLASSIFY_EPOCHS = 10_000


def classify_data():
    """Seed 002's data and initial weights, drawn in the seed's order from seed 42.

    ``np.random.seed(42)``; ``X = randn(100, 2)``; ``y = (sum(X, 1) > 0)``;
    ``W1 = randn(2, 4)``, ``b1 = 0``, ``W2 = randn(4, 1)``, ``b2 = 0``.  A
    private ``RandomState(42)`` gives the same numbers without touching
    NumPy's global random state.

    Returns
    -------
    X : ndarray (100, 2)
    y : ndarray (100, 1) of 0.0/1.0
    weights : list ``[W1, b1, W2, b2]``
    """
    rs = np.random.RandomState(42)
    X = rs.randn(CLASSIFY_N, 2)
    y = (np.sum(X, axis=1) > 0).astype(np.float64).reshape(-1, 1)
    w1 = rs.randn(2, 4)
    w2 = rs.randn(4, 1)
    return X, y, [w1, np.zeros(4), w2, np.zeros(1)]


def run_classify(backend="numba", dtype="float64", epochs=CLASSIFY_EPOCHS) -> DemoResult:
    """Seed 002: a 2-4-1 ReLU/sigmoid classifier of ``x1 + x2 > 0``, MSE, 10,000 epochs.

    Data and initial weights exactly as the seed draws them
    (:func:`classify_data`); full-batch SGD, lr 0.01.  Seed 002 computes the
    true MSE gradient (``2 (a2 - y) / y.size``), so its learning rate
    carries over unchanged; ``examples/seed_classify.py`` trains the same
    network with the raw kernels and gets the same numbers.

    Parameters
    ----------
    backend : {"numba", "numpy"}
    dtype : {"float64", "float32"}
    epochs : int, default 10000

    Returns
    -------
    DemoResult
        ``numbers``: ``accuracy`` (of the trained model on the training
        data), ``loss_first`` (epoch 0), ``loss_last_epoch`` (before the last
        update, as the seed's loop computes it), ``loss_after``, ``epochs``,
        ``seconds``.
    """
    X, y, weights = classify_data()
    model = _model([Dense(4, "relu"), Dense(1, "sigmoid")], backend, dtype)
    model.set_weights(weights)
    history, seconds, _ = _fit(model, X, y, epochs=epochs, optimizer=SGD(lr=CLASSIFY_LR))
    p = model.predict(X)
    numbers = {
        "epochs": epochs, "lr": CLASSIFY_LR,
        "accuracy": float(np.mean((p > 0.5) == (y > 0.5))),
        "loss_first": history.loss[0] if history.loss else None,
        "loss_last_epoch": history.loss[-1] if history.loss else None,
        "loss_after": model.evaluate(X, y)["loss"],
        "seconds": seconds,
    }
    run = Run("as written", f"{epochs} epochs", model, history, X, y, p, "classification", "mse", seconds)
    return DemoResult("classify", "Seed 002: binary classification", backend, np.dtype(dtype).name, numbers, [run])


def _format_classify(r: DemoResult) -> list[str]:
    n = r.numbers
    return [
        "Data: 100 points randn(100, 2) (seed 42), label = (x1 + x2 > 0); the seed's initial weights.",
        f"Network 2-4-1 ReLU/sigmoid, MSE, full-batch SGD lr {n['lr']}, {n['epochs']} epochs.",
        f"Loss: {n['loss_first']:.4f} at epoch 0, {n['loss_last_epoch']:.6f} at epoch {n['epochs'] - 1} "
        f"(before its update), {n['loss_after']:.6f} after training.",
        f"Training accuracy: {n['accuracy']:.2%}.",
        f"Fit time: {format_seconds(n['seconds'])}.",
    ]


# ----------------------------------------------------------------------
# registry, dispatch and printing
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSpec:
    """A registered demo: the function that runs it, its report formatter, a description."""

    run: Callable[..., DemoResult]
    format: Callable[[DemoResult], list]
    description: str
    uses_seed: bool = False


DEMOS: dict[str, DemoSpec] = {
    "linear": DemoSpec(run_linear, _format_linear, "seed 000: one neuron learns y = 2x (100 epochs, then converged)"),
    "xor": DemoSpec(run_xor, _format_xor, "seed 003: 2-4-1 sigmoid net on XOR, as written and a configuration "
                    "that solves it", uses_seed=True),
    "house": DemoSpec(run_house, _format_house, "seed 001: 2-3-1 ReLU regression of house prices with lr decay"),
    "classify": DemoSpec(run_classify, _format_classify, "seed 002: 2-4-1 ReLU/sigmoid classifier, accuracy"),
}


def run_demo(name, backend="numba", dtype="float64", seed=None, **kwargs) -> DemoResult:
    """Run the demo ``name`` and return its result.

    Parameters
    ----------
    name : str
        A key of :data:`DEMOS`.
    backend : {"numba", "numpy"}, default "numba"
    dtype : {"float64", "float32"}, default "float64"
    seed : int, optional
        For demos that use one (``xor``: the first model seed); a ValueError
        for the others, whose data and initial weights the seeds fix.
    **kwargs
        Passed to the demo's ``run_*`` function (e.g. ``epochs``).

    Returns
    -------
    DemoResult
    """
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; expected one of {list(DEMOS)}")
    spec = DEMOS[name]
    if seed is not None:
        if not spec.uses_seed:
            users = [n for n, s in DEMOS.items() if s.uses_seed]
            raise ValueError(f"the {name!r} demo takes no seed (the seed tutorial fixes its data and initial "
                             f"weights); --seed applies to: {', '.join(users)}")
        kwargs["seed"] = seed
    warmup = warm_up(backend, np.dtype(dtype).name)
    start = time.perf_counter()
    result = spec.run(backend=backend, dtype=dtype, **kwargs)
    result.seconds = time.perf_counter() - start
    result.warmup_seconds = warmup
    return result


def format_result(result: DemoResult) -> str:
    """The printed report of a demo result: a header, the demo's lines, the timing."""
    header = f"== {result.name}: {result.title}  [backend {result.backend}, {result.dtype}] =="
    lines = [header] + DEMOS[result.name].format(result)
    timing = f"Total time: {format_seconds(result.seconds)}"
    if result.warmup_seconds >= 0.01:
        timing += f" (plus {format_seconds(result.warmup_seconds)} compiling/loading the kernels first)"
    lines.append(timing + ".")
    return "\n".join(lines)
