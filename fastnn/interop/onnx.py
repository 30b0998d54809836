"""ONNX export of fastnn models: :func:`to_onnx` and the skl2onnx converters.

The graph is built here, node by node, with the ``onnx`` package's helper
API; the same builder serves two front ends:

- :func:`to_onnx` exports a built :class:`fastnn.Sequential` or a fitted
  ``fastnn.MLPClassifier``/``MLPRegressor`` directly (needs ``onnx`` only);
- :func:`register_skl2onnx` registers converters for the two estimators with
  skl2onnx (its public ``update_registered_converter``), so
  ``skl2onnx.to_onnx(pipeline, X[:1])`` converts a scikit-learn ``Pipeline``
  ending in a fastnn estimator.  Registration is explicit (call it once);
  importing this module does not import skl2onnx.

The graph of one dense layer is ``MatMul(x, W) -> Add(b) -> activation``;
each fastnn activation maps to one standard ONNX operator computing the
same formula (:data:`ONNX_ACTIVATIONS`): identity -> Identity,
relu -> Relu (max(z, 0)), sigmoid -> Sigmoid (1 / (1 + exp(-z))),
tanh -> Tanh, exp -> Exp (the Poisson output), softmax -> Softmax over the
last axis (exp(z_j) / sum_k exp(z_k) per row).  Everything is computed in the
model's dtype (float32 or float64), parameters stored exactly.

Outputs follow skl2onnx's names for scikit-learn's MLPs (with
``zipmap=False``), so the exported file is a drop-in:

============================  ============================================================
model                         outputs
============================  ============================================================
``Sequential``, regressor     ``variable`` (n, n_outputs), the model's dtype
classifier                    ``label`` (n,) int64 or string (``classes_``'s type) and
                              ``probabilities`` (n, n_classes), the model's dtype
multilabel classifier         ``label`` (n, n_labels) int64 (0/1) and ``probabilities``
============================  ============================================================

The labels follow scikit-learn's rule exactly: a binary classifier predicts
its second class where p > 0.5 (and outputs [1 - p, p]), a multiclass one the
first class of largest probability, a multilabel one each label where p > 0.5.

Opset: :data:`DEFAULT_OPSET` (17) unless ``target_opset`` says otherwise;
at least :data:`MIN_OPSET` (13), the first opset in which Softmax normalises
over one axis (before, it flattened the trailing axes) and the operators used
here took their current form.  Opset 17 runs on onnxruntime >= 1.12.
"""

from __future__ import annotations

import numpy as np

from fastnn.interop._layers import Layer, is_classifier, layers_of

#: Opset of the exported graph when ``target_opset`` is not given.
DEFAULT_OPSET = 17
#: Lowest opset accepted (Softmax over the last axis only from 13 on).
MIN_OPSET = 13

#: fastnn activation name -> (ONNX operator, its attributes).
ONNX_ACTIVATIONS: dict[str, tuple[str, dict]] = {
    "identity": ("Identity", {}),
    "relu": ("Relu", {}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "exp": ("Exp", {}),
}

_INSTALL_HINT = 'pip install "fastnn-numba[onnx]"'


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"fastnn.to_onnx needs the onnx package: {_INSTALL_HINT}") from exc
    return onnx


# --------------------------------------------------------------------------
# the graph: one builder, two sinks (plain onnx.helper lists, or skl2onnx's container)
# --------------------------------------------------------------------------

class _HelperGraph:
    """Collects nodes and initializers for :func:`onnx.helper.make_graph`."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []
        self._used: set[str] = set()

    def fresh(self, hint: str) -> str:
        """A tensor name not used before in this graph."""
        name, i = hint, 0
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def reserve(self, *names: str) -> None:
        self._used.update(names)

    def constant(self, hint: str, array: np.ndarray) -> str:
        name = self.fresh(hint)
        self.initializers.append(_tensor(self.onnx, name, array))
        return name

    def node(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), **attrs))
        return output


class _Skl2onnxGraph:
    """The same interface over skl2onnx's ``scope`` (unique names) and ``container`` (nodes)."""

    def __init__(self, onnx, scope, container):
        self.onnx, self.scope, self.container = onnx, scope, container

    def fresh(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint: str, array: np.ndarray) -> str:
        name = self.fresh(hint)
        tensor = _tensor(self.onnx, name, array)
        if array.dtype.kind in "US":  # skl2onnx copies a TensorProto's raw bytes only: strings go by value
            self.container.add_initializer(name, tensor.data_type, list(array.shape), list(tensor.string_data))
        else:
            self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.container.add_node(op_type, inputs, [output], name=self.scope.get_unique_operator_name(op_type),
                                **attrs)
        return output


