"""The client side of cluster training: the client, the data's row blocks, their placement, waiting safely.

- :func:`client_for`: the current ``distributed.Client`` (a clear error without one);
- :func:`as_row_blocks` / :func:`align`: the user's dask array or dataframe
  as a dask array cut into row blocks only, and ``y``/``sample_weight`` cut
  the same way;
- :func:`place`: every row block prepared into a partition on a worker, in
  shards (one per worker), as futures that stay on the cluster;
- :func:`gather`: the results of tasks, never a hang (a cluster without
  workers is reported) and a lost cluster as one clear error;
- :func:`weighted_mean`: the row-weighted average of the shards' arrays.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from fastnn import config


def _dask_modules():
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised without dask installed
        raise ImportError('fastnn on dask input needs dask and distributed: pip install "fastnn-numba[dask]"') from exc
    return dask, da, distributed


def client_for(what: str):
    """The ``distributed.Client`` the cluster work of ``what`` runs on: the current (default) one."""
    _, _, distributed = _dask_modules()
    try:
        return distributed.default_client()
    except ValueError:
        raise RuntimeError(
            f"{what} on dask input runs on a Dask cluster: create a distributed.Client first "
            "(e.g. distributed.Client(LocalCluster()) or Client('tcp://scheduler:8786'))"
        ) from None


def as_row_blocks(name: str, data):
    """``data`` (a dask array, DataFrame or Series) as a dask array with known row blocks, whole rows each.

    Dataframes are converted with their partition lengths computed (one pass
    that returns only the lengths); a 2-D array cut across its columns is
    re-cut into whole rows.
    """
    _, da, _ = _dask_modules()
    if hasattr(data, "to_dask_array"):  # dask DataFrame or Series
        arr = data.to_dask_array(lengths=True)
    elif isinstance(data, da.Array):
        arr = data
    else:
        raise TypeError(f"{name} must be a dask array or dask dataframe, got {type(data).__name__}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got a dask array of shape {arr.shape}")
    if any(np.isnan(c) for c in arr.chunks[0]):
        arr = arr.compute_chunk_sizes()
    if arr.ndim == 2 and arr.numblocks[1] > 1:
        arr = arr.rechunk({1: -1})
    return arr


def align(name: str, values, row_chunks: tuple):
    """``values`` (dask or array-like, one entry or row per sample) cut into the row blocks ``row_chunks``."""
    _, da, _ = _dask_modules()
    n = sum(row_chunks)
    if hasattr(values, "__dask_graph__"):
        arr = as_row_blocks(name, values)
    else:
        host = np.asarray(values)
        if host.ndim == 0:
            raise ValueError(f"{name} must have one value (or row) per sample, got a scalar")
        arr = da.from_array(host, chunks=(row_chunks,) + host.shape[1:])
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n}")
    if tuple(arr.chunks[0]) != tuple(row_chunks):
        arr = arr.rechunk({0: row_chunks})
    return arr


class Placement(NamedTuple):
    """A data set on the cluster: its partitions (futures) grouped into shards."""

    parts: list  #: one future per row block: the partition (X, Y, sw) on a worker
    rows: np.ndarray  #: (n_parts,) rows of each partition
    shards: list  #: lists of partition indices: contiguous runs, one shard per worker
    workers: list  #: the worker each shard's partitions were placed on

    def shard_parts(self, s: int) -> list:
        return [self.parts[i] for i in self.shards[s]]

    def submit(self, client, s: int, function, *args):
        """``function(*args, *partitions of shard s)`` as a task on the shard's worker (elsewhere if it is lost)."""
        return client.submit(function, *args, *self.shard_parts(s), workers=[self.workers[s]],
                             allow_other_workers=True, pure=False)

    def shard_rows(self) -> np.ndarray:
        return np.array([self.rows[idx].sum() for idx in self.shards], dtype=np.int64)

    def release(self) -> None:
        for future in self.parts:
            future.release()


