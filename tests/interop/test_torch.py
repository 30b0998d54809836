"""PyTorch interop (fastnn/interop/torch.py): to_torch / from_torch, with torch's forward pass as the oracle.

Every activation as hidden and output layer in float32 and float64: the torch module's output equals
``predict`` (1e-6 / 1e-12 relative, interop/_nets.py), the round trips reproduce the parameters bit
for bit; modules built in torch (no bias, nn.Identity, Softmax(dim=1)); the estimators; the errors.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch interop needs torch (pip install 'fastnn-numba[torch]')")

import fastnn  # noqa: E402
from fastnn.activations import ACTIVATIONS  # noqa: E402
from fastnn.interop.torch import Exp, from_torch, to_torch  # noqa: E402

from ._nets import assert_close, inputs, random_sequential  # noqa: E402

DTYPES = ["float32", "float64"]
nn = torch.nn

#: the module each fastnn activation must become (None: the Linear alone)
EXPECTED_MODULES = {"identity": None, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                    "softmax": nn.Softmax, "exp": Exp}


def torch_output(module, X) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def same_parameters(a: fastnn.Sequential, b: fastnn.Sequential) -> bool:
    """Bit-for-bit equal weights (the same dtype and bytes), the same activations."""
    return ([layer.activation for layer in a.layers] == [layer.activation for layer in b.layers]
            and a.dtype == b.dtype
            and all(x.dtype == y.dtype and x.tobytes() == y.tobytes()
                    for x, y in zip(a.get_weights(), b.get_weights(), strict=True)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ACTIVATIONS)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_to_torch_and_back(hidden, output, dtype):
    rng = np.random.default_rng(ACTIVATIONS.index(hidden) * 10 + ACTIVATIONS.index(output))
    model = random_sequential([hidden, output], dtype, rng)
    module = model.to_torch()
    expected = [nn.Linear, EXPECTED_MODULES[hidden], nn.Linear, EXPECTED_MODULES[output]]
    assert [type(m) for m in module] == [t for t in expected if t is not None]
    assert all(p.dtype == getattr(torch, dtype) for p in module.parameters())
    X = inputs(rng, 40, 4, dtype)
    out = torch_output(module, X)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, model.predict(X), dtype)
    back = fastnn.Sequential.from_torch(module)
    assert same_parameters(back, model)
    again = back.to_torch()
    assert all(p.dtype == q.dtype and torch.equal(p, q)
               for p, q in zip(module.parameters(), again.parameters(), strict=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_activations_round_trip(dtype):
    rng = np.random.default_rng(5)
    model = random_sequential(["relu", "exp", "sigmoid", "identity", "tanh", "softmax"], dtype, rng, n_out=4)
    module = to_torch(model)
    X = inputs(rng, 30, 4, dtype)
    assert_close(torch_output(module, X), model.predict(X), dtype)
    assert same_parameters(from_torch(module), model)
    clone = pickle.loads(pickle.dumps(module))  # the lazily made Exp class pickles by reference
    assert_close(torch_output(clone, X), model.predict(X), dtype)


def test_from_a_module_built_in_torch():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5, bias=False), nn.Identity(),
                           nn.Linear(5, 3), nn.Linear(3, 3), nn.Softmax(dim=1)).double()
    model = fastnn.Sequential.from_torch(module)
    assert [(layer.units, layer.activation) for layer in model.layers] == [
        (6, "relu"), (5, "identity"), (3, "identity"), (3, "softmax")]
    assert model.dtype == np.float64 and model.input_dim == 4
    weights = model.get_weights()
    assert np.array_equal(weights[3], np.zeros(5))  # no bias: a zero bias
    assert np.array_equal(weights[2], module[2].weight.detach().numpy().T)
    X = inputs(np.random.default_rng(0), 20, 4, "float64")
    assert_close(model.predict(X), torch_output(module, X), "float64")


def test_dtype_argument_converts():
    module = nn.Sequential(nn.Linear(3, 2), nn.Tanh())  # float32 weights
    model = from_torch(module, dtype="float64")
    assert model.dtype == np.float64
    assert np.array_equal(model.get_weights()[0], module[0].weight.detach().numpy().T.astype(np.float64))
    half = nn.Sequential(nn.Linear(3, 2)).to(torch.float16)
    with pytest.raises(TypeError, match=r"torch.float16: pass dtype="):
        from_torch(half)
    model = from_torch(half, dtype=np.float32)
    assert model.dtype == np.float32
    assert np.array_equal(model.get_weights()[0], half[0].weight.detach().float().numpy().T)
    with pytest.raises(ValueError, match="dtype must be one of"):
        from_torch(module, dtype="int8")


@pytest.mark.parametrize("dtype", DTYPES)
def test_estimators(dtype):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 4)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        reg = fastnn.MLPRegressor((5,), activation="tanh", loss="poisson", max_iter=20,
                                  random_state=0).fit(X, np.exp(X[:, 0]))
        clf = fastnn.MLPClassifier((5,), activation="logistic", max_iter=20,
                                   random_state=0).fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    module = to_torch(reg)
    assert type(module[-1]) is Exp
    assert_close(torch_output(module, X)[:, 0], reg.predict(X), dtype)
    assert_close(torch_output(to_torch(clf), X), clf.predict_proba(X), dtype)


def test_errors():
    with pytest.raises(ValueError, match=r"module \[1\] Dropout is not supported"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match=r"module \[2\] LogSoftmax is not supported"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.LogSoftmax(dim=1)))
    with pytest.raises(ValueError, match=r"module \[0\] ReLU comes before any Linear"):
        from_torch(nn.Sequential(nn.ReLU(), nn.Linear(2, 3)))
    with pytest.raises(ValueError, match=r"module \[2\] Sigmoid follows another activation"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sigmoid()))
    with pytest.raises(ValueError, match=r"module \[1\] Softmax\(dim=0\)"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)))
    with pytest.raises(ValueError, match=r"module \[2\] Linear has in_features=4"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="no Linear"):
        from_torch(nn.Sequential())
    with pytest.raises(TypeError, match="must be a torch.nn.Sequential, got Linear"):
        from_torch(nn.Linear(2, 3))
    with pytest.raises(RuntimeError, match="not built"):
        to_torch(fastnn.Sequential([fastnn.Dense(2)]))
    with pytest.raises(RuntimeError, match="not fitted"):
        to_torch(fastnn.MLPClassifier())
    with pytest.raises(TypeError, match="model must be a fastnn.Sequential"):
        to_torch(nn.Linear(2, 3))


def test_importing_the_module_does_not_import_torch():
    code = ("import sys, fastnn, fastnn.interop.torch; assert 'torch' not in sys.modules; "
            "fastnn.interop.torch.Exp; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
