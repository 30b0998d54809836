"""``fastnn compare --predict``: inference speed on the grid's networks, against the libraries users serve with.

For each selected grid shape (:data:`fastnn.tools.grid.GRID`: its network,
dtype and API), each number of rows and each thread count, the command times
one ``predict`` call of

- ``fastnn``: the shape's API (``Sequential.predict``, or the estimator's
  ``predict``: labels for a classifier);
- ``sklearn``: scikit-learn's ``MLPClassifier``/``MLPRegressor`` holding the
  same weights (its ``predict``);
- ``onnxruntime`` (when installed): the model exported by
  :func:`fastnn.to_onnx`, run by an ``InferenceSession`` with that many
  intra-op threads (every output: labels and probabilities for a classifier);
- ``floor``: the network's matrix products alone, through NumPy into
  preallocated arrays (no bias, no activation, no validation): what any
  implementation on this machine's BLAS must pay.

Each time is the median of ``repeat`` rounds that alternate the sides (one
call each, repeated within a round until it has taken ``MIN_ROUND_SECONDS``
when a call is short; each side after an idle pause, so that the previous
side's spinning threads have gone quiet, and an untimed call that wakes its
own threads: a call right after a pause took up to 2x longer, for every
side); ratios are medians of the per-round ratios:
``sklearn_speedup`` and ``onnxruntime_speedup`` (their time / fastnn's: above
1, fastnn is faster) and ``vs_floor`` (fastnn's time / the floor's).

The outputs are checked, not only timed: fastnn's output layer must equal
onnxruntime's (and scikit-learn's) to the dtype's tolerance, else the row
FAILs (exit status 1).  The weights are random (a one-epoch fit on random
data gives an estimator its classes): speed does not depend on their values.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np

from fastnn import config
from fastnn.tools.compare.runner import CompareError, _settle
from fastnn.tools.compare.sides import _optional_module
from fastnn.tools.grid import GridShape

#: Rows per call when ``--rows`` is not given (the issue's range: 1,000,000 on request).
DEFAULT_ROWS: tuple = (1, 10_000, 100_000)
#: A round repeats a short call until it has taken this long, and reports the time per call.
MIN_ROUND_SECONDS: float = 0.02
#: Largest relative difference between fastnn's outputs and another side's, per dtype.
TOLERANCE = {"float32": 1e-4, "float64": 1e-9}
SIDES: tuple = ("fastnn", "sklearn", "onnxruntime", "floor")


@dataclass
class Network:
    """One grid shape's network in its three forms, and an input of ``rows`` rows."""

    shape: GridShape
    fastnn: object  #: Sequential or fitted fastnn estimator
    sklearn: object  #: scikit-learn estimator with the same weights
    weights: list  #: [(W, b), ...] in the shape's dtype

    def inputs(self, rows: int) -> np.ndarray:
        rng = np.random.default_rng(rows)
        return rng.standard_normal((rows, self.shape.n_features)).astype(self.shape.dtype)


def build_network(shape: GridShape, seed: int = 0) -> Network:
    """The shape's network with random weights, as fastnn (through the shape's API) and as scikit-learn."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    import fastnn

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, shape.n_features)).astype(shape.dtype)
    if shape.task == "classification":
        y = np.arange(64) % shape.n_outputs
    else:
        y = rng.standard_normal((64, shape.n_outputs)) if shape.n_outputs > 1 else rng.standard_normal(64)
    params = dict(hidden_layer_sizes=shape.hidden, max_iter=1, random_state=seed)
    theirs = (MLPClassifier if shape.task == "classification" else MLPRegressor)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the one-epoch fits
        theirs.fit(X, y)
        if shape.api == "estimator":
            ours = (fastnn.MLPClassifier if shape.task == "classification" else fastnn.MLPRegressor)(**params)
            ours.fit(X, y)
            weights = list(zip(ours.coefs_, ours.intercepts_))
        else:
            layers = [fastnn.Dense(h, "relu") for h in shape.hidden]
            layers.append(fastnn.Dense(shape.output_units, shape.output_activation))
            ours = fastnn.Sequential(layers, input_dim=shape.n_features, dtype=shape.dtype, seed=seed, init="he")
            w = ours.get_weights()
            weights = list(zip(w[0::2], w[1::2]))
    theirs.coefs_ = [np.array(W, dtype=shape.dtype) for W, _ in weights]
    theirs.intercepts_ = [np.array(b, dtype=shape.dtype) for _, b in weights]
    return Network(shape, ours, theirs, [(np.asarray(W), np.asarray(b)) for W, b in weights])


def _onnx_session(net: Network, threads: int):
    """An onnxruntime session of ``fastnn.to_onnx(net.fastnn)`` at ``threads`` intra-op threads, or None."""
    ort = _optional_module("onnxruntime")
    if ort is None or _optional_module("onnx") is None:
        return None
    import fastnn

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model = fastnn.to_onnx(net.fastnn)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, session.get_inputs()[0].name


def _floor(net: Network, X: np.ndarray):
    """A callable doing the network's products alone on ``X``, into arrays allocated here."""
    outs = [np.empty((X.shape[0], W.shape[1]), X.dtype) for W, _ in net.weights]
    weights = [W for W, _ in net.weights]

    def products():
        a = X
        for W, out in zip(weights, outs):
            np.matmul(a, W, out=out)
            a = out

    return products


def _fastnn_scores(net: Network, X: np.ndarray) -> np.ndarray:
    """fastnn's output layer for ``X`` (the values every side must agree on)."""
    model = net.fastnn
    if net.shape.api == "estimator":
        if net.shape.task == "classification":
            return model.predict_proba(X)
        return model.predict(X).reshape(X.shape[0], -1)
    return model.predict(X)


