"""Crash fuzzing: hostile inputs to every public entry point never crash fastnn (issue 7, point 1).

Hypothesis generates calls to every public entry point -- each function of
:mod:`fastnn.kernels` and :mod:`fastnn.reference`, ``Dense``/``Sequential``
construction, ``fit``/``predict``/``evaluate``/``set_weights``, the
scikit-learn estimators, and :func:`fastnn.load` on damaged and hand-crafted
files -- with random shapes (0-sized and mismatched ones included), every
numeric dtype plus object and string arrays, non-contiguous, transposed,
negative-stride and read-only views, aliased outputs, NaN, inf, huge and
denormal values, and wrong hyper-parameters (negative, NaN, huge, strings,
None, ...).  Most calls start valid and get zero to two *mutations*, so the
kernels do run on odd-but-valid inputs as well as being called badly.

Each call runs in a child process (``tests/fuzz_worker.py``), which
classifies it as ``ok`` (returned, with the right shapes/dtypes and, for
kernel functions, the same result as the reference backend on the same
inputs), ``documented-error`` (a documented exception type whose message
names the argument), or ``bad``; a segfault or abort of the child is a
``crash``.  A test fails on anything but ``ok``/``documented-error``, with
a standalone reproducer in the message; the child is restarted after a
crash, so pytest itself never dies.

Profiles (selected with ``FASTNN_FUZZ_PROFILE``; registered here, not in
conftest.py, so the rest of the suite keeps hypothesis' defaults):

- ``quick`` (default, CI): about 1,300 deterministic examples
  (``derandomize=True``): ~15 s on 2 cores with a warm Numba cache, ~60 s cold.
- ``long``: about 47,000 random examples (``derandomize=False``), ~3 minutes::

      FASTNN_FUZZ_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider

Other switches: ``FASTNN_FUZZ_STATS=path.json`` writes the per-entry-point
counts; ``FASTNN_FUZZ_SURVEY=1`` records every distinct bad outcome (in the
stats file and the terminal summary) instead of failing at the first one,
to survey a tree; ``FASTNN_FUZZ_STRICT=1`` turns the known bugs of
:data:`KNOWN_BUGS` into failures too.
"""

from __future__ import annotations

import collections
import json
import os
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fuzz_worker as FW
from fuzz_worker import A, Alias, KernelCase, LoadCase, ModelCase, Obj, SelfTest, SklearnCase

# registries, read without importing the kernels in this process
from fastnn.activations import ACTIVATIONS, ALIASES, ELEMENTWISE_ACTIVATIONS
from fastnn.initializers import INITIALIZERS
from fastnn.losses import LOSSES

# --------------------------------------------------------------------------
# profiles and bookkeeping
# --------------------------------------------------------------------------

PROFILE = os.environ.get("FASTNN_FUZZ_PROFILE", "quick")
if PROFILE not in ("quick", "long"):
    raise ValueError(f"FASTNN_FUZZ_PROFILE must be quick or long, got {PROFILE!r}")
SURVEY = os.environ.get("FASTNN_FUZZ_SURVEY", "") not in ("", "0")
STRICT = os.environ.get("FASTNN_FUZZ_STRICT", "") not in ("", "0")
STATS_PATH = os.environ.get("FASTNN_FUZZ_STATS")

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]
settings.register_profile("fastnn-fuzz-quick", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
settings.register_profile("fastnn-fuzz-long", deadline=None, derandomize=False, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)


def fuzz_settings(quick: int, long: int) -> settings:
    """The active profile with this test's number of examples."""
    return settings(settings.get_profile(f"fastnn-fuzz-{PROFILE}"), max_examples=quick if PROFILE == "quick" else long)


#: Bugs found by this suite, reported, and not fixed yet: ``(entry-point regex, signature regex) -> what``.
#: A test that hits only these runs all its examples and is then marked xfail with the reasons;
#: any other bad outcome fails at once (``FASTNN_FUZZ_STRICT=1`` fails on these too).  Delete an
#: entry when its bug is fixed: a fixed bug stops matching, so a stale entry hides nothing else.
KNOWN_BUGS: dict[tuple[str, str], str] = {
    # empty: every bug this suite found is fixed; a regression fails.  Add (entry regex, signature
    # regex) -> reason here only for a reported, not yet fixed bug.
}

STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FINDINGS: dict[str, dict] = {}
KNOWN_HITS: dict[str, set] = collections.defaultdict(set)
WALL: dict[str, float] = collections.defaultdict(float)
MESSAGES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)  # documented errors seen


def _known(entry: str, result: FW.Result) -> str | None:
    if STRICT:
        return None
    for (entry_re, sig_re), reason in KNOWN_BUGS.items():
        if re.match(entry_re, entry) and re.match(sig_re, result.signature):
            return reason
    return None


def _record(entry: str, result: FW.Result, case) -> None:
    key = f"{entry} | {result.signature or result.kind}"
    if key not in FINDINGS:
        FINDINGS[key] = {"entry": entry, "kind": result.kind, "signature": result.signature,
                         "detail": result.detail[:3000], "reproducer": FW.reproducer(case), "count": 0}
    FINDINGS[key]["count"] += 1


@pytest.fixture(scope="module")
def worker():
    w = FW.Worker(timeout=120.0)
    yield w
    w.close()


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    lines = [f"fastnn fuzz ({PROFILE} profile): examples per entry point"]
    total = 0
    for entry in sorted(STATS):
        c = STATS[entry]
        n = sum(v for k, v in c.items() if not k.startswith("note:") and k != "known bug")
        total += n
        parts = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        lines.append(f"  {entry:42s} {n:6d}  ({parts}; {WALL[entry]:.1f} s)")
    lines.append(f"  {'total':42s} {total:6d}")
    if FINDINGS:
        lines.append("distinct bad outcomes:")
        for key, f in sorted(FINDINGS.items()):
            lines.append(f"  [{f['count']}x] {key}")
    if not (PROFILE == "long" or SURVEY or request.config.get_verbosity() > 0):
        lines = [f"fastnn fuzz ({PROFILE} profile): {total} examples, {len(FINDINGS)} distinct bad outcomes "
                 "(-v or FASTNN_FUZZ_PROFILE=long for the table)"]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    if STATS_PATH:
        with open(STATS_PATH, "w") as f:
            json.dump({"profile": PROFILE, "stats": {k: dict(v) for k, v in STATS.items()},
                       "wall_seconds": dict(WALL), "findings": FINDINGS,
                       "documented_errors": {k: dict(v.most_common()) for k, v in MESSAGES.items()}},
                      f, indent=1, default=str)


def check(worker: FW.Worker, entry: str, case) -> None:
    """Run ``case`` in the child; fail on a crash, a hang or a ``bad`` outcome."""
    started = time.perf_counter()
    result = worker.run(case)
    WALL[entry] += time.perf_counter() - started
    STATS[entry][result.kind] += 1
    for note in result.notes:
        STATS[entry][f"note: {note}"] += 1
    if result.kind == "documented-error":
        MESSAGES[entry][result.detail[:90]] += 1
    if not result.failed:
        return
    reason = _known(entry, result)
    _record(entry, result, case)
    if reason is not None:
        KNOWN_HITS[entry].add(reason)
        STATS[entry]["known bug"] += 1
        return
    if SURVEY:
        return
    raise AssertionError(
        f"{entry}: {result.kind} [{result.signature}]\n{result.detail}\n"
        f"--- reproducer ---\n{FW.reproducer(case)}"
    )


