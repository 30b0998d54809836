"""``MLPClassifier(class_weight=...)`` on dask input, on a real LocalCluster (fastnn/cluster/estimators.py).

- lbfgs with class weights on the cluster equals the single-machine fit
  with the same class weights (itself the explicit sample-weight fit,
  tests/test_class_weight.py) to 1e-8, for "balanced" (counts from a
  distributed ``unique``) and a dict, with and without user sample weights;
- averaged adam: bit for bit the fit with the explicit dask sample weights;
- partial_fit: a dict works, "balanced" is refused; a bad dict changes nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402

import fastnn  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _imbalanced(n=900, seed=0):
    X, y = make_classification(n, 8, n_informative=5, n_classes=3, weights=[0.7, 0.2, 0.1], random_state=seed)
    return X, y


def _dask(a, chunk=250):
    return da.from_array(a, chunks=(chunk,) + a.shape[1:])


def _relative(a_list, b_list):
    return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)) for a, b in zip(a_list, b_list))


@pytest.mark.parametrize("class_weight", ["balanced", {1: 3.0, 2: 0.5}])
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_class_weight_on_the_cluster_equals_single_machine(dask_client, class_weight, weighted):
    X, y = _imbalanced()
    sw = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30, random_state=0, class_weight=class_weight)
    local = fastnn.MLPClassifier(**params).fit(X, y, sample_weight=sw)
    dist = fastnn.MLPClassifier(**params).fit(_dask(X), _dask(y), sample_weight=None if sw is None else _dask(sw))
    assert dist.n_iter_ == local.n_iter_
    assert _relative(dist.coefs_ + dist.intercepts_, local.coefs_ + local.intercepts_) < 1e-8


def test_averaged_adam_class_weight_equals_explicit_sample_weight(dask_client):
    X, y = _imbalanced()
    params = dict(hidden_layer_sizes=(8,), max_iter=4, random_state=1)
    weighted = fastnn.MLPClassifier(class_weight="balanced", **params).fit(_dask(X), _dask(y))
    explicit = fastnn.MLPClassifier(**params).fit(_dask(X), _dask(y),
                                                  sample_weight=_dask(compute_sample_weight("balanced", y)))
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, explicit.coefs_ + explicit.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert weighted.loss_curve_ == explicit.loss_curve_


def test_partial_fit_and_errors_on_the_cluster(dask_client):
    X, y = _imbalanced(n=600)
    classes = np.unique(y)
    weighted = fastnn.MLPClassifier((6,), random_state=0, class_weight={2: 4.0})
    explicit = fastnn.MLPClassifier((6,), random_state=0)
    for _ in range(2):
        weighted.partial_fit(_dask(X), _dask(y), classes=classes)
        explicit.partial_fit(_dask(X), _dask(y), classes=classes, sample_weight=_dask(np.where(y == 2, 4.0, 1.0)))
    for a, b in zip(weighted.coefs_, explicit.coefs_):
        np.testing.assert_array_equal(a, b)

    balanced = fastnn.MLPClassifier((6,), class_weight="balanced")
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        balanced.partial_fit(_dask(X), _dask(y), classes=classes)
    assert not hasattr(balanced, "classes_")
    bad = fastnn.MLPClassifier((6,), solver="lbfgs", class_weight={0: 1.0, 7: 2.0})
    with pytest.raises(ValueError, match="not classes"):
        bad.fit(_dask(X), _dask(y))
    assert not hasattr(bad, "coefs_") and not hasattr(bad, "classes_")
