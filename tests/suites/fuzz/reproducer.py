"""Every case rendered as a standalone Python snippet (parent side: needs only numpy).

A finding's report carries :func:`reproducer`'s text, which makes the same call
in a fresh interpreter (run from the repository root).
"""

from __future__ import annotations

import numpy as np

from .cases import PAD, A, Alias, KernelCase, LoadCase, ModelCase, Obj, SklearnCase, _array_literal, _float_literal


_HELPERS = '''\
import numpy as np
nan, inf = float("nan"), float("inf")


def layout(a, how, readonly=False, pad=3):
    """Lay out the C array a: c, f, step, T, neg, pad, list (see tests/suites/fuzz/cases.py)."""
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
                 "from suites.fuzz.cases import LoadCase, Obj",
                 "from suites.fuzz.run_load import make_load_file",
                 f"case = {case!r}",
                 "path = make_load_file(case, tempfile.mkdtemp())",
                 "fastnn.load(path)"]
    return "\n".join(lines)