def run_fuzz(worker, entry: str, strategy, quick: int, long: int, examples=()) -> None:
    """Run ``strategy``'s cases (after the explicit ``examples``) through :func:`check`."""
    def fuzz(case):
        check(worker, entry, case)

    for case in reversed(list(examples)):
        fuzz = example(case=case)(fuzz)
    fuzz = fuzz_settings(quick, long)(given(case=strategy)(fuzz))
    fuzz()
    if KNOWN_HITS.get(entry):
        pytest.xfail("known bug(s) reported, not fixed yet: " + " | ".join(sorted(KNOWN_HITS[entry])))


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
# kernel functions
# --------------------------------------------------------------------------

ALL_ACTIVATIONS = tuple(ACTIVATIONS) + tuple(ALIASES)
HYPER = {
    "lr": st.sampled_from([0.1, 0.01, 0.0, 1.0, 1e-6, 10.0, -0.0]),
    "weight_decay": st.sampled_from([0.0, 0.01, 0.5]),
    "momentum": st.sampled_from([0.9, 0.0, 0.5, 0.999999]),
    "beta1": st.sampled_from([0.9, 0.0, 0.5, 1 - 1e-16]),
    "beta2": st.sampled_from([0.999, 0.0, 0.9, 1 - 1e-16]),
    "eps": st.sampled_from([1e-8, 1e-300, 1.0, 5e-324]),
    "step": st.sampled_from([1, 2, 3, 10, 1000, 10**6, 2**62]),
}


class Spec:
    """Argument structure of one kernel function (shape symbols: n, d, k; S = (k,) or (n, k); P = (k,) or (d, k))."""

    def __init__(self, inputs, outs=(), state=(), names=(), hyper=(), bools=(), optional_hyper=()):
        self.inputs, self.outs, self.state = list(inputs), list(outs), list(state)
        self.names, self.hyper, self.bools = dict(names), list(hyper), list(bools)
        self.optional_hyper = list(optional_hyper)

    @property
    def arrays(self):
        return [n for n, _ in self.inputs + self.state + self.outs]


_ACT = st.sampled_from(ALL_ACTIVATIONS)
_ELEM = st.sampled_from(ELEMENTWISE_ACTIVATIONS + ("logistic", "linear"))
_LOSS = st.sampled_from(tuple(LOSSES))
KSPECS = {
    "activation_forward": Spec([("z", "S")], outs=[("out", "S")], names={"activation": _ACT}),
    "activation_derivative": Spec([("a", "S")], outs=[("out", "S")], names={"activation": _ELEM}),
    "activation_backward": Spec([("a", "S"), ("grad_a", "S")], outs=[("out", "S")], names={"activation": _ACT}),
    "dense_forward": Spec([("x", "nd"), ("w", "dk"), ("b", "k")], outs=[("out", "nk")], names={"activation": _ACT}),
    "dense_backward": Spec([("x", "nd"), ("w", "dk"), ("a", "nk"), ("grad_a", "nk")],
                           outs=[("grad_w", "dk"), ("grad_b", "k"), ("grad_x", "nd")],
                           names={"activation": _ACT}, bools=["compute_grad_x"]),
    "sgd_update": Spec([("grad", "P")], state=[("param", "P")], hyper=["lr"], optional_hyper=["weight_decay"]),
    "momentum_update": Spec([("grad", "P")], state=[("param", "P"), ("velocity", "P")], hyper=["lr", "momentum"],
                            bools=["nesterov"], optional_hyper=["weight_decay"]),
    "adam_update": Spec([("grad", "P")], state=[("param", "P"), ("m", "P"), ("v", "P")], hyper=["step"],
                        optional_hyper=["lr", "beta1", "beta2", "eps", "weight_decay"]),
    "loss_value": Spec([("y_pred", "S"), ("y_true", "S")], names={"loss": _LOSS}),
    "output_delta": Spec([("y_pred", "S"), ("y_true", "S")], outs=[("out", "S")]),
}
for _loss, _spec in LOSSES.items():
    KSPECS[f"{_loss}_loss"] = Spec([("y_pred", "S"), ("y_true", "S")])
    KSPECS[f"{_loss}_grad" if _spec.output_activation is None else f"{_loss}_delta"] = Spec(
        [("y_pred", "S"), ("y_true", "S")], outs=[("out", "S")])
KERNEL_FUNCTIONS = sorted(KSPECS)

_DIM_N = st.sampled_from([3, 1, 2, 4, 7, 0, 16])
_DIM = st.sampled_from([3, 1, 2, 5, 8, 0])
_CONTENT_WEIGHTS = st.integers(0, 99)


def _content(draw, name: str) -> str:
    r = draw(_CONTENT_WEIGHTS)
    if r < 45:
        return {"y_true": "onehot", "y_pred": "prob", "a": "prob"}.get(name, "normal") if r < 20 else "normal"
    if r < 60:
        return "special"
    return draw(st.sampled_from(CONTENT))


def _shape(sym: str, dims: dict, one_d: bool) -> tuple:
    if sym == "S":
        return (dims["k"],) if one_d else (dims["n"], dims["k"])
    if sym == "P":
        return (dims["k"],) if one_d else (dims["d"], dims["k"])
    return tuple(dims[c] for c in sym)


MUTATIONS = ("dtype", "shape", "layout", "readonly", "alias", "scalar", "nonarray", "name", "specials")


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


NONARRAYS = [None, 3.0, "abc", [[1.0, 2.0], [3.0]], {}, b"x", True, Obj("object()"), Obj("np.float64(1.0)"),
             [[1.0, "a"]], [], [[]], Obj("np.ma.masked_array([[1.0, 2.0]], mask=[[0, 1]])"),
             Obj("np.matrix([[1.0, 2.0]])"), Obj("range(3)")]


def apply_mutation(draw, rng, m: str, args: dict, spec: Spec, function: str) -> None:
    arrays = [n for n in spec.arrays if isinstance(args.get(n), A)]
    if m in ("dtype", "shape", "layout", "readonly", "specials", "nonarray") and not arrays:
        return
    if m == "dtype":
        name = draw(st.sampled_from(arrays))
        spec_a = args[name]
        args[name] = A(convert(spec_a.data.astype(np.float64) if spec_a.data.dtype.kind in "fiub" else
                               rng.standard_normal(spec_a.data.shape), draw(any_dtypes)), spec_a.layout,
                       spec_a.readonly)
    elif m == "shape":
        name = draw(st.sampled_from(arrays))
        old = args[name]
        shape = _mutate_shape(draw, old.data.shape)
        args[name] = A(gen_data(rng, shape, "normal", old.data.dtype if old.data.dtype.kind == "f" else "float64"),
                       old.layout, old.readonly)
    elif m == "layout":
        name = draw(st.sampled_from(arrays))
        old = args[name]
        args[name] = A(old.data, draw(st.sampled_from(FW.LAYOUTS[1:])), old.readonly)
    elif m == "readonly":
        name = draw(st.sampled_from(arrays))
        old = args[name]
        args[name] = A(old.data, old.layout, True)
    elif m == "specials":
        name = draw(st.sampled_from(arrays))
        old = args[name]
        if old.data.dtype.kind == "f" and old.data.size:
            data = old.data.copy()
            flat = data.reshape(-1)
            idx = rng.integers(0, flat.size, size=int(rng.integers(1, flat.size + 1)))
            with np.errstate(all="ignore"):
                flat[idx] = np.array(rng.choice(specials(data.dtype), size=idx.size)).astype(data.dtype)
            args[name] = A(data, old.layout, old.readonly)
    elif m == "nonarray":
        name = draw(st.sampled_from(arrays))
        args[name] = draw(st.sampled_from(NONARRAYS))
    elif m == "alias":
        writable = [n for n, _ in spec.outs + spec.state]
        if not writable:
            return
        dst = draw(st.sampled_from(writable))
        src_choices = [n for n in spec.arrays if n != dst and isinstance(args.get(n), A)]
        if not src_choices:
            return
        src = draw(st.sampled_from(src_choices))
        how = draw(st.sampled_from(["same", "view", "shift", "T"]))
        if how == "shift":
            old = args[src]
            args[src] = A(old.data, "pad", old.readonly)
        # aliases refer to arguments made before them: put the alias last
        args.pop(dst, None)
        args[dst] = Alias(src, how, readonly=draw(st.integers(0, 9)) == 9)
    elif m == "scalar":
        names = spec.hyper + spec.optional_hyper + spec.bools
        if not names:
            return
        name = draw(st.sampled_from(names))
        pool = WEIRD_BOOLS if name in spec.bools else WEIRD_INTS if name == "step" else WEIRD_NUMBERS
        args[name] = draw(st.sampled_from(pool))
    elif m == "name":
        names = list(spec.names) or (["loss", "activation"] if function == "output_delta" else [])
        if names:
            args[draw(st.sampled_from(names))] = draw(st.sampled_from(WEIRD_NAMES + list(ALL_ACTIVATIONS)
                                                                      + list(LOSSES)))


