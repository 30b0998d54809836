"""Prediction time of a fastnn model and of its exports (onnxruntime, PyTorch), and how far they agree.

Run ``python -m fastnn.tools.export_speed [--rows N] [--layers 784,128,10] [--threads T] [--repeat R]``.
For float32 and float64 it builds a ``Sequential`` (relu hidden layers, softmax output), exports it
with :func:`fastnn.to_onnx` and :func:`fastnn.interop.torch.to_torch`, and prints the export time
and the best-of-R time of one ``predict`` of N random rows on each side (T threads everywhere),
with the largest absolute difference from fastnn's output (probabilities: in [0, 1]).  Export
time is ``to_onnx`` plus the session's set-up, or ``to_torch``, the frameworks already imported.
onnxruntime and torch are optional: a missing one is left out.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import time

import numpy as np


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: compilation, session set-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn.tools.export_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--layers", default="784,128,10", help="input width, then each layer's units")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    import fastnn

    widths = [int(v) for v in args.layers.split(",")]
    has_ort = importlib.util.find_spec("onnxruntime") is not None
    has_torch = importlib.util.find_spec("torch") is not None
    for name in ("onnx", "onnxruntime", "torch") if has_ort or has_torch else ():  # (imports outside the times)
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    fastnn.set_num_threads(args.threads)
    print(f"{'dtype':8s} {'side':12s} {'export ms':>10s} {'predict ms':>11s} {'max abs diff':>13s}")
    for dtype in ("float32", "float64"):
        layers = [fastnn.Dense(u, "relu") for u in widths[1:-1]] + [fastnn.Dense(widths[-1], "softmax")]
        model = fastnn.Sequential(layers, input_dim=widths[0], dtype=dtype, init="he", seed=0)
        X = np.random.default_rng(0).normal(size=(args.rows, widths[0])).astype(dtype)
        expected = model.predict(X)
        print(f"{dtype:8s} {'fastnn':12s} {'':>10s} {_best(lambda: model.predict(X), args.repeat) * 1e3:11.4g}")
        sides = []
        if has_ort:
            sides.append(("onnxruntime", lambda: _onnxruntime(model, args.threads)))
        if has_torch:
            sides.append(("torch", lambda: _torch(model, args.threads)))
        for name, export in sides:
            start = time.perf_counter()
            run = export()
            exported = time.perf_counter() - start
            diff = np.max(np.abs(run(X) - expected))
            print(f"{dtype:8s} {name:12s} {exported * 1e3:10.4g} {_best(lambda: run(X), args.repeat) * 1e3:11.4g} "
                  f"{diff:13.1e}")
    return 0


def _onnxruntime(model, threads: int):
    """Export (to_onnx + session set-up) and return the predict function."""
    import onnxruntime as ort

    import fastnn

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(fastnn.to_onnx(model).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda X: session.run(None, {"X": X})[0]


def _torch(model, threads: int):
    import torch

    torch.set_num_threads(threads)
    net = model.to_torch()

    def run(X):
        with torch.no_grad():
            return net(torch.from_numpy(X)).numpy()

    return run


if __name__ == "__main__":
    raise SystemExit(main())
