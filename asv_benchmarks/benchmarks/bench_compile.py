"""Start-up latency: ``import fastnn`` plus the first fit, and the whole library's compile, in a fresh process.

``timeraw_`` benchmarks run their code in a new Python process, so nothing
compiled in the benchmark process helps.  Two cases:

- ``warm``: Numba's on-disk cache holds the kernels (``setup`` fills it by
  running the same code once): what every run after the first costs.
- ``cold``: ``NUMBA_CACHE_DIR`` points at a new, empty directory, so every
  kernel the fit needs is compiled: what the very first run on a machine
  costs.

The first fit is the ``xor`` workload on the numba backend (2-4-1, 2000
epochs, a few milliseconds once compiled), then a ``predict``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Runs in the timed process: the import and the first fit, nothing else.
FIRST_FIT = textwrap.dedent("""
    import fastnn
    from fastnn.tools.workloads import get_workload
    _w = get_workload("xor")
    _m = _w.build_model("numba")
    _w.fit(_m)
    _m.predict(_w.data().X)
""")

#: Runs in the timed process before the clock starts (cold case): an empty cache directory.
COLD_SETUP = textwrap.dedent("""
    import atexit, os, shutil, tempfile
    _cache = tempfile.mkdtemp(prefix="fastnn-numba-cache-")
    os.environ["NUMBA_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)
""")


#: Runs in the timed process (cold cache): what a program that uses the whole library compiles on its
#: first run on a machine: both epoch loops (feature-major for narrow networks, row-major with BLAS)
#: in float64 and float32, predict and evaluate, and the scikit-learn estimators' solvers.
WHOLE_LIBRARY = textwrap.dedent("""
    import numpy as np
    import fastnn
    _rng = np.random.default_rng(0)
    _X = _rng.standard_normal((64, 40))
    _y = _rng.standard_normal((64, 1))
    for _dtype in ("float64", "float32"):
        for _d, _width in ((8, 4), (40, 64)):  # narrow: the feature-major loop; wide: row-major with BLAS
            _m = fastnn.Sequential([fastnn.Dense(_width, "relu"), fastnn.Dense(1)], input_dim=_d, dtype=_dtype)
            _m.fit(_X[:, :_d], _y, epochs=1, batch_size=32)
            _m.predict(_X[:, :_d])
            _m.evaluate(_X[:, :_d], _y)
    try:
        from fastnn.sklearn import MLPClassifier, MLPRegressor
    except ImportError:
        pass
    else:
        _labels = (_X[:, 0] > 0).astype(int)
        MLPClassifier(hidden_layer_sizes=(20,), max_iter=2).fit(_X, _labels)
        MLPClassifier(hidden_layer_sizes=(20,), max_iter=2, solver="lbfgs").fit(_X, _labels)
        MLPRegressor(hidden_layer_sizes=(20,), max_iter=2).fit(_X, _y.ravel())
""")


class WholeLibraryCompile:
    """Wall time of compiling everything a typical program uses, in a fresh process with an empty cache.

    The issue-6 target is 30 s on the 2-core machine.  Warnings (scikit-learn's
    "did not converge" after two iterations) are silenced.  Writeable arrays,
    as a program usually has: read-only ones (frozen, memory-mapped) are
    another Numba type and compile their own specialisations.
    """

    timeout = 900
    repeat = (1, 1, 900.0)
    number = 1

    def timeraw_compile_whole_library(self):
        return "import warnings\nwarnings.simplefilter('ignore')\n" + WHOLE_LIBRARY, COLD_SETUP


class StartUp:
    """Wall time of ``import fastnn`` + the first ``xor`` fit in a fresh process, on-disk cache cold and warm."""

    params = [["warm", "cold"]]
    param_names = ["cache"]
    timeout = 600
    repeat = (1, 3, 120.0)
    number = 1

    def setup(self, cache):
        if cache == "warm":  # fill the cache the timed process will use (the environment's own)
            subprocess.run([sys.executable, "-c", FIRST_FIT], check=True, timeout=self.timeout)

    def timeraw_import_and_first_fit(self, cache):
        if cache == "cold":
            return FIRST_FIT, COLD_SETUP
        return FIRST_FIT
