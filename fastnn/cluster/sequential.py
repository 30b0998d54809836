"""``fastnn.Sequential`` on dask input: data-parallel ``fit``, blockwise ``predict``, distributed ``evaluate``.

:meth:`fastnn.model.Sequential.fit` hands dask input here.  A fit runs
rounds of ``sync_every`` local epochs: every shard (one per worker) trains a
copy of the parameters and optimizer state on its own partitions with the
compiled epoch loop of a local fit (:func:`fastnn.cluster.worker.train_shard`),
then the client averages them, weighted by the shards' rows.  The per-shard
shuffling seeds are drawn from the model's own generator, so a fit is
exactly reproducible for a seed, a partitioning and a number of workers, and
a fit resumed from a checkpoint continues exactly.

Everything the local fit reports is reported per epoch (``History.loss``:
the row-weighted mean of the shards' epoch losses); validation data (numpy
or dask) is evaluated after every round, so ``validation_data`` and
``patience`` need ``sync_every=1`` (one round per epoch).  The model changes
only when the fit succeeds (or stops early, diverges, or is interrupted,
as a local fit does); a failure on the cluster leaves it as it was.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np

from fastnn import contract, training
from fastnn._checks import check_int
from fastnn.cluster import driver
from fastnn.cluster.targets import SequentialTargets
from fastnn.cluster.worker import LocalTraining, shard_evaluate, train_shard
from fastnn.history import History, InterruptGuard, Progress


def fit(model, X, y, settings: training.FitSettings, validation_data, sync_every, callbacks=None) -> History:
    """Train ``model`` on dask ``X``/``y`` (see the module docstring); returns the fit's :class:`History`."""
    client = driver.client_for("Sequential.fit")
    workers = driver.workers_of(client)  # one shard per worker of the cluster as the fit starts
    if model.backend != "numba":
        raise ValueError("fit on dask input runs the compiled kernels: use a model with backend='numba'")
    sync_every = check_int("sync_every", sync_every, low=1)
    if (validation_data is not None or settings.patience is not None) and sync_every != 1:
        raise ValueError("validation_data and patience are evaluated after every synchronisation: "
                         f"use sync_every=1 with them (got sync_every={sync_every})")
    Xd = driver.as_row_blocks("X", X)
    if Xd.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {Xd.shape}")
    if Xd.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {Xd.dtype}")
    if model.built and Xd.shape[1] != model.input_dim:
        raise ValueError(f"X has {Xd.shape[1]} features, but the model is built for input_dim={model.input_dim}")
    Yd = driver.align("y", y, Xd.chunks[0])
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
        raise TypeError("validation_data must be a tuple (X_val, y_val)")
    saved = copy.deepcopy(model.__dict__)
    try:
        return _fit(client, workers, model, Xd, Yd, settings, validation_data, sync_every, callbacks)
    except BaseException:
        model.__dict__.clear()
        model.__dict__.update(saved)
        raise


def _fit(client, workers, model, Xd, Yd, settings, validation_data, sync_every, callbacks=None) -> History:
    if not model.built:
        model.build(Xd.shape[1])
    dtype = model.dtype
    spec, opt = settings.spec, settings.optimizer
    placement = driver.place(client, workers, Xd, Yd, None, SequentialTargets(spec, model.output_dim, dtype), dtype)
    try:
        model._use_optimizer(opt, spec.name)
        return _rounds(client, model, placement, settings, validation_data, sync_every, callbacks)
    finally:
        placement.release()


