"""Every Numba option and every runtime knob of fastnn, in one place.

Kernels never hard-code a decorator option: they are compiled by
:mod:`fastnn.kernels._jit` with :data:`JIT_OPTIONS`, so a test can check that
every kernel was built with them.

Options that change generated code (``fastmath``, ``error_model``) are
constants, not environment variables: Numba's on-disk cache index does not key
on compiler flags.  Each constant's reason and measurement:
docs/design.md, "Knobs and the measurements that set them".
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import site
import sys
import threading
from typing import Iterator, Mapping

#: Environment variables through which a process manager (Dask's nanny, joblib's loky workers, Ray)
#: tells a process how many threads its native libraries may run; fastnn's Numba threads follow the
#: smallest (docs/design.md, "The thread budget").
BUDGET_VARIABLES: tuple = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _positive_count(text) -> int | None:
    """The thread count in an ``*_NUM_THREADS`` value, or None when it is not a positive integer.

    OpenMP allows a comma-separated list (one count per nesting level): the
    first, outermost level is the one that bounds the threads of a call.
    """
    try:
        value = int(str(text).split(",")[0].strip())
    except ValueError:
        return None
    return value if value > 0 else None


def _dask_worker_threads() -> int | None:
    """The thread count of the Dask worker whose task runs this code, or None outside one.

    Only if ``distributed`` is already imported: importing it here would add a
    second to every ``import fastnn``.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except Exception:  # ValueError outside a task; anything else means no usable worker either
        return None
    state = getattr(worker, "state", worker)
    return _positive_count(getattr(state, "nthreads", None))


def thread_budget(environ: Mapping[str, str] | None = None, cores: int | None = None) -> tuple[int, str] | None:
    """The thread budget of this process, and where it comes from; None when there is none.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``).
    cores : int, optional
        Upper bound on the budget (default :func:`cpu_count`): a budget above
        the cores would only oversubscribe them.

    Returns
    -------
    (int, str) or None
        None when ``NUMBA_NUM_THREADS`` is set (the user's explicit choice
        wins) or nothing sets a budget.  Else the smallest positive count among
        :data:`BUDGET_VARIABLES` and the threads of the Dask worker running
        this code, capped at ``cores``, with a description of its source such
        as ``"OMP_NUM_THREADS=1"``.  Unparsable values are ignored.
    """
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_NUM_THREADS", "").strip() and not _set_by_fastnn(environ):
        return None
    found = [(count, f"{name}={environ[name]}") for name in BUDGET_VARIABLES
             if (count := _positive_count(environ.get(name, ""))) is not None]
    worker_threads = _dask_worker_threads()
    if worker_threads is not None:
        found.append((worker_threads, f"the Dask worker's {worker_threads} thread(s)"))
    if not found:
        return None
    count, source = min(found, key=lambda item: item[0])
    cores = cpu_count() if cores is None else cores
    return min(count, max(1, cores)), source


#: Marks a ``NUMBA_NUM_THREADS`` that fastnn put into the environment (a budget, not the user's choice),
#: so that a child process, which inherits both, computes its own budget instead of taking it as explicit.
_BUDGET_MARKER = "FASTNN_BUDGET_NUMBA_NUM_THREADS"


def _set_by_fastnn(environ: Mapping[str, str]) -> bool:
    return environ.get(_BUDGET_MARKER) is not None and environ.get(_BUDGET_MARKER) == environ.get("NUMBA_NUM_THREADS")


def _export_budget(count: int) -> None:
    os.environ["NUMBA_NUM_THREADS"] = os.environ[_BUDGET_MARKER] = str(count)


