"""fastnn.kernels.vmath: exp, log, tanh and sigmoid for compiled kernels, against independent references.

The specification (docs/design.md, "Vectorisable elementary functions"):
exp and log within 2 ulp of the correctly rounded result, tanh and sigmoid
within 3 ulp, over the whole range of float32 and float64; exact results at
nan, +-inf, +-0 (tanh(+-0) = +-0, odd), and correct overflow, underflow and
subnormal inputs and outputs.

Errors are measured in ulps of the result's type at the reference value, as a
real number (``|ours - exact| / ulp``); an error of at most B ulp implies a
result at most B representable numbers away from the correctly rounded one.
References, never fastnn's code:

- float32: NumPy's float64 functions (their error, ~1 float64 ulp, is 2**-29
  of a float32 ulp);
- float64: ``np.longdouble`` (64-bit mantissa: 2**-11 of a float64 ulp) where
  it is the x87 80-bit type, else mpmath on fewer points if installed, else
  the float64 tests are skipped.

The test kernels here are compiled by ``numba.njit`` without a disk cache: a
cached test kernel would not see an edit of ``vmath`` (another file).  The
exhaustive float32 sweep over all 2**32 inputs is ``@pytest.mark.slow``:
``.venv/bin/python -m pytest -m slow tests/kernels/test_vmath.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.config import JIT_OPTIONS, VECTOR_FASTMATH
from fastnn.kernels import vmath

NAMES = ("exp", "log", "tanh", "sigmoid")
CODE = {name: i for i, name in enumerate(NAMES)}
MAX_ULP = {"exp": 2.0, "log": 2.0, "tanh": 3.0, "sigmoid": 3.0}
LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63

try:
    import mpmath
except ImportError:  # pragma: no cover - mpmath is optional
    mpmath = None


# --------------------------------------------------------------------------
# test kernels
# --------------------------------------------------------------------------

def _apply_source(code, x, out):
    # one loop per function, as in the library's kernels: each loop is vectorised
    if code == 0:
        for i in range(x.shape[0]):
            out[i] = vmath.exp(x[i])
    elif code == 1:
        for i in range(x.shape[0]):
            out[i] = vmath.log(x[i])
    elif code == 2:
        for i in range(x.shape[0]):
            out[i] = vmath.tanh(x[i])
    else:
        for i in range(x.shape[0]):
            out[i] = vmath.sigmoid(x[i])


def _scalar_source(code, v):
    if code == 0:
        return vmath.exp(v)
    if code == 1:
        return vmath.log(v)
    if code == 2:
        return vmath.tanh(v)
    return vmath.sigmoid(v)


_OPTIONS = {**JIT_OPTIONS, "cache": False}
_apply = numba.njit(**_OPTIONS)(_apply_source)
_scalar = numba.njit(**_OPTIONS)(_scalar_source)
# as a vector kernel of the feature-major step calls them: reassociation allowed, no reference counting
_apply_vector = numba.njit(**{**_OPTIONS, "fastmath": set(VECTOR_FASTMATH), "_nrt": False})(_apply_source)


def ours(name, x):
    """``vmath.<name>`` applied to every element of ``x`` by a compiled loop."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _apply(CODE[name], x, out)
    return out


# --------------------------------------------------------------------------
# references and ulp errors
# --------------------------------------------------------------------------

