"""Running a model case: Dense, Sequential, fit / predict / evaluate / set_weights / add / save-load.

The case runs on its backend, then on the other one: the same steps must raise
or succeed alike, and agree to rounding on tame inputs.  A step that raises
must leave the model unchanged (weights, optimizer state, shuffle RNG).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

import numpy as np

from .cases import A, ModelCase
from .materialise import Made, make_value
from .outcome import Result, _bad, _bad_exception, _exc_text, _fastnn_where, names_argument


_MODEL_NAMES = {
    "model", "layers", "layer", "Dense", "units", "activation", "input_dim", "backend", "dtype", "init", "seed",
    "X", "y", "epochs", "batch_size", "loss", "optimizer", "shuffle", "verbose", "validation_data", "patience",
    "min_delta", "threads", "weights", "lr", "momentum", "nesterov", "decay", "weight_decay", "beta1", "beta2",
    "eps",
}
_MODEL_ERRORS = (TypeError, ValueError, RuntimeError, MemoryError)


def _model_state(model) -> tuple:
    theta = None if model._theta is None else model._theta.tobytes()
    state = tuple(s.tobytes() for s in model._opt_state)
    opt = None if model.optimizer is None else (type(model.optimizer).__name__, repr(model.optimizer.get_config()))
    return (theta, state, opt, model.loss, model.epochs_trained, model.step, model.input_dim, len(model.layers),
            json.dumps(model._shuffle_rng.bit_generator.state, default=str))


def _classify_model_exc(exc, step: str, names=_MODEL_NAMES) -> Result:
    if not isinstance(exc, _MODEL_ERRORS):
        return _bad_exception(exc, f"{step}: undocumented exception type")
    if not names_argument(str(exc), names):
        r = _bad_exception(exc, f"{step}: the message names no argument")
        r.signature = f"{step}: message names nothing ({type(exc).__name__} @ {_fastnn_where(exc)})"
        return r
    return Result("documented-error", f"{step}: {_exc_text(exc)}")


def _tame_data(kwargs_values: dict) -> bool:
    for v in kwargs_values.values():
        arrs = v if isinstance(v, (tuple, list)) else (v,)
        for a in arrs:
            if isinstance(a, np.ndarray) and a.dtype.kind in "biuf":
                with np.errstate(all="ignore"):
                    if a.size and (not np.all(np.isfinite(a)) or np.abs(a.astype(np.float64)).max() > 100):
                        return False
    return True


def _model_summary(method, ret, model):
    return {k: (v, model.dtype) for k, v in _model_values(method, ret, model).items()}


def _model_values(method, ret, model):
    if method == "fit":
        return {"loss": np.array(ret.loss, dtype=np.float64), "epochs": ret.epochs, "diverged": ret.diverged,
                "weights": [w.copy() for w in model.get_weights()]}
    if method == "predict":
        return {"out": ret}
    if method == "evaluate":
        return {k: np.float64(v) for k, v in ret.items()}
    if method == "set_weights":
        return {"weights": [w.copy() for w in model.get_weights()]}
    return {}


def _run_model_once(case: ModelCase, backend_override=None):
    """Run the case on one backend: a list of (step label, Result, summary or None)."""
    import fastnn

    out = []
    made = Made()
    init = {k: make_value(v, made, k) for k, v in case.init.items()}
    if backend_override is not None:
        init["backend"] = backend_override
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layers = make_value(case.layers, made, "layers")
        except Exception as exc:  # Dense(...) itself raised
            out.append(("Dense", _classify_model_exc(exc, "Dense"), None))
            return out
        try:
            model = fastnn.Sequential(**init) if case.layers == "<omit>" else fastnn.Sequential(layers, **init)
        except Exception as exc:
            out.append(("Sequential", _classify_model_exc(exc, "Sequential"), None))
            return out
        out.append(("Sequential", Result("ok"), None))
        for i, (method, kwargs) in enumerate(case.steps):
            label = f"{method}#{i}"
            step_made = Made()
            try:
                kw = {k: make_value(v, step_made, k) for k, v in kwargs.items()}
            except Exception as exc:  # building an optimizer or a Dense argument raised
                out.append((label, _classify_model_exc(exc, f"{label} (argument)"), None))
                continue
            watched = {k: (v, v.tobytes()) for k, v in kw.items()
                       if isinstance(v, np.ndarray) and v.dtype.kind != "O"}
            before = _model_state(model)
            try:
                if method == "save_load":
                    with tempfile.TemporaryDirectory() as d:
                        path = os.path.join(d, "m.npz")
                        model.save(path)
                        model = fastnn.load(path)
                    ret = None
                elif method == "add":
                    ret = model.add(**kw)
                else:
                    ret = getattr(model, method)(**kw)
            except Exception as exc:
                r = _classify_model_exc(exc, label)
                if not r.failed and _model_state(model) != before:
                    r = _bad(f"{label} raised {_exc_text(exc)} but changed the model",
                             f"{method}: raised but changed the model")
                out.append((label, r, None))
                continue
            problems = [f"input {k} was modified" for k, (v, b) in watched.items() if v.tobytes() != b]
            problems += [made.check_guards() or "", step_made.check_guards() or ""]
            problems = [p for p in problems if p]
            r = Result("ok")
            if problems:
                r = _bad(f"{label}: " + "; ".join(problems), f"{method}: {problems[0]}")
            else:
                why = _check_model_form(method, ret, model, kw)
                if why:
                    r = _bad(f"{label}: {why}", f"{method}: {why.split(':')[0]}")
            out.append((label, r, _model_summary(method, ret, model) if not r.failed else None))
            if r.failed:
                break
    return out


def _check_model_form(method, ret, model, kw) -> str | None:
    if method in ("fit", "set_weights", "save_load"):
        if model.built and not np.all(np.isfinite(model._theta)):
            return "non-finite weights after the call"
    if method == "fit":
        h = ret
        if len(h.loss) != h.epochs:
            return f"history has {len(h.loss)} losses for {h.epochs} epochs"
        epochs = kw.get("epochs", 1)
        if h.epochs > epochs or (h.epochs < epochs and not (h.diverged or h.stopped_early or h.interrupted)):
            return f"ran {h.epochs} of {epochs} epochs without stopping early or diverging"
    if method == "predict":
        n = np.shape(kw["X"])[0]
        if not isinstance(ret, np.ndarray) or ret.shape != (n, model.output_dim) or ret.dtype != model.dtype:
            return f"predict returned {getattr(ret, 'dtype', type(ret))}{getattr(ret, 'shape', '')}"
    if method == "evaluate":
        if not isinstance(ret, dict) or "loss" not in ret:
            return f"evaluate returned {ret!r}"
    return None


def run_model(case: ModelCase) -> Result:
    first = _run_model_once(case)
    bad = [(label, r) for label, r, _ in first if r.failed]
    if bad:
        return bad[0][1]
    kinds = [(label, r.kind) for label, r, _ in first]
    backend = case.init.get("backend", "numba")
    notes: list = []
    if backend in ("numba", "numpy") and len(first) > 1:
        other = "numpy" if backend == "numba" else "numba"
        second = _run_model_once(case, other)
        bad = [(label, r) for label, r, _ in second if r.failed]
        if bad:
            return bad[0][1]
        if [(label, r.kind) for label, r, _ in second] != kinds:
            return _bad(f"backends disagree: {backend} {kinds} vs {other} "
                        f"{[(label, r.kind) for label, r, _ in second]}", "model: backends disagree on raising")
        tame = _model_case_tame(case)
        for (label, r1, s1), (_, r2, s2) in zip(first, second):
            if r1.kind == "documented-error" and r1.detail.split(": ", 1)[1] != r2.detail.split(": ", 1)[1]:
                return _bad(f"{label}: backends raise differently: {r1.detail} / {r2.detail}",
                            "model: backends raise differently")
            if s1 and s2:
                for key in s1:
                    (v1, dtype), (v2, _) = s1[key], s2[key]
                    why = _compare_model_values(v1, v2, f"{label}.{key}", tame, notes, dtype)
                    if why:
                        return _bad(f"{backend} vs {other} backend: {why}", f"{label.split('#')[0]}: backends differ",
                                    notes)
    detail = "; ".join(r.detail for _, r, _ in first if r.detail)
    kind = "ok" if all(r.kind == "ok" for _, r, _ in first) else "documented-error"
    return Result(kind, detail, "", notes)


def _model_case_tame(case: ModelCase) -> bool:
    for _, kwargs in case.steps:
        for k, v in kwargs.items():
            vals = v if isinstance(v, (list, tuple)) else [v]
            for x in vals:
                if isinstance(x, A) and x.data.dtype.kind in "biuf":
                    with np.errstate(all="ignore"):
                        d = x.data.astype(np.float64)
                        if d.size and (not np.all(np.isfinite(d)) or np.abs(d).max() > 10):
                            return False
                if isinstance(x, tuple) and len(x) == 2 and x[0] in ("SGD", "Adam"):
                    lr = x[1].get("lr", 0.01)
                    if not isinstance(lr, (int, float)) or lr > 0.1:
                        return False
        if kwargs.get("epochs", 1) not in (0, 1, 2, 3):
            return False
    return True


def _compare_model_values(a, b, label, tame, notes, dtype) -> str | None:
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            why = _compare_model_values(x, y, f"{label}[{i}]", tame, notes, dtype)
            if why:
                return why
        return None
    if isinstance(a, (bool, int)) or a is None:
        if a != b:
            if tame:
                return f"{label}: {a!r} vs {b!r}"
            notes.append("model: backends differ on extreme inputs")
        return None
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:  # e.g. early stopping after a different number of epochs
        if tame:
            return f"{label}: shapes {x.shape} vs {y.shape}"
        notes.append("model: backends differ on extreme inputs")
        return None
    rtol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-7
    with np.errstate(all="ignore"):
        ok = np.isclose(x, y, rtol=rtol, atol=rtol, equal_nan=True) | (x == y)
    if not ok.all():
        if tame:
            i = tuple(int(v) for v in np.argwhere(~ok)[0]) if x.ndim else ()
            return f"{label}: at {i} {x[i]!r} vs {y[i]!r}"
        notes.append("model: backends differ on extreme inputs")
    return None
