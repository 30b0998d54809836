"""ONNX export (fastnn/interop/onnx.py): onnxruntime runs the exported graph, fastnn's predict is the oracle.

Every activation of a Sequential (as hidden and as output layer, and all mixed in one net), every
estimator kind (binary / multiclass / multilabel classifiers with int and string labels; squared-error
and Poisson regressors) and every hidden activation, in float32 and float64; scikit-learn pipelines
through skl2onnx; the errors.  Values agree to 1e-6 (float32) / 1e-12 (float64) relative
(interop/_nets.py, ``assert_close``), labels exactly.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install 'fastnn-numba[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the ONNX tests run the graphs with onnxruntime")

import fastnn  # noqa: E402
from fastnn.activations import ACTIVATIONS  # noqa: E402
from fastnn.interop import onnx as fonnx  # noqa: E402

from ._nets import assert_close, inputs, random_sequential  # noqa: E402

DTYPES = ["float32", "float64"]
SK_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]  # scikit-learn's names of the hidden activations


def run(model_proto, X) -> list:
    """The graph's outputs for ``X`` from onnxruntime (one thread: the machine is shared)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def outputs_of(model_proto) -> dict:
    return {o.name: o.type.tensor_type.elem_type for o in model_proto.graph.output}


# --------------------------------------------------------------------------
# Sequential
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ACTIVATIONS)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_sequential_every_activation(hidden, output, dtype):
    rng = np.random.default_rng(ACTIVATIONS.index(hidden) * 10 + ACTIVATIONS.index(output))
    model = random_sequential([hidden, output], dtype, rng)
    X = inputs(rng, 40, 4, dtype)
    proto = fastnn.to_onnx(model)
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    assert outputs_of(proto) == {"variable": elem}
    assert proto.graph.input[0].type.tensor_type.elem_type == elem
    (out,) = run(proto, X)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, model.predict(X), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sequential_mixed_activations_and_opsets(dtype):
    rng = np.random.default_rng(7)
    model = random_sequential(["relu", "exp", "sigmoid", "identity", "tanh", "softmax"], dtype, rng, n_out=4)
    X = inputs(rng, 30, 4, dtype)
    expected = model.predict(X)
    for opset in (fonnx.MIN_OPSET, None, onnx.defs.onnx_opset_version()):
        proto = fastnn.to_onnx(model, target_opset=opset)
        assert proto.opset_import[0].version == (opset or fonnx.DEFAULT_OPSET)
        assert_close(run(proto, X)[0], expected, dtype)
    # the parameters are stored exactly: the initializers are the model's weights, bit for bit
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for i, (w, b) in enumerate(zip(model.get_weights()[::2], model.get_weights()[1::2])):
        assert stored[f"W{i}"].dtype == w.dtype and np.array_equal(stored[f"W{i}"], w)
        assert np.array_equal(stored[f"b{i}"], b)


def test_sequential_graph_uses_one_standard_operator_per_activation():
    rng = np.random.default_rng(1)
    model = random_sequential(list(ACTIVATIONS), "float64", rng)
    ops = [n.op_type for n in fastnn.to_onnx(model).graph.node]
    expected = ["Identity", "Relu", "Sigmoid", "Tanh", "Softmax", "Exp"]  # in the order of fastnn.ACTIVATIONS
    assert [op for op in ops if op not in ("MatMul", "Add")] == expected + ["Identity"]  # + the renaming output
    assert ops.count("MatMul") == ops.count("Add") == len(ACTIVATIONS)


def test_input_name_and_saved_file(tmp_path):
    rng = np.random.default_rng(2)
    model = random_sequential(["tanh", "identity"], "float64", rng)
    proto = fastnn.to_onnx(model, input_name="features", name="net")
    path = tmp_path / "net.onnx"
    onnx.save(proto, str(path))
    loaded = onnx.load(str(path))
    assert loaded.graph.input[0].name == "features" and loaded.graph.name == "net"
    X = inputs(rng, 5, 4, "float64")
    assert_close(run(loaded, X)[0], model.predict(X), "float64")


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------

def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations: ConvergenceWarning
        return estimator.fit(X, y)


