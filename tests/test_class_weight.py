"""``class_weight``: ``MLPClassifier(class_weight=...)`` and ``Sequential.fit(class_weight=...)`` (fastnn/class_weight.py).

Oracles: a fit with the equivalent explicit ``sample_weight`` (scikit-learn's
``compute_sample_weight`` / ``compute_class_weight`` give the weights), a
hand-written NumPy weighted loss and its finite-difference gradient (Keras'
``sum(w_i l_i) / n``), PyTorch training the same network on the same
weighted loss, and the reference backend.
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="the estimators and the oracle weights need scikit-learn")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight  # noqa: E402

import fastnn  # noqa: E402
from fastnn import Dense, MLPClassifier, Sequential, contract  # noqa: E402
from fastnn.losses import loss_code  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _labels(n=150, seed=0, names=("a", "b", "c")):
    """Three imbalanced classes (about 60/30/10 %) that depend on the features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    score = X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n)
    y = np.where(score > 1.2, names[2], np.where(score > 0.3, names[1], names[0]))
    return X, y


def _same_fit(a, b):
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    assert getattr(a, "loss_curve_", None) == getattr(b, "loss_curve_", None)


# ----------------------------------------------------------------------
# MLPClassifier
# ----------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("class_weight", ["balanced", {"b": 3.0, "c": 0.5}])
def test_estimator_class_weight_is_the_equivalent_sample_weight(solver, class_weight):
    """A fit with class_weight is bit for bit the fit with scikit-learn's sample weights for it (times the user's)."""
    X, y = _labels()
    user = np.random.default_rng(1).uniform(0.5, 2.0, y.shape[0])
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0, batch_size=32)
    for sw in (None, user):
        weighted = MLPClassifier(class_weight=class_weight, **params).fit(X, y, sample_weight=sw)
        expected = compute_sample_weight(class_weight, y) * (1.0 if sw is None else sw)
        explicit = MLPClassifier(**params).fit(X, y, sample_weight=expected)
        _same_fit(weighted, explicit)


def test_estimator_early_stopping_scores_with_the_class_weights():
    """Validation split and scores: those of the explicit sample-weight fit (class weights included in the score)."""
    X, y = _labels(n=200)
    params = dict(hidden_layer_sizes=(6,), max_iter=12, random_state=0, early_stopping=True, n_iter_no_change=50)
    weighted = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    explicit = MLPClassifier(**params).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    assert weighted.validation_scores_ == explicit.validation_scores_
    unweighted = MLPClassifier(**params).fit(X, y)
    assert weighted.validation_scores_ != unweighted.validation_scores_  # the score is weighted
    _same_fit(weighted, explicit)


