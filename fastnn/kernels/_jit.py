"""Decorators that bind every kernel to :data:`fastnn.config.JIT_OPTIONS`.

This module is the only place that calls ``numba.njit``.

``@kernel`` compiles one Python function twice, as a serial build and a
``parallel=True`` build (``prange`` runs as ``range`` in the serial one), and
returns a :class:`KernelPair`.  The public wrapper picks a build by problem
size via :func:`fastnn.config.use_parallel`.

Both builds use ``cache=True``; the parallel build is compiled from a *copy*
of the function with its own ``__qualname__``, because Numba's cache index
ignores compiler options (docs/design.md, "Serial and parallel builds").

A cached kernel is not invalidated when a kernel it calls changes in
*another* file: after editing a kernel module, delete ``fastnn/**/__pycache__``.
Why each decorator below exists: docs/design.md, "The compiled variants".
"""

from __future__ import annotations

import types
import warnings
from typing import NamedTuple

from numba import njit

from fastnn.config import JIT_OPTIONS, VECTOR_FASTMATH

_COMPILED: list = []
_VECTOR: list = []
_NRT_FREE: list = []
_warned_no_cache = False


def _njit(fn, **options):
    """``numba.njit`` with :data:`JIT_OPTIONS`, falling back to no disk cache where none can be written.

    Installed into a read-only location with no writable user cache
    directory either, Numba refuses ``cache=True`` at decoration time
    ("no locator available").  fastnn then compiles in memory, in every
    process, and says so once (set ``NUMBA_CACHE_DIR`` to a writable
    directory to get the cache back).
    """
    global _warned_no_cache
    try:
        return njit(**{**JIT_OPTIONS, **options})(fn)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        if not _warned_no_cache:
            _warned_no_cache = True
            warnings.warn(
                "fastnn: no writable directory for Numba's kernel cache (the package is read-only and so is "
                "the user cache); kernels are compiled in every process. Set NUMBA_CACHE_DIR to a writable "
                "directory to cache them.",
                RuntimeWarning,
                stacklevel=3,
            )
        return njit(**{**JIT_OPTIONS, **options, "cache": False})(fn)


class KernelPair(NamedTuple):
    """The serial and the parallel build of one kernel source."""

    serial: object
    parallel: object

    def pick(self, parallel: bool):
        """Return the parallel build if ``parallel`` else the serial one."""
        return self.parallel if parallel else self.serial


def _build_copy(fn: types.FunctionType, suffix: str, parallel: bool, constants=None) -> types.FunctionType:
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
    namespace["PARALLEL_BUILD"] = parallel  # a compile-time constant: `if PARALLEL_BUILD:` is pruned before typing
    namespace.update(constants or {})
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


def kernel(fn: types.FunctionType) -> KernelPair:
    """Compile ``fn`` serially and with ``parallel=True``; both cached on disk."""
    return variant(fn, "")


def variant(fn: types.FunctionType, name: str, nrt: bool = True, **constants) -> KernelPair:
    """A kernel pair of ``fn`` in which the module globals ``constants`` have the given values.

    Numba freezes globals as compile-time constants and prunes ``if CONSTANT:``
    branches before typing them, so each variant compiles only its own
    branches (``train_epochs`` and ``train_epochs_narrow``: each compiles
    one training step, not both).  ``name`` suffixes the qualified name, so
    each variant has its own disk-cache entries.

    ``nrt=False`` compiles a serial build only (both entries of the pair),
    without Numba's reference counting (see :func:`vector_kernel`): for a
    loop whose branches allocate nothing.
    """
    if not nrt:
        serial = _njit(_build_copy(fn, name, parallel=False, constants=constants), parallel=False, _nrt=False)
        _COMPILED.append(serial)
        _NRT_FREE.append(serial)
        return KernelPair(serial, serial)
    serial = _njit(_build_copy(fn, name, parallel=False, constants=constants), parallel=False)
    parallel = _njit(_build_copy(fn, name + "__parallel", parallel=True, constants=constants), parallel=True)
    _COMPILED.extend([serial, parallel])
    return KernelPair(serial, parallel)


def serial_kernel(fn: types.FunctionType):
    """Compile ``fn`` once, serially: a row helper called from other kernels.

    Helpers are inlined into their callers at Numba-IR level
    (``inline="always"``): a real call per row cost more than a small layer's
    arithmetic (docs/design.md, "Row helpers").
    """
    dispatcher = _njit(fn, parallel=False, inline="always")
    _COMPILED.append(dispatcher)
    return dispatcher


def opaque_kernel(fn: types.FunctionType):
    """Compile ``fn`` serially and keep it a real call (not inlined at Numba-IR level).

    For BLAS calls inside parallel kernels, where Numba's parfor array
    analysis would otherwise fail on ``np.dot`` (docs/design.md, "Opaque BLAS calls").
    """
    dispatcher = _njit(fn, parallel=False)
    _COMPILED.append(dispatcher)
    return dispatcher


def opaque_variant(fn: types.FunctionType, name: str):
    """Compile a copy of ``fn`` (qualified name suffixed by ``name``) serially, as a real (not inlined) call.

    For a helper that is inlined in one place (``@serial_kernel``) and called
    in another: inside a ``prange`` body, an inlined copy of a large helper
    makes the parallel build's parfor passes and outlining compile it again,
    and slowly.  The copy has its own qualified name, so its disk-cache
    entries do not collide with the inlined one's.
    """
    dispatcher = _njit(_build_copy(fn, name, parallel=False), parallel=False)
    _COMPILED.append(dispatcher)
    return dispatcher


def vector_kernel(fn: types.FunctionType):
    """Compile ``fn`` once, serially, with :data:`fastnn.config.VECTOR_FASTMATH` and without reference counting.

    For the feature-major step of narrow networks: a real (not inlined)
    function, so its options stay its own; the row helpers it inlines get
    them, its callers do not.

    - ``fastmath=VECTOR_FASTMATH``: sums over the samples of a batch vectorise.
    - ``_nrt=False``: no reference counting of arrays (docs/design.md, "The
      feature-major step for narrow networks").  Such a function cannot
      allocate or return arrays (Numba refuses to compile one that tries),
      and its callees get its flags, so it may call only inlined helpers.
    """
    dispatcher = _njit(_build_copy(fn, "", parallel=False), parallel=False, fastmath=set(VECTOR_FASTMATH), _nrt=False)
    _COMPILED.append(dispatcher)
    _VECTOR.append(dispatcher)
    _NRT_FREE.append(dispatcher)
    return dispatcher


def nrt_free_kernels() -> list:
    """Every dispatcher compiled without Numba's reference counting (vector kernels included)."""
    return list(_NRT_FREE)


def vector_kernels() -> list:
    """The dispatchers built by :func:`vector_kernel` (their options differ from JIT_OPTIONS on purpose)."""
    return list(_VECTOR)


def compiled_kernels() -> list:
    """Every Numba dispatcher fastnn has built (serial and parallel builds)."""
    return list(_COMPILED)
