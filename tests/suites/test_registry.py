"""The two backends expose one API, read names from the registries, and compile with the config's options.

- ``fastnn.kernels`` and ``fastnn.reference`` have equal ``__all__`` (the 16
  functions of the API contract) with identical signatures;
- every registered activation/loss name (and alias) is accepted, unknown
  names are rejected with a message listing the valid ones;
- every Numba dispatcher fastnn builds goes through ``fastnn.kernels._jit``
  with :data:`fastnn.config.JIT_OPTIONS`, parallel builds with ``parallel=True``;
- the reference imports nothing from ``fastnn.kernels`` (nor Numba).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import fnn_helpers as H
from fastnn import config
from fastnn.activations import ACTIVATIONS, ALIASES as ACTIVATION_ALIASES, ELEMENTWISE_ACTIVATIONS
from fastnn.losses import ALIASES as LOSS_ALIASES, LOSSES

K = H.backend("kernels")
R = H.backend("reference")

# The public functions named by the API contract (issue 2).
CONTRACT = {
    "activation_forward", "activation_derivative", "activation_backward", "dense_forward", "dense_backward",
    "loss_value", "output_delta", "sgd_update", "momentum_update", "adam_update",
    # one value function and one gradient function per registered loss
    *(H.loss_function_name(loss) for loss in LOSSES), *(H.loss_gradient_name(loss) for loss in LOSSES),
}


# --------------------------------------------------------------------------
# one API, two backends
# --------------------------------------------------------------------------

def test_both_backends_export_the_same_names():
    """__all__ is identical in both backends, has no duplicates and is exactly the contract's functions."""
    assert list(K.__all__) == list(R.__all__)
    assert len(set(K.__all__)) == len(K.__all__)
    assert set(K.__all__) == CONTRACT


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_same_signature_in_both_backends(name):
    """Each public function exists in both backends, is documented, and has the identical signature."""
    k_fn, r_fn = getattr(K, name), getattr(R, name)
    assert callable(k_fn) and callable(r_fn)
    assert inspect.signature(k_fn) == inspect.signature(r_fn)
    assert (k_fn.__doc__ or "").strip() and (r_fn.__doc__ or "").strip(), "both twins need a docstring"


def test_registry_derived_names_exist():
    """The loss functions named after each registered loss (<loss>_loss, <loss>_grad/_delta) are public."""
    for loss in LOSSES:
        assert H.loss_function_name(loss) in K.__all__
        assert H.loss_gradient_name(loss) in K.__all__


def test_case_table_covers_every_public_function():
    """The cross-cutting tests (dtypes, serial == parallel, thread count) exercise all 16 functions."""
    assert {case.function for case in H.CASES} == set(K.__all__)


# --------------------------------------------------------------------------
# names come from the registries
# --------------------------------------------------------------------------

@pytest.mark.parametrize("activation", list(ACTIVATIONS) + list(ACTIVATION_ALIASES))
def test_every_registered_activation_is_accepted(backend, activation):
    """Every activation name and alias works in every function that takes one, and an alias means its target."""
    canonical = ACTIVATION_ALIASES.get(activation, activation)
    rng = np.random.default_rng(0)
    x, w, b = H.dense_inputs(rng, 3, 4, 2, np.float64)
    a = backend.dense_forward(x, w, b, canonical)
    mse = next(name for name, spec in LOSSES.items() if spec.output_activation is None)
    calls = [
        lambda act: backend.dense_forward(x, w, b, act),
        lambda act: backend.activation_forward(x[:, :2], act),
        lambda act: backend.activation_backward(a, a, act),
        lambda act: backend.dense_backward(x, w, a, a, act),
        lambda act: backend.output_delta(a, a * 0.5, mse, act),
    ]
    if canonical in ELEMENTWISE_ACTIVATIONS:
        calls.append(lambda act: backend.activation_derivative(a, act))
    as_tuple = lambda result: result if isinstance(result, tuple) else (result,)  # noqa: E731
    for call in calls:
        for got, want in zip(as_tuple(call(activation)), as_tuple(call(canonical))):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("loss", list(LOSSES) + list(LOSS_ALIASES))