def workers_of(client) -> list:
    """The cluster's worker addresses, sorted; a RuntimeError when it has none.

    A fit reads them once, when it starts: its number of shards (one per
    worker) then stays fixed, so a worker lost and replaced mid-fit changes
    neither the shards nor the result.
    """
    workers = sorted(client.nthreads())  # (asks the scheduler now; scheduler_info() may be stale or cut at 5)
    if not workers:
        raise RuntimeError("the Dask cluster has no workers")
    return workers


def place(client, workers: list, X, Y, sw, encode_targets, dtype) -> Placement:
    """Prepare every row block of ``(X, Y, sw)`` into a partition, on the worker of its shard.

    Shards are contiguous runs of row blocks, one per worker of ``workers``
    (:func:`workers_of`, read when the fit started; at most one per block); a
    shard's blocks are computed on its worker (``allow_other_workers``: if
    that worker is lost, anywhere else), so the training task of a shard
    finds its data in place.  Results depend on the row blocks and the
    number of shards, never on which worker runs what.
    """
    dask, _, _ = _dask_modules()
    from fastnn.cluster.worker import prepare_partition

    xs = X.to_delayed().ravel()
    ys = Y.to_delayed().ravel()
    sws = sw.to_delayed().ravel() if sw is not None else [None] * len(xs)
    n_parts = len(xs)
    n_shards = min(len(workers), n_parts)
    shard_of = [i * n_shards // n_parts for i in range(n_parts)]
    prepare = dask.delayed(prepare_partition, pure=False)
    parts = [
        client.compute(prepare(xs[i], ys[i], sws[i], encode_targets, np.dtype(dtype)),
                       workers=[workers[shard_of[i]]], allow_other_workers=True)
        for i in range(n_parts)
    ]
    shards = [[i for i in range(n_parts) if shard_of[i] == s] for s in range(n_shards)]
    return Placement(parts, np.array(X.chunks[0], dtype=np.int64), shards, workers[:n_shards])


def gather(client, futures: list, what: str) -> list:
    """The results of ``futures``; waits while the cluster has workers, never forever.

    A task's own exception (a ValueError about the data, ...) is raised as
    it is.  When the cluster loses the work for good (a task's workers kept
    dying: ``KilledWorker``; futures cancelled; no worker for
    :data:`fastnn.config.CLUSTER_NO_WORKER_SECONDS`), a RuntimeError says so.
    """
    _, _, distributed = _dask_modules()
    without_workers_since = None
    while True:
        try:
            distributed.wait(futures, timeout=config.CLUSTER_POLL_SECONDS)
            break
        except TimeoutError:  # (asyncio's is the built-in one since Python 3.11; distributed re-raises it)
            if client.nthreads():
                without_workers_since = None
            elif without_workers_since is None:
                without_workers_since = time.monotonic()
            elif time.monotonic() - without_workers_since > config.CLUSTER_NO_WORKER_SECONDS:
                raise RuntimeError(f"{what}: the Dask cluster has had no workers for "
                                   f"{config.CLUSTER_NO_WORKER_SECONDS:.0f} s") from None
    try:
        return client.gather(futures)
    except distributed.KilledWorker as exc:
        raise RuntimeError(f"{what}: the cluster lost the work (workers died while running it: {exc})") from exc
    except distributed.client.FutureCancelledError as exc:
        raise RuntimeError(f"{what}: the cluster cancelled the work ({exc})") from exc


def weighted_mean(arrays: list, weights: np.ndarray, dtype) -> np.ndarray:
    """``sum(w_i * a_i) / sum(w)`` accumulated in float64, in order, returned in ``dtype``."""
    total = np.zeros(arrays[0].shape, np.float64)
    for a, w in zip(arrays, weights):
        total += np.asarray(a, np.float64) * float(w)
    return (total / float(np.sum(weights))).astype(dtype)


def is_dask_collection(obj) -> bool:
    """True for a dask array, dataframe, series, bag or delayed (checked without importing dask)."""
    return hasattr(type(obj), "__dask_graph__")
