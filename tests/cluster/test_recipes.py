"""The recipes users already reach for (issue 14), run on a real cluster.

- ``dask_ml.wrappers.Incremental``: out-of-core training, one ``partial_fit``
  per row block of a dask array, run on the workers; bit-identical to the
  same ``partial_fit`` loop run locally over the blocks in the same order;
- ``dask_ml.wrappers.ParallelPostFit``: a model fitted on NumPy data predicts
  and scores a dask array block by block on the workers (labels and score
  equal the local model's on the whole array; probabilities equal it block by
  block, see the test);
- scikit-learn's ``GridSearchCV`` under joblib's ``"dask"`` backend, and
  ``dask_ml.model_selection.GridSearchCV``: the same ``cv_results_`` as the
  sequential search;
- scikit-learn's ``GridSearchCV`` under Ray's joblib backend (skipped when
  Ray, the optional ``ray`` extra, is not installed).

The cluster is the session's ``dask_client`` (``tests/cluster/conftest.py``):
two worker processes of one thread each.  No mocks.

What ``Incremental.fit`` does (dask-ml 2025.1, ``dask_ml/_partial.py::fit``):
it clones the estimator, then builds a chain of tasks, task ``i`` calling
``partial_fit(X_block, y_block, **fit_kwargs)`` on the estimator returned by
task ``i - 1`` (the fit keywords, e.g. ``classes``, go to every call).  With
``shuffle_blocks=True`` (the default) the blocks are visited in the order
``order = list(range(n_blocks)); check_random_state(random_state).shuffle(order)``;
with ``random_state=None`` that draws from NumPy's global generator, so a
reproducible run needs ``random_state=<int>``.  The estimator itself travels
with the chain: whenever consecutive blocks live on different workers, the
fitted estimator (weights, solver state, its generator) is pickled to the
next worker, and the last one comes back to the client.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import joblib
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from . import _recipe_data as D  # tests/cluster/_recipe_data.py

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BLOCK = 100  # rows per chunk: 600 rows -> 6 blocks, 6 partial_fit calls
GRID = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(4,), (8,)]}


def _fit_tasks(task_stream, prefix="fit-"):
    """``{block position: worker}`` of the ``Incremental`` chain's tasks in a task stream."""
    return {t["key"][1]: t["worker"] for t in task_stream.data
            if isinstance(t["key"], tuple) and str(t["key"][0]).startswith(prefix)}


def _local_partial_fit_loop(est, X, y, order, **fit_kwargs):
    """What ``Incremental`` does, locally: ``partial_fit`` on each row block, in ``order``."""
    blocks = D.row_blocks(X.shape[0], BLOCK)
    for i in order:
        est.partial_fit(X[blocks[i]], y[blocks[i]], **fit_kwargs)
    return est


# ----------------------------------------------------------------------
# 1. Incremental: out-of-core training, one partial_fit per block
# ----------------------------------------------------------------------
def test_incremental_classifier_matches_local_partial_fit_loop(dask_client):
    X, y = D.classification()
    dX, dy = da.from_array(X, chunks=(BLOCK, X.shape[1])), da.from_array(y, chunks=BLOCK)
    n_blocks = dX.numblocks[0]
    assert n_blocks == 6

    inc = dask_ml_wrappers.Incremental(D.classifier(), random_state=7)  # shuffle_blocks=True: the default
    with distributed.get_task_stream(dask_client) as ts:
        inc.fit(dX, dy, classes=D.CLASSES)

    # Incremental's block order: check_random_state(7).shuffle(list(range(n_blocks)))
    order = list(range(n_blocks))
    np.random.RandomState(7).shuffle(order)
    assert order != sorted(order)  # the test does exercise a shuffled order
    local = _local_partial_fit_loop(D.classifier(), X, y, order, classes=D.CLASSES)

    D.assert_same_fit(inc.estimator_, local)
    assert inc.estimator_.n_iter_ == 1 and inc.estimator_.t_ == X.shape[0]  # one epoch per partial_fit
    assert len(inc.estimator_.loss_curve_) == n_blocks
    # the learned attributes are copied onto the wrapper
    assert all(np.array_equal(a, b) for a, b in zip(inc.coefs_, local.coefs_))
    np.testing.assert_array_equal(inc.classes_, D.CLASSES)
    # every partial_fit ran as a task on a worker of the cluster
    workers = set(dask_client.scheduler_info()["workers"])
    fits = _fit_tasks(ts)
    assert set(range(n_blocks)) <= set(fits) and set(fits.values()) <= workers
    # and the post-fit methods are blockwise (dask arrays), equal to the local model's
    np.testing.assert_array_equal(inc.predict(dX).compute(), local.predict(X))


