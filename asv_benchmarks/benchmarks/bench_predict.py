"""Inference speed: ``predict`` on grid networks, against scikit-learn, onnxruntime and the product floor.

The ratios are measured the way ``fastnn compare --predict`` measures them
(its code does the measuring: alternating sides in one process, median of
rounds, outputs checked against the other sides first):

- ``track_speedup_vs_sklearn``: scikit-learn's ``predict`` with the same
  weights, time / fastnn's (higher is better; target >= 1.5 from 10,000 rows);
- ``track_speedup_vs_onnxruntime``: onnxruntime running ``fastnn.to_onnx``'s
  export, time / fastnn's (target >= 1; skipped without onnxruntime);
- ``track_over_floor``: fastnn's time / the network's matrix products alone
  through NumPy (lower is better, 1.0 is the floor).

``time_predict`` records fastnn's own time on 10,000 rows and
``time_single_row`` the latency of one row through a small network (target
10 us), for both APIs.
"""

from __future__ import annotations

import numpy as np

from fastnn.tools.compare import predict as compare_predict
from fastnn.tools.compare.sides import _optional_module
from fastnn.tools.grid import get_shape

#: Grid shapes spanning the networks: narrow, two small hidden layers, (100,) in float32, a 784-wide input,
#: (512, 256) in float64, and a Sequential model.
SHAPES = [
    "r1-1k-8-16-b16-sgd-64-est",
    "c2-100k-8-32x16-b200-adam-32-est",
    "c3-50k-50-100-b200-adam-32-est",
    "c10-5k-784-100-b200-adam-32-est",
    "c10-10k-200-512x256-b256-adam-64-est",
    "r1-100k-16-64x64-b512-adam-32-seq",
]
ROWS = 10_000


def _network_or_skip(name):
    if _optional_module("sklearn") is None:
        raise NotImplementedError("needs scikit-learn")
    return compare_predict.build_network(get_shape(name))


class PredictRatios:
    """Median over 3 alternating rounds, 10,000 rows, at the current thread count."""

    params = [SHAPES]
    param_names = ["shape"]
    timeout = 600

    def setup(self, name):
        self.net = _network_or_skip(name)
        self.row = None

    def _row(self):
        if self.row is None:
            from fastnn import config

            row = compare_predict.compare_case(self.net, ROWS, config.get_num_threads(), repeat=3)
            if row["status"] != "ok":
                raise AssertionError("; ".join(row["problems"]))
            self.row = row
        return self.row

    def track_speedup_vs_sklearn(self, name):
        return self._row()["sklearn_speedup"]

    def track_speedup_vs_onnxruntime(self, name):
        if _optional_module("onnxruntime") is None:
            raise NotImplementedError("needs onnxruntime")
        return self._row()["onnxruntime_speedup"]

    def track_over_floor(self, name):
        return self._row()["vs_floor"]

    track_speedup_vs_sklearn.unit = "ratio"
    track_speedup_vs_onnxruntime.unit = "ratio"
    track_over_floor.unit = "ratio"


class PredictTime:
    """fastnn's predict of 10,000 rows (the shape's API), warmed in setup."""

    params = [SHAPES]
    param_names = ["shape"]

    def setup(self, name):
        self.net = _network_or_skip(name)
        self.X = self.net.inputs(ROWS)
        self.net.fastnn.predict(self.X)

    def time_predict(self, name):
        self.net.fastnn.predict(self.X)


class SingleRow:
    """Latency of one row through a 8-16-1 network (the smallest grid network), both APIs."""

    params = [["sequential", "estimator"]]
    param_names = ["api"]

    def setup(self, api):
        name = "r1-1k-8-16-b16-sgd-64-est"
        self.net = _network_or_skip(name)
        if api == "sequential":
            import fastnn

            self.model = fastnn.Sequential([fastnn.Dense(16, "relu"), fastnn.Dense(1)], input_dim=8, seed=0)
        else:
            self.model = self.net.fastnn
        self.x = np.ascontiguousarray(self.net.inputs(1))
        self.model.predict(self.x)

    def time_single_row(self, api):
        self.model.predict(self.x)
