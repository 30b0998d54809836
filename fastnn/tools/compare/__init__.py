"""``fastnn compare``: the same training job on fastnn's two backends, side by side.

For each named workload (:mod:`fastnn.tools.workloads`) the command trains the
*same initial weights* on the plain-NumPy reference backend (``numpy``) and on
the compiled backend (``numba``) and reports:

- ``reference_s`` / ``fastnn_s``: the median wall time of one whole ``fit``
  on each backend over ``--repeat`` rounds.  Each round runs the sides in
  turn (reference, fastnn, then the extras), so slow drifts of a shared,
  noisy machine hit every side alike.  Compilation and other one-off warm-up
  happen before the first round, outside the timed region; building the model
  and copying the initial weights in are not timed either.
- ``speedup``: the median over the rounds of ``reference time / fastnn time``
  (a ratio of two runs measured seconds apart).  Each timed side starts
  after a short idle pause (:data:`SETTLE_SECONDS`), so that the worker
  threads of the previous side have stopped spinning, and each timed fit
  right after a one-epoch fit on two batches of the same side, untimed.
- ``tutorial_s`` for the seed workloads (``linear``, ``xor``, ``house``,
  ``classify``): the time of the same job written as a tutorial reader
  writes it, a few NumPy expressions per epoch
  (:mod:`fastnn.tools.tutorial`), from the same initial weights with the
  same epochs, learning-rate schedule and loss, timed in the same rounds
  (after the same untimed one-epoch run).  ``tutorial_speedup``: the median
  of ``tutorial time / fastnn time``, what fastnn gains over the code it
  replaces; ``reference_over_tutorial``: the median of ``reference time /
  tutorial time`` (near 1: the speed-up over the reference is not inflated
  by a slow reference); ``tutorial_max_weight_diff``: its final weights
  against the reference backend's, held to the backends' tolerance (a FAIL
  beyond it), and ``tutorial_loss``: its last epoch's loss.
- ``max_weight_diff``: the largest absolute difference between the two
  backends' final weights, checked against the dtype's tolerance
  (:data:`WEIGHT_RTOL`, relative to ``max(1, largest |weight|)``).  Beyond
  it, or when a backend's final weights change from one round to the next
  (fastnn promises deterministic results), the row says ``FAIL`` and the
  command exits with status 1.
- ``reference_loss`` / ``fastnn_loss``: the training loss after the fit (the
  workload's own loss), and for classification the accuracy (and test
  accuracy where the workload holds rows out).
- ``gemm_floor_s`` for the mini-batch workloads (``tabular``,
  ``mnist_like``): the time of the same matrix products alone, three per
  layer per batch (``x @ W``, ``x.T @ delta``, ``delta @ W.T``; not the
  first layer's ``delta @ W.T``, which a fit never needs) with the same
  shapes and dtype, through NumPy's BLAS, timed in the same rounds.
  ``fastnn_s / gemm_floor_s`` says how much fastnn adds on top of them.
- ``--with sklearn,torch``: scikit-learn's ``MLPRegressor``/``MLPClassifier``
  and a PyTorch CPU loop of the same network as extra timed sides (see
  :func:`run_sklearn` and :func:`run_torch` for how close each is to the
  workload); skipped with a note when not installed.
- ``--with float64``: for float32 workloads, the numba backend in float64
  (same data and initial weights, cast) as a timed side;
  ``float32_speedup`` is the median of ``float64 time / float32 time``.
- ``--with threads``: the numba backend at one thread as a timed side;
  ``thread_speedup`` is the median of ``one-thread time / time at the
  current thread count`` (the 2-core target: 1.6x).
- ``--with memory``: peak resident memory of fresh processes (untimed,
  :func:`fit_peak_rss`): ``memory_growth_mb`` = a numba fit of
  :data:`MEMORY_EPOCHS` epochs minus a one-epoch fit (no allocation per
  batch: ~0), ``memory_vs_reference_mb`` = that numba fit minus the same fit
  on the numpy backend (<= 0: never above the reference).

The package's modules:

- :mod:`~fastnn.tools.compare.sides`: one :class:`~fastnn.tools.compare.sides.Side`
  subclass per compared side (the two backends, the tutorial-style loop, the
  GEMM floor and every ``--with`` entry), registered in :data:`SIDES`: how it
  warms up, runs once timed, and which cells, table columns and problems it
  adds.
- :mod:`~fastnn.tools.compare.fits`: fastnn's own timed fits, and the GEMM
  floor.
- :mod:`~fastnn.tools.compare.libraries`: the workload as scikit-learn and
  PyTorch train it.
- :mod:`~fastnn.tools.compare.memory`: peak memory of fits in fresh processes.
- :mod:`~fastnn.tools.compare.runner`: the plan, the warm-up, the
  alternating rounds, the agreement check, :func:`run_compare`.
- :mod:`~fastnn.tools.compare.report`: the table, its footer, the JSON
  output and :func:`main`, the command.

``fastnn compare --grid`` is a separate command on the realistic workload
grid (:mod:`fastnn.tools.grid`): fastnn against the GEMM, compiled-loop and
compute floors and, optionally, scikit-learn and PyTorch.  Its modules are
imported only when it runs:

- :mod:`~fastnn.tools.compare.grid`: the plan, the alternating rounds and
  ``main``;
- :mod:`~fastnn.tools.compare.grid_sides`: the timed sides and the floors;
- :mod:`~fastnn.tools.compare.grid_report`: the table, the summary and the
  footer.
"""

from fastnn.tools.compare.fits import gemm_floor, run_float64, train_backend, warm_up
from fastnn.tools.compare.libraries import run_sklearn, run_torch, sklearn_estimator
from fastnn.tools.compare.memory import MEMORY_EPOCHS, fit_peak_rss, memory_rows
from fastnn.tools.compare.report import columns, format_footer, format_header, format_row, format_time, main
from fastnn.tools.compare.runner import (
    SETTLE_SECONDS,
    STATUS_FAIL,
    STATUS_OK,
    WEIGHT_RTOL,
    CompareError,
    Plan,
    _settle,  # noqa: F401  (the asv suite pauses between its own timed sides with it)
    compare_workload,
    environment,
    error_row,
    plan,
    run_compare,
)
from fastnn.tools.compare.sides import (
    EXTRAS,
    GEMM_FLOOR_WORKLOADS,
    LIBRARY_EXTRAS,
    SIDES,
    Job,
    Side,
    _optional_module,  # noqa: F401  (the asv suite and the tests look optional packages up with it)
    max_abs_diff,
)

__all__ = [
    "EXTRAS",
    "GEMM_FLOOR_WORKLOADS",
    "LIBRARY_EXTRAS",
    "MEMORY_EPOCHS",
    "SETTLE_SECONDS",
    "SIDES",
    "STATUS_FAIL",
    "STATUS_OK",
    "WEIGHT_RTOL",
    "CompareError",
    "Job",
    "Plan",
    "Side",
    "columns",
    "compare_workload",
    "environment",
    "error_row",
    "fit_peak_rss",
    "format_footer",
    "format_header",
    "format_row",
    "format_time",
    "gemm_floor",
    "main",
    "max_abs_diff",
    "memory_rows",
    "plan",
    "run_compare",
    "run_float64",
    "run_sklearn",
    "run_torch",
    "sklearn_estimator",
    "train_backend",
    "warm_up",
]
