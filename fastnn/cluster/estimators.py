"""``fastnn.MLPClassifier`` / ``MLPRegressor`` on dask input: data-parallel fit, blockwise predict and score.

:meth:`fastnn.sklearn._FastnnMLP._fit` hands dask input here.  What a fit
does, in scikit-learn's order (its ``_fit``): check the parameters and the
data's shape, find the classes (a distributed ``unique``: only the labels
travel), initialise the weights from ``random_state`` exactly as
scikit-learn does, prepare the row blocks on the workers
(:func:`fastnn.cluster.driver.place`), then run the solver:

- ``lbfgs``: scikit-learn's own L-BFGS driver (scipy) on the client, every
  loss/gradient evaluation summed from one task per shard
  (:func:`fastnn.cluster.worker.shard_loss_grad`); it equals single-machine
  L-BFGS up to the order of the sums;
- ``sgd``/``adam``: rounds of ``sync_every`` local epochs per shard
  (:func:`fastnn.cluster.worker.train_shard`), after which the parameters and
  the optimizer state are averaged, weighted by the shards' rows
  (:func:`_fit_averaged`).

``class_weight`` (classifier) becomes one more factor of the sample weights,
looked up block by block on the workers; ``"balanced"`` takes the class
counts from the same distributed ``unique`` that finds the classes
(:func:`fastnn.class_weight.dask_sample_weight`).

A fit that fails on the cluster leaves the estimator as it was.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from fastnn import class_weight, contract
from fastnn.cluster import driver
from fastnn.cluster.targets import EstimatorTargets
from fastnn.cluster.worker import LocalTraining, shard_loss_grad, train_shard
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE


def fit(est, X, y, sample_weight=None, incremental=False):
    """``est._fit`` for dask input (``fit``, ``partial_fit``); see the module docstring. Returns ``est``."""
    client = driver.client_for(f"{type(est).__name__}.fit")
    saved = copy.deepcopy(est.__dict__)
    try:
        _fit(client, est, X, y, sample_weight, incremental)
    except BaseException:
        est.__dict__.clear()
        est.__dict__.update(saved)
        raise
    return est


def _fit(client, est, X, y, sample_weight, incremental):
    workers = driver.workers_of(client)  # one shard per worker of the cluster as the fit starts
    hidden = est.hidden_layer_sizes
    hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
    if np.any(np.array(hidden) <= 0):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
    if est.early_stopping and est.solver != "lbfgs":
        raise ValueError("early_stopping=True is not supported on dask input (fastnn holds no validation split "
                         "on the cluster): pass numpy input, or stop on the training loss (the default)")
    first_pass = not hasattr(est, "coefs_") or (not est.warm_start and not incremental)
    Xd = driver.as_row_blocks("X", X)
    if Xd.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {Xd.shape}")
    n, d = Xd.shape
    if n < 1 or d < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {Xd.shape}")
    if Xd.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {Xd.dtype}")
    dtype = np.dtype(np.float32) if Xd.dtype == np.float32 else np.dtype(np.float64)
    Yd = driver.align("y", y, Xd.chunks[0])
    swd = None if sample_weight is None else driver.align("sample_weight", sample_weight, Xd.chunks[0])
    if first_pass:
        est.n_features_in_ = d
        if hasattr(X, "columns"):
            est.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif d != est.n_features_in_:
        raise ValueError(f"X has {d} features, but {type(est).__name__} is expecting {est.n_features_in_} "
                         "features as input.")

    if est._is_classifier():
        if Yd.ndim == 2 and Yd.shape[1] > 1:
            raise ValueError("multilabel targets (2-D y) are not supported on dask input; pass 1-D class labels")
        labels = Yd.ravel() if Yd.ndim == 2 else Yd
        import dask
        import dask.array as da

        counts = None
        if isinstance(getattr(est, "class_weight", None), str):  # "balanced": the classes' counts too
            classes, counts = dask.compute(*da.unique(labels, return_counts=True))
        else:
            classes = da.unique(labels).compute()  # only the distinct labels reach the client
        if not hasattr(est, "classes_") or (not est.warm_start and not incremental):
            est._fit_label_binarizer(classes)
        elif est.warm_start and set(classes) != set(est.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the previous call "
                             f"to fit. Previously got {est.classes_}, `y` has {classes}")
        elif len(np.setdiff1d(classes, est.classes_, assume_unique=True)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {est.classes_}. "
                             f"'y' has {classes}.")
        # class_weight: one more factor of the sample weights, looked up block by block on the workers
        swd = class_weight.dask_sample_weight(est, labels, swd, classes, counts, incremental)
        encode = EstimatorTargets(est._label_binarizer)
        n_outputs = est._label_binarizer.transform(est.classes_[:1]).shape[1]
    else:
        if Yd.dtype.kind not in "biuf":
            raise TypeError(f"y must be numeric, got dtype {Yd.dtype}")
        encode = EstimatorTargets(None)
        n_outputs = 1 if Yd.ndim == 1 else Yd.shape[1]
    est.n_outputs_ = n_outputs
    layer_units = [d] + hidden + [n_outputs]
    est._reset_random_state()
    if first_pass:
        est._initialize(np.empty((1, n_outputs)), layer_units, dtype)
    elif est.coefs_[0].shape[0] != d:
        raise ValueError(f"X has {d} features, the fitted network {est.coefs_[0].shape[0]}")

    placement = driver.place(client, workers, Xd, Yd, swd, encode, dtype)
    try:
        if est.solver == "lbfgs":
            _fit_lbfgs(client, est, placement, layer_units, dtype)
        else:
            _fit_averaged(client, est, placement, layer_units, dtype, incremental)
    finally:
        placement.release()
    if not all(np.isfinite(w).all() for w in (*est.coefs_, *est.intercepts_)):
        raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                         "and need to be preprocessed.")


# ----------------------------------------------------------------------
# lbfgs
# ----------------------------------------------------------------------


def _fit_lbfgs(client, est, placement, layer_units, dtype):
    """scikit-learn's L-BFGS driver, its loss and gradient summed over the shards."""
    net = est._network(layer_units)
    order = net.sklearn_order()
    weight_mask = np.zeros(net.n_params, bool)  # the L2 term covers the weights, not the biases
    for l in range(net.layout.shape[0]):
        start = int(net.layout[l, contract.W_OFF])
        weight_mask[start:start + int(net.layout[l, contract.N_IN] * net.layout[l, contract.N_OUT])] = True
    loss_code, alpha = est._loss_code(), float(est.alpha)
    eps = float(np.finfo(dtype).eps)
    theta = np.empty(net.n_params, dtype)

    def loss_grad(packed):
        theta[order] = packed
        shards = [placement.submit(client, s, shard_loss_grad, theta, net.layout, loss_code, eps)
                  for s in range(len(placement.shards))]
        results = driver.gather(client, shards, f"{type(est).__name__}.fit (lbfgs)")
        loss_sum = sum(r[0] for r in results)
        weight_sum = sum(r[1] for r in results)
        grad = np.zeros(net.n_params, np.float64)
        for r in results:
            grad += r[2]
        w = theta.astype(np.float64) * weight_mask
        loss = (loss_sum + 0.5 * alpha * float(w @ w)) / weight_sum
        grad = (grad + alpha * w) / weight_sum
        return loss, grad.astype(dtype)[order]

    est._fit_lbfgs_with(loss_grad, layer_units)
    est.coefs_ = [c.astype(dtype, copy=False) for c in est.coefs_]
    est.intercepts_ = [b.astype(dtype, copy=False) for b in est.intercepts_]


