"""Top-level functions for worker processes (spawn needs importable functions)."""

from __future__ import annotations

import hashlib

import numpy as np


def train_and_hash(seed: int = 0, backend: str = "numba") -> str:
    """Train a small fixed model and return a hash of its weights (bit-exact comparison across processes)."""
    import fastnn

    rng = np.random.default_rng(123)
    X = rng.standard_normal((300, 12))
    y = (X[:, 0] - X[:, 3] > 0).astype(float)
    model = fastnn.Sequential([fastnn.Dense(48, "relu"), fastnn.Dense(1, "sigmoid")], input_dim=12,
                              backend=backend, seed=seed, init="he")
    model.fit(X, y, epochs=5, batch_size=32, loss="binary_crossentropy", optimizer=fastnn.Adam(0.01))
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def parallel_kernel_sum(_: int = 0) -> float:
    """Run a kernel's parallel build in this process (exercises the threading layer after fork/spawn)."""
    import fastnn
    import fastnn.kernels as K

    x = np.ones((300, 300))
    with fastnn.config.parallel_mode("parallel"):
        return float(K.dense_forward(x, x, np.zeros(300), "relu").sum())
