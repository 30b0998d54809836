"""Drop-in scikit-learn estimators: ``fastnn.MLPRegressor`` and ``fastnn.MLPClassifier``.

Change one import and keep everything else::

    from fastnn import MLPClassifier      # instead of sklearn.neural_network

The classes *are* scikit-learn's ``MLPRegressor`` / ``MLPClassifier``
(subclasses), so every constructor parameter, default, fitted attribute,
validation message, label encoding, early-stopping split, learning-rate
schedule, ``warm_start``/``partial_fit`` rule and warning is scikit-learn's
own.  fastnn replaces only the three places where the time goes:

- the batch loop of every stochastic epoch (``sgd``/``adam``): one compiled
  call per epoch (:func:`fastnn.kernels.train.train_epochs` in scikit-learn's
  loss convention), seeing the same batches in the same order;
- the loss and gradient evaluated by L-BFGS (``lbfgs``, through
  ``scipy.optimize`` as in scikit-learn): one compiled forward/backward pass
  (:func:`fastnn.kernels.train.batch_loss_grad`);
- the forward pass of ``predict``/``predict_proba``/``score``.

The epoch loop around the compiled call is scikit-learn 1.9's
``BaseMultilayerPerceptron._fit_stochastic`` (BSD-3-Clause), kept line for
line so that schedules, early stopping, ``t_``, ``n_iter_``,
``loss_curve_`` and ``ConvergenceWarning`` behave identically.

Extra parameter: ``n_threads`` (Numba and BLAS threads during fit and
predict; results do not depend on it).
"""

from __future__ import annotations

import contextlib
import warnings
from numbers import Integral

import numpy as np

try:
    import scipy.sparse as _sparse
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
    from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
    from sklearn.utils import shuffle as _shuffle
    from sklearn.utils._param_validation import Interval
    from sklearn.utils.validation import validate_data
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn installed
    raise ImportError(
        "fastnn.MLPRegressor and fastnn.MLPClassifier need scikit-learn (>= 1.9): "
        'pip install "fastnn-numba[sklearn]"'
    ) from exc

from fastnn import config
from fastnn.model import Dense, _make_layout
from fastnn.kernels import train as _train
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, POISSON
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE

_STOCHASTIC_SOLVERS = ["sgd", "adam"]


class _Network:
    """The flat-parameter view of an MLP: layout, packing to and from ``coefs_``/``intercepts_``."""

    def __init__(self, layer_units, hidden_activation, out_activation):
        n_layers = len(layer_units) - 1
        layers = [Dense(layer_units[i + 1], out_activation if i == n_layers - 1 else hidden_activation)
                  for i in range(n_layers)]
        self.layout, self.n_params = _make_layout(layer_units[0], layers)  # the model API's layout
        self.widths = list(layer_units)

    def pack(self, coefs, intercepts, dtype) -> np.ndarray:
        theta = np.empty(self.n_params, dtype=dtype)
        for l, (w, b) in enumerate(zip(coefs, intercepts)):
            d, k, _, w_off, b_off, _ = self.layout[l]
            theta[w_off:w_off + d * k] = np.asarray(w).ravel()
            theta[b_off:b_off + k] = b
        return theta

    def views(self, theta):
        coefs, intercepts = [], []
        for d, k, _, w_off, b_off, _ in self.layout:
            coefs.append(theta[w_off:w_off + d * k].reshape(d, k))
            intercepts.append(theta[b_off:b_off + k])
        return coefs, intercepts

    def sklearn_order(self) -> np.ndarray:
        """Indices into theta in scikit-learn's packing order (all coefs, then all intercepts)."""
        w_parts = [np.arange(w_off, w_off + d * k) for d, k, _, w_off, _, _ in self.layout]
        b_parts = [np.arange(b_off, b_off + k) for _, k, _, _, b_off, _ in self.layout]
        return np.concatenate(w_parts + b_parts)

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
        return batch * int(np.sum(self.layout[:, 0] * self.layout[:, 1]))


def _check_numeric_targets(y):
    """scikit-learn's regressor fails on non-numeric targets (in its arithmetic); fastnn says so up front."""
    if np.asarray(y).dtype.kind not in "biuf":
        raise TypeError(f"y must be numeric, got dtype {np.asarray(y).dtype}")


def _dense(X, dtype):
    if _sparse.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