@st.composite
def kernel_cases(draw, function: str) -> KernelCase:
    spec = KSPECS[function]
    rng = np.random.default_rng(draw(seeds))
    dims = {"n": draw(_DIM_N), "d": draw(_DIM), "k": draw(_DIM)}
    if draw(st.integers(0, 99)) >= 97:  # big enough for the parallel builds in "auto" mode
        dims = {"n": 300, "d": 64, "k": 257}
    one_d = draw(st.booleans()) if any(sym in ("S", "P") for _, sym in spec.inputs) else False
    dtype = draw(call_dtypes)
    args: dict = {}
    for name, sym in spec.state + spec.inputs:
        shape = _shape(sym, dims, one_d)
        content = "zeros" if name in ("velocity", "m", "v") and draw(st.booleans()) else _content(draw, name)
        if name == "v" and content not in ("zeros", "nan", "inf", "special"):
            content = "prob"  # Adam's second moment is >= 0
        layout = draw(st.sampled_from(FW.LAYOUTS[:6] + ("c",) * 12)) if name not in dict(spec.state) else "c"
        args[name] = A(gen_data(rng, shape, content, dtype), layout, readonly=draw(st.integers(0, 19)) == 19
                       and name not in dict(spec.state))
    for name, strat in spec.names.items():
        args[name] = draw(strat)
    if function == "output_delta":
        pairs = [(l, a) for l, s in LOSSES.items() for a in (ACTIVATIONS if s.output_activation is None
                                                              else (s.output_activation,))]
        args["loss"], args["activation"] = draw(st.sampled_from(pairs))
    for name in spec.hyper:
        args[name] = draw(HYPER[name])
    for name in spec.optional_hyper:
        if draw(st.booleans()):
            args[name] = draw(HYPER[name])
    for name in spec.bools:
        if draw(st.booleans()):
            args[name] = draw(st.booleans())
    for name, sym in spec.outs:
        if draw(st.integers(0, 9)) < 4:
            args[name] = A(np.full(_shape(sym, dims, one_d), 7, dtype=dtype), draw(st.sampled_from(["c", "pad"])))
    if function == "dense_backward" and args.get("compute_grad_x") is False and "grad_x" in args \
            and draw(st.integers(0, 3)):
        del args["grad_x"]
    for m in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        apply_mutation(draw, rng, m, args, spec, function)
    build = draw(st.sampled_from(["auto", "auto", "serial", "parallel"]))
    return KernelCase(function, args, build)


def _f(*shape, dtype="float64", value=None):
    rng = np.random.default_rng(sum(shape) + 7)
    return rng.standard_normal(shape).astype(dtype) if value is None else np.full(shape, value, dtype=dtype)


#: Explicit cases run before the random ones: the bugs this suite found, and the inputs the
#: issue names (0-sized, float16/int/object, read-only out/param, aliasing).
KERNEL_EXAMPLES = {
    "sgd_update": [
        KernelCase("sgd_update", {"param": A(_f(3)), "grad": A(_f(3)), "lr": 10**400}),
        KernelCase("sgd_update", {"param": A(_f(2, 3), readonly=True), "grad": A(_f(2, 3)), "lr": 0.1}),
        KernelCase("sgd_update", {"param": A(_f(2, 3), "step"), "grad": A(_f(2, 3)), "lr": 0.1}),
        KernelCase("sgd_update", {"param": A(_f(2, 3)), "grad": A(_f(2, 3)), "lr": float("nan")}),
        KernelCase("sgd_update", {"param": A(_f(0, 3)), "grad": A(_f(0, 3)), "lr": 0.1}),
        KernelCase("sgd_update", {"param": A(_f(4), "pad"), "grad": Alias("param", "shift"), "lr": 0.1}),
        KernelCase("sgd_update", {"param": Obj("np.ma.masked_array([[1.0, 2.0]], mask=[[0, 1]])"),
                                  "grad": A(np.array([[1.0, 2.0]])), "lr": 0.1}),
        KernelCase("sgd_update", {"param": Obj("np.matrix([[1.0, 2.0], [3.0, 4.0]])"),
                                  "grad": A(np.array([[10.0, 20.0], [30.0, 40.0]])), "lr": 0.1}),
    ],
    "adam_update": [
        KernelCase("adam_update", {"param": A(_f(3)), "grad": A(_f(3)), "m": A(_f(3, value=0)),
                                   "v": A(_f(3, value=0)), "step": 10**400}),
        KernelCase("adam_update", {"param": A(_f(3, dtype="float32")), "grad": A(_f(3, dtype="float32")),
                                   "m": A(_f(3, value=0, dtype="float32")), "v": Alias("m"), "step": 1}),
        KernelCase("adam_update", {"param": A(_f(2, 2), "T"), "grad": A(_f(2, 2)), "m": A(_f(2, 2, value=0)),
                                   "v": A(_f(2, 2, value=0)), "step": 1}),
        KernelCase("adam_update", {"param": Obj("np.matrix([[1.0, 2.0], [3.0, 4.0]])"), "grad": A(_f(2, 2)),
                                   "m": A(_f(2, 2, value=0)), "v": A(_f(2, 2, value=0)), "step": 1}),
    ],
    "momentum_update": [
        KernelCase("momentum_update", {"param": A(_f(3)), "grad": A(_f(3)), "velocity": A(_f(3), readonly=True),
                                       "lr": 0.1, "momentum": 0.9}),
        KernelCase("momentum_update", {"param": A(_f(3)), "grad": A(_f(3)), "velocity": A(_f(3)), "lr": -1.0,
                                       "momentum": 0.9}),
        KernelCase("momentum_update", {"param": Obj("np.matrix([[1.0, 2.0], [3.0, 4.0]])"), "grad": A(_f(2, 2)),
                                       "velocity": A(_f(2, 2, value=0)), "lr": 0.1, "momentum": 0.9}),
    ],
    "dense_forward": [
        KernelCase("dense_forward", {"x": A(_f(0, 3)), "w": A(_f(3, 2)), "b": A(_f(2)), "activation": "relu"}),
        KernelCase("dense_forward", {"x": A(_f(2, 3, dtype="float16")), "w": A(_f(3, 2)), "b": A(_f(2)),
                                     "activation": "relu"}),
        KernelCase("dense_forward", {"x": A(_f(2, 3)), "w": A(_f(3, 2)), "b": A(_f(2)), "activation": "tanh",
                                     "out": A(_f(2, 2), readonly=True)}),
        KernelCase("dense_forward", {"x": A(_f(3, 3)), "w": A(_f(3, 3)), "b": A(_f(3)), "activation": "softmax",
                                     "out": Alias("x")}),
        KernelCase("dense_forward", {"x": A(_f(2, 3)), "w": A(_f(3, 0)), "b": A(_f(0)), "activation": "relu"}),
        KernelCase("dense_forward", {"x": A(_f(2, 3)), "w": A(_f(4, 2)), "b": A(_f(2)), "activation": "relu"}),
        KernelCase("dense_forward", {"x": A(_f(2, 3).astype(object)), "w": A(_f(3, 2)), "b": A(_f(2)),
                                     "activation": "relu"}),
    ],
    "dense_backward": [
        KernelCase("dense_backward", {"x": A(_f(2, 3)), "w": A(_f(3, 2)), "a": A(_f(2, 2)), "grad_a": A(_f(2, 2)),
                                      "activation": "relu", "grad_w": A(_f(3, 2), "pad"), "grad_b": A(_f(2)),
                                      "grad_x": A(_f(2, 3))}),
        KernelCase("dense_backward", {"x": A(_f(2, 3)), "w": A(_f(3, 2)), "a": A(_f(2, 2)), "grad_a": A(_f(2, 2)),
                                      "activation": "relu", "grad_w": Alias("w", "view")}),
    ],
    "activation_backward": [
        KernelCase("activation_backward", {"a": A(_f(2, 3)), "grad_a": None, "activation": "relu"}),
        KernelCase("activation_backward", {"a": A(_f(2, 3)), "grad_a": A(_f(2, 3)), "activation": "softmax",
                                           "out": Alias("grad_a")}),
    ],
    "activation_forward": [
        KernelCase("activation_forward", {"z": A(_f(2, 3)), "activation": "softmax", "out": Alias("z")}),
        KernelCase("activation_forward", {"z": A(_f(2, 3).astype("<U8")), "activation": "relu"}),
        KernelCase("activation_forward", {"z": A(np.arange(6).reshape(2, 3)), "activation": "relu"}),
        KernelCase("activation_forward", {"z": A(_f(0, 3)), "activation": "sigmoid"}),
    ],
    "mse_loss": [KernelCase("mse_loss", {"y_pred": A(_f(0, 3)), "y_true": A(_f(0, 3))})],
}


