"""Running ``fastnn compare``: the plan, the warm-up, the alternating rounds and the agreement check.

One workload (:func:`compare_workload`) is measured in three phases over
the selected sides (:mod:`.sides`; the two backends always, the
tutorial-style loop and the GEMM floor where they apply, the ``--with``
extras):

1. warm-up: every side's one-off costs, untimed;
2. ``repeat`` rounds: in each, every timed side runs once, in the order of
   :data:`.sides.SIDES`, after an idle pause (:data:`SETTLE_SECONDS`), so
   slow drifts of a shared machine hit every side alike; the reported
   times are medians over the rounds;
3. the row: the workload's description, the agreement check of the two
   backends' final weights (:func:`agreement`), every side's cells and
   what any side found wrong (the tutorial-style loop's weights checked
   against the reference's with the same tolerance).

Tolerances (:data:`WEIGHT_RTOL`), measured on this project's workloads: in
float64 the backends' final weights differ by at most ~5e-15 after whole
fits (10,000 epochs of ``classify`` included), so 1e-8 is a bug detector with
a wide margin; in float32 they differ by up to ~4e-6 (``mnist5k``, 5 Adam
epochs) and ~2e-7 (``tabular``), so 1e-4.  The difference can grow far
beyond rounding when a long float32 fit sends a sample across a ReLU kink on
one backend only (``mnist5k`` at 7 epochs jumps to 3e-4, all of it in one
hidden unit's weights): the workloads are sized to stay
clear of that, and a FAIL on a new workload should be looked at with that in
mind, not by raising the tolerance.
"""

from __future__ import annotations

import contextlib
import importlib
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

import fastnn
from fastnn import config
from fastnn.tools.compare.sides import EXTRAS, SIDES, Fastnn, Job, Reference, get_side, max_abs_diff
from fastnn.tools.workloads import WORKLOADS, Workload, available_workloads, get_workload

#: Largest allowed ``max |w_numba - w_numpy| / max(1, max |w|)`` after a whole fit, by dtype.
WEIGHT_RTOL = {"float64": 1e-8, "float32": 1e-4}

#: Idle seconds before each timed side.  After a multi-threaded call the worker threads of its
#: pool (OpenBLAS: NumPy's and SciPy's are two separate pools, the latter used by fastnn's compiled
#: loops; Numba's threading layer; PyTorch's) keep spinning for up to ~0.1 s; a side started inside
#: that window competes with them for the cores.  Measured on a 2-core machine, mnist_like: a numba
#: fit alternated with NumPy matrix products took 129 ms back to back and 74 ms with a 0.1 s gap,
#: the products 115 ms and 44 ms.  The pause gives each side a quiet machine.
SETTLE_SECONDS = 0.2

STATUS_OK, STATUS_FAIL = "ok", "FAIL"


class CompareError(Exception):
    """Bad input to :func:`run_compare` (unknown workload or extra): a usage error on the command line."""


def _settle() -> None:
    """Let the previous side's worker threads go idle before the next side starts (:data:`SETTLE_SECONDS`)."""
    if SETTLE_SECONDS > 0:
        time.sleep(SETTLE_SECONDS)


# ----------------------------------------------------------------------
# one workload
# ----------------------------------------------------------------------


def _max_abs(ws) -> float:
    return max((float(np.max(np.abs(w), initial=0.0)) for w in ws), default=0.0)


def agreement(reference: Reference, fastnn: Fastnn, dtype: str) -> dict:
    """Check the two backends' final weights: equal within the dtype's tolerance, the same every round.

    Parameters
    ----------
    reference, fastnn : Backend
        The two backend sides after the rounds (their ``finals``: one list
        of weights per round).
    dtype : {"float64", "float32"}

    Returns
    -------
    dict
        ``max_weight_diff`` (first round), ``weight_scale`` (``max(1,
        largest |reference weight|)``), ``tolerance`` (``WEIGHT_RTOL[dtype]
        * weight_scale``), ``status`` (``"ok"`` or ``"FAIL"``) and
        ``problems`` (why it failed; empty when ok).
    """
    ref_w, fast_w = reference.finals[0], fastnn.finals[0]
    diff = max_abs_diff(ref_w, fast_w)
    scale = max(1.0, _max_abs(ref_w))
    rtol = WEIGHT_RTOL[dtype]
    problems = []
    finite = all(np.all(np.isfinite(w)) for w in ref_w + fast_w)
    if not finite:
        problems.append("non-finite weights")
    if not diff <= rtol * scale:
        problems.append(f"backends disagree: max |dw| {diff:.3g} > {rtol:g} x {scale:.3g}")
    for side in (reference, fastnn):
        if any(max_abs_diff(side.finals[0], later) != 0.0 for later in side.finals[1:]):
            problems.append(f"{side.backend} backend not deterministic across rounds")
    return {"max_weight_diff": diff, "weight_scale": scale, "tolerance": rtol * scale,
            "status": STATUS_FAIL if problems else STATUS_OK, "problems": problems}


