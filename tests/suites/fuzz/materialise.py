"""Materialising a case's arguments in the child: layouts, views, aliases, canaries.

:func:`make_args` turns the descriptions of :mod:`.cases` into real arguments
and records *guards*: the canary elements around ``step`` and ``pad`` arrays,
checked after the call for writes outside the array.
"""

from __future__ import annotations

import numpy as np

from .cases import PAD, A, Alias, Obj


_CANARY = 12345


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
    return eval(kind, env)  # the kinds are fixed lists in values.py and the test_*.py modules


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
