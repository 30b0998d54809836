"""Drop-in scikit-learn estimators: ``fastnn.MLPRegressor`` and ``fastnn.MLPClassifier``.

Change one import and keep everything else::

    from fastnn import MLPClassifier      # instead of sklearn.neural_network

The classes subclass scikit-learn's ``MLPRegressor`` / ``MLPClassifier``, so
every constructor parameter, default, fitted attribute, input validation,
label encoding, weight initialisation and the L-BFGS driver are
scikit-learn's own.  fastnn replaces the three places where the time goes:

- the stochastic solvers (``sgd``/``adam``): fastnn's own epoch driver
  (:meth:`_FastnnMLP._fit_stochastic`, written from scikit-learn's documented
  behaviour: validation split, batches, learning-rate schedules, the
  no-improvement rule, early stopping, ``partial_fit``/``warm_start``),
  running each epoch as one compiled call
  (:func:`fastnn.kernels.train.train_epochs` in the SKLEARN loss convention);
  the parity tests pin it to scikit-learn's weights (~1e-16);
- the loss and gradient that ``lbfgs`` evaluates: one compiled
  forward/backward pass (:func:`fastnn.kernels.train.batch_loss_grad`);
- the forward pass of ``predict``/``predict_proba``/``score``.

Private names of scikit-learn this module relies on, and why (the version
range is pinned in ``pyproject.toml``; the tests fail loudly if one moves):

- the methods it overrides, where the work happens: ``_fit`` (to set the
  thread count around the whole fit), ``_fit_stochastic``, ``_fit_lbfgs``,
  ``_loss_grad_lbfgs``, ``_forward_pass_fast``;
- ``_random_state``: the generator scikit-learn's ``_fit`` seeds; the
  validation split and the per-epoch shuffles draw from it, as scikit-learn's do;
- ``_label_binarizer``: decodes the validation labels for scoring (classifier);
- ``_score``: the validation score, NaN when the predictions are not finite;
- ``_no_improvement_count``, ``_best_coefs``, ``_best_intercepts``: state
  that scikit-learn's ``_initialize`` sets up and that lives across
  ``partial_fit``/``warm_start`` calls;
- ``_unpack``, ``_coef_indptr``: keep ``coefs_``/``intercepts_`` in step during L-BFGS;
- ``_optimizer``: the estimator's solver state (here fastnn's :class:`_SolverState`,
  which also holds the momentum/Adam arrays);
- ``sklearn.utils._param_validation.Interval``, ``StrOptions``: the ``n_threads`` and ``scoring``
  constraints (the callback API's private names: :mod:`fastnn._sklearn_callbacks`).

Extra parameter: ``n_threads`` (Numba and BLAS threads during fit and
predict; results do not depend on it); ``MLPClassifier(class_weight=)``
(:mod:`fastnn.class_weight`: folded into ``sample_weight`` in ``_fit``).
"""

from __future__ import annotations

import contextlib
import warnings
from numbers import Integral

import numpy as np

try:
    import scipy.sparse as _sparse
    from sklearn.callback import CallbackSupportMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import get_scorer_names
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
    from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import _check_partial_fit_first_call
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn installed
    raise ImportError(
        "fastnn.MLPRegressor and fastnn.MLPClassifier need scikit-learn (>= 1.9): "
        'pip install "fastnn-numba[sklearn]"'
    ) from exc

from fastnn import _sklearn_callbacks, _sklearn_predict, config, contract, inference
from fastnn import class_weight as _class_weight
from fastnn.activations import activation_code
from fastnn.kernels import train as _train
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, POISSON
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE


