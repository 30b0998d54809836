"""What ``Sequential.fit`` callbacks cost: a fit without callbacks, with a no-op one every epoch, every 100 epochs.

Run ``python -m fastnn.tools.callback_cost [--rounds R]``.  Two fits, each
timed R times in alternating order (median): ``xor`` (2-8-1, 4 rows, 1000
full-batch epochs: an epoch is about a microsecond, so the per-epoch round
trip of ``every=1`` shows in full) and a wider one (2000 x 20 rows,
20-64-1, batches of 64, 20 epochs: an epoch of real work).  A callback with
``every=k`` cuts the compiled loop into chunks of at most k epochs
(docs/design.md, "Callbacks").
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastnn
from fastnn.callbacks import LambdaCallback


def _noop(epoch, logs):
    return None


def _cases() -> list:
    rng = np.random.default_rng(0)
    X_xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y_xor = np.array([0, 1, 1, 0], float)
    X_wide = rng.standard_normal((2000, 20))
    y_wide = (X_wide[:, 0] > 0).astype(float)
    return [
        ("xor 2-8-1, 1000 epochs", [8], X_xor, y_xor, 1000, None),
        ("2000x20-64-1, 20 epochs", [64], X_wide, y_wide, 20, 64),
    ]


def measure(rounds: int = 11) -> list:
    """``[(case, {"none": s, "every=1": s, "every=100": s})]``: median seconds of a fit from a fresh model."""
    results = []
    for name, hidden, X, y, epochs, batch in _cases():
        settings = {"none": None, "every=1": lambda: [LambdaCallback(_noop)],
                    "every=100": lambda: [LambdaCallback(_noop, every=100)]}

        def fit(make_callbacks, hidden=hidden, X=X, y=y, epochs=epochs, batch=batch):
            model = fastnn.Sequential([fastnn.Dense(hidden[0], "tanh"), fastnn.Dense(1, "sigmoid")],
                                      input_dim=X.shape[1], seed=0)
            callbacks = make_callbacks() if make_callbacks is not None else None
            start = time.perf_counter()
            model.fit(X, y, epochs=epochs, batch_size=batch, loss="binary_crossentropy",
                      optimizer=fastnn.Adam(lr=0.01), callbacks=callbacks)
            return time.perf_counter() - start

        for make in settings.values():  # compile and warm up
            fit(make)
        times = {key: [] for key in settings}
        for r in range(rounds):
            for key in (list(settings) if r % 2 else list(settings)[::-1]):
                times[key].append(fit(settings[key]))
        results.append((name, {key: statistics.median(v) for key, v in times.items()}))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args(argv)
    for name, medians in measure(args.rounds):
        base = medians["none"]
        print(f"{name}: " + ", ".join(f"{key} {value * 1e3:.2f} ms ({value / base:.2f}x)"
                                      for key, value in medians.items()))


if __name__ == "__main__":
    main()
