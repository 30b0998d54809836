"""Child-process side of the crash-fuzz suite (``tests/test_fuzz.py``).

The parent (pytest + hypothesis) builds *cases*: small picklable
descriptions of one call, or of a short script of calls, to a public entry
point of fastnn.  :class:`Worker` sends each case to a child process started
with the ``spawn`` method, which builds the real arguments there (views,
read-only flags and aliasing do not survive pickling, so they are described
by :class:`A` / :class:`Alias` and made in the child), runs the call and
classifies what happened:

``ok``
    The call returned, and every cheap check of the result passed: shapes and
    dtypes; for kernel functions, equality with the reference backend on the
    same inputs; nothing written outside the arrays the call may write.
``documented-error``
    The call raised an exception of a documented type whose message names
    the offending argument (the rule of each entry point is in its
    ``run_*`` function below).
``bad``
    Anything else: an undocumented exception type (``OverflowError``,
    ``RecursionError``, a Numba ``TypingError``...), a message that names
    nothing, a result that differs from the reference, a write outside the
    output, a model changed by a call that raised, ...
``crash`` / ``timeout`` (made by the parent)
    The child died (segfault, abort: the signal is reported) or hung; the
    parent starts a new child for the next case.

A ``bad`` result carries a ``signature`` (a short, stable description such
as ``"OverflowError @ fastnn/_checks.py:check_scalar"``) that the parent uses
to deduplicate findings, and every case renders itself as a standalone
Python snippet (:func:`reproducer`) for bug reports.

This module imports fastnn only in the child (and when the parent renders a
reproducer it needs nothing from fastnn).
"""

from __future__ import annotations

import contextlib
import faulthandler
import inspect
import io
import json
import math
import multiprocessing
import os
import re
import signal
import tempfile
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --------------------------------------------------------------------------
# case descriptions (built in the parent, materialised in the child)
# --------------------------------------------------------------------------

LAYOUTS = ("c", "f", "step", "T", "neg", "pad", "list")  # and "csr" (scipy.sparse, 2-D) for the estimators
PAD = 3  # elements of canary before and after a "pad" array


@dataclass
class A:
    """An array argument: ``data`` (any dtype, C order) laid out in the child as ``layout``.

    Layouts: ``c`` a fresh C-contiguous array; ``f`` Fortran order; ``step``
    every other element of a twice-as-large buffer along every axis (not
    contiguous); ``T`` the transpose of a C array (2-D and up); ``neg`` a
    view with a negative stride on axis 0; ``pad`` a C-contiguous view into
    the middle of a larger buffer whose other elements are canaries (checked
    after the call); ``list`` nested Python lists (``data.tolist()``).
    ``readonly`` clears the writeable flag of the array (of the view, for
    views).
    """

    data: np.ndarray
    layout: str = "c"
    readonly: bool = False

    def __repr__(self) -> str:
        extra = "" if self.layout == "c" else f", layout={self.layout!r}"
        extra += ", readonly=True" if self.readonly else ""
        return f"A({_array_literal(self.data)}{extra})"


@dataclass
class Alias:
    """The same memory as the argument ``target``.

    ``how``: ``same`` the very same object; ``view`` ``target[...]`` (another
    object, same memory, same strides); ``T`` ``target.T``; ``shift`` a view
    of the same shape starting one element later in the target's buffer
    (partial overlap; the target must have layout ``pad``).
    """

    target: str
    how: str = "same"
    readonly: bool = False


@dataclass
class Obj:
    """A value that cannot be pickled by value or rendered with repr: built in the child by name."""

    kind: str  # "object()", "Fraction(1, 3)", "Decimal('0.1')", "np.float32(nan)", ...

    def __repr__(self) -> str:
        return f"Obj({self.kind!r})"


@dataclass
class KernelCase:
    """``fastnn.<backend>.<function>(**args)``, run on both backends and compared."""

    function: str
    args: dict
    build: str = "auto"  # Numba build of the kernels backend: auto | serial | parallel