class _Network:
    """The flat-parameter view of an MLP: layout, packing to and from ``coefs_``/``intercepts_``."""

    def __init__(self, layer_units, hidden_activation, out_activation):
        n_layers = len(layer_units) - 1
        codes = [activation_code(out_activation if i == n_layers - 1 else hidden_activation) for i in range(n_layers)]
        self.layout, self.n_params = contract.make_layout(layer_units[0], layer_units[1:], codes)
        self.widths = list(layer_units)

    def pack(self, coefs, intercepts, dtype) -> np.ndarray:
        """``coefs_`` and ``intercepts_`` copied into one flat ``theta`` of ``dtype``."""
        theta = np.empty(self.n_params, dtype=dtype)
        for l in range(self.layout.shape[0]):
            w, b = contract.layer_views(theta, self.layout, l)
            w[...] = np.asarray(coefs[l]).reshape(w.shape)
            b[...] = intercepts[l]
        return theta

    def views(self, theta):
        """``coefs_`` and ``intercepts_`` as views into ``theta``."""
        pairs = [contract.layer_views(theta, self.layout, l) for l in range(self.layout.shape[0])]
        return [w for w, _ in pairs], [b for _, b in pairs]

    def sklearn_order(self) -> np.ndarray:
        """Indices into theta in scikit-learn's packing order (all coefs, then all intercepts)."""
        index = np.arange(self.n_params)
        pairs = [contract.layer_views(index, self.layout, l) for l in range(self.layout.shape[0])]
        return np.concatenate([w.ravel() for w, _ in pairs] + [b for _, b in pairs])

    def buffers(self, batch, dtype) -> dict:
        return {
            "xb": np.empty(batch * self.widths[0], dtype),
            "yb": np.empty(batch * self.widths[-1], dtype),
            "swb": np.empty(batch, dtype),
            "abuf": np.empty(batch * sum(self.widths[1:]), dtype),
            "dbuf": np.empty(batch * max(self.widths), dtype),
            "dbuf_other": np.empty(batch * max(self.widths), dtype),
            "rowloss": np.empty(batch, np.float64),
        }

    def work(self, batch) -> int:
        return batch * contract.madds_per_row(self.layout)


def _permuted(order: np.ndarray, random_state) -> np.ndarray:
    """``order`` permuted as ``sklearn.utils.shuffle(order, random_state=random_state)`` permutes it.

    The same draw (``random_state.shuffle`` of ``arange(n)``, then indexing),
    without ``shuffle``'s parameter validation and container checks, which
    cost ~230 us per epoch (measured on 1,000 rows: a third of a small fit).
    """
    indices = np.arange(order.shape[0])
    random_state.shuffle(indices)
    return order[indices]


def _check_numeric_targets(y):
    """scikit-learn's regressor fails on non-numeric targets (in its arithmetic); fastnn says so up front."""
    if np.asarray(y).dtype.kind not in "biuf":
        raise TypeError(f"y must be numeric, got dtype {np.asarray(y).dtype}")


def _is_dask(data) -> bool:
    """True for a dask collection (array, dataframe, series), checked without importing dask."""
    return hasattr(type(data), "__dask_graph__")


def _dense(X, dtype):
    if _sparse.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


