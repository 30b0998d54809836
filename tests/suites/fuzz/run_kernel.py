"""Running a kernel case: each function of ``fastnn.kernels`` and ``fastnn.reference`` on the same inputs.

Both backends validate through ``fastnn._checks``: they must raise the same
documented error (``TypeError``/``ValueError`` naming an argument) or both
return results of the right form that agree to rounding, without writing
anything but their outputs.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings

import numpy as np

from .cases import KernelCase
from .compare import _tame_value, compare_results
from .materialise import make_args
from .outcome import Result, _bad, _bad_exception, _exc_text, names_argument


_DOCUMENTED_KERNEL = (TypeError, ValueError)


#: Arguments each function may write (in place or as ``out``).
KERNEL_TARGETS = {"out", "grad_w", "grad_b", "grad_x", "param", "velocity", "m", "v"}


def _call_kernel(module, function: str, case: KernelCase):
    from fastnn import config

    made = make_args(case.args)
    values = made.values
    watched = {}
    targets = [v for k, v in values.items() if k in KERNEL_TARGETS and isinstance(v, np.ndarray)]
    for name, v in values.items():
        if name in KERNEL_TARGETS or not isinstance(v, np.ndarray) or v.dtype.kind == "O":
            continue
        if any(np.may_share_memory(v, t) for t in targets):
            continue
        watched[name] = (v, v.tobytes(), v.flags.writeable)
    mode = case.build if module.__name__ == "fastnn.kernels" else None
    ctx = config.parallel_mode(mode) if mode and mode != "auto" else contextlib.nullcontext()
    fn = getattr(module, function)
    with ctx, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ret = fn(**values)
            outcome = ("return", ret)
        except Exception as exc:  # noqa: BLE001 - classified below
            outcome = ("raise", exc)
    problems = []
    guard = made.check_guards()
    if guard:
        problems.append(guard)
    for name, (v, before, writeable) in watched.items():
        if v.tobytes() != before:
            problems.append(f"input {name} was modified by the call")
        if v.flags.writeable != writeable:
            problems.append(f"the writeable flag of {name} changed")
    return outcome, values, problems


def _kernel_scale(values: dict) -> tuple[bool, float]:
    """(tame, scale): whether every float input is moderate, and a magnitude for reduction error."""
    tame, big, terms = True, 1.0, 1
    for name, v in values.items():
        if isinstance(v, (list, tuple)):  # array-likes count with the values they hold
            try:
                v = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                continue
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            tame &= _tame_value(v)
            with np.errstate(all="ignore"):
                finite = v[np.isfinite(v)] if v.size else v
                if finite.size:
                    big = max(big, float(np.abs(finite).max()))
            terms = max(terms, int(v.shape[-1]) if v.ndim else 1, int(v.shape[0]) if v.ndim else 1)
        elif isinstance(v, (float, np.floating)) and name not in ("lr", "weight_decay"):
            pass
    if isinstance(values.get("lr"), (int, float)) and not isinstance(values.get("lr"), bool):
        tame &= 0 <= float(values["lr"]) <= 1e3
    with np.errstate(all="ignore"):
        scale = float(min(big * big * terms, 1e300))
    return tame, scale


def run_kernel(case: KernelCase) -> Result:
    result = _run_kernel(case)
    if result.failed:  # name an ndarray subclass among the arguments: a frequent cause
        made = make_args(case.args)
        sub = [k for k, v in made.values.items() if isinstance(v, np.ndarray) and type(v) is not np.ndarray]
        if sub:
            result.signature += f" (ndarray subclass {type(made.values[sub[0]]).__name__} as {sub[0]})"
    return result


def _run_kernel(case: KernelCase) -> Result:
    import fastnn.kernels as K
    import fastnn.reference as R

    sig_names = set(inspect.signature(getattr(R, case.function)).parameters)
    (ref_out, ref_vals, ref_prob) = _call_kernel(R, case.function, case)
    (ker_out, ker_vals, ker_prob) = _call_kernel(K, case.function, case)
    for backend, probs in (("reference", ref_prob), ("kernels", ker_prob)):
        if probs:
            return _bad(f"{backend}: " + "; ".join(probs), f"{case.function}: {probs[0].split(':')[0]} ({backend})")
    if ref_out[0] == "raise" or ker_out[0] == "raise":
        if ref_out[0] != ker_out[0]:
            which, exc = ("kernels", ker_out[1]) if ker_out[0] == "raise" else ("reference", ref_out[1])
            r = _bad_exception(exc, f"only the {which} backend raised")
            r.signature = f"{case.function}: only {which} raised " + r.signature
            return r
        rexc, kexc = ref_out[1], ker_out[1]
        for exc in (kexc, rexc):
            if not isinstance(exc, _DOCUMENTED_KERNEL):
                return _bad_exception(exc, "undocumented exception type")
            if not names_argument(str(exc), sig_names):
                r = _bad_exception(exc, f"message names no argument of {case.function}{tuple(sig_names)}")
                r.signature = f"{case.function}: message names nothing ({type(exc).__name__})"
                return r
        if type(rexc) is not type(kexc) or str(rexc) != str(kexc):
            return _bad(f"backends raise differently: kernels {_exc_text(kexc)} / reference {_exc_text(rexc)}",
                        f"{case.function}: backends raise differently")
        return Result("documented-error", _exc_text(kexc))

    # both returned: check the result's form, then compare kernels with the reference
    notes: list = []
    why = _check_kernel_form(case.function, ker_out[1], ker_vals) or _check_kernel_form(
        case.function, ref_out[1], ref_vals)
    if why:
        return _bad(why, f"{case.function}: wrong result form")
    tame, scale = _kernel_scale(ref_vals)
    why = compare_results(ref_out[1], ker_out[1], tame=tame, scale=scale, label="result", notes=notes)
    if not why:
        for name in KERNEL_TARGETS & set(ref_vals):
            rv, kv = ref_vals[name], ker_vals[name]
            if isinstance(rv, np.ndarray) and isinstance(kv, np.ndarray) and rv.dtype.kind == "f":
                why = compare_results(rv.copy(), kv.copy(), tame=tame, scale=scale, label=name, notes=notes)
                if why:
                    break
    if why:
        return _bad(f"kernels differ from the reference: {why}", f"{case.function}: kernels != reference", notes)
    return Result("ok", "", "", notes)


def _float_dtype(values: dict):
    for name in ("z", "a", "x", "y_pred", "param"):
        v = values.get(name)
        if isinstance(v, np.ndarray):
            return v.dtype
        if v is not None:
            return np.asarray(v).dtype
    return None


def _check_kernel_form(function: str, ret, values: dict) -> str | None:
    """Shape, dtype and identity checks of a returned result."""
    dt = _float_dtype(values)
    first = next(v for k, v in values.items() if k in ("z", "a", "x", "y_pred", "param"))
    shape = np.shape(first)
    if function.startswith("activation_") or function.endswith(("_grad", "_delta")) or function == "output_delta":
        if not isinstance(ret, np.ndarray) or ret.shape != shape or ret.dtype != dt:
            return f"returned {type(ret).__name__} {getattr(ret, 'dtype', '')}{getattr(ret, 'shape', '')}, expected {dt}{shape}"
        if isinstance(values.get("out"), np.ndarray) and ret is not values["out"]:
            return "did not return out itself"
    elif function.endswith("_loss") or function == "loss_value":
        if not isinstance(ret, np.generic) or ret.dtype != dt or np.shape(ret) != ():
            return f"returned {type(ret).__name__} {getattr(ret, 'dtype', '')}, expected a {dt} scalar"
    elif function == "dense_forward":
        n, k = np.shape(values["x"])[0], np.shape(values["w"])[1]
        if not isinstance(ret, np.ndarray) or ret.shape != (n, k) or ret.dtype != dt:
            return f"returned {getattr(ret, 'dtype', type(ret))}{getattr(ret, 'shape', '')}, expected {dt}{(n, k)}"
        if isinstance(values.get("out"), np.ndarray) and ret is not values["out"]:
            return "did not return out itself"
    elif function == "dense_backward":
        (n, d), k = np.shape(values["x"]), np.shape(values["w"])[1]
        gx = values.get("compute_grad_x", True)
        expect = ((d, k), (k,), (n, d) if gx else None)
        for i, (name, want) in enumerate(zip(("grad_w", "grad_b", "grad_x"), expect)):
            got = ret[i]
            if want is None:
                if got is not None:
                    return "grad_x returned although compute_grad_x is False"
                continue
            if not isinstance(got, np.ndarray) or got.shape != want or got.dtype != dt:
                return f"{name}: {getattr(got, 'dtype', type(got))}{getattr(got, 'shape', '')}, expected {dt}{want}"
            if isinstance(values.get(name), np.ndarray) and got is not values[name]:
                return f"did not return {name} itself"
    elif function.endswith("_update"):
        if ret is not values["param"]:
            return "did not return param itself"
    return None