# ----------------------------------------------------------------------
# sgd / adam: local epochs and averaging
# ----------------------------------------------------------------------


def _fit_averaged(client, est, placement, layer_units, dtype, incremental):
    """``sgd``/``adam`` by parameter averaging: rounds of ``est.sync_every`` local epochs per shard.

    The estimator's bookkeeping is scikit-learn's, per epoch (``loss_curve_``,
    ``n_iter_``, ``t_``, the no-improvement count and the learning-rate
    schedule), from the row-weighted mean of the shards' epoch losses; the
    learning rate is constant within a round, and a stop (no improvement)
    takes effect at the end of a round.  Adam's step count advances by the
    most steps a shard took in the round.
    """
    solver = est._solver_state(incremental)
    n_samples = int(placement.rows.sum())
    batch_size = est._batch_rows(n_samples)
    net = est._network(layer_units)
    theta = net.pack(est.coefs_, est.intercepts_, dtype)
    s1, s2 = solver.arrays(net.n_params, dtype)
    adam = est.solver == "adam"
    hyper = contract.hyper_vector(
        lr=est.learning_rate_init, momentum=0.0 if adam else est.momentum,
        nesterov=False if adam else est.nesterovs_momentum, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon,
        alpha=float(est.alpha))
    shard_rows = placement.shard_rows()
    epochs_left = 1 if incremental else est.max_iter
    sync_every = int(getattr(est, "sync_every", 1))
    est.n_iter_ = 0
    what = f"{type(est).__name__}.fit ({est.solver})"
    stop = False
    while epochs_left > 0 and not stop:
        epochs = min(sync_every, epochs_left)
        hyper[contract.H_LR] = solver.learning_rate_init if adam else solver.learning_rate
        run = LocalTraining(net.layout, contract.SKLEARN, est._loss_code(), ADAM_CODE if adam else MOMENTUM_CODE,
                            hyper.copy(), float(np.finfo(dtype).eps), batch_size, bool(est.shuffle))
        seeds = est._random_state.randint(0, 2**31 - 1, size=len(placement.shards))
        tasks = [placement.submit(client, s, train_shard, run, theta, s1, s2, 0, solver.t if adam else 0, epochs,
                                  int(seeds[s])) for s in range(len(placement.shards))]
        results = driver.gather(client, tasks, what)
        if any(r.status != contract.OK for r in results):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        theta = driver.weighted_mean([r.theta for r in results], shard_rows, dtype)
        if s1.shape[0]:
            s1[...] = driver.weighted_mean([r.s1 for r in results], shard_rows, dtype)
        if s2.shape[0]:
            s2[...] = driver.weighted_mean([r.s2 for r in results], shard_rows, dtype)
        if adam:
            solver.t += max(r.steps for r in results)
        est.coefs_, est.intercepts_ = net.views(theta)
        for e in range(epochs):
            loss = float(sum(r.losses[e] * rows for r, rows in zip(results, shard_rows)) / n_samples)
            est._end_epoch(loss, n_samples, None)
            if est._no_improvement_count > est.n_iter_no_change and est._on_plateau(None):
                stop = True
                break
        epochs_left -= epochs
        if not stop and not incremental and epochs_left == 0:
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)
    est.coefs_ = [c.copy() for c in est.coefs_]
    est.intercepts_ = [b.copy() for b in est.intercepts_]