def _classification(kind, dtype, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(dtype)
    score = X[:, 0] + 0.5 * X[:, 1]
    if kind == "multilabel":
        return X, (X[:, :3] > 0).astype(int)
    if kind.startswith("binary"):
        y = (score > 0).astype(int)
    else:
        y = np.digitize(score, [-0.7, 0.0, 0.7])
    if kind.endswith("str"):
        y = np.array(["cat", "dog", "emu", "fox"])[y]
    else:
        y = y * 3 - 2  # labels that are not their indices
    return X, y


def check_classifier(proto, clf, X):
    dtype = clf.coefs_[0].dtype
    assert set(outputs_of(proto)) == {"label", "probabilities"}
    label, proba = run(proto, X)
    expected_label = clf.predict(X)
    assert label.shape == expected_label.shape
    assert np.array_equal(label, expected_label)  # identical labels (strings compared as strings)
    assert proba.dtype == dtype
    assert_close(proba, clf.predict_proba(X), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary_int", "binary_str", "multiclass_int", "multiclass_str", "multilabel"])
@pytest.mark.parametrize("activation", SK_ACTIVATIONS)
def test_classifier(activation, kind, dtype):
    X, y = _classification(kind, dtype)
    clf = _fit(fastnn.MLPClassifier((5, 4), activation=activation, max_iter=30, random_state=0), X, y)
    assert clf.coefs_[0].dtype == np.dtype(dtype)  # (scikit-learn keeps float32 data in float32)
    check_classifier(fastnn.to_onnx(clf), clf, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("activation", SK_ACTIVATIONS)
def test_regressor(activation, loss, dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4)).astype(dtype)
    n_outputs = 2 if activation in ("tanh", "relu") else 1  # (both output shapes, over the parametrisation)
    y = np.exp(0.5 * X[:, :n_outputs]) if loss == "poisson" else X[:, :n_outputs] @ np.ones((n_outputs, n_outputs))
    y = y.ravel() if n_outputs == 1 else y
    reg = _fit(fastnn.MLPRegressor((5,), activation=activation, loss=loss, max_iter=30, random_state=0), X, y)
    proto = fastnn.to_onnx(reg)
    assert set(outputs_of(proto)) == {"variable"}
    (out,) = run(proto, X)
    assert out.shape == (60, n_outputs) and out.dtype == np.dtype(dtype)
    if loss == "poisson":
        assert reg.out_activation_ == "exp" and "Exp" in [n.op_type for n in proto.graph.node]
    assert_close(out, reg.predict(X).reshape(60, n_outputs), dtype)


@pytest.mark.parametrize("kind", ["binary_str", "multiclass_int", "multilabel"])
def test_ties_follow_scikit_learns_rules_exactly(kind):
    """p = 0.5 exactly is the negative class (binary, multilabel); equal probabilities give the first class."""
    X, y = _classification(kind, "float64")
    clf = _fit(fastnn.MLPClassifier((3,), max_iter=5, random_state=0), X, y)
    clf.coefs_[-1][...] = 0.0  # a constant output: sigmoid(0) = 0.5, or softmax = 1/k for every class
    clf.intercepts_[-1][...] = 0.0
    assert np.all(clf.predict_proba(X) == clf.predict_proba(X)[0, 0])
    check_classifier(fastnn.to_onnx(clf), clf, X)


# --------------------------------------------------------------------------
# skl2onnx: the estimators alone and in pipelines
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def skl2onnx():
    module = pytest.importorskip("skl2onnx", reason="the pipeline tests need skl2onnx")
    fonnx.register_skl2onnx()
    fonnx.register_skl2onnx()  # idempotent
    return module


def _pipeline(estimator, X, y):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _fit(make_pipeline(StandardScaler(), estimator), X, y)


def test_skl2onnx_converts_a_fitted_estimator(skl2onnx):
    """The issue's example: skl2onnx.to_onnx(fastnn.MLPClassifier(...).fit(X, y)) failed with MissingShapeCalculator."""
    X, y = _classification("multiclass_str", "float32")
    clf = _fit(fastnn.MLPClassifier((5,), max_iter=20, random_state=0), X, y)
    proto = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
    check_classifier(proto, clf, X)


@pytest.mark.parametrize("kind", ["binary_int", "multiclass_str"])
def test_pipeline_classifier_float32_with_zipmap(skl2onnx, kind):
    X, y = _classification(kind, "float32")
    pipe = _pipeline(fastnn.MLPClassifier((6,), activation="tanh", max_iter=30, random_state=0), X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1])  # skl2onnx's default: the probabilities as a list of {class: p}
    label, proba = run(proto, X)
    assert np.array_equal(label, pipe.predict(X))
    classes = pipe.classes_
    as_array = np.array([[row[c.item() if hasattr(c, "item") else c] for c in classes] for row in proba])
    # the scaler runs in float32 on both sides, in its own order: compare to the float32 tolerance
    assert_close(as_array, pipe.predict_proba(X), "float32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary_str", "multiclass_int", "multilabel"])
def test_pipeline_classifier_without_zipmap(skl2onnx, kind, dtype):
    X, y = _classification(kind, dtype)
    pipe = _pipeline(fastnn.MLPClassifier((6,), activation="relu", max_iter=30, random_state=0), X, y)
    # (ONNX's ZipMap takes float32 only: float64 graphs need zipmap=False, for scikit-learn's MLP too)
    proto = skl2onnx.to_onnx(pipe, X[:1], options={fastnn.MLPClassifier: {"zipmap": False}})
    label, proba = run(proto, X)
    assert np.array_equal(label, pipe.predict(X))
    assert proba.dtype == np.dtype(dtype)
    assert_close(proba, pipe.predict_proba(X), dtype)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_regressor(skl2onnx, dtype, loss):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 4)).astype(dtype)
    y = np.exp(0.4 * X[:, 0]) if loss == "poisson" else X[:, 0] - X[:, 1]
    pipe = _pipeline(fastnn.MLPRegressor((5,), loss=loss, max_iter=30, random_state=0), X, y)
    (out,) = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, pipe.predict(X).reshape(-1, 1), dtype)


