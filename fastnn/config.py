"""Every Numba option and every runtime knob of fastnn, in one place.

Kernels never hard-code a decorator option: they are compiled by
:mod:`fastnn.kernels._jit` with :data:`JIT_OPTIONS`, so a test can check that
every kernel was built with them.

Options that change generated code (``fastmath``, ``error_model``) are
constants, not environment variables, on purpose: Numba's on-disk cache index
does not key on compiler flags, so a flag read from the environment could load
a stale kernel compiled with different flags.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import site
import sys
import threading
from typing import Iterator

import numba

#: Options shared by every compiled kernel.
#:
#: - ``cache=True``: a second process loads machine code from disk instead of
#:   recompiling (see the README for the measured first-call times).
#: - ``nogil=True``: kernels release the GIL, so several Python threads can run
#:   ``predict`` at once.
#: - ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead
#:   of raising, and lets LLVM vectorise loops that divide.
#: - ``fastmath=False``: results must match the NumPy reference to rounding and
#:   must not depend on the thread count; reassociation would break both, and
#:   ``nnan``/``ninf`` would silently remove ``isfinite`` checks.
#: - ``boundscheck=False``: the public wrappers validate every shape first.
JIT_OPTIONS: dict = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": False,
    "boundscheck": False,
}

#: The one exception to ``fastmath=False``: the serial feature-major training
#: step for narrow networks (:mod:`fastnn.kernels.feature_major`).  Its sums
#: run over the samples of a batch; ``reassoc`` lets LLVM split them into
#: SIMD lanes (a plain ordered float sum cannot vectorise), ``contract`` fuses
#: multiply-adds.  Serial code, so results still do not depend on the thread
#: count; they differ from the ordered sum by rounding only, like a BLAS
#: product.  No ``nnan``/``ninf``: the finiteness checks stay.
VECTOR_FASTMATH: frozenset = frozenset({"reassoc", "contract"})

#: Networks whose every layer has at most this many inputs and outputs train
#: feature-major (activations stored units x samples, every inner loop over
#: the samples of the batch): see :mod:`fastnn.kernels.feature_major`.
NARROW_MAX_WIDTH: int = 16

#: Work size (roughly multiply-adds or elements touched) from which a kernel's
#: ``parallel=True`` build is used.  A parallel region costs a few microseconds
#: to enter; below this size the serial build wins.
PARALLEL_MIN_WORK: int = 1 << 16

#: The same threshold for the fused training/inference loops, per batch
#: (multiply-adds of one forward pass).  A fused batch enters ~15 parallel
#: regions (forward, loss, backward per layer, optimizer segments), and each
#: region's barrier waits for every thread: measured on the 2-core machine
#: with the other core busy, the parallel build lost at every size up to 68M
#: multiply-adds per batch (digits 64-64-10, batch 200: 4.1 ms/epoch serial,
#: 236 ms parallel).  Until it is re-measured on an idle machine (issue 6),
#: the fused loops stay serial below 2**26.
FUSED_PARALLEL_MIN_WORK: int = 1 << 26

#: The fused loops multiply a layer through BLAS (``np.dot``, SciPy's BLAS via
#: Numba, then one fused bias + activation pass) when its weight matrix has
#: at least this many entries and the batch at least :data:`BLAS_MIN_ROWS`
#: rows; below that the hand-written loops win (the BLAS call's fixed cost).
BLAS_MIN_WEIGHTS: int = 1024
BLAS_MIN_ROWS: int = 8


#: Elements per parallel chunk of an optimizer update (each ``prange`` iteration owns one chunk).
UPDATE_CHUNK: int = 4096

# --- the training driver (:mod:`fastnn.training`) and inference -----------------------------------

#: Seconds a chunk of epochs (one compiled call) should take: a lively progress bar and a prompt
#: Ctrl-C, while the per-chunk Python cost vanishes.
CHUNK_SECONDS: float = 0.25

#: Pessimistic cost model for the first chunk of a fit, before any epoch has been timed: seconds per
#: multiply-add of a batch's forward pass (backward and update included), and per batch and layer for
#: each backend.  Small fits thus run in one compiled call (measurements: docs/design.md, "Knobs").
FIRST_CHUNK_SECONDS_PER_MADD: float = 3e-9
FIRST_CHUNK_SECONDS_PER_LAYER: dict = {"numba": 1e-6, "numpy": 50e-6}

#: Room for the shuffled row orders of one chunk of epochs (cut to what fits, at least one epoch), so
#: a long fit holds no more memory than a one-epoch fit.
PERMUTATION_BYTES: int = 1 << 18

#: Fit buffers up to this many bytes stay with the model for its next fit of the same shape.
REUSED_BUFFER_BYTES: int = 1 << 20

#: Upper bound on the rows of one ``predict``/``evaluate`` batch, counted as elements of all layer outputs.
PREDICT_BUFFER_ELEMENTS: int = 1 << 20


def _find_libtbb() -> str | None:
    """Path of the TBB runtime installed by the ``tbb`` wheel (it lands in ``<prefix>/lib``)."""
    prefixes = [sys.prefix, sys.base_prefix, site.USER_BASE or ""]
    for prefix in prefixes:
        path = os.path.join(prefix, "lib", "libtbb.so.12")
        if prefix and os.path.exists(path):
            return path
    return None


def _select_threading_layer() -> str:
    """Choose Numba's threading layer before any parallel kernel starts its threads.

    fastnn needs a layer that is thread-safe (several Python threads may call
    ``predict`` at once; Numba's ``workqueue`` layer aborts the process then)
    and fork-safe (``multiprocessing`` with fork, joblib; GNU OpenMP is not).
    TBB is both, and it is fast: a parallel region measured ~2 us with TBB
    against ~7.5 ms with GNU OpenMP on the shared 2-core machine.  The ``tbb``
    wheel installs ``libtbb.so.12`` in ``<prefix>/lib``, where Numba's TBB
    extension does not look, so it is preloaded here.  Without TBB, fastnn
    asks Numba for any thread-safe layer (OpenMP).  An explicit
    ``NUMBA_THREADING_LAYER`` in the environment always wins.
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return os.environ["NUMBA_THREADING_LAYER"]
    lib = _find_libtbb() if sys.platform.startswith("linux") else None
    if lib is not None:
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            numba.config.THREADING_LAYER = "tbb"
            return "tbb"
        except OSError:
            pass
    numba.config.THREADING_LAYER = "threadsafe"
    return "threadsafe"


#: The threading layer fastnn asked Numba for ("tbb" when the TBB wheel is installed).
THREADING_LAYER: str = _select_threading_layer()

_PARALLEL_MODES = ("auto", "serial", "parallel")
_state = threading.local()


def get_parallel_mode() -> str:
    """Return the current kernel selection mode: ``"auto"``, ``"serial"`` or ``"parallel"``."""
    return getattr(_state, "parallel_mode", "auto")


def set_parallel_mode(mode: str) -> None:
    """Choose how public kernels pick between their serial and parallel builds.

    Parameters
    ----------
    mode : {"auto", "serial", "parallel"}
        ``"auto"`` (default) picks by work size against
        :data:`PARALLEL_MIN_WORK`; the other two force one build, which tests
        use to check that both builds agree.  The setting is per Python thread.
    """
    if mode not in _PARALLEL_MODES:
        raise ValueError(f"mode must be one of {_PARALLEL_MODES}, got {mode!r}")
    _state.parallel_mode = mode


@contextlib.contextmanager
def parallel_mode(mode: str) -> Iterator[None]:
    """Context manager form of :func:`set_parallel_mode`; restores the old mode."""
    old = get_parallel_mode()
    set_parallel_mode(mode)
    try:
        yield
    finally:
        set_parallel_mode(old)


def use_parallel(work: int, fused: bool = False) -> bool:
    """True when a kernel with ``work`` units of work should run its parallel build.

    ``fused=True`` for the whole-batch loops of :mod:`fastnn.kernels.train`
    (threshold :data:`FUSED_PARALLEL_MIN_WORK` instead of :data:`PARALLEL_MIN_WORK`).
    """
    mode = get_parallel_mode()
    if mode == "auto":
        threshold = FUSED_PARALLEL_MIN_WORK if fused else PARALLEL_MIN_WORK
        return work >= threshold and numba.get_num_threads() > 1
    return mode == "parallel"


def get_num_threads() -> int:
    """Number of threads Numba's parallel kernels use."""
    return numba.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the number of threads for Numba kernels and for BLAS together.

    Parameters
    ----------
    n : int
        Between 1 and ``numba.config.NUMBA_NUM_THREADS`` (the number of cores
        unless the environment variable says otherwise).
    """
    n = _check_threads(n)
    numba.set_num_threads(n)
    _blas_controller().limit(limits=n)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` Numba and BLAS threads, then restore the previous settings."""
    n = _check_threads(n)
    limiter = _blas_controller().limit(limits=n)
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with limiter:
            yield
    finally:
        numba.set_num_threads(old)


_controller_cache: list = []


def _blas_controller():
    """A threadpoolctl ``ThreadpoolController``, rebuilt only when modules were imported since the last one.

    Building one scans every loaded shared library (measured: ~0.5 ms, more
    than a whole fit of the seed networks); the BLAS and OpenMP libraries it
    finds arrive with Python imports (NumPy, SciPy, PyTorch), so the module
    count is a cheap staleness check.
    """
    from threadpoolctl import ThreadpoolController

    if not _controller_cache or _controller_cache[0] != len(sys.modules):
        controller = ThreadpoolController()
        _controller_cache[:] = [len(sys.modules), controller]
    return _controller_cache[1]


def _check_threads(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n (number of threads) must be an integer, got {type(n).__name__}")
    n = int(n)
    max_threads = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= max_threads:
        raise ValueError(
            f"n (number of threads) must be between 1 and {max_threads} "
            f"(NUMBA_NUM_THREADS), got {n}"
        )
    return n


def cpu_count() -> int:
    """Cores available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