def _reference32(name, x):
    """The float64 value of ``name`` at the float32 points ``x`` (NumPy's float64 functions)."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-v))
        return getattr(np, name)(v)


def _reference64(name, x):
    """``(hi, lo)``: ``name`` at ``x`` as ``hi + lo`` to ~2**-63 relative, ``hi`` the float64 rounding.

    With long double, ``lo`` is a long double array: in float64 it would
    underflow for results below ~2**-969 (then the error near the bottom of
    the range would be measured in whole ulps).  With mpmath, ``lo`` is
    float64 and has that limitation.
    """
    if LONG_DOUBLE:
        v = x.astype(np.longdouble)
        with np.errstate(all="ignore"):
            exact = 1 / (1 + np.exp(-v)) if name == "sigmoid" else getattr(np, name)(v)
            hi = exact.astype(np.float64)
            lo = np.where(np.isfinite(hi), exact - hi, 0)
        return hi, lo
    mpmath.mp.prec = 80
    fn = {"exp": mpmath.exp, "log": mpmath.log, "tanh": mpmath.tanh,
          "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t))}[name]
    hi, lo = np.empty_like(x), np.zeros_like(x)
    for i, t in enumerate(x.tolist()):
        if np.isnan(t) or (name == "log" and t < 0):
            hi[i] = np.nan
            continue
        if name == "log" and t == 0:
            hi[i] = -np.inf
            continue
        exact = fn(mpmath.mpf(t))
        hi[i] = float(exact) if abs(exact) < 2.0**1024 else float(mpmath.sign(exact)) * np.inf
        lo[i] = float(exact - hi[i]) if np.isfinite(hi[i]) else 0.0
    return hi, lo


def ulp_errors(got, hi, lo, dtype):
    """``(errors, special_mismatch)``: ``|got - exact|`` in ulps of ``dtype`` at ``exact = hi + lo``.

    Where the exact value rounds to inf or nan in ``dtype``, or ``got`` is
    not finite, the error is 0 and ``special_mismatch`` is True unless
    ``got`` is that same value (any nan for nan).
    """
    info = np.finfo(dtype)
    with np.errstate(all="ignore"):
        rounded = hi.astype(dtype)
        special = ~np.isfinite(rounded) | ~np.isfinite(got)
        mismatch = special & ~((np.isnan(rounded) & np.isnan(got)) | (rounded == got))
        _, e = np.frexp(np.where(special, 1.0, np.abs(hi)))
        ulp = np.ldexp(1.0, np.maximum(e - 1 - info.nmant, info.minexp - info.nmant))
        ulp = np.where(hi == 0, np.ldexp(1.0, info.minexp - info.nmant), ulp)
        err = (np.abs((got.astype(np.float64) - hi) - lo) / ulp).astype(np.float64)  # lo may be a long double
    return np.where(special, 0.0, err), mismatch


def errors(name, x):
    """``(errors, special_mismatch)`` of ``vmath.<name>`` at the points ``x`` (float32 or float64)."""
    got = ours(name, x)
    if x.dtype == np.float32:
        return ulp_errors(got, _reference32(name, x), np.zeros(x.shape), np.float32)
    return ulp_errors(got, *_reference64(name, x), np.float64)


def _skip_without_float64_reference():
    if not LONG_DOUBLE and mpmath is None:
        pytest.skip("no float64 reference: np.longdouble has fewer than 63 mantissa bits here and mpmath is missing")


def _assert_within(name, x, err, mismatch):
    bad = np.flatnonzero(mismatch)
    assert bad.size == 0, f"{name}: wrong special values at x = {x[bad[:8]]!r}"
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[name], f"{name}({x[worst]!r}): {err[worst]:.3f} ulp > {MAX_ULP[name]}"


# --------------------------------------------------------------------------
# sample points
# --------------------------------------------------------------------------

def _neighbours(dtype, centres, k):
    """The ``2k + 1`` consecutive representable numbers around each of ``centres`` (and around their negatives)."""
    int_type = np.int32 if dtype == np.float32 else np.int64
    bits = np.abs(np.asarray(centres, dtype=dtype)).view(int_type)
    steps = np.arange(-k, k + 1, dtype=int_type)
    near = (bits[:, None] + steps[None, :]).ravel()
    near = near[near >= 0].view(dtype)
    near = near[np.isfinite(near)]
    return np.concatenate([near, -near])


# Where the functions change formula, saturate, overflow or underflow, in float32 and float64.
_CENTRES = {
    np.float32: [0.0, 1.0, 2.0, 0.5, 0.625, np.sqrt(0.5), np.sqrt(2.0), 9.0, 17.0, 88.72283935546875,
                 87.33654022216797, 103.97207641601562, np.finfo(np.float32).tiny, np.finfo(np.float32).max],
    np.float64: [0.0, 1.0, 2.0, 0.5, 0.625, np.sqrt(0.5), np.sqrt(2.0), 19.0, 37.0, 709.782712893384,
                 708.3964185322641, 745.1332191019411, np.finfo(np.float64).tiny, np.finfo(np.float64).max],
}
# Where the uniform samples go, per function (beyond: saturation, covered by the log-spaced samples).
_RANGE = {"exp": (-110.0, 100.0), "log": (0.0, 8.0), "tanh": (-12.0, 12.0), "sigmoid": (-110.0, 40.0)}
_RANGE64 = {"exp": (-760.0, 720.0), "log": (0.0, 8.0), "tanh": (-25.0, 25.0), "sigmoid": (-760.0, 60.0)}


def dense_points(name, dtype, n, seed=20260522):
    """About ``n`` sample points of ``dtype``: uniform, log-spaced over the whole range, thresholds, specials."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    with np.errstate(over="ignore"):
        return _dense_points(name, dtype, n, rng, info)


