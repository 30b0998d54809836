"""Class weights: ``class_weight`` of ``MLPClassifier`` and of ``Sequential.fit``, turned into sample weights.

Both APIs reduce a class weight to one weight per training row; the
compiled loops only ever see sample weights.

- **Estimators** (scikit-learn's rules, :func:`estimator_sample_weight`):
  ``None``, ``"balanced"`` (``n_samples / (n_classes * count(class))`` over
  the classes present in ``y``), a dict ``{label: weight}`` (labels left out
  weigh 1), or for multilabel ``y`` a list of one dict per column (or
  ``"balanced"``: the columns' weights multiplied).  The weights come from
  scikit-learn's own ``compute_class_weight`` / ``compute_sample_weight``
  and multiply any ``sample_weight``, as in scikit-learn's
  ``HistGradientBoostingClassifier``.  ``partial_fit`` refuses
  ``"balanced"`` (one batch does not give the class frequencies), as
  scikit-learn's ``SGDClassifier`` does.
- **Sequential** (Keras' rules, :func:`sequential_sample_weight`): a dict
  ``{class_index: weight}``, the class of a row being the arg-max of its
  target row (several output columns: one-hot or integer labels) or its
  target rounded to an integer (one column); indices left out weigh 1.
  ``"balanced"`` is fastnn's addition (Keras has none), the same formula
  over those class indices.

scikit-learn is imported only by the estimator functions (the estimators
need it anyway); the Sequential side needs NumPy only.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastnn.losses import LossSpec

BALANCED = "balanced"


def balanced_option():
    """scikit-learn's parameter constraint for the string ``"balanced"`` (imports scikit-learn)."""
    from sklearn.utils._param_validation import StrOptions

    return StrOptions({BALANCED})


def _check_weight_values(name: str, class_weight: dict) -> None:
    """Every value a finite real number >= 0 (ValueError/TypeError naming the class otherwise)."""
    for key, value in class_weight.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}[{key!r}] must be a real number, got {type(value).__name__}")
        if not (math.isfinite(float(value)) and float(value) >= 0.0):
            raise ValueError(f"{name}[{key!r}] must be finite and >= 0, got {value}")


def _balanced(classes_present: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``n_samples / (n_classes * counts)`` in float64, in scikit-learn's order of operations (same bits)."""
    counts = counts.astype(np.float64)
    return counts.sum() / (classes_present.shape[0] * counts)


# ----------------------------------------------------------------------
# scikit-learn estimators
# ----------------------------------------------------------------------


def _is_multilabel(y) -> bool:
    from sklearn.utils.multiclass import type_of_target

    return type_of_target(y).startswith("multilabel")


def _sklearn_key(label):
    """How scikit-learn's ``compute_class_weight`` looks a label up in a dict: as an int, else as a str."""
    try:
        return int(label)
    except (TypeError, ValueError):
        return str(label)


def _check_keys(class_weight: dict, classes: np.ndarray) -> None:
    """scikit-learn's rule for dict keys, with an error that names the keys that are not classes.

    scikit-learn refuses a dict that has keys matching no class *and* leaves
    some class without a weight (a dict covering every class may hold more
    keys: a cross-validation fold can miss a class).
    """
    matched = {_sklearn_key(c) for c in classes} & set(class_weight)
    missing = [c for c in classes if _sklearn_key(c) not in class_weight]
    extra = [k for k in class_weight if k not in matched]
    if missing and extra:
        raise ValueError(f"class_weight has keys {extra} that are not classes of y (classes: {np.asarray(classes).tolist()}); "
                         f"labels left out of the dict weigh 1, so give weights for classes only")


def check_estimator_class_weight(est, y, classes=None) -> None:
    """Check ``est.class_weight`` for a ``partial_fit`` call before it changes anything.

    ``classes``: the ``classes`` argument of the first call (None on later
    calls: ``est.classes_``).  ``"balanced"`` raises: the class frequencies
    need all of ``y``, which one ``partial_fit`` batch does not give.
    """
    class_weight = getattr(est, "class_weight", None)
    if class_weight is None:
        return
    if isinstance(class_weight, str) and class_weight == BALANCED:
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit: one batch does not give the class "
            "frequencies. Compute the weights from (a large sample of) all labels with "
            "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, y=y_all) and pass "
            "them as a dict {label: weight}")
    if isinstance(class_weight, dict):
        _check_weight_values("class_weight", class_weight)
        known = classes if classes is not None else getattr(est, "classes_", None)
        if known is not None and y is not None and not _is_multilabel(y):
            from sklearn.utils.multiclass import unique_labels

            _check_keys(class_weight, unique_labels(known))


