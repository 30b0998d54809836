"""``fastnn compare --grid``: fastnn on the realistic workload grid, against its floors and other libraries.

For each selected shape of :data:`fastnn.tools.grid.GRID` (the jobs people
train: 1,000-100,000 rows, hidden layers (16,) to (512, 256), both solvers,
dtypes and APIs) the command times, each as the median of ``repeat``
alternating rounds:

- ``fastnn_s``: the fit through the shape's API (:func:`.grid_sides.fastnn_fit`);
- ``gemm_floor_s``: the fit's matrix products alone, through NumPy (:class:`.grid_sides.ProductFloor`);
- ``compiled_floor_s``: the same products from one compiled Numba loop;
- ``sklearn_s`` / ``torch_s`` (``--with sklearn,torch``): scikit-learn's MLP
  with the same parameters, a plain PyTorch loop of the same network;
- ``threads_s`` (``--with threads``): the fastnn fit at one thread;
- ``float64_s`` (``--with float64``): a float32 shape's fastnn fit in float64;

and computes ``compute_floor_s``: the fit's multiply-adds at the machine's
peak rate in the shape's dtype (:func:`.grid_sides.peak_gflops`, measured once
per run at the current thread count).

Each side is warmed up first, untimed, by the same job with one epoch
(compilation, imports, first-call costs); then every round runs the sides in
the order above, each after an idle pause (:func:`.runner._settle`, so the
previous side's BLAS threads have gone quiet).  Models, estimators and operands
are built outside the timed region.

Row keys: the shape (``name``, ``description``, ``n_rows``, ``n_features``,
``hidden``, ``task``, ``n_outputs``, ``batch_size``, ``solver``, ``dtype``,
``api``, ``epochs``, ``data_source``, ``madds``), ``repeat``, ``threads``,
``status`` (``"ok"``/``"FAIL"``), ``problems`` and ``notes`` (lists of str);
``<side>_s`` (median seconds) and ``<side>_times`` (one per round) of every
timed side; ``compute_floor_s``; and the ratios (:data:`.grid_report.RATIOS`), each the
median of the per-round ratios: ``fastnn_vs_gemm_floor``,
``fastnn_vs_compiled_floor``, ``fastnn_vs_compute_floor`` (fastnn time /
floor: 1 is the floor), ``sklearn_speedup``, ``torch_speedup`` (their time /
fastnn's), ``thread_speedup`` (one-thread time / time at ``threads``),
``float32_speedup`` (float64 time / float32 time; None on float64 shapes).
A selected side that could not run has None cells and a note.  A fastnn fit
that raises, stops early or ends non-finite makes the row FAIL (exit status
1); nothing else is asserted.

``--json`` prints ``{"rows": [...], "summary": {...}, "environment": {...}}``:
the summary gives ``min``, ``median``, ``max`` and ``n`` of each ratio over
the shapes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastnn import config
from fastnn.tools.compare import grid_sides
from fastnn.tools.compare.grid_report import (
    format_footer,
    grid_columns,
    progress_line,
    summarize,
)
from fastnn.tools.compare.report import format_header, format_row
from fastnn.tools.compare.runner import (
    STATUS_FAIL,
    STATUS_OK,
    CompareError,
    _settle,
    environment,
)
from fastnn.tools.compare.sides import _optional_module
from fastnn.tools.grid import GRID, GridShape

#: ``--with`` entries of ``--grid`` and the package each needs (None: nothing extra).
GRID_EXTRAS = {"sklearn": "sklearn", "torch": "torch", "threads": None, "float64": None}


# ----------------------------------------------------------------------
# what to run
# ----------------------------------------------------------------------


@dataclass
class GridPlan:
    """The shapes and ``--with`` entries of a run, and notes on what was left out."""

    shapes: list
    extras: list
    notes: list = field(default_factory=list)


def select_shapes(names=None) -> tuple[list, list]:
    """``(shapes, notes)``: the grid shapes ``names`` select, in grid order.

    A name selects the shape of that exact name, else every shape whose name
    contains it; one that selects nothing raises :class:`CompareError` listing
    the names.  No names: the whole grid.  Shapes whose data cannot be built
    here are left out with a note, except one named exactly (an error).
    """
    chosen, notes = set(), []
    for name in names or [shape.name for shape in GRID]:
        exact = [shape for shape in GRID if shape.name == name]
        matches = exact or [shape for shape in GRID if name in shape.name]
        if not matches:
            raise CompareError(f"unknown grid shape {name!r}; expected a name or part of one of: "
                               + ", ".join(shape.name for shape in GRID))
        if exact and exact[0].unavailable_reason() is not None and names:
            raise CompareError(f"grid shape {name!r} is not available: {exact[0].unavailable_reason()}")
        chosen.update(matches)
    shapes = []
    for shape in GRID:
        if shape in chosen:
            reason = shape.unavailable_reason()
            if reason is None:
                shapes.append(shape)
            else:
                notes.append(f"skipped grid shape {shape.name}: {reason}")
    return shapes, notes


def plan_grid(names=None, extras=()) -> GridPlan:
    """Resolve shape names and ``--with`` entries; uninstalled libraries are dropped with a note."""
    shapes, notes = select_shapes(names)
    chosen = []
    for extra in extras:
        if extra not in GRID_EXTRAS:
            raise CompareError(f"--with {extra!r} is not available with --grid; expected a comma-separated list "
                               f"of {', '.join(GRID_EXTRAS)}")
        package = GRID_EXTRAS[extra]
        if extra in chosen:
            continue
        if package is not None and _optional_module(package) is None:
            notes.append(f"skipped {extra}: {package} is not installed")
            continue
        chosen.append(extra)
    return GridPlan(shapes, chosen, notes)


# ----------------------------------------------------------------------
# one shape
# ----------------------------------------------------------------------


def _timed(run: Callable[[], object]) -> Callable[[], float]:
    def timed():
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    return timed


@dataclass
class _Side:
    """One timed side of a shape: its row-key prefix, its untimed warm-up, and one timed run (-> seconds)."""

    key: str
    warm_up: Callable[[], object]
    run: Callable[[], float]
    times: list = field(default_factory=list)
    error: str | None = None


def _sides(shape: GridShape, extras, threads: int, seed: int) -> list:
    """The timed sides of ``shape``, in the order each round runs them (fastnn first)."""
    short = dataclasses.replace(shape, epochs=1)  # the warm-up: the same job, one epoch
    floor = grid_sides.ProductFloor(shape)
    sides = [
        _Side("fastnn", lambda: grid_sides.fastnn_fit(short, seed), lambda: grid_sides.fastnn_fit(shape, seed)),
        _Side("gemm_floor", lambda: floor.numpy(1), _timed(lambda: floor.numpy(shape.epochs))),
        _Side("compiled_floor", lambda: floor.compiled(1), _timed(lambda: floor.compiled(shape.epochs))),
    ]
    if "sklearn" in extras:
        sides.append(_Side("sklearn", lambda: grid_sides.sklearn_fit(short, seed),
                           lambda: grid_sides.sklearn_fit(shape, seed)))
    if "torch" in extras:
        sides.append(_Side("torch", lambda: grid_sides.torch_fit(short, threads, seed),
                           lambda: grid_sides.torch_fit(shape, threads, seed)))
    if "threads" in extras:
        def one_thread(s):
            with config.threads(1):  # Numba's and every BLAS's threads, restored after
                return grid_sides.fastnn_fit(s, seed)
        sides.append(_Side("threads", lambda: one_thread(short), lambda: one_thread(shape)))
    if "float64" in extras and shape.dtype == "float32":
        sides.append(_Side("float64", lambda: grid_sides.fastnn_fit(short, seed, float64=True),
                           lambda: grid_sides.fastnn_fit(shape, seed, float64=True)))
    return sides


def _call(side: _Side, fn: Callable[[], object]):
    """Run a side's warm-up or timed run; another library's failure is noted, fastnn's propagates."""
    if side.key in ("fastnn", "threads", "float64"):
        return fn()
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001  (a floor, scikit-learn or PyTorch failing is noted, not a fastnn FAIL)
        side.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return None


