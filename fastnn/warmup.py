"""Compile every kernel a program can use into Numba's on-disk cache: :func:`warmup` (``fastnn warmup``).

A process that finds a kernel in the disk cache loads it in milliseconds; one
that does not compiles it for seconds (the whole library: about a minute on
two cores, docs/design.md, "Keeping compile time down").  A container image
build (``RUN fastnn warmup``) or a new cluster (``client.run(fastnn.warmup)``)
pays that once, so that no fit on a worker does.

What is warmed: each compiled specialisation a program reaches through the
public API, found by running that API on tiny data, in both dtypes, with the
serial and the parallel build of every kernel pair forced in turn
(:func:`fastnn.config.parallel_mode`):

- :class:`fastnn.Sequential` on a narrow network (the feature-major loop and
  inference) and a wide one (row-major, BLAS): ``fit`` with and without
  validation data, shuffled and in order, ``predict``, ``evaluate``;
- the scikit-learn estimators when scikit-learn is installed:
  :class:`~fastnn.MLPClassifier` and :class:`~fastnn.MLPRegressor` with the
  ``sgd``, ``adam`` (the SKLEARN-convention epoch loop) and ``lbfgs``
  (``batch_loss_grad``) solvers, with and without sample weights and
  ``early_stopping``, ``predict``;
- the low-level kernel functions of :mod:`fastnn.kernels`, on 2-D arrays.

These cover ``batch_loss_grad``, ``train_epochs``, ``predict_rows`` and
``dataset_loss``, the kernels a distributed fit calls with the same argument
types.  Read-only inputs (frozen or memory-mapped arrays, or arrays
deserialised by Dask) are another Numba type, so another compiled
specialisation of each loop taking them: ``read_only=True`` warms those too
(more than doubling the time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings

import numpy as np

from fastnn import config

#: The dtypes and builds a default warm-up compiles.
DTYPES: tuple = ("float32", "float64")
BUILDS: tuple = ("serial", "parallel")


@dataclasses.dataclass
class WarmupSummary:
    """What :func:`warmup` did.

    Attributes
    ----------
    compiled : int
        Kernel specialisations compiled (and written to the disk cache) by this call.
    loaded : int
        Specialisations found in the disk cache (already warm).
    kernels : int
        Distinct kernels (dispatchers) among them.
    seconds : float
        Wall time of the call.
    cache_dirs : list of str
        Where Numba keeps these kernels' cache files.
    jobs : list of str
        The programs run, e.g. ``"float32 parallel: Sequential wide"``.
    skipped : list of str
        Parts left out, and why (scikit-learn not installed).
    """

    compiled: int
    loaded: int
    kernels: int
    seconds: float
    cache_dirs: list
    jobs: list
    skipped: list

    def format(self, verbose: bool = False) -> str:
        """A short report; ``verbose`` lists every job."""
        lines = [f"fastnn warmup: {self.compiled} kernel specialisations compiled, {self.loaded} already cached "
                 f"({self.kernels} kernels, {len(self.jobs)} jobs) in {self.seconds:.1f} s"]
        lines += [f"  cache: {d}" for d in self.cache_dirs]
        lines += [f"  skipped: {s}" for s in self.skipped]
        if verbose:
            lines += [f"  {job}" for job in self.jobs]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def cache_counts() -> tuple[dict, dict]:
    """Numba's cache hits and misses so far in this process, per compiled kernel.

    Returns
    -------
    (dict, dict)
        ``{qualified name: {signature: count}}`` of the specialisations
        loaded from the disk cache, and of those compiled because the cache
        did not have them (a miss).  Over every dispatcher of
        :func:`fastnn.kernels._jit.compiled_kernels`; a kernel compiled only
        as part of a caller (inlined, or linked into a caller that was loaded)
        is not counted, as nothing was compiled for it.
    """
    import fastnn.kernels.feature_major  # noqa: F401  (every kernel module: all dispatchers registered)
    import fastnn.kernels.train  # noqa: F401
    from fastnn.kernels import _jit

    hits, misses = {}, {}
    for dispatcher in _jit.compiled_kernels():
        stats = dispatcher.stats
        name = dispatcher.py_func.__module__ + "." + dispatcher.py_func.__qualname__
        if stats.cache_hits:
            hits[name] = {str(sig): n for sig, n in stats.cache_hits.items()}
        if stats.cache_misses:
            misses[name] = {str(sig): n for sig, n in stats.cache_misses.items()}
    return hits, misses


def compiled_signatures() -> list[str]:
    """``"kernel(signature)"`` for every specialisation compiled (not loaded from the cache) in this process.

    Empty after :func:`warmup` ran in an earlier process with the same
    cache: the check that a warm-up covered a program.
    """
    return sorted(f"{name}{sig}" for name, sigs in cache_counts()[1].items() for sig in sigs)


def _count(table: dict) -> int:
    return sum(len(sigs) for sigs in table.values())


def _data(dtype: str, n: int = 48, d: int = 4, k: int = 1, seed: int = 0, read_only: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    Y = rng.standard_normal((n, k)).astype(dtype)
    if read_only:
        X.flags.writeable = False
        Y.flags.writeable = False
    return X, Y


def _sequential_jobs(dtype: str, read_only: bool):
    """(name, function) pairs: the Sequential API on a narrow and a wide network."""
    import fastnn

    def run(d, width, classify):
        X, Y = _data(dtype, d=d, read_only=read_only)
        if classify:
            Y = (Y > 0).astype(dtype)
            if read_only:
                Y.flags.writeable = False
        layers = [fastnn.Dense(width, "relu"), fastnn.Dense(1, "sigmoid" if classify else "identity")]
        model = fastnn.Sequential(layers, input_dim=d, dtype=dtype, seed=0)
        loss = "binary_crossentropy" if classify else "mse"
        model.fit(X, Y, epochs=1, batch_size=16, loss=loss)                      # shuffled, no validation
        model.fit(X, Y, epochs=2, batch_size=16, loss=loss, shuffle=False,       # in order, validation data
                  validation_data=(X, Y))
        model.predict(X)
        model.evaluate(X, Y)

    # narrow: every width <= NARROW_MAX_WIDTH (the feature-major loop); wide: row-major with BLAS
    narrow, wide = (4, 8), (20, config.NARROW_MAX_WIDTH + 16)
    return [
        ("Sequential narrow", lambda: run(*narrow, classify=False)),
        ("Sequential narrow classifier", lambda: run(*narrow, classify=True)),
        ("Sequential wide", lambda: run(*wide, classify=False)),
        ("Sequential wide classifier", lambda: run(*wide, classify=True)),
    ]


def _sklearn_jobs(dtype: str, read_only: bool):
    """(name, function) pairs: the scikit-learn estimators' solvers, weighted and not, and their predict."""
    from fastnn.sklearn import MLPClassifier, MLPRegressor

    def run(estimator_class, solver, weighted, early_stopping, hidden):
        X, Y = _data(dtype, n=64, d=6, read_only=read_only)
        y = (Y[:, 0] > 0).astype(int) if estimator_class is MLPClassifier else Y[:, 0]
        options = {"early_stopping": True, "validation_fraction": 0.25} if early_stopping else {}
        est = estimator_class(hidden_layer_sizes=hidden, solver=solver, max_iter=2, batch_size=16, random_state=0,
                              **options)
        weights = np.linspace(0.5, 1.5, X.shape[0]) if weighted else None
        est.fit(X, y, sample_weight=weights)
        est.predict(X)
        if estimator_class is MLPClassifier:
            est.predict_proba(X)

    jobs = []
    for estimator_class in (MLPClassifier, MLPRegressor):
        for solver in ("adam", "sgd", "lbfgs"):
            for hidden in ((8,), (config.NARROW_MAX_WIDTH + 16,)):
                for weighted in (False, True):
                    name = f"{estimator_class.__name__} {solver} hidden={hidden[0]}" + (" weighted" * weighted)
                    jobs.append((name, lambda e=estimator_class, s=solver, w=weighted, h=hidden:
                                 run(e, s, w, False, h)))
        jobs.append((f"{estimator_class.__name__} adam early_stopping",
                     lambda e=estimator_class: run(e, "adam", False, True, (8,))))
    return jobs


