"""Fuzz the scikit-learn estimators: fastnn.MLPRegressor / MLPClassifier fit + predict.

scikit-learn's own class on the same data is the oracle: same errors, same
outcomes (:mod:`.run_sklearn`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from .cases import A, SklearnCase
from .driver import run_fuzz
from .values import Knobs, _array_arg, _f, seeds


SK_OPTIONS = {
    "hidden_layer_sizes": (st.sampled_from([(3,), (2,), (4, 3), ()]),
                           [(0,), (-1,), "3", None, (2.5,), [3], (10**400,), 0]),
    "max_iter": (st.sampled_from([2, 1, 3]), [0, -1, 2.5, None]),
    "activation": (st.sampled_from(["relu", "tanh", "logistic", "identity"]), ["softmax", "exp", "Relu", None, 3]),
    "solver": (st.sampled_from(["adam", "sgd", "lbfgs"]), ["Adam", None, "newton"]),
    "alpha": (st.sampled_from([1e-4, 0.0, 1.0]), [-1.0, float("nan"), float("inf"), "x", 1e300]),
    "batch_size": (st.sampled_from(["auto", 1, 3, 50]), [0, -1, 2.5, "1"]),
    "learning_rate": (st.sampled_from(["constant", "invscaling", "adaptive"]), ["optimal", None]),
    "learning_rate_init": (st.sampled_from([1e-3, 0.1]), [0.0, -1.0, float("nan"), 1e300]),
    "momentum": (st.sampled_from([0.9, 0.0]), [1.5, -0.1, float("nan")]),
    "nesterovs_momentum": (st.booleans(), ["yes", None]),
    "early_stopping": (st.booleans(), ["yes"]),
    "validation_fraction": (st.sampled_from([0.1, 0.5]), [0.0, 1.0, -0.1]),
    "n_iter_no_change": (st.sampled_from([10, 1]), [0, -1]),
    "shuffle": (st.booleans(), [None]),
    "tol": (st.sampled_from([1e-4, 0.0]), [-1.0, float("nan")]),
    "beta_1": (st.sampled_from([0.9]), [1.0, -0.1]),
    "epsilon": (st.sampled_from([1e-8]), [0.0, -1.0]),
    "max_fun": (st.sampled_from([15000, 1]), [0]),
    "n_threads": (st.sampled_from([None, 1, 2]), [0, 3, "2", 2.5, -1, True, 10**400]),
}


@st.composite
def sklearn_cases(draw, estimator: str) -> SklearnCase:
    rng = np.random.default_rng(draw(seeds))
    options = dict(SK_OPTIONS)
    if estimator == "MLPRegressor":
        options["loss"] = (st.sampled_from(["squared_error", "poisson"]), ["mse", None])
    knobs = Knobs(draw, list(options) + ["X", "X", "y", "X_test"])
    params = {"random_state": draw(st.integers(0, 3)), "max_iter": knobs("max_iter", *options.pop("max_iter")),
              "hidden_layer_sizes": knobs("hidden_layer_sizes", *options.pop("hidden_layer_sizes"))}
    for name, (valid, bad) in options.items():
        if knobs.on(name) or draw(st.integers(0, 9)) < 4:
            params[name] = knobs(name, valid, bad)
    n = draw(st.sampled_from([10, 30, 5, 3, 2, 1]))
    d = draw(st.sampled_from([3, 1, 2]))
    X = _array_arg(draw, rng, (n if not knobs.on("X") or draw(st.booleans()) else 0, d), mutate=knobs.on("X"))
    if knobs.on("X") and draw(st.integers(0, 4)) == 4 and X.data.ndim == 2 and X.data.dtype.kind in "fiub" \
            and X.data.dtype != np.float16:  # scipy.sparse has no float16
        X = A(X.data, "csr")
    if estimator == "MLPRegressor":
        content = "counts" if params.get("loss") == "poisson" else "normal"
        shape = draw(st.sampled_from([(n,), (n, 1), (n, 2)]))
        y = _array_arg(draw, rng, shape, content, "float64", mutate=knobs.on("y"))
        methods = ("predict",)
    else:
        kinds = ["int", "str", "bool", "float-int", "multilabel", "single"] + (
            ["float", "nan", "object-mixed", "2d-column"] if knobs.on("y") else [])
        kind = draw(st.sampled_from(kinds))
        labels = rng.integers(0, 3, n)
        if kind == "int":
            y = A(labels)
        elif kind == "str":
            y = A(np.array(["a", "b", "c"])[labels])
        elif kind == "bool":
            y = A(labels.astype(bool))
        elif kind == "float-int":
            y = A(labels.astype(np.float64))
        elif kind == "multilabel":
            y = A(rng.integers(0, 2, (n, 3)))
        elif kind == "single":
            y = A(np.zeros(n, dtype=np.int64))
        elif kind == "float":
            y = A(labels.astype(np.float64) / 2)
        elif kind == "nan":
            y = A(np.where(labels == 0, np.nan, labels.astype(np.float64)))
        elif kind == "object-mixed":
            y = A(np.array([1, "a", 2.5] * n, dtype=object)[:n])
        else:
            y = A(labels.reshape(-1, 1))
        methods = ("predict", "predict_proba")
    n_test = draw(st.sampled_from([4, 1]))
    d_test = d if not knobs.on("X_test") or draw(st.booleans()) else d + 1
    X_test = _array_arg(draw, rng, (n_test, d_test), mutate=knobs.on("X_test"))
    return SklearnCase(estimator, params, X, y, X_test, methods)


def _sk_example(estimator, X_test, **params):
    y = np.arange(10) % 3 if estimator == "MLPClassifier" else _f(10)
    methods = ("predict", "predict_proba") if estimator == "MLPClassifier" else ("predict",)
    return SklearnCase(estimator, dict(random_state=0, hidden_layer_sizes=(3,), max_iter=2, **params),
                       A(_f(10, 3)), A(y), X_test, methods)


SKLEARN_EXAMPLES = [
    lambda e: _sk_example(e, A(_f(4, 3).astype(np.longdouble))),
    lambda e: SklearnCase(e, {"random_state": 0, "hidden_layer_sizes": (3,), "max_iter": 2}, A(_f(10, 3)),
                          A(np.array(["0.5", "1.5"] * 5)), A(_f(4, 3)),
                          ("predict", "predict_proba") if e == "MLPClassifier" else ("predict",)),
    lambda e: _sk_example(e, A(_f(4, 3, value=np.nan))),
    lambda e: _sk_example(e, A(_f(4, 3)), solver="lbfgs", n_threads=1),
    lambda e: _sk_example(e, A(_f(4, 3)), n_threads=0),
]


@pytest.mark.parametrize("estimator", ["MLPRegressor", "MLPClassifier"])
def test_fuzz_sklearn_estimator(worker, estimator):
    """fastnn.MLPRegressor / MLPClassifier fit + predict: scikit-learn's errors, scikit-learn's outcomes."""
    pytest.importorskip("sklearn")
    run_fuzz(worker, f"{estimator}.fit+predict", sklearn_cases(estimator), quick=40, long=1500,
             examples=[make(estimator) for make in SKLEARN_EXAMPLES])