class _FastnnMLP:
    """The overrides shared by both estimators (placed before scikit-learn's class in the MRO)."""

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
        with self._threads():
            return super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        layer_units = [self.coefs_[0].shape[0]] + [w.shape[1] for w in self.coefs_]
        net = self._network(layer_units)
        dtype = np.result_type(X.dtype, *[c.dtype for c in self.coefs_], np.float32)
        if dtype not in (np.float32, np.float64):  # longdouble input: the kernels compute in float64
            dtype = np.dtype(np.float64)
        X = _dense(X, dtype)
        theta = net.pack(self.coefs_, self.intercepts_, dtype)
        out = np.empty((X.shape[0], layer_units[-1]), dtype)
        batch = max(1, min(X.shape[0], (1 << 20) // max(1, sum(layer_units[1:]))))
        buf = net.buffers(batch, dtype)
        with self._threads():
            _train.predict_rows.pick(config.use_parallel(net.work(batch), fused=True))(
                X, theta, net.layout, batch, buf["xb"], buf["abuf"], out)
        return out

    # ------------------------------------------------------------------
    # lbfgs: scikit-learn's scipy.optimize call, fastnn's loss and gradient
    # ------------------------------------------------------------------
    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        X = _dense(X, X.dtype)
        self._fastnn_lbfgs = self._lbfgs_context(X, y, sample_weight, layer_units)
        try:
            super()._fit_lbfgs(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units)
        finally:
            del self._fastnn_lbfgs
        # scipy's L-BFGS-B works in float64; keep float32 input float32 (scikit-learn itself returns float64)
        self.coefs_ = [c.astype(X.dtype, copy=False) for c in self.coefs_]
        self.intercepts_ = [b.astype(X.dtype, copy=False) for b in self.intercepts_]

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
        loss, _ = ctx["kernel"](X, ctx["Y"], ctx["sw"], theta, ctx["grad"], net.layout, self._loss_code(),
                                _train.SKLEARN, float(self.alpha), eps, buf["abuf"], buf["dbuf"],
                                buf["dbuf_other"], buf["rowloss"], X.shape[0])
        return loss, ctx["grad"][order]

    # ------------------------------------------------------------------
    # sgd / adam: scikit-learn 1.9's epoch loop, one compiled call per epoch
    # ------------------------------------------------------------------
    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                        layer_units, incremental):
        params = self.coefs_ + self.intercepts_
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(
                    params, self.learning_rate_init, self.learning_rate, self.momentum,
                    self.nesterovs_momentum, self.power_t,
                )
            elif self.solver == "adam":
                self._optimizer = AdamOptimizer(
                    params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon,
                )
            self._fastnn_state = None  # a new optimizer starts from zero velocity / moments

        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # don't stratify in multilabel classification
            should_stratify = self._is_classifier() and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X, y, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify,
                )
                sample_weight_train = sample_weight_val = None
            else:
                (X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val) = train_test_split(
                    X, y, sample_weight, random_state=self._random_state, test_size=self.validation_fraction,
                    stratify=stratify,
                )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
            if self._is_classifier():
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        run_epoch = _EpochRunner(self, X_train, y_train, sample_weight_train, layer_units, batch_size)
        try:
            self.n_iter_ = 0
            for it in range(self.max_iter):
                if self.shuffle:
                    # Only shuffle the sample indices instead of X and y to
                    # reduce the memory footprint. These indices will be used
                    # to slice the X and y.
                    sample_idx = _shuffle(sample_idx, random_state=self._random_state)

                self.loss_ = run_epoch(sample_idx if self.shuffle else None)
                self.n_iter_ += 1

                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                # update no_improvement_count based on training loss or
                # validation score according to early_stopping
                self._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)

                # for learning rate that needs to be updated at iteration end
                self._optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    # not better than last `n_iter_no_change` iterations by tol
                    # stop or decrease learning rate
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )

                    is_stopping = self._optimizer.trigger_stopping(msg, self.verbose)
                    if is_stopping:
                        break
                    else:
                        self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                        "converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            run_epoch.detach()

        if early_stopping:
            # restore best weights
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _is_classifier(self) -> bool:
        return isinstance(self, _SkMLPClassifier)