def test_incremental_regressor_in_block_order_float32(dask_client):
    """``shuffle_blocks=False``: blocks 0, 1, 2, ...; float32 data stays float32 through the chain."""
    X, y = D.regression(dtype=np.float32)
    dX, dy = da.from_array(X, chunks=(BLOCK, X.shape[1])), da.from_array(y, chunks=BLOCK)

    inc = dask_ml_wrappers.Incremental(D.regressor(), shuffle_blocks=False)
    with distributed.get_task_stream(dask_client) as ts:
        inc.fit(dX, dy)
    local = _local_partial_fit_loop(D.regressor(), X, y, range(dX.numblocks[0]))

    D.assert_same_fit(inc.estimator_, local)
    assert inc.estimator_.coefs_[0].dtype == np.float32
    assert inc.estimator_._optimizer.learning_rate == local._optimizer.learning_rate  # invscaling saw t_
    assert set(range(dX.numblocks[0])) <= set(_fit_tasks(ts))
    np.testing.assert_array_equal(inc.predict(dX).compute(), local.predict(X))


def test_incremental_partial_fit_continues_from_the_fitted_estimator(dask_client):
    """``Incremental.partial_fit`` twice (two passes over the data) == two local passes."""
    X, y = D.classification(n_rows=400)
    dX, dy = da.from_array(X, chunks=(BLOCK, X.shape[1])), da.from_array(y, chunks=BLOCK)
    inc = dask_ml_wrappers.Incremental(D.classifier(), shuffle_blocks=False)
    inc.partial_fit(dX, dy, classes=D.CLASSES)
    inc.partial_fit(dX, dy, classes=D.CLASSES)

    local = D.classifier()
    for _ in range(2):
        _local_partial_fit_loop(local, X, y, range(dX.numblocks[0]), classes=D.CLASSES)
    D.assert_same_fit(inc.estimator_, local)
    assert len(local.loss_curve_) == 2 * dX.numblocks[0]


# ----------------------------------------------------------------------
# 2. ParallelPostFit: fit on NumPy, predict / score a dask array on the workers
# ----------------------------------------------------------------------
def test_parallel_post_fit_predicts_blockwise_on_the_workers(dask_client):
    X, y = D.classification(n_rows=400, seed=3)
    X_new, y_new = D.classification(n_rows=1000, seed=4)
    dX_new = da.from_array(X_new, chunks=(250, X_new.shape[1]))
    dy_new = da.from_array(y_new, chunks=250)

    ppf = dask_ml_wrappers.ParallelPostFit(D.classifier()).fit(X, y)
    local = D.classifier().fit(X, y)
    D.assert_same_fit(ppf.estimator, local)

    with distributed.get_task_stream(dask_client) as ts:
        labels, proba = ppf.predict(dX_new), ppf.predict_proba(dX_new)
        assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
        assert labels.numblocks == (4,) and proba.numblocks == (4, 1)
        labels, proba = dask_client.compute([labels, proba], sync=True)
        score = float(ppf.score(dX_new, dy_new))  # dask-ml returns a 0-d dask array: computed here

    np.testing.assert_array_equal(labels, local.predict(X_new))
    assert score == local.score(X_new, y_new)
    # predict_proba: bit-identical to the local model on the same blocks.  Against one call on all
    # 1,000 rows it may differ in the last bit: the forward pass is a BLAS product whose rounding
    # depends on the number of rows per call (OpenBLAS; scikit-learn's own predict_proba does the
    # same: measured 2 of 1,000 rows differ by 1 ulp with 250-row calls, ~770 with 1-row calls)
    assert proba.dtype == np.float64
    blocks = D.row_blocks(X_new.shape[0], 250)
    assert np.array_equal(proba, np.concatenate([local.predict_proba(X_new[b]) for b in blocks]))
    np.testing.assert_allclose(proba, local.predict_proba(X_new), rtol=1e-14, atol=1e-16)
    # the blocks were predicted by tasks on the workers
    predicted = [t for t in ts.data if str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]).startswith(
        ("_predict-", "_predict_proba-"))]
    assert len(predicted) >= 8
    assert {t["worker"] for t in predicted} <= set(dask_client.scheduler_info()["workers"])


