"""Shared parameters and helpers of the benchmark suite.

Conventions (docs/design.md, "Benchmarking"):

- the backend is a parameter axis: ``BACKENDS = ["numba", "numpy"]``;
- kernels are compiled (or loaded from Numba's on-disk cache) in ``setup``,
  never inside a timed region; compile latency has its own ``timeraw_``
  benchmarks (bench_compile.py);
- the default wall-clock timer is kept (a CPU-time timer would count every
  thread of a parallel kernel and make speed-ups look like slowdowns);
- every benchmark that trains starts from the workload's initial weights:
  asv re-runs ``setup`` before each timed sample, and ``number = 1`` makes
  each sample exactly one fit;
- workloads come from :mod:`fastnn.tools.workloads` (one definition shared with
  ``fastnn compare`` and the tests); one whose optional package
  (scikit-learn, mlxtend) is missing is skipped (``NotImplementedError`` in
  ``setup``), not failed.
"""

from __future__ import annotations

import numpy as np

import fastnn
from fastnn.tools.workloads import WORKLOADS, get_workload

BACKENDS = ["numba", "numpy"]
DTYPES = ["float32", "float64"]
ALL_WORKLOADS = list(WORKLOADS)
#: The workloads the thread-scaling and GEMM-floor benchmarks use.
SCALING_WORKLOADS = [name for name, w in WORKLOADS.items() if w.size in ("medium", "large")]

#: Attributes for benchmarks that run a whole fit: one fit per sample, a few samples.
FIT_ATTRS = {"number": 1, "repeat": (1, 5, 20.0), "warmup_time": 0.0, "timeout": 600, "rounds": 1}


def kernels(backend: str):
    """The kernel module of a backend: :mod:`fastnn.kernels` (numba) or :mod:`fastnn.reference` (numpy)."""
    if backend == "numba":
        import fastnn.kernels as module
    else:
        import fastnn.reference as module
    return module


def workload_or_skip(name: str):
    """The workload ``name``, or NotImplementedError (asv: skipped) when its optional package is missing."""
    w = get_workload(name)
    reason = w.unavailable_reason()
    if reason is not None:
        raise NotImplementedError(f"workload {name!r}: {reason}")
    return w


def threads_or_skip(n: int) -> None:
    """NotImplementedError when this machine cannot run ``n`` Numba threads."""
    import numba

    if n > numba.config.NUMBA_NUM_THREADS:
        raise NotImplementedError(f"{n} threads asked, NUMBA_NUM_THREADS is {numba.config.NUMBA_NUM_THREADS}")


def warm_model(workload, backend: str, threads=None):
    """Compile (or load) what a fit of ``workload`` runs, untimed; return a fresh model with the initial weights.

    The warm-up fit uses the first two batches only, with the workload's
    batch size, so the timed fit picks the same (already compiled) builds.
    """
    data = workload.data()
    model = workload.build_model(backend)
    rows = data.n_samples if workload.batch_size is None else min(data.n_samples, 2 * workload.batch_size)
    kwargs = workload.fit_kwargs()
    kwargs["epochs"] = 1
    model.fit(data.X[:rows], data.y[:rows], threads=threads, **kwargs)
    model.predict(data.X[:rows])
    model.evaluate(data.X[:rows], data.y[:rows])
    return workload.build_model(backend)


def random_array(shape, dtype, seed=0, low=-1.0, high=1.0, scale=1.0):
    """A reproducible uniform array of ``dtype`` (scaled before the cast, so the dtype is kept)."""
    return (scale * np.random.default_rng(seed).uniform(low, high, size=shape)).astype(dtype)
