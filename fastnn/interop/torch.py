"""PyTorch interop: a fastnn network as a ``torch.nn.Sequential``, and back.

:func:`to_torch` turns every dense layer into ``nn.Linear(n_in, n_out)``
(``weight`` = ``w.T``, ``bias`` = ``b``) followed by its activation module
(:data:`TORCH_ACTIVATIONS`; identity layers get no module: a ``Linear``
alone is already linear).  The parameters are copied exactly, in the
model's dtype (float32 -> ``torch.float32``, float64 -> ``torch.float64``).

:func:`from_torch` reads an ``nn.Sequential`` of ``nn.Linear`` modules, each
followed by at most one supported activation module; a ``Linear`` without
bias gets a zero bias.  A round trip reproduces the parameters bit for bit.

PyTorch has no module for ``exp`` (fastnn's Poisson output), so this module
defines :class:`Exp` (``torch.exp`` of its input) the first time it is
needed; :func:`from_torch` accepts it back.  torch is imported only when a
function here is called.
"""

from __future__ import annotations

import numpy as np

from fastnn.interop._layers import layers_of

_INSTALL_HINT = 'pip install "fastnn-numba[torch]" (or PyTorch from pytorch.org)'

#: fastnn activation -> name of the torch.nn module class (``None``: no module; "Exp": fastnn's own).
TORCH_ACTIVATIONS: dict[str, str | None] = {
    "identity": None,
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softmax": "Softmax",  # Softmax(dim=-1): per row, as fastnn
    "exp": "Exp",
}

_EXP_CLASS = None


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"fastnn.interop.torch needs PyTorch: {_INSTALL_HINT}") from exc
    return torch


def exp_module_class():
    """The ``nn.Module`` computing ``torch.exp(x)`` (fastnn's ``exp`` activation), created once."""
    global _EXP_CLASS
    if _EXP_CLASS is None:
        torch = _import_torch()

        class Exp(torch.nn.Module):
            """Elementwise ``exp``: the output activation of fastnn's Poisson models."""

            def forward(self, x):
                return torch.exp(x)

        Exp.__module__ = __name__
        Exp.__qualname__ = "Exp"  # picklable by reference: fastnn.interop.torch.Exp (see __getattr__)
        _EXP_CLASS = Exp
    return _EXP_CLASS


def __getattr__(name):
    if name == "Exp":  # created on first use, so importing this module does not import torch
        return exp_module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _activation_module(torch, activation: str):
    name = TORCH_ACTIVATIONS[activation]
    if name == "Exp":
        return exp_module_class()()
    if name == "Softmax":
        return torch.nn.Softmax(dim=-1)
    return getattr(torch.nn, name)()


def to_torch(model):
    """The network of ``model`` as a ``torch.nn.Sequential``.

    Parameters
    ----------
    model : fastnn.Sequential or fastnn.MLPClassifier or fastnn.MLPRegressor
        A built ``Sequential`` or a fitted estimator.

    Returns
    -------
    torch.nn.Sequential
        ``Linear`` modules with the model's parameters (copies, the model's
        dtype), each followed by its activation module.  Its output for an
        input (n, n_features) is ``model.predict`` (a ``Sequential``), the
        probabilities of a classifier's positive class/classes (scikit-learn's
        ``predict_proba`` before [1 - p, p] for binary), or a regressor's
        predictions as (n, n_outputs).

    Raises
    ------
    ImportError
        PyTorch is missing.
    TypeError, RuntimeError
        ``model`` is not a fastnn model, or not built/fitted.
    """
    layers, dtype = layers_of(model)
    torch = _import_torch()
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    modules = []
    for layer in layers:
        n_in, n_out = layer.w.shape
        linear = torch.nn.Linear(n_in, n_out, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.w.T)))
            linear.bias.copy_(torch.from_numpy(layer.b))
        modules.append(linear)
        if TORCH_ACTIVATIONS[layer.activation] is not None:
            modules.append(_activation_module(torch, layer.activation))
    return torch.nn.Sequential(*modules)


