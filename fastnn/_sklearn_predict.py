"""The estimators' inference path: input checks, the packed network and label decoding, without per-call waste.

scikit-learn's ``predict`` spends most of a small call outside the network:
``check_is_fitted`` scans the estimator's attributes, ``validate_data`` asks
several dataframe libraries whether ``X`` is one of theirs, and
``LabelBinarizer.inverse_transform`` re-derives what the fit already knows
(~150-250 us per call here, against a few microseconds of arithmetic for a
small network).  The functions below give the same results and the same
errors: a plain C-ordered float ndarray with the fitted number of columns
takes a short path; anything else (lists, dataframes, sparse matrices, other
dtypes, an estimator fitted with feature names, NaN or infinity) goes through
scikit-learn's own validation, which accepts or rejects it as scikit-learn does.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from fastnn import contract, inference
from fastnn.activations import activation_code

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def require_fitted(est) -> None:
    """NotFittedError (scikit-learn's) unless ``est`` has been fitted; a single attribute test when it has."""
    if not hasattr(est, "coefs_"):
        check_is_fitted(est)


def checked_input(est, X):
    """``X`` validated for ``est``'s predict: scikit-learn's ``validate_data(reset=False)``, with a short path.

    The short path takes a 2-D float32/float64 ``numpy.ndarray`` (not a
    subclass) with ``n_features_in_`` columns and no NaN or infinity, for an
    estimator fitted without feature names; it returns ``X`` itself.
    """
    if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOATS and X.shape[0] > 0
            and X.shape[1] == getattr(est, "n_features_in_", -1) and not hasattr(est, "feature_names_in_")
            and math.isfinite(X.sum())):  # a finite sum proves every value finite
        return X
    return validate_data(est, X, accept_sparse=["csr", "csc"], reset=False)


@functools.lru_cache(maxsize=32)
def _plan(layer_units: tuple, hidden_activation: str, out_activation: str, itemsize: int) -> inference.Plan:
    n_layers = len(layer_units) - 1
    codes = [activation_code(out_activation if i == n_layers - 1 else hidden_activation) for i in range(n_layers)]
    layout, _ = contract.make_layout(layer_units[0], list(layer_units[1:]), codes)
    return inference.plan(layout, itemsize)


def _pack(coefs, intercepts, dtype) -> np.ndarray:
    # theta's layout is each layer's weights (row-major) then its bias, layer after layer
    return np.concatenate([part for w, b in zip(coefs, intercepts) for part in (w.reshape(-1), b)], dtype=dtype)


def shared_weights(coefs, intercepts):
    """``(coefs, intercepts, packed)``: the weights as views into one flat ``theta`` that predict can use as is.

    The estimators call this at the end of every fit (and on unpickling) and
    keep the views as their ``coefs_``/``intercepts_``: same values, shapes and
    dtype, and changing them in place changes ``theta`` too.  ``packed`` is
    ``(theta, views...)``, what :func:`packed_network` checks: while every array
    in the lists is still one of those views it uses ``theta`` (replacing an
    array, or a list, makes it pack afresh), so a one-row predict does not copy
    the weights.  None when the weights are not float arrays (left alone).
    """
    if not coefs or intercepts is None or len(coefs) != len(intercepts):
        return None
    if any(type(a) is not np.ndarray for a in (*coefs, *intercepts)):
        return None
    dtype = np.result_type(*coefs, *intercepts)
    if dtype not in _FLOATS:
        return None
    theta = _pack(coefs, intercepts, dtype)
    views, offset = [], 0
    for a in (part for pair in zip(coefs, intercepts) for part in pair):
        views.append(theta[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    coefs, intercepts = views[0::2], views[1::2]
    return coefs, intercepts, (theta, tuple(coefs), tuple(intercepts))


def packed_network(est, dtype: np.dtype) -> tuple[np.ndarray, inference.Plan]:
    """``est``'s weights as one flat ``theta`` of ``dtype``, and the network's plan.

    The ``theta`` of :func:`shared_weights` when the arrays are still its
    views (no copy), else a fresh packing (the arrays were replaced).
    """
    coefs, intercepts = est.coefs_, est.intercepts_
    layer_units = (coefs[0].shape[0],) + tuple(w.shape[1] for w in coefs)
    how = _plan(layer_units, est.activation, est.out_activation_, dtype.itemsize)
    shared = est.__dict__.get("_fastnn_packed")
    if (shared is not None and shared[0].dtype == dtype and len(shared[1]) == len(coefs)
            and all(a is b for a, b in zip(coefs, shared[1])) and all(a is b for a, b in zip(intercepts, shared[2]))):
        return shared[0], how
    return _pack(coefs, intercepts, dtype), how


def compute_dtype(X, coefs) -> np.dtype:
    """The dtype predict computes in: ``X``'s and the weights' common float type (float64 past float64)."""
    dtype = X.dtype
    if dtype in _FLOATS and all(c.dtype == dtype for c in coefs):
        return dtype
    dtype = np.result_type(dtype, *[c.dtype for c in coefs], np.float32)
    return dtype if dtype in _FLOATS else np.dtype(np.float64)  # longdouble input: the kernels compute in float64


def decode_labels(est, scores: np.ndarray) -> np.ndarray:
    """Class labels from the output layer (n, k): what ``est._label_binarizer.inverse_transform`` gives.

    Binary (one output): ``classes_[score > 0.5]``; multiclass: ``classes_[argmax]``
    (first maximum on ties); multilabel: scikit-learn's own decoding.
    """
    binarizer = est._label_binarizer
    kind = binarizer.y_type_
    if len(binarizer.classes_) == 1:  # fitted on one class: every row gets it
        return np.repeat(binarizer.classes_, scores.shape[0])
    if kind == "binary" and scores.shape[1] == 1:
        return binarizer.classes_[(scores[:, 0] > 0.5).astype(np.intp)]
    if kind == "multiclass":
        return binarizer.classes_[np.argmax(scores, axis=1)]
    return binarizer.inverse_transform(scores.ravel() if scores.shape[1] == 1 else scores)