def _other_scores(side: str, net: Network, X: np.ndarray, session) -> np.ndarray:
    if side == "onnxruntime":
        session, name = session
        outputs = session.run(None, {name: X})
        return np.asarray(outputs[-1]).reshape(X.shape[0], -1)  # probabilities (classifier) or the output
    est = net.sklearn
    if net.shape.task == "classification":
        p = est.predict_proba(X)
        return p[:, 1:] if net.shape.output_units == 1 and net.shape.api == "sequential" else p
    return est.predict(X).reshape(X.shape[0], -1)


def _disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the larger output magnitude (outputs near 0 compare absolutely)."""
    if a.shape != b.shape:
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale if a.size else 0.0


def _time_call(fn) -> float:
    """Seconds per call of ``fn``: one call, or as many as fill :data:`MIN_ROUND_SECONDS`."""
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    if elapsed >= MIN_ROUND_SECONDS:
        return elapsed
    calls = max(1, int(MIN_ROUND_SECONDS / max(elapsed, 1e-7)))
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


@contextlib.contextmanager
def _threads(n: int):
    from threadpoolctl import threadpool_limits

    with config.threads(n), threadpool_limits(n):
        yield


def compare_case(net: Network, rows: int, threads: int, repeat: int = 5) -> dict:
    """Time every side on ``rows`` rows at ``threads`` threads; one result row (see the module docstring)."""
    shape = net.shape
    X = net.inputs(rows)
    row = {"shape": shape.name, "network": shape.architecture(), "dtype": shape.dtype, "api": shape.api,
           "rows": rows, "threads": threads, "repeat": repeat, "status": "ok", "problems": [], "notes": []}
    session = _onnx_session(net, threads)
    if session is None:
        row["notes"].append("onnxruntime: not installed (pip install 'fastnn-numba[onnx]')")
    calls = {
        "fastnn": lambda: net.fastnn.predict(X),
        "sklearn": lambda: net.sklearn.predict(X),
        "floor": _floor(net, X),
    }
    if session is not None:
        calls["onnxruntime"] = lambda: session[0].run(None, {session[1]: X})
    with _threads(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's overflow warnings on random weights are not ours
        ours = _fastnn_scores(net, X)
        for side in ("sklearn", "onnxruntime"):
            if side in calls:
                gap = _disagreement(ours, _other_scores(side, net, X, session))
                row[f"{side}_difference"] = gap
                if gap > TOLERANCE[shape.dtype]:
                    row["status"] = "FAIL"
                    row["problems"].append(f"fastnn's outputs differ from {side}'s by {gap:.3g} (relative)")
        for fn in calls.values():  # warm: compilation, first-call costs
            fn()
        times = {side: [] for side in calls}
        for _ in range(repeat):
            for side, fn in calls.items():
                _settle()  # the previous side's threads (OpenBLAS's, onnxruntime's spin) go idle first
                fn()  # then one untimed call wakes this side's threads, as in a loop of predicts
                times[side].append(_time_call(fn))
    for side in SIDES:
        row[f"{side}_s"] = statistics.median(times[side]) if side in times else None
    fast = times["fastnn"]
    for side, key in (("sklearn", "sklearn_speedup"), ("onnxruntime", "onnxruntime_speedup")):
        row[key] = (statistics.median(t / f for t, f in zip(times[side], fast)) if side in times else None)
    row["vs_floor"] = statistics.median(f / t for f, t in zip(fast, times["floor"]))
    return row


def _format(row: dict) -> str:
    def ms(v):
        return "-" if v is None else (f"{v * 1e6:8.1f}us" if v < 1e-3 else f"{v * 1e3:8.2f}ms")

    def ratio(v):
        return "    -" if v is None else f"{v:5.2f}x"

    return (f"{row['shape']:40s} {row['rows']:>9,} {row['threads']:>2}  fastnn {ms(row['fastnn_s'])}  "
            f"sklearn {ms(row['sklearn_s'])} ({ratio(row['sklearn_speedup'])})  "
            f"onnxrt {ms(row['onnxruntime_s'])} ({ratio(row['onnxruntime_speedup'])})  "
            f"floor {ms(row['floor_s'])} (fastnn {ratio(row['vs_floor'])})  {row['status']}")


def main(names=None, repeat: int = 5, threads=None, rows=None, as_json: bool = False, out=print) -> int:
    """Run ``fastnn compare --predict``; returns the exit status (1 when a row FAILs)."""
    from fastnn.tools.compare.grid import select_shapes

    if _optional_module("sklearn") is None:
        raise CompareError("--predict needs scikit-learn (pip install 'fastnn-numba[sklearn]')")
    shapes, notes = select_shapes(names)
    thread_counts = [threads] if threads is not None else sorted({1, config.get_num_threads()})
    rows = list(rows or DEFAULT_ROWS)
    results = []
    if not as_json:
        out("shape                                         rows  t  (ratios: their time / fastnn's; "
            "floor: fastnn's time / the products alone)")
    for shape in shapes:
        net = build_network(shape)
        for n in rows:
            for t in thread_counts:
                row = compare_case(net, n, t, repeat=repeat)
                results.append(row)
                if not as_json:
                    out(_format(row))
                    for problem in row["problems"]:
                        out(f"    {problem}")
    if as_json:
        out(json.dumps({"rows": results, "notes": notes}, indent=1))
    else:
        for note in notes + sorted({n for r in results for n in r["notes"]}):
            out(f"note: {note}")
    return 1 if any(r["status"] != "ok" for r in results) else 0