def test_estimator_lbfgs_loss_is_the_class_weighted_loss_by_hand():
    """loss_ after lbfgs: scikit-learn's weighted log loss written in NumPy, at the fitted weights, with the weights."""
    X, y = _labels()
    class_weight = {"a": 0.5, "c": 6.0}
    clf = MLPClassifier((5,), solver="lbfgs", max_iter=20, alpha=1e-2, random_state=0,
                        class_weight=class_weight).fit(X, y)
    hidden = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
    z = hidden @ clf.coefs_[1] + clf.intercepts_[1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    w = np.array([class_weight.get(label, 1.0) for label in y])
    rows = -log_p[np.arange(y.shape[0]), np.searchsorted(clf.classes_, y)]
    l2 = sum(float(np.sum(c ** 2)) for c in clf.coefs_)
    assert clf.loss_ == pytest.approx((np.sum(w * rows) + 0.5 * 1e-2 * l2) / np.sum(w), rel=1e-9)


def test_estimator_float32_and_integer_labels():
    X, y = _labels()
    X = X.astype(np.float32)
    labels = np.searchsorted(np.unique(y), y)  # 0, 1, 2
    params = dict(hidden_layer_sizes=(5,), max_iter=8, random_state=0)
    weighted = MLPClassifier(class_weight={0: 0.5, 2: 4.0}, **params).fit(X, labels)
    explicit = MLPClassifier(**params).fit(X, labels, sample_weight=compute_sample_weight({0: 0.5, 2: 4.0}, labels))
    assert weighted.coefs_[0].dtype == np.float32
    _same_fit(weighted, explicit)


def test_estimator_balanced_raises_minority_recall():
    """Behaviour: on a 95/5 problem, 'balanced' finds more of the rare class than no weights."""
    rng = np.random.default_rng(3)
    n = 1000
    X = rng.standard_normal((n, 2))
    y = (X[:, 0] + 0.8 * rng.standard_normal(n) > 2.0).astype(int)  # ~5 % positives, overlapping classes
    assert 0.02 < y.mean() < 0.1
    params = dict(hidden_layer_sizes=(8,), max_iter=60, random_state=0, learning_rate_init=0.01)
    plain = MLPClassifier(**params).fit(X, y)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    recall_plain = recall_score(y, plain.predict(X))
    recall_balanced = recall_score(y, balanced.predict(X))
    assert recall_balanced > recall_plain + 0.2, (recall_plain, recall_balanced)


def test_estimator_multilabel_follows_compute_sample_weight():
    """Multilabel y: 'balanced' (columns multiplied) or one dict per column, as compute_sample_weight; a dict fails."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 4))
    Y = np.column_stack([X[:, 0] > 0.8, X[:, 1] > -0.2, X[:, 0] + X[:, 2] > 1.0]).astype(int)
    params = dict(hidden_layer_sizes=(6,), max_iter=10, random_state=0)
    for class_weight in ("balanced", [{0: 1.0, 1: 4.0}, {1: 0.5}, {0: 2.0, 1: 1.0}]):
        weighted = MLPClassifier(class_weight=class_weight, **params).fit(X, Y)
        explicit = MLPClassifier(**params).fit(X, Y, sample_weight=compute_sample_weight(class_weight, Y))
        _same_fit(weighted, explicit)
    with pytest.raises(ValueError, match="list of dicts"):
        MLPClassifier(class_weight={1: 2.0}, **params).fit(X, Y)
    with pytest.raises(ValueError, match="number of outputs"):
        MLPClassifier(class_weight=[{1: 2.0}], **params).fit(X, Y)


@pytest.mark.parametrize("class_weight, error, match", [
    ({"a": 1.0, "zz": 2.0}, ValueError, r"keys \['zz'\] that are not classes"),
    ({"a": -1.0}, ValueError, "finite and >= 0"),
    ({"a": float("nan")}, ValueError, "finite and >= 0"),
    ({"a": "x"}, TypeError, "real number"),
    ([{"a": 1.0}], ValueError, "multilabel"),
    ("balance", ValueError, "class_weight"),  # scikit-learn's InvalidParameterError (a ValueError)
    (3.0, ValueError, "class_weight"),
])
def test_estimator_bad_class_weight_is_refused_before_anything_changes(class_weight, error, match):
    X, y = _labels()
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, class_weight=class_weight)
    with pytest.raises(error, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coefs_") and not hasattr(est, "classes_")


def test_estimator_dict_with_extra_keys_covering_every_class_is_accepted():
    """scikit-learn's rule: keys that are no class are fine when every class has a weight (a CV fold may lack one)."""
    X, y = _labels()
    params = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    class_weight = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 9.0}
    weighted = MLPClassifier(class_weight=class_weight, **params).fit(X, y)
    explicit = MLPClassifier(**params).fit(X, y, sample_weight=compute_sample_weight(class_weight, y))
    _same_fit(weighted, explicit)


def test_estimator_class_weight_is_a_parameter():
    est = MLPClassifier(class_weight={"a": 2.0})
    assert est.get_params()["class_weight"] == {"a": 2.0}
    assert clone(est).class_weight == {"a": 2.0}
    assert est.set_params(class_weight="balanced").class_weight == "balanced"
    assert MLPClassifier().class_weight is None
    assert "class_weight" not in fastnn.MLPRegressor().get_params()


