"""The compared sides of ``fastnn compare``: one :class:`Side` subclass each, registered in :data:`SIDES`.

A side is one way of running a workload's training job whose time (or
memory) goes into the workload's row:

==============  =========  ======================================================================
side            selected   what it runs
==============  =========  ======================================================================
``reference``   always     the whole fit on the plain-NumPy reference backend (``numpy``)
``fastnn``      always     the whole fit on the compiled backend (``numba``)
``tutorial``    always     the seed workload's loop as a tutorial reader writes it (:mod:`fastnn.tools.tutorial`),
                           on the seed workloads only
``gemm_floor``  always     the fit's matrix products alone through NumPy's BLAS (:func:`.fits.gemm_floor`),
                           on the :data:`GEMM_FLOOR_WORKLOADS` only
``sklearn``     ``--with`` scikit-learn's MLP of the same network (:func:`.libraries.run_sklearn`)
``torch``       ``--with`` a PyTorch CPU loop of the same network (:func:`.libraries.run_torch`)
``float64``     ``--with`` the numba fit in float64 (:func:`.fits.run_float64`), float32 workloads only
``threads``     ``--with`` the numba fit at one thread
``memory``      ``--with`` peak memory of fits in fresh processes (:mod:`.memory`), untimed
==============  =========  ======================================================================

The runner (:mod:`.runner`) makes one instance of each selected side per
workload, all sharing a :class:`Job` (the workload, its initial weights,
the thread count), and calls, in this order:

1. :meth:`Side.warm_up` on every side, untimed (compilation, imports,
   first-call costs);
2. :meth:`Side.run` on every timed side in turn, once per round, each
   returning the seconds of one timed run (the side keeps them in
   :attr:`Side.times` and whatever else it reports);
3. :meth:`Side.cells` on every side: its entries of the workload's row,
   given the ``fastnn`` side that the ratios are taken against (the other
   sides of the job are in :attr:`Job.sides`), then :meth:`Side.problems`:
   what the side found wrong (a FAIL of the row).

The report (:mod:`.report`) takes a side's table columns from
:attr:`Side.columns` and its footer lines from :meth:`Side.result_lines`,
:meth:`Side.caveat_lines` and :meth:`Side.legend_lines`.

Weights are lists ``[W0, b0, W1, b1, ...]`` as
:meth:`fastnn.Sequential.get_weights` returns them: ``W_i`` of shape
``(n_in, n_out)``, ``b_i`` of shape ``(n_out,)``.
"""

from __future__ import annotations

import importlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, NamedTuple

import numpy as np

from fastnn.tools import tutorial  # called as tutorial.<name>, so that a test can substitute one
from fastnn.tools.compare import fits  # called as fits.<name>, so that a test can substitute one
from fastnn.tools.compare.libraries import run_sklearn, run_torch
from fastnn.tools.compare.memory import MEMORY_EPOCHS, memory_rows
from fastnn.tools.workloads import Workload

#: Workloads whose GEMM floor is measured (mini-batch, matrix products that matter).
GEMM_FLOOR_WORKLOADS = ("tabular", "mnist_like")


