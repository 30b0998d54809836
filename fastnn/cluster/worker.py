"""What runs on the Dask workers: prepare a partition, evaluate it, train on it, predict it.

Every function here is a plain function of NumPy arrays (no Dask import):
the client (:mod:`fastnn.cluster.driver`) submits it with the partitions it
works on as arguments, so Dask runs it on the worker that holds them and
only small things travel (the parameters, the optimizer state, sums).

A *partition* is the tuple ``(X, Y, sw)`` that :func:`prepare_partition`
makes from one row block of the user's data: ``X`` (n, d) and ``Y`` (n, k)
C-contiguous in the model's dtype, the targets already encoded (one-hot,
label-binarised), ``sw`` (n,) sample weights or (0,).  A *shard* is the list
of partitions one task works on (one shard per worker, see
:func:`fastnn.cluster.driver.place`).

The compiled kernels are the ones a local fit uses
(:mod:`fastnn.kernels.train`), with the training-loop contract's arguments
(:mod:`fastnn.contract`); buffers are kept per thread between calls
(:func:`_buffers`), so an L-BFGS iteration allocates nothing on a worker.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from fastnn import config, contract, inference


# ----------------------------------------------------------------------
# partitions
# ----------------------------------------------------------------------


def prepare_partition(x_block, y_block, sw_block, encode_targets, dtype) -> tuple:
    """One row block of the user's data as a partition ``(X, Y, sw)`` (see the module docstring).

    ``encode_targets(y_block) -> (n, k) array`` validates and encodes the
    targets (:mod:`fastnn.cluster.targets`); ``X`` is checked for NaN and
    infinity here, on the worker, before any compiled code reads it.
    """
    X = writable(x_block, dtype)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got a block of shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    Y = writable(encode_targets(y_block), dtype)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y blocks have {X.shape[0]} and {Y.shape[0]} rows")
    if sw_block is None:
        sw = np.empty(0, dtype)
    else:
        sw = writable(np.reshape(sw_block, -1), dtype)
        if sw.shape[0] != X.shape[0]:
            raise ValueError(f"sample_weight block has {sw.shape[0]} values for {X.shape[0]} rows")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
    return X, Y, sw


def writable(values, dtype) -> np.ndarray:
    """``values`` as a C-contiguous, writeable array of ``dtype`` (copied only when needed).

    Arrays Dask deserialises can be read-only, and a read-only array is
    another Numba type: every compiled loop it reached would be compiled
    again, on every worker, instead of loaded from the cache.
    """
    arr = np.ascontiguousarray(values, dtype=dtype)
    return arr if arr.flags.writeable else arr.copy()


def partition_rows(part) -> int:
    """Rows of a partition (runs on its worker: only the count travels)."""
    return int(part[0].shape[0])


# ----------------------------------------------------------------------
# per-thread buffers
# ----------------------------------------------------------------------

_BUFFERS: dict = {}
_BUFFERS_LOCK = threading.Lock()
_MAX_KEPT = 8


def _buffers(kind: str, layout: np.ndarray, dtype, rows: int, extra: tuple = ()) -> dict:
    """Scratch arrays for ``rows``-row batches of the network ``layout``, kept for this thread's next call."""
    key = (threading.get_ident(), kind, layout.tobytes(), np.dtype(dtype).str, rows, extra)
    found = _BUFFERS.get(key)
    if found is not None:
        return found
    rows_layout = layout.tolist()
    widths = [rows_layout[0][contract.N_IN]] + [row[contract.N_OUT] for row in rows_layout]
    n_params = rows_layout[-1][contract.B_OFF] + rows_layout[-1][contract.N_OUT]
    made = {
        "xb": np.empty(rows * widths[0], dtype),
        "yb": np.empty(rows * widths[-1], dtype),
        "swb": np.empty(rows, dtype),
        "abuf": np.empty(rows * sum(widths[1:]), dtype),
        "dbuf": np.empty(rows * max(widths), dtype),
        "dbuf_other": np.empty(rows * max(widths), dtype),
        "rowloss": np.empty(rows, np.float64),
        "grad": np.empty(contract.row_blocks(rows, layout) * n_params, dtype),
        "n_params": n_params,
    }
    with _BUFFERS_LOCK:
        while len(_BUFFERS) >= _MAX_KEPT:
            _BUFFERS.pop(next(iter(_BUFFERS)))
        _BUFFERS[key] = made
    return made


def _partitions_with_buffers(parts, layout: np.ndarray, kind: str):
    """``(X, Y, sw, rows, buffers)`` for each non-empty partition: its sub-batch rows and this thread's buffers."""
    for X, Y, sw in parts:
        if X.shape[0]:
            rows = _sub_batch_rows(layout, X.shape[0])
            yield X, Y, sw, rows, _buffers(kind, layout, X.dtype, rows)