def _dense_points(name, dtype, n, rng, info):
    lo, hi = (_RANGE if dtype == np.float32 else _RANGE64)[name]
    smallest = float(info.smallest_subnormal)
    magnitudes = np.geomspace(smallest, float(info.max), n // 4)
    parts = [
        rng.uniform(lo, hi, n // 4),
        rng.uniform(-1.0, 1.0, n // 8),
        magnitudes, -magnitudes,
        _neighbours(dtype, _CENTRES[dtype], 1000),
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, smallest, -smallest]),
    ]
    if name == "log":  # log's reduction works on the mantissa: uniform mantissas, every exponent
        parts.append(np.ldexp(rng.uniform(1.0, 2.0, n // 8), rng.integers(info.minexp - info.nmant, info.maxexp - 1, n // 8)))
    return np.concatenate([p.astype(dtype) for p in parts])


# --------------------------------------------------------------------------
# accuracy over dense samples
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_dense(name):
    """About a million float32 points across the range, within MAX_ULP of float64 NumPy; specials exact."""
    x = dense_points(name, np.float32, 1 << 20)
    err, mismatch = errors(name, x)
    _assert_within(name, x, err, mismatch)


@pytest.mark.parametrize("name", NAMES)
def test_float64_dense(name):
    """About a million float64 points across the range, within MAX_ULP of long double; specials exact."""
    _skip_without_float64_reference()
    x = dense_points(name, np.float64, 1 << 20 if LONG_DOUBLE else 1 << 13)
    err, mismatch = errors(name, x)
    _assert_within(name, x, err, mismatch)


@settings(max_examples=300, deadline=None, database=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), name=st.sampled_from(NAMES))
def test_float64_hypothesis(x, name):
    """Any float64 (hypothesis favours edges: 0, subnormals, huge, inf, nan) is within MAX_ULP, specials exact."""
    _skip_without_float64_reference()
    xs = np.array([x])
    err, mismatch = errors(name, xs)
    _assert_within(name, xs, err, mismatch)


# --------------------------------------------------------------------------
# special values, thresholds, symmetry
# --------------------------------------------------------------------------

def _one(name, dtype, value):
    return ours(name, np.array([value], dtype=dtype))[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_special_values(dtype):
    """IEEE special cases, exactly, with the sign of zero where it matters."""
    f = lambda name, v: _one(name, dtype, v)  # noqa: E731
    tiny = np.finfo(dtype).smallest_subnormal
    assert f("exp", 0.0) == 1 and f("exp", -0.0) == 1
    assert f("exp", np.inf) == np.inf and f("exp", -np.inf) == 0 and np.isnan(f("exp", np.nan))
    assert f("exp", np.finfo(dtype).max) == np.inf and f("exp", -np.finfo(dtype).max) == 0
    assert f("log", 1.0) == 0 and f("log", np.inf) == np.inf
    assert f("log", 0.0) == -np.inf and f("log", -0.0) == -np.inf
    assert np.isnan(f("log", -tiny)) and np.isnan(f("log", -1.0)) and np.isnan(f("log", -np.inf))
    assert np.isnan(f("log", np.nan))
    for v in (0.0, -0.0, tiny, -tiny):
        t = f("tanh", v)
        assert t == v and np.signbit(t) == np.signbit(v)
    assert f("tanh", np.inf) == 1 and f("tanh", -np.inf) == -1 and np.isnan(f("tanh", np.nan))
    assert f("tanh", 50.0) == 1 and f("tanh", -50.0) == -1
    assert f("sigmoid", 0.0) == 0.5 and f("sigmoid", -0.0) == 0.5
    assert f("sigmoid", np.inf) == 1 and f("sigmoid", -np.inf) == 0 and np.isnan(f("sigmoid", np.nan))
    for name in NAMES:
        assert type(f(name, 0.5)) is np.dtype(dtype).type


def _rounded_exp(dtype, x):
    """The reference exp(x) rounded to ``dtype`` (0, a subnormal, a normal number or inf)."""
    with np.errstate(all="ignore"):
        if dtype == np.float32:
            return np.float32(np.exp(np.float64(x)))
        return np.float64(np.exp(np.longdouble(x)))


def _last(dtype, x, holds):
    """The largest float of ``dtype`` where ``holds`` is true, searched from ``x`` (at most 64 steps away)."""
    up, down = dtype(np.inf), dtype(-np.inf)
    for _ in range(64):
        if not holds(np.nextafter(x, up)):
            break
        x = np.nextafter(x, up)
    for _ in range(64):
        if holds(x):
            return x
        x = np.nextafter(x, down)
    raise AssertionError("threshold not found near the start")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_exp_thresholds(dtype):
    """exp overflows to inf, and underflows to the smallest subnormal and then 0, exactly where the reference does."""
    if dtype == np.float64 and not LONG_DOUBLE:
        pytest.skip("the float64 thresholds need a long double with a 64-bit mantissa")
    info = np.finfo(dtype)
    two = np.longdouble(2)
    # exp(x) rounds to inf from max + ulp(max) / 2 = 2**emax (2 - 2**-(p+1)) on, and to 0 up to half the smallest subnormal
    overflow = np.log(two ** (info.maxexp - 1) * (2 - two ** -(info.nmant + 1)))
    underflow = np.log(np.longdouble(info.smallest_subnormal) / 2)
    last_finite = _last(dtype, dtype(overflow), lambda x: np.isfinite(_rounded_exp(dtype, x)))
    last_zero = _last(dtype, dtype(underflow), lambda x: _rounded_exp(dtype, x) == 0)
    for x in (last_finite, np.nextafter(last_finite, dtype(np.inf)), last_zero, np.nextafter(last_zero, dtype(0))):
        assert _one("exp", dtype, x) == _rounded_exp(dtype, x), f"exp({x!r})"
    assert _one("exp", dtype, np.nextafter(last_zero, dtype(0))) == info.smallest_subnormal


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_tanh_is_odd_and_sigmoid_symmetric(dtype):
    """tanh(-x) == -tanh(x) bit for bit; sigmoid(x) + sigmoid(-x) == 1 within rounding."""
    x = dense_points("tanh", dtype, 1 << 16)
    x = x[~np.isnan(x)]
    t, tm = ours("tanh", x), ours("tanh", -x)
    assert np.array_equal(tm, -t)
    s = ours("sigmoid", x) + ours("sigmoid", -x)
    assert np.all(np.abs(s.astype(np.float64) - 1) <= 4 * np.finfo(dtype).eps)


# --------------------------------------------------------------------------
# how they compile: loops, vector kernels, the disk cache
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_vectorised_loop_equals_scalar_calls(name, dtype):
    """A vectorised loop, the scalar function called per element, and a vector kernel's loop give the same bits.

    The vector kernel is compiled with reassociation and without reference
    counting, as the feature-major step: vmath's own options must win there
    (a reassociated range reduction would lose accuracy), and the explicit
    multiply-adds must fuse the same way in vector and scalar code.
    """
    x = dense_points(name, dtype, 1 << 12)
    vector = ours(name, x)
    scalar = np.array([_scalar(CODE[name], v) for v in x], dtype=dtype)
    in_vector_kernel = np.empty_like(x)
    _apply_vector(CODE[name], x, in_vector_kernel)
    assert vector.view(f"u{x.itemsize}").tolist() == scalar.view(f"u{x.itemsize}").tolist()
    assert vector.view(f"u{x.itemsize}").tolist() == in_vector_kernel.view(f"u{x.itemsize}").tolist()


def test_loops_vectorise():
    """The compiled loop over float32 and float64 arrays is vectorised (LLVM vector types) and calls no libm function."""
    for dtype in (np.float32, np.float64):
        x = np.ones(8, dtype)
        for name in NAMES:
            ours(name, x)
        element = numba.from_dtype(np.dtype(dtype))
        sig = [s for s in _apply.signatures if s[1].dtype == element][0]
        llvm_ir = _apply.inspect_llvm(sig)
        kind = "float" if dtype == np.float32 else "double"
        # the polynomials' multiply-adds on vectors: llvm.fmuladd.v8f32 and the like
        assert re.search(rf"@llvm\.fmuladd\.v\d+f{8 * x.itemsize}", llvm_ir), f"{kind}: no vector arithmetic"
        assert not re.search(r"call [^\n]*@(llvm\.)?(exp|log|tanh)", llvm_ir), f"{kind}: a libm call is left"


def test_kernel_calling_them_is_loaded_from_the_disk_cache(tmp_path):
    """A ``cache=True`` kernel that calls the functions is compiled once, then loaded by a second process."""
    module = tmp_path / "vmath_cache_probe.py"
    module.write_text(textwrap.dedent("""
        import numba, numpy as np
        from fastnn.kernels import vmath

        @numba.njit(cache=True, error_model="numpy")
        def probe(x, out):
            for i in range(x.shape[0]):
                out[i] = vmath.sigmoid(vmath.tanh(vmath.log(vmath.exp(x[i]))))

        if __name__ == "__main__":
            for dtype in (np.float32, np.float64):
                x = np.linspace(-3, 3, 7).astype(dtype)
                out = np.empty_like(x)
                probe(x, out)
                print(out.tobytes().hex())
            print(len(probe.stats.cache_hits), len(probe.stats.cache_misses))
    """))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    runs = [subprocess.run([sys.executable, str(module)], capture_output=True, text=True, env=env, timeout=300,
                           cwd=tmp_path) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.split() for run in runs)
    assert first[-2:] == ["0", "2"], "first process: both signatures compiled"
    assert second[-2:] == ["2", "0"], "second process: both signatures loaded from the cache, none compiled"
    assert first[:-2] == second[:-2]


# --------------------------------------------------------------------------
# every float32 input (slow)
# --------------------------------------------------------------------------

_INF = np.inf
# 2**(e - 1023) for a float64 biased exponent e (ulps of float32 results, from the reference's exponent bits)
with np.errstate(over="ignore"):
    _POW2 = np.ldexp(1.0, np.arange(2048) - 1023)


@numba.njit(error_model="numpy", cache=False)
def _reference32_at(code, v):
    """The float64 value of function ``code`` at ``v`` (a float32 widened), by libm where it is not known exactly.

    Beyond these windows the float32 result is known without libm: exp(v) is
    inf above 89 and rounds to 0 below -104 (exp(-103.98) is half the smallest
    subnormal); tanh(v) rounds to +-1 for |v| >= 9.1 (1 - tanh < 2.5e-8 <
    2**-25) and to v for |v| <= 2**-13 (relative change below v**2 / 3 <
    2**-25); sigmoid(v) rounds to 1 above 18 (e**-18 < 2**-25) and to 0 below
    -104 (sigmoid(v) < e**v); log of a negative number is nan.
    """
    if v != v:
        return v
    if code == 0:
        if v > 89.0:
            return _INF
        if v < -104.0:
            return 0.0
        return np.exp(v)
    if code == 1:
        return np.nan if v < 0.0 else np.log(v)
    if code == 2:
        a = abs(v)
        if a >= 9.1:
            return 1.0 if v > 0.0 else -1.0
        if a <= 2.0**-13:
            return v
        return np.tanh(v)
    if v > 18.0:
        return 1.0
    if v < -104.0:
        return 0.0
    return 1.0 / (1.0 + np.exp(-v))


@numba.njit(error_model="numpy", cache=False)
def _ordered(b):
    """Float32 bits as an integer that orders like the float (both zeros map to 0): distances count floats."""
    return np.int64(b) if b >= 0 else -np.int64(b & 0x7FFFFFFF)


@numba.njit(error_model="numpy", cache=False)
def _chunk32(code, first, size):
    """Over the float32 bit patterns ``first .. first + size - 1``: the largest ulp error, the largest distance
    (in floats) from the rounded reference, the number of wrong special values, and the worst pattern.

    Every pattern is evaluated by the vmath function (one vectorised loop
    over the chunk) and compared with the reference.
    """
    bits = np.empty(size, np.int32)
    for i in range(size):
        bits[i] = np.int32(np.uint32(first + i))
    x = bits.view(np.float32)
    got = np.empty(size, np.float32)
    _apply(code, x, got)
    exact = np.empty(size)
    for i in range(size):
        exact[i] = _reference32_at(code, np.float64(x[i]))
    rounded = exact.astype(np.float32)
    exact_bits = exact.view(np.int64)
    got_bits = got.view(np.int32)
    rounded_bits = rounded.view(np.int32)
    max_err, max_dist, mismatches, worst = 0.0, 0, 0, np.int32(0)
    for i in range(size):
        g, r = got[i], rounded[i]
        if np.isfinite(g) and np.isfinite(r):
            ulp = _POW2[max(((exact_bits[i] >> 52) & 0x7FF) - 23, 1023 - 149)]
            err = abs(np.float64(g) - exact[i]) / ulp
            max_dist = max(max_dist, abs(_ordered(got_bits[i]) - _ordered(rounded_bits[i])))
            if err > max_err:
                max_err = err
                worst = bits[i] if mismatches == 0 else worst
        elif not ((np.isnan(g) and np.isnan(r)) or g == r):
            mismatches += 1
            worst = bits[i]
    return max_err, max_dist, mismatches, worst


@numba.njit(parallel=True, error_model="numpy", cache=False)
def sweep32(code, log2_chunk=16):
    """:func:`_chunk32` over all 2**32 float32 bit patterns, in chunks of ``2**log2_chunk``, chunks side by side.

    Chunks of 2**16 keep each chunk's arrays in the L2 cache (2**20 took
    twice as long, mostly in page faults).
    """
    size = 1 << log2_chunk
    n_chunks = 1 << (32 - log2_chunk)
    max_err = np.zeros(n_chunks)
    max_dist = np.zeros(n_chunks, np.int64)
    mismatches = np.zeros(n_chunks, np.int64)
    worst = np.zeros(n_chunks, np.int32)
    for c in numba.prange(n_chunks):
        max_err[c], max_dist[c], mismatches[c], worst[c] = _chunk32(code, c * size, size)
    return max_err, max_dist, mismatches, worst


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_float32_exhaustive(name):
    """Every float32 input (2**32 bit patterns): within MAX_ULP of the reference, special values exact.

    About 20-30 s per function on two cores.
    """
    max_err, max_dist, mismatches, worst = sweep32(CODE[name])
    chunk = int(np.argmax(mismatches)) if mismatches.any() else int(np.argmax(max_err))
    x = np.array([worst[chunk]], np.int32).view(np.float32)[0]
    assert mismatches.sum() == 0, f"{name}: {mismatches.sum()} wrong special values, e.g. at {x!r}"
    assert max_err.max() <= MAX_ULP[name], f"{name}({x!r}): {max_err.max():.3f} ulp"
    assert max_dist.max() <= MAX_ULP[name], f"{name}: {max_dist.max()} floats from the rounded reference"
