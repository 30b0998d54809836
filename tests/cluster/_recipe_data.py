"""Small data sets, estimators and comparisons for ``tests/cluster/test_recipes.py``.

Everything is seeded: the same call returns the same arrays and the same
unfitted estimator, so a recipe run on the cluster and its local twin start
from identical inputs.
"""

from __future__ import annotations

import numpy as np

import fastnn

CLASSES = np.array([0, 1, 2])


def classification(n_rows: int = 600, n_features: int = 8, seed: int = 0):
    """``(X, y)``: float64 features, three integer classes that depend on the features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    score = X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2] + 0.3 * rng.standard_normal(n_rows)
    y = np.digitize(score, [-0.5, 0.5])
    return X, y


def regression(n_rows: int = 600, n_features: int = 8, seed: int = 1, dtype=np.float32):
    """``(X, y)`` in ``dtype``: a smooth non-linear target plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features)).astype(dtype)
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n_rows)).astype(dtype)
    return X, y


def classifier(**params) -> fastnn.MLPClassifier:
    """A small Adam classifier (Adam's moments and the shuffle generator carry across ``partial_fit`` calls)."""
    defaults = {"hidden_layer_sizes": (16,), "batch_size": 32, "max_iter": 15, "random_state": 0}
    return fastnn.MLPClassifier(**{**defaults, **params})


def regressor(**params) -> fastnn.MLPRegressor:
    """A small SGD regressor: Nesterov momentum and the ``invscaling`` schedule (state that depends on ``t_``)."""
    defaults = {"hidden_layer_sizes": (16, 8), "solver": "sgd", "learning_rate": "invscaling",
                "learning_rate_init": 0.05, "momentum": 0.9, "batch_size": 25, "max_iter": 15, "random_state": 0}
    return fastnn.MLPRegressor(**{**defaults, **params})


def row_blocks(n_rows: int, block: int) -> list[slice]:
    """The row slices of a dask array of ``n_rows`` rows chunked by ``block``."""
    return [slice(start, min(start + block, n_rows)) for start in range(0, n_rows, block)]


def assert_same_fit(got, expected) -> None:
    """Bit-identical fitted state: every weight array, the loss curve, ``n_iter_``, ``t_``, ``loss_``."""
    assert len(got.coefs_) == len(expected.coefs_)
    for a, b in zip(got.coefs_ + got.intercepts_, expected.coefs_ + expected.intercepts_):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), f"weights differ by up to {np.max(np.abs(a - b))}"
    assert got.loss_curve_ == expected.loss_curve_
    assert got.loss_ == expected.loss_
    assert got.n_iter_ == expected.n_iter_
    assert got.t_ == expected.t_


def assert_same_cv_results(got: dict, expected: dict, *, std_rtol: float = 0.0) -> None:
    """``cv_results_`` equal key by key, the four timing keys excepted.

    ``param_*`` columns are masked arrays (their dtype may differ between
    implementations: float64 or object), compared as value lists with their
    masks; ``params`` as lists of dicts; everything else with
    ``np.array_equal``.  ``std_rtol`` loosens only the ``std_*`` columns (see
    the dask-ml test for why).
    """
    timing = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}
    assert set(got) == set(expected)
    for key in sorted(set(expected) - timing):
        a, b = got[key], expected[key]
        if key == "params":
            assert a == b
        elif key.startswith("param_"):
            assert list(np.ma.getdata(a)) == list(np.ma.getdata(b)), key
            assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b)), key
        elif key.startswith("std_") and std_rtol:
            np.testing.assert_allclose(a, b, rtol=std_rtol, atol=0, err_msg=key)
        else:
            assert np.array_equal(a, b), f"{key}: {a!r} != {b!r}"