class _FastnnMLP:
    """The overrides shared by both estimators (placed before scikit-learn's class in the MRO)."""

    def __getstate__(self):
        # Without early stopping, _best_coefs/_best_intercepts are copies of the initial weights that nothing
        # reads: the pickle (shipped to a worker and back for every block by dask-ml's Incremental) leaves them
        # out, and __setstate__ puts copies of the weights back, so an unpickled estimator behaves the same.
        state = super().__getstate__()
        state.pop("_fastnn_packed", None)  # predict's flat copy of the weights: _share_weights rebuilds it
        if not state.get("early_stopping", False):
            state.pop("_best_coefs", None)
            state.pop("_best_intercepts", None)
        return state

    def __sizeof__(self) -> int:
        # Dask's scheduler sizes a task's result with sys.getsizeof, which by default counts the object header
        # only (56 bytes): dask-ml's Incremental then moved the fitted estimator (MBs) to each data block
        # instead of running the next partial_fit where the estimator already was. Count its arrays.
        arrays = [*getattr(self, "coefs_", ()), *getattr(self, "intercepts_", ())]
        if self.__dict__.get("early_stopping"):
            arrays += [*getattr(self, "_best_coefs", ()), *getattr(self, "_best_intercepts", ())]
        solver = getattr(self, "_optimizer", None)
        arrays += [a for a in (getattr(solver, "s1", None), getattr(solver, "s2", None)) if a is not None]
        return object.__sizeof__(self) + sum(int(getattr(a, "nbytes", 0)) for a in arrays)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coefs_" in self.__dict__ and "_best_coefs" not in self.__dict__:
            self._best_coefs = [c.copy() for c in self.coefs_]
            self._best_intercepts = [b.copy() for b in self.intercepts_]
        self._share_weights()

    def _share_weights(self) -> None:
        """Make ``coefs_``/``intercepts_`` views into one flat array predict reads as is (:mod:`fastnn._sklearn_predict`)."""
        shared = _sklearn_predict.shared_weights(getattr(self, "coefs_", None), getattr(self, "intercepts_", None))
        if shared is not None:
            self.coefs_, self.intercepts_, self._fastnn_packed = shared

    # ------------------------------------------------------------------
    # the state a fit on dask input (fastnn.cluster.estimators) sets, as scikit-learn's _fit would
    # ------------------------------------------------------------------
    def _reset_random_state(self):
        """The generator a fit draws from (initial weights, shuffles), seeded from ``random_state`` as ``_fit`` does."""
        self._random_state = check_random_state(self.random_state)
        return self._random_state

    def _fit_label_binarizer(self, classes) -> None:
        """Encode the labels ``classes`` (all of them, from the whole data) as ``_validate_input`` would."""
        self._label_binarizer = LabelBinarizer().fit(classes)
        self.classes_ = self._label_binarizer.classes_

    def _solver_state(self, incremental: bool) -> "_SolverState":
        """The stochastic solver's state: kept by ``partial_fit``, new for every other fit."""
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _SolverState(self)
        return self._optimizer

    def _fit_lbfgs_with(self, loss_grad, layer_units) -> None:
        """scikit-learn's L-BFGS driver with ``loss_grad(packed) -> (loss, packed gradient)`` as its function."""
        self._fastnn_lbfgs = {"loss_grad": loss_grad}
        try:
            super()._fit_lbfgs(None, None, None, None, None, None, None, layer_units)
        finally:
            del self._fastnn_lbfgs

    def _index_lbfgs_parameters(self, layer_units) -> None:
        """Record where each layer's weights and bias sit in the packed vector, as scikit-learn's ``_fit_lbfgs`` does.

        (``_coef_indptr``/``_intercept_indptr``, which ``_unpack`` reads; used by
        the L-BFGS fit with callbacks, :func:`fastnn._sklearn_callbacks.fit_lbfgs`.)
        """
        self._coef_indptr, self._intercept_indptr = [], []
        start = 0
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            self._coef_indptr.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
            start += fan_in * fan_out
        for fan_out in layer_units[1:]:
            self._intercept_indptr.append((start, start + fan_out))
            start += fan_out

    def _threads(self):
        return config.threads(self.n_threads) if self.n_threads is not None else contextlib.nullcontext()

    def _network(self, layer_units) -> _Network:
        return _Network(layer_units, self.activation, self.out_activation_)

    def _loss_code(self) -> int:
        if self.out_activation_ == "softmax":
            return CATEGORICAL_CROSSENTROPY
        if self.out_activation_ == "logistic":
            return BINARY_CROSSENTROPY
        return POISSON if self.out_activation_ == "exp" else MSE

    def _fit(self, X, y, sample_weight=None, incremental=False):
        if _is_dask(X) or _is_dask(y):  # data-parallel on the current Dask cluster
            from fastnn.cluster import estimators

            if self.__dict__.get("_skl_callbacks"):
                raise ValueError("callbacks (set_callbacks) are not supported on dask input; "
                                 "call set_callbacks() with no argument to remove them")
            result = estimators.fit(self, X, y, sample_weight=sample_weight, incremental=incremental)
            self._share_weights()
            return result
        if getattr(self, "class_weight", None) is not None:  # the classifier's class weights: sample weights
            sample_weight = _class_weight.estimator_sample_weight(self, y, sample_weight, incremental)
        with self._threads():
            result = super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)
        self._share_weights()  # predict then reads the weights without packing them
        return result

    def predict(self, X):
        if _is_dask(X):  # blockwise on the workers: a dask array
            from fastnn.cluster import estimators

            return estimators.predict(self, X)
        _sklearn_predict.require_fitted(self)
        return self._predict(X)

    def score(self, X, y, sample_weight=None):
        if _is_dask(X):  # blockwise on the workers: a lazy dask scalar
            from fastnn.cluster import estimators

            return estimators.score(self, X, y, sample_weight=sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = _sklearn_predict.checked_input(self, X)
        dtype = _sklearn_predict.compute_dtype(X, self.coefs_)
        X = _dense(X, dtype)
        theta, how = _sklearn_predict.packed_network(self, dtype)
        with self._threads():
            return inference.forward(X, theta, how)

    # ------------------------------------------------------------------
    # lbfgs: scikit-learn's scipy.optimize call, fastnn's loss and gradient
    # ------------------------------------------------------------------
    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        X = _dense(X, X.dtype)
        # sklearn.callback tasks (None without callbacks): one per L-BFGS iteration, and one left open at the end
        tasks = _sklearn_callbacks.start_tasks(self, X, y, sample_weight, self.max_iter + 1, "iteration")
        self._fastnn_lbfgs = self._lbfgs_context(X, y, sample_weight, layer_units)
        try:
            if tasks is None:
                super()._fit_lbfgs(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units)
            else:  # the same minimize call, with a callback per iteration
                _sklearn_callbacks.fit_lbfgs(self, tasks, X, y, sample_weight,
                                             (activations, deltas, coef_grads, intercept_grads), layer_units)
        finally:
            del self._fastnn_lbfgs
        # scipy's L-BFGS-B works in float64; keep float32 input float32 (scikit-learn itself returns float64)
        self.coefs_ = [c.astype(X.dtype, copy=False) for c in self.coefs_]
        self.intercepts_ = [b.astype(X.dtype, copy=False) for b in self.intercepts_]
        if tasks is not None:
            tasks.finish()

    def _lbfgs_context(self, X, y, sample_weight, layer_units) -> dict:
        """Everything one loss/gradient evaluation needs, allocated once per fit."""
        dtype = X.dtype
        _check_numeric_targets(y)
        net = self._network(layer_units)
        return {
            "net": net,
            "order": net.sklearn_order(),
            "Y": np.ascontiguousarray(y, dtype=dtype).reshape(X.shape[0], -1),
            "sw": (np.empty(0, dtype) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype)),
            "grad": np.empty(net.n_params, dtype),
            "buf": net.buffers(X.shape[0], dtype),
            "kernel": _train.batch_loss_grad.pick(config.use_parallel(net.work(X.shape[0]), fused=True)),
        }

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
                         intercept_grads):
        ctx = getattr(self, "_fastnn_lbfgs", None)
        if ctx is not None and "loss_grad" in ctx:  # a fit on dask input: summed over the cluster's shards
            return ctx["loss_grad"](packed_coef_inter)
        if ctx is None:  # called outside fit (scikit-learn's own gradient test does this)
            X = _dense(X, X.dtype)
            layer_units = [self.coefs_[0].shape[0]] + [w.shape[1] for w in self.coefs_]
            ctx = self._lbfgs_context(X, y, sample_weight, layer_units)
        net, order, buf = ctx["net"], ctx["order"], ctx["buf"]
        theta = np.empty(net.n_params, dtype=X.dtype)
        theta[order] = packed_coef_inter
        if hasattr(self, "_coef_indptr"):
            self._unpack(packed_coef_inter)  # keep coefs_/intercepts_ in step, as scikit-learn does
        eps = X.dtype.type(np.finfo(X.dtype).eps)
        loss, _ = ctx["kernel"](*contract.LossGradArgs(
            x=X, y=ctx["Y"], sw=ctx["sw"], theta=theta, grad=ctx["grad"], layout=net.layout,
            loss_code=self._loss_code(), convention=contract.SKLEARN, alpha=float(self.alpha), eps=eps,
            abuf=buf["abuf"], dbuf=buf["dbuf"], dbuf_other=buf["dbuf_other"], rowloss=buf["rowloss"],
            batch_size=X.shape[0]))
        return loss, ctx["grad"][order]

    # ------------------------------------------------------------------
    # sgd / adam: fastnn's epoch driver, one compiled call per epoch
    # ------------------------------------------------------------------
    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                        layer_units, incremental):
        """Train with ``sgd`` or ``adam``: up to ``max_iter`` epochs (one for ``partial_fit``).

        What each epoch does, in order (scikit-learn's documented behaviour):
        reshuffle the row order (``shuffle=True``, from ``random_state``); run
        the batches; record ``loss_``, ``n_iter_``, ``t_`` (samples seen) and
        ``loss_curve_``; update the no-improvement count from the training
        loss, or from the validation score with ``early_stopping``; let the
        learning-rate schedule see the epoch end; after more than
        ``n_iter_no_change`` epochs without improvement, stop (or, with
        ``learning_rate="adaptive"``, divide the learning rate by 5 and go on).
        """
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _SolverState(self)  # a new fit restarts the schedule, momentum and moments
        (X_train, y_train, sw_train), validation = self._validation_split(X, y, sample_weight)
        n_samples = X_train.shape[0]
        batch_size = self._batch_rows(n_samples)

        run_epoch = _EpochRunner(self, X_train, y_train, sw_train, layer_units, batch_size)
        # sklearn.callback tasks (None without callbacks): one per epoch, ended after its bookkeeping
        tasks = _sklearn_callbacks.start_tasks(self, X, y, sample_weight, 1 if incremental else self.max_iter)
        order = np.arange(n_samples)
        self.n_iter_ = 0
        try:
            for _ in range(1 if incremental else self.max_iter):
                if tasks is not None:
                    tasks.epoch_begin()
                if self.shuffle:  # a permutation of the previous order, drawn from the estimator's generator
                    order = _permuted(order, self._random_state)
                self._end_epoch(run_epoch(order if self.shuffle else None), n_samples, validation)
                if tasks is not None and tasks.epoch_end():  # a callback stops the fit after this epoch
                    break
                if self._no_improvement_count > self.n_iter_no_change and self._on_plateau(validation):
                    break
                if not incremental and self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                                  "optimization hasn't converged yet.", ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            run_epoch.detach()
        if self.early_stopping:  # the weights of the best validation score
            self.coefs_, self.intercepts_ = self._best_coefs, self._best_intercepts
        if tasks is not None:
            tasks.finish()

    def _batch_rows(self, n_samples: int) -> int:
        """Rows per batch for ``n_samples`` rows: ``"auto"`` is min(200, n); others are clipped to 1..n, with a warning."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if not 1 <= self.batch_size <= n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(min(max(self.batch_size, 1), n_samples))

    def _validation_split(self, X, y, sample_weight):
        """``((X, y, sw) to train on, (X, y, sw, score) to score or None)``.

        With ``early_stopping``, ``validation_fraction`` of the rows is held
        out (stratified for single-output classification), the labels of a
        classifier decoded back for scoring; ``score(est, X, y, sw)`` is the
        validation score chosen by ``scoring``.
        """
        if not self.early_stopping:
            return (X, y, sample_weight), None
        stratify = y if self._is_classifier() and self.n_outputs_ == 1 else None
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(*arrays, random_state=self._random_state, test_size=self.validation_fraction,
                                 stratify=stratify)
        X_train, X_val, y_train, y_val = parts[:4]
        sw_train, sw_val = parts[4:] if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        score = _sklearn_callbacks.validation_scorer(self, y_val)  # (per `scoring`; y_val as the solver sees it)
        if self._is_classifier():
            y_val = self._label_binarizer.inverse_transform(y_val)
        return (X_train, y_train, sw_train), (X_val, y_val, sw_val, score)

    def _end_epoch(self, loss: float, n_samples: int, validation) -> None:
        """Record a finished epoch and update the no-improvement count (and the best weights)."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += n_samples
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        if validation is None:  # improvement: the training loss falls by more than tol
            improved = not loss > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        else:  # improvement: the score is not below the best by tol or more (a NaN score counts, never best)
            score = validation[3](self, *validation[:3])  # the `scoring` of the model after this epoch
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            improved = not score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        self._optimizer.end_epoch(self.t_)

    def _on_plateau(self, validation) -> bool:
        """No improvement for too long: True to stop, False when the learning rate was lowered instead."""
        what = "Training loss did not improve" if validation is None else "Validation score did not improve"
        message = f"{what} more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        if self._optimizer.plateau(message, self.verbose):
            return True
        self._no_improvement_count = 0
        return False

    def _is_classifier(self) -> bool:
        return isinstance(self, _SkMLPClassifier)