def compare_workload(workload: Workload, repeat=3, threads=None, extras=(), log=None) -> dict:
    """Measure one workload; returns its result row (see :mod:`fastnn.tools.compare` for the keys).

    Parameters
    ----------
    workload : Workload
    repeat : int
        Alternating timed rounds (>= 1).
    threads : int, optional
        Threads for every side; default the current settings.
    extras : sequence of str
        Optional sides (keys of :data:`.sides.EXTRAS`), already checked to
        be available (:func:`plan`).
    log : callable(str), optional
        Progress messages.

    Returns
    -------
    dict
        The workload's description, the agreement check (:func:`agreement`)
        and every side's cells.
    """
    log = log or (lambda message: None)
    job = Job(workload, workload.build_model("numpy").get_weights(), threads, log)
    chosen = set(extras)
    sides = [cls(job) for cls in SIDES
             if (not cls.optional or cls.name in chosen) and cls.applies_to(workload)]
    job.sides.update((side.name, side) for side in sides)
    by_class = {type(side): side for side in sides}
    reference, fastnn = by_class[Reference], by_class[Fastnn]
    for side in sides:
        side.warm_up()
    timed = [side for side in sides if side.timed]
    for r in range(repeat):
        for side in timed:
            _settle()
            side.times.append(side.run())
        log(f"  {workload.name}: round {r + 1}/{repeat} done")
    row = {
        "name": workload.name,
        "description": workload.description,
        "architecture": workload.architecture(),
        "dtype": workload.dtype,
        "n_samples": workload.data().n_samples,
        "epochs": workload.epochs,
        "batch_size": workload.batch_size,
        "repeat": repeat,
        **agreement(reference, fastnn, workload.dtype),
    }
    for side in sides:
        row.update(side.cells(fastnn))
    for side in sides:
        found = side.problems(row)
        if found:
            row["problems"] = row["problems"] + found
            row["status"] = STATUS_FAIL
    return row


def error_row(workload: Workload, exc: BaseException) -> dict:
    """The row of a workload whose measurement raised: status FAIL, the error as its problem."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {
        "name": workload.name, "description": workload.description, "architecture": workload.architecture(),
        "dtype": workload.dtype, "reference_s": None, "fastnn_s": None, "speedup": None,
        "max_weight_diff": None, "tolerance": WEIGHT_RTOL[workload.dtype], "status": STATUS_FAIL,
        "problems": [f"error: {type(exc).__name__}: {message}"], "reference_loss": None, "fastnn_loss": None,
    }


# ----------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------


@dataclass
class Plan:
    """What a compare run will do: the workloads, the extras, and notes on what was skipped.

    Attributes
    ----------
    workloads : list of Workload
    extras : list of str
        The ``--with`` entries that will run, in the order given (the
        order of their table columns).
    notes : list of str
        Workloads and extras left out, and why.
    """

    workloads: list
    extras: list
    notes: list


def plan(names=None, extras=()) -> Plan:
    """Resolve workload names and ``--with`` extras.

    Unknown names raise :class:`CompareError`; a named workload whose optional
    package is missing too.  With no names, every available workload runs and
    the unavailable ones are noted.  Extras that are not installed are
    dropped with a note.
    """
    notes = []
    if not names:
        names = available_workloads()
        for name, w in WORKLOADS.items():
            if not w.available():
                notes.append(f"skipped workload {name}: {w.unavailable_reason()}")
    workloads = []
    for name in names:
        try:
            w = get_workload(name)
        except ValueError as exc:
            raise CompareError(str(exc)) from None
        if not w.available():
            raise CompareError(f"workload {name!r} is not available: {w.unavailable_reason()}")
        if w not in workloads:
            workloads.append(w)
    chosen = []
    for extra in extras:
        if extra not in EXTRAS:
            raise CompareError(f"unknown --with entry {extra!r}; expected a comma-separated list of "
                               f"{', '.join(EXTRAS)}")
        if extra in chosen:
            continue
        reason = get_side(extra).unavailable_reason()
        if reason is not None:
            notes.append(f"skipped {extra}: {reason}")
            continue
        chosen.append(extra)
    return Plan(workloads, chosen, notes)


def environment() -> dict:
    """Machine, versions and thread settings, for the report.

    Returns
    -------
    dict
        ``cpu``, ``cores``, ``python``, ``fastnn``, ``numpy``, ``numba``,
        ``numba_threads``, ``blas`` (one description per BLAS library
        loaded), and the version of each optional side's package already
        imported, under the side's name (``sklearn``, ``torch``).
    """
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    info = {"cpu": cpu, "cores": config.cpu_count(), "python": platform.python_version(),
            "fastnn": fastnn.__version__, "numpy": np.__version__,
            "numba": importlib.import_module("numba").__version__,
            "numba_threads": config.get_num_threads(), "blas": blas}
    for extra, package in EXTRAS.items():
        mod = sys.modules.get(package) if package is not None else None
        if mod is not None:
            info[extra] = getattr(mod, "__version__", "?")
    return info


def run_compare(names=None, repeat=3, threads=None, extras=(), log=None, on_row=None) -> tuple[list, Plan, dict]:
    """Run the comparison.

    Parameters
    ----------
    names : list of str, optional
        Workload names; default every available workload.
    repeat : int
        Alternating rounds per workload (>= 1).
    threads : int, optional
        Numba and BLAS threads (and PyTorch's) for every side; default the
        current settings.
    extras : sequence of str
        ``--with`` entries: keys of :data:`.sides.EXTRAS`.
    log : callable(str), optional
        Progress messages.
    on_row : callable(dict), optional
        Called with each workload's row as soon as it is measured.

    Returns
    -------
    rows, plan, env
    """
    p = plan(names, extras)
    context = config.threads(threads) if threads is not None else contextlib.nullcontext()
    rows = []
    with context:
        env = environment()
        for w in p.workloads:
            try:
                row = compare_workload(w, repeat=repeat, threads=threads, extras=p.extras, log=log)
            except Exception as exc:  # a crashing side is a FAIL of its row; the other workloads still run
                row = error_row(w, exc)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows, p, env
