"""``fastnn compare --with memory``: the peak resident memory one fit adds to a fresh process (Linux).

:func:`fit_peak_rss` runs one fit of a workload in a child process
(``python -c`` :data:`_PEAK_RSS_SCRIPT`) and reads its peak resident set
(``VmHWM`` in ``/proc/self/status``); :func:`memory_rows` compares a numba
fit of :data:`MEMORY_EPOCHS` epochs with a one-epoch fit (the compiled loop
allocates nothing per batch or epoch, so ~0) and with the same fit on the
numpy backend.
"""

from __future__ import annotations

import subprocess
import sys

from fastnn.tools.workloads import Workload

#: ``--with memory``: the epochs of the long fit, compared with a one-epoch fit.
MEMORY_EPOCHS = 10

_PEAK_RSS_SCRIPT = """
import sys, warnings
from fastnn.tools.workloads import get_workload

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])

w = get_workload(sys.argv[1])
data = w.data()
rows = data.n_samples if w.batch_size is None else min(data.n_samples, 2 * w.batch_size)
w.build_model(sys.argv[2]).fit(data.X[:rows], data.y[:rows], **{**w.fit_kwargs(), "epochs": 1})  # load kernels
model = w.build_model(sys.argv[2])
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM, the peak, to the current RSS
    fh.write("5")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    w.fit(model, epochs=int(sys.argv[3]))
print(status("VmHWM") - before)
"""


def fit_peak_rss(workload: Workload, backend: str, epochs: int) -> float:
    """Peak resident memory (MiB) that one fit adds to a fresh process holding the data and the model.

    Linux only.  The process builds the data, loads the compiled kernels
    with a one-epoch fit on two batches, builds a fresh model, then resets
    its peak (``VmHWM``) through ``/proc/self/clear_refs``, so neither data
    generation nor loading code masks the fit, and reports ``VmHWM`` after
    the fit minus ``VmRSS`` before it (KiB).
    """
    result = subprocess.run([sys.executable, "-c", _PEAK_RSS_SCRIPT, workload.name, backend, str(epochs)],
                            capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"peak-memory run of {workload.name} ({backend}) failed: {result.stderr.strip()[-500:]}")
    return int(result.stdout.split()[-1]) / 1024.0


def memory_rows(workload: Workload) -> dict:
    """``--with memory``: the peak memory (MiB) numba fits of 1 and MEMORY_EPOCHS epochs and the numpy fit add.

    Returns
    -------
    dict
        ``fit_peak_1_epoch_mb``, ``fit_peak_mb`` (numba, :data:`MEMORY_EPOCHS`
        epochs), ``reference_fit_peak_mb`` (numpy, as many epochs),
        ``memory_growth_mb`` = ``fit_peak_mb - fit_peak_1_epoch_mb`` and
        ``memory_vs_reference_mb`` = ``fit_peak_mb - reference_fit_peak_mb``.
    """
    one = fit_peak_rss(workload, "numba", 1)
    many = fit_peak_rss(workload, "numba", MEMORY_EPOCHS)
    reference = fit_peak_rss(workload, "numpy", MEMORY_EPOCHS)
    return {"fit_peak_1_epoch_mb": one, "fit_peak_mb": many, "reference_fit_peak_mb": reference,
            "memory_growth_mb": many - one, "memory_vs_reference_mb": many - reference}

