"""The forward pass of ``predict``: one function for :class:`fastnn.Sequential` and the estimators.

:func:`forward` takes validated inputs (the callers check them) and runs the
tiled kernels of :mod:`fastnn.kernels.inference` on numba, or the NumPy
reference's ``predict_rows`` on the numpy backend.  Its :class:`Plan` (made
once per network by :func:`plan`) fixes the tile size and the scratch per
tile; per call it picks the build (serial, or parallel over tiles with BLAS
held at one thread) and allocates the per-thread scratch.  Nothing is kept
between calls, so one model can predict in several threads at once (Dask runs
blocks that way).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from fastnn import config, contract

__all__ = ["Plan", "plan", "tile_rows", "forward"]


class Plan(NamedTuple):
    """How one network (of one dtype) predicts: see :func:`plan`."""

    layout: np.ndarray  #: the network's layout (:mod:`fastnn.contract`)
    madds_per_row: int  #: multiply-adds of one row's forward pass (picks the build)
    tile: int  #: rows per tile
    scratch_per_row: int  #: scratch values per tile row and thread: two blocks of the widest hidden layer
    k_last: int  #: outputs


def plan(layout: np.ndarray, itemsize: int) -> Plan:
    """The :class:`Plan` of a network: tile rows so that a tile stays in L2 through every layer.

    A tile keeps two hidden blocks of the widest hidden layer and its output
    rows in cache (the input rows are read once, in place): the rows are
    :data:`fastnn.config.INFERENCE_TILE_BYTES` over those bytes per row, clipped to
    :data:`fastnn.config.INFERENCE_TILE_MIN_ROWS` .. :data:`fastnn.config.INFERENCE_TILE_MAX_ROWS`
    and rounded down to a multiple of 16.
    """
    widths = layout[:, contract.N_OUT].tolist()
    scratch = 2 * max(widths[:-1], default=1)
    rows = config.INFERENCE_TILE_BYTES // (itemsize * (scratch + widths[-1]))
    rows = min(config.INFERENCE_TILE_MAX_ROWS, max(config.INFERENCE_TILE_MIN_ROWS, rows))
    return Plan(layout, contract.madds_per_row(layout), rows - rows % 16, scratch, widths[-1])


def tile_rows(how: Plan, n: int) -> int:
    """Rows per tile for a call of ``n`` rows: the plan's, fewer when that leaves under
    :data:`fastnn.config.INFERENCE_MIN_TILES` tiles (not below :data:`fastnn.config.INFERENCE_TILE_MIN_ROWS`).

    Depends on the shapes only: the thread count never changes the tiles, so never the result.
    """
    if n <= config.INFERENCE_TILE_MIN_ROWS:
        return n
    even = -(-n // config.INFERENCE_MIN_TILES)
    even += -even % 16
    return min(how.tile, n, max(config.INFERENCE_TILE_MIN_ROWS, even))


_PREDICT_ROWS: dict = {}  # backend -> its predict_rows (a kernel pair on numba)


def forward(X: np.ndarray, theta: np.ndarray, how: Plan, backend: str = "numba") -> np.ndarray:
    """The network's output (n, k_last) for ``X`` (n, d0).

    Parameters
    ----------
    X : ndarray (n, d0)
        Validated by the caller: C-contiguous, of ``theta``'s dtype.
    theta : ndarray (P,)
        Flat parameters.
    how : Plan
        :func:`plan` of the network, for ``theta``'s itemsize.
    backend : {"numba", "numpy"}
    """
    n = X.shape[0]
    out = np.empty((n, how.k_last), dtype=theta.dtype)
    if n == 0:
        return out
    kernels = _PREDICT_ROWS.get(backend)
    if kernels is None:  # first call: import the backend's kernels (compiled code loads here)
        from fastnn import training

        kernels = _PREDICT_ROWS[backend] = training.inference_kernels(backend, False)[0]
    if backend != "numba":  # the NumPy reference: whole-array passes over tiles of rows
        kernels(X, theta, how.layout, how.tile, 1, None, out)
        return out
    tile = tile_rows(how, n)
    if n == tile and config.get_parallel_mode() == "auto":  # one tile: the serial build, no thread decision
        kernels.serial(X, theta, how.layout, n, 1, np.empty((1, n * how.scratch_per_row), theta.dtype), out)
        return out
    n_tiles = -(-n // tile)
    parallel = config.use_parallel(n * how.madds_per_row, fused=True)
    n_workers = min(numba.get_num_threads(), n_tiles) if parallel else 1
    buffers = np.empty((n_workers, tile * how.scratch_per_row), dtype=theta.dtype)
    if parallel:
        with config.blas_single_threaded():  # every thread calls BLAS for its own tiles
            kernels.parallel(X, theta, how.layout, tile, n_workers, buffers, out)
    else:
        kernels.pick(parallel)(X, theta, how.layout, tile, n_workers, buffers, out)
    return out