def cpu_count() -> int:
    """Cores available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _apply_thread_budget() -> tuple[int, str, str] | None:
    """Make :func:`thread_budget` every Python thread's default Numba thread count; return what was done.

    Numba's thread count is thread-local: a thread that never called
    ``set_num_threads`` gets the count the thread pool was launched with
    (``NUMBA_NUM_THREADS``, read once), so setting the count in the importing
    thread would leave the executor threads of Dask or a thread pool at the
    core count.  The budget is therefore applied as the pool size itself,
    exactly as ``NUMBA_NUM_THREADS`` would be:

    - Numba not imported yet (the usual case: this module imports it): the
      variable is put into ``os.environ`` before ``import numba``;
    - Numba imported, its pool not launched: the variable is put into
      ``os.environ`` too (so Numba's re-reading of the environment before each
      compilation keeps the value), and ``numba.config`` and the pool size
      Numba computed at import are updated;
    - pool already launched (some other library ran a parallel Numba function
      first): its size and every other thread's default cannot change; only
      the importing thread's count is set (:func:`set_num_threads` per thread
      does the rest).

    Returns
    -------
    (int, str, str) or None
        The budget, its source and ``"pool"`` or ``"importing thread"``; None
        when there is no budget.
    """
    budget = thread_budget()
    if budget is None:
        if _set_by_fastnn(os.environ) and "numba" not in sys.modules:
            # inherited from a parent's budget that no longer applies here: Numba's own default again
            del os.environ["NUMBA_NUM_THREADS"], os.environ[_BUDGET_MARKER]
        return None
    count, source = budget
    if "numba" in sys.modules:
        from numba.np.ufunc import parallel

        if parallel._is_initialized:
            import numba as _numba

            _numba.set_num_threads(min(count, _numba.config.NUMBA_NUM_THREADS))
            return count, source, "importing thread"
        _export_budget(count)
        sys.modules["numba"].config.NUMBA_NUM_THREADS = count
        parallel.NUM_THREADS = count  # what _launch_threads passes to the layer: its pool size and default count
        return count, source, "pool"
    _export_budget(count)
    return count, source, "pool"


#: The thread budget applied at import: ``(count, source, scope)`` (see :func:`_apply_thread_budget`),
#: or None when there was none (``NUMBA_NUM_THREADS`` set, or no budget variable).
THREAD_BUDGET: tuple[int, str, str] | None = _apply_thread_budget()

import numba  # noqa: E402  (after the thread budget: Numba reads NUMBA_NUM_THREADS at import)

#: Options shared by every compiled kernel: disk cache, GIL released, NumPy's division semantics, no fastmath
#: (results match the reference and ignore the thread count), no bounds checks (wrappers validate first).
#: Why each: docs/design.md, "Knobs".
JIT_OPTIONS: dict = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": False,
    "boundscheck": False,
}

#: The one exception to ``fastmath=False``: the serial feature-major step for narrow networks
#: (:mod:`fastnn.kernels.feature_major`), whose sums over a batch vectorise only if reassociated.
#: No ``nnan``/``ninf``: the finiteness checks stay (docs/design.md, "Knobs").
VECTOR_FASTMATH: frozenset = frozenset({"reassoc", "contract"})

#: Networks whose every layer has at most this many inputs and outputs train feature-major
#: (:mod:`fastnn.kernels.feature_major`); not a measured crossover (docs/design.md, "Knobs").
NARROW_MAX_WIDTH: int = 16

#: A training batch is cut into row blocks (each its own forward and backward pass and gradient slot,
#: run side by side by the parallel build) only when its forward pass has at least this many
#: multiply-adds; below, a parallel region's entry and the gradient sum cost more than they save
#: (docs/design.md, "Knobs").
ROW_BLOCK_MIN_MADDS: int = 1 << 21
#: A network with a weight matrix of at least this many entries trains (batches of at least
#: COLUMN_PART_MIN rows) with its products of at least COLUMN_SPLIT_MIN_MADDS multiply-adds split by
#: columns of their result into COLUMN_PARTS parts of at least COLUMN_PART_MIN columns, run side by side
#: by the parallel builds: each thread packs one part of the weights, where row blocks would pack every
#: matrix twice (docs/design.md, "Knobs").
COLUMN_SPLIT_MIN_WEIGHTS: int = 1 << 17
COLUMN_SPLIT_MIN_MADDS: int = 1 << 22
COLUMN_PARTS: int = 2
COLUMN_PART_MIN: int = 32
#: Fewest rows of a row block (BLAS loses efficiency on thinner blocks).
ROW_BLOCK_MIN_ROWS: int = 32
#: Most row blocks per batch: fixed, not the thread count, so results do not depend on the thread count.
MAX_ROW_BLOCKS: int = 2

#: Work size (roughly multiply-adds or elements touched) from which a kernel's ``parallel=True`` build
#: is used; below it a parallel region's entry cost dominates (docs/design.md, "Knobs").
PARALLEL_MIN_WORK: int = 1 << 16

#: The same threshold for the fused training/inference loops, per batch (multiply-adds of one forward
#: pass): the parallel build pays from where a training batch is cut into row blocks.
FUSED_PARALLEL_MIN_WORK: int = ROW_BLOCK_MIN_MADDS

#: Batches of fewer forward multiply-adds never reach OpenBLAS's own threading (it threads a product only
#: above 4 * 65536 multiply-adds), so their fits leave the BLAS thread settings alone.
BLAS_THREADING_MIN_MADDS: int = 1 << 18



#: Elements per parallel chunk of an optimizer update (each ``prange`` iteration owns one chunk;
#: docs/design.md, "Knobs").
UPDATE_CHUNK: int = 4096

# --- the training driver (:mod:`fastnn.training`) and inference -----------------------------------

#: Seconds a chunk of epochs (one compiled call) should take: a lively progress bar and a prompt
#: Ctrl-C, while the per-chunk Python cost vanishes (docs/design.md, "Knobs").
CHUNK_SECONDS: float = 0.25

#: Most epochs in one chunk: bounds the loss buffers of a fit (2 x 512 KiB) whatever ``epochs`` is;
#: a chunk this long of the smallest networks still lasts milliseconds, against ~10 us per call.
MAX_CHUNK_EPOCHS: int = 1 << 16

#: Pessimistic cost model for the first chunk of a fit, before any epoch has been timed: seconds per
#: multiply-add of a batch's forward pass (backward and update included), and per batch and layer for
#: each backend.  Small fits thus run in one compiled call (measurements: docs/design.md, "Knobs").
FIRST_CHUNK_SECONDS_PER_MADD: float = 3e-9
FIRST_CHUNK_SECONDS_PER_LAYER: dict = {"numba": 1e-6, "numpy": 50e-6}

#: Room for the shuffled row orders of one chunk of epochs (cut to what fits, at least one epoch), so
#: a long fit holds no more memory than a one-epoch fit (docs/design.md, "Knobs").
PERMUTATION_BYTES: int = 1 << 18

#: Fit buffers up to this many bytes stay with the model for its next fit of the same shape
#: (docs/design.md, "Knobs").
REUSED_BUFFER_BYTES: int = 1 << 20

#: Upper bound on the rows of one ``predict``/``evaluate`` batch, counted as elements of all layer outputs
#: (docs/design.md, "Knobs").
PREDICT_BUFFER_ELEMENTS: int = 1 << 20

#: ``predict`` runs the rows in tiles whose hidden activations and output take about this many bytes, so a
#: tile stays in a core's cache through every layer (:mod:`fastnn.kernels.inference`; docs/design.md,
#: "Inference in tiles": 2 MiB beat 128 KiB-1 MiB on every network measured, BLAS wanting more rows).
INFERENCE_TILE_BYTES: int = 1 << 21
#: Bounds on the rows of a tile: BLAS loses efficiency on thinner products, and past a few thousand rows
#: the per-call costs are paid off.
INFERENCE_TILE_MIN_ROWS: int = 128
INFERENCE_TILE_MAX_ROWS: int = 4096
#: A ``predict`` call with enough rows is cut into at least this many tiles (of at least
#: INFERENCE_TILE_MIN_ROWS rows), so that threads share it evenly; fixed, not the thread count, so that the
#: tiles, and the results, do not depend on the thread count.
INFERENCE_MIN_TILES: int = 8

# --- training on a Dask cluster (:mod:`fastnn.cluster`) ---------------------------------------------

#: Rows of one loss/gradient call on a worker's partition, counted as elements of all layer outputs
#: (a partition of a million rows is evaluated in calls of this size, summed in order).
PARTITION_BATCH_ELEMENTS: int = 1 << 22
#: Seconds between checks that the cluster still has workers while the client waits for a round.
CLUSTER_POLL_SECONDS: float = 1.0
#: A fit on dask input fails (the model unchanged) after the cluster has had no worker this long.
CLUSTER_NO_WORKER_SECONDS: float = 60.0


def _find_libtbb() -> str | None:
    """Path of the TBB runtime installed by the ``tbb`` wheel (it lands in ``<prefix>/lib``)."""
    prefixes = [sys.prefix, sys.base_prefix, site.USER_BASE or ""]
    for prefix in prefixes:
        path = os.path.join(prefix, "lib", "libtbb.so.12")
        if prefix and os.path.exists(path):
            return path
    return None


def _select_threading_layer() -> str:
    """Choose Numba's threading layer before any parallel kernel starts its threads; return its name.

    ``NUMBA_THREADING_LAYER`` from the environment if set; else ``"tbb"``,
    after preloading ``libtbb.so.12`` from the ``tbb`` wheel (Numba does not
    look in ``<prefix>/lib``); else ``"threadsafe"``.  Why TBB (thread- and
    fork-safe, fast): docs/design.md, "Knobs".
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
        # the BLAS limit is read only past the threshold: small calls never pay for it
        return work >= threshold and numba.get_num_threads() > 1 and _outer_blas_limit() != 1
    return mode == "parallel"


