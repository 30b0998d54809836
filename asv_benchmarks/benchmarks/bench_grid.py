"""The realistic workload grid (``fastnn/tools/grid.py``): fastnn against the GEMM floor and scikit-learn, as ratios.

For every grid shape (the jobs people train: 1,000-100,000 rows, hidden layers
(16,) to (512, 256), both solvers, dtypes and APIs), two ``track_``
benchmarks, measured by ``fastnn compare --grid``'s own code
(:func:`fastnn.tools.compare.grid.measure_shape`) in one process, the sides
alternating after an untimed one-epoch warm-up of each:

- ``GridGemmFloor.track_fastnn_over_gemm_floor``: the whole fit's time /
  the time of the same matrix products alone through NumPy (lower is better,
  1.0 is the floor);
- ``GridSklearn.track_sklearn_over_fastnn``: scikit-learn's MLP with the
  same parameters, time / fastnn's (higher is better).

What is measured: each shape's whole job (all its epochs), in
:data:`ROUNDS` alternating round(s), the ratio of each round, then their
median.  One round by default: scikit-learn's fits of the whole grid take
about a minute per round on a 2-core machine, and CI runs every benchmark
(``asv run --quick``); set ``FASTNN_GRID_ROUNDS=3`` for a steadier record.
Every shape is measured once, in the module's ``setup_cache`` (asv shares
it between both classes and every shape), so the two ratios of a shape come
from the same rounds.  A shape whose data set is not installed, and the
scikit-learn ratio without scikit-learn, are skipped (``NotImplementedError``
in ``setup``); a fastnn fit that fails or diverges makes the benchmark error.
"""

from __future__ import annotations

import os

from fastnn.tools.compare import _optional_module
from fastnn.tools.compare import grid as compare_grid
from fastnn.tools.grid import GRID, get_shape

#: Alternating rounds per shape (the median of the per-round ratios is recorded).
ROUNDS = int(os.environ.get("FASTNN_GRID_ROUNDS", "1"))
SHAPES = [shape.name for shape in GRID]


def setup_cache():
    """Measure every available shape once: ``{name: row}`` (fastnn, the floors and scikit-learn when installed)."""
    extras = ("sklearn",) if _optional_module("sklearn") is not None else ()
    rows = {}
    for shape in GRID:
        if shape.unavailable_reason() is None:
            row = compare_grid.measure_shape(shape, repeat=ROUNDS, extras=extras)
            rows[shape.name] = {key: row.get(key) for key in
                                ("status", "problems", "fastnn_vs_gemm_floor", "sklearn_speedup")}
    return rows


setup_cache.timeout = 1800  # the whole grid in one call: about a minute per round on a 2-core machine


def _ratio(rows, name, key):
    """The ratio ``key`` of shape ``name``; an error instead when its fastnn fit failed."""
    row = rows[name]
    if row["status"] != "ok":
        raise AssertionError(f"{name}: " + "; ".join(row["problems"]))
    return row[key]


def _shape_or_skip(name):
    reason = get_shape(name).unavailable_reason()
    if reason is not None:
        raise NotImplementedError(f"grid shape {name!r}: {reason}")


class GridGemmFloor:
    """fastnn fit time / GEMM-floor time of each grid shape (median of the rounds' ratios)."""

    params = [SHAPES]
    param_names = ["shape"]
    timeout = 1800

    def setup(self, rows, name):
        _shape_or_skip(name)

    def track_fastnn_over_gemm_floor(self, rows, name):
        return _ratio(rows, name, "fastnn_vs_gemm_floor")

    track_fastnn_over_gemm_floor.unit = "ratio"


class GridSklearn:
    """scikit-learn fit time / fastnn fit time of each grid shape, same parameters (median of the rounds' ratios)."""

    params = [SHAPES]
    param_names = ["shape"]
    timeout = 1800

    def setup(self, rows, name):
        _shape_or_skip(name)
        if _optional_module("sklearn") is None:
            raise NotImplementedError("scikit-learn is not installed")

    def track_sklearn_over_fastnn(self, rows, name):
        return _ratio(rows, name, "sklearn_speedup")

    track_sklearn_over_fastnn.unit = "ratio"
