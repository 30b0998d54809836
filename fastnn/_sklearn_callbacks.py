"""scikit-learn's callback API and early stopping on a chosen scorer, for ``fastnn.MLPClassifier``/``MLPRegressor``.

Two jobs, both called from :mod:`fastnn.sklearn`:

- :class:`FitTasks` reports a fit to the callbacks set with
  ``est.set_callbacks(...)`` (``sklearn.callback``, scikit-learn >= 1.9): the
  fit is the root task; with ``sgd``/``adam`` every epoch is a subtask (one
  for ``partial_fit``), ended after the epoch's bookkeeping, so the callbacks
  see the estimator after that epoch and a callback's ``on_fit_task_end``
  returning True stops the fit there.  With ``lbfgs`` every L-BFGS iteration
  is a subtask (:func:`fit_lbfgs`: scikit-learn's ``scipy.optimize.minimize``
  call with a ``callback``).  The estimators already run one compiled call
  per epoch, so the callbacks cost nothing when none are set (no context is
  even made then, and ``lbfgs`` runs scikit-learn's own driver).
- :func:`validation_scorer`: the ``scoring`` parameter of early stopping,
  scikit-learn's ``HistGradientBoosting`` naming: None (the estimator's own
  ``score``: accuracy or R^2), a scorer name or callable
  (``sklearn.metrics.check_scoring``), or ``"loss"``, the negated validation
  loss (the training loss's data term, without the L2 penalty).

What a callback receives at a task's end: ``X`` and ``y`` as passed to
``fit`` (validated; a classifier's labels, not their one-hot encoding),
``metadata={"sample_weight": ...}`` when weights were given, and, when its
hook asks for it, ``fitted_estimator``: a copy of the estimator whose
``coefs_``/``intercepts_`` (and ``n_iter_``, ``loss_``, ``t_``,
``loss_curve_``, ``validation_scores_``) are copies taken at that point, so
it keeps predicting as the model after that epoch did while the fit goes on.

Private names of scikit-learn used here, and why: ``_init_callback_context``
(the ``CallbackSupportMixin`` method an estimator calls to start its callback
tree, as scikit-learn's own estimators do); ``_skl_callbacks`` and
``_parent_callback_ctx`` (whether there is anything to report: without them
no context is made); the estimator's ``_score`` (the default validation score),
``_forward_pass_fast`` (the outputs ``"loss"`` compares) and
``_label_binarizer`` (the labels given back to the callbacks); for ``lbfgs``
with callbacks, the estimator's ``_loss_grad_lbfgs`` and ``_unpack`` (after
``_index_lbfgs_parameters`` has recorded the packing as scikit-learn's
``_fit_lbfgs`` does), and ``sklearn.utils.optimize._check_optimize_result`` and
``sklearn.utils.fixes._get_additional_lbfgs_options_dict`` (the same warning
and scipy options as scikit-learn's own call).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from scipy.special import xlogy
from sklearn.metrics import check_scoring
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.optimize import _check_optimize_result


def has_callbacks(est) -> bool:
    """True when ``est`` has callbacks or belongs to a meta-estimator's callback tree."""
    return bool(est.__dict__.get("_skl_callbacks")) or "_parent_callback_ctx" in est.__dict__


class FitTasks:
    """The callback tasks of one fit: a root task, and one subtask per epoch.

    Parameters
    ----------
    est : MLPClassifier or MLPRegressor
        The estimator being fitted (its ``_init_callback_context`` sets up
        the callbacks; scikit-learn's ``_fit_context`` tears them down).
    X : array or sparse matrix, shape (n_samples, n_features)
        The validated training data.
    y : array, shape (n_samples, n_outputs)
        The targets as the solver sees them (a classifier's one-hot encoding:
        decoded once, on first use, for the callbacks).
    sample_weight : array of shape (n_samples,) or None
    max_subtasks : int
        Epochs (or iterations) the fit may run.
    task_name : str
        The subtasks' name: ``"epoch"``, or ``"iteration"`` for ``lbfgs``.
    """

    def __init__(self, est, X, y, sample_weight, max_subtasks: int, task_name: str = "epoch"):
        self.est = est
        self.X = X
        self._y_solver = y
        self._y = None
        self.metadata = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.task_name = task_name
        self.root = est._init_callback_context(max_subtasks=max_subtasks)
        self.root.call_on_fit_task_begin(estimator=est, X=X, y=self.y, metadata=self.metadata)
        self._epoch = None

    def y(self):
        """The targets in the form ``fit`` was given them (labels for a classifier), made once."""
        if self._y is None:
            y = self._y_solver
            binarizer = self.est.__dict__.get("_label_binarizer")
            if binarizer is not None:
                y = binarizer.inverse_transform(y)
            elif y.ndim == 2 and y.shape[1] == 1:
                y = y.ravel()
            self._y = y
        return self._y

    def snapshot(self) -> dict:
        """The fitted attributes of the estimator now, copied (the fit keeps changing its own)."""
        est = self.est
        attributes = {"coefs_": [c.copy() for c in est.coefs_], "intercepts_": [b.copy() for b in est.intercepts_]}
        for name in ("n_iter_", "loss_", "t_"):
            if name in est.__dict__:
                attributes[name] = est.__dict__[name]
        for name in ("loss_curve_", "validation_scores_"):
            if est.__dict__.get(name) is not None:
                attributes[name] = list(est.__dict__[name])
        return attributes

    def epoch_begin(self) -> None:
        """Open the next epoch's task."""
        self._epoch = self.root.subcontext(task_name=self.task_name)
        self._epoch.call_on_fit_task_begin(estimator=self.est, X=self.X, y=self.y, metadata=self.metadata,
                                           reconstruction_attributes=self.snapshot)

    def epoch_end(self) -> bool:
        """Close the epoch's task (the estimator holds the model after it); True when a callback asks to stop."""
        epoch, self._epoch = self._epoch, None
        return epoch.call_on_fit_task_end(estimator=self.est, X=self.X, y=self.y, metadata=self.metadata,
                                          reconstruction_attributes=self.snapshot)

    def finish(self) -> None:
        """Close the root task with the fitted estimator (after early stopping's best weights are back)."""
        if self._epoch is not None:  # an epoch that did not finish (Ctrl-C): closed as an empty task
            self._epoch.call_on_fit_task_end(estimator=self.est)
            self._epoch = None
        self.root.call_on_fit_task_end(estimator=self.est, X=self.X, y=self.y, metadata=self.metadata,
                                       reconstruction_attributes={})