def _median(values):
    return float(statistics.median(values)) if values else None


def _describe(shape: GridShape) -> dict:
    return {"name": shape.name, "description": shape.describe(), "n_rows": shape.n_rows,
            "n_features": shape.n_features, "hidden": list(shape.hidden), "task": shape.task,
            "n_outputs": shape.n_outputs, "batch_size": shape.batch_size, "solver": shape.solver,
            "dtype": shape.dtype, "api": shape.api, "epochs": shape.epochs, "data_source": shape.data_source,
            "madds": shape.madds()}


def _cells(shape: GridShape, sides: list, peak: dict, extras) -> dict:
    """The times and ratios of a measured shape (None where a side did not run or does not apply)."""
    by_key = {side.key: side for side in sides}
    fastnn = by_key["fastnn"].times
    cells = {"fastnn_s": _median(fastnn), "fastnn_times": fastnn}

    def ratios(key, over_fastnn):
        side = by_key.get(key)
        if side is None or side.error is not None:
            return None, None, None
        times = side.times
        pairs = [(t / f) if over_fastnn else (f / t) for t, f in zip(times, fastnn) if t > 0 and f > 0]
        return _median(times), times, _median(pairs)

    for floor in ("gemm_floor", "compiled_floor"):
        cells[f"{floor}_s"], cells[f"{floor}_times"], cells[f"fastnn_vs_{floor}"] = ratios(floor, False)
    if peak is not None:
        compute = shape.madds() / (peak[shape.dtype] / 2 * 1e9)  # multiply-adds at the peak rate (2 flops each)
        cells["compute_floor_s"] = compute
        cells["fastnn_vs_compute_floor"] = _median([f / compute for f in fastnn])
    for extra, ratio in (("sklearn", "sklearn_speedup"), ("torch", "torch_speedup"),
                         ("threads", "thread_speedup"), ("float64", "float32_speedup")):
        if extra in extras:
            cells[f"{extra}_s"], cells[f"{extra}_times"], cells[ratio] = ratios(extra, True)
    return cells