class _SolverState:
    """The state of a stochastic solver between epochs and ``partial_fit`` calls (``est._optimizer``).

    - ``learning_rate``: the current rate of ``sgd`` (``learning_rate_init`` at
      first); ``"invscaling"`` sets it to ``learning_rate_init / (t + 1) **
      power_t`` after each epoch, ``t`` being the samples seen;
      ``"adaptive"`` divides it by 5 on a plateau, and stops once it is at
      most 1e-6; ``"constant"`` and ``adam`` stop on the first plateau;
    - ``t``: ``adam``'s step count (batches), for its bias correction;
    - ``s1``, ``s2``: the momentum velocity, or Adam's two moments, as flat
      arrays laid out like the network's ``theta`` (allocated by the first epoch).
    """

    def __init__(self, est):
        self.solver = est.solver
        self.schedule = est.learning_rate if est.solver == "sgd" else "constant"
        self.learning_rate_init = est.learning_rate_init
        self.learning_rate = float(est.learning_rate_init)
        self.power_t = est.power_t
        self.t = 0
        self.s1 = self.s2 = None

    def arrays(self, n_params: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """``(s1, s2)`` for ``n_params`` parameters of ``dtype``: zeros the first time (or after a change)."""
        if self.s1 is None or self.s1.shape != (n_params,) or self.s1.dtype != dtype:
            self.s1 = np.zeros(n_params, dtype)
            self.s2 = np.zeros(n_params if self.solver == "adam" else 0, dtype)
        return self.s1, self.s2

    def end_epoch(self, samples_seen: int) -> None:
        if self.schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (samples_seen + 1) ** self.power_t

    def plateau(self, message: str, verbose: bool) -> bool:
        """True to stop training; ``"adaptive"`` lowers the learning rate instead while it can."""
        if self.schedule == "adaptive" and self.learning_rate > 1e-6:
            self.learning_rate /= 5.0
            if verbose:
                print(f"{message} Setting learning rate to {self.learning_rate:f}")
            return False
        if verbose:
            print(message + (" Learning rate too small. Stopping." if self.schedule == "adaptive" else " Stopping."))
        return True


class _EpochRunner:
    """One stochastic epoch of an estimator as one compiled call; buffers allocated once per fit.

    While it runs, the estimator's ``coefs_``/``intercepts_`` are views into
    the flat parameter array the kernel updates, so the epoch-end scoring and
    best-weight copies see the current weights.
    """

    def __init__(self, est, X, y, sample_weight, layer_units, batch_size):
        dtype = X.dtype
        _check_numeric_targets(y)
        self.est = est
        X = _dense(X, dtype)
        Y = np.ascontiguousarray(y, dtype=dtype).reshape(X.shape[0], -1)
        sw = np.empty(0, dtype) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype)
        net = est._network(layer_units)
        theta = net.pack(est.coefs_, est.intercepts_, dtype)
        s1, s2 = est._optimizer.arrays(net.n_params, dtype)
        buf = net.buffers(batch_size, dtype)
        no_params = np.empty(0, dtype)
        adam = est.solver == "adam"
        # the learning rate (sgd schedules) and the row order change between epochs: written in place
        self.hyper = contract.hyper_vector(
            lr=est.learning_rate_init, momentum=0.0 if adam else est.momentum,
            nesterov=False if adam else est.nesterovs_momentum, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon,
            alpha=float(est.alpha),
        )
        self.order = np.empty((1, X.shape[0]), np.int64)
        self.loss = np.empty(1)
        self.state = contract.new_loop_state()
        fit_args = contract.FitArgs(
            X=X, Y=Y, sw=sw, Xv=np.empty((0, X.shape[1]), dtype), Yv=np.empty((0, Y.shape[1]), dtype),
            theta=theta, layout=net.layout, opt_code=ADAM_CODE if adam else MOMENTUM_CODE,
            hyper=self.hyper, s1=s1, s2=s2, loss_code=est._loss_code(), convention=contract.SKLEARN,
            eps=dtype.type(np.finfo(dtype).eps), batch_size=batch_size, patience=-1,
            grad=np.empty(contract.row_blocks(batch_size, net.layout) * net.n_params, dtype),
            snapshot=no_params, best=no_params, xb=buf["xb"], yb=buf["yb"], swb=buf["swb"], abuf=buf["abuf"],
            dbuf=buf["dbuf"], dbuf_other=buf["dbuf_other"], rowloss=buf["rowloss"],
        )
        self.args = {  # shuffled (the order written into self.order) and in order: one tuple each
            shuffled: (*fit_args, *contract.ChunkArgs(
                perms=self.order if shuffled else self.order[:0], losses=self.loss, val_losses=self.loss,
                state=self.state))
            for shuffled in (True, False)
        }
        self.kernel = _train.train_epochs.pick(config.use_parallel(net.work(batch_size), fused=True))
        self.blas_threads_matter = net.work(batch_size) >= config.BLAS_THREADING_MIN_MADDS
        est.coefs_, est.intercepts_ = net.views(theta)

    def __call__(self, order) -> float:
        """Run one epoch over the rows in ``order`` (None: 0..n-1); returns the epoch's loss."""
        est, solver = self.est, self.est._optimizer
        adam = est.solver == "adam"
        self.hyper[contract.H_LR] = solver.learning_rate_init if adam else solver.learning_rate
        if order is not None:
            self.order[0] = order
        self.state[contract.S_N_EPOCHS] = 1
        self.state[contract.S_STEP0] = solver.t if adam else 0
        with config.blas_single_threaded(self.blas_threads_matter):  # the loop's own threads run its row blocks
            _, _, step = self.kernel(*self.args[order is not None])
        if adam:
            solver.t = int(step)
        return float(self.loss[0])

    def detach(self):
        """Give the estimator its own arrays again (not views into the fit's flat buffer)."""
        self.est.coefs_ = [c.copy() for c in self.est.coefs_]
        self.est.intercepts_ = [b.copy() for b in self.est.intercepts_]