class _EpochRunner:
    """One stochastic epoch of an estimator as one compiled call; buffers allocated once per fit.

    While it runs, the estimator's ``coefs_``/``intercepts_`` are views into
    the flat parameter array the kernel updates, so scikit-learn's epoch-end
    code (validation scoring, best-weight copies) sees the current weights.
    """

    def __init__(self, est, X, y, sample_weight, layer_units, batch_size):
        dtype = X.dtype
        _check_numeric_targets(y)
        self.est = est
        self.X = _dense(X, dtype)
        self.Y = np.ascontiguousarray(y, dtype=dtype).reshape(self.X.shape[0], -1)
        self.sw = np.empty(0, dtype) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype)
        self.net = est._network(layer_units)
        self.batch = batch_size
        self.theta = self.net.pack(est.coefs_, est.intercepts_, dtype)
        p = self.net.n_params
        state = getattr(est, "_fastnn_state", None)
        if state is None or state[0].shape != (p,) or state[0].dtype != dtype:
            state = [np.zeros(p, dtype), np.zeros(p if est.solver == "adam" else 0, dtype)]
            est._fastnn_state = state
        self.s1, self.s2 = state
        self.grad = np.empty(p, dtype)
        self.buf = self.net.buffers(batch_size, dtype)
        self.empty_x = np.empty((0, self.X.shape[1]), dtype)
        self.empty_y = np.empty((0, self.Y.shape[1]), dtype)
        self.no_params = np.empty(0, dtype)
        self.loss = np.empty(1)
        self.val = np.empty(1)
        self.early = np.array([np.inf, 0.0, -1.0])
        self.eps = dtype.type(np.finfo(dtype).eps)
        self.kernel = _train.train_epochs.pick(config.use_parallel(self.net.work(batch_size), fused=True))
        self.loss_code = est._loss_code()
        est.coefs_, est.intercepts_ = self.net.views(self.theta)

    def __call__(self, sample_idx) -> float:
        est, opt = self.est, self.est._optimizer
        adam = est.solver == "adam"
        hyper = np.array([
            opt.learning_rate_init if adam else opt.learning_rate, 0.0,
            0.0 if adam else est.momentum, 0.0 if adam else float(est.nesterovs_momentum),
            est.beta_1, est.beta_2, est.epsilon, 0.0, 0.0, float(est.alpha),
        ], dtype=np.float64)
        perms = (np.empty((0, self.X.shape[0]), np.int64) if sample_idx is None
                 else np.ascontiguousarray(sample_idx, dtype=np.int64).reshape(1, -1))
        _, _, step = self.kernel(
            self.X, self.Y, self.sw, perms, self.theta, self.grad, self.s1, self.s2, self.no_params,
            self.no_params, self.net.layout, self.loss_code, _train.SKLEARN, ADAM_CODE if adam else MOMENTUM_CODE,
            hyper, self.eps, self.batch, 0, 1, opt.t if adam else 0, -1, self.empty_x, self.empty_y,
            self.buf["xb"], self.buf["yb"], self.buf["swb"], self.buf["abuf"], self.buf["dbuf"],
            self.buf["dbuf_other"], self.buf["rowloss"], self.loss, self.val, self.early,
        )
        if adam:
            opt.t = int(step)
        return float(self.loss[0])

    def detach(self):
        """Give the estimator its own arrays again (not views into the fit's flat buffer)."""
        self.est.coefs_ = [c.copy() for c in self.est.coefs_]
        self.est.intercepts_ = [b.copy() for b in self.est.intercepts_]


_N_THREADS_CONSTRAINT = {"n_threads": [None, Interval(Integral, 1, None, closed="left")]}


class MLPRegressor(_FastnnMLP, _SkMLPRegressor):
    """scikit-learn's ``MLPRegressor``, trained and evaluated by fastnn's compiled kernels.

    Every parameter, attribute and method is scikit-learn's (see
    ``sklearn.neural_network.MLPRegressor``); the extra ``n_threads`` sets the
    Numba and BLAS threads used by ``fit`` and ``predict`` (default: all) and
    does not change results.
    """

    _parameter_constraints: dict = {**_SkMLPRegressor._parameter_constraints, **_N_THREADS_CONSTRAINT}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, loss="squared_error", shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, n_threads=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
        )
        self.n_threads = n_threads


class MLPClassifier(_FastnnMLP, _SkMLPClassifier):
    """scikit-learn's ``MLPClassifier``, trained and evaluated by fastnn's compiled kernels.

    Every parameter, attribute and method is scikit-learn's (see
    ``sklearn.neural_network.MLPClassifier``); the extra ``n_threads`` sets the
    Numba and BLAS threads used by ``fit`` and ``predict`` (default: all) and
    does not change results.
    """

    _parameter_constraints: dict = {**_SkMLPClassifier._parameter_constraints, **_N_THREADS_CONSTRAINT}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
        )
        self.n_threads = n_threads
