"""scikit-learn's callback API (``sklearn.callback``) and early stopping on a chosen scorer, on fastnn's estimators.

Oracles: the model after epoch k is a fit with ``max_iter=k`` (same
``random_state``: the same initial weights, shuffles and batches, so the
same bits); scores are recomputed with ``sklearn.metrics`` on those models;
early stopping's validation split is replayed from scikit-learn's documented
draw order (initial weights, then ``train_test_split`` from the same
generator), and the replay is itself checked against the default score.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimators need scikit-learn")
pytest.importorskip("sklearn.callback", reason="sklearn.callback needs scikit-learn >= 1.9")

from sklearn.base import clone, is_classifier
from sklearn.callback import ScoringMonitor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    get_scorer,
    log_loss,
    mean_squared_error,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPOCHS = 6


def _data(task, n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    if task == "regression":
        return X, X[:, 0] * 2 + np.sin(X[:, 1])
    if task == "binary":
        return X, (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, np.array(["ant", "bee", "cat"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]


def _estimator(task, **params):
    params = {"hidden_layer_sizes": (7,), "random_state": 0, "batch_size": 32, "learning_rate_init": 0.02,
              "max_iter": EPOCHS, **params}
    return (MLPRegressor if task == "regression" else MLPClassifier)(**params)


def _weights(est):
    return [*est.coefs_, *est.intercepts_]


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(_weights(a), _weights(b), strict=True))


class Snapshots:
    """A FitCallback keeping each epoch's ``fitted_estimator`` (and stopping after epoch ``stop_after``)."""

    def __init__(self, stop_after=None):
        self.models, self.stop_after = [], stop_after

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name not in ("epoch", "iteration") or fitted_estimator is None:
            return False  # (the root task; or lbfgs's last task, opened but never run: ended empty)
        self.models.append(fitted_estimator)
        return self.stop_after is not None and len(self.models) == self.stop_after


def _epoch_rows(monitor):
    return [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]


@pytest.mark.parametrize("task,solver,scoring", [
    ("multiclass", "adam", "accuracy"), ("binary", "sgd", "neg_log_loss"), ("regression", "adam", "r2"),
])
def test_scoring_monitor_scores_every_epoch_as_the_model_after_it(task, solver, scoring):
    X, y = _data(task)
    monitor = ScoringMonitor(scoring=scoring)
    est = _estimator(task, solver=solver).set_callbacks(monitor).fit(X, y)
    rows = _epoch_rows(monitor)
    assert [row["task_id"] for row in rows] == list(range(EPOCHS))
    scorer = get_scorer(scoring)
    for k, row in enumerate(rows, start=1):
        oracle = _estimator(task, solver=solver, max_iter=k).fit(X, y)
        assert row[scoring] == scorer(oracle, X, y)
    # the fit's own root task is scored on the final model
    root = [row for row in monitor.get_logs().data if row["task_name"] == "fit"]
    assert len(root) == 1 and root[0][scoring] == scorer(est, X, y)


def test_callbacks_do_not_change_the_fit():
    X, y = _data("multiclass")
    plain = _estimator("multiclass", early_stopping=True, validation_fraction=0.2, max_iter=15).fit(X, y)
    snaps = Snapshots()
    watched = _estimator("multiclass", early_stopping=True, validation_fraction=0.2, max_iter=15)
    watched.set_callbacks(snaps, ScoringMonitor(scoring="accuracy")).fit(X, y)
    assert _same_weights(plain, watched)
    assert plain.loss_curve_ == watched.loss_curve_ and plain.validation_scores_ == watched.validation_scores_
    assert plain.n_iter_ == watched.n_iter_ == len(snaps.models)