def measure_shape(shape: GridShape, repeat=3, threads=None, extras=(), peak=None, seed=0, log=None) -> dict:
    """Measure one shape; returns its row (keys: the module docstring).

    Parameters
    ----------
    shape : GridShape
    repeat : int
        Alternating timed rounds (>= 1).
    threads : int, optional
        The thread count the fits run at (PyTorch's too); default the current Numba setting.
    extras : sequence of str
        ``--with`` entries (keys of :data:`GRID_EXTRAS`), already checked to be installed.
    peak : dict, optional
        Peak GFLOP/s by dtype (:func:`.grid_sides.peak_gflops`); without it
        the row has no compute floor (``run_grid`` always passes it).
    seed : int
        Seed of every side's initial weights and shuffling.
    log : callable(str), optional
        Progress messages.
    """
    log = log or (lambda message: None)
    threads = threads or config.get_num_threads()
    row = {**_describe(shape), "repeat": repeat, "threads": threads, "status": STATUS_OK, "problems": [],
           "notes": []}
    try:
        sides = _sides(shape, extras, threads, seed)
        for side in sides:
            _call(side, side.warm_up)
        for r in range(repeat):
            for side in sides:
                if side.error is None:
                    _settle()
                    seconds = _call(side, side.run)
                    if seconds is not None:
                        side.times.append(seconds)
            if repeat > 1:
                log(f"  {shape.name}: round {r + 1}/{repeat} done")
    except Exception as exc:  # noqa: BLE001  (a fastnn fit that failed or crashed FAILs its row; the rest still run)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        row.update(status=STATUS_FAIL, problems=[f"error: {type(exc).__name__}: {message}"])
        return row
    row.update(_cells(shape, sides, peak, extras))
    row["notes"] = [f"{side.key} did not run: {side.error}" for side in sides if side.error is not None]
    return row


