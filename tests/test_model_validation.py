"""Bad input to the model API: a clear error naming the argument, and the model unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import SGD, Adam, Dense, Sequential

BACKENDS = ("numba", "numpy")


def state(model):
    return ([w.copy() for w in model.get_weights()], model.epochs_trained, model.step, model.optimizer,
            [s.copy() for s in model._opt_state], model._shuffle_rng.bit_generator.state)


def assert_unchanged(model, before):
    after = state(model)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0]))
    assert before[1:4] == after[1:4]
    assert all(np.array_equal(a, b) for a, b in zip(before[4], after[4]))
    assert before[5] == after[5]


@pytest.fixture(params=BACKENDS)
def fitted(request):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal(20)
    model = Sequential([Dense(4, "relu"), Dense(1)], input_dim=3, backend=request.param, seed=0)
    model.fit(X, y, epochs=2, optimizer=Adam(0.01))
    return model, X, y


def nan_at(X, value):
    X = X.copy()
    X[3, 1] = value
    return X


@pytest.mark.parametrize("case", [
    "nan", "inf", "features", "lengths", "empty", "strings", "objects", "complex", "1d", "3d", "y_nan",
    "y_columns", "validation_shape", "validation_type", "epochs", "batch_size", "loss", "optimizer",
    "verbose", "patience", "shuffle", "ce_activation", "threads",
])
def test_bad_fit_raises_and_changes_nothing(fitted, case):
    model, X, y = fitted
    before = state(model)
    args = {"X": X, "y": y}
    kwargs = {}
    error, match = ValueError, None
    if case == "nan":
        args["X"], match = nan_at(X, np.nan), "X contains NaN"
    elif case == "inf":
        args["X"], match = nan_at(X, np.inf), "X contains NaN or infinity"
    elif case == "features":
        args["X"], match = X[:, :2], "X has 2 features, but the model expects 3"
    elif case == "lengths":
        args["y"], match = y[:-1], "y has 19 samples but X has 20"
    elif case == "empty":
        args["X"], args["y"], match = X[:0], y[:0], "X has no samples"
    elif case == "strings":
        args["X"], error, match = X.astype(str), TypeError, "X must be numeric"
    elif case == "objects":
        args["X"], error, match = X.astype(object), TypeError, "X must be numeric"
    elif case == "complex":
        args["X"], error, match = X.astype(complex), TypeError, "X must be numeric"
    elif case == "1d":
        args["X"], match = X[:, 0], r"X must be 2-D.*reshape"
    elif case == "3d":
        args["X"], match = X[None], "X must be 2-D"
    elif case == "y_nan":
        args["y"], match = np.where(np.arange(20) == 5, np.nan, y), "y contains NaN"
    elif case == "y_columns":
        args["y"], match = np.ones((20, 2)), "y has 2 columns, but the output layer has 1 units"
    elif case == "validation_shape":
        kwargs["validation_data"], match = (X[:, :2], y), r"validation_data\[0\] has 2 features"
    elif case == "validation_type":
        kwargs["validation_data"], error, match = X, TypeError, "validation_data must be a tuple"
    elif case == "epochs":
        kwargs["epochs"], match = -1, "epochs must be >= 0"
    elif case == "batch_size":
        kwargs["batch_size"], match = 0, "batch_size must be >= 1"
    elif case == "loss":
        kwargs["loss"], match = "hinge", r"unknown loss 'hinge'; expected one of \['mse'"
    elif case == "optimizer":
        kwargs["optimizer"], match = "rmsprop", "unknown optimizer 'rmsprop'"
    elif case == "verbose":
        kwargs["verbose"], error, match = "loud", TypeError, "verbose must be an integer"
    elif case == "patience":
        kwargs["patience"], match = -2, "patience must be >= 0"
    elif case == "shuffle":
        kwargs["shuffle"], error, match = "yes", TypeError, "shuffle must be a bool"
    elif case == "ce_activation":
        kwargs["loss"], match = "binary_crossentropy", "needs a 'sigmoid' output layer"
    elif case == "threads":
        kwargs["threads"], match = 0, "number of threads"
    with pytest.raises(error, match=match):
        model.fit(args["X"], args["y"], epochs=kwargs.pop("epochs", 3), **kwargs)
    assert_unchanged(model, before)


def test_bad_predict_and_evaluate(fitted):
    model, X, y = fitted
    before = state(model)
    with pytest.raises(ValueError, match="X contains NaN"):
        model.predict(nan_at(X, np.nan))
    with pytest.raises(ValueError, match="X has 4 features"):
        model.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match="y has 19 samples"):
        model.evaluate(X, y[:-1])
    with pytest.raises(ValueError, match="needs a 'softmax' output layer"):
        model.evaluate(X, y, loss="categorical_crossentropy")
    assert_unchanged(model, before)


def test_predict_before_fit():
    with pytest.raises(RuntimeError, match="predict\\(\\) needs a built model"):
        Sequential([Dense(1)]).predict(np.ones((2, 2)))
    with pytest.raises(ValueError, match="no layers"):
        Sequential().fit(np.ones((2, 2)), np.ones(2))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"backend": "cuda"}, ValueError, "backend must be one of"),
    ({"dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"init": "orthogonal"}, ValueError, "unknown init 'orthogonal'"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"input_dim": 0}, ValueError, "input_dim must be >= 1"),
])
def test_bad_constructor(kwargs, error, match):
    with pytest.raises(error, match=match):
        Sequential([Dense(1)], **kwargs)


def test_bad_layers_and_optimizers():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        Dense(3, activation="swish")
    with pytest.raises(ValueError, match="units must be >= 1"):
        Dense(0)
    with pytest.raises(TypeError, match="layers\\[1\\] must be a fastnn.Dense"):
        Sequential([Dense(2), "dense"])
    with pytest.raises(ValueError, match="lr must be in"):
        SGD(lr=-0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="beta2 must be in"):
        Adam(beta2=1.5)


def test_categorical_labels_out_of_range(fitted):
    model = Sequential([Dense(3, "softmax")], input_dim=2, seed=0)
    with pytest.raises(ValueError, match="labels from 0 to 3"):
        model.fit(np.ones((4, 2)), np.array([0, 1, 2, 3]), loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        Sequential([Dense(1, "sigmoid")], input_dim=2).fit(np.ones((2, 2)), np.array([0, 2]),
                                                           loss="binary_crossentropy")


def test_bad_set_weights_changes_nothing(fitted):
    model, _, _ = fitted
    before = state(model)
    ws = model.get_weights()
    with pytest.raises(ValueError, match="must hold 4 arrays"):
        model.set_weights(ws[:3])
    with pytest.raises(ValueError, match=r"weights\[2\] must have shape \(4, 1\)"):
        model.set_weights([ws[0], ws[1], np.ones((1, 4)), ws[3]])
    with pytest.raises(ValueError, match=r"weights\[1\] contains NaN"):
        model.set_weights([ws[0], np.full(4, np.nan), ws[2], ws[3]])
    assert_unchanged(model, before)
