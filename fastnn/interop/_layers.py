"""The framework-neutral description of a fastnn network that every exporter reads.

A network is a list of :class:`Layer` (weights ``w`` of shape (n_in, n_out),
bias ``b`` of shape (n_out,), and the registry name of the activation) plus
the dtype its parameters live in.  :func:`layers_of` reads it from a built
:class:`fastnn.Sequential` or a fitted ``fastnn.MLPClassifier``/
``MLPRegressor``, so the ONNX and PyTorch exporters never touch either
class's private state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastnn.activations import activation_name


class Layer(NamedTuple):
    """One dense layer: ``a = activation(x @ w + b)``."""

    w: np.ndarray  # (n_in, n_out)
    b: np.ndarray  # (n_out,)
    activation: str  # a name of fastnn.activations.ACTIVATIONS


def is_estimator(model) -> bool:
    """True for fastnn's scikit-learn estimators (checked without importing scikit-learn)."""
    return type(model).__module__ == "fastnn.sklearn" and hasattr(model, "hidden_layer_sizes")


def is_classifier(model) -> bool:
    return is_estimator(model) and type(model).__name__ == "MLPClassifier"


def layers_of(model) -> tuple[list[Layer], np.dtype]:
    """The layers of ``model`` and the dtype of its parameters.

    Parameters
    ----------
    model : fastnn.Sequential or fastnn.MLPClassifier or fastnn.MLPRegressor
        A built ``Sequential`` or a fitted estimator.

    Returns
    -------
    layers : list of Layer
        Copies of the parameters (changing them leaves the model alone).
    dtype : numpy.dtype
        float32 or float64: the model's dtype (an estimator's ``coefs_`` dtype).

    Raises
    ------
    TypeError
        ``model`` is neither.
    RuntimeError
        The model is not built / the estimator is not fitted.
    """
    from fastnn.model import Sequential

    if isinstance(model, Sequential):
        if not model.built:
            raise RuntimeError("model is not built: pass input_dim to Sequential, or call fit() or "
                               "set_weights() before exporting it")
        weights = model.get_weights()
        layers = [Layer(weights[2 * i], weights[2 * i + 1], layer.activation) for i, layer in enumerate(model.layers)]
        return layers, model.dtype
    if is_estimator(model):
        if not hasattr(model, "coefs_"):
            raise RuntimeError(f"this {type(model).__name__} is not fitted yet: call fit() before exporting it")
        n = len(model.coefs_)
        dtype = np.dtype(model.coefs_[0].dtype)
        if dtype.name not in ("float32", "float64"):  # (scikit-learn keeps float32 or float64 coefs_)
            dtype = np.dtype(np.float64)
        layers = [
            Layer(np.array(model.coefs_[i], dtype=dtype), np.array(model.intercepts_[i], dtype=dtype),
                  activation_name(model.out_activation_ if i == n - 1 else model.activation))
            for i in range(n)
        ]
        return layers, dtype
    raise TypeError(
        "model must be a fastnn.Sequential or a fitted fastnn.MLPClassifier / fastnn.MLPRegressor, "
        f"got {type(model).__name__}"
    )
