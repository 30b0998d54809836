"""Thread scaling: the medium (``tabular``) and large (``mnist_like``) workloads at 1 and 2 threads.

``fit(threads=n)`` sets Numba's and the BLAS threads together for the fit
(the numpy backend uses threads only through BLAS).  Results do not depend
on the thread count, only the time does.
"""

from __future__ import annotations

from .common import BACKENDS, FIT_ATTRS, SCALING_WORKLOADS, threads_or_skip, warm_model, workload_or_skip


class FitThreads:
    """One fit with ``threads=`` 1 or 2."""

    params = [SCALING_WORKLOADS, BACKENDS, [1, 2]]
    param_names = ["workload", "backend", "threads"]
    number = FIT_ATTRS["number"]
    repeat = FIT_ATTRS["repeat"]
    warmup_time = FIT_ATTRS["warmup_time"]
    timeout = FIT_ATTRS["timeout"]
    rounds = FIT_ATTRS["rounds"]

    def setup(self, name, backend, threads):
        threads_or_skip(threads)
        self.workload = workload_or_skip(name)
        self.model = warm_model(self.workload, backend, threads=threads)

    def time_fit(self, name, backend, threads):
        self.workload.fit(self.model, threads=threads)