def test_every_registered_loss_is_accepted(backend, loss):
    """Every loss name and alias works in loss_value and output_delta and means its registry entry."""
    canonical = LOSS_ALIASES.get(loss, loss)
    spec = LOSSES[canonical]
    p, y = H.loss_inputs(np.random.default_rng(0), canonical, (4, 3), np.float64)
    assert backend.loss_value(p, y, loss) == getattr(backend, H.loss_function_name(canonical))(p, y)
    act = spec.output_activation or "identity"
    np.testing.assert_array_equal(backend.output_delta(p, y, loss, act),
                                  backend.output_delta(p, y, canonical, act))


def _activation_calls(mod, name):
    z = np.zeros((2, 3))
    x, w, b = np.zeros((2, 3)), np.zeros((3, 3)), np.zeros(3)
    return {
        "activation_forward": lambda: mod.activation_forward(z, name),
        "activation_derivative": lambda: mod.activation_derivative(z, name),
        "activation_backward": lambda: mod.activation_backward(z, z, name),
        "dense_forward": lambda: mod.dense_forward(x, w, b, name),
        "dense_backward": lambda: mod.dense_backward(x, w, z, z, name),
        "output_delta": lambda: mod.output_delta(z, z, "mse", name),
    }


@pytest.mark.parametrize("function", list(_activation_calls(None, "x")))
def test_unknown_activation_lists_the_registry(backend, function):
    """An unknown activation name raises ValueError naming it and listing every registered activation."""
    with pytest.raises(ValueError, match=r"unknown activation 'leaky_relu'") as info:
        _activation_calls(backend, "leaky_relu")[function]()
    for name in ACTIVATIONS:
        assert repr(name) in str(info.value)


@pytest.mark.parametrize("function", ["loss_value", "output_delta"])
def test_unknown_loss_lists_the_registry(backend, function):
    """An unknown loss name raises ValueError naming it and listing every registered loss."""
    p = np.full((2, 3), 0.5)
    call = {"loss_value": lambda: backend.loss_value(p, p, "hinge"),
            "output_delta": lambda: backend.output_delta(p, p, "hinge", "identity")}[function]
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'") as info:
        call()
    for name in LOSSES:
        assert repr(name) in str(info.value)


# --------------------------------------------------------------------------
# every kernel is compiled with config.JIT_OPTIONS
# --------------------------------------------------------------------------

def _import_all_kernel_modules():
    import fastnn.kernels

    modules = [fastnn.kernels]
    for info in pkgutil.iter_modules(fastnn.kernels.__path__):
        modules.append(importlib.import_module(f"fastnn.kernels.{info.name}"))
    return modules


def _compiled():
    _import_all_kernel_modules()
    from fastnn.kernels import _jit

    return _jit.compiled_kernels()


def _has_disk_cache(dispatcher):
    # ``cache`` is not a target option: numba.njit(cache=True) calls enable_caching(),
    # which replaces the dispatcher's NullCache by a FunctionCache.
    return type(dispatcher._cache).__name__ != "NullCache"


def test_compiled_kernels_are_numba_dispatchers():
    """compiled_kernels() lists numba dispatchers, serial and parallel ones, without duplicates."""
    dispatchers = _compiled()
    assert dispatchers and all(isinstance(d, Dispatcher) for d in dispatchers)
    assert len({id(d) for d in dispatchers}) == len(dispatchers)
    assert any(d.targetoptions.get("parallel") for d in dispatchers), "no parallel build at all"
    assert any(not d.targetoptions.get("parallel") for d in dispatchers), "no serial build at all"