_N_THREADS_CONSTRAINT = {"n_threads": [None, Interval(Integral, 1, None, closed="left")],
                         "sync_every": [Interval(Integral, 1, None, closed="left")],
                         # early stopping's score: a scorer name, "loss" or a callable (None: accuracy / R^2)
                         "scoring": [StrOptions({*get_scorer_names(), "loss"}), callable, None]}


class MLPRegressor(_FastnnMLP, CallbackSupportMixin, _SkMLPRegressor):
    """scikit-learn's ``MLPRegressor``, trained and evaluated by fastnn's compiled kernels.

    Every parameter, attribute and method is scikit-learn's (see
    ``sklearn.neural_network.MLPRegressor``); the extra ``n_threads`` sets the
    Numba and BLAS threads used by ``fit`` and ``predict`` (default: all) and
    does not change results; ``scoring`` chooses early stopping's validation
    score (None: the default score; a scorer name or callable; ``"loss"``: the
    negated validation loss); ``set_callbacks`` takes scikit-learn's
    callbacks (``sklearn.callback``), which see every epoch of ``sgd``/``adam``
    and every iteration of ``lbfgs``.
    """

    _parameter_constraints: dict = {**_SkMLPRegressor._parameter_constraints, **_N_THREADS_CONSTRAINT}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, loss="squared_error", shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, n_threads=None, sync_every=1, scoring=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
        )
        self.n_threads = n_threads
        self.sync_every = sync_every
        self.scoring = scoring