def _sub_batch_rows(layout: np.ndarray, rows: int) -> int:
    """Rows per loss/gradient call: the activations of one call stay within PARTITION_BATCH_ELEMENTS."""
    width = int(layout[:, contract.N_OUT].sum())
    return max(1, min(rows, config.PARTITION_BATCH_ELEMENTS // max(width, 1)))


# ----------------------------------------------------------------------
# L-BFGS: the loss and gradient of a shard
# ----------------------------------------------------------------------


def shard_loss_grad(theta, layout, loss_code, eps, *parts) -> tuple:
    """The data term of scikit-learn's loss and its gradient over a shard's partitions, as sums.

    Returns ``(loss_sum, weight_sum, grad_sum)``: ``loss_sum / W`` and
    ``grad_sum / W`` are the shard's share of the loss and gradient of the
    whole data set, ``W`` being the total sample weight (the rows when
    unweighted).  The L2 term is added once by the client.  Each partition
    is evaluated in sub-batches (:func:`_sub_batch_rows`) with the compiled
    ``batch_loss_grad`` in the SKLEARN convention, alpha 0; sub-batches and
    partitions are summed in order, so the result does not depend on the
    worker or its threads.
    """
    from fastnn.kernels import train

    dtype = parts[0][0].dtype
    theta, layout = writable(theta, dtype), writable(layout, np.int64)
    n_params = theta.shape[0]
    grad_sum = np.zeros(n_params, np.float64)
    loss_sum = weight_sum = 0.0
    for X, Y, sw, rows, buf in _partitions_with_buffers(parts, layout, "loss_grad"):
        n = X.shape[0]
        grad = buf["grad"][:n_params]  # one gradient slot: one block per call, as a local L-BFGS fit
        kernel = train.batch_loss_grad.pick(config.use_parallel(rows * contract.madds_per_row(layout), fused=True))
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            weights = sw[start:stop] if sw.shape[0] else sw
            loss, wsum = kernel(X[start:stop], Y[start:stop], weights, theta, grad, layout, loss_code,
                                contract.SKLEARN, 0.0, eps, buf["abuf"], buf["dbuf"], buf["dbuf_other"],
                                buf["rowloss"], rows)
            loss_sum += loss * wsum
            weight_sum += wsum
            grad_sum += grad * wsum  # (the kernel divided by the sub-batch's weight: undone here)
    return loss_sum, weight_sum, grad_sum


# ----------------------------------------------------------------------
# stochastic solvers: local epochs of a shard
# ----------------------------------------------------------------------


class LocalTraining(NamedTuple):
    """What a shard's local epochs need besides the data and the parameters (small: sent every round)."""

    layout: np.ndarray
    convention: int  #: contract.KERAS (Sequential) or contract.SKLEARN (the estimators)
    loss_code: int
    opt_code: int
    hyper: np.ndarray  #: contract.hyper_vector(...), the round's learning rate included
    eps: float
    batch_size: int
    shuffle: bool  #: reshuffle the rows of every partition, and the partitions' order, every epoch


class ShardResult(NamedTuple):
    """What a shard sends back after a round."""

    theta: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    losses: np.ndarray  #: (epochs,) the shard's loss of each epoch: row-weighted mean over its partitions
    rows: int  #: rows of the shard
    steps: int  #: optimizer steps taken in the round (batches)
    status: int  #: contract.OK, or NON_FINITE when the loss or the weights became non-finite


def train_shard(run: LocalTraining, theta, s1, s2, epoch0: int, step0: int, epochs: int, seed: int,
                *parts) -> ShardResult:
    """Train a copy of the parameters for ``epochs`` epochs over the shard's partitions.

    Every epoch visits the partitions (in an order drawn from ``seed`` when
    ``run.shuffle``), running one compiled epoch (``train_epochs``, the same
    loop as a local fit) on each, its rows reshuffled from the same
    generator.  ``epoch0`` and ``step0`` continue the learning-rate decay and
    Adam's step count of the whole fit.  Stops at the first non-finite loss.
    """
    from fastnn.kernels import train

    dtype = parts[0][0].dtype
    theta = np.array(theta, dtype=dtype)  # copies: the caller's arrays are the round's starting point
    s1 = np.array(s1, dtype=dtype)
    s2 = np.array(s2, dtype=dtype)
    layout, hyper, n_params = writable(run.layout, np.int64), writable(run.hyper, np.float64), theta.shape[0]
    rng = np.random.default_rng(seed)
    batch = run.batch_size
    buf = _buffers("train", layout, dtype, batch)
    keras = run.convention == contract.KERAS
    snapshot = np.empty(contract.snapshot_size(n_params) if keras else 0, dtype)
    no_params = np.empty(0, dtype)
    state = contract.new_loop_state()
    loss_out = np.empty(1)
    epoch_losses = np.zeros(epochs)
    rows = sum(X.shape[0] for X, _, _ in parts)
    step, status = step0, contract.OK
    for e in range(epochs):
        order = rng.permutation(len(parts)) if run.shuffle else range(len(parts))
        for p in order:
            X, Y, sw = parts[p]
            n = X.shape[0]
            if n == 0:
                continue
            nb = min(batch, n)
            weighted = sw.shape[0] > 0
            loop = train.pick_train_epochs(layout, run.convention, weighted)
            kernel = loop.pick(config.use_parallel(nb * contract.madds_per_row(layout), fused=True))
            perms = rng.permutation(n).reshape(1, n) if run.shuffle else np.empty((0, n), np.int64)
            state[:] = contract.new_loop_state()
            state[contract.S_EPOCH0] = epoch0 + e
            state[contract.S_N_EPOCHS] = 1
            state[contract.S_STEP0] = step
            grad = buf["grad"] if nb == batch else np.empty(contract.row_blocks(nb, layout) * n_params, dtype)
            args = contract.FitArgs(
                X=X, Y=Y, sw=sw, Xv=np.empty((0, X.shape[1]), dtype), Yv=np.empty((0, Y.shape[1]), dtype),
                theta=theta, layout=layout, opt_code=run.opt_code, hyper=hyper, s1=s1, s2=s2,
                loss_code=run.loss_code, convention=run.convention, eps=dtype.type(run.eps), batch_size=nb,
                patience=-1, grad=grad, snapshot=snapshot, best=no_params, xb=buf["xb"], yb=buf["yb"],
                swb=buf["swb"] if weighted else no_params, abuf=buf["abuf"], dbuf=buf["dbuf"],
                dbuf_other=buf["dbuf_other"], rowloss=buf["rowloss"],
            )
            chunk = contract.ChunkArgs(perms=perms, losses=loss_out, val_losses=np.empty(0), state=state)
            ran, status, step = kernel(*args, *chunk)
            status, step = int(status), int(step)
            if status != contract.OK or int(ran) < 1 or not np.isfinite(loss_out[0]):
                return ShardResult(theta, s1, s2, epoch_losses[:e], rows, step - step0, contract.NON_FINITE)
            epoch_losses[e] += loss_out[0] * n
    return ShardResult(theta, s1, s2, epoch_losses / max(rows, 1), rows, step - step0, status)


# ----------------------------------------------------------------------
# inference
# ----------------------------------------------------------------------


def shard_evaluate(theta, layout, loss_code, eps, accuracy: str, *parts) -> tuple:
    """The loss (KERAS convention) and accuracy counts of a shard: ``(loss_sum, rows, correct, judged)``.

    ``loss_sum / rows`` is the shard's mean loss (each partition's mean,
    from the compiled ``dataset_loss`` of a local ``evaluate``, times its
    rows).  ``accuracy``: ``""`` (none), ``"binary"`` (outputs on the right
    side of 0.5, ``judged`` counts outputs) or ``"categorical"`` (arg-max
    equals the true class, ``judged`` counts rows).
    """
    from fastnn.training import inference_kernels, pick_build

    loss_sum, rows_total, correct, judged = 0.0, 0, 0, 0
    dtype = parts[0][0].dtype
    theta, layout = writable(theta, dtype), writable(layout, np.int64)
    narrow = bool(layout[:, [contract.N_IN, contract.N_OUT]].max() <= config.NARROW_MAX_WIDTH)
    _, dataset_loss = inference_kernels("numba", narrow)
    how = inference.plan(layout, dtype.itemsize) if accuracy else None
    for X, Y, _, rows, buf in _partitions_with_buffers(parts, layout, "evaluate"):
        n = X.shape[0]
        work = rows * contract.madds_per_row(layout)
        value = pick_build(dataset_loss, "numba", work)(*contract.DatasetLossArgs(
            X=X, Y=Y, theta=theta, layout=layout, loss_code=loss_code, eps=dtype.type(eps), batch_size=rows,
            xb=buf["xb"], yb=buf["yb"], abuf=buf["abuf"], rowloss=buf["rowloss"]))
        loss_sum += float(value) * n
        rows_total += n
        if accuracy:
            out = inference.forward(X, theta, how)
            if accuracy == "categorical":
                correct += int(np.sum(np.argmax(out, axis=1) == np.argmax(Y, axis=1)))
                judged += n
            else:
                correct += int(np.sum((out > 0.5) == (Y > 0.5)))
                judged += out.size
    return loss_sum, rows_total, correct, judged
