"""fastnn: fast dense neural networks on the CPU.

- :class:`Sequential` / :class:`Dense`: the model API (``fit``, ``predict``,
  ``evaluate``, ``save``; :func:`load`), on the ``"numba"`` backend (fused
  compiled training loops) or the ``"numpy"`` reference backend.
- :class:`SGD`, :class:`Adam`: optimizers; :mod:`fastnn.callbacks`: ``fit`` callbacks
  (``Callback``, ``EarlyStopping``, ``LambdaCallback``).
- :class:`MLPRegressor`, :class:`MLPClassifier`: scikit-learn's estimators
  trained by fastnn's kernels (needs scikit-learn; imported on first use).
- :func:`to_onnx`: export a model as an ONNX graph (needs onnx; :mod:`fastnn.interop`).
- :func:`warmup`: compile every kernel into Numba's disk cache (``fastnn warmup``).
- :mod:`fastnn.kernels`: the Numba kernels; :mod:`fastnn.reference`: their
  plain-NumPy twin with the same functions and signatures, the correctness
  oracle for every kernel.
"""

from fastnn import activations, callbacks, config, losses
from fastnn.activations import ACTIVATIONS
from fastnn.config import get_num_threads, set_num_threads, threads
from fastnn.history import History
from fastnn.initializers import INITIALIZERS
from fastnn.losses import LOSSES
from fastnn.model import Dense, Sequential, load
from fastnn.optim import SGD, Adam
from fastnn.warmup import warmup  # (binds fastnn.warmup to the function; the module stays importable by name)

__version__ = "0.1.0"


def __getattr__(name):
    # scikit-learn is optional: the estimators import it only when asked for
    if name in ("MLPRegressor", "MLPClassifier"):
        from fastnn import sklearn as _sklearn

        return getattr(_sklearn, name)
    if name == "to_onnx":  # onnx is optional too: fastnn.interop.onnx imports it only when called
        from fastnn.interop.onnx import to_onnx

        return to_onnx
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "Adam",
    "Dense",
    "History",
    "INITIALIZERS",
    "LOSSES",
    "MLPClassifier",
    "MLPRegressor",
    "SGD",
    "Sequential",
    "activations",
    "callbacks",
    "config",
    "get_num_threads",
    "load",
    "losses",
    "set_num_threads",
    "threads",
    "to_onnx",
    "warmup",
]
