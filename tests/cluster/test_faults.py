"""A worker process killed mid-fit (fastnn/cluster/driver.py): the same result, or a clear error; never a hang.

Each test starts its own LocalCluster (2 worker processes x 1 thread, with
nannies that restart a killed worker) and kills a real worker process with
SIGKILL while a fit runs in another thread.  The data come from a dask
graph (not from memory on one worker), so Dask can recompute a lost
partition on another worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastnn  # noqa: E402
from fastnn import config  # noqa: E402
from tests.cluster.conftest import local_cluster  # noqa: E402


def _data():
    X = da.random.RandomState(0).standard_normal((4000, 10), chunks=(500, 10))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def _fit_in_thread(est, X, y):
    box = {}

    def run():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                box["est"] = est.fit(X, y)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _kill_one_worker_mid_round(client, timeout=60.0):
    """Wait until a training round's task runs (not the data preparation), then SIGKILL one worker process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [str(key) for keys in client.processing().values() for key in keys]
        if any(key.startswith(("shard_loss_grad", "train_shard")) for key in running):
            break
        time.sleep(0.005)
    else:
        raise AssertionError("no training round started")
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)
    return victim


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_killed_worker_mid_fit_gives_the_same_result(solver):
    X, y = _data()
    kwargs = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=40, random_state=0)
    with local_cluster() as client:
        reference = fastnn.MLPClassifier(**kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reference.fit(X, y)
        est = fastnn.MLPClassifier(**kwargs)
        thread, box = _fit_in_thread(est, X, y)
        _kill_one_worker_mid_round(client)
        thread.join(timeout=300)
        assert not thread.is_alive(), "the fit hung after a worker was killed"
    if "error" in box:  # the other allowed outcome: a clear error, the estimator unchanged (never fitted)
        assert isinstance(box["error"], RuntimeError) and "cluster" in str(box["error"])
        assert not hasattr(est, "coefs_")
    else:
        for a, b in zip(est.coefs_ + est.intercepts_, reference.coefs_ + reference.intercepts_):
            np.testing.assert_array_equal(a, b)


def test_cluster_without_workers_is_an_error_not_a_hang(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(config, "CLUSTER_NO_WORKER_SECONDS", 3.0)
    monkeypatch.setattr(config, "CLUSTER_POLL_SECONDS", 0.5)
    with local_cluster() as client:
        est = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = fastnn.MLPClassifier((8,), solver="lbfgs", max_iter=5, random_state=0).fit(X.compute(),
                                                                                                 y.compute())
        est.__dict__.update(fitted.__dict__)
        before = [c.copy() for c in est.coefs_]
        thread, box = _fit_in_thread(est, X, y)
        time.sleep(0.5)
        client.cluster.scale(0)  # every worker retired: nothing can run the rounds
        thread.join(timeout=120)
        assert not thread.is_alive(), "the fit hung on a cluster without workers"
    assert isinstance(box.get("error"), RuntimeError), box
    assert "no workers" in str(box["error"]) or "cluster" in str(box["error"])
    for a, b in zip(est.coefs_, before):
        np.testing.assert_array_equal(a, b)