def _kernel_jobs(dtype: str):
    """(name, function) pairs: the low-level functions of :mod:`fastnn.kernels` on 2-D arrays."""
    from fastnn import kernels

    def run():
        x, _ = _data(dtype, n=8, d=3)
        rng = np.random.default_rng(1)
        w = rng.standard_normal((3, 2)).astype(dtype)
        b = np.zeros(2, dtype)
        a = kernels.dense_forward(x, w, b, "tanh")
        kernels.dense_backward(x, w, a, np.ones_like(a), "tanh")
        kernels.dense_backward(x, w, a, np.ones_like(a), "tanh", compute_grad_x=False)
        kernels.activation_forward(a, "relu")
        kernels.activation_derivative(a, "relu")
        kernels.activation_backward(a, np.ones_like(a), "relu")
        p = np.full_like(a, 0.5)
        t = (a > 0).astype(dtype)
        for name in ("mse", "binary_crossentropy", "categorical_crossentropy", "poisson"):
            kernels.loss_value(p, t, name)
        kernels.mse_grad(p, t)
        kernels.binary_crossentropy_delta(p, t)
        kernels.categorical_crossentropy_delta(p, t)
        kernels.poisson_delta(p, t)
        kernels.output_delta(p, t, "mse", "identity")
        kernels.output_delta(p, t, "binary_crossentropy", "sigmoid")
        g = np.ones_like(w)
        kernels.sgd_update(w.copy(), g, 0.1)
        kernels.momentum_update(w.copy(), g, np.zeros_like(w), 0.1, 0.9)
        kernels.adam_update(w.copy(), g, np.zeros_like(w), np.zeros_like(w), 1)

    return [("fastnn.kernels functions", run)]


