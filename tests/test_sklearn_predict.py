"""The estimators' inference path (fastnn._sklearn_predict): scikit-learn's results and errors, on every input kind.

Oracles: scikit-learn's own ``MLPClassifier``/``MLPRegressor`` given the same
weights (its ``predict``, ``predict_proba``, its ``LabelBinarizer``), and
fastnn's slow path (lists, dataframes) for the short path of plain arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimators need scikit-learn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402


def _twins(kind, y, hidden=(12,), dtype=np.float64, **params):
    """A fastnn estimator fitted briefly and scikit-learn's twin carrying the same weights."""
    X = np.random.default_rng(0).standard_normal((80, 5)).astype(dtype)
    ours = (MLPClassifier if kind == "c" else MLPRegressor)(hidden_layer_sizes=hidden, max_iter=3, random_state=0,
                                                            **params)
    theirs = (sk.MLPClassifier if kind == "c" else sk.MLPRegressor)(hidden_layer_sizes=hidden, max_iter=3,
                                                                      random_state=0, **params)
    with pytest.warns(Warning):  # ConvergenceWarning: three epochs
        ours.fit(X, y)
    with pytest.warns(Warning):
        theirs.fit(X, y)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    return ours, theirs, X


LABELS = {
    "binary int": np.arange(80) % 2,
    "binary str": np.where(np.arange(80) % 3 == 0, "yes", "no"),
    "multiclass int": np.arange(80) % 4 * 10 - 5,
    "multiclass str": np.array(["a", "b", "c"])[np.arange(80) % 3],
    "multilabel": np.stack([np.arange(80) % 2, np.arange(80) % 3 == 0, np.arange(80) % 5 == 0], axis=1).astype(int),
}


@pytest.mark.parametrize("labels", sorted(LABELS))
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_classifier_predict_and_proba_equal_scikit_learn_with_the_same_weights(labels, activation):
    ours, theirs, _ = _twins("c", LABELS[labels], activation=activation)
    Xt = np.random.default_rng(1).standard_normal((500, 5))
    np.testing.assert_array_equal(ours.predict(Xt), theirs.predict(Xt))
    assert ours.predict(Xt).dtype == theirs.predict(Xt).dtype
    np.testing.assert_allclose(ours.predict_proba(Xt), theirs.predict_proba(Xt), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.predict_log_proba(Xt), theirs.predict_log_proba(Xt), rtol=1e-12, atol=1e-12)
    assert ours.score(Xt, ours.predict(Xt)) == 1.0


@pytest.mark.parametrize("loss, n_out", [("squared_error", 1), ("squared_error", 3), ("poisson", 1)])
def test_regressor_predict_equals_scikit_learn_with_the_same_weights(loss, n_out):
    rng = np.random.default_rng(2)
    y = rng.poisson(2.0, (80, n_out)).astype(float) if loss == "poisson" else rng.standard_normal((80, n_out))
    ours, theirs, _ = _twins("r", y[:, 0] if n_out == 1 else y, loss=loss)
    Xt = rng.standard_normal((300, 5))
    got, expected = ours.predict(Xt), theirs.predict(Xt)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_float32_inputs_predict_in_float32_like_the_fit():
    ours, _, X = _twins("c", LABELS["multiclass int"], dtype=np.float32)
    proba = ours.predict_proba(X)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, ours.predict_proba(X.astype(np.float64)), rtol=2e-5, atol=1e-6)


def test_the_short_path_and_scikit_learns_validation_give_the_same_answer():
    pd = pytest.importorskip("pandas", reason="dataframe inputs need pandas")
    ours, _, X = _twins("c", LABELS["multiclass str"])
    expected = ours.predict_proba(X)
    np.testing.assert_array_equal(ours.predict_proba(X.tolist()), expected)  # a list: scikit-learn's validation
    np.testing.assert_array_equal(ours.predict_proba(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(ours.predict_proba(X[:, :]), expected)
    np.testing.assert_array_equal(ours.predict(pd.DataFrame(X)), ours.predict(X))
    named = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        named.fit(pd.DataFrame(X, columns=list("abcde")), LABELS["binary int"])
    with pytest.warns(UserWarning, match="feature names"):  # fitted with names, given none: scikit-learn warns
        named.predict(X)


def test_bad_inputs_get_scikit_learns_errors():
    ours, theirs, X = _twins("c", LABELS["binary int"])
    bad = X.copy()
    bad[3, 2] = np.nan
    for est in (ours, theirs):
        with pytest.raises(ValueError, match="NaN"):
            est.predict(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ours.predict_proba(bad)
    with pytest.raises(ValueError, match="features"):
        ours.predict(X[:, :3])
    with pytest.raises(ValueError, match="2D array"):
        ours.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        ours.predict(X[:0])
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(X)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X)


def test_weights_changed_in_place_are_seen_by_the_next_predict():
    ours, theirs, X = _twins("r", np.arange(80, dtype=float))
    before = ours.predict(X)
    ours.coefs_[-1] *= 2.0
    theirs.coefs_[-1] *= 2.0
    after = ours.predict(X)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, theirs.predict(X), rtol=1e-12, atol=1e-14)


def test_integer_and_float16_inputs_compute_in_float64_like_scikit_learn():
    ours, theirs, X = _twins("r", np.arange(80, dtype=float))
    for Xc in (np.round(X * 3).astype(np.int64), X.astype(np.float16)):
        np.testing.assert_allclose(ours.predict(Xc), theirs.predict(Xc), rtol=1e-12, atol=1e-14)


def test_replaced_weight_arrays_and_lists_are_used_by_the_next_predict():
    ours, theirs, X = _twins("c", LABELS["multiclass int"])
    for est in (ours, theirs):
        est.coefs_[0] = est.coefs_[0] * 0.5  # a new array in the list
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)
    for est in (ours, theirs):
        est.intercepts_ = [b + 0.25 for b in est.intercepts_]  # a new list
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)
    theirs.coefs_[1][:] = 0.0  # in place, after the replacements
    ours.coefs_[1][:] = 0.0
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_a_pickled_estimator_predicts_the_same_and_stays_small():
    import pickle

    ours, _, X = _twins("c", LABELS["binary str"], hidden=(40, 20))
    blob = pickle.dumps(ours)
    weights = sum(a.nbytes for a in (*ours.coefs_, *ours.intercepts_))
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.predict_proba(X), ours.predict_proba(X))
    back.coefs_[0][:] = 0.0  # the unpickled arrays are live too
    ours.coefs_[0][:] = 0.0
    np.testing.assert_array_equal(back.predict_proba(X), ours.predict_proba(X))
    assert len(pickle.dumps(back)) < len(blob) + weights  # predict's flat copy of the weights is not pickled


def test_partial_fit_and_warm_start_keep_predict_in_step_with_the_weights():
    ours, theirs, X = _twins("r", np.arange(80, dtype=float), solver="sgd")
    ours.partial_fit(X, np.arange(80, dtype=float))
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-14)
