"""The thread budget (fastnn.config.thread_budget): Numba's thread count follows OMP/OPENBLAS/MKL_NUM_THREADS.

Numba reads its pool size once per process, so every end-to-end case runs in
a subprocess with the environment under test, and checks the count in the
main thread and in a new ``threading.Thread`` (Numba's count is thread-local:
a Dask task runs in an executor thread, not in the thread that imported fastnn).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from threadpoolctl import threadpool_limits

from fastnn import config

VARIABLES = ("NUMBA_NUM_THREADS", config._BUDGET_MARKER, *config.BUDGET_VARIABLES)

#: Prints the budget fastnn applied and the Numba thread count of the main thread and of a new thread.
PROBE = textwrap.dedent("""
    import json, threading
    {pre}
    import fastnn, numba
    seen = []
    worker = threading.Thread(target=lambda: seen.append((fastnn.get_num_threads(), numba.get_num_threads())))
    worker.start(); worker.join()
    print(json.dumps({{"budget": fastnn.config.THREAD_BUDGET, "main": fastnn.get_num_threads(),
                      "thread": seen[0][0], "thread_numba": seen[0][1],
                      "max": numba.config.NUMBA_NUM_THREADS}}))
""")


def probe(env_vars: dict, pre: str = "") -> dict:
    """Run :data:`PROBE` in a fresh interpreter whose environment has exactly ``env_vars`` among VARIABLES."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(env_vars)
    proc = subprocess.run([sys.executable, "-c", PROBE.format(pre=pre)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------
# thread_budget: the pure function
# ----------------------------------------------------------------------


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"OMP_NUM_THREADS": "1"}, (1, "OMP_NUM_THREADS=1")),
    ({"MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "2"}, (2, "OPENBLAS_NUM_THREADS=2")),
    ({"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "1"}, (1, "MKL_NUM_THREADS=1")),
    ({"OMP_NUM_THREADS": "3,2"}, (3, "OMP_NUM_THREADS=3,2")),  # OpenMP's nesting list: the outer level
    ({"OMP_NUM_THREADS": "lots", "MKL_NUM_THREADS": "2"}, (2, "MKL_NUM_THREADS=2")),  # unparsable: ignored
    ({"OMP_NUM_THREADS": "0", "OPENBLAS_NUM_THREADS": "-2"}, None),  # not positive: ignored
    ({"OMP_NUM_THREADS": ""}, None),
    ({"OMP_NUM_THREADS": "64"}, (8, "OMP_NUM_THREADS=64")),  # capped at the cores
    ({"NUMBA_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"}, None),  # the explicit Numba setting wins
])
def test_thread_budget_from_the_environment(environ, expected):
    assert config.thread_budget(environ, cores=8) == expected


def test_thread_budget_counts_the_dask_worker_running_the_code(monkeypatch):
    class FakeDistributed:  # stands for the imported module; get_worker() is what fastnn asks
        class _Worker:
            class state:
                nthreads = 2

        @staticmethod
        def get_worker():
            return FakeDistributed._Worker()

    monkeypatch.setitem(sys.modules, "distributed", FakeDistributed)
    assert config.thread_budget({}, cores=8) == (2, "the Dask worker's 2 thread(s)")
    assert config.thread_budget({"OMP_NUM_THREADS": "1"}, cores=8) == (1, "OMP_NUM_THREADS=1")


def test_thread_budget_outside_a_dask_task_ignores_distributed(monkeypatch):
    class FakeDistributed:
        @staticmethod
        def get_worker():
            raise ValueError("No worker found")

    monkeypatch.setitem(sys.modules, "distributed", FakeDistributed)
    assert config.thread_budget({}, cores=8) is None


# ----------------------------------------------------------------------
# at import, in a fresh process: every thread's default count is the budget
# ----------------------------------------------------------------------


def test_no_budget_leaves_numba_alone():
    seen = probe({})
    assert seen["budget"] is None
    assert seen["main"] == seen["thread"] == seen["max"] == config.cpu_count()


@pytest.mark.parametrize("env_vars", [
    {"OMP_NUM_THREADS": "1"},  # Dask's nanny, Ray
    {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "not-a-number"},
])
def test_budget_of_one_applies_to_every_thread(env_vars):
    seen = probe(env_vars)
    assert seen["budget"][0] == 1 and seen["budget"][2] == "pool"
    assert seen["main"] == seen["thread"] == seen["thread_numba"] == 1
    assert seen["max"] == 1


def test_budget_applies_when_numba_was_imported_first():
    seen = probe({"OMP_NUM_THREADS": "1"}, pre="import numba")
    assert seen["budget"][2] == "pool"
    assert seen["main"] == seen["thread"] == 1


def test_a_child_process_computes_its_own_budget():
    # the parent's budget is in the environment the child inherits, marked as fastnn's, not the user's
    pre = textwrap.dedent("""
        import os, subprocess, sys
        import fastnn
        child = "import fastnn; print(fastnn.config.THREAD_BUDGET is not None, fastnn.get_num_threads())"
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.split()
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        freed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env).stdout.split()
        assert out == ["True", "1"] and freed == ["False", str(fastnn.config.cpu_count())], (out, freed)
    """)
    assert probe({"OMP_NUM_THREADS": "1"}, pre=pre)["main"] == 1


def test_numba_num_threads_wins_over_the_budget():
    seen = probe({"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"})
    assert seen["budget"] is None
    assert seen["main"] == seen["thread"] == 1


@pytest.mark.skipif(config.cpu_count() < 2, reason="needs 2 cores for a budget below the core count")
def test_budget_above_one_and_a_launched_pool():
    seen = probe({"OMP_NUM_THREADS": "2"})
    assert seen["main"] == seen["thread"] == 2
    # the pool already launched by another library: only the importing thread can follow
    launched = textwrap.dedent("""
        import numba, numpy as np
        @numba.njit(parallel=True)
        def total(a):
            s = 0.0
            for i in numba.prange(a.size):
                s += a[i]
            return s
        total(np.ones(4))
    """)
    seen = probe({"OMP_NUM_THREADS": "1"}, pre=launched)
    assert seen["budget"][2] == "importing thread"
    assert seen["main"] == 1 and seen["thread"] == config.cpu_count()


def test_a_count_above_the_budget_runs_at_the_budget():
    # valid counts do not depend on the budget (a fit that passes threads=2 works in a Dask worker too)
    code = textwrap.dedent("""
        import fastnn
        fastnn.set_num_threads(fastnn.config.cpu_count())
        print(fastnn.get_num_threads())
        with fastnn.threads(fastnn.config.cpu_count()):
            print(fastnn.get_num_threads())
        try:
            fastnn.set_num_threads(fastnn.config.cpu_count() + 1)
        except ValueError as exc:
            print("ValueError")
    """)
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.stdout.split() == ["1", "1", "ValueError"], proc.stderr


def test_a_later_numba_environment_change_keeps_the_budget():
    # Numba re-reads NUMBA_* variables before compiling when one changed; the budget is in the environment
    # too, so the re-read agrees with the launched pool instead of failing
    pre = "import os"
    code = PROBE.format(pre=pre) + textwrap.dedent("""
        os.environ["NUMBA_DEBUG_CACHE"] = "0"
        @numba.njit(cache=False)
        def one():
            return 1
        assert one() == 1 and numba.config.NUMBA_NUM_THREADS == 1
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


# ----------------------------------------------------------------------
# threadpoolctl limits: the parallel builds follow a limit of one thread
# ----------------------------------------------------------------------


@pytest.mark.skipif(config.get_num_threads() < 2, reason="the parallel builds need 2 Numba threads")
def test_threadpool_limits_of_one_selects_the_serial_builds():
    big = 1 << 30
    assert config.use_parallel(big, fused=True)
    with threadpool_limits(1):
        assert not config.use_parallel(big, fused=True)
        assert not config.use_parallel(big)
        with config.blas_single_threaded():  # fastnn's own single-threaded BLAS does not count as the limit
            assert not config.use_parallel(big, fused=True)
    with config.blas_single_threaded():
        assert config.use_parallel(big, fused=True)
    with threadpool_limits(1), config.parallel_mode("parallel"):  # a forced build stays forced
        assert config.use_parallel(1)
