"""fastnn.MLPClassifier / MLPRegressor on dask input, on a real LocalCluster (fastnn/cluster/estimators.py).

- lbfgs on the cluster equals single-machine lbfgs (scikit-learn's driver,
  fastnn's local loss/gradient) to 1e-8 relative after 50 iterations in float64;
- sgd/adam by parameter averaging: exactly reproducible for a seed and a
  partitioning, and within a point of single-machine accuracy;
- predict/predict_proba/score on dask input: dask results equal to the local ones;
- bad input: clear errors, the estimator unchanged.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("sklearn")

import sklearn.neural_network as skl  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastnn  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _classification(n=1200, classes=3, seed=0):
    X, y = make_classification(n, 12, n_informative=8, n_classes=classes, random_state=seed)
    return X, y


def _dask(X, chunk):
    return da.from_array(X, chunks=(chunk,) + X.shape[1:])


def _relative(a_list, b_list):
    return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)) for a, b in zip(a_list, b_list))


@pytest.mark.parametrize("case", ["multiclass", "binary", "regression", "weighted"])
def test_lbfgs_on_the_cluster_equals_single_machine(dask_client, case):
    if case == "regression":
        X, y = make_regression(900, 10, n_targets=2, noise=1.0, random_state=1)
        y = y / y.std()
        cls, kwargs = fastnn.MLPRegressor, {}
    else:
        X, y = _classification(classes=2 if case == "binary" else 3)
        cls, kwargs = fastnn.MLPClassifier, {}
    sw = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0]) if case == "weighted" else None
    local = cls((16,), solver="lbfgs", max_iter=50, random_state=0, alpha=1e-3, **kwargs).fit(X, y, sample_weight=sw)
    dist = cls((16,), solver="lbfgs", max_iter=50, random_state=0, alpha=1e-3, **kwargs)
    dist.fit(_dask(X, 250), _dask(y, 250), sample_weight=None if sw is None else _dask(sw, 250))
    assert dist.n_iter_ == local.n_iter_ == 50
    assert _relative(dist.coefs_ + dist.intercepts_, local.coefs_ + local.intercepts_) < 1e-8
    assert dist.loss_ == pytest.approx(local.loss_, rel=1e-6)  # (a near-zero loss: weights differ ~1e-10)
    assert dist.coefs_[0].dtype == np.float64


def test_lbfgs_float32_stays_float32_and_close(dask_client):
    X, y = _classification()
    X = X.astype(np.float32)
    local = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    dist = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(_dask(X, 300), _dask(y, 300))
    assert dist.coefs_[0].dtype == np.float32
    assert _relative(dist.coefs_, local.coefs_) < 1e-3


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_averaged_fit_is_exactly_reproducible(dask_client, solver):
    X, y = _classification()
    Xd, yd = _dask(X, 200), _dask(y, 200)
    a = fastnn.MLPClassifier((16,), solver=solver, max_iter=8, random_state=3).fit(Xd, yd)
    b = fastnn.MLPClassifier((16,), solver=solver, max_iter=8, random_state=3).fit(Xd, yd)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    assert a.loss_curve_ == b.loss_curve_ and a.n_iter_ == b.n_iter_ == 8
    c = fastnn.MLPClassifier((16,), solver=solver, max_iter=8, random_state=4).fit(Xd, yd)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])  # the seed matters


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_averaged_fit_accuracy_within_a_point_of_single_machine(dask_client, solver):
    X, y = _classification(n=3000, classes=4, seed=5)
    train, test = slice(0, 2400), slice(2400, None)
    kwargs = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=150, random_state=0,
                  learning_rate_init=0.01 if solver == "sgd" else 0.001)
    local = fastnn.MLPClassifier(**kwargs).fit(X[train], y[train])
    dist = fastnn.MLPClassifier(**kwargs).fit(_dask(X[train], 400), _dask(y[train], 400))
    assert dist.score(X[test], y[test]) >= local.score(X[test], y[test]) - 0.01


def test_averaged_fit_bookkeeping_follows_scikit_learn(dask_client):
    X, y = _classification()
    est = fastnn.MLPClassifier((8,), max_iter=5, random_state=0, sync_every=2).fit(_dask(X, 300), _dask(y, 300))
    assert est.n_iter_ == 5 and len(est.loss_curve_) == 5 and est.t_ == 5 * X.shape[0]
    assert est._optimizer.t > 0 and all(np.isfinite(est.loss_curve_))
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_predict_proba_score_are_dask_and_equal_local(dask_client):
    X, y = _classification()
    est = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=30, random_state=0).fit(X, y)
    Xd, yd = _dask(X, 250), _dask(y, 250)
    pred, proba, score = est.predict(Xd), est.predict_proba(Xd), est.score(Xd, yd)
    assert all(hasattr(r, "__dask_graph__") for r in (pred, proba, score))
    np.testing.assert_array_equal(pred.compute(), est.predict(X))
    np.testing.assert_array_equal(proba.compute(), est.predict_proba(X))
    assert float(score.compute()) == pytest.approx(est.score(X, y), abs=1e-12)
    sw = np.random.default_rng(0).uniform(0, 2, X.shape[0])
    assert float(est.score(Xd, yd, sample_weight=_dask(sw, 250)).compute()) == pytest.approx(
        est.score(X, y, sample_weight=sw), abs=1e-12)


def test_regressor_predict_and_r2_on_dask(dask_client):
    X, y = make_regression(600, 6, n_targets=2, random_state=0)
    est = fastnn.MLPRegressor((8,), solver="lbfgs", max_iter=30, random_state=0).fit(X, y / 100)
    Xd = _dask(X, 200)
    np.testing.assert_array_equal(est.predict(Xd).compute(), est.predict(X))
    assert float(est.score(Xd, _dask(y / 100, 200)).compute()) == pytest.approx(est.score(X, y / 100), abs=1e-10)
    one = fastnn.MLPRegressor((8,), solver="lbfgs", max_iter=10, random_state=0).fit(X, y[:, 0] / 100)
    assert one.predict(Xd).compute().shape == (600,)


def test_dask_dataframe_input(dask_client):
    pd = pytest.importorskip("pandas")
    X, y = _classification(n=800)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    Xf = dd.from_pandas(frame, npartitions=4)
    yf = dd.from_pandas(pd.Series(y), npartitions=4)
    est = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(Xf, yf)
    local = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(frame, y)
    assert list(est.feature_names_in_) == list(frame.columns)
    assert _relative(est.coefs_, local.coefs_) < 1e-8


def test_partial_fit_on_dask_is_one_epoch(dask_client):
    X, y = _classification()
    est = fastnn.MLPClassifier((8,), random_state=0)
    est.partial_fit(_dask(X, 300), _dask(y, 300), classes=np.unique(y))
    est.partial_fit(_dask(X, 300), _dask(y, 300))
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 2 and est.t_ == 2 * X.shape[0]


def test_bad_block_raises_and_keeps_the_fitted_estimator(dask_client):
    X, y = _classification()
    est = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    before = pickle.dumps(est)
    bad = X.copy()
    bad[700, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(_dask(bad, 300), _dask(y, 300))
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("what", ["multilabel", "early_stopping", "features"])
def test_unsupported_or_inconsistent_input_is_a_clear_error(dask_client, what):
    X, y = _classification()
    est = fastnn.MLPClassifier((8,), max_iter=2, early_stopping=what == "early_stopping", random_state=0)
    Xd, yd = _dask(X, 300), _dask(y, 300)
    if what == "multilabel":
        yd = _dask(np.stack([y == 0, y == 1], axis=1).astype(int), 300)
        match = "multilabel"
    elif what == "features":
        est.set_params(warm_start=True).fit(X, y)  # (a fresh fit may change the features; warm start may not)
        Xd = _dask(X[:, :5], 300)
        match = "features"
    else:
        match = "early_stopping"
    with pytest.raises(ValueError, match=match):
        est.fit(Xd, yd)


def test_pickle_carries_each_array_once():
    """The issue's shape: ~235k parameters; at most 1.05x scikit-learn's pickle, for every solver."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 784)), rng.integers(0, 10, 300)
    for solver in ("adam", "sgd", "lbfgs"):
        ours = fastnn.MLPClassifier((256, 128), solver=solver, max_iter=2, random_state=0).fit(X, y)
        theirs = skl.MLPClassifier((256, 128), solver=solver, max_iter=2, random_state=0).fit(X, y)
        assert len(pickle.dumps(ours)) <= 1.05 * len(pickle.dumps(theirs))
        back = pickle.loads(pickle.dumps(ours))
        np.testing.assert_array_equal(back.predict_proba(X), ours.predict_proba(X))
        if solver != "lbfgs":  # the solver state travels: partial_fit continues exactly
            ours.partial_fit(X, y)
            back.partial_fit(X, y)
            np.testing.assert_array_equal(back.coefs_[0], ours.coefs_[0])


def test_dask_sees_the_estimators_size():
    """Dask's scheduler sizes results with sys.getsizeof: a fitted estimator counts its arrays, so dask-ml's
    Incremental moves the data block to the estimator rather than the estimator (MBs) to every block."""
    import sys

    from dask.sizeof import sizeof

    X, y = _classification(n=300)
    est = fastnn.MLPClassifier((64,), max_iter=2, random_state=0).fit(X, y)
    arrays = est.coefs_ + est.intercepts_ + [est._optimizer.s1, est._optimizer.s2]
    assert sizeof(est) == sys.getsizeof(est) >= sum(a.nbytes for a in arrays)
    assert sys.getsizeof(fastnn.MLPClassifier()) < 1000  # unfitted: nothing but the object
