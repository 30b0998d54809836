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
  threads (higher is better);
- ``track_speedup_vs_sklearn`` / ``track_speedup_vs_torch``: scikit-learn's
  MLP / a PyTorch CPU loop of the same network, time / numba-backend time
  (skipped when the library is not installed);
- ``track_speedup_vs_tutorial_loop``: on the seed workloads, the loop a
  tutorial reader writes in NumPy (:mod:`fastnn.tools.tutorial`, same
  initial weights, epochs and learning-rate schedule) time / numba-backend
  time (higher is better);
- ``track_reference_over_tutorial_loop``: on the same rounds, numpy-backend
  time / tutorial-loop time (~1 or below: the reference the speed-ups are
  quoted against is as lean as the code a user would write; the target is
  at most 1.15);
- ``track_float32_speedup``: the numba-backend fit of a float32 workload
  in float64 / in float32;
- ``track_memory_growth_mb`` and ``track_memory_vs_reference_mb``: the
  peak memory a 10-epoch numba fit adds to a fresh process minus that of a
  1-epoch fit, and minus that of the 10-epoch numpy fit (MiB; lower is
  better, targets ~0 and <= 0).

Each also checks that the two backends agree (a FAIL in ``fastnn compare``
raises here, so the benchmark errors instead of recording a ratio).
"""

from __future__ import annotations

import statistics
import time

from fastnn.tools import compare
from fastnn.tools.tutorial import TUTORIAL_WORKLOADS

from .common import ALL_WORKLOADS, SCALING_WORKLOADS, threads_or_skip, warm_model, workload_or_skip

ROUNDS = 3


def _row(workload, extras=()):
    """``fastnn compare``'s row of ``workload`` (3 rounds); an error instead when the backends disagree."""
    row = compare.compare_workload(workload, repeat=ROUNDS, extras=extras)
    if row["status"] != compare.STATUS_OK:
        raise AssertionError(f"{workload.name}: " + "; ".join(row["problems"]))
    return row


class SpeedupVsReference:
    """Median over 3 alternating rounds of (numpy-backend fit time / numba-backend fit time)."""

    params = [ALL_WORKLOADS]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)

    def track_speedup_vs_reference(self, name):
        return _row(self.workload)["speedup"]

    track_speedup_vs_reference.unit = "ratio"


class GemmFloor:
    """Median over 3 alternating rounds of (numba-backend fit time / GEMM-floor time)."""

    params = [list(compare.GEMM_FLOOR_WORKLOADS)]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)

    def track_fastnn_over_gemm_floor(self, name):
        return _row(self.workload)["fastnn_over_gemm"]

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


class SpeedupVsLibraries:
    """Median over 3 alternating rounds of (scikit-learn / PyTorch fit time / numba-backend fit time)."""

    params = [ALL_WORKLOADS, list(compare.LIBRARY_EXTRAS)]
    param_names = ["workload", "library"]
    timeout = 1200

    def setup(self, name, library):
        self.workload = workload_or_skip(name)
        if compare._optional_module(compare.EXTRAS[library]) is None:
            raise NotImplementedError(f"{library} is not installed")

    def track_speedup_vs_library(self, name, library):
        return _row(self.workload, (library,))[f"{library}_speedup"]

    track_speedup_vs_library.unit = "ratio"


class _TutorialLoopRows:
    """The seed workloads' ``fastnn compare`` rows, measured once and shared by the two tutorial-loop classes.

    asv keys a ``setup_cache`` by its module and line, so both subclasses get
    the same rows: the two ratios of a workload come from the same rounds.
    """

    params = [list(TUTORIAL_WORKLOADS)]
    param_names = ["workload"]
    timeout = 600

    def setup_cache(self):
        """``{name: {"tutorial_speedup", "reference_over_tutorial"}}`` for every seed workload (3 rounds each)."""
        return {name: {key: row[key] for key in ("tutorial_speedup", "reference_over_tutorial")}
                for name, row in ((name, _row(workload_or_skip(name))) for name in TUTORIAL_WORKLOADS)}

    setup_cache.timeout = 600  # the four seed workloads, 3 rounds each: about 10 s on a 2-core machine


class SpeedupVsTutorialLoop(_TutorialLoopRows):
    """Median over 3 alternating rounds of (tutorial-style NumPy loop time / numba-backend fit time)."""

    def track_speedup_vs_tutorial_loop(self, rows, name):
        return rows[name]["tutorial_speedup"]

    track_speedup_vs_tutorial_loop.unit = "ratio"


class ReferenceVsTutorialLoop(_TutorialLoopRows):
    """Median over 3 alternating rounds of (numpy-backend fit time / tutorial-style NumPy loop time)."""

    def track_reference_over_tutorial_loop(self, rows, name):
        return rows[name]["reference_over_tutorial"]

    track_reference_over_tutorial_loop.unit = "ratio"


class Float32Speedup:
    """Median over 3 alternating rounds of (float64 fit time / float32 fit time), numba backend."""

    params = [[name for name in SCALING_WORKLOADS]]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)

    def track_float32_speedup(self, name):
        return _row(self.workload, ("float64",))["float32_speedup"]

    track_float32_speedup.unit = "ratio"


class FitMemory:
    """Peak memory one fit adds to a fresh process (MiB): 10 epochs vs 1 epoch, and vs the numpy backend."""

    params = [SCALING_WORKLOADS]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.workload = workload_or_skip(name)
        self.result = compare.memory_rows(self.workload)

    def track_memory_growth_mb(self, name):
        return self.result["memory_growth_mb"]

    track_memory_growth_mb.unit = "MiB"

    def track_memory_vs_reference_mb(self, name):
        return self.result["memory_vs_reference_mb"]

    track_memory_vs_reference_mb.unit = "MiB"