def warmup(*, dtypes=DTYPES, builds=BUILDS, sklearn: bool = True, kernels: bool = True,
           read_only: bool = False) -> WarmupSummary:
    """Compile every kernel specialisation a program can reach into Numba's on-disk cache.

    Runs the public API on tiny data (see the module docstring) and returns
    what it compiled.  Already cached kernels are only loaded, so a second
    call is quick.  Safe to call on every worker of a cluster at once
    (``client.run(fastnn.warmup)``): Numba writes each cache file under a
    temporary name and renames it.

    Parameters
    ----------
    dtypes : sequence of {"float32", "float64"}
    builds : sequence of {"serial", "parallel"}
        Which build of each kernel pair to compile.  Both by default: which
        one a fit runs depends on its size and the thread count.
    sklearn : bool
        Also the scikit-learn estimators' solvers (skipped, and said so in
        the summary, when scikit-learn is not installed).
    kernels : bool
        Also the low-level functions of :mod:`fastnn.kernels`.
    read_only : bool
        Also the specialisations for read-only ``X`` and ``y`` (frozen or
        memory-mapped arrays, arrays deserialised by Dask).

    Returns
    -------
    WarmupSummary
        Compiled and loaded counts, seconds, cache directories, jobs run.
    """
    start = time.perf_counter()
    hits0, misses0 = cache_counts()
    jobs, skipped = [], []
    have_sklearn = True
    if sklearn:
        try:
            import sklearn as _sklearn  # noqa: F401
        except ImportError:
            have_sklearn = False
            skipped.append("scikit-learn estimators (scikit-learn is not installed)")
    for dtype in dtypes:
        dtype = np.dtype(dtype).name
        if dtype not in DTYPES:
            raise ValueError(f"dtypes: expected float32 or float64, got {dtype!r}")
        todo = []
        for ro in ([False, True] if read_only else [False]):
            suffix = " (read-only X, y)" if ro else ""
            found = _sequential_jobs(dtype, ro) + (_sklearn_jobs(dtype, ro) if sklearn and have_sklearn else [])
            todo += [(name + suffix, run) for name, run in found]
        if kernels:
            todo += _kernel_jobs(dtype)
        for build in builds:
            if build not in BUILDS:
                raise ValueError(f"builds: expected serial or parallel, got {build!r}")
            with config.parallel_mode(build), _quiet():
                for name, run in todo:
                    run()
                    jobs.append(f"{dtype} {build}: {name}")
    hits, misses = cache_counts()
    compiled = _count(misses) - _count(misses0)
    loaded = _count(hits) - _count(hits0)
    return WarmupSummary(
        compiled=compiled, loaded=loaded, kernels=len(set(hits) | set(misses)),
        seconds=time.perf_counter() - start, cache_dirs=_cache_dirs(), jobs=jobs, skipped=skipped,
    )


@contextlib.contextmanager
def _quiet():
    """Silence the warnings of two-iteration fits on random data (scikit-learn's ConvergenceWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _cache_dirs() -> list[str]:
    """The directories Numba caches fastnn's kernels in (one per kernel module's locator, deduplicated)."""
    from fastnn.kernels import _jit

    dirs = set()
    for dispatcher in _jit.compiled_kernels():
        path = dispatcher.stats.cache_path
        if path:
            dirs.add(path)
    return sorted(dirs)