class MLPClassifier(_FastnnMLP, CallbackSupportMixin, _SkMLPClassifier):
    """scikit-learn's ``MLPClassifier``, trained and evaluated by fastnn's compiled kernels.

    Every parameter, attribute and method is scikit-learn's (see
    ``sklearn.neural_network.MLPClassifier``); the extra ``n_threads`` sets the
    Numba and BLAS threads used by ``fit`` and ``predict`` (default: all) and
    does not change results; ``scoring`` chooses early stopping's validation
    score (None: the default score; a scorer name or callable; ``"loss"``: the
    negated validation loss); ``set_callbacks`` takes scikit-learn's
    callbacks (``sklearn.callback``), which see every epoch of ``sgd``/``adam``
    and every iteration of ``lbfgs``.

    ``class_weight`` (None, ``"balanced"``, a dict ``{label: weight}``, or for
    multilabel ``y`` a list of one dict per column) multiplies into the sample
    weights as in scikit-learn's other classifiers (``compute_sample_weight``),
    validation score included; ``partial_fit`` refuses ``"balanced"``.  See
    :mod:`fastnn.class_weight`.
    """

    _parameter_constraints: dict = {**_SkMLPClassifier._parameter_constraints, **_N_THREADS_CONSTRAINT,
                                    "class_weight": [None, _class_weight.balanced_option(), dict, list]}

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """scikit-learn's ``partial_fit``; on dask input, one distributed epoch (``classes`` from the first call).

        ``class_weight="balanced"`` raises a ValueError (the class frequencies
        need all of ``y``), as in scikit-learn's ``SGDClassifier``; a dict works.
        """
        # checked before the first call sets classes_: a refused class_weight leaves the estimator unchanged
        _class_weight.check_estimator_class_weight(
            self, None if _is_dask(y) else y, classes if getattr(self, "classes_", None) is None else None)
        if not (_is_dask(X) or _is_dask(y)):
            return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes)
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):  # (1-D labels: dask input has no multilabel targets)
            self._label_binarizer = LabelBinarizer().fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        if _is_dask(X):  # blockwise on the workers: a dask array (n_samples, n_classes)
            from fastnn.cluster import estimators

            return estimators.predict_proba(self, X)
        _sklearn_predict.require_fitted(self)
        scores = self._forward_pass_fast(X)
        if scores.shape[1] == 1:  # binary: one output unit, P(classes_[1])
            return np.column_stack((1 - scores[:, 0], scores[:, 0]))
        return scores

    def _predict(self, X, check_input=True):
        return _sklearn_predict.decode_labels(self, self._forward_pass_fast(X, check_input=check_input))

    def predict_log_proba(self, X):
        if _is_dask(X):
            from fastnn.cluster import estimators

            return estimators.predict_log_proba(self, X)
        return super().predict_log_proba(X)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None,
                 sync_every=1, scoring=None, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
        )
        self.n_threads = n_threads
        self.sync_every = sync_every
        self.scoring = scoring
        self.class_weight = class_weight