def test_estimator_partial_fit():
    """partial_fit: a dict weighs each batch (= explicit sample weights); 'balanced' is refused, nothing changed."""
    X, y = _labels()
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(5,), random_state=0)
    weighted = MLPClassifier(class_weight={"c": 5.0}, **params)
    explicit = MLPClassifier(**params)
    for batch in (slice(0, 50), slice(50, 100), slice(100, 150)):
        weighted.partial_fit(X[batch], y[batch], classes=classes)
        explicit.partial_fit(X[batch], y[batch], classes=classes,
                             sample_weight=np.where(y[batch] == "c", 5.0, 1.0))
    _same_fit(weighted, explicit)

    balanced = MLPClassifier(class_weight="balanced", **params)
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        balanced.partial_fit(X, y, classes=classes)
    assert not hasattr(balanced, "classes_")
    weighted.set_params(class_weight="balanced")  # later calls too
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        weighted.partial_fit(X, y)
    bad = MLPClassifier(class_weight={"zz": 2.0}, **params)
    with pytest.raises(ValueError, match="not classes"):
        bad.partial_fit(X, y, classes=classes)
    assert not hasattr(bad, "classes_")


# ----------------------------------------------------------------------
# Sequential.fit: Keras' weighted loss in the KERAS convention
# ----------------------------------------------------------------------

_LOSS_CASES = [  # (loss, output activation, output units)
    ("categorical_crossentropy", "softmax", 3),
    ("binary_crossentropy", "sigmoid", 2),
    ("mse", "tanh", 2),
    ("mse", "identity", 1),
    ("poisson", "exp", 2),
]


def _numpy_keras_loss(theta, layout, activations, x, y, w, loss):
    """Keras' weighted loss by hand: per-row loss (mean over outputs; CCE summed), ``sum(w_i l_i) / n``."""
    a = x
    for l, name in enumerate(activations):
        W, b = contract.layer_views(theta, layout, l)
        z = a @ W + b
        if name == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            a = {"tanh": np.tanh, "identity": lambda t: t, "sigmoid": lambda t: 1 / (1 + np.exp(-t)),
                 "exp": np.exp}[name](z)
    if loss == "mse":
        per_row = np.mean((a - y) ** 2, axis=1)
    elif loss == "binary_crossentropy":
        per_row = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)
    elif loss == "poisson":
        per_row = np.mean(a - y * np.log(a), axis=1)
    else:
        per_row = -np.sum(y * np.log(a), axis=1)
    return float(np.sum(w * per_row) / x.shape[0])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("loss, out_act, k", _LOSS_CASES)