# ----------------------------------------------------------------------
# inference
# ----------------------------------------------------------------------


def _blockwise(est, X, method: str, out_columns):
    """``getattr(est, method)`` applied to every row block of dask ``X`` on the workers: a dask array.

    The estimator travels once per worker (a single graph key), not once per block.
    """
    import dask

    Xd = driver.as_row_blocks("X", X)
    if Xd.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {Xd.shape}")
    model = dask.delayed(est, pure=False, traverse=False)
    if out_columns is None:  # one value per row (labels, single-output regression)
        sample = getattr(est, method)(np.zeros((1, Xd.shape[1]), Xd.dtype))
        return Xd.map_blocks(_apply, model, method, drop_axis=1, dtype=sample.dtype,
                             meta=np.empty((0,), sample.dtype))
    sample = getattr(est, method)(np.zeros((1, Xd.shape[1]), Xd.dtype))
    return Xd.map_blocks(_apply, model, method, chunks=(Xd.chunks[0], (out_columns,)), dtype=sample.dtype,
                         meta=np.empty((0, 0), sample.dtype))


def _apply(block, model, method):
    return getattr(model, method)(np.require(block, requirements="W"))  # (read-only blocks: another Numba type)


def predict(est, X):
    """Blockwise ``predict``: a dask array of labels (classifier) or outputs (regressor)."""
    one_column = est._is_classifier() or est.n_outputs_ == 1
    return _blockwise(est, X, "predict", None if one_column else est.n_outputs_)


def predict_proba(est, X):
    """Blockwise ``predict_proba`` (classifier): a dask array (n_samples, n_classes)."""
    return _blockwise(est, X, "predict_proba", len(est.classes_))


def predict_log_proba(est, X):
    return _blockwise(est, X, "predict_log_proba", len(est.classes_))


def score(est, X, y, sample_weight=None):
    """Blockwise ``score``: accuracy (classifier) or R^2 averaged over outputs (regressor), a lazy dask scalar.

    Only per-block sums reach the client when it is computed.
    """
    import dask.array as da

    pred = predict(est, X)
    yd = driver.align("y", y, pred.chunks[0])
    w = (da.ones(pred.shape[0], chunks=pred.chunks[0]) if sample_weight is None
         else driver.align("sample_weight", sample_weight, pred.chunks[0]).astype(np.float64))
    if est._is_classifier():
        truth = yd.ravel() if yd.ndim == 2 else yd
        return (w * (truth == pred)).sum() / w.sum()
    y2 = (yd.reshape(-1, 1) if yd.ndim == 1 else yd).astype(np.float64)
    p2 = pred.reshape(-1, 1) if pred.ndim == 1 else pred
    w2 = w[:, None]
    mean = (w2 * y2).sum(axis=0) / w.sum()
    residual = (w2 * (y2 - p2) ** 2).sum(axis=0)
    total = (w2 * (y2 - mean) ** 2).sum(axis=0)
    # scikit-learn's r2_score (force_finite): a constant target scores 1 if predicted exactly, else 0
    r2 = da.where(total != 0, 1.0 - residual / da.where(total != 0, total, 1.0),
                  da.where(residual == 0, 1.0, 0.0))
    return r2.mean()