@pytest.mark.parametrize("function", KERNEL_FUNCTIONS)
def test_fuzz_kernel_function(worker, function):
    """fastnn.kernels.<f> and fastnn.reference.<f>: same validation, same results, no crash."""
    run_fuzz(worker, f"kernels+reference.{function}", kernel_cases(function), quick=40, long=1500,
             examples=KERNEL_EXAMPLES.get(function, ()))


# --------------------------------------------------------------------------
# the model API
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


_UNITS_BAD = [0, -1, 2.5, True, "3", None, Obj("np.int64(2)"), 10**400, Obj("np.float64(3.0)"), 2**40]
_LOSS_FOR = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy", "logistic":
             "binary_crossentropy", "exp": "poisson"}
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
            layout = draw(st.sampled_from(FW.LAYOUTS[1:]))
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


def _known_loss(loss) -> str:
    return loss if isinstance(loss, str) and loss in LOSSES else "mse"


def _targets(draw, rng, n: int, k: int, loss: str, mutate: bool = False) -> A:
    if loss == "categorical_crossentropy":
        if draw(st.booleans()):
            labels = rng.integers(0, k, n)
            if mutate and n:
                labels[0] = draw(st.sampled_from([k, -1, 10**6]))
            return A(labels.astype(draw(st.sampled_from(["int64", "int32", "uint8", "bool", "float64"]))))
        return _array_arg(draw, rng, (n, k), "onehot", "float64", mutate)
    if loss == "binary_crossentropy":
        return _array_arg(draw, rng, (n, k), "binary" if not mutate else draw(st.sampled_from(["prob", "normal"])),
                          mutate=mutate and draw(st.booleans()))
    if loss == "poisson":
        return _array_arg(draw, rng, (n, k), "counts" if not mutate else "normal",
                          mutate=mutate and draw(st.booleans()))
    shape = (n,) if k == 1 and draw(st.booleans()) else (n, k)
    return _array_arg(draw, rng, shape, mutate=mutate)


_OPT_BAD = ["rmsprop", "", 3, None, Obj("object()"), ["sgd"], ("SGD", {"lr": -1.0}), ("SGD", {"lr": float("nan")}),
            ("SGD", {"lr": 10**400}), ("Adam", {"beta1": 1.0}), ("SGD", {"momentum": 1.0}), ("SGD", {"nesterov": 1}),
            ("Adam", {"eps": 0.0}), ("SGD", {"lr": 1e300}), ("SGD", {"lr": "0.1"}), ("Adam", {"lr": None}),
            ("SGD", {"decay": -1.0}), ("SGD", {"weight_decay": float("inf")}), ("Adam", {"beta2": 2**64}),
            ("SGD", {"lr": Obj("Decimal('0.1')")}), ("SGD", {"momentum": Obj("np.float32('nan')")})]
_OPT_VALID = st.one_of(
    st.sampled_from([None, "sgd", "adam", "SGD", "Adam"]),
    st.builds(lambda lr, mom, nes, dec, wd: ("SGD", {"lr": lr, "momentum": mom, "nesterov": nes, "decay": dec,
                                                     "weight_decay": wd}),
              st.sampled_from([0.01, 0.1, 0.0]), st.sampled_from([0.0, 0.9, 0.5]), st.booleans(),
              st.sampled_from([0.0, 0.1]), st.sampled_from([0.0, 0.01])),
    st.builds(lambda lr, b1, b2, eps: ("Adam", {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps}),
              st.sampled_from([0.001, 0.01]), st.sampled_from([0.9, 0.0]), st.sampled_from([0.999, 0.5]),
              st.sampled_from([1e-8, 1e-300])),
)
FIT_KNOBS = ["X", "y", "loss", "optimizer", "epochs", "batch_size", "shuffle", "verbose", "patience", "min_delta",
             "threads", "validation_data", "backend", "dtype", "init"]
FIT_OPTIONS = {
    # (no huge-but-valid epoch counts: fit(epochs=10**12) is a valid request that would just run for ever)
    "epochs": (st.sampled_from([1, 2, 3, 0]), [-1, 1.5, None, "2", True, 2**62, 10**400, Obj("np.int64(2)")]),
    "batch_size": (st.sampled_from([None, 1, 2, 4, 100]), [0, -1, 2.5, "4", True, 10**400, Obj("np.int32(2)")]),
    "shuffle": (st.booleans(), [0, "yes", None, Obj("np.bool_(True)")]),
    "verbose": (st.sampled_from([0]), [-1, "1", 1.5, None, True]),
    "patience": (st.sampled_from([None, 0, 1, 2]), [-1, 1.5, "2", True]),
    "min_delta": (st.sampled_from([0.0, 0.1]), WEIRD_NUMBERS),
    "threads": (st.sampled_from([None, 1, 2]), [0, 3, -1, "2", 2.5, 10**400, True]),
}


