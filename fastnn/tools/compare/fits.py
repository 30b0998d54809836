"""fastnn's own fits as ``fastnn compare`` times them, and the GEMM floor they are compared with.

- :func:`train_backend`: one whole fit of a workload on a backend from
  given initial weights, ``model.fit`` alone timed;
- :func:`warm_up`: the untimed one-epoch fit on two batches that compiles
  the kernels (and precedes every timed fit);
- :func:`run_float64`: a float32 workload's numba fit in float64;
- :func:`gemm_floor`: the fit's matrix products alone, through NumPy's BLAS.

Weights are lists ``[W0, b0, W1, b1, ...]`` as
:meth:`fastnn.Sequential.get_weights` returns them: ``W_i`` of shape
``(n_in, n_out)``, ``b_i`` of shape ``(n_out,)``.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from fastnn.tools.workloads import Workload, get_workload



def _check_finished(history) -> None:
    if history.interrupted:  # fit returns normally after Ctrl-C; never report a partial run
        raise KeyboardInterrupt


def train_backend(workload: Workload, backend: str, weights, threads=None):
    """One timed fit of ``workload`` on ``backend`` from ``weights``.

    Returns
    -------
    seconds : float
        Wall time of ``model.fit`` alone.
    model : Sequential
        The trained model.
    """
    model = workload.build_model(backend)
    model.set_weights(weights)
    data = workload.data()
    kwargs = workload.fit_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a diverging fit shows in its loss, not as noise
        start = time.perf_counter()
        history = model.fit(data.X, data.y, threads=threads, **kwargs)
        seconds = time.perf_counter() - start
    _check_finished(history)
    return seconds, model


def warm_up(workload: Workload, backend: str, weights, threads=None, evaluate=True) -> None:
    """Compile (or load from cache) everything a fit, predict and evaluate of ``workload`` run, untimed.

    Trains one epoch on the first rows only (two batches' worth), with the
    same batch size, so the same kernel builds are picked as in the timed fit.
    ``evaluate=False`` skips predict/evaluate: the short untimed run that
    precedes every timed fit (after an idle pause a sub-millisecond fit
    otherwise runs ~0.2 ms slower, its code and data no longer in cache).
    """
    model = workload.build_model(backend)
    model.set_weights(weights)
    data = workload.data()
    kwargs = workload.fit_kwargs()
    rows = data.n_samples if workload.batch_size is None else min(data.n_samples, 2 * workload.batch_size)
    kwargs["epochs"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(data.X[:rows], data.y[:rows], threads=threads, **kwargs)
    if evaluate:
        workload.evaluate(model)


@functools.lru_cache(maxsize=None)
def _float64_data(name: str):
    data = get_workload(name).data()
    return data.X.astype(np.float64), data.y.astype(np.float64)


def run_float64(workload: Workload, weights, threads=None) -> float:
    """Seconds of one numba-backend fit of a float32 ``workload`` in float64 (same data and weights, cast)."""
    X, y = _float64_data(workload.name)
    model = workload.build_model("numba", dtype="float64")
    model.set_weights(weights)
    kwargs = workload.fit_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        start = time.perf_counter()
        history = model.fit(X, y, threads=threads, **kwargs)
        seconds = time.perf_counter() - start
    _check_finished(history)
    return seconds


def gemm_floor(workload: Workload):
    """A callable running the matrix products of one ``workload`` fit alone, through NumPy's BLAS.

    Per batch (the last, partial one with its real size) and per layer of
    shape ``(d, k)``: ``a = x @ W`` (b x d by d x k), ``grad_W = x.T @ delta``
    and ``grad_x = delta @ W.T``, into preallocated outputs, in the
    workload's dtype; except the first layer's ``grad_x``, the gradient with
    respect to the input data, which no training step needs and neither
    backend computes (counting it would put the "floor" above the plain NumPy
    reference on ``mnist_like``, whose first layer is the largest).  Array
    contents are random; BLAS time does not depend on them.
    """
    data = workload.data()
    dtype = np.dtype(workload.dtype)
    n = data.n_samples
    batch = n if workload.batch_size is None else min(workload.batch_size, n)
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    dims = [workload.input_dim] + [u for u, _ in workload.layers]
    rng = np.random.default_rng(0)
    layers = []
    for index, (d, k) in enumerate(zip(dims[:-1], dims[1:])):
        W = rng.standard_normal((d, k)).astype(dtype)
        x = rng.standard_normal((batch, d)).astype(dtype)
        delta = rng.standard_normal((batch, k)).astype(dtype)
        gx = np.empty((batch, d), dtype) if index > 0 else None
        layers.append((W, x, delta, np.empty((batch, k), dtype), np.empty((d, k), dtype), gx))
    epochs = workload.epochs

    def run():
        for _ in range(epochs):
            for b in sizes:
                for W, x, delta, a, gw, gx in layers:
                    np.matmul(x[:b], W, out=a[:b])
                    np.matmul(x[:b].T, delta[:b], out=gw)
                    if gx is not None:
                        np.matmul(delta[:b], W.T, out=gx[:b])

    return run

