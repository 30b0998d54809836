"""Building blocks shared by the fuzz strategies: dtypes, data, weird scalars, array arguments, knobs.

Used by every ``test_*.py`` of this package to describe arguments (as
:class:`.cases.A` and :class:`.cases.Obj`) in the parent.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# registries, read without importing the kernels in this process
from fastnn.activations import ACTIVATIONS, ALIASES

from .cases import LAYOUTS, A, Obj

# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------

FLOAT_DTYPES = ("float64", "float32")
#: Every other dtype a user might pass: all integer widths, bool, half/extended/complex floats,
#: big-endian floats, object, str, bytes, datetime.
OTHER_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                "longdouble", "complex64", "complex128", "object", "<U8", "|S8", ">f8", ">f4", "datetime64[s]")

seeds = st.integers(0, 2**32 - 1)
call_dtypes = st.sampled_from(FLOAT_DTYPES)
any_dtypes = st.sampled_from(FLOAT_DTYPES + OTHER_DTYPES)

CONTENT = ("normal", "wide", "prob", "special", "zeros", "onehot", "binary", "counts", "huge", "denormal",
           "nan", "inf", "tiny-int")


def specials(dtype) -> list:
    dt = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
    fi = np.finfo(dt)
    return [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, float(fi.max), -float(fi.max), float(fi.tiny),
            float(fi.smallest_subnormal), -float(fi.smallest_subnormal), float(fi.eps), 1.0, -1.0, 88.8, 710.0,
            -750.0, 0.5]


def gen_data(rng: np.random.Generator, shape: tuple, content: str, dtype) -> np.ndarray:
    """Float64 values of one kind, converted to ``dtype`` the way a user's array would be."""
    shape = tuple(shape)
    if content == "normal":
        x = rng.standard_normal(shape)
    elif content == "wide":
        x = rng.standard_normal(shape) * 30
    elif content == "prob":
        x = rng.uniform(0, 1, shape)
    elif content == "special":
        x = rng.standard_normal(shape)
        if x.size:
            mask = rng.uniform(size=shape) < rng.uniform(0.05, 1.0)
            x[mask] = rng.choice(specials(dtype), size=int(mask.sum()))
    elif content == "zeros":
        x = np.zeros(shape)
    elif content == "onehot":
        x = np.zeros(shape)
        if x.size and len(shape):
            rows = x.reshape(-1, shape[-1])
            rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], rows.shape[0])] = 1
    elif content == "binary":
        x = rng.integers(0, 2, shape).astype(np.float64)
    elif content == "counts":
        x = rng.poisson(2.0, shape).astype(np.float64)
    elif content == "huge":
        fmax = float(np.finfo(np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float64).max)
        x = rng.choice([1e300, fmax, 1e38, 3e38, 1e200], size=shape) * rng.choice([-1.0, 1.0], size=shape)
    elif content == "denormal":
        sub = float(np.finfo(np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float64).smallest_subnormal)
        x = sub * rng.integers(1, 100, shape) * rng.choice([-1.0, 1.0], size=shape)
    elif content == "nan":
        x = np.full(shape, np.nan)
    elif content == "inf":
        x = np.full(shape, np.inf) * rng.choice([-1.0, 1.0], size=shape)
    else:  # tiny-int
        x = rng.integers(-3, 4, shape).astype(np.float64)
    return convert(x, dtype)


def convert(x: np.ndarray, dtype) -> np.ndarray:
    dt = np.dtype(dtype)
    with np.errstate(all="ignore"):
        if dt.kind in "iu":
            return np.nan_to_num(x, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dt)
        if dt.kind == "M":
            return np.nan_to_num(x, nan=0, posinf=0, neginf=0).clip(-1e6, 1e6).astype(np.int64).astype(dt)
        if dt.kind == "U" or dt.kind == "S":
            return x.astype(dt)
        return x.astype(dt)


# --------------------------------------------------------------------------
# weird values for scalar arguments
# --------------------------------------------------------------------------

WEIRD_NUMBERS = [
    -1.0, -1e-300, float("nan"), float("inf"), float("-inf"), 1e300, 10**400, -(10**400), 2**63, -(2**63), 2**64,
    True, False, None, "0.1", b"0.1", 1j, [0.1], (0.1,), {},
    Obj("np.float32('nan')"), Obj("np.float64(-1.0)"), Obj("np.float16(0.5)"), Obj("np.int8(3)"),
    Obj("np.uint64(2**64 - 1)"), Obj("np.int64(-5)"), Obj("np.bool_(True)"), Obj("Fraction(1, 3)"),
    Obj("Decimal('0.1')"), Obj("Decimal('NaN')"), Obj("np.array(0.1)"), Obj("np.array([0.1])"), Obj("object()"),
    Obj("np.longdouble('1e4000')"), Obj("np.complex128(1)"), Obj("np.datetime64(1, 's')"),
]
WEIRD_INTS = [0, -1, 1.5, 2.0, 2**63, 2**64, 10**400, -(10**400), True, False, None, "1", float("nan"),
              float("inf"), Obj("np.int64(3)"), Obj("np.uint64(2**64 - 1)"), Obj("np.int8(-1)"),
              Obj("np.float64(2.0)"), Obj("Fraction(4, 2)"), Obj("object()"), [1]]