def _fit_kwargs(draw, knobs: Knobs, rng, n: int, d: int, k: int, last_act: str) -> dict:
    loss = knobs("loss", st.just(_LOSS_FOR.get(last_act, "mse")), list(LOSSES) + WEIRD_NAMES)
    kw = {"X": _array_arg(draw, rng, (n, d), mutate=knobs.on("X")),
          "y": _targets(draw, rng, n, k, _known_loss(loss), mutate=knobs.on("y"))}
    if loss != "mse" or draw(st.booleans()):
        kw["loss"] = loss
    opt = knobs("optimizer", _OPT_VALID, _OPT_BAD)
    if opt is not None:
        kw["optimizer"] = opt
    for name, (valid, bad) in FIT_OPTIONS.items():
        if knobs.on(name) or draw(st.booleans()):
            kw[name] = knobs(name, valid, bad)
    if knobs.on("validation_data") or draw(st.integers(0, 3)) == 3:
        nv = draw(st.sampled_from([3, 1, 2]))
        if not knobs.on("validation_data") or draw(st.booleans()):
            kw["validation_data"] = (_array_arg(draw, rng, (nv, d), mutate=knobs.on("validation_data")),
                                     _targets(draw, rng, nv, k, _known_loss(loss)))
        else:
            kw["validation_data"] = draw(st.sampled_from([None, (), "xy", Obj("object()"), [1, 2, 3]])) or (
                _array_arg(draw, rng, (nv, d)),)
    return kw


@st.composite
def model_cases(draw, focus: str) -> ModelCase:
    rng = np.random.default_rng(draw(seeds))
    names = {"construct": ["units", "activation", "backend", "dtype", "init", "seed", "input_dim", "layers", "add"],
             "fit": FIT_KNOBS, "predict": ["X", "backend", "dtype"], "evaluate": ["X", "y", "loss", "dtype"],
             "set_weights": ["weights", "weights", "dtype"]}[focus]
    knobs = Knobs(draw, names)
    n_layers = draw(st.sampled_from([2, 1, 3]))
    layers, units = [], []
    for _ in range(n_layers):
        u = knobs("units", st.sampled_from([3, 1, 2, 5]), _UNITS_BAD) if draw(st.booleans()) else draw(
            st.sampled_from([3, 1, 2, 5]))
        act = knobs("activation", st.sampled_from(ALL_ACTIVATIONS), WEIRD_NAMES) if draw(st.booleans()) else draw(
            st.sampled_from(ALL_ACTIVATIONS))
        layers.append(("Dense", (u,), {"activation": act} if draw(st.integers(0, 4)) else {}))
        units.append(u)
    if knobs.on("layers"):
        layers = draw(st.sampled_from(["<omit>", [], None, 3, "dense", [None], [("Dense", (2,), {}), 1.5],
                                       (("Dense", (2,), {}),)]))
    d = draw(st.sampled_from([3, 1, 2, 4]))
    init: dict = {"seed": knobs("seed", st.integers(0, 2**31), [-1, 1.5, "1", 2**64, 10**400, True,
                                                                  Obj("np.int64(3)"), Obj("np.uint64(2**64 - 1)")])}
    init["backend"] = knobs("backend", st.sampled_from(["numba", "numpy"]), ["torch", None, 3, "Numba", ""])
    if knobs.on("dtype") or draw(st.booleans()):
        init["dtype"] = knobs("dtype", st.sampled_from(["float64", "float32", Obj("np.float32"),
                                                        Obj("np.dtype('f8')")]),
                              ["float16", "int32", 5, None, Obj("object"), "f4", Obj("np.complex64"), "",
                               Obj("np.dtype('>f8')"), Obj("np.longdouble")])
    if knobs.on("init") or draw(st.booleans()):
        init["init"] = knobs("init", st.sampled_from(INITIALIZERS), WEIRD_NAMES)
    built_by_init = knobs.on("input_dim") or draw(st.booleans())
    if built_by_init:
        init["input_dim"] = knobs("input_dim", st.just(d), [0, -1, 2.5, "3", True, 10**400, 2**40, Obj("np.int64(3)")])
    valid_units = all(isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= 5 for u in units)
    k = units[-1] if valid_units else 2
    last_act = layers[-1][2].get("activation", "identity") if isinstance(layers, list) and layers and isinstance(
        layers[-1], tuple) else "identity"
    last_act = last_act if isinstance(last_act, str) else "identity"
    n = draw(st.sampled_from([5, 1, 2, 3, 8, 20]))
    steps = []
    if focus == "construct":
        if knobs.on("add") or draw(st.integers(0, 3)) == 3:
            steps.append(("add", {"layer": knobs("add", st.just(("Dense", (2,), {})), [None, 3, "Dense",
                                                                                       ("Dense", (0,), {})])}))
        if draw(st.booleans()):
            steps.append(("predict", {"X": _array_arg(draw, rng, (n, d))}))
    elif focus == "fit":
        steps.append(("fit", _fit_kwargs(draw, knobs, rng, n, d, k, last_act)))
        if draw(st.integers(0, 3)) == 3:
            steps.append(("fit", _fit_kwargs(draw, Knobs(draw, FIT_KNOBS[:12], 1), rng, n, d, k, last_act)))
        if draw(st.integers(0, 4)) == 4:
            steps.append(("save_load", {}))
            steps.append(("predict", {"X": A(gen_data(rng, (2, d), "normal", "float64"))}))
    else:
        if not built_by_init or draw(st.integers(0, 3)) == 3:
            if draw(st.booleans()):
                loss = _LOSS_FOR.get(last_act, "mse")
                content = {"categorical_crossentropy": "onehot", "binary_crossentropy": "binary",
                           "poisson": "counts"}.get(loss, "normal")
                steps.append(("fit", {"X": A(gen_data(rng, (6, d), "normal", "float64")),
                                      "y": A(gen_data(rng, (6, k), content, "float64")), "loss": loss}))
            else:
                steps.append(("set_weights", {"weights": _weights(rng, d, units, draw, mutate=False)}))
        if focus == "predict":
            steps.append(("predict", {"X": _array_arg(draw, rng, (n, d), mutate=knobs.on("X"))}))
        elif focus == "evaluate":
            loss = knobs("loss", st.just(_LOSS_FOR.get(last_act, "mse")), list(LOSSES) + WEIRD_NAMES)
            kw = {"X": _array_arg(draw, rng, (n, d), mutate=knobs.on("X")),
                  "y": _targets(draw, rng, n, k, _known_loss(loss), mutate=knobs.on("y"))}
            if draw(st.booleans()) or loss != _LOSS_FOR.get(last_act, "mse"):
                kw["loss"] = loss
            steps.append(("evaluate", kw))
        elif focus == "set_weights":
            steps.append(("set_weights", {"weights": _weights(rng, d, units, draw, mutate=knobs.on("weights"))}))
            if draw(st.booleans()):
                steps.append(("predict", {"X": A(gen_data(rng, (n, d), "normal", "float64"))}))
    return ModelCase(layers, init, steps, entry=focus)


