"""Elementary functions that LLVM can vectorise: exp, log, tanh and sigmoid for compiled kernels.

Numba's pip build has no SVML, so ``np.exp`` (``np.log``, ``np.tanh``) in a
kernel loop is a scalar libm call and the loop around it never vectorises.
The functions here are plain arithmetic on float32 or float64 scalars: range
reduction, a polynomial, and exponent-bit manipulation through two small
LLVM intrinsics, with every special case (nan, infinities, overflow,
underflow, zero, subnormals) handled by selects instead of early returns.
Inlined by LLVM into a loop, the loop body stays branch-free and vectorises
(on the AVX-512 CI machine LLVM picks 256-bit vectors: 8 float32 or 4
float64 lanes, with FMA).

Call them from any fastnn kernel (NRT-free and vector kernels included) as
``vmath.exp(v)``, ``vmath.log(v)``, ``vmath.tanh(v)``, ``vmath.sigmoid(v)``
after ``from fastnn.kernels import vmath``.  The argument must be a float32
or a float64 scalar, and the result has its type: float32 is computed in
float32 with float32 polynomials.  From plain Python they raise
``NotImplementedError`` (compiled code only).

Accuracy (measured by ``tests/kernels/test_vmath.py``, docs/design.md,
"Vectorisable elementary functions"): exp and log within 2 ulp of the
correctly rounded result over the whole range, tanh and sigmoid within 3 ulp,
correct at nan, +-inf, the overflow and underflow thresholds and on
subnormal inputs and outputs; tanh(+-0) = +-0.

How they are compiled: each public function is a ``numba.extending.overload``
whose implementation is chosen by the argument's type (``_exp32`` or
``_exp64`` ...).  Numba compiles an implementation once per process and
caller flag set, as a separate function that the caller links; LLVM inlines
it into the caller's loop (``forceinline``).  Numba-IR inlining
(``inline="always"``) types and lowers the body again at every call site:
it took 2-3 times longer to compile a loop calling exp or tanh.  The implementations set their own options
(:data:`_OPTIONS`) rather than inherit the caller's: under a vector kernel's
``reassoc``, LLVM could rewrite the two-constant range reduction
``(x - n * ln2_hi) - n * ln2_lo`` as ``x - n * ln2`` and lose the accuracy.
The caller's compiled code (and so the disk cache of a ``cache=True`` kernel)
contains the inlined functions; like every callee in another file, an edit
here does not invalidate a cached caller (delete ``fastnn/**/__pycache__``).

The methods are the textbook ones (Cody-Waite reduction, Cephes and fdlibm
polynomial coefficients, used as published constants); the code is fastnn's.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from fastnn.config import JIT_OPTIONS

#: Compiler options of the implementations, fixed here rather than inherited from each caller:
#: the configured error model (``numpy``: a division by zero gives inf instead of raising, so the
#: divisions stay branch-free), no bounds checks, ``fastmath`` set explicitly to fastnn's value
#: (``False``) so that a ``reassoc`` caller cannot reorder the range reductions, and ``forceinline``
#: (LLVM's ``alwaysinline``): by its own cost model LLVM kept tanh (exp inlined into it) a call,
#: and a call in a loop body stops the loop from vectorising.
_OPTIONS = {
    "error_model": JIT_OPTIONS["error_model"],
    "boundscheck": JIT_OPTIONS["boundscheck"],
    "fastmath": JIT_OPTIONS["fastmath"],
    "forceinline": True,
}

# --------------------------------------------------------------------------
# exponent-bit intrinsics
# --------------------------------------------------------------------------

# For each float type: mantissa bits, exponent bias, and bits of sqrt(1/2) (the lower end of log's
# reduced mantissa range [sqrt(1/2), sqrt(2))).
_LAYOUT = {
    types.float32: (23, 127, 0x3F3504F3, ir.IntType(32)),
    types.float64: (52, 1023, 0x3FE6A09E667F3BCD, ir.IntType(64)),
}
_I32 = ir.IntType(32)


@intrinsic
def _madd(typingctx, a, b, c):
    """``a * b + c``, fused into one FMA where the CPU has one (``llvm.fmuladd``).

    Explicit rather than ``fastmath={"contract"}``: LLVM then fuses exactly
    these operations, the same way in the scalar and the vectorised copy of a
    loop, so a kernel's results do not depend on which copy ran an element.
    Without FMA hardware it is a multiply and an add (never a libm call).
    """
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(args[0].type, [args[0].type] * 3)
        name = "llvm.fmuladd.f32" if args[0].type == ir.FloatType() else "llvm.fmuladd.f64"
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), args)

    return a(a, b, c), codegen


@intrinsic
def _scale_by_pow2(typingctx, y, n):
    """``y * 2**n`` for an integral float ``n`` of the same type, rounded once, in two exact-range steps.

    ``n`` is split as ``n1 = floor(n / 2)``, ``n2 = n - n1``, and each factor
    ``2**n1``, ``2**n2`` is built from its exponent bits, so any ``n`` from
    about ``-2 * emax`` to ``2 * emax`` works: ``y * 2**n1`` is exact (normal)
    for the ``y`` near 1 that exp produces, and the second product rounds
    once, into a subnormal if the result is one, or overflows to inf.
    """
    if not (isinstance(y, types.Float) and y == n and y in _LAYOUT):
        return None
    mbits, bias, _, int_type = _LAYOUT[y]

    def codegen(context, builder, sig, args):
        value, count = args
        # through int32: the packed float64 <-> int32 conversions exist on every x86 vector ISA
        k = builder.fptosi(count, _I32)
        k1 = builder.ashr(k, ir.Constant(_I32, 1))
        k2 = builder.sub(k, k1)

        def power(e):
            biased = builder.add(e, ir.Constant(_I32, bias))
            if int_type.width != 32:
                biased = builder.sext(biased, int_type)
            return builder.bitcast(builder.shl(biased, ir.Constant(int_type, mbits)), value.type)

        return builder.fmul(builder.fmul(value, power(k1)), power(k2))

    return y(y, n), codegen


@intrinsic
def _split_mantissa(typingctx, x):
    """``(m, k)`` with ``x = m * 2**k``, ``m`` in ``[sqrt(1/2), sqrt(2))``, ``k`` integral, for a positive normal ``x``.

    Subtracting the bits of sqrt(1/2) moves the exponent boundary to
    sqrt(1/2): the arithmetic shift of the difference is ``k``, and its low
    mantissa bits added back to sqrt(1/2)'s bits give ``m``.  Other inputs
    give meaningless values (callers select their results away).
    """
    if not (isinstance(x, types.Float) and x in _LAYOUT):
        return None
    mbits, _, sqrt_half_bits, int_type = _LAYOUT[x]

    def codegen(context, builder, sig, args):
        (value,) = args
        offset = ir.Constant(int_type, sqrt_half_bits)
        u = builder.sub(builder.bitcast(value, int_type), offset)
        k = builder.ashr(u, ir.Constant(int_type, mbits))
        if int_type.width != 32:
            k = builder.trunc(k, _I32)  # |k| < 2**11; packed int32 -> float64 exists on every vector ISA
        mantissa = builder.add(builder.and_(u, ir.Constant(int_type, (1 << mbits) - 1)), offset)
        m = builder.bitcast(mantissa, value.type)
        kf = builder.sitofp(k, value.type)
        return context.make_tuple(builder, sig.return_type, [m, kf])

    return types.UniTuple(x, 2)(x), codegen


# --------------------------------------------------------------------------
# constants (typed: a bare Python float would promote float32 arithmetic to float64)
# --------------------------------------------------------------------------

_F32, _F64 = np.float32, np.float64

_ONE32, _HALF32, _TWO32, _ZERO32 = _F32(1.0), _F32(0.5), _F32(2.0), _F32(0.0)
_ONE64, _HALF64, _TWO64, _ZERO64 = _F64(1.0), _F64(0.5), _F64(2.0), _F64(0.0)
_INF32, _NAN32 = _F32(np.inf), _F32(np.nan)
_INF64, _NAN64 = _F64(np.inf), _F64(np.nan)

# exp: inputs are clamped to [LO, HI] before the reduction (keeps n in the range of _scale_by_pow2);
# exp(HI) overflows to inf and exp(LO) rounds to 0, so the clamp changes no result.
_EXP_HI32, _EXP_LO32 = _F32(89.0), _F32(-104.0)
_EXP_HI64, _EXP_LO64 = _F64(710.0), _F64(-746.0)
_LOG2E32, _LOG2E64 = _F32(1.4426950408889634), _F64(1.4426950408889634)
# x + 1.5 * 2**p - 1.5 * 2**p rounds x to an integer (p = mantissa bits) for |x| < 2**(p-1)
_ROUND32, _ROUND64 = _F32(12582912.0), _F64(6755399441055744.0)
# ln 2 = hi + lo, hi with enough trailing zero bits that n * hi is exact for every n used
_LN2_HI32, _LN2_LO32 = _F32(0.693359375), _F32(-2.12194440e-4)  # Cephes
_LN2_HI64, _LN2_LO64 = _F64(6.93147180369123816490e-01), _F64(1.90821492927058770002e-10)  # fdlibm

# exp(r) = 1 + r + r**2 * P(r) on |r| <= ln(2)/2: float32, Cephes expf's minimax coefficients ...
(_P5_32, _P4_32, _P3_32, _P2_32, _P1_32, _P0_32) = tuple(_F32(c) for c in (
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
# ... float64, Taylor's 1/k! up to r**13 (truncation error below 0.05 ulp at |r| = ln(2)/2)
(_E13, _E12, _E11, _E10, _E9, _E8, _E7, _E6, _E5, _E4, _E3, _E2) = (
    _F64(1.0 / 6227020800.0), _F64(1.0 / 479001600.0), _F64(1.0 / 39916800.0), _F64(1.0 / 3628800.0),
    _F64(1.0 / 362880.0), _F64(1.0 / 40320.0), _F64(1.0 / 5040.0), _F64(1.0 / 720.0), _F64(1.0 / 120.0),
    _F64(1.0 / 24.0), _F64(1.0 / 6.0), _F64(0.5))

# log: inputs below the smallest normal are scaled up by 2**SUB first
_TINY32, _SUB32, _SUBK32 = _F32(np.finfo(np.float32).tiny), _F32(2.0**24), _F32(24.0)
_TINY64, _SUB64, _SUBK64 = _F64(np.finfo(np.float64).tiny), _F64(2.0**54), _F64(54.0)
# log(1 + f) = f - f**2/2 + f**3 * Q(f) on f in [sqrt(1/2) - 1, sqrt(2) - 1]: Cephes logf
(_L8, _L7, _L6, _L5, _L4, _L3, _L2, _L1, _L0) = tuple(_F32(c) for c in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
# log(1 + f) = 2 atanh(s), s = f / (2 + f): fdlibm's Lg1..Lg7 for the series in s**2
(_LG1, _LG2, _LG3, _LG4, _LG5, _LG6, _LG7) = tuple(_F64(c) for c in (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
    1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01))

# tanh: below this |x| a polynomial (float32) or rational function (float64), above 1 - 2 / (exp(2|x|) + 1)
_TANH_SMALL32, _TANH_SMALL64 = _F32(0.625), _F64(0.625)
# tanh(x) = x + x**3 * T(x**2) on |x| < 0.625: Cephes tanhf
(_T4, _T3, _T2, _T1, _T0) = tuple(_F32(c) for c in (
    -5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1))
# tanh(x) = x + x**3 * P(x**2) / Q(x**2) on |x| < 0.625: Cephes tanh (Q's leading coefficient is 1)
(_TP2, _TP1, _TP0) = tuple(_F64(c) for c in (
    -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3))
(_TQ2, _TQ1, _TQ0) = tuple(_F64(c) for c in (
    1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3))


# --------------------------------------------------------------------------
# implementations, one per dtype (compiled only through the overloads below)
# --------------------------------------------------------------------------

def _exp32(x):
    # clamp first (a nan goes to HI here and is put back at the end), so n stays small
    c = x if x < _EXP_HI32 else _EXP_HI32
    c = c if c > _EXP_LO32 else _EXP_LO32
    n = _madd(c, _LOG2E32, _ROUND32) - _ROUND32
    rh = _madd(n, -_LN2_HI32, c)  # exact: n * hi is exact and c - n * hi loses nothing
    rl = n * -_LN2_LO32
    r = rh + rl
    p = _madd(_madd(_madd(_madd(_madd(_P5_32, r, _P4_32), r, _P3_32), r, _P2_32), r, _P1_32), r, _P0_32)
    # 1 + rh = s + t exactly (Fast2Sum, |rh| < 1), so the only large rounding is the last addition
    s = _ONE32 + rh
    t = (_ONE32 - s) + rh
    y = s + (t + _madd(r * r, p, rl))
    y = _scale_by_pow2(y, n)
    return y if x == x else x


def _exp64(x):
    c = x if x < _EXP_HI64 else _EXP_HI64
    c = c if c > _EXP_LO64 else _EXP_LO64
    n = _madd(c, _LOG2E64, _ROUND64) - _ROUND64
    rh = _madd(n, -_LN2_HI64, c)
    rl = n * -_LN2_LO64
    r = rh + rl
    p = _madd(_madd(_madd(_madd(_E13, r, _E12), r, _E11), r, _E10), r, _E9)
    p = _madd(_madd(_madd(_madd(p, r, _E8), r, _E7), r, _E6), r, _E5)
    p = _madd(_madd(_madd(p, r, _E4), r, _E3), r, _E2)
    s = _ONE64 + rh
    t = (_ONE64 - s) + rh
    y = s + (t + _madd(r * r, p, rl))
    y = _scale_by_pow2(y, n)
    return y if x == x else x


def _log32(x):
    sub = x < _TINY32  # subnormal (or zero or negative, selected away below): scale into the normal range
    m, k = _split_mantissa(x * _SUB32 if sub else x)
    k = k - _SUBK32 if sub else k
    f = m - _ONE32
    z = f * f
    q = _madd(_madd(_madd(_madd(_L8, f, _L7), f, _L6), f, _L5), f, _L4)
    q = _madd(_madd(_madd(_madd(q, f, _L3), f, _L2), f, _L1), f, _L0)
    y = _madd(f * z, q, k * _LN2_LO32)
    y = _madd(-_HALF32, z, y)
    y = _madd(k, _LN2_HI32, f + y)  # the large exact term last
    y = y if x < _INF32 else x + x  # +inf stays +inf, nan stays nan
    y = -_INF32 if x == _ZERO32 else y
    return _NAN32 if x < _ZERO32 else y


def _log64(x):
    sub = x < _TINY64
    m, k = _split_mantissa(x * _SUB64 if sub else x)
    k = k - _SUBK64 if sub else k
    f = m - _ONE64
    s = f / (_TWO64 + f)
    z = s * s
    w = z * z
    r = z * _madd(w, _madd(w, _madd(w, _LG7, _LG5), _LG3), _LG1) + w * _madd(w, _madd(w, _LG6, _LG4), _LG2)
    hfsq = _HALF64 * f * f
    # log(1 + f) = f - hfsq + s * (hfsq + R), arranged (as fdlibm) so the small terms are added first
    y = _madd(k, _LN2_HI64, f - (hfsq - _madd(s, hfsq + r, k * _LN2_LO64)))
    y = y if x < _INF64 else x + x
    y = -_INF64 if x == _ZERO64 else y
    return _NAN64 if x < _ZERO64 else y


def _tanh32(x):
    a = abs(x)
    small = a < _TANH_SMALL32
    z = x * x
    t = _madd(_madd(_madd(_madd(_T4, z, _T3), z, _T2), z, _T1), z, _T0)
    e = exp(a + a)  # inf for large |x|: then 2 / (e + 1) = 0 and the result is exactly +-1
    # one division for both branches: x**3 T / 1 (small |x|) or 2 / (e + 1) (large |x|)
    q = (x * z * t if small else _TWO32) / (_ONE32 if small else e + _ONE32)
    big = _ONE32 - q
    y = x + q if small else (big if x > _ZERO32 else -big)  # nan: -nan, still nan
    return x if x == _ZERO32 else y  # -0 + (+0) would be +0


def _tanh64(x):
    a = abs(x)
    small = a < _TANH_SMALL64
    z = x * x
    num = _madd(_madd(_TP2, z, _TP1), z, _TP0) * z * x
    den = _madd(_madd(z + _TQ2, z, _TQ1), z, _TQ0)
    e = exp(a + a)
    q = (num if small else _TWO64) / (den if small else e + _ONE64)
    big = _ONE64 - q
    y = x + q if small else (big if x > _ZERO64 else -big)
    return x if x == _ZERO64 else y


def _sigmoid32(x):
    e = exp(-abs(x))  # never overflows (docs/design.md, "Row helpers")
    return (_ONE32 if x >= _ZERO32 else e) / (_ONE32 + e)


def _sigmoid64(x):
    e = exp(-abs(x))
    return (_ONE64 if x >= _ZERO64 else e) / (_ONE64 + e)


# --------------------------------------------------------------------------
# public functions: stubs typed and implemented by the overloads
# --------------------------------------------------------------------------

def _compiled_only(name):
    raise NotImplementedError(f"fastnn.kernels.vmath.{name} is callable from compiled kernels only")


def exp(x):
    """Exponential, ``e**x``, for compiled kernels.

    Parameters
    ----------
    x : float32 or float64
        Any value, nan and infinities included.

    Returns
    -------
    float32 or float64
        Of the type of ``x``; within 2 ulp of the correctly rounded value,
        ``inf`` above the overflow threshold, subnormals and then ``0`` below
        the underflow threshold, ``nan`` for ``nan``.
    """
    _compiled_only("exp")


def log(x):
    """Natural logarithm for compiled kernels.

    Parameters
    ----------
    x : float32 or float64
        Any value; subnormals are handled exactly.

    Returns
    -------
    float32 or float64
        Of the type of ``x``; within 2 ulp of the correctly rounded value,
        ``-inf`` at ``+-0``, ``nan`` below zero and for ``nan``, ``inf`` at ``inf``.
    """
    _compiled_only("log")


def tanh(x):
    """Hyperbolic tangent for compiled kernels.

    Parameters
    ----------
    x : float32 or float64
        Any value.

    Returns
    -------
    float32 or float64
        Of the type of ``x``; within 3 ulp, odd, exactly ``+-0`` at ``+-0``
        and ``+-1`` for large ``|x|`` and at ``+-inf``; ``nan`` for ``nan``.
    """
    _compiled_only("tanh")


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))`` for compiled kernels, computed without overflow.

    Parameters
    ----------
    x : float32 or float64
        Any value.

    Returns
    -------
    float32 or float64
        Of the type of ``x``; within 3 ulp: ``exp(-|x|)`` then ``1 / (1 + e)``
        for ``x >= 0`` and ``e / (1 + e)`` below (the form of
        :func:`fastnn.kernels.activations.activate_row` and of the reference).
    """
    _compiled_only("sigmoid")


def _by_dtype(x, impl32, impl64):
    if x == types.float32:
        return impl32
    if x == types.float64:
        return impl64
    return None  # other argument types: Numba reports a typing error at the call


@overload(exp, jit_options=_OPTIONS)
def _exp_overload(x):
    return _by_dtype(x, _exp32, _exp64)


@overload(log, jit_options=_OPTIONS)
def _log_overload(x):
    return _by_dtype(x, _log32, _log64)


@overload(tanh, jit_options=_OPTIONS)
def _tanh_overload(x):
    return _by_dtype(x, _tanh32, _tanh64)


@overload(sigmoid, jit_options=_OPTIONS)
def _sigmoid_overload(x):
    return _by_dtype(x, _sigmoid32, _sigmoid64)
