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

Caveat (Numba's, documented in its caching notes): a cached kernel is not
invalidated when a kernel it calls changes in *another* file.  After editing
a kernel module during development, delete ``fastnn/**/__pycache__``.
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


def _build_copy(fn: types.FunctionType, suffix: str, parallel: bool) -> types.FunctionType:
    """Copy ``fn`` with its own qualname and globals in which every KernelPair is one build.

    A kernel that calls another kernel pair (say the fused training loop
    calling ``_dense_forward``) thus calls the serial build from its serial
    build and the parallel build from its parallel one.  The globals are a
    snapshot taken at decoration time, so callees must be defined (or
    imported) above their callers, as they are anyway in a module.
    """
    namespace = dict(fn.__globals__)
    for name, value in fn.__globals__.items():
        if isinstance(value, KernelPair):
            namespace[name] = value.pick(parallel)
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


def kernel(fn: types.FunctionType) -> KernelPair:
    """Compile ``fn`` serially and with ``parallel=True``; both cached on disk."""
    serial = njit(parallel=False, **JIT_OPTIONS)(_build_copy(fn, "", parallel=False))
    parallel = njit(parallel=True, **JIT_OPTIONS)(_build_copy(fn, "__parallel", parallel=True))
    _COMPILED.extend([serial, parallel])
    return KernelPair(serial, parallel)


def serial_kernel(fn: types.FunctionType):
    """Compile ``fn`` once, serially: a row helper called from other kernels.

    Helpers are inlined into their callers at Numba-IR level
    (``inline="always"``): a call per row, with the array views it creates,
    costs ~50 ns of call and reference-count traffic, which dominated the
    fused loops for small layers (measured: see the README).
    """
    dispatcher = njit(parallel=False, inline="always", **JIT_OPTIONS)(fn)
    _COMPILED.append(dispatcher)
    return dispatcher


def opaque_kernel(fn: types.FunctionType):
    """Compile ``fn`` serially and keep it a real call (not inlined at Numba-IR level).

    For BLAS calls inside parallel kernels: Numba's parfor array analysis,
    seeing ``np.dot`` on a loop-carried array, asserts shape equalities that do
    not hold (measured: "Sizes of x_size1, d do not match" from the second
    layer of ``forward_batch``); behind a call it sees nothing to analyse.
    """
    dispatcher = njit(parallel=False, **JIT_OPTIONS)(fn)
    _COMPILED.append(dispatcher)
    return dispatcher


def compiled_kernels() -> list:
    """Every Numba dispatcher fastnn has built (serial and parallel builds)."""
    return list(_COMPILED)
