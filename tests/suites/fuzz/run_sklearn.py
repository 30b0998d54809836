"""Running an estimator case: fastnn.MLPRegressor / MLPClassifier, with scikit-learn's own class as the oracle."""

from __future__ import annotations

import os
import warnings

import numpy as np

from .cases import SklearnCase
from .materialise import Made, make_value
from .outcome import Result, _bad, _bad_exception, _exc_text, _where
from .run_model import _tame_data


def _sk_run(cls, params, X, y, X_test, methods):
    """[(step, "ok", value) or (step, "raise", exc)] for fit then each method."""
    steps = []
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
            steps.append(("fit", "ok", None))
        except Exception as exc:
            steps.append(("fit", "raise", exc))
            return steps, est
        for m in methods:
            try:
                steps.append((m, "ok", getattr(est, m)(X_test)))
            except Exception as exc:
                steps.append((m, "raise", exc))
    return steps, est


def _exc_category(exc) -> str:
    """ValueError / TypeError (or both, like scikit-learn's InvalidParameterError), else the type's name."""
    kinds = [c.__name__ for c in (ValueError, TypeError) if isinstance(exc, c)]
    return "+".join(kinds) or type(exc).__name__


def run_sklearn(case: SklearnCase) -> Result:
    import sklearn.neural_network as skn

    import fastnn

    made = Made()
    params = {k: make_value(v, made, k) for k, v in case.params.items()}
    X = make_value(case.X, made, "X")
    y = make_value(case.y, made, "y")
    Xt = make_value(case.X_test, made, "X_test")
    ours, est = _sk_run(getattr(fastnn, case.estimator), params, X, y, Xt, case.methods)
    guard = made.check_guards()
    if guard:
        return _bad(guard, f"{case.estimator}: wrote next to an input")
    notes: list = []
    sk_params = {k: v for k, v in params.items() if k != "n_threads"}
    n_threads = params.get("n_threads")
    threads_ok = n_threads is None or (isinstance(n_threads, int) and not isinstance(n_threads, bool)
                                       and 1 <= n_threads <= os.cpu_count())
    theirs = None
    if threads_ok:  # the oracle: scikit-learn's own class (fastnn's extra n_threads left out)
        made2 = Made()
        X2, y2, Xt2 = (make_value(v, made2, n) for v, n in ((case.X, "X"), (case.y, "y"), (case.X_test, "X_test")))
        theirs, _ = _sk_run(getattr(skn, case.estimator), sk_params, X2, y2, Xt2, case.methods)
    for i, (step, kind, value) in enumerate(ours):
        if kind != "raise":
            continue
        exc = value
        where = _where(exc)
        if where.startswith("fastnn/kernels") or "numba" in where:
            return _bad_exception(exc, f"{case.estimator}.{step}: raised inside fastnn's kernels")
        if not isinstance(exc, (ValueError, TypeError)):
            same = theirs is not None and i < len(theirs) and theirs[i][1] == "raise" and type(
                theirs[i][2]) is type(exc)
            if not same:
                return _bad_exception(exc, f"{case.estimator}.{step}: not scikit-learn's ValueError/TypeError")
            notes.append(f"sklearn: scikit-learn's own class raises {type(exc).__name__} here too")
    if theirs is not None:
        a = [(s, k, _exc_category(v) if k == "raise" else None) for s, k, v in ours]
        b = [(s, k, _exc_category(v) if k == "raise" else None) for s, k, v in theirs]
        if a != b:
            detail = "; ".join(f"{s}: {_exc_text(v) if k == 'raise' else 'ok'}" for s, k, v in ours)
            detail += " || scikit-learn: " + "; ".join(f"{s}: {_exc_text(v) if k == 'raise' else 'ok'}"
                                                         for s, k, v in theirs)
            tame = _tame_data({"X": X, "y": y if isinstance(y, np.ndarray) and y.dtype.kind in "biuf" else None})
            if tame:
                return _bad(f"{case.estimator} differs from scikit-learn's: {detail}",
                            f"{case.estimator}: outcome differs from scikit-learn ({a} vs {b})")
            notes.append("sklearn: outcome differs from scikit-learn on extreme inputs")
        else:
            for (s, k, v), (_, _, w) in zip(ours, theirs):
                if k == "ok" and isinstance(v, np.ndarray):
                    if v.shape != np.shape(w):
                        return _bad(f"{s}: shape {v.shape} vs scikit-learn's {np.shape(w)}",
                                    f"{case.estimator}.{s}: shape differs from scikit-learn")
                    if v.dtype.kind not in "fc" and not np.array_equal(v, w):
                        notes.append(f"sklearn: {s} labels differ from scikit-learn's")
    kinds = [k for _, k, _ in ours]
    if "raise" in kinds:
        exc = next(v for _, k, v in ours if k == "raise")
        return Result("documented-error", _exc_text(exc), "", notes)
    return Result("ok", "", "", notes)