def _rounds(client, model, placement, settings, validation_data, sync_every, callbacks=None) -> History:
    """The rounds of a fit; updates the model in place after each one (its counters too).

    ``callbacks`` (a :class:`fastnn.callbacks.CallbackRunner`) run after each
    round that reaches an epoch they run after, and may end the fit there.
    """
    dtype, layout, opt = model.dtype, model._layout, settings.optimizer
    n = int(placement.rows.sum())
    batch = int(placement.rows.max()) if settings.batch_size is None else settings.batch_size
    shard_rows = placement.shard_rows()
    run = LocalTraining(layout, contract.KERAS, settings.spec.code, opt.code,
                        training.hyper_for(opt, settings.min_delta), float(np.finfo(dtype).eps), batch,
                        bool(settings.shuffle))
    epochs, patience, min_delta = settings.epochs, settings.patience, settings.min_delta
    epoch0 = model.epochs_trained
    history = History()
    progress = Progress(settings.verbose, epochs) if settings.verbose else None
    best_value, best_epoch, best_theta, wait = math.inf, None, None, 0
    done, message = 0, ""
    checkpoint_every = settings.checkpoint_every if settings.checkpoint is not None else 0
    saved_at = None  # the epoch of this fit the checkpoint file holds
    s1, s2 = model._opt_state[0], model._opt_state[1]
    with InterruptGuard() as guard:
        while done < epochs and not guard.interrupted:
            count = min(sync_every, epochs - done)
            if checkpoint_every:
                count = min(count, checkpoint_every - done % checkpoint_every)
            seeds = model._shuffle_rng.integers(0, 2**63 - 1, size=len(placement.shards))
            tasks = [placement.submit(client, s, train_shard, run, model._theta, s1, s2, epoch0 + done, model.step,
                                      count, int(seeds[s])) for s in range(len(placement.shards))]
            results = driver.gather(client, tasks, "Sequential.fit")
            if any(r.status != contract.OK for r in results):
                history.diverged = True
                history.restored_epoch = done
                message = (f"the loss or the weights became non-finite in epoch {done + 1}; training stopped and "
                           f"the model keeps the weights it had after epoch {done} of this fit")
                warnings.warn(message, RuntimeWarning, stacklevel=4)
                break
            model._assign_parameters(driver.weighted_mean([r.theta for r in results], shard_rows, dtype))
            if s1.shape[0]:
                s1[...] = driver.weighted_mean([r.s1 for r in results], shard_rows, dtype)
            if s2.shape[0]:
                s2[...] = driver.weighted_mean([r.s2 for r in results], shard_rows, dtype)
            model.step += max(r.steps for r in results)
            losses = np.array([sum(r.losses[e] * rows for r, rows in zip(results, shard_rows)) / n
                               for e in range(count)])
            val = None
            if validation_data is not None:
                val = np.array([evaluate(model, *validation_data, loss=settings.spec.name)["loss"]])
            history.record_chunk(losses, val, opt, epoch0 + done)
            done += count
            history.epochs = done
            model.epochs_trained = epoch0 + done
            if progress is not None:
                progress.update(history, epoch0, done - count)
            if callbacks is not None and callbacks.chunk_end(
                    done, count, model.epochs_trained, model.step, losses[-1], None if val is None else val[-1],
                    opt.lr_schedule(epoch0 + done - 1, 1)[0]):
                break  # a callback stopped the fit after this round
            if patience is not None:
                monitored = float(val[-1]) if val is not None else float(losses[-1])
                if monitored < best_value - min_delta:
                    best_value, best_epoch, best_theta, wait = monitored, done - 1, model._theta.copy(), 0
                else:
                    wait += 1
                    if wait >= patience:
                        history.stopped_early = True
                        break
            if checkpoint_every and done % checkpoint_every == 0:
                model.save(settings.checkpoint)
                saved_at = done
        history.interrupted = guard.interrupted and done < epochs
    if best_theta is not None:
        model._assign_parameters(best_theta)
        history.best_epoch = best_epoch
    if settings.checkpoint is not None and (saved_at != done or best_theta is not None):
        model.save(settings.checkpoint)  # the end of the fit, however it ended (as a local fit)
    if history.interrupted:
        message = f"interrupted: kept the weights and history of epoch {history.epochs}"
    if progress is not None:
        progress.close(message)
    return history


def predict(model, X):
    """Blockwise ``predict`` on the workers: a dask array (n_samples, n_outputs); the model travels once per worker."""
    import dask

    Xd = driver.as_row_blocks("X", X)
    if Xd.ndim != 2 or Xd.shape[1] != model.input_dim:
        raise ValueError(f"X must have shape (n_samples, {model.input_dim}), got {Xd.shape}")
    handle = dask.delayed(model, pure=False, traverse=False)
    return Xd.map_blocks(_predict_block, handle, chunks=(Xd.chunks[0], (model.output_dim,)), dtype=model.dtype,
                         meta=np.empty((0, 0), model.dtype))


def _predict_block(block, model):
    return model.predict(np.require(block, requirements="W"))  # (read-only blocks: another Numba type)


def evaluate(model, X, y, loss=None) -> dict:
    """``Sequential.evaluate`` for dask ``X``/``y``: the same dict, from per-shard sums (computed now)."""
    from fastnn.losses import loss_spec

    if not hasattr(type(X), "__dask_graph__"):
        return model.evaluate(X, y, loss=loss)
    client = driver.client_for("Sequential.evaluate")
    spec = loss_spec(loss if loss is not None else (model.loss or "mse"))
    training.check_output_activation(spec, model.layers[-1].activation)
    Xd = driver.as_row_blocks("X", X)
    if Xd.ndim != 2 or Xd.shape[1] != model.input_dim:
        raise ValueError(f"X must have shape (n_samples, {model.input_dim}), got {Xd.shape}")
    Yd = driver.align("y", y, Xd.chunks[0])
    placement = driver.place(client, driver.workers_of(client), Xd, Yd, None,
                             SequentialTargets(spec, model.output_dim, model.dtype), model.dtype)
    accuracy = "" if not spec.is_classification else (
        "categorical" if spec.output_activation == "softmax" else "binary")
    try:
        tasks = [placement.submit(client, s, shard_evaluate, model._theta, model._layout, spec.code,
                                  float(np.finfo(model.dtype).eps), accuracy) for s in range(len(placement.shards))]
        results = driver.gather(client, tasks, "Sequential.evaluate")
    finally:
        placement.release()
    rows = sum(r[1] for r in results)
    value = sum(r[0] for r in results) / rows
    result = {"loss": float(value)}
    if not math.isfinite(value):
        warnings.warn(f"evaluate() returns a non-finite loss ({value}): the weights or the inputs are too large "
                      f"for {model.dtype.name}", RuntimeWarning, stacklevel=3)
    if accuracy:
        result["accuracy"] = float(sum(r[2] for r in results) / sum(r[3] for r in results))
    return result