def _weights(rng, d: int, units: list, draw, mutate: bool):
    shapes = []
    fan_in = d
    for u in units:
        shapes += [(fan_in, u), (u,)]
        fan_in = u
    ws = [A(gen_data(rng, s, "normal", "float64")) for s in shapes]
    if not mutate:
        return ws
    how = draw(st.sampled_from(["drop", "extra", "shape", "dtype", "specials", "huge", "nonlist", "ragged",
                                "content", "layout", "tuple"]))
    if how == "drop" and ws:
        ws.pop(draw(st.integers(0, len(ws) - 1)))
    elif how == "extra":
        ws.append(A(np.ones(2)))
    elif how == "shape" and ws:
        i = draw(st.integers(0, len(ws) - 1))
        ws[i] = A(gen_data(rng, _mutate_shape(draw, shapes[i]), "normal", "float64"))
    elif how == "dtype" and ws:
        i = draw(st.integers(0, len(ws) - 1))
        ws[i] = A(convert(ws[i].data, draw(any_dtypes)))
    elif how in ("specials", "huge", "content") and ws:
        i = draw(st.integers(0, len(ws) - 1))
        content = {"specials": "special", "huge": "huge"}.get(how) or draw(st.sampled_from(CONTENT))
        ws[i] = A(gen_data(rng, shapes[i], content, draw(st.sampled_from(["float64", "float32", "int64"]))))
    elif how == "layout" and ws:
        i = draw(st.integers(0, len(ws) - 1))
        ws[i] = A(ws[i].data, draw(st.sampled_from(FW.LAYOUTS[1:])), draw(st.booleans()))
    elif how == "nonlist":
        return draw(st.sampled_from([None, 3, "ab", {}, Obj("object()"), Obj("np.ones(4)"), b"w"]))
    elif how == "ragged" and ws:
        ws[0] = [[1.0, 2.0], [3.0]]
    elif how == "tuple":
        return tuple(ws)
    return ws


_D2 = [("Dense", (2,), {"activation": "relu"}), ("Dense", (1,), {})]
_XY = {"X": A(_f(4, 3)), "y": A(_f(4, 1))}
MODEL_EXAMPLES = {
    "construct": [
        ModelCase([("Dense", (1,), {})], {"seed": 0, "dtype": 5}, []),
        ModelCase(3, {"seed": 0}, []),
        ModelCase([("Dense", (10**20,), {})], {"seed": 0, "input_dim": 1}, []),
        ModelCase([("Dense", (2**40,), {})], {"seed": 0, "input_dim": 2**20}, []),
        ModelCase([("Dense", (0,), {})], {"seed": 0}, []),
        ModelCase([("Dense", (2,), {"activation": "ReLU"})], {"seed": 0}, []),
    ],
    "fit": [
        ModelCase(_D2, {"seed": 0}, [("fit", dict(_XY, epochs=2**62, optimizer="adam"))]),
        ModelCase(_D2, {"seed": 0, "dtype": "float32"},  # a dead relu unit: m = v = 0, and eps is 0 in float32
                  [("fit", {"X": A(np.array([[1.0, 2.0], [3.0, 4.0]])), "y": A(np.array([1.0, 2.0])),
                            "optimizer": ("Adam", {"eps": 1e-300})})]),
        ModelCase(_D2, {"seed": 0}, [("fit", {"X": A(_f(4, 3, value=np.nan)), "y": A(_f(4, 1))})]),
        ModelCase([("Dense", (3,), {"activation": "relu"}), ("Dense", (2,), {}), ("Dense", (1,), {"activation":
                  "sigmoid"})], {"seed": 171983, "input_dim": 1},  # finite (clipped) loss, non-finite update
                  [("fit", {"X": A(np.array([[0.0], [-750.0], [-1.7976931348623157e308], [-0.62], [1e300]])),
                            "y": A(np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])), "loss": "binary_crossentropy"})]),
        ModelCase(_D2, {"seed": 0}, [("fit", dict(_XY, optimizer=("SGD", {"lr": 10**400})))]),
        ModelCase(_D2, {"seed": 0}, [("fit", {"X": A(_f(4, 3), readonly=True), "y": A(_f(4, 1), "step"),
                                              "epochs": 2, "batch_size": 3})]),
        ModelCase(_D2, {"seed": 0}, [("fit", {"X": A(_f(0, 3)), "y": A(_f(0, 1))})]),
        ModelCase(_D2, {"seed": 0}, [("fit", {"X": A(_f(4, 3).astype(object)), "y": A(_f(4, 1))})]),
    ],
    "set_weights": [
        ModelCase(_D2, {"seed": 0, "input_dim": 3}, [("set_weights", {"weights": 3})]),
        ModelCase(_D2, {"seed": 0, "input_dim": 3}, [("set_weights", {"weights": [[[1.0, 2.0], [3.0]], A(_f(2)),
                                                                                  A(_f(2, 1)), A(_f(1))]})]),
    ],
    "predict": [
        ModelCase(_D2, {"seed": 0, "input_dim": 3}, [("predict", {"X": A(_f(2, 3, value=np.inf))})]),
        ModelCase(_D2, {"seed": 0, "input_dim": 3}, [("predict", {"X": A(_f(2, 3), "T", readonly=True)})]),
    ],
}


@pytest.mark.parametrize("focus", ["construct", "fit", "predict", "evaluate", "set_weights"])
def test_fuzz_model_api(worker, focus):
    """Dense/Sequential construction, fit, predict, evaluate, set_weights: both backends, same outcome."""
    entry = {"construct": "Dense+Sequential"}.get(focus, f"Sequential.{focus}")
    run_fuzz(worker, entry, model_cases(focus), quick={"fit": 80}.get(focus, 50), long={"fit": 3000}.get(focus, 2000),
             examples=MODEL_EXAMPLES.get(focus, ()))


# --------------------------------------------------------------------------
# scikit-learn estimators
# --------------------------------------------------------------------------

SK_OPTIONS = {
    "hidden_layer_sizes": (st.sampled_from([(3,), (2,), (4, 3), ()]),
                           [(0,), (-1,), "3", None, (2.5,), [3], (10**400,), 0]),
    "max_iter": (st.sampled_from([2, 1, 3]), [0, -1, 2.5, None]),
    "activation": (st.sampled_from(["relu", "tanh", "logistic", "identity"]), ["softmax", "exp", "Relu", None, 3]),
    "solver": (st.sampled_from(["adam", "sgd", "lbfgs"]), ["Adam", None, "newton"]),
    "alpha": (st.sampled_from([1e-4, 0.0, 1.0]), [-1.0, float("nan"), float("inf"), "x", 1e300]),
    "batch_size": (st.sampled_from(["auto", 1, 3, 50]), [0, -1, 2.5, "1"]),
    "learning_rate": (st.sampled_from(["constant", "invscaling", "adaptive"]), ["optimal", None]),
    "learning_rate_init": (st.sampled_from([1e-3, 0.1]), [0.0, -1.0, float("nan"), 1e300]),
    "momentum": (st.sampled_from([0.9, 0.0]), [1.5, -0.1, float("nan")]),
    "nesterovs_momentum": (st.booleans(), ["yes", None]),
    "early_stopping": (st.booleans(), ["yes"]),
    "validation_fraction": (st.sampled_from([0.1, 0.5]), [0.0, 1.0, -0.1]),
    "n_iter_no_change": (st.sampled_from([10, 1]), [0, -1]),
    "shuffle": (st.booleans(), [None]),
    "tol": (st.sampled_from([1e-4, 0.0]), [-1.0, float("nan")]),
    "beta_1": (st.sampled_from([0.9]), [1.0, -0.1]),
    "epsilon": (st.sampled_from([1e-8]), [0.0, -1.0]),
    "max_fun": (st.sampled_from([15000, 1]), [0]),
    "n_threads": (st.sampled_from([None, 1, 2]), [0, 3, "2", 2.5, -1, True, 10**400]),
}


