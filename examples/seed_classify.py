"""Seed 002 (2-4-1, ReLU hidden, sigmoid output, MSE, lr 0.01, 10,000 epochs) on fastnn's kernels.

Trains the tutorial's network with the kernel functions directly, once on the
NumPy reference backend and once on the Numba backend, from the same initial
weights, and prints the accuracy, the final loss, the time of each and the
largest difference between the two backends' final weights.

Run:  python examples/seed_classify.py [--epochs N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastnn.kernels
import fastnn.reference


def make_data():
    """The seed's data and initial weights, drawn in the seed's order from seed 42."""
    np.random.seed(42)
    x = np.random.randn(100, 2)
    y = (np.sum(x, axis=1) > 0).astype(np.float64).reshape(-1, 1)
    w1 = np.random.randn(2, 4)
    b1 = np.zeros(4)
    w2 = np.random.randn(4, 1)
    b2 = np.zeros(1)
    return x, y, [w1, b1, w2, b2]


def train(backend, x, y, params, epochs, lr):
    """Full-batch gradient descent on MSE; returns the final weights and the loss curve."""
    w1, b1, w2, b2 = (p.copy() for p in params)
    losses = np.empty(epochs)
    for epoch in range(epochs):
        a1 = backend.dense_forward(x, w1, b1, "relu")
        a2 = backend.dense_forward(a1, w2, b2, "sigmoid")
        losses[epoch] = backend.mse_loss(a2, y)
        delta2 = backend.output_delta(a2, y, "mse", "sigmoid")
        gw2, gb2, ga1 = backend.dense_backward(a1, w2, a2, delta2, "identity")
        gw1, gb1, _ = backend.dense_backward(x, w1, a1, ga1, "relu", compute_grad_x=False)
        for param, grad in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            backend.sgd_update(param, grad, lr)
    return [w1, b1, w2, b2], losses


def accuracy(backend, x, y, params):
    w1, b1, w2, b2 = params
    p = backend.dense_forward(backend.dense_forward(x, w1, b1, "relu"), w2, b2, "sigmoid")
    return float(np.mean((p > 0.5) == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10_000)
    args = parser.parse_args(argv)
    x, y, params = make_data()
    # compile the kernels outside the timed region
    train(fastnn.kernels, x, y, params, 1, 0.01)
    results = {}
    for name, backend in (("reference (NumPy)", fastnn.reference), ("fastnn (Numba)", fastnn.kernels)):
        start = time.perf_counter()
        weights, losses = train(backend, x, y, params, args.epochs, 0.01)
        seconds = time.perf_counter() - start
        results[name] = weights
        print(
            f"{name:18s} loss {losses[-1]:.6f}  accuracy {accuracy(backend, x, y, weights):.2%}  "
            f"time {seconds:.3f} s"
        )
    ref, fast = results.values()
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, fast))
    print(f"largest weight difference between the backends: {diff:.3e}")


if __name__ == "__main__":
    main()
