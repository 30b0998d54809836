"""Speed ratios measured inside one process, alternating the two sides (median of rounds).

asv's own timings of different benchmarks are taken minutes apart on a
shared, noisy machine; these ``track_`` benchmarks record the ratios the
performance targets are stated in, each measured side by side the way
``fastnn compare`` measures them (its code does the measuring):

- ``track_speedup_vs_reference``: numpy-backend time / numba-backend time
  of one whole fit (higher is better);
- ``track_fastnn_over_gemm_floor``: numba-backend fit time / the time of the
  same matrix products alone through NumPy's BLAS (lower is better, 1.0 is
  the floor);
- ``track_thread_speedup``: numba-backend fit time at 1 thread / at 2
  threads (higher is better).

Each also checks that the two backends agree (a FAIL in ``fastnn compare``
raises here, so the benchmark errors instead of recording a ratio).
"""

from __future__ import annotations

import statistics
import time

from fastnn import compare

from .common import ALL_WORKLOADS, SCALING_WORKLOADS, threads_or_skip, warm_model, workload_or_skip

ROUNDS = 3


class SpeedupVsReference:
    """Median over 3 alternating rounds of (numpy-backend fit time / numba-backend fit time)."""

    params = [ALL_WORKLOADS]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)

    def track_speedup_vs_reference(self, name):
        row = compare.compare_workload(self.workload, repeat=ROUNDS)
        if row["status"] != compare.STATUS_OK:
            raise AssertionError(f"{name}: " + "; ".join(row["problems"]))
        return row["speedup"]

    track_speedup_vs_reference.unit = "ratio"


class GemmFloor:
    """Median over 3 alternating rounds of (numba-backend fit time / GEMM-floor time)."""

    params = [list(compare.GEMM_FLOOR_WORKLOADS)]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)

    def track_fastnn_over_gemm_floor(self, name):
        row = compare.compare_workload(self.workload, repeat=ROUNDS)
        if row["status"] != compare.STATUS_OK:
            raise AssertionError(f"{name}: " + "; ".join(row["problems"]))
        return row["fastnn_over_gemm"]

    track_fastnn_over_gemm_floor.unit = "ratio"


class ThreadSpeedup:
    """Median over 3 alternating rounds of (fit time at 1 thread / fit time at 2 threads), numba backend."""

    params = [SCALING_WORKLOADS]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        threads_or_skip(2)
        self.workload = workload_or_skip(name)
        for n in (1, 2):
            warm_model(self.workload, "numba", threads=n)

    def _fit_seconds(self, threads):
        model = self.workload.build_model("numba")
        compare._settle()  # the other thread count's workers go idle first, as in fastnn compare
        start = time.perf_counter()
        self.workload.fit(model, threads=threads)
        return time.perf_counter() - start

    def track_thread_speedup(self, name):
        ratios = []
        for _ in range(ROUNDS):
            one = self._fit_seconds(1)
            two = self._fit_seconds(2)
            ratios.append(one / two)
        return statistics.median(ratios)

    track_thread_speedup.unit = "ratio"