def _tensor(onnx, name: str, array: np.ndarray):
    """An exact TensorProto of ``array`` (numbers as raw bytes, strings UTF-8 encoded)."""
    if array.dtype.kind == "U":
        flat = [s.encode("utf-8") for s in array.ravel()]
        return onnx.helper.make_tensor(name, onnx.TensorProto.STRING, list(array.shape), flat)
    return onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)


def _forward(g, x: str, layers: list[Layer], dtype: np.dtype) -> str:
    """Nodes of the dense layers applied to tensor ``x``; returns the name of the last activation."""
    for i, layer in enumerate(layers):
        w = g.constant(f"W{i}", layer.w.astype(dtype))
        b = g.constant(f"b{i}", layer.b.astype(dtype))
        z = g.node("Add", [g.node("MatMul", [x, w], g.fresh(f"xW{i}")), b], g.fresh(f"z{i}"))
        op, attrs = ONNX_ACTIVATIONS[layer.activation]
        x = g.node(op, [z], g.fresh(f"a{i}"), **attrs)
    return x


def _label_classes(classes: np.ndarray) -> np.ndarray:
    """``classes_`` as the label tensor's values: int64, or str (UTF-8 in the graph)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biuf":  # (float labels are integral: scikit-learn refuses others as "continuous")
        return classes.astype(np.int64)
    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise ValueError(f"cannot export class labels of dtype {classes.dtype}: classes_ must hold integers or strings")


def _classifier_outputs(g, p: str, model, dtype: np.dtype, label: str, probabilities: str) -> None:
    """Label and probability outputs from the network output ``p``, by scikit-learn's rule."""
    if _is_multilabel(model) or np.shape(model.coefs_[-1])[1] == 1:
        half = g.constant("half", np.array(0.5, dtype=dtype))
    if _is_multilabel(model):  # each label where p > 0.5, as int64 0/1
        g.node("Identity", [p], probabilities)
        g.node("Cast", [g.node("Greater", [p, half], g.fresh("positive"))], label, to=g.onnx.TensorProto.INT64)
        return
    labels = _label_classes(model.classes_)
    if len(labels) == 1:  # one class seen in fit: scikit-learn predicts it whatever p (index 0 or 1 -> it)
        labels = np.repeat(labels, 2)
    classes = g.constant("classes", labels)
    if np.shape(model.coefs_[-1])[1] == 1:  # binary, one sigmoid output: [1 - p, p], label where p > 0.5
        one = g.constant("one", np.array(1.0, dtype=dtype))
        g.node("Concat", [g.node("Sub", [one, p], g.fresh("p_negative")), p], probabilities, axis=1)
        index = g.node("Cast", [g.node("Greater", [p, half], g.fresh("positive"))], g.fresh("index_2d"),
                       to=g.onnx.TensorProto.INT64)
        flat = g.constant("flat", np.array([-1], dtype=np.int64))
        index = g.node("Reshape", [index, flat], g.fresh("index"))
    else:  # softmax: the first class of largest probability (ArgMax picks the first, as NumPy)
        g.node("Identity", [p], probabilities)
        index = g.node("ArgMax", [p], g.fresh("index"), axis=1, keepdims=0)
    g.node("Gather", [classes, index], label, axis=0)


def _is_multilabel(model) -> bool:
    """Several independent sigmoid outputs (scikit-learn's multilabel case), read from public attributes."""
    return model.out_activation_ == "logistic" and np.shape(model.coefs_[-1])[1] > 1