def _optional_module(name):
    """Import an optional package, or None when it is not installed (tests monkeypatch this)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _median(values):
    return float(statistics.median(values)) if values else None


def max_abs_diff(a, b) -> float:
    """Largest absolute elementwise difference between two weight lists (inf on a shape mismatch)."""
    if len(a) != len(b) or any(np.shape(x) != np.shape(y) for x, y in zip(a, b)):
        return float("inf")
    return max((float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)), initial=0.0))
                for x, y in zip(a, b)), default=0.0)


# ----------------------------------------------------------------------
# the interface
# ----------------------------------------------------------------------


@dataclass
class Job:
    """One workload's measurement, shared by its sides.

    Attributes
    ----------
    workload : Workload
    weights : list of ndarray
        The initial weights every side starts from (the numpy-backend
        model's, ``[W0, b0, W1, b1, ...]``).
    threads : int or None
        Threads for every side; None keeps the current settings.
    log : callable(str)
        Progress messages.
    sides : dict
        Every side of this job by name, filled in by the runner (a side's
        cells may use another's times or weights).
    """

    workload: Workload
    weights: list
    threads: int | None = None
    log: Callable[[str], None] = lambda message: None
    sides: dict = field(default_factory=dict)


class Column(NamedTuple):
    """One table column of a side: its header, its width and the row key it shows, formatted as ``kind``.

    ``kind`` names one of the report's formats (:data:`.report.FORMATS`);
    the sides use ``"time"`` (seconds), ``"ratio"`` and ``"mib"``.
    """

    header: str
    width: int
    key: str
    kind: str


class Side:
    """One compared side of a workload: instantiated per workload by the runner.

    Subclasses set the class attributes and override what they need; the
    defaults describe a timed side that needs no optional package, applies
    to every workload and reports nothing beyond its times.

    Attributes
    ----------
    name : str
        The ``--with`` entry of an optional side, and the prefix of its
        row keys (``<name>_s``, ``<name>_times``, ...).
    package : str or None
        The optional package the side needs (None: nothing extra).
    install_hint : str
        How to install ``package``.
    optional : bool
        True: chosen with ``--with``; False: always runs where it applies.
    timed : bool
        True: :meth:`run` is called once per round.
    library : bool
        True for another library (scikit-learn, PyTorch); the rest measure
        fastnn itself another way.
    columns : tuple of Column
        Its table columns, shown when it is selected.
    job : Job
        The measurement this instance belongs to.
    times : list of float
        Seconds of each timed run so far, one per round.
    """

    name: ClassVar[str] = ""
    package: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""
    optional: ClassVar[bool] = True
    timed: ClassVar[bool] = True
    library: ClassVar[bool] = False
    columns: ClassVar[tuple] = ()

    def __init__(self, job: Job):
        self.job = job
        self.times: list[float] = []

    # -- selection ------------------------------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the side can run here, else why not (its optional package is missing)."""
        if cls.package is not None and _optional_module(cls.package) is None:
            return f"not installed ({cls.install_hint})"
        return None

    @classmethod
    def available(cls) -> bool:
        """True when :meth:`unavailable_reason` is None."""
        return cls.unavailable_reason() is None

    @classmethod
    def applies_to(cls, workload: Workload) -> bool:
        """False for workloads the side has nothing to measure on (it is then left out of their row)."""
        return True

    # -- measuring ------------------------------------------------------
    def warm_up(self) -> None:
        """Everything one-off before the first round (compilation, imports, first calls), untimed."""

    def run(self) -> float:
        """One timed run; returns its seconds (the runner appends them to :attr:`times`)."""
        raise NotImplementedError

    def cells(self, fastnn: Fastnn) -> dict:
        """The side's entries of the workload's row, after the rounds.

        Parameters
        ----------
        fastnn : Fastnn
            The compiled-backend side of the same workload, whose times the
            ratios are taken against (and whose weights PyTorch's are
            compared with).
        """
        return {}

    def problems(self, row: dict) -> list[str]:
        """What the side found wrong after the rounds (each one a FAIL of the row); called after :meth:`cells`.

        Parameters
        ----------
        row : dict
            The workload's row so far: the agreement check of the backends
            (its ``tolerance`` among the keys) and every side's cells.
        """
        return []

    def _timing_cells(self, ratio_key: str, ratios) -> dict:
        """``<name>_s`` (median seconds), ``<name>_times`` and ``ratio_key``: the median of ``ratios``."""
        return {f"{self.name}_s": _median(self.times), f"{self.name}_times": self.times, ratio_key: _median(ratios)}

    def _ratios_to(self, fastnn: Fastnn) -> list:
        """Per round: this side's time / fastnn's time."""
        return [e / f for e, f in zip(self.times, fastnn.times) if f > 0]

    # -- the report's footer ----------------------------------------------
    @classmethod
    def result_lines(cls, rows) -> list[str]:
        """Footer lines with what the side found beyond its columns, over all ``rows``."""
        return []

    @classmethod
    def caveat_lines(cls, rows) -> list[str]:
        """Footer lines on how the side's job differs from the workload."""
        return []

    @classmethod
    def legend_lines(cls, env: dict) -> list[str]:
        """Footer lines saying what the side's columns measure (``env``: :func:`.runner.environment`)."""
        return []


# ----------------------------------------------------------------------
# the two backends
# ----------------------------------------------------------------------


class Backend(Side):
    """A fastnn backend's whole fit from the shared initial weights, each timed fit after an untimed short one.

    Attributes
    ----------
    backend : {"numpy", "numba"}
    finals : list of list of ndarray
        The final weights of each round (the agreement and determinism checks).
    model : Sequential or None
        The last round's trained model (the losses and accuracies).
    """

    backend: ClassVar[str] = ""
    optional = False

    def __init__(self, job: Job):
        super().__init__(job)
        self.finals: list = []
        self.model = None

    def warm_up(self) -> None:
        job = self.job
        fits.warm_up(job.workload, self.backend, job.weights, job.threads)

    def run(self) -> float:
        job = self.job
        fits.warm_up(job.workload, self.backend, job.weights, job.threads, evaluate=False)
        seconds, model = fits.train_backend(job.workload, self.backend, job.weights, job.threads)
        self.finals.append(model.get_weights())
        self.model = model
        return seconds

    def cells(self, fastnn: Fastnn) -> dict:
        """``<name>_s``, ``<name>_times``, ``<name>_loss``, and ``<name>_accuracy`` / ``<name>_test_accuracy``."""
        quality = self.job.workload.evaluate(self.model)
        out = {f"{self.name}_s": _median(self.times), f"{self.name}_times": self.times,
               f"{self.name}_loss": quality["loss"]}
        for key in ("accuracy", "test_accuracy"):
            if key in quality:
                out[f"{self.name}_{key}"] = quality[key]
        return out


class Reference(Backend):
    """The plain-NumPy reference backend; its cells add ``speedup``, the median of reference / fastnn times."""

    name = "reference"
    backend = "numpy"

    def cells(self, fastnn: Fastnn) -> dict:
        return {**super().cells(fastnn), "speedup": _median(self._ratios_to(fastnn))}


class Fastnn(Backend):
    """fastnn's compiled backend: the side every other side's ratio is taken against."""

    name = "fastnn"
    backend = "numba"


# ----------------------------------------------------------------------
# what a user writes without fastnn
# ----------------------------------------------------------------------


class Tutorial(Side):
    """A seed workload's training loop as a tutorial reader writes it (:func:`fastnn.tools.tutorial.tutorial_call`).

    Always selected on the seed workloads; timed like the backends (each
    timed run right after an untimed one-epoch run of the same loop).  Its
    cells: ``tutorial_s``, ``tutorial_times``, ``tutorial_speedup`` (the
    median of tutorial time / fastnn time), ``reference_over_tutorial`` (the
    median of reference time / tutorial time: near 1 when fastnn's NumPy
    reference is as lean as the tutorial's loop), ``tutorial_loss`` (its last
    epoch's loss, before that epoch's update) and
    ``tutorial_max_weight_diff`` (the largest difference between its final
    weights and the reference backend's: the same steps, so rounding).
    Beyond the backends' tolerance (the row's ``tolerance``), or when its
    weights change from one round to the next, the row FAILs.

    Attributes
    ----------
    finals : list of list of ndarray
        The final weights of each round.
    losses : list of float
        The last round's per-epoch losses.
    """

    name = "tutorial"
    optional = False
    columns = (Column("tutorial", 10, "tutorial_s", "time"), Column("vs tutorial", 11, "tutorial_speedup", "ratio"),
               Column("ref/tut", 7, "reference_over_tutorial", "ratio"))

    @classmethod
    def applies_to(cls, workload: Workload) -> bool:
        return tutorial.has_tutorial_loop(workload)

    def __init__(self, job: Job):
        super().__init__(job)
        self.call = self.short = None  # built by warm_up: the data and settings are read outside the timed runs
        self.finals: list = []
        self.losses: list = []
        self.weight_diff = None

    def warm_up(self) -> None:
        self.call = tutorial.tutorial_call(self.job.workload, self.job.weights)
        self.short = tutorial.tutorial_call(self.job.workload, self.job.weights, epochs=1)
        self.short()

    def run(self) -> float:
        self.short()  # untimed, as before every timed fit of the backends
        start = time.perf_counter()
        weights, losses = self.call()
        seconds = time.perf_counter() - start
        self.finals.append(weights)
        self.losses = losses
        return seconds

    def cells(self, fastnn: Fastnn) -> dict:
        reference = self.job.sides["reference"]
        self.weight_diff = max_abs_diff(self.finals[0], reference.finals[0])
        ratios = [r / t for r, t in zip(reference.times, self.times) if t > 0]
        return {**self._timing_cells("tutorial_speedup", [t / f for t, f in zip(self.times, fastnn.times) if f > 0]),
                "reference_over_tutorial": _median(ratios),
                "tutorial_loss": float(self.losses[-1]) if len(self.losses) else None,
                "tutorial_max_weight_diff": self.weight_diff}

    def problems(self, row: dict) -> list[str]:
        tolerance = row["tolerance"]  # the backends' own: the dtype's relative tolerance x the weights' scale
        out = []
        if not self.weight_diff <= tolerance:
            out.append(f"tutorial loop disagrees with the reference: max |dw| {self.weight_diff:.3g} > {tolerance:.3g}")
        if any(max_abs_diff(self.finals[0], later) != 0.0 for later in self.finals[1:]):
            out.append("tutorial loop not deterministic across rounds")
        return out

    @classmethod
    def result_lines(cls, rows) -> list[str]:
        bits = [f"{r['name']} {r['tutorial_max_weight_diff']:.1e}" for r in rows
                if r.get("tutorial_max_weight_diff") is not None]
        return ["tutorial loop max |w_tutorial - w_reference|: " + ", ".join(bits)] if bits else []

    @classmethod
    def legend_lines(cls, env: dict) -> list[str]:
        return ["tutorial: the seed's training loop as a tutorial reader writes it in NumPy (fastnn/tools/tutorial.py; "
                "same initial weights, epochs, lr schedule and loss); vs tutorial: tutorial time / fastnn time; "
                "ref/tut: reference time / tutorial time (~1: the NumPy reference is as lean as that loop)"]


# ----------------------------------------------------------------------
# fastnn measured other ways
# ----------------------------------------------------------------------


class GemmFloor(Side):
    """The fit's matrix products alone (:func:`.fits.gemm_floor`); cells ``gemm_floor_s``, ``fastnn_over_gemm``."""

    name = "gemm_floor"
    optional = False
    columns = (Column("GEMM floor", 10, "gemm_floor_s", "time"),
               Column("fastnn/floor", 12, "fastnn_over_gemm", "ratio"))

    @classmethod
    def applies_to(cls, workload: Workload) -> bool:
        return workload.name in GEMM_FLOOR_WORKLOADS

    def __init__(self, job: Job):
        super().__init__(job)
        self.floor = None  # built by warm_up: the arrays are allocated once, outside the timed runs

    def warm_up(self) -> None:
        self.floor = fits.gemm_floor(self.job.workload)
        self.floor()  # BLAS's own warm-up (thread pool start, page faults)

    def run(self) -> float:
        start = time.perf_counter()
        self.floor()
        return time.perf_counter() - start

    def cells(self, fastnn: Fastnn) -> dict:
        # inverted: how many floors one fastnn fit takes
        return self._timing_cells("fastnn_over_gemm", [f / g for f, g in zip(fastnn.times, self.times) if g > 0])


class Float64(Side):
    """``--with float64``: the numba fit of a float32 workload in float64; cell ``float32_speedup``."""

    name = "float64"
    columns = (Column("float64", 10, "float64_s", "time"), Column("f32 gain", 8, "float32_speedup", "ratio"))

    @classmethod
    def applies_to(cls, workload: Workload) -> bool:
        return workload.dtype == "float32"

    def warm_up(self) -> None:
        self.run()  # compiles the float64 kernels: untimed

    def run(self) -> float:
        return fits.run_float64(self.job.workload, self.job.weights, self.job.threads)

    def cells(self, fastnn: Fastnn) -> dict:
        return self._timing_cells("float32_speedup", self._ratios_to(fastnn))

    @classmethod
    def legend_lines(cls, env: dict) -> list[str]:
        return ["float64: the numba fit of a float32 workload in float64; f32 gain: float64 time / float32 time"]


class OneThread(Side):
    """``--with threads``: the numba fit at one thread; cell ``thread_speedup`` (one thread / the current count)."""

    name = "threads"
    columns = (Column("1 thread", 10, "threads_s", "time"), Column("threads gain", 12, "thread_speedup", "ratio"))

    def warm_up(self) -> None:
        job = self.job
        fits.warm_up(job.workload, "numba", job.weights, 1, evaluate=False)

    def run(self) -> float:
        job = self.job
        fits.warm_up(job.workload, "numba", job.weights, 1, evaluate=False)
        return fits.train_backend(job.workload, "numba", job.weights, 1)[0]

    def cells(self, fastnn: Fastnn) -> dict:
        return self._timing_cells("thread_speedup", self._ratios_to(fastnn))

    @classmethod
    def legend_lines(cls, env: dict) -> list[str]:
        return [f"1 thread: the numba fit at one thread; threads gain: its time / the time at "
                f"{env['numba_threads']} threads"]


class Memory(Side):
    """``--with memory``: peak memory of numba and numpy fits in fresh processes (:func:`.memory.memory_rows`).

    Untimed: measured once, after the rounds, when the row is built.
    """

    name = "memory"
    timed = False
    columns = (Column("mem +epochs", 11, "memory_growth_mb", "mib"),
               Column("mem vs ref", 10, "memory_vs_reference_mb", "mib"))

    def cells(self, fastnn: Fastnn) -> dict:
        self.job.log(f"  {self.job.workload.name}: peak memory of fresh processes")
        return memory_rows(self.job.workload)

    @classmethod
    def legend_lines(cls, env: dict) -> list[str]:
        return [f"mem +epochs: peak RSS of a {MEMORY_EPOCHS}-epoch numba fit minus a 1-epoch fit; mem vs ref: "
                f"minus the {MEMORY_EPOCHS}-epoch numpy fit (fresh processes)"]


# ----------------------------------------------------------------------
# other libraries
# ----------------------------------------------------------------------


class Library(Side):
    """Another library's fit of the workload; columns ``<name>`` (time) and ``vs <name>`` (its time / fastnn's).

    Attributes
    ----------
    loss : float or None
        The workload's loss of the last round's fitted model (``<name>_loss``).
    """

    library = True

    def __init__(self, job: Job):
        super().__init__(job)
        self.loss = None

    def cells(self, fastnn: Fastnn) -> dict:
        return {**self._timing_cells(f"{self.name}_speedup", self._ratios_to(fastnn)), f"{self.name}_loss": self.loss}


class ScikitLearn(Library):
    """``--with sklearn``: scikit-learn's nearest MLP (:func:`.libraries.run_sklearn`); cells add its notes."""

    name = "sklearn"
    package = "sklearn"
    install_hint = "pip install scikit-learn"
    columns = (Column("sklearn", 10, "sklearn_s", "time"), Column("vs sklearn", 10, "sklearn_speedup", "ratio"))

    def __init__(self, job: Job):
        super().__init__(job)
        self.notes: list[str] = []

    def warm_up(self) -> None:
        run_sklearn(self.job.workload, self.job.threads, epochs=1)  # imports, first-call costs: untimed

    def run(self) -> float:
        seconds, self.loss, self.notes = run_sklearn(self.job.workload, self.job.threads)
        return seconds

    def cells(self, fastnn: Fastnn) -> dict:
        return {**super().cells(fastnn), "sklearn_notes": self.notes}

    @classmethod
    def caveat_lines(cls, rows) -> list[str]:
        notes = sorted({f"{r['name']}: {n}" for r in rows for n in r.get("sklearn_notes", [])})
        return ["sklearn differs: " + "; ".join(notes)] if notes else []


class PyTorch(Library):
    """``--with torch``: a PyTorch loop of the same network (:func:`.libraries.run_torch`) from the same weights.

    Its cells add ``torch_max_weight_diff``: the largest difference between
    its final weights and fastnn's (the same steps: ~rounding).
    """

    name = "torch"
    package = "torch"
    install_hint = "pip install torch (a CPU build)"
    columns = (Column("torch", 10, "torch_s", "time"), Column("vs torch", 10, "torch_speedup", "ratio"))

    def __init__(self, job: Job):
        super().__init__(job)
        self.weights = None

    def warm_up(self) -> None:
        run_torch(self.job.workload, self.job.weights, self.job.threads, epochs=1)

    def run(self) -> float:
        seconds, self.loss, self.weights = run_torch(self.job.workload, self.job.weights, self.job.threads)
        return seconds

    def cells(self, fastnn: Fastnn) -> dict:
        # both fits are deterministic: the last rounds' weights stand for every round's
        return {**super().cells(fastnn), "torch_max_weight_diff": max_abs_diff(self.weights, fastnn.finals[-1])}

    @classmethod
    def result_lines(cls, rows) -> list[str]:
        bits = [f"{r['name']} {r['torch_max_weight_diff']:.1e}" for r in rows if "torch_max_weight_diff" in r]
        return ["torch max |w_torch - w_fastnn|: " + ", ".join(bits)] if bits else []


# ----------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------

#: Every side, in the order each round runs them (and their row keys and footer legends appear).
SIDES: list[type[Side]] = [Reference, Fastnn, Tutorial, GemmFloor, ScikitLearn, PyTorch, Float64, OneThread, Memory]

#: The optional sides ``--with`` accepts, and the package each needs (None: nothing extra).
EXTRAS = {side.name: side.package for side in SIDES if side.optional}
#: The extras that are other libraries (the rest measure fastnn itself another way).
LIBRARY_EXTRAS = tuple(side.name for side in SIDES if side.library)


def get_side(name: str) -> type[Side]:
    """The side class called ``name`` (a key of :data:`EXTRAS`, ``reference``, ``fastnn``, ``tutorial`` or ``gemm_floor``)."""
    for side in SIDES:
        if side.name == name:
            return side
    raise KeyError(name)