def test_fitted_estimators_are_snapshots_of_each_epoch():
    """Each epoch's fitted_estimator keeps predicting as the model after that epoch, while the fit goes on."""
    X, y = _data("binary")
    snaps = Snapshots()
    _estimator("binary").set_callbacks(snaps).fit(X, y)
    assert len(snaps.models) == EPOCHS
    for k, model in enumerate(snaps.models, start=1):
        oracle = _estimator("binary", max_iter=k).fit(X, y)
        assert _same_weights(model, oracle) and model.n_iter_ == k
        np.testing.assert_array_equal(model.predict_proba(X), oracle.predict_proba(X))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_callback_stops_the_fit_after_its_epoch(solver):
    X, y = _data("regression")
    snaps = Snapshots(stop_after=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop is not "max_iter reached"
        est = _estimator("regression", solver=solver, max_iter=50).set_callbacks(snaps).fit(X, y)
    oracle = _estimator("regression", solver=solver, max_iter=3).fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3 and est.t_ == oracle.t_
    assert _same_weights(est, oracle)


def test_partial_fit_reports_one_epoch_per_call():
    X, y = _data("multiclass")
    monitor = ScoringMonitor(scoring="accuracy")
    est = _estimator("multiclass").set_callbacks(monitor)
    oracle = _estimator("multiclass")
    for _ in range(3):
        est.partial_fit(X, y, classes=np.unique(y))
        oracle.partial_fit(X, y, classes=np.unique(y))
        rows = _epoch_rows(monitor)
        assert len(rows) == 1 and rows[0]["accuracy"] == accuracy_score(y, oracle.predict(X))
    assert _same_weights(est, oracle)


def test_lbfgs_reports_every_iteration():
    X, y = _data("binary")
    monitor, snaps = ScoringMonitor(scoring="accuracy"), Snapshots()
    est = _estimator("binary", solver="lbfgs", max_iter=30).set_callbacks(monitor, snaps).fit(X, y)
    plain = _estimator("binary", solver="lbfgs", max_iter=30).fit(X, y)
    assert _same_weights(est, plain) and est.n_iter_ == plain.n_iter_ and est.loss_ == plain.loss_
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "iteration"]
    assert len(rows) == len(snaps.models) == est.n_iter_ > 5
    for k in (1, 2, 5, est.n_iter_):  # the estimator after iteration k is a fit with max_iter=k
        oracle = _estimator("binary", solver="lbfgs", max_iter=k).fit(X, y)
        assert _same_weights(snaps.models[k - 1], oracle) and snaps.models[k - 1].loss_ == oracle.loss_
        assert rows[k - 1]["accuracy"] == oracle.score(X, y)