def _check_opset(target_opset) -> int:
    if target_opset is None:
        return DEFAULT_OPSET
    if isinstance(target_opset, dict):  # skl2onnx's form: {domain: version}
        target_opset = target_opset.get("", DEFAULT_OPSET)
    if isinstance(target_opset, bool) or not isinstance(target_opset, (int, np.integer)):
        raise TypeError(f"target_opset must be an int >= {MIN_OPSET}, got {type(target_opset).__name__}")
    onnx = _import_onnx()
    highest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= target_opset <= highest:
        raise ValueError(f"target_opset must be between {MIN_OPSET} and {highest} (this onnx package's newest), "
                         f"got {target_opset}")
    return int(target_opset)


# --------------------------------------------------------------------------
# public: the direct export
# --------------------------------------------------------------------------

def to_onnx(model, *, target_opset=None, input_name: str = "X", name: str | None = None):
    """Export a fastnn model as an ONNX graph.

    Parameters
    ----------
    model : fastnn.Sequential or fastnn.MLPClassifier or fastnn.MLPRegressor
        A built ``Sequential`` (every activation, any mix per layer) or a
        fitted estimator (binary, multiclass or multilabel classifier;
        regressor with ``loss="squared_error"`` or ``"poisson"``).
    target_opset : int, optional
        ONNX opset of the graph, :data:`MIN_OPSET` (13) up to the installed
        onnx's newest; default :data:`DEFAULT_OPSET` (17).
    input_name : str, default "X"
        Name of the graph's input, shape (n, n_features), of the model's
        dtype (float32 or float64).
    name : str, optional
        Name of the graph (default: the model's class name).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model(full_check=True)``.  Its
        outputs: ``variable`` (n, n_outputs) for a ``Sequential`` or a
        regressor; ``label`` and ``probabilities`` for a classifier (see the
        module docstring).

    Raises
    ------
    ImportError
        The onnx package is missing (``pip install "fastnn-numba[onnx]"``).
    TypeError
        ``model`` is not a fastnn model, or an argument has the wrong type.
    RuntimeError
        The model is not built / not fitted.
    ValueError
        ``target_opset`` is out of range, or class labels are neither
        integers nor strings.
    """
    layers, dtype = layers_of(model)  # (type and fitted-ness checked before onnx is imported)
    if not isinstance(input_name, str) or not input_name:
        raise TypeError(f"input_name must be a non-empty string, got {input_name!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {type(name).__name__}")
    opset = _check_opset(target_opset)
    onnx = _import_onnx()
    helper = onnx.helper
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    n_in, n_out = layers[0].w.shape[0], layers[-1].w.shape[1]

    g = _HelperGraph(onnx)
    g.reserve(input_name)
    if is_classifier(model):
        label, probabilities = "label", "probabilities"
        g.reserve(label, probabilities)
        _classifier_outputs(g, _forward(g, input_name, layers, dtype), model, dtype, label, probabilities)
        if _is_multilabel(model):
            label_info = helper.make_tensor_value_info(label, onnx.TensorProto.INT64, ["N", n_out])
        else:
            kind = _label_classes(model.classes_).dtype.kind
            label_info = helper.make_tensor_value_info(
                label, onnx.TensorProto.STRING if kind == "U" else onnx.TensorProto.INT64, ["N"])
        n_proba = 2 if n_out == 1 and not _is_multilabel(model) else n_out
        outputs = [label_info, helper.make_tensor_value_info(probabilities, elem, ["N", n_proba])]
    else:
        g.reserve("variable")
        g.node("Identity", [_forward(g, input_name, layers, dtype)], "variable")
        outputs = [helper.make_tensor_value_info("variable", elem, ["N", n_out])]

    graph = helper.make_graph(g.nodes, name or type(model).__name__,
                              [helper.make_tensor_value_info(input_name, elem, ["N", n_in])], outputs,
                              initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    from fastnn import __version__

    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastnn", producer_version=__version__)
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR that holds the opset: older runtimes load it
    onnx.checker.check_model(proto, full_check=True)
    return proto


# --------------------------------------------------------------------------
# public: skl2onnx converters (scikit-learn pipelines)
# --------------------------------------------------------------------------

_REGISTERED = False


def register_skl2onnx() -> None:
    """Register fastnn's estimators with skl2onnx (idempotent).

    Afterwards ``skl2onnx.to_onnx`` / ``convert_sklearn`` convert a
    ``fastnn.MLPClassifier`` or ``MLPRegressor``, alone or as a step of a
    scikit-learn ``Pipeline``, with the graph of :func:`to_onnx` (Poisson
    regressors included).  skl2onnx finds converters by the exact class, so
    scikit-learn's own MLP converters do not apply to fastnn's subclasses.

    Classifiers accept skl2onnx's usual ``zipmap`` option (default: a
    ZipMap of the probabilities; ``options={"zipmap": False}`` gives the
    ``label``/``probabilities`` tensors) and ``output_class_labels``.  The
    network runs in float64 when the incoming tensor or the estimator is
    float64, as ``predict`` does; the probabilities/values are then cast to
    the incoming tensor's type, the labels come from the float64 values.

    Raises
    ------
    ImportError
        skl2onnx (or scikit-learn) is missing: ``pip install "fastnn-numba[onnx]"``.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(f"fastnn.interop.onnx.register_skl2onnx needs skl2onnx: {_INSTALL_HINT}") from exc
    from fastnn.sklearn import MLPClassifier, MLPRegressor

    update_registered_converter(MLPClassifier, "FastnnMLPClassifier", _skl2onnx_shapes, _skl2onnx_convert,
                                options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                                         "nocl": [False]})  # (skl2onnx's ZipMap asks for nocl; only False: labels kept)
    update_registered_converter(MLPRegressor, "FastnnMLPRegressor", _skl2onnx_shapes, _skl2onnx_convert)
    _REGISTERED = True


def _skl2onnx_output_dtype(operator) -> np.dtype:
    """float64 for a double input, float32 for anything else (skl2onnx's convention)."""
    from skl2onnx.common.data_types import DoubleTensorType

    return np.dtype(np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32)


def _skl2onnx_shapes(operator) -> None:
    """skl2onnx shape calculator: the types and shapes of the outputs of :func:`to_onnx`."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType

    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    values = DoubleTensorType if _skl2onnx_output_dtype(operator) == np.float64 else FloatTensorType
    n_out = len(model.intercepts_[-1])
    if not is_classifier(model):
        operator.outputs[0].type = values([n, n_out])
        return
    if _is_multilabel(model):
        operator.outputs[0].type = Int64TensorType([n, n_out])
    else:
        kind = _label_classes(model.classes_).dtype.kind
        operator.outputs[0].type = (StringTensorType if kind == "U" else Int64TensorType)([n])
    operator.outputs[1].type = values([n, 2 if n_out == 1 and not _is_multilabel(model) else n_out])


def _skl2onnx_convert(scope, operator, container) -> None:
    """skl2onnx converter: the nodes of :func:`to_onnx` written into skl2onnx's container."""
    onnx = _import_onnx()
    model = operator.raw_operator
    layers, model_dtype = layers_of(model)
    out_dtype = _skl2onnx_output_dtype(operator)
    dtype = np.result_type(model_dtype, out_dtype)  # fastnn's predict: float64 if the input or coefs_ are
    g = _Skl2onnxGraph(onnx, scope, container)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    x = g.node("Cast", [operator.inputs[0].full_name], g.fresh("X_cast"), to=elem)
    p = _forward(g, x, layers, dtype)
    names = [o.full_name for o in operator.outputs]
    if not is_classifier(model):
        _cast_to(g, p, names[0], dtype, out_dtype)
        return
    probabilities = g.fresh("probabilities_computed") if dtype != out_dtype else names[1]
    _classifier_outputs(g, p, model, dtype, names[0], probabilities)
    if dtype != out_dtype:
        _cast_to(g, probabilities, names[1], dtype, out_dtype)


def _cast_to(g, x: str, output: str, dtype: np.dtype, out_dtype: np.dtype) -> None:
    if dtype == out_dtype:
        g.node("Identity", [x], output)
    else:
        g.node("Cast", [x], output, to=g.onnx.helper.np_dtype_to_tensor_dtype(out_dtype))
