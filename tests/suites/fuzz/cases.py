"""Case descriptions: built in the parent, pickled to the child, materialised there.

A *case* is a small picklable description of one call, or of a short script of
calls, to a public entry point of fastnn.  Views, read-only flags and aliasing
do not survive pickling, so array arguments are described by :class:`A` and
:class:`Alias` (and values that cannot be pickled or rendered by :class:`Obj`)
and made in the child by :mod:`.materialise`.

The literal helpers at the end render arrays and floats as Python source; they
serve ``A.__repr__`` and the reproducers of :mod:`.reproducer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


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


# literals (for A.__repr__ and the reproducers)

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
