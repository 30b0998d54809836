"""Validation and conversion of the data a user passes to ``fit``/``predict``/``evaluate``.

Everything here runs before any state of the model changes, so a bad call
raises and leaves the model as it was.  Messages name the argument.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.losses import CATEGORICAL_CROSSENTROPY, POISSON, LossSpec


def _numeric_array(name: str, value) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain array, not a masked array (use {name}.filled(...))")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be a numeric array; could not convert it: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric (bool, integer or float), got dtype {arr.dtype}")
    return arr


def check_features(name: str, X, dtype: np.dtype, n_features: int | None) -> np.ndarray:
    """Return ``X`` as a C-contiguous (n_samples, n_features) array of ``dtype``.

    Raises
    ------
    TypeError
        Non-numeric data (strings, objects, complex).
    ValueError
        Not 2-D, no samples, no features, NaN or inf, or a number of features
        other than ``n_features`` (when given).
    """
    arr = _numeric_array(name, X)
    if arr.ndim != 2:
        hint = f" (for one feature use {name}.reshape(-1, 1))" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no samples (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the model expects {n_features}")
    arr = _as_finite(name, arr, dtype)
    return arr


def _as_finite(name: str, arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``arr`` as C-contiguous ``dtype`` (no copy when it already is); ValueError if any value is NaN or inf."""
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        with np.errstate(over="ignore"):  # float64 values beyond float32's range become inf: reported below
            arr = np.ascontiguousarray(arr, dtype=dtype)
    # a finite sum proves every term finite (NaN and inf propagate) without a temporary array; only when the
    # sum overflows are the values checked one by one
    if not math.isfinite(arr.sum()) and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity (after conversion to {np.dtype(dtype)})")
    return arr


def check_targets(name: str, y, dtype: np.dtype, n_samples: int, n_outputs: int, spec: LossSpec) -> np.ndarray:
    """Return the targets as a C-contiguous (n_samples, n_outputs) array of ``dtype``.

    A 1-D ``y`` is one target per sample.  For categorical cross-entropy,
    integer class labels (1-D, or a single column) are one-hot encoded with
    ``n_outputs`` classes.  Binary cross-entropy targets must lie in [0, 1].
    """
    arr = _numeric_array(name, y)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    integer_labels = arr.dtype.kind in "iub" and arr.shape[1] == 1 and n_outputs > 1
    if spec.code == CATEGORICAL_CROSSENTROPY and integer_labels:
        labels = arr[:, 0].astype(np.int64)
        if labels.min() < 0 or labels.max() >= n_outputs:
            raise ValueError(
                f"{name} holds class labels from {labels.min()} to {labels.max()}, "
                f"but the output layer has {n_outputs} units (labels must be in 0..{n_outputs - 1})"
            )
        onehot = np.zeros((n_samples, n_outputs), dtype=dtype)
        onehot[np.arange(n_samples), labels] = 1
        return onehot
    if arr.shape[1] != n_outputs:
        raise ValueError(
            f"{name} has {arr.shape[1]} columns, but the output layer has {n_outputs} units"
            + (" (integer class labels are accepted with loss='categorical_crossentropy')" if n_outputs > 1 else "")
        )
    arr = _as_finite(name, arr, dtype)
    if spec.is_classification and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] for loss {spec.name!r}, got values in [{arr.min()}, {arr.max()}]")
    if spec.code == POISSON and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0 for loss 'poisson' (counts or rates), got a minimum of {arr.min()}")
    return arr
