"""Start-up latency: ``import fastnn`` plus the first fit, in a fresh process.

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
    from fastnn.workloads import get_workload
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