def test_every_kernel_uses_the_config_jit_options():
    """Each dispatcher's options contain every key/value of config.JIT_OPTIONS (cache: a disk cache is set).

    Vector kernels differ in exactly two documented options: fastmath is
    config.VECTOR_FASTMATH and the Numba runtime is off; NRT-free variants
    (the narrow epoch loop) only in the second.
    """
    from fastnn.kernels import _jit

    vector = {id(d) for d in _jit.vector_kernels()}
    nrt_free = {id(d) for d in _jit.nrt_free_kernels()}
    assert vector, "no vector kernel: the feature-major step is missing"
    assert vector < nrt_free
    for d in _compiled():
        expected = dict(config.JIT_OPTIONS)
        if id(d) in vector:
            expected["fastmath"] = set(config.VECTOR_FASTMATH)
        if id(d) in nrt_free:
            expected["_nrt"] = False
            assert not d.targetoptions.get("parallel"), f"{d.py_func.__qualname__}: NRT-free kernels are serial"
        for key, value in expected.items():
            if key == "cache":
                assert _has_disk_cache(d) == bool(value), f"{d.py_func.__qualname__}: cache"
            else:
                assert key in d.targetoptions and d.targetoptions[key] == value, (
                    f"{d.py_func.__qualname__}: {key}={d.targetoptions.get(key)!r}, config says {value!r}"
                )


def test_parallel_builds_have_a_serial_twin():
    """Each parallel build compiles the same source as a serial build (same code object), under its own name."""
    dispatchers = _compiled()
    serial_code = {d.py_func.__code__: d for d in dispatchers if not d.targetoptions.get("parallel")}
    for d in dispatchers:
        if d.targetoptions.get("parallel"):
            twin = serial_code.get(d.py_func.__code__)
            assert twin is not None, f"{d.py_func.__qualname__} has no serial build"
            # distinct qualified names: numba's disk-cache index is keyed by name, not by options
            assert twin.py_func.__qualname__ != d.py_func.__qualname__


def test_no_dispatcher_bypasses_the_jit_module():
    """Every numba dispatcher reachable from fastnn.kernels modules was built by _jit (so with JIT_OPTIONS)."""
    registered = {id(d) for d in _compiled()}
    for module in _import_all_kernel_modules():
        for attr, value in vars(module).items():
            candidates = value if isinstance(value, tuple) else (value,)
            for obj in candidates:
                if isinstance(obj, Dispatcher):
                    assert id(obj) in registered, f"{module.__name__}.{attr} was not built by fastnn.kernels._jit"


def test_no_numba_decorator_outside_the_jit_module():
    """Source check: only _jit.py calls numba.jit/njit (options live in config, never at a decorator)."""
    kernel_dir = pathlib.Path(K.__file__).parent
    pattern = re.compile(r"\b(?:numba\.)?n?jit\s*\(|@\s*(?:numba\.)?n?jit\b|^\s*from numba import .*\bn?jit\b", re.M)
    offenders = [p.name for p in kernel_dir.glob("*.py") if p.name != "_jit.py" and pattern.search(p.read_text())]
    assert offenders == []


# --------------------------------------------------------------------------
# the reference is independent of the kernels
# --------------------------------------------------------------------------

def test_reference_import_does_not_load_the_kernels():
    """In a fresh interpreter, importing fastnn.reference loads no fastnn.kernels module."""
    root = str(pathlib.Path(H.__file__).resolve().parents[1])
    code = (
        f"import sys; sys.path.insert(0, {root!r}); import fastnn; before = set(sys.modules); "
        "import fastnn.reference; "
        "print(sorted(m for m in sys.modules if m.startswith('fastnn.kernels'))); "
        "print(sorted(m for m in before if m.startswith('fastnn.kernels')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    after, before = res.stdout.strip().splitlines()[-2:]
    assert before == "[]", "import fastnn already loads fastnn.kernels; the source check below still applies"
    assert after == "[]"


def test_reference_sources_import_neither_kernels_nor_numba():
    """No module of fastnn/reference imports fastnn.kernels (or anything from it) or numba."""
    ref_dir = pathlib.Path(R.__file__).parent
    for path in sorted(ref_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                assert "kernels" not in name.split("."), f"{path.name} imports {name}"
                assert name.split(".")[0] != "numba", f"{path.name} imports {name}"

