"""Fuzz every kernel function: ``fastnn.kernels.<f>`` and ``fastnn.reference.<f>`` on hostile arguments.

Random shapes (0-sized and mismatched ones included), every dtype, odd
layouts, read-only and aliased outputs, special values and wrong
hyper-parameters; both backends must validate alike and agree to rounding
(:mod:`.run_kernel`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

# registries, read without importing the kernels in this process
from fastnn.activations import ACTIVATIONS, ELEMENTWISE_ACTIVATIONS
from fastnn.losses import LOSSES

from .cases import LAYOUTS, A, Alias, KernelCase, Obj
from .driver import run_fuzz
from .values import (ALL_ACTIVATIONS, CONTENT, WEIRD_BOOLS, WEIRD_INTS, WEIRD_NAMES, WEIRD_NUMBERS, _f,
                     _mutate_shape, any_dtypes, call_dtypes, convert, gen_data, seeds, specials)


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
        args[name] = A(old.data, draw(st.sampled_from(LAYOUTS[1:])), old.readonly)
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
        layout = draw(st.sampled_from(LAYOUTS[:6] + ("c",) * 12)) if name not in dict(spec.state) else "c"
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