def test_a_callback_stops_lbfgs_after_its_iteration():
    X, y = _data("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = _estimator("regression", solver="lbfgs", max_iter=50).set_callbacks(Snapshots(stop_after=4)).fit(X, y)
    oracle = _estimator("regression", solver="lbfgs", max_iter=4).fit(X, y)
    assert est.n_iter_ == 4 and est.loss_ == oracle.loss_ and _same_weights(est, oracle)


def test_progress_bar_runs_on_every_epoch(capsys):
    pytest.importorskip("rich", reason="sklearn.callback.ProgressBar needs rich")
    from sklearn.callback import ProgressBar

    X, y = _data("binary")
    est = _estimator("binary").set_callbacks(ProgressBar()).fit(X, y)
    assert "MLPClassifier" in capsys.readouterr().out
    assert _same_weights(est, _estimator("binary").fit(X, y))


def test_set_callbacks_rejects_non_callbacks_and_clone_keeps_them():
    est = _estimator("binary")
    with pytest.raises(TypeError, match="FitCallback"):
        est.set_callbacks(object())
    with pytest.raises(TypeError, match="FitCallback"):
        est.set_callbacks(Snapshots)  # the class, not an instance
    snaps = Snapshots()
    est.set_callbacks(snaps)
    assert clone(est)._skl_callbacks == [snaps]
    est.set_callbacks()
    assert "_skl_callbacks" not in est.__dict__


def test_callbacks_on_dask_input_are_refused():
    da = pytest.importorskip("dask.array", reason="dask input needs dask")
    X, y = _data("binary")
    est = _estimator("binary").set_callbacks(Snapshots())
    with pytest.raises(ValueError, match="callbacks .*dask"):
        est.fit(da.from_array(X, chunks=40), da.from_array(y, chunks=40))
    assert not hasattr(est, "coefs_")


# ----------------------------------------------------------------------
# early stopping on a chosen scorer
# ----------------------------------------------------------------------
def _replayed_validation_rows(est, X, y):
    """The validation rows of an early-stopping fit: scikit-learn's draws (initial weights, then the split)."""
    rs = np.random.RandomState(est.random_state)
    if is_classifier(est):
        target = LabelBinarizer().fit(y).transform(y).astype(bool)
    else:
        target = y.reshape(len(y), -1)
    units = [X.shape[1], *est.hidden_layer_sizes, target.shape[1]]
    for fan_in, fan_out in itertools.pairwise(units):
        rs.uniform(size=(fan_in, fan_out))
        rs.uniform(size=fan_out)
    stratify = target if is_classifier(est) and target.shape[1] == 1 else None
    *_, val = train_test_split(X, target, np.arange(len(X)), random_state=rs,
                               test_size=est.validation_fraction, stratify=stratify)
    return val


def _no_improvement_stop(scores, tol, n_iter_no_change, max_iter):
    """The epoch count at which scikit-learn's rule stops on validation ``scores`` (higher is better)."""
    best, count = -np.inf, 0
    for k, score in enumerate(scores, start=1):
        count = 0 if not score < best + tol else count + 1
        best = max(best, score)
        if count > n_iter_no_change:
            return k
    return max_iter


@pytest.mark.parametrize("task,scoring", [
    ("binary", "neg_log_loss"), ("binary", "loss"), ("multiclass", "f1_macro"), ("regression", "loss"),
    ("regression", "neg_mean_absolute_error"), ("multiclass", "callable"),
])
def test_early_stopping_follows_the_chosen_scorer(task, scoring):
    X, y = _data(task, n=150)
    if scoring == "callable":
        scoring = lambda est, X, y: balanced_accuracy_score(y, est.predict(X))
    params = {"early_stopping": True, "validation_fraction": 0.25, "n_iter_no_change": 2, "tol": 0.0, "max_iter": 25,
                  "learning_rate_init": 0.05}
    snaps = Snapshots()
    est = _estimator(task, scoring=scoring, **params).set_callbacks(snaps).fit(X, y)
    val = _replayed_validation_rows(est, X, y)
    Xv, yv = X[val], y[val]

    # the replayed split is the fit's own: the default score on it is what scoring=None records
    default = _estimator(task, **params).fit(X, y)
    per_epoch_default = [m.score(Xv, yv) for m in _models_after_each_epoch(task, params, X, y)]
    assert default.validation_scores_ == per_epoch_default

    if scoring == "loss":
        if task == "regression":
            oracle = [-0.5 * mean_squared_error(yv, m.predict(Xv)) for m in snaps.models]
        else:
            oracle = [-log_loss(yv, m.predict_proba(Xv), labels=est.classes_) for m in snaps.models]
        np.testing.assert_allclose(est.validation_scores_, oracle, rtol=1e-12)
    else:
        scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
        assert est.validation_scores_ == [scorer(m, Xv, yv) for m in snaps.models]
    scores = est.validation_scores_
    assert est.n_iter_ == len(snaps.models) == _no_improvement_stop(scores, 0.0, 2, 25)
    best = int(np.argmax(scores))
    assert est.best_validation_score_ == scores[best]
    assert _same_weights(est, snaps.models[best])


def _models_after_each_epoch(task, params, X, y):
    """The models after each epoch of a fit with the default score."""
    snaps = Snapshots()
    _estimator(task, **params).set_callbacks(snaps).fit(X, y)
    return snaps.models


def test_scoring_default_names_give_the_default_fit():
    X, y = _data("multiclass")
    params = {"early_stopping": True, "validation_fraction": 0.2, "max_iter": 12}
    a = _estimator("multiclass", **params).fit(X, y)
    b = _estimator("multiclass", scoring="accuracy", **params).fit(X, y)
    assert a.validation_scores_ == b.validation_scores_ and _same_weights(a, b)


def test_scoring_is_a_validated_parameter():
    est = _estimator("binary", scoring="neg_log_loss")
    assert est.get_params()["scoring"] == "neg_log_loss" and clone(est).scoring == "neg_log_loss"
    X, y = _data("binary")
    bad = _estimator("binary", scoring="no_such_scorer", early_stopping=True)
    with pytest.raises(ValueError, match="scoring"):
        bad.fit(X, y)
    assert not hasattr(bad, "coefs_")
    with pytest.raises(ValueError, match="scoring"):
        _estimator("binary", scoring=3).fit(X, y)


class PropagatedSnapshots(Snapshots):
    """An auto-propagated callback: a meta-estimator hands it down to the estimators it fits."""

    max_propagation_depth = None


def test_a_grid_search_propagates_callbacks_to_every_fit():
    from sklearn.model_selection import GridSearchCV

    X, y = _data("binary")
    snaps = PropagatedSnapshots()
    search = GridSearchCV(_estimator("binary", max_iter=3), {"alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(snaps).fit(X, y)
    assert len(snaps.models) == 3 * (2 * 2 + 1)  # 3 epochs of each of 4 candidate fits and of the refit
    refit = _estimator("binary", max_iter=3, **search.best_params_).fit(X, y)
    assert _same_weights(snaps.models[-1], refit) and _same_weights(search.best_estimator_, refit)