# ----------------------------------------------------------------------
# 3. GridSearchCV: joblib's dask backend, and dask-ml's GridSearchCV
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sequential_search():
    """The reference: scikit-learn's GridSearchCV run sequentially in this process."""
    X, y = D.classification(n_rows=300, n_features=6, seed=5)
    search = GridSearchCV(D.classifier(max_iter=20), GRID, cv=3).fit(X, y)
    return X, y, search


def _assert_same_search(got, expected, *, std_rtol=0.0):
    D.assert_same_cv_results(got.cv_results_, expected.cv_results_, std_rtol=std_rtol)
    assert got.best_params_ == expected.best_params_
    assert got.best_score_ == expected.best_score_
    assert got.best_index_ == expected.best_index_
    D.assert_same_fit(got.best_estimator_, expected.best_estimator_)


def test_grid_search_under_the_dask_joblib_backend(dask_client, sequential_search):
    X, y, seq = sequential_search
    with distributed.get_task_stream(dask_client) as ts, joblib.parallel_backend("dask"):
        par = GridSearchCV(D.classifier(max_iter=20), GRID, cv=3, n_jobs=-1).fit(X, y)
    _assert_same_search(par, seq)
    assert len(ts.data) > 0  # the fits ran as tasks on the cluster's workers
    assert {t["worker"] for t in ts.data} <= set(dask_client.scheduler_info()["workers"])


def test_dask_ml_grid_search(dask_client, sequential_search):
    """``dask_ml.model_selection.GridSearchCV`` (works with scikit-learn 1.9).

    Every fit and score is the same as scikit-learn's; only ``std_test_score``
    may differ in the last bit: dask-ml's ``_store`` applies scikit-learn's
    formula to the transposed (splits x candidates) score array, so NumPy
    sums the squared deviations in another order (on 600 rows x 8 features, same
    grid: 6.9e-18 on 0.036; bit-equal on this test's data).
    """
    dms = pytest.importorskip("dask_ml.model_selection")
    X, y, seq = sequential_search
    with distributed.get_task_stream(dask_client) as ts:
        par = dms.GridSearchCV(D.classifier(max_iter=20), GRID, cv=3).fit(X, y)
    _assert_same_search(par, seq, std_rtol=1e-14)
    assert {t["worker"] for t in ts.data} <= set(dask_client.scheduler_info()["workers"]) and ts.data


# ----------------------------------------------------------------------
# 4. Ray's joblib backend (optional: the ``ray`` extra)
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_backend():
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        yield ray
    finally:
        ray.shutdown()


def test_grid_search_under_the_ray_joblib_backend(ray_backend, sequential_search):
    X, y, seq = sequential_search
    with joblib.parallel_backend("ray"):
        pids = set(joblib.Parallel(n_jobs=2)(joblib.delayed(os.getpid)() for _ in range(4)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            par = GridSearchCV(D.classifier(max_iter=20), GRID, cv=3, n_jobs=2).fit(X, y)
    assert os.getpid() not in pids  # the backend runs the work in Ray's worker processes
    _assert_same_search(par, seq)
