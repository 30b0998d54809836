"""Decorators that bind every kernel to :data:`fastnn.config.JIT_OPTIONS`.

This module is the only place that calls ``numba.njit``.

``@kernel`` compiles one Python function twice, as a serial build and a
``parallel=True`` build (``prange`` runs as ``range`` in the serial one), and
returns a :class:`KernelPair`.  The public wrapper picks a build by problem
size via :func:`fastnn.config.use_parallel`.

Both builds use ``cache=True``.  Numba's cache index is keyed by the
function's qualified name and does not include compiler options
(numba issue #6845), so the parallel build is compiled from a *copy* of the
function with its own ``__qualname__``; otherwise the two builds would
overwrite each other's cache entries and one of them would silently run the
other's code.
"""

from __future__ import annotations

import types
from typing import NamedTuple

from numba import njit

from fastnn.config import JIT_OPTIONS

_COMPILED: list = []


class KernelPair(NamedTuple):
    """The serial and the parallel build of one kernel source."""

    serial: object
    parallel: object

    def pick(self, parallel: bool):
        """Return the parallel build if ``parallel`` else the serial one."""
        return self.parallel if parallel else self.serial


def _renamed_copy(fn: types.FunctionType, suffix: str) -> types.FunctionType:
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


def kernel(fn: types.FunctionType) -> KernelPair:
    """Compile ``fn`` serially and with ``parallel=True``; both cached on disk."""
    serial = njit(parallel=False, **JIT_OPTIONS)(fn)
    parallel = njit(parallel=True, **JIT_OPTIONS)(_renamed_copy(fn, "__parallel"))
    _COMPILED.extend([serial, parallel])
    return KernelPair(serial, parallel)


def serial_kernel(fn: types.FunctionType):
    """Compile ``fn`` once, serially: for helpers called from other kernels and for fused loops."""
    dispatcher = njit(parallel=False, **JIT_OPTIONS)(fn)
    _COMPILED.append(dispatcher)
    return dispatcher


def compiled_kernels() -> list:
    """Every Numba dispatcher fastnn has built (serial and parallel builds)."""
    return list(_COMPILED)