WEIRD_BOOLS = [0, 1, "True", None, 1.0, Obj("np.bool_(False)"), Obj("np.array(True)"), [True]]
WEIRD_NAMES = ["ReLU", "", " relu", "softmax ", "foo", "sigmoid\x00", None, 3, b"relu", ["relu"], ("tanh",),
               Obj("object()"), "mse", "identity" * 50]


# --------------------------------------------------------------------------
# names, shapes, fixed arrays of the explicit examples
# --------------------------------------------------------------------------

ALL_ACTIVATIONS = tuple(ACTIVATIONS) + tuple(ALIASES)


def _mutate_shape(draw, shape: tuple) -> tuple:
    how = draw(st.sampled_from(["grow", "zero", "drop", "add", "scalar", "swap"]))
    if how == "grow" and shape:
        i = draw(st.integers(0, len(shape) - 1))
        return shape[:i] + (shape[i] + 1,) + shape[i + 1:]
    if how == "zero" and shape:
        i = draw(st.integers(0, len(shape) - 1))
        return shape[:i] + (0,) + shape[i + 1:]
    if how == "drop" and shape:
        return shape[1:]
    if how == "add":
        return shape + (2,)
    if how == "swap" and len(shape) == 2:
        return shape[::-1]
    return ()


def _f(*shape, dtype="float64", value=None):
    rng = np.random.default_rng(sum(shape) + 7)
    return rng.standard_normal(shape).astype(dtype) if value is None else np.full(shape, value, dtype=dtype)


# --------------------------------------------------------------------------
# array arguments of the model API and the estimators
# --------------------------------------------------------------------------

class Knobs:
    """Which arguments of one example get a wrong value: at most ``max_weird`` of ``names``.

    Drawn as a short list, so the simplest example (and what hypothesis shrinks
    towards) is a valid call with no wrong argument.
    """

    def __init__(self, draw, names, max_weird: int = 2):
        self.draw = draw
        self.weird = set(draw(st.lists(st.sampled_from(list(names)), max_size=max_weird, unique=True)))

    def on(self, name: str) -> bool:
        return name in self.weird

    def __call__(self, name: str, valid: st.SearchStrategy, bad: list):
        return self.draw(st.sampled_from(bad)) if name in self.weird else self.draw(valid)


_X_DTYPES = st.sampled_from(("float64",) * 6 + ("float32",) * 3 + ("int64", "bool", "uint8", "float16", "int8",
                                                                   "uint64"))
_BAD_X_DTYPES = ["object", "<U8", "|S8", "complex128", ">f8", "longdouble", "datetime64[s]"]


def _array_arg(draw, rng, shape, content=None, dtype=None, mutate: bool = False) -> A:
    """An array argument of the model API: any numeric dtype, plain values; odd when ``mutate``."""
    dtype = dtype or draw(_X_DTYPES)
    content = content or ("normal" if draw(st.booleans()) else draw(st.sampled_from(CONTENT)))
    data = gen_data(rng, shape, content, dtype)
    layout, readonly = "c", False
    if mutate:
        what = draw(st.sampled_from(["layout", "readonly", "dtype", "shape", "specials", "content", "list"]))
        if what == "layout":
            layout = draw(st.sampled_from(LAYOUTS[1:]))
        elif what == "list":
            layout = "list"
        elif what == "readonly":
            readonly = True
        elif what == "dtype":
            data = convert(data.astype(np.float64) if data.dtype.kind in "fiub" else rng.standard_normal(shape),
                           draw(st.sampled_from(_BAD_X_DTYPES)))
        elif what == "shape":
            data = gen_data(rng, _mutate_shape(draw, tuple(shape)), "normal", dtype)
        elif what == "content":
            data = gen_data(rng, shape, draw(st.sampled_from(["nan", "inf", "huge", "denormal", "special"])),
                            draw(st.sampled_from(["float64", "float32"])))
        elif data.dtype.kind == "f" and data.size:
            data = data.copy()
            flat = data.reshape(-1)
            with np.errstate(all="ignore"):
                flat[rng.integers(0, flat.size)] = np.array(draw(st.sampled_from(specials(data.dtype)))).astype(
                    data.dtype)
    return A(data, layout, readonly)
