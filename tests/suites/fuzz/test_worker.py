"""The harness itself: a segfault, an abort and a hang of the child are reported, and the worker recovers."""

from __future__ import annotations

import numpy as np

from .cases import A, KernelCase, SelfTest
from .worker import Worker


def test_worker_reports_crashes_and_hangs_and_recovers():
    """A segfault, an abort and a hang of the child are reported (not fatal to pytest); the next case runs."""
    w = Worker(timeout=60.0)
    try:
        crash = w.run(SelfTest("segfault"))
        assert crash.kind == "crash" and "SIGSEGV" in crash.detail, crash
        abort = w.run(SelfTest("abort"))
        assert abort.kind == "crash" and "SIGABRT" in abort.detail, abort
        hang = w.run(SelfTest("hang"), timeout=2.0)
        assert hang.kind == "timeout", hang
        ok = w.run(KernelCase("activation_forward", {"z": A(np.ones((2, 3))), "activation": "relu"}))
        assert ok.kind == "ok", ok
        assert w.restarts == 3
    finally:
        w.close()