@st.composite
def sklearn_cases(draw, estimator: str) -> SklearnCase:
    rng = np.random.default_rng(draw(seeds))
    options = dict(SK_OPTIONS)
    if estimator == "MLPRegressor":
        options["loss"] = (st.sampled_from(["squared_error", "poisson"]), ["mse", None])
    knobs = Knobs(draw, list(options) + ["X", "X", "y", "X_test"])
    params = {"random_state": draw(st.integers(0, 3)), "max_iter": knobs("max_iter", *options.pop("max_iter")),
              "hidden_layer_sizes": knobs("hidden_layer_sizes", *options.pop("hidden_layer_sizes"))}
    for name, (valid, bad) in options.items():
        if knobs.on(name) or draw(st.integers(0, 9)) < 4:
            params[name] = knobs(name, valid, bad)
    n = draw(st.sampled_from([10, 30, 5, 3, 2, 1]))
    d = draw(st.sampled_from([3, 1, 2]))
    X = _array_arg(draw, rng, (n if not knobs.on("X") or draw(st.booleans()) else 0, d), mutate=knobs.on("X"))
    if knobs.on("X") and draw(st.integers(0, 4)) == 4 and X.data.ndim == 2 and X.data.dtype.kind in "fiub" \
            and X.data.dtype != np.float16:  # scipy.sparse has no float16
        X = A(X.data, "csr")
    if estimator == "MLPRegressor":
        content = "counts" if params.get("loss") == "poisson" else "normal"
        shape = draw(st.sampled_from([(n,), (n, 1), (n, 2)]))
        y = _array_arg(draw, rng, shape, content, "float64", mutate=knobs.on("y"))
        methods = ("predict",)
    else:
        kinds = ["int", "str", "bool", "float-int", "multilabel", "single"] + (
            ["float", "nan", "object-mixed", "2d-column"] if knobs.on("y") else [])
        kind = draw(st.sampled_from(kinds))
        labels = rng.integers(0, 3, n)
        if kind == "int":
            y = A(labels)
        elif kind == "str":
            y = A(np.array(["a", "b", "c"])[labels])
        elif kind == "bool":
            y = A(labels.astype(bool))
        elif kind == "float-int":
            y = A(labels.astype(np.float64))
        elif kind == "multilabel":
            y = A(rng.integers(0, 2, (n, 3)))
        elif kind == "single":
            y = A(np.zeros(n, dtype=np.int64))
        elif kind == "float":
            y = A(labels.astype(np.float64) / 2)
        elif kind == "nan":
            y = A(np.where(labels == 0, np.nan, labels.astype(np.float64)))
        elif kind == "object-mixed":
            y = A(np.array([1, "a", 2.5] * n, dtype=object)[:n])
        else:
            y = A(labels.reshape(-1, 1))
        methods = ("predict", "predict_proba")
    n_test = draw(st.sampled_from([4, 1]))
    d_test = d if not knobs.on("X_test") or draw(st.booleans()) else d + 1
    X_test = _array_arg(draw, rng, (n_test, d_test), mutate=knobs.on("X_test"))
    return SklearnCase(estimator, params, X, y, X_test, methods)


def _sk_example(estimator, X_test, **params):
    y = np.arange(10) % 3 if estimator == "MLPClassifier" else _f(10)
    methods = ("predict", "predict_proba") if estimator == "MLPClassifier" else ("predict",)
    return SklearnCase(estimator, dict(random_state=0, hidden_layer_sizes=(3,), max_iter=2, **params),
                       A(_f(10, 3)), A(y), X_test, methods)


SKLEARN_EXAMPLES = [
    lambda e: _sk_example(e, A(_f(4, 3).astype(np.longdouble))),
    lambda e: SklearnCase(e, {"random_state": 0, "hidden_layer_sizes": (3,), "max_iter": 2}, A(_f(10, 3)),
                          A(np.array(["0.5", "1.5"] * 5)), A(_f(4, 3)),
                          ("predict", "predict_proba") if e == "MLPClassifier" else ("predict",)),
    lambda e: _sk_example(e, A(_f(4, 3, value=np.nan))),
    lambda e: _sk_example(e, A(_f(4, 3)), solver="lbfgs", n_threads=1),
    lambda e: _sk_example(e, A(_f(4, 3)), n_threads=0),
]


@pytest.mark.parametrize("estimator", ["MLPRegressor", "MLPClassifier"])
def test_fuzz_sklearn_estimator(worker, estimator):
    """fastnn.MLPRegressor / MLPClassifier fit + predict: scikit-learn's errors, scikit-learn's outcomes."""
    pytest.importorskip("sklearn")
    run_fuzz(worker, f"{estimator}.fit+predict", sklearn_cases(estimator), quick=40, long=1500,
             examples=[make(estimator) for make in SKLEARN_EXAMPLES])


# --------------------------------------------------------------------------
# fastnn.load on damaged and hand-crafted files
# --------------------------------------------------------------------------

BASES = [
    {"layers": [(3, "relu"), (2, "softmax")], "input_dim": 4, "dtype": "float64", "optimizer": None, "fit": False},
    {"layers": [(3, "tanh"), (2, "softmax")], "input_dim": 4, "dtype": "float32", "optimizer": "adam", "fit": True},
    {"layers": [(2, "identity")], "input_dim": 3, "dtype": "float64", "optimizer": "momentum", "fit": True},
    {"layers": [(2, "sigmoid")], "input_dim": 2, "dtype": "float32", "optimizer": "sgd", "fit": True},
]
_bases = st.sampled_from(BASES)
_paths = st.sampled_from(["file"] * 24 + ["pathlib", "bytes", "missing", "directory", None, 3, ["a"],
                          Obj("object()"), 1.5, "", "\x00"])

META_PATHS = [("format",), ("version",), ("dtype",), ("input_dim",), ("layers",), ("layers", 0),
              ("layers", 0, "units"), ("layers", 0, "activation"), ("layers", 0, "extra"), ("layers", 1),
              ("backend",), ("init",), ("seed",), ("loss",), ("optimizer",), ("optimizer", "name"),
              ("optimizer", "config"), ("optimizer", "config", "lr"), ("optimizer", "config", "momentum"),
              ("optimizer", "config", "beta1"), ("optimizer", "config", "extra"), ("step",), ("epochs_trained",),
              ("shuffle_rng",), ("shuffle_rng", "bit_generator"), ("shuffle_rng", "state"),
              ("shuffle_rng", "state", "state"), ("shuffle_rng", "state", "inc"), ("shuffle_rng", "has_uint32"),
              ("shuffle_rng", "uinteger")]
_json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, 1, -1, 2, 3, 2**31, 2**63, 2**64, 2**128, -(2**64), 10**30, 10**300]),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "float64", "float32", "float16", "int8", "object", "O", "<f8", "S10", "relu", "softmax",
                     "mse", "sgd", "adam", "PCG64", "MT19937", "numba", "numpy", "normal", "fastnn-model",
                     "categorical_crossentropy", "[('a', '<f8', (1000000000000,))]"]),
    st.text(max_size=5),
)
_json_values = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["units", "activation", "name", "config", "lr",
                                                                  "state", "inc", "x"]), inner, max_size=3)),
    max_leaves=6)