def test_float64_estimator_behind_a_float32_input(skl2onnx):
    """predict computes in float64 when coefs_ are float64: so does the graph, then casts its values to float32."""
    X, y = _classification("multiclass_int", "float64")
    clf = _fit(fastnn.MLPClassifier((5,), max_iter=20, random_state=0), X, y)
    X32 = X.astype(np.float32)
    label, proba = run(skl2onnx.to_onnx(clf, X32[:1], options={"zipmap": False}), X32)
    assert np.array_equal(label, clf.predict(X32))  # labels from the float64 probabilities
    assert proba.dtype == np.float32
    assert_close(proba, clf.predict_proba(X32).astype(np.float32), "float32")


# --------------------------------------------------------------------------
# errors and laziness
# --------------------------------------------------------------------------

def test_errors_before_anything_is_built():
    with pytest.raises(RuntimeError, match="not built"):
        fastnn.to_onnx(fastnn.Sequential([fastnn.Dense(2)]))
    with pytest.raises(RuntimeError, match="MLPClassifier is not fitted"):
        fastnn.to_onnx(fastnn.MLPClassifier())
    with pytest.raises(RuntimeError, match="MLPRegressor is not fitted"):
        fastnn.to_onnx(fastnn.MLPRegressor())
    with pytest.raises(TypeError, match="model must be a fastnn.Sequential"):
        fastnn.to_onnx(object())
    from sklearn.neural_network import MLPClassifier as SkMLP

    with pytest.raises(TypeError, match="got MLPClassifier"):  # scikit-learn's own: skl2onnx converts those
        fastnn.to_onnx(SkMLP())
    model = random_sequential(["relu", "identity"], "float64", np.random.default_rng(0))
    with pytest.raises(ValueError, match="target_opset must be between 13"):
        fastnn.to_onnx(model, target_opset=12)
    with pytest.raises(ValueError, match="target_opset must be between"):
        fastnn.to_onnx(model, target_opset=onnx.defs.onnx_opset_version() + 1)
    with pytest.raises(TypeError, match="target_opset must be an int"):
        fastnn.to_onnx(model, target_opset="17")
    with pytest.raises(TypeError, match="input_name"):
        fastnn.to_onnx(model, input_name="")
    with pytest.raises(TypeError, match="name must be a string"):
        fastnn.to_onnx(model, name=3)


@pytest.mark.parametrize("labels", [np.zeros(30, int), np.array(["only"] * 30)])
def test_a_single_class(labels):
    """A classifier fitted on one class predicts it everywhere (probabilities still (n, 2))."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, _ = _classification("binary_int", "float64", n=30)
    clf = _fit(fastnn.MLPClassifier((3,), max_iter=5, random_state=0), X, labels)
    # the oracle: scikit-learn's own estimator carrying the same weights
    sk = _fit(SkMLP((3,), max_iter=1, random_state=0), X, labels)
    for bias in (None, 50.0):  # 50: p = 1 > 0.5, so the index is 1, and still the one class
        if bias is not None:
            clf.intercepts_[-1][...] = bias
        sk.coefs_ = [c.copy() for c in clf.coefs_]
        sk.intercepts_ = [b.copy() for b in clf.intercepts_]
        label, proba = run(fastnn.to_onnx(clf), X)
        assert np.array_equal(label, sk.predict(X)) and np.all(label == labels[0])
        assert_close(proba, sk.predict_proba(X), "float64")


def test_float_labels_become_int64():
    X, _ = _classification("binary_int", "float64")
    clf = _fit(fastnn.MLPClassifier((3,), max_iter=5, random_state=0), X, np.where(X[:, 0] > 0, 1.0, 2.0))
    check_classifier(fastnn.to_onnx(clf), clf, X)  # integral floats become int64 labels (as skl2onnx does)


def test_importing_fastnn_imports_neither_onnx_nor_skl2onnx():
    code = ("import sys, fastnn, fastnn.interop.onnx; "
            "assert not {'onnx', 'onnxruntime', 'skl2onnx'} & set(sys.modules), sorted(sys.modules); "
            "assert fastnn.to_onnx is fastnn.interop.onnx.to_onnx; import onnx")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_readme_example_runs(capsys):
    """The README's "Export: ONNX and PyTorch" example runs and prints what it says."""
    pytest.importorskip("skl2onnx", reason="the example uses skl2onnx")
    pytest.importorskip("torch", reason="the example uses torch")
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Export: ONNX and PyTorch", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fit
        exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert float(printed[0]) <= 1e-6 and float(printed[1]) <= 1e-6 and printed[2] == "True"
