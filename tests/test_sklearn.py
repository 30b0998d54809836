"""fastnn.MLPRegressor / MLPClassifier against scikit-learn itself.

- parity: same initial weights and batches -> same weights as scikit-learn after
  20 epochs (1e-8 relative, float64) for sgd (every schedule, with and without
  (Nesterov) momentum) and adam; lbfgs final loss within 1e-6 relative;
- scikit-learn's own golden tests (the worked one-step example of
  ``test_fit`` and the finite-difference ``test_gradient``);
- the estimator conformance checks, meta-estimators, pickling, dtypes;
- accuracy on the bundled data sets next to scikit-learn's.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import datasets  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import LabelBinarizer, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402

RTOL = 1e-8


def _data(task, n=157, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    if task == "regression":
        y = X[:, 0] * 2 + np.sin(X[:, 1])
    elif task == "multi-output":
        y = np.c_[X[:, 0] * 2 + np.sin(X[:, 1]), X[:, 2]]
    elif task == "poisson":
        y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
    elif task == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    elif task == "multiclass":
        y = np.array(["ant", "bee", "cat"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]
    else:  # multilabel
        y = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0].astype(int)
    return X, y


def _pair(task, **params):
    regression = task in ("regression", "multi-output", "poisson")
    if task == "poisson":
        params["loss"] = "poisson"
    sk = (SkMLPRegressor if regression else SkMLPClassifier)(**params)
    fast = (MLPRegressor if regression else MLPClassifier)(**params)
    return sk, fast


def _assert_same_weights(fast, sk, rtol=RTOL):
    for got, want in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_):
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


SOLVERS = [
    dict(solver="sgd", learning_rate="constant", momentum=0.0),
    dict(solver="sgd", learning_rate="constant", momentum=0.9, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="constant", momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", learning_rate="invscaling", momentum=0.9, learning_rate_init=0.05),
    dict(solver="sgd", learning_rate="adaptive", momentum=0.5, tol=1e-2, n_iter_no_change=2),
    dict(solver="adam"),
    dict(solver="adam", beta_1=0.8, beta_2=0.99, epsilon=1e-6, learning_rate_init=0.01),
]
TASKS = ["regression", "multi-output", "poisson", "binary", "multiclass", "multilabel"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("shuffle", [False, True])
def test_stochastic_solvers_match_sklearn(task, solver, shuffle):
    X, y = _data(task)
    params = dict(hidden_layer_sizes=(7, 5), max_iter=20, random_state=0, alpha=0.01, batch_size=32,
                  shuffle=shuffle, activation="tanh", **solver)
    sk, fast = _pair(task, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        fast.fit(X, y)
    _assert_same_weights(fast, sk)
    np.testing.assert_allclose(fast.loss_curve_, sk.loss_curve_, rtol=RTOL)
    assert (fast.n_iter_, fast.t_) == (sk.n_iter_, sk.t_)
    np.testing.assert_allclose(fast.predict(X) if task in ("regression", "multi-output", "poisson")
                               else fast.predict_proba(X),
                               sk.predict(X) if task in ("regression", "multi-output", "poisson")
                               else sk.predict_proba(X), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_matches_sklearn(task, activation):
    X, y = _data(task)
    sk, fast = _pair(task, hidden_layer_sizes=(7,), solver="lbfgs", max_iter=30, random_state=0,
                     alpha=0.01, activation=activation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        fast.fit(X, y)
    assert fast.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    assert fast.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sample_weight_early_stopping_and_validation_scores_match(solver):
    X, y = _data("multiclass", n=300)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    params = dict(hidden_layer_sizes=(8,), max_iter=25, random_state=3, solver=solver, early_stopping=True,
                  validation_fraction=0.2, n_iter_no_change=30, batch_size=40)
    sk, fast = SkMLPClassifier(**params), MLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y, sample_weight=sw)
        fast.fit(X, y, sample_weight=sw)
    _assert_same_weights(fast, sk)
    np.testing.assert_allclose(fast.validation_scores_, sk.validation_scores_)
    assert fast.best_validation_score_ == sk.best_validation_score_


def test_partial_fit_warm_start_and_replaced_coefs_match():
    X, y = _data("regression")
    params = dict(hidden_layer_sizes=(6,), solver="adam", random_state=0, batch_size=50)
    sk, fast = SkMLPRegressor(**params), MLPRegressor(**params)
    for _ in range(3):
        sk.partial_fit(X, y)
        fast.partial_fit(X, y)
    assert fast.t_ == sk.t_ and fast._optimizer.t == sk._optimizer.t
    _assert_same_weights(fast, sk)
    # a user replaces coefs_ and continues with warm_start: t_ carries over, the optimizer restarts
    new_coefs = [c * 0.5 for c in sk.coefs_]
    for est in (sk, fast):
        est.set_params(warm_start=True, max_iter=5)
        est.coefs_ = [c.copy() for c in new_coefs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    assert fast.t_ == sk.t_
    _assert_same_weights(fast, sk)


def test_sklearn_golden_worked_example():
    """scikit-learn's test_fit: one SGD step of a 3-2-1 logistic net, worked out by hand (3 decimals)."""
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    mlp = MLPClassifier(solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic", random_state=1,
                        max_iter=1, hidden_layer_sizes=2, momentum=0)
    mlp.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]), np.array([[0.1], [0.2]])]
    mlp.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
    mlp.n_outputs_, mlp.n_features_in_, mlp.n_iter_, mlp.n_layers_ = 1, 3, 0, 3
    mlp.out_activation_, mlp.t_, mlp.best_loss_, mlp.loss_curve_ = "logistic", 0, np.inf, []
    mlp._no_improvement_count = 0
    mlp.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_almost_equal(
        mlp.coefs_[0], np.array([[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]]), decimal=3)
    np.testing.assert_almost_equal(mlp.coefs_[1], np.array([[0.04706], [0.154089]]), decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[0], np.array([0.098333, 0.09626]), decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[1], np.array(0.9235), decimal=3)
    np.testing.assert_almost_equal(mlp.predict_proba(X)[0, 1], 0.739, decimal=3)