@dataclass
class ModelCase:
    """Build ``Sequential(layers, **init)`` and run ``steps`` on it, once per backend.

    ``layers``: a list whose items are ``("Dense", args, kwargs)`` tuples
    (built in the child) or raw values (to check that non-layers are
    rejected), or a raw non-list value.  ``steps``: ``(method, kwargs)`` with
    method one of ``fit``, ``predict``, ``evaluate``, ``set_weights``,
    ``add``, ``save_load``.  Optimizer arguments may be ``("SGD"|"Adam",
    kwargs)`` tuples, built in the child.
    """

    layers: Any
    init: dict
    steps: list
    entry: str = "model"


@dataclass
class SklearnCase:
    """``fastnn.<estimator>(**params)``: ``fit(X, y)`` then ``methods`` on ``X_test``.

    Compared with scikit-learn's own class on the same data (the oracle).
    """

    estimator: str  # MLPRegressor | MLPClassifier
    params: dict
    X: Any
    y: Any
    X_test: Any
    methods: tuple = ("predict",)


@dataclass
class LoadCase:
    """``fastnn.load`` on a file made from a valid saved model by ``mutation``.

    ``base``: a small model spec ``{"layers": [(units, activation), ...],
    "input_dim": int, "dtype": str, "optimizer": None|"sgd"|"momentum"|"adam",
    "fit": bool}``.  ``mutation``: ``("none",)``, ``("truncate", fraction)``,
    ``("flip", ((fraction, xor), ...))``, ``("insert", fraction, bytes)``,
    ``("zip-method", entry, method)`` (the compression method of a zip entry),
    ``("npz", members)`` -- a hand-crafted archive, ``members`` mapping a
    member name to an ndarray (saved with ``np.save``), to bytes (written
    raw), or, for ``"meta"``, to a str (encoded as the JSON header) --,
    ``("meta", edits)`` -- the base file with JSON edits of its header:
    ``(path tuple, value)`` to set, ``(path tuple, "<delete>")`` to delete, or
    ``((), "<raw>", str)`` to replace the whole text --, ``("raw", bytes)``
    (the file is just those bytes), ``("npy",)`` (a plain ``.npy`` array, not
    an archive).  ``path_kind``: ``file``, ``pathlib``, ``bytes``, ``missing``,
    ``directory``, or a raw value passed as the path.
    """

    base: dict
    mutation: tuple
    path_kind: Any = "file"


@dataclass
class SelfTest:
    """A case that checks the harness itself: ``segfault``, ``abort``, ``hang`` or ``ok``."""

    what: str


@dataclass
class Result:
    kind: str  # ok | documented-error | bad | crash | timeout
    detail: str = ""
    signature: str = ""
    notes: list = field(default_factory=list)  # tolerated oddities, for the statistics

    @property
    def failed(self) -> bool:
        return self.kind not in ("ok", "documented-error")


# --------------------------------------------------------------------------
# rendering cases as reproducers (parent side: needs only numpy)
# --------------------------------------------------------------------------

def _float_literal(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return repr(v)


def _list_literal(x) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_list_literal(v) for v in x) + "]"
    return _float_literal(x)


def _array_literal(a) -> str:
    if not isinstance(a, np.ndarray):
        return repr(a)
    dt = a.dtype.str if a.dtype.kind not in "OUS" else a.dtype.name if a.dtype.kind == "O" else a.dtype.str
    if a.size > 64:
        flat = a.reshape(-1)
        if a.dtype.kind in "fc" and np.all(flat == flat[0]):
            return f"np.full({a.shape}, {_float_literal(flat[0].item())}, dtype={dt!r})"
        return f"<{a.dtype} array of shape {a.shape}, see the pickled case>"
    return f"np.array({_list_literal(a.tolist())}, dtype={dt!r}).reshape({a.shape})"


_HELPERS = '''\
import numpy as np
nan, inf = float("nan"), float("inf")


def layout(a, how, readonly=False, pad=3):
    """Lay out the C array a: c, f, step, T, neg, pad, list (see tests/fuzz_worker.py)."""
    if how == "f":
        a = np.asfortranarray(a)
    elif how == "step" and a.ndim:
        big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
        idx = tuple(slice(None, None, 2) for _ in a.shape)
        big[idx] = a
        a = big[idx]
    elif how == "T" and a.ndim >= 2:
        a = np.ascontiguousarray(a.T).T
    elif how == "neg" and a.ndim:
        a = np.ascontiguousarray(a[::-1])[::-1]
    elif how == "pad":
        buf = np.zeros(a.size + 2 * pad, a.dtype)
        buf[pad:pad + a.size] = a.reshape(-1)
        a = buf[pad:pad + a.size].reshape(a.shape)
    elif how == "list":
        return a.tolist()
    elif how == "csr":
        import scipy.sparse
        return scipy.sparse.csr_matrix(a)
    if readonly:
        a.flags.writeable = False
    return a
'''


