"""scikit-learn's callback API and early stopping on a chosen scorer, for ``fastnn.MLPClassifier``/``MLPRegressor``.

Two jobs, both called from :mod:`fastnn.sklearn`:

- :class:`FitTasks` reports a fit to the callbacks set with
  ``est.set_callbacks(...)`` (``sklearn.callback``, scikit-learn >= 1.9): the
  fit is the root task; with ``sgd``/``adam`` every epoch is a subtask (one
  for ``partial_fit``), ended after the epoch's bookkeeping, so the callbacks
  see the estimator after that epoch and a callback's ``on_fit_task_end``
  returning True stops the fit there.  ``lbfgs`` reports the root task only.
  The estimators already run one compiled call per epoch, so the callbacks
  cost nothing when none are set (no context is even made then).
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
``_label_binarizer`` (the labels given back to the callbacks).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.metrics import check_scoring


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
        Epochs the fit may run (0: no subtasks, as for ``lbfgs``).
    """

    def __init__(self, est, X, y, sample_weight, max_subtasks: int):
        self.est = est
        self.X = X
        self._y_solver = y
        self._y = None
        self.metadata = {} if sample_weight is None else {"sample_weight": sample_weight}
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
        self._epoch = self.root.subcontext(task_name="epoch")
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


def start_tasks(est, X, y, sample_weight, max_subtasks: int) -> FitTasks | None:
    """:class:`FitTasks` for this fit, or None when the estimator has no callbacks (nothing is made)."""
    if not has_callbacks(est):
        return None
    return FitTasks(est, X, y, sample_weight, max_subtasks)


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