# ----------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------


def grid_environment(threads: int, peak: dict) -> dict:
    """:func:`.runner.environment` plus the thread count, library versions and the measured peak GFLOP/s."""
    env = environment()
    env["threads"] = threads
    for key, dist in (("sklearn", "scikit-learn"), ("torch", "torch")):
        if key not in env:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                env[key] = importlib.metadata.version(dist)
    env["peak_gflops"] = peak
    env["peak_method"] = (f"best of {grid_sides.PEAK_TRIES} np.dot of {grid_sides.PEAK_SIZE} x {grid_sides.PEAK_SIZE} "
                          "matrices at the run's thread count")
    return env


def run_grid(names=None, repeat=3, threads=None, extras=(), log=None, on_row=None):
    """Run the grid comparison; returns ``(rows, plan, environment)``.

    Parameters
    ----------
    names : list of str, optional
        Shape names or parts of names (:func:`select_shapes`); default the whole grid.
    repeat : int
    threads : int, optional
        Numba and BLAS threads for every side (and PyTorch's); default the current settings.
    extras : sequence of str
        ``--with`` entries: keys of :data:`GRID_EXTRAS`.
    log : callable(str), optional
        Progress messages.
    on_row : callable(dict), optional
        Called with each shape's row as soon as it is measured.
    """
    log = log or (lambda message: None)
    p = plan_grid(names, extras)
    rows = []
    with config.threads(threads) if threads is not None else contextlib.nullcontext():
        count = config.get_num_threads()
        peak = {}
        for dtype in sorted({shape.dtype for shape in p.shapes}):
            _settle()
            peak[dtype] = grid_sides.peak_gflops(dtype)
            log(f"peak {dtype}: {peak[dtype]:.1f} GFLOP/s at {count} threads")
        env = grid_environment(count, peak)
        for i, shape in enumerate(p.shapes, 1):
            log(f"[{i}/{len(p.shapes)}] {shape.name}: warm-up, then {repeat} round{'s' * (repeat > 1)}")
            start = time.perf_counter()
            row = measure_shape(shape, repeat, count, p.extras, peak, log=log)
            rows.append(row)
            log(f"[{i}/{len(p.shapes)}] {progress_line(row)} ({time.perf_counter() - start:.1f} s)")
            if on_row is not None:
                on_row(row)
    return rows, p, env


# ----------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------


def main(names=None, repeat=3, threads=None, extras=(), as_json=False, out=None, err=None) -> int:
    """The ``fastnn compare --grid`` command: the table (or JSON) on ``out``, progress on ``err``.

    Returns
    -------
    int
        0 when every fastnn fit finished, 1 when any row FAILs.

    Raises
    ------
    CompareError
        An unknown shape name or ``--with`` entry (a usage error).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    p = plan_grid(names, extras)  # validate before printing anything
    for note in p.notes:
        print(f"note: {note}", file=err, flush=True)
    cols = grid_columns(p.extras)

    def log(message):
        print(message, file=err, flush=True)

    def on_row(row):
        if not as_json:
            print(format_row(cols, row), file=out, flush=True)

    if not as_json:
        print(format_header(cols), file=out, flush=True)
    rows, _, env = run_grid(names, repeat, threads, extras, log=log, on_row=on_row)
    summary = summarize(rows)
    if as_json:
        json.dump({"rows": rows, "summary": summary, "environment": env}, out, indent=1)
        out.write("\n")
    else:
        for line in format_footer(rows, summary, env, repeat):
            print(line, file=out)
    out.flush()
    return 1 if any(r["status"] != STATUS_OK for r in rows) else 0