def _activation_of(torch, module, position: int) -> str:
    """The fastnn activation of a torch activation module, or a ValueError naming it."""
    if isinstance(module, torch.nn.Identity):
        return "identity"
    if type(module) is exp_module_class():
        return "exp"
    if isinstance(module, torch.nn.Softmax):
        if module.dim not in (-1, 1):
            raise ValueError(f"module [{position}] Softmax(dim={module.dim}): only dim=-1 (or 1, per row of a "
                             "2-D input) matches fastnn's softmax")
        return "softmax"
    for activation, name in TORCH_ACTIVATIONS.items():
        if name not in (None, "Exp", "Softmax") and type(module) is getattr(torch.nn, name):
            return activation
    supported = ["Linear", "Identity", "Exp"] + [n for n in TORCH_ACTIVATIONS.values() if n not in (None, "Exp")]
    raise ValueError(f"module [{position}] {type(module).__name__} is not supported: fastnn reads an nn.Sequential "
                     f"of {', '.join(supported)} modules (each Linear followed by at most one activation)")


def from_torch(module, dtype=None):
    """A :class:`fastnn.Sequential` with the layers and parameters of a torch ``nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``nn.Linear`` modules, each followed by at most one of ``nn.ReLU``,
        ``nn.Sigmoid``, ``nn.Tanh``, ``nn.Softmax(dim=-1)``, ``nn.Identity``
        or :class:`Exp`; a ``Linear`` followed directly by another ``Linear``
        (or last) gets the identity activation, one without bias a zero bias.
    dtype : {"float32", "float64"}, optional
        The model's dtype; default: the dtype of the first ``Linear``'s
        weight (float32 or float64; others need ``dtype``).

    Returns
    -------
    fastnn.Sequential
        Built, on the default backend, with the parameters cast to ``dtype``
        (exact when the dtypes agree).

    Raises
    ------
    ImportError
        PyTorch is missing.
    TypeError
        ``module`` is not an ``nn.Sequential``, or its dtype is neither
        float32 nor float64 and ``dtype`` is not given.
    ValueError
        An unsupported module (named, with its position), an activation
        without a ``Linear`` before it, two activations in a row, no
        ``Linear`` at all, or layer widths that do not chain.
    """
    torch = _import_torch()
    from fastnn.model import DTYPES, Dense, Sequential

    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential, got {type(module).__name__}")
    linears, activations = [], []
    for position, child in enumerate(module):
        if isinstance(child, torch.nn.Linear):
            if linears and child.in_features != linears[-1].out_features:
                raise ValueError(f"module [{position}] Linear has in_features={child.in_features}, but the layer "
                                 f"before has {linears[-1].out_features} outputs")
            linears.append(child)
            activations.append(None)
            continue
        activation = _activation_of(torch, child, position)
        if not linears:
            raise ValueError(f"module [{position}] {type(child).__name__} comes before any Linear: fastnn's layers "
                             "start with their weights")
        if activations[-1] is not None:
            raise ValueError(f"module [{position}] {type(child).__name__} follows another activation: a fastnn layer "
                             "has one activation")
        activations[-1] = activation
    if not linears:
        raise ValueError("module holds no Linear layer")
    if dtype is None:
        dtype = str(linears[0].weight.dtype).replace("torch.", "")
        if dtype not in DTYPES:
            raise TypeError(f"the module's weights are {linears[0].weight.dtype}: pass dtype='float32' or "
                            "'float64' to convert them")
    try:
        dtype = np.dtype(dtype).name
    except TypeError:
        dtype = repr(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype}")
    tdtype = getattr(torch, dtype)
    weights = []
    for linear in linears:  # cast by torch (round to nearest, as NumPy), then shared with NumPy: exact
        w = linear.weight.detach().cpu().to(tdtype).numpy().T
        b = (linear.bias.detach().cpu().to(tdtype).numpy() if linear.bias is not None
             else np.zeros(linear.out_features, dtype=dtype))
        weights += [w, b]
    model = Sequential([Dense(lin.out_features, act or "identity") for lin, act in zip(linears, activations)],
                       dtype=dtype)
    model.set_weights(weights)
    return model