def _outer_blas_limit() -> int | None:
    """The smallest thread count of the loaded BLAS libraries as the caller set it, or None if none is loaded.

    A fit wrapped in ``threadpoolctl.threadpool_limits(1)`` then runs the
    serial builds (docs/design.md, "The thread budget").  Inside
    :func:`blas_single_threaded` the libraries are at one thread by fastnn's
    own doing, so the counts it saved on entry are used instead.
    """
    saved = getattr(_state, "outer_blas_limit", None)
    if saved is not None:
        return saved
    counts = [lib.num_threads for lib in _blas_libraries()]
    return min(counts) if counts else None


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


@contextlib.contextmanager
def blas_single_threaded(active: bool = True) -> Iterator[None]:
    """Run a block with every BLAS library at one thread, then restore each library's count.

    The fused training loops own the threads: their parallel build runs the
    row blocks of a batch side by side, each calling BLAS on one thread.
    BLAS's own threads would oversubscribe the cores, and OpenBLAS's spin
    after each call (docs/design.md, "Threads").  ``active=False`` does
    nothing (fits too small to reach BLAS threading skip the calls).
    """
    if not active:
        yield
        return
    libraries = _blas_libraries()
    old = [lib.num_threads for lib in libraries]
    saved = getattr(_state, "outer_blas_limit", None)
    if saved is None:  # the outermost block: the counts the caller chose (see _outer_blas_limit)
        _state.outer_blas_limit = min(old) if old else None
    for lib in libraries:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libraries, old):
            lib.set_num_threads(n)
        _state.outer_blas_limit = saved


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (cached with the controller)."""
    controller = _blas_controller()
    if len(_controller_cache) < 3:
        _controller_cache.append(controller.select(user_api="blas").lib_controllers)
    return _controller_cache[2]


_controller_cache: list = []


def _blas_controller():
    """A threadpoolctl ``ThreadpoolController``, rebuilt only when modules were imported since the last one.

    Building one is slow (docs/design.md, "Knobs"); the BLAS and OpenMP
    libraries it finds arrive with Python imports, so the module count is a
    cheap staleness check.
    """
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the compiled kernels call: loaded before it is listed)
    from threadpoolctl import ThreadpoolController

    if not _controller_cache or _controller_cache[0] != len(sys.modules):
        controller = ThreadpoolController()
        _controller_cache[:] = [len(sys.modules), controller]  # (the BLAS controllers, once selected, follow)
    return _controller_cache[1]


def _check_threads(n: int) -> int:
    """``n`` as a thread count Numba accepts: TypeError/ValueError when invalid, capped at the thread budget.

    Under a thread budget (:data:`THREAD_BUDGET`), Numba's pool has only the
    budget's threads, so a count up to the cores is accepted and capped there.
    """
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n (number of threads) must be an integer, got {type(n).__name__}")
    n = int(n)
    pool = numba.config.NUMBA_NUM_THREADS
    budgeted = THREAD_BUDGET is not None and THREAD_BUDGET[2] == "pool"
    # the valid range does not depend on the budget (the same call is valid in a Dask worker and
    # outside one): up to the cores, as without a budget; a valid count above the budget runs at the budget
    max_threads = max(pool, numba.config.NUMBA_DEFAULT_NUM_THREADS) if budgeted else pool
    if not 1 <= n <= max_threads:
        raise ValueError(f"n (number of threads) must be between 1 and {max_threads} (NUMBA_NUM_THREADS), got {n}")
    return min(n, pool)