def _value_code(v, names: dict) -> str:
    if isinstance(v, A):
        base = _array_literal(v.data)
        if v.layout == "c" and not v.readonly:
            return base
        return f"layout({base}, {v.layout!r}" + (", readonly=True)" if v.readonly else ")")
    if isinstance(v, Alias):
        t = v.target
        expr = {"same": t, "view": f"{t}[...]", "T": f"{t}.T",
                "shift": f"{t}.base[{PAD + 1}:{PAD + 1} + {t}.size].reshape({t}.shape)"}[v.how]
        return expr if not v.readonly else f"layout({expr}, 'c', readonly=True)"
    if isinstance(v, Obj):
        return v.kind
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "Dense":
        return f"fastnn.Dense({', '.join([_value_code(x, names) for x in v[1]] + [f'{k}={_value_code(x, names)}' for k, x in v[2].items()])})"
    if isinstance(v, tuple) and len(v) == 2 and v[0] in ("SGD", "Adam") and isinstance(v[1], dict):
        return f"fastnn.{v[0]}({', '.join(f'{k}={_value_code(x, names)}' for k, x in v[1].items())})"
    if isinstance(v, list):
        return "[" + ", ".join(_value_code(x, names) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(_value_code(x, names) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_value_code(x, names)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return _float_literal(v)
    if isinstance(v, np.ndarray):
        return _array_literal(v)
    if isinstance(v, np.generic):
        return f"np.{type(v).__name__}({_float_literal(v.item())})"
    return repr(v)


def reproducer(case) -> str:
    """A standalone Python snippet that makes the same call in a fresh interpreter."""
    text = _reproducer(case)
    if text.startswith(_HELPERS) and "layout(" not in text[len(_HELPERS):]:
        text = _HELPERS.split("\n\n\n")[0] + "\n" + text[len(_HELPERS):]
    return text


def _reproducer(case) -> str:
    lines = [_HELPERS]
    if isinstance(case, KernelCase):
        lines.append("import fastnn.kernels as K, fastnn.reference as R")
        lines.append("from fastnn import config")
        names = {}
        order = [k for k, v in case.args.items() if not isinstance(v, Alias)]
        order += [k for k, v in case.args.items() if isinstance(v, Alias)]
        for name in order:
            lines.append(f"{name} = {_value_code(case.args[name], names)}")
        call = ", ".join(f"{k}={k}" for k in case.args)
        if case.build != "auto":
            lines.append(f"config.set_parallel_mode({case.build!r})")
        lines.append(f"print(K.{case.function}({call}))")
        lines.append(f"# compare with R.{case.function}(...) on fresh copies of the same inputs")
    elif isinstance(case, ModelCase):
        lines.append("import fastnn")
        layers = _value_code(case.layers, {})
        init = ", ".join(f"{k}={_value_code(v, {})}" for k, v in case.init.items())
        lines.append(f"model = fastnn.Sequential({layers}{', ' if init else ''}{init})")
        for method, kwargs in case.steps:
            args = ", ".join(f"{k}={_value_code(v, {})}" for k, v in kwargs.items())
            if method == "save_load":
                lines.append("model.save('/tmp/fuzz-model.npz'); model = fastnn.load('/tmp/fuzz-model.npz')")
            elif method == "add":
                lines.append(f"model.add({_value_code(kwargs['layer'], {})})")
            else:
                lines.append(f"print(model.{method}({args}))")
    elif isinstance(case, SklearnCase):
        lines.append("import fastnn")
        params = ", ".join(f"{k}={_value_code(v, {})}" for k, v in case.params.items())
        lines.append(f"X = {_value_code(case.X, {})}")
        lines.append(f"y = {_value_code(case.y, {})}")
        lines.append(f"X_test = {_value_code(case.X_test, {})}")
        lines.append(f"est = fastnn.{case.estimator}({params}).fit(X, y)")
        for m in case.methods:
            lines.append(f"print(est.{m}(X_test))")
        lines.append(f"# oracle: sklearn.neural_network.{case.estimator} with the same parameters")
    elif isinstance(case, LoadCase):
        lines = ["# run from the repository root", "import sys, tempfile", "sys.path.insert(0, 'tests')",
                 "import numpy as np", "import fastnn",
                 "from fuzz_worker import LoadCase, Obj, make_load_file",
                 f"case = {case!r}",
                 "path = make_load_file(case, tempfile.mkdtemp())",
                 "fastnn.load(path)"]
    return "\n".join(lines)


# ==========================================================================
# child side
# ==========================================================================

_DOCUMENTED_KERNEL = (TypeError, ValueError)
_IDENT = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?![\w.])")  # a word, not part of a dotted name like arr.dtype
_CANARY = 12345


def names_argument(message: str, names) -> bool:
    """True if ``message`` names one of ``names``.

    The message must start with the name (``"x must be 2-D ..."``), or contain
    a name of three characters or more as a word (``"unknown activation
    'foo'"``); one-letter names like ``a`` or ``x`` only count at the start, as
    they are also English words, and parts of dotted names (NumPy's
    ``arr.dtype.itemsize``) do not count.
    """
    tokens = _IDENT.findall(message)
    if not tokens:
        return False
    if tokens[0] in names:
        return True
    return any(t in names and len(t) >= 3 for t in tokens)


def _where(exc: BaseException) -> str:
    """``file:function`` of the innermost frame of the traceback, the path shortened."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "?"
    frame = tb[-1]
    path = frame.filename.replace("\\", "/")
    for marker in ("/fastnn/", "/site-packages/", "/tests/"):
        if marker in path:
            path = marker.strip("/") + "/" + path.split(marker, 1)[1]
            break
    return f"{path}:{frame.name}"


def _fastnn_where(exc: BaseException) -> str:
    """``file:line function`` of the innermost fastnn frame (the place to fix), else the innermost frame."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/fastnn/" in path and "/tests/" not in path:
            return f"fastnn/{path.split('/fastnn/', 1)[1]}:{frame.lineno} {frame.name}"
    return _where(exc)


def _exc_text(exc: BaseException) -> str:
    msg = str(exc)
    if len(msg) > 400:
        msg = msg[:400] + "..."
    return f"{type(exc).__name__}: {msg}"


def _bad(detail: str, signature: str, notes=None) -> Result:
    return Result("bad", detail, signature, notes or [])


def _bad_exception(exc: BaseException, why: str) -> Result:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return _bad(f"{why}: {_exc_text(exc)}\n{tb}", f"{type(exc).__name__} @ {_fastnn_where(exc)}")


# --------------------------------------------------------------------------
# materialising arguments
# --------------------------------------------------------------------------

class Made:
    """The arguments of one call, with the guards that check them after it."""

    def __init__(self):
        self.values: dict = {}
        self.roots: dict = {}  # name -> (root buffer, covered flat indices or None)
        self.guards: list = []  # (label, root, mask_outside, bytes before)

    def add_guard(self, label, root, covered):
        if root.dtype.kind == "O":
            return
        mask = np.ones(root.size, dtype=bool)
        mask[covered] = False
        if mask.any():
            self.guards.append((label, root, mask, root.reshape(-1)[mask].tobytes()))

    def check_guards(self) -> str | None:
        for label, root, mask, before in self.guards:
            if root.reshape(-1)[mask].tobytes() != before:
                return f"{label}: memory next to the array was written (canary changed)"
        return None


def _canary(dtype):
    try:
        return np.array(_CANARY).astype(dtype) if dtype.kind not in "US" else np.array("?", dtype=dtype)
    except Exception:  # pragma: no cover
        return np.zeros((), dtype)


def make_array(spec: A, made: Made, name: str):
    d = np.array(spec.data, copy=True)
    root, covered = d, None
    how = spec.layout
    if how == "f":
        arr = np.asfortranarray(d)
        root = arr
    elif how == "step" and d.ndim:
        root = np.empty(tuple(2 * s for s in d.shape), d.dtype)
        root[...] = _canary(d.dtype)
        idx = tuple(slice(None, None, 2) for _ in d.shape)
        root[idx] = d
        arr = root[idx]
        covered = np.arange(root.size).reshape(root.shape)[idx].reshape(-1)
    elif how == "T" and d.ndim >= 2:
        root = np.ascontiguousarray(np.swapaxes(d, 0, 1))
        arr = np.swapaxes(root, 0, 1)
    elif how == "neg" and d.ndim:
        root = np.ascontiguousarray(d[::-1])
        arr = root[::-1]
    elif how == "pad":
        root = np.empty(d.size + 2 * PAD, d.dtype)
        root[...] = _canary(d.dtype)
        root[PAD:PAD + d.size] = d.reshape(-1)
        arr = root[PAD:PAD + d.size].reshape(d.shape)
        covered = np.arange(PAD, PAD + d.size)
    elif how == "list":
        made.roots[name] = (None, None)
        return d.tolist()
    elif how == "csr" and d.ndim == 2:
        import scipy.sparse

        made.roots[name] = (None, None)
        return scipy.sparse.csr_matrix(d)
    else:
        arr = d
    if covered is not None:
        made.add_guard(name, root, covered)
    made.roots[name] = (root, covered)
    if spec.readonly:
        arr.flags.writeable = False
    return arr


def make_obj(kind: str):
    from decimal import Decimal  # noqa: F401 - used by eval
    from fractions import Fraction  # noqa: F401

    env = {"np": np, "nan": float("nan"), "inf": float("inf"), "Decimal": Decimal, "Fraction": Fraction,
           "object": object}
    return eval(kind, env)  # the kinds are a fixed list in test_fuzz.py


def make_value(v, made: Made, name: str):
    if isinstance(v, A):
        return make_array(v, made, name)
    if isinstance(v, Obj):
        return make_obj(v.kind)
    if isinstance(v, Alias):
        target = made.values[v.target]
        if not isinstance(target, np.ndarray):
            return target
        if v.how == "same":
            return target
        if v.how == "view":
            out = target[...]
        elif v.how == "T":
            out = target.T
        else:  # shift: one element further into a "pad" buffer
            root, covered = made.roots[v.target]
            if covered is None or root.ndim != 1 or root.size < target.size + PAD + 1:
                out = target[...]
            else:
                out = root[PAD + 1:PAD + 1 + target.size].reshape(target.shape)
                # the alias may legitimately write the target's trailing canary: stop guarding it
                made.guards = [g for g in made.guards if g[1] is not root]
        if v.readonly:
            out.flags.writeable = False
        return out
    if isinstance(v, list):
        return [make_value(x, made, f"{name}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "Dense":
        import fastnn

        args = [make_value(x, made, name) for x in v[1]]
        kwargs = {k: make_value(x, made, name) for k, x in v[2].items()}
        return fastnn.Dense(*args, **kwargs)
    if isinstance(v, tuple) and len(v) == 2 and v[0] in ("SGD", "Adam") and isinstance(v[1], dict):
        import fastnn

        return getattr(fastnn, v[0])(**{k: make_value(x, made, k) for k, x in v[1].items()})
    if isinstance(v, tuple):
        return tuple(make_value(x, made, f"{name}[{i}]") for i, x in enumerate(v))
    if isinstance(v, dict):
        return {k: make_value(x, made, k) for k, x in v.items()}
    return v


def make_args(args: dict) -> Made:
    made = Made()
    for name, v in args.items():
        if not isinstance(v, Alias):
            made.values[name] = make_value(v, made, name)
    pending = [name for name, v in args.items() if isinstance(v, Alias)]
    while pending:  # an alias may refer to another alias: resolve in dependency order
        ready = [name for name in pending if args[name].target in made.values]
        if not ready:  # the target is not an argument of the call
            for name in pending:
                made.values[name] = None
            break
        for name in ready:
            made.values[name] = make_value(args[name], made, name)
            pending.remove(name)
    made.values = {name: made.values[name] for name in args}
    return made


# --------------------------------------------------------------------------
# comparing results
# --------------------------------------------------------------------------

def _tame_value(arr) -> bool:
    """Finite floats of moderate size: sums and products of a few of them stay far from overflow."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.size == 0:
        return True
    limit = 1e15 if arr.dtype.itemsize <= 4 else 1e100
    with np.errstate(all="ignore"):
        finite = np.isfinite(arr)
        if not finite.all():
            return False
        big = np.abs(arr).max()
        tiny = np.abs(arr[arr != 0]).min() if np.any(arr != 0) else 1.0
    return big <= limit and tiny >= np.finfo(arr.dtype).tiny


def compare_results(ref, ker, *, tame: bool, scale: float, label: str, notes: list) -> str | None:
    """None if ``ker`` equals ``ref`` to rounding (see the module docstring), else why not."""
    if ref is None or ker is None:
        return None if ref is None and ker is None else f"{label}: one backend returned None ({ref!r} vs {ker!r})"
    if isinstance(ref, tuple):
        if not isinstance(ker, tuple) or len(ker) != len(ref):
            return f"{label}: tuple of {len(ref)} vs {type(ker).__name__}"
        for i, (r, k) in enumerate(zip(ref, ker)):
            why = compare_results(r, k, tame=tame, scale=scale, label=f"{label}[{i}]", notes=notes)
            if why:
                return why
        return None
    if type(ref) is not type(ker):
        return f"{label}: type {type(ker).__name__} (kernels) vs {type(ref).__name__} (reference)"
    r, k = np.asarray(ref), np.asarray(ker)
    if r.shape != k.shape or r.dtype != k.dtype:
        return f"{label}: {k.dtype}{k.shape} (kernels) vs {r.dtype}{r.shape} (reference)"
    if r.dtype.kind != "f":
        return None if np.array_equal(r, k) else f"{label}: values differ"
    r64, k64 = r.astype(np.float64), k.astype(np.float64)
    with np.errstate(all="ignore"):
        rf, kf = np.isfinite(r64), np.isfinite(k64)
        same_special = (r64 == k64) | (np.isnan(r64) & np.isnan(k64))
        special_bad = (~rf | ~kf) & ~same_special
        eps = float(np.finfo(r.dtype).eps)
        rtol = 64 * eps if r.dtype.itemsize > 4 else 256 * eps
        atol = 1e3 * eps * scale
        both = rf & kf
        close = np.abs(r64 - k64) <= rtol * np.maximum(np.abs(r64), np.abs(k64)) + atol
        value_bad = both & ~close
    if special_bad.any():
        i = tuple(int(v) for v in np.argwhere(special_bad)[0]) if r.ndim else ()
        msg = f"{label}: at {i} kernels {k64[i]!r} vs reference {r64[i]!r} (non-finite mismatch)"
        if tame:
            return msg
        notes.append("non-finite mismatch on extreme inputs")
    if value_bad.any():
        i = tuple(int(v) for v in np.argwhere(value_bad)[0]) if r.ndim else ()
        msg = f"{label}: at {i} kernels {k64[i]!r} vs reference {r64[i]!r} (beyond rounding, atol={atol:.3g})"
        if tame:
            return msg
        notes.append("numeric mismatch on extreme inputs")
    return None


# --------------------------------------------------------------------------
# kernel functions (both backends)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# the model API: Dense, Sequential, fit / predict / evaluate / set_weights
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# scikit-learn estimators, with scikit-learn's own class as the oracle
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# fastnn.load on damaged and hand-crafted files
# --------------------------------------------------------------------------

_BASE_FILES: dict = {}


def base_file_bytes(base: dict) -> bytes:
    key = json.dumps(base, sort_keys=True)
    if key not in _BASE_FILES:
        import fastnn

        layers = [fastnn.Dense(u, activation=a) for u, a in base["layers"]]
        model = fastnn.Sequential(layers, input_dim=base["input_dim"], dtype=base["dtype"], seed=1)
        opt = {None: None, "sgd": fastnn.SGD(lr=0.01), "momentum": fastnn.SGD(lr=0.01, momentum=0.9),
               "adam": fastnn.Adam()}[base.get("optimizer")]
        if base.get("fit") or opt is not None:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((6, base["input_dim"]))
            last = base["layers"][-1]
            loss = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy",
                    "exp": "poisson"}.get(last[1], "mse")
            y = rng.uniform(0, 1, (6, last[0]))
            if loss == "categorical_crossentropy":
                y = np.eye(last[0])[rng.integers(0, last[0], 6)]
            model.fit(X, y, epochs=1, loss=loss, optimizer=opt or "sgd", batch_size=3)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.npz")
            model.save(path)
            with open(path, "rb") as f:
                _BASE_FILES[key] = f.read()
    return _BASE_FILES[key]


def _npy_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=True)
    return buf.getvalue()


def _edit_json(meta, path, value):
    if value == "<raw>":
        return None
    obj = meta
    for key in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            obj = None
        if obj is None:
            return meta
    last = path[-1]
    if isinstance(obj, dict):
        if value == "<delete>":
            obj.pop(last, None)
        else:
            obj[last] = value
    elif isinstance(obj, list) and isinstance(last, int) and last < len(obj):
        if value == "<delete>":
            del obj[last]
        else:
            obj[last] = value
    return meta


def make_load_file(case: LoadCase, directory: str) -> Any:
    """Write the case's file into ``directory``; return the path argument for ``fastnn.load``."""
    path = os.path.join(directory, "model.npz")
    kind, *rest = case.mutation
    data = base_file_bytes(case.base) if kind not in ("raw", "npz", "npy") else b""
    if kind == "truncate":
        data = data[:int(len(data) * rest[0])]
    elif kind == "flip":
        buf = bytearray(data)
        for frac, xor in rest[0]:
            i = min(int(len(buf) * frac), len(buf) - 1)
            buf[i] ^= xor or 0xFF
        data = bytes(buf)
    elif kind == "insert":
        i = int(len(data) * rest[0])
        data = data[:i] + rest[1] + data[i:]
    elif kind == "zip-method":  # the compression method of the n-th central-directory entry
        buf = bytearray(data)
        at = -1
        for _ in range(rest[0] + 1):
            at = buf.find(b"PK\x01\x02", at + 1)
        if at >= 0:
            buf[at + 10:at + 12] = int(rest[1]).to_bytes(2, "little")
        data = bytes(buf)
    elif kind == "raw":
        data = rest[0]
    elif kind == "npy":
        data = _npy_bytes(np.arange(6.0))
    elif kind == "meta":
        with np.load(io.BytesIO(base_file_bytes(case.base))) as archive:
            members = {name: archive[name] for name in archive.files}
        text = members["meta"].tobytes().decode("utf-8")
        meta = json.loads(text)
        for edit in rest[0]:
            if len(edit) == 3 and edit[1] == "<raw>":
                text = edit[2]
                meta = None
                break
            meta = _edit_json(meta, edit[0], edit[1])
        if meta is not None:
            text = json.dumps(meta, allow_nan=True)
        members["meta"] = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **members)
        data = buf.getvalue()
    if kind == "npz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, value in rest[0].items():
                if name == "meta" and isinstance(value, str):
                    value = np.frombuffer(value.encode("utf-8", "surrogatepass"), np.uint8)
                zf.writestr(name + ".npy", _npy_bytes(value))
        data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    pk = case.path_kind
    if pk == "file":
        return path
    if pk == "pathlib":
        import pathlib

        return pathlib.Path(path)
    if pk == "bytes":
        return os.fsencode(path)
    if pk == "missing":
        return os.path.join(directory, "missing.npz")
    if pk == "directory":
        return directory
    return pk


def run_load(case: LoadCase) -> Result:
    import fastnn

    with tempfile.TemporaryDirectory() as d:
        path = make_load_file(case, d)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fastnn.load(path)
        except FileNotFoundError as exc:
            if case.path_kind not in ("file", "pathlib", "bytes", "directory"):
                return Result("documented-error", _exc_text(exc))
            return _bad_exception(exc, "FileNotFoundError for a file that exists")
        except TypeError as exc:
            if not isinstance(case.path_kind, str) or case.path_kind not in ("file", "pathlib", "bytes", "missing",
                                                                              "directory"):
                if "path" in str(exc) or "PathLike" in str(exc):
                    return Result("documented-error", _exc_text(exc))
            return _bad_exception(exc, "load raised TypeError (a bad file must give ValueError)")
        except ValueError as exc:
            if "not a valid fastnn model file" not in str(exc):
                r = _bad_exception(exc, "ValueError that does not say the file is invalid")
                r.signature = f"load: ValueError without the file's name @ {_fastnn_where(exc)}"
                return r
            return Result("documented-error", _exc_text(exc))
        except BaseException as exc:  # noqa: BLE001 - RecursionError, MemoryError, OverflowError...
            return _bad_exception(exc, "load raised an undocumented exception type")
    # a damaged file that still loads must give a working model
    if not isinstance(model, fastnn.Sequential) or not model.built:
        return _bad(f"load returned {model!r}", "load: returned something unusable")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model.predict(np.ones((2, model.input_dim), dtype=model.dtype))
    except Exception as exc:
        return _bad_exception(exc, "predict on a loaded model raised")
    if out.shape != (2, model.output_dim):
        return _bad(f"predict on the loaded model gave shape {out.shape}", "load: loaded model predicts badly")
    if case.mutation == ("none",):
        if not np.all(np.isfinite(model._theta)):
            return _bad("a valid file loaded with non-finite weights", "load: round trip")
    return Result("ok")


# --------------------------------------------------------------------------
# the child's main loop
# --------------------------------------------------------------------------

RUNNERS = {KernelCase: run_kernel, ModelCase: run_model, SklearnCase: run_sklearn, LoadCase: run_load}


def run_self_test(case: SelfTest) -> Result:
    if case.what == "segfault":
        import ctypes

        faulthandler.disable()  # keep the test output short
        ctypes.string_at(0)
    elif case.what == "abort":
        faulthandler.disable()
        os.abort()
    elif case.what == "hang":
        import time

        time.sleep(3600)
    return Result("ok")


RUNNERS[SelfTest] = run_self_test


def run_case(case) -> Result:
    """Run one case; harness errors become ``bad`` results with a ``harness`` signature."""
    try:
        return RUNNERS[type(case)](case)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return _bad_exception(exc, "uncaught in the worker (harness or fastnn)")


def _limit_memory(gib: float) -> None:
    try:
        import resource

        limit = int(gib * 2**30)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass


def _child_main(conn, memory_gib: float) -> None:
    faulthandler.enable()
    warnings.simplefilter("ignore")
    try:
        import fastnn  # noqa: F401 - warm the imports (and Numba's cache index)
        import fastnn.kernels  # noqa: F401
        import fastnn.reference  # noqa: F401
        try:
            import fastnn.sklearn  # noqa: F401
        except ImportError:
            pass
    except BaseException as exc:  # noqa: BLE001
        conn.send(("error", _exc_text(exc)))
        return
    _limit_memory(memory_gib)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            case = conn.recv()
        except EOFError:
            return
        if case is None:
            return
        conn.send(run_case(case))


# ==========================================================================
# parent side
# ==========================================================================

def _signal_name(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Worker:
    """One spawned child that runs cases; restarted after a crash or a timeout."""

    def __init__(self, timeout: float = 120.0, start_timeout: float = 300.0, memory_gib: float = 6.0):
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.memory_gib = memory_gib
        self.proc = None
        self.conn = None
        self.restarts = 0

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child, self.memory_gib), daemon=True,
                           name="fastnn-fuzz-worker")
        proc.start()
        child.close()
        if not parent.poll(self.start_timeout):
            proc.kill()
            proc.join()
            raise RuntimeError("the fuzz worker did not start")
        try:
            msg = parent.recv()
        except EOFError:
            proc.join(5)
            raise RuntimeError(f"the fuzz worker died while starting ({_signal_name(proc.exitcode)})") from None
        if msg[0] != "ready":
            raise RuntimeError(f"the fuzz worker could not import fastnn: {msg[1]}")
        self.proc, self.conn = proc, parent

    def _discard(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(10)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.restarts += 1

    def run(self, case, timeout: float | None = None) -> Result:
        if self.proc is None or not self.proc.is_alive():
            if self.proc is not None:
                self._discard()
            self.start()
        try:
            self.conn.send(case)
        except (BrokenPipeError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            self._discard()
            return Result("crash", f"the worker was dead before the case ({_signal_name(code)})", "crash")
        if not self.conn.poll(timeout or self.timeout):
            self._discard()
            return Result("timeout", f"no answer within {timeout or self.timeout:.0f} s", "timeout")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(10)
            code = self.proc.exitcode
            self._discard()
            return Result("crash", f"the worker process died ({_signal_name(code)})",
                          f"crash ({_signal_name(code)})")

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
