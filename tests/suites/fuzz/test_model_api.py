"""Fuzz the model API: Dense/Sequential construction, fit, predict, evaluate, set_weights.

Most examples are valid calls with zero to two wrong arguments (:class:`.values.Knobs`);
both backends must give the same outcome (:mod:`.run_model`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

# registries, read without importing the kernels in this process
from fastnn.initializers import INITIALIZERS
from fastnn.losses import LOSSES

from .cases import LAYOUTS, A, ModelCase, Obj
from .driver import run_fuzz
from .values import (ALL_ACTIVATIONS, CONTENT, WEIRD_NAMES, WEIRD_NUMBERS, Knobs, _array_arg, _f,
                     _mutate_shape, any_dtypes, convert, gen_data, seeds)


_UNITS_BAD = [0, -1, 2.5, True, "3", None, Obj("np.int64(2)"), 10**400, Obj("np.float64(3.0)"), 2**40]
_LOSS_FOR = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy", "logistic":
             "binary_crossentropy", "exp": "poisson"}


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
        ws[i] = A(ws[i].data, draw(st.sampled_from(LAYOUTS[1:])), draw(st.booleans()))
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