def test_keras_weighted_loss_and_gradient_match_numpy_by_hand(backend, loss, out_act, k):
    """batch_loss_grad in the KERAS convention with weights: Keras' loss, and its gradient by finite differences."""
    kernel = fastnn.training.pick_build(fastnn.training.backend_module(backend).batch_loss_grad, backend, 0)
    rng = np.random.default_rng(7)
    widths = [3, 5, k]
    activations = ["tanh", out_act]
    codes = [fastnn.activations.activation_code(name) for name in activations]
    layout, n_params = contract.make_layout(widths[0], widths[1:], codes)
    theta = rng.standard_normal(n_params) * 0.5
    nb = 23
    x = rng.standard_normal((nb, widths[0]))
    if loss == "categorical_crossentropy":
        y = np.eye(k)[rng.integers(0, k, nb)]
    elif loss == "binary_crossentropy":
        y = (rng.random((nb, k)) > 0.5).astype(float)
    elif loss == "poisson":
        y = rng.poisson(1.5, (nb, k)).astype(float)
    else:
        y = rng.standard_normal((nb, k))
    w = rng.uniform(0.0, 3.0, nb)
    code = loss_code(loss)

    def loss_grad(th):
        grad = np.zeros(n_params)
        value, weight_sum = kernel(
            x, y, w, th, grad, layout, code, contract.KERAS, 0.0, np.finfo(np.float64).eps,
            np.empty(nb * sum(widths[1:])), np.empty(nb * max(widths)), np.empty(nb * max(widths)), np.empty(nb), nb)
        assert weight_sum == pytest.approx(w.sum())
        return value, grad

    value, grad = loss_grad(theta)
    assert value == pytest.approx(_numpy_keras_loss(theta, layout, activations, x, y, w, loss), rel=1e-12)
    h = 1e-6
    numeric = np.array([(_numpy_keras_loss(theta + h * e, layout, activations, x, y, w, loss)
                         - _numpy_keras_loss(theta - h * e, layout, activations, x, y, w, loss)) / (2 * h)
                        for e in np.eye(n_params)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def _model(backend="numba", k=3, out_act="softmax", dtype="float64", seed=1):
    return Sequential([Dense(6, "tanh"), Dense(k, out_act)], input_dim=4, backend=backend, seed=seed, dtype=dtype)


def _data(n=90, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    labels = np.clip(np.floor(X[:, 0] + 0.5 * X[:, 1] + 1.3), 0, k - 1).astype(int)
    return X, labels


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_sequential_class_weight_backends_agree(dtype, tol):
    X, labels = _data()
    fits = {}
    for backend in ("numba", "numpy"):
        model = _model(backend, dtype=dtype)
        history = model.fit(X, labels, epochs=6, batch_size=16, loss="categorical_crossentropy",
                            optimizer="adam", class_weight={1: 3.0, 2: 0.25})
        fits[backend] = (model.get_weights(), history.loss)
    for a, b in zip(fits["numba"][0], fits["numpy"][0]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(fits["numba"][1], fits["numpy"][1], rtol=tol)


@pytest.mark.parametrize("case", ["categorical", "one_hot", "binary_column"])
def test_sequential_class_weight_matches_torch(case):
    """Full-batch SGD on Keras' weighted loss in PyTorch, from the same weights: the same weights after the fit."""
    torch = pytest.importorskip("torch", reason="PyTorch is the independent oracle of this test")
    X, labels = _data(k=3 if case != "binary_column" else 2)
    class_weight = {0: 0.5, 2: 4.0} if case != "binary_column" else {1: 5.0}
    if case == "binary_column":
        model, y, loss = _model(k=1, out_act="sigmoid"), labels.astype(float), "binary_crossentropy"
    else:
        model, loss = _model(), "categorical_crossentropy"
        y = labels if case == "categorical" else np.eye(3)[labels]
    start = model.get_weights()
    epochs, lr = 12, 0.3
    model.fit(X, y, epochs=epochs, loss=loss, optimizer=fastnn.SGD(lr=lr), class_weight=class_weight)

    # the oracle: the weights of each row from its label (Keras' rule for these targets)
    w = torch.tensor([class_weight.get(int(c), 1.0) for c in labels], dtype=torch.float64)
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    xt = torch.tensor(X)
    yt = torch.tensor(labels)
    opt = torch.optim.SGD(params, lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        z = torch.tanh(xt @ params[0] + params[1]) @ params[2] + params[3]
        if case == "binary_column":
            row = torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], yt.double(), reduction="none")
        else:
            row = torch.nn.functional.cross_entropy(z, yt, reduction="none")
        (torch.sum(w * row) / len(labels)).backward()
        opt.step()
    for ours, theirs in zip(model.get_weights(), params):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sequential_balanced_and_dict_forms():
    """'balanced' is the dict of scikit-learn's balanced weights; all-ones is no weights; a dict is Keras' lookup."""
    X, labels = _data()
    kw = dict(epochs=4, batch_size=30, loss="categorical_crossentropy")
    balanced = _model()
    balanced.fit(X, labels, class_weight="balanced", **kw)
    classes = np.unique(labels)
    as_dict = _model()
    as_dict.fit(X, labels, class_weight=dict(zip(classes.tolist(), compute_class_weight(
        "balanced", classes=classes, y=labels))), **kw)
    for a, b in zip(balanced.get_weights(), as_dict.get_weights()):
        np.testing.assert_array_equal(a, b)
    ones, plain = _model(), _model()
    ones.fit(X, labels, class_weight={0: 1.0, 1: 1.0, 2: 1.0}, **kw)
    plain.fit(X, labels, **kw)
    for a, b in zip(ones.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_sequential_weights_scale_the_loss_not_the_mean():
    """Keras' reduction divides by n, not by sum(w): weights of 2 everywhere are SGD with twice the learning rate."""
    X, labels = _data()
    kw = dict(epochs=5, batch_size=30, loss="categorical_crossentropy")
    doubled, fast = _model(), _model()
    h2 = doubled.fit(X, labels, class_weight={0: 2.0, 1: 2.0, 2: 2.0}, optimizer=fastnn.SGD(lr=0.05), **kw)
    h1 = fast.fit(X, labels, optimizer=fastnn.SGD(lr=0.1), **kw)
    for a, b in zip(doubled.get_weights(), fast.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h2.loss[0], 2 * h1.loss[0], rtol=1e-12)


@pytest.mark.parametrize("class_weight, loss, k, error, match", [
    ({3: 1.0}, "categorical_crossentropy", 3, ValueError, "0..2"),
    ({2: 1.0}, "binary_crossentropy", 1, ValueError, "0 or 1"),
    ({"a": 1.0}, "categorical_crossentropy", 3, TypeError, "integer class indices"),
    ({True: 1.0}, "categorical_crossentropy", 3, TypeError, "integer class indices"),
    ({0: -1.0}, "categorical_crossentropy", 3, ValueError, "finite and >= 0"),
    ({0: np.inf}, "categorical_crossentropy", 3, ValueError, "finite and >= 0"),
    ("auto", "categorical_crossentropy", 3, ValueError, "'balanced'"),
    ([1.0, 2.0], "categorical_crossentropy", 3, TypeError, "dict"),
])
def test_sequential_bad_class_weight_changes_nothing(class_weight, loss, k, error, match):
    X, labels = _data(k=max(k, 2))
    model = _model(k=k, out_act="softmax" if k > 1 else "sigmoid")
    before = [w.copy() for w in model.get_weights()]
    y = labels if k > 1 else (labels > 0).astype(float)
    with pytest.raises(error, match=match):
        model.fit(X, y, epochs=1, loss=loss, class_weight=class_weight)
    assert model.epochs_trained == 0 and model.optimizer is None
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sequential_class_weight_on_dask_input_is_refused():
    da = pytest.importorskip("dask.array", reason="dask input needs dask")
    X, labels = _data()
    with pytest.raises(NotImplementedError, match="dask"):
        _model().fit(da.from_array(X, chunks=30), da.from_array(labels, chunks=30), epochs=1,
                     loss="categorical_crossentropy", class_weight={0: 2.0})


def test_sequential_regression_target_rounds_to_the_class():
    """One output unit and MSE: the class is round(y) (Keras), so keys are whatever integers the targets round to."""
    X, labels = _data()
    y = labels + np.random.default_rng(2).uniform(-0.4, 0.4, labels.shape[0])
    kw = dict(epochs=3, batch_size=30, loss="mse", optimizer=fastnn.SGD(lr=0.05))
    weighted, doubled = _model(k=1, out_act="identity"), _model(k=1, out_act="identity")
    weighted.fit(X, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0, 7: 5.0}, **kw)  # every row rounds to 0, 1 or 2
    kw["optimizer"] = fastnn.SGD(lr=0.1)
    doubled.fit(X, y, **kw)
    for a, b in zip(weighted.get_weights(), doubled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_no_class_weight_keeps_the_narrow_loop_and_weights_use_the_row_major_one():
    from fastnn.kernels import train

    X, labels = _data()
    plain = fastnn.training.check_fit_args(_model(), X, labels, 1, None, "categorical_crossentropy", None, True, 0,
                                           None, None, 0.0, None)
    weighted = fastnn.training.check_fit_args(_model(), X, labels, 1, None, "categorical_crossentropy", None, True,
                                              0, None, None, 0.0, None, class_weight={0: 2.0})
    layout = _model()._layout
    assert fastnn.training.make_plan(plain, "numba", layout, np.dtype(np.float64)).loop is train.train_epochs_narrow
    assert fastnn.training.make_plan(weighted, "numba", layout, np.dtype(np.float64)).loop is train.train_epochs
    assert plain.sw is None and weighted.sw.shape == (X.shape[0],)