RAW_META = ["[" * 100000 + "]" * 100000, "{" * 5000, '{"format": "fastnn-model", "version": 1', "1e999999",
            '{"version": ' + "9" * 5000 + "}", "\ud800", "null", "[]", '"fastnn-model"', "",
            '{"format": "fastnn-model", "version": 1, "layers": [' + "{}, " * 10000 + "{}]}",
            '{"format": "fastnn-model", "version": 1.0}', '{"format": "fastnn-model", "version": true}']


def npy_header(descr: str, shape, fortran: bool = False, version: int = 1) -> bytes:
    """A hand-made ``.npy`` header (any shape, even absurd ones) with no check that data follows."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    head_len = 10 if version == 1 else 12
    pad = (-(len(text) + 1 + head_len)) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    size = len(body).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


@st.composite
def npy_members(draw, rng):
    kind = draw(st.sampled_from(["array", "array", "header", "garbage", "pickle"]))
    if kind == "array":
        shape = draw(st.sampled_from([(26,), (0,), (), (2, 13), (1000,), (7,)]))
        dtype = draw(st.sampled_from(("float64", "float32") + OTHER_DTYPES[:-2]))
        content = draw(st.sampled_from(["normal", "special", "nan", "huge"]))
        return gen_data(rng, shape, content, dtype)
    if kind == "header":
        descr = draw(st.sampled_from(["<f8", "<f4", "|u1", "|O", ">f8", "<c16", "|V8", "<U3", "x", "<f8\x00"]))
        shape = draw(st.sampled_from([(10**12,), (2**62,), (2**40, 2**40), (-1,), (3, -2), (26,), (0,), (),
                                      (10**8,), ("a",), [3], (1.5,)]))
        payload = bytes(draw(st.binary(max_size=64)))
        return npy_header(descr, shape, draw(st.booleans()), draw(st.sampled_from([1, 1, 2]))) + payload
    if kind == "pickle":
        import pickle

        return npy_header("|O", (1,)) + pickle.dumps([1.0])
    return bytes(draw(st.binary(max_size=200)))


@st.composite
def load_cases(draw, handcrafted: bool) -> LoadCase:
    base = draw(_bases)
    path = draw(_paths)
    if not handcrafted:
        kind = draw(st.sampled_from(["truncate", "flip", "flip", "insert", "none", "raw", "npy", "zip-method"]))
        if kind == "truncate":
            mutation = ("truncate", draw(st.floats(0, 1, exclude_max=True)))
        elif kind == "flip":
            mutation = ("flip", tuple(draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                              st.integers(1, 255)), min_size=1, max_size=4))))
        elif kind == "insert":
            mutation = ("insert", draw(st.floats(0, 1)), bytes(draw(st.binary(min_size=1, max_size=16))))
        elif kind == "raw":
            prefix = draw(st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x80\x04", b"PK\x05\x06"]))
            mutation = ("raw", prefix + bytes(draw(st.binary(max_size=120))))
        elif kind == "zip-method":
            mutation = ("zip-method", draw(st.integers(0, 3)), draw(st.sampled_from([99, 1, 6, 9, 12, 14, 255, 8])))
        else:
            mutation = (kind,)
        return LoadCase(base, mutation, path)
    if draw(st.integers(0, 9)) < 6:
        edits = []
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.integers(0, 19)) == 19:
                edits.append(((), "<raw>", draw(st.sampled_from(RAW_META))))
                break
            value = draw(st.one_of(st.just("<delete>"), _json_values))
            edits.append((draw(st.sampled_from(META_PATHS)), value))
        return LoadCase(base, ("meta", tuple(edits)), "file")
    rng = np.random.default_rng(draw(seeds))
    members = {}
    for name in ("meta", "theta", "opt_state_0", "opt_state_1"):
        if draw(st.integers(0, 9)) == 9:
            continue  # a missing member
        if name == "meta":
            members["meta"] = draw(st.one_of(
                st.just('{"format": "fastnn-model", "version": 1, "dtype": "float64", "input_dim": 2, "layers": '
                        '[{"units": 13, "activation": "relu"}], "backend": "numba", "init": "normal", "seed": 0, '
                        '"loss": null, "optimizer": null, "step": 0, "epochs_trained": 0, "shuffle_rng": '
                        '{"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}, "has_uint32": 0, '
                        '"uinteger": 0}}'),
                st.sampled_from(RAW_META), npy_members(rng)))
        else:
            members[name] = draw(npy_members(rng))
    return LoadCase(base, ("npz", members), "file")


_HUGE_THETA = npy_header("<f8", (10**12,)) + b"\0" * 16
LOAD_EXAMPLES = {
    False: [
        LoadCase(BASES[0], ("npy",)),
        LoadCase(BASES[0], ("zip-method", 0, 99)),
        LoadCase(BASES[1], ("truncate", 0.5)),
        LoadCase(BASES[1], ("none",)),
        LoadCase(BASES[0], ("none",), "missing"),
    ],
    True: [
        LoadCase(BASES[0], ("npz", {"meta": b"garbage", "theta": np.zeros(26), "opt_state_0": np.zeros(0),
                                    "opt_state_1": np.zeros(0)})),
        LoadCase(BASES[0], ("npz", {"meta": "{}", "theta": _HUGE_THETA, "opt_state_0": np.zeros(0),
                                    "opt_state_1": np.zeros(0)})),
        LoadCase(BASES[0], ("meta", (((), "<raw>", RAW_META[0]),))),
        LoadCase(BASES[0], ("meta", (((), "<raw>", RAW_META[4]),))),
        LoadCase(BASES[0], ("meta", ((("step",), float("inf")),))),
        LoadCase(BASES[0], ("meta", ((("input_dim",), float("inf")),))),
        LoadCase(BASES[0], ("meta", ((("shuffle_rng", "uinteger"), 2**70),))),
        LoadCase(BASES[0], ("meta", ((("optimizer",), {"name": "sgd", "config": {"lr": 10**400}}),))),
    ],
}


@pytest.mark.parametrize("handcrafted", [False, True], ids=["damaged", "handcrafted"])
def test_fuzz_load(worker, handcrafted):
    """fastnn.load: a damaged, foreign or hand-crafted file raises ValueError, never anything else."""
    entry = "load." + ("handcrafted" if handcrafted else "damaged")
    run_fuzz(worker, entry, load_cases(handcrafted), quick=60, long=3000, examples=LOAD_EXAMPLES[handcrafted])


# --------------------------------------------------------------------------
# the harness itself
# --------------------------------------------------------------------------

def test_worker_reports_crashes_and_hangs_and_recovers():
    """A segfault, an abort and a hang of the child are reported (not fatal to pytest); the next case runs."""
    w = FW.Worker(timeout=60.0)
    try:
        crash = w.run(SelfTest("segfault"))
        assert crash.kind == "crash" and "SIGSEGV" in crash.detail, crash
        abort = w.run(SelfTest("abort"))
        assert abort.kind == "crash" and "SIGABRT" in abort.detail, abort
        hang = w.run(SelfTest("hang"), timeout=2.0)
        assert hang.kind == "timeout", hang
        ok = w.run(KernelCase("activation_forward", {"z": A(np.ones((2, 3))), "activation": "relu"}))
        assert ok.kind == "ok", ok
        assert w.restarts == 3
    finally:
        w.close()
