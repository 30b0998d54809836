"""The child process: receives cases over a pipe, runs each with its ``run_*`` function, sends the Result.

:func:`_child_main` is the target of the process :class:`.worker.Worker`
spawns.  It imports fastnn once, sends ``("ready", pid)`` (or ``("error",
text)`` if the import fails), then answers each case with a :class:`Result`
until it receives ``None`` or the pipe closes.  Harness errors become ``bad``
results; the address space is limited so a huge allocation raises
``MemoryError`` instead of swapping.
"""

from __future__ import annotations

import faulthandler
import os
import warnings

from .cases import KernelCase, LoadCase, ModelCase, SelfTest, SklearnCase
from .outcome import Result, _bad_exception, _exc_text
from .run_kernel import run_kernel
from .run_load import run_load
from .run_model import run_model
from .run_sklearn import run_sklearn


RUNNERS = {KernelCase: run_kernel, ModelCase: run_model, SklearnCase: run_sklearn, LoadCase: run_load}


def run_self_test(case: SelfTest) -> Result:
    if case.what == "segfault":
        import ctypes

        faulthandler.disable()  # keep the test output short
        ctypes.string_at(0)
    elif case.what == "abort":
        faulthandler.disable()
        os.abort()
    elif case.what == "hang":
        import time

        time.sleep(3600)
    return Result("ok")


RUNNERS[SelfTest] = run_self_test


def run_case(case) -> Result:
    """Run one case; harness errors become ``bad`` results with a ``harness`` signature."""
    try:
        return RUNNERS[type(case)](case)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return _bad_exception(exc, "uncaught in the worker (harness or fastnn)")


def _limit_memory(gib: float) -> None:
    try:
        import resource

        limit = int(gib * 2**30)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass


def _child_main(conn, memory_gib: float) -> None:
    faulthandler.enable()
    warnings.simplefilter("ignore")
    try:
        import fastnn  # noqa: F401 - warm the imports (and Numba's cache index)
        import fastnn.kernels  # noqa: F401
        import fastnn.reference  # noqa: F401
        try:
            import fastnn.sklearn  # noqa: F401
        except ImportError:
            pass
    except BaseException as exc:  # noqa: BLE001
        conn.send(("error", _exc_text(exc)))
        return
    _limit_memory(memory_gib)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            case = conn.recv()
        except EOFError:
            return
        if case is None:
            return
        conn.send(run_case(case))