def start_tasks(est, X, y, sample_weight, max_subtasks: int, task_name: str = "epoch") -> FitTasks | None:
    """:class:`FitTasks` for this fit, or None when the estimator has no callbacks (nothing is made)."""
    if not has_callbacks(est):
        return None
    return FitTasks(est, X, y, sample_weight, max_subtasks, task_name)


def fit_lbfgs(est, tasks: FitTasks, X, y, sample_weight, extra_args: tuple, layer_units) -> None:
    """scikit-learn's L-BFGS fit, with a callback task per iteration; sets ``n_iter_``, ``loss_``, the weights.

    The same ``scipy.optimize.minimize`` call as scikit-learn's
    ``_fit_lbfgs`` (function, start, options), plus a ``callback`` that ends
    the iteration's task with the estimator holding that iterate (and
    ``n_iter_``/``loss_`` of it), then opens the next one; a callback
    asking to stop ends the minimisation there (``StopIteration``, no
    ``ConvergenceWarning``).  Without a stop, the result is scikit-learn's.
    ``extra_args``: the arguments after ``(X, y, sample_weight)`` of
    ``_loss_grad_lbfgs``.
    """
    est._index_lbfgs_parameters(layer_units)
    x0 = np.hstack([a.ravel() for a in [*est.coefs_, *est.intercepts_]])
    iprint = 1 if est.verbose is True or est.verbose >= 1 else -1
    iterations, stopped_at = [0], []  # iterations done; the iterate a callback stopped on

    def callback(intermediate_result):
        x = np.array(intermediate_result.x, copy=True)  # (scipy may reuse its array)
        est._unpack(x)  # the estimator the callbacks see: this iterate
        iterations[0] += 1
        est.n_iter_, est.loss_ = iterations[0], float(intermediate_result.fun)
        if tasks.epoch_end():
            stopped_at.append(x)
            raise StopIteration
        tasks.epoch_begin()

    tasks.epoch_begin()
    result = scipy.optimize.minimize(
        est._loss_grad_lbfgs, x0, method="L-BFGS-B", jac=True,
        options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol,
                 **_get_additional_lbfgs_options_dict("iprint", iprint)},
        args=(X, y, sample_weight, *extra_args), callback=callback)
    if stopped_at:
        est.n_iter_ = int(result.nit)
        est.loss_ = float(result.fun)
        est._unpack(stopped_at[0])
        return
    est.n_iter_ = _check_optimize_result("lbfgs", result, est.max_iter)
    est.loss_ = result.fun
    est._unpack(result.x)


# ----------------------------------------------------------------------
# early stopping on a chosen scorer
# ----------------------------------------------------------------------
def validation_scorer(est, y_val_solver):
    """``score(est, X_val, y_val, sw_val) -> float`` for early stopping, per ``est.scoring`` (higher is better).

    ``y_val_solver``: the validation targets as the solver sees them (one-hot
    for a classifier), which the ``"loss"`` score compares the outputs with.
    None keeps scikit-learn's rule: the estimator's ``_score`` (accuracy or
    R^2, NaN when the predictions are not finite).
    """
    scoring = est.scoring
    if scoring is None:
        return lambda est, X, y, sw: est._score(X, y, sample_weight=sw)
    if isinstance(scoring, str) and scoring == "loss":
        target = np.asarray(y_val_solver, dtype=np.float64).reshape(y_val_solver.shape[0], -1)
        return lambda est, X, y, sw: -data_loss(est, est._forward_pass_fast(X, check_input=False), target, sw)
    scorer = check_scoring(est, scoring)
    return lambda est, X, y, sw: float(scorer(est, X, y) if sw is None else scorer(est, X, y, sample_weight=sw))


def data_loss(est, output, target, sample_weight) -> float:
    """The estimator's loss of ``output`` against ``target`` (both (n, k)), without the L2 term.

    scikit-learn's definitions: half the squared error averaged over outputs;
    the log losses and the half Poisson deviance summed over outputs; each
    averaged over samples with ``sample_weight``.  Probabilities are clipped
    to ``[eps, 1 - eps]`` of their dtype, as in the training loss.
    """
    p = np.asarray(output, dtype=np.float64)
    if est.out_activation_ in ("softmax", "logistic"):
        eps = np.finfo(np.asarray(output).dtype).eps
        p = np.clip(p, eps, 1 - eps)
        terms = xlogy(target, p)
        if est.out_activation_ == "logistic":  # one sigmoid per output: both outcomes
            terms += xlogy(1 - target, 1 - p)
        return float(-np.average(terms, weights=sample_weight, axis=0).sum())
    if est.out_activation_ == "exp":
        return float(np.average(xlogy(target, target / p) - target + p, weights=sample_weight, axis=0).sum())
    return float(0.5 * np.average((target - p) ** 2, weights=sample_weight, axis=0).mean())