@pytest.mark.parametrize("n_labels", [2, 3])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_sklearn_golden_gradient(n_labels, activation):
    """scikit-learn's test_gradient: the analytic gradient of _loss_grad_lbfgs equals finite differences."""
    rs = np.random.RandomState(seed=42)
    X = rs.rand(5, 10)
    y = 1 + np.mod(np.arange(5) + 1, n_labels)
    Y = LabelBinarizer().fit_transform(y)
    mlp = MLPClassifier(activation=activation, hidden_layer_sizes=10, solver="lbfgs", alpha=1e-5,
                        learning_rate_init=0.2, max_iter=1, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    theta = np.hstack([p.ravel() for p in mlp.coefs_ + mlp.intercepts_])

    def loss_grad(t):
        return mlp._loss_grad_lbfgs(t, X, Y, None, None, None, None, None)

    value, grad = loss_grad(theta)
    eps = 1e-5
    numgrad = np.array([(loss_grad(theta + e)[0] - loss_grad(theta - e)[0]) / (2 * eps)
                        for e in np.eye(theta.size) * eps])
    np.testing.assert_almost_equal(numgrad, grad)


@parametrize_with_checks([MLPRegressor(), MLPClassifier()])
def test_sklearn_estimator_checks(estimator, check):
    """scikit-learn's conformance checks, default parameters, none marked as expected failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_float32_stays_float32():
    X, y = _data("multiclass")
    X = X.astype(np.float32)
    for est in (MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0),
                MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, solver="lbfgs", random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
        assert est.predict_proba(X).dtype == np.float32


def test_meta_estimators_clone_and_pickle():
    X, y = _data("binary", n=200)
    params = dict(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3, n_jobs=2)  # worker processes
        sk_scores = cross_val_score(make_pipeline(StandardScaler(), SkMLPClassifier(**params)), X, y, cv=3)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    np.testing.assert_allclose(scores, sk_scores)
    assert np.all(scores > 0.8)
    assert search.best_estimator_.score(X, y) > 0.8
    fitted = search.best_estimator_
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    fresh = clone(fitted.named_steps["mlpclassifier"])
    assert fresh.get_params() == fitted.named_steps["mlpclassifier"].get_params()
    assert not hasattr(fresh, "coefs_")


def test_n_threads_is_a_parameter_and_does_not_change_results():
    X, y = _data("regression", n=400)
    results = []
    for n_threads in (1, 2):
        est = MLPRegressor(hidden_layer_sizes=(64,), max_iter=5, random_state=0, n_threads=n_threads)
        assert est.get_params()["n_threads"] == n_threads
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            results.append(est.fit(X, y).coefs_)
    assert all(np.array_equal(a, b) for a, b in zip(*results))
    with pytest.raises(ValueError, match="n_threads"):
        MLPRegressor(n_threads=0).fit(X, y)


def test_warnings_and_errors_are_sklearns():
    X, y = _data("binary")
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.where(X > 2, np.nan, X), y)


def test_import_error_names_the_install_command():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastnn\n"
            "try:\n    fastnn.MLPClassifier\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "scikit-learn" in out and "pip install" in out


DATASETS = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_default_accuracy_matches_sklearn(name):
    """Default parameters, scaled data, stratified 25 % hold-out: mean test accuracy within 1 point over 3 seeds."""
    X, y = DATASETS[name](return_X_y=True)
    accuracies = {"sklearn": [], "fastnn": []}
    for seed in range(3):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for label, cls in (("sklearn", SkMLPClassifier), ("fastnn", MLPClassifier)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = cls(random_state=seed).fit(X_train, y_train)
            accuracies[label].append(model.score(X_test, y_test))
    assert abs(np.mean(accuracies["fastnn"]) - np.mean(accuracies["sklearn"])) <= 0.01, accuracies


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="adaptive", tol=1e-1, n_iter_no_change=1, max_iter=12),
    dict(solver="adam", early_stopping=True, n_iter_no_change=2, max_iter=15),
    dict(solver="sgd", learning_rate="invscaling", max_iter=3),
], ids=["sgd-adaptive", "adam-early-stopping", "sgd-invscaling"])
def test_verbose_output_and_schedule_match_sklearn(params, capsys):
    """fastnn's own epoch driver prints and schedules what scikit-learn's does, epoch by epoch."""
    X, y = _data("binary")
    printed = []
    for cls in (SkMLPClassifier, MLPClassifier):
        est = cls(hidden_layer_sizes=(5,), random_state=0, verbose=True, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        printed.append(capsys.readouterr().out)
        if params["solver"] == "sgd":
            printed.append(est._optimizer.learning_rate)
    assert printed[: len(printed) // 2] == printed[len(printed) // 2:]
    assert "Iteration 1, loss = " in printed[0]


def test_only_the_listed_private_sklearn_module_is_imported():
    """The estimators import no private scikit-learn module but the parameter-validation one (see fastnn/sklearn.py)."""
    import ast
    import inspect

    import fastnn.sklearn

    tree = ast.parse(inspect.getsource(fastnn.sklearn))
    modules = {node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sklearn")}
    private = {m for m in modules if any(part.startswith("_") for part in m.split("."))}
    assert private == {"sklearn.utils._param_validation"}
