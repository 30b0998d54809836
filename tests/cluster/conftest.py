"""A real Dask cluster for the tests of ``fastnn.cluster`` and the Dask recipes.

``dask_client``: one ``distributed.LocalCluster`` for the whole session, two
worker processes of one thread each on 127.0.0.1 (no mocks), as the tests of
issue 14 require.  Tests that break their cluster (a killed worker) start
their own with :func:`local_cluster`.
"""

from __future__ import annotations

import contextlib
import logging

import pytest

distributed = pytest.importorskip("distributed")


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, threads_per_worker: int = 1):
    """A ``LocalCluster`` of worker processes on 127.0.0.1 and a client connected to it."""
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                                  host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="session")
def dask_client():
    with local_cluster() as client:
        yield client
