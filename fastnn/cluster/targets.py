"""Target encoders sent to the workers: each turns one block of ``y`` into the (n, k) array the loops train on.

Small picklable objects (a label binariser, a loss spec), applied by
:func:`fastnn.cluster.worker.prepare_partition` on the worker that holds the
block, so the targets are never gathered on the client.
"""

from __future__ import annotations

import numpy as np


class EstimatorTargets:
    """The targets of ``fastnn.MLPClassifier`` (label-binarised) or ``MLPRegressor`` (numeric, 2-D)."""

    def __init__(self, label_binarizer=None):
        self.label_binarizer = label_binarizer

    def __call__(self, y_block) -> np.ndarray:
        y = np.asarray(y_block)
        if self.label_binarizer is not None:
            y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
            return self.label_binarizer.transform(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must be numeric, got dtype {y.dtype}")
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        return y


class SequentialTargets:
    """The targets of ``fastnn.Sequential``: :func:`fastnn.data.check_targets` for the fit's loss."""

    def __init__(self, spec, output_dim: int, dtype):
        self.spec, self.output_dim, self.dtype = spec, output_dim, np.dtype(dtype)

    def __call__(self, y_block) -> np.ndarray:
        from fastnn.data import check_targets

        y = np.asarray(y_block)
        return check_targets("y", y, self.dtype, y.shape[0], self.output_dim, self.spec)
