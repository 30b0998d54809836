"""Parent side of the process protocol: :class:`Worker` runs cases in a spawned child.

The child (:mod:`.child`) is started with the ``spawn`` method.  Each case is
sent over a pipe and answered with a :class:`Result`; if the child dies
(segfault, abort) the case is a ``crash`` naming the signal, if it does not
answer within the timeout the case is a ``timeout``, and in both cases the
next :meth:`Worker.run` starts a new child.  So pytest itself never dies.

This module imports fastnn only in the child.
"""

from __future__ import annotations

import multiprocessing
import signal

from .child import _child_main
from .outcome import Result


def _signal_name(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Worker:
    """One spawned child that runs cases; restarted after a crash or a timeout."""

    def __init__(self, timeout: float = 120.0, start_timeout: float = 300.0, memory_gib: float = 6.0):
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.memory_gib = memory_gib
        self.proc = None
        self.conn = None
        self.restarts = 0

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child, self.memory_gib), daemon=True,
                           name="fastnn-fuzz-worker")
        proc.start()
        child.close()
        if not parent.poll(self.start_timeout):
            proc.kill()
            proc.join()
            raise RuntimeError("the fuzz worker did not start")
        try:
            msg = parent.recv()
        except EOFError:
            proc.join(5)
            raise RuntimeError(f"the fuzz worker died while starting ({_signal_name(proc.exitcode)})") from None
        if msg[0] != "ready":
            raise RuntimeError(f"the fuzz worker could not import fastnn: {msg[1]}")
        self.proc, self.conn = proc, parent

    def _discard(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(10)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.restarts += 1

    def run(self, case, timeout: float | None = None) -> Result:
        if self.proc is None or not self.proc.is_alive():
            if self.proc is not None:
                self._discard()
            self.start()
        try:
            self.conn.send(case)
        except (BrokenPipeError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            self._discard()
            return Result("crash", f"the worker was dead before the case ({_signal_name(code)})", "crash")
        if not self.conn.poll(timeout or self.timeout):
            self._discard()
            return Result("timeout", f"no answer within {timeout or self.timeout:.0f} s", "timeout")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(10)
            code = self.proc.exitcode
            self._discard()
            return Result("crash", f"the worker process died ({_signal_name(code)})",
                          f"crash ({_signal_name(code)})")

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
