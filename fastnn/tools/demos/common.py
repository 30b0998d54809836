"""What the demos share: their result types, the timed fit, the warm-up and small formatting helpers.

Internal to :mod:`fastnn.tools.demos`: each tutorial module (``linear``,
``xor``, ``house``, ``classify``) builds its models with
:func:`build_model`, trains them with :func:`timed_fit` and returns a
:class:`DemoResult` whose :class:`Run` entries the plots
(:mod:`fastnn.tools.plot`) draw.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from fastnn import Dense, History, Sequential

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


def build_model(layers, backend, dtype, init="normal", seed=0, input_dim=None) -> Sequential:
    """A :class:`fastnn.Sequential` of ``layers`` on ``backend`` in ``dtype`` (built when ``input_dim`` is given)."""
    return Sequential(layers, input_dim=input_dim, backend=backend, dtype=dtype, init=init, seed=seed)


def timed_fit(model, X, y, **kwargs):
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
    model = build_model([Dense(2, "relu"), Dense(1, "sigmoid")], backend, dtype)
    X, y = np.zeros((3, 2)), np.zeros((3, 1))
    model.fit(X, y, epochs=1)
    model.predict(X)
    model.evaluate(X, y)
    _WARMED.add((backend, dtype))
    return time.perf_counter() - start


def regression_run(group, label, model, history, X, y, seconds, y_pred=None) -> Run:
    """A regression :class:`Run` of ``model`` on ``X`` (predictions computed unless given)."""
    y_pred = model.predict(X) if y_pred is None else y_pred
    return Run(group, label, model, history, X, y, y_pred, "regression", model.loss or "mse", seconds)