def estimator_sample_weight(est, y, sample_weight, incremental: bool):
    """``sample_weight`` times the class weights of ``est.class_weight`` for the labels ``y`` (raw, not encoded).

    Returns ``sample_weight`` unchanged when ``class_weight`` is None, and
    when ``y`` or ``sample_weight`` is malformed (scikit-learn's validation
    that follows then raises its own error).  ``incremental``
    (``partial_fit``): the classes are ``est.classes_``, set from the first
    call's ``classes``; otherwise those of ``y``, as ``fit`` sets them.

    Returns
    -------
    ndarray (n_samples,) float64, or ``sample_weight`` as given
    """
    class_weight = getattr(est, "class_weight", None)
    if class_weight is None:
        return sample_weight
    from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
    from sklearn.utils.multiclass import unique_labels

    if isinstance(class_weight, dict):
        _check_weight_values("class_weight", class_weight)
    elif isinstance(class_weight, list):
        for k, column in enumerate(class_weight):
            if not isinstance(column, dict):
                raise TypeError(f"class_weight[{k}] must be a dict {{0: weight, 1: weight}}, "
                                f"got {type(column).__name__}")
            _check_weight_values(f"class_weight[{k}]", column)
    if _is_multilabel(y):  # scikit-learn's multi-output rule: one dict per column, or "balanced"
        weights = compute_sample_weight(class_weight, np.asarray(y))
    else:
        if isinstance(class_weight, list):
            raise ValueError("class_weight as a list of dicts is for multilabel y (one dict per column); for "
                             "single-label y pass a dict {label: weight} or 'balanced'")
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels.ravel()
        if labels.ndim != 1:
            return sample_weight  # scikit-learn's check of y says what is wrong
        classes = est.classes_ if incremental else unique_labels(labels)
        if len(np.setdiff1d(unique_labels(labels), classes)):
            return sample_weight  # labels outside classes_: scikit-learn's own message follows
        if isinstance(class_weight, dict):
            _check_keys(class_weight, classes)
        per_class = compute_class_weight(class_weight, classes=classes, y=labels)
        weights = np.asarray(per_class, np.float64)[np.searchsorted(classes, labels)]
    if sample_weight is None:
        return weights
    given = np.asarray(sample_weight)
    if given.ndim == 0 or given.shape == weights.shape:
        return given * weights
    return sample_weight  # a wrong length: scikit-learn's _check_sample_weight says so


def dask_sample_weight(est, labels, sample_weight, classes_present, counts, incremental: bool):
    """:func:`estimator_sample_weight` for 1-D dask ``labels``: a lazy dask array (or ``sample_weight``).

    ``classes_present``: the distinct labels of ``labels`` (computed);
    ``counts``: their counts, needed for ``"balanced"`` only (None otherwise).
    The weight of each row is looked up block by block on the workers.
    """
    class_weight = getattr(est, "class_weight", None)
    if class_weight is None:
        return sample_weight
    if isinstance(class_weight, list):
        raise ValueError("class_weight as a list of dicts is for multilabel y (one dict per column); for "
                         "single-label y pass a dict {label: weight} or 'balanced'")
    classes = np.asarray(est.classes_)
    if isinstance(class_weight, dict):
        from sklearn.utils.class_weight import compute_class_weight

        _check_weight_values("class_weight", class_weight)
        _check_keys(class_weight, classes)
        per_class = np.asarray(compute_class_weight(class_weight, classes=classes, y=classes_present), np.float64)
    else:  # "balanced" (fit only): the classes are those present
        per_class = _balanced(np.asarray(classes_present), np.asarray(counts))[
            np.searchsorted(classes_present, classes)]
    weights = labels.map_blocks(_lookup, classes, per_class, dtype=np.float64,
                                meta=np.empty((0,), np.float64))
    return weights if sample_weight is None else sample_weight * weights


def _lookup(block, classes, per_class):
    return per_class[np.searchsorted(classes, np.asarray(block).ravel())]


# ----------------------------------------------------------------------
# Sequential (Keras' rules)
# ----------------------------------------------------------------------


def class_indices(Y: np.ndarray) -> np.ndarray:
    """Keras' class of each row of the targets ``Y`` (n, k): arg-max for k > 1, ``round(y)`` for k == 1 (int64)."""
    if Y.shape[1] > 1:
        return np.argmax(Y, axis=1).astype(np.int64)
    return np.round(Y[:, 0]).astype(np.int64)


def check_sequential_class_weight(class_weight, spec: LossSpec, n_outputs: int):
    """Validate ``Sequential.fit``'s ``class_weight`` against the loss and the output width; nothing changes.

    Keys are class indices: ``0..n_outputs-1`` with several output units,
    0 and 1 for a single unit with a cross-entropy loss, any integer for a
    single unit otherwise (the rounded target).  Returns ``class_weight``
    (a dict with int keys, or ``"balanced"``, or None).
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != BALANCED:
            raise ValueError(f"class_weight must be a dict {{class_index: weight}}, 'balanced' or None, "
                             f"got {class_weight!r}")
        return BALANCED
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class_index: weight}}, 'balanced' or None, "
                        f"got {type(class_weight).__name__}")
    if n_outputs > 1:
        allowed, what = range(n_outputs), f"0..{n_outputs - 1} (the output layer has {n_outputs} units)"
    elif spec.is_classification:
        allowed, what = range(2), "0 or 1 (one output unit: the class is the rounded target)"
    else:
        allowed, what = None, "an integer"
    checked = {}
    for key in class_weight:
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral):
            raise TypeError(f"class_weight keys must be integer class indices, got {key!r}")
        if allowed is not None and int(key) not in allowed:
            raise ValueError(f"class_weight key {key!r} is not a class index: classes are {what}")
        checked[int(key)] = class_weight[key]
    _check_weight_values("class_weight", checked)
    return {k: float(v) for k, v in checked.items()}


def sequential_sample_weight(class_weight, Y: np.ndarray) -> np.ndarray:
    """One weight per row of the validated targets ``Y`` (n, k), in ``Y``'s dtype; see the module docstring.

    ``class_weight`` as :func:`check_sequential_class_weight` returns it (not None).
    """
    idx = class_indices(Y)
    present, inverse, counts = np.unique(idx, return_inverse=True, return_counts=True)
    if isinstance(class_weight, str):  # "balanced"
        per_present = _balanced(present, counts)
    else:
        per_present = np.array([class_weight.get(int(c), 1.0) for c in present], np.float64)
    return np.ascontiguousarray(per_present[inverse.ravel()], dtype=Y.dtype)
