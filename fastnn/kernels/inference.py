"""Inference in tiles: ``predict`` of a whole data set, row tiles that stay in cache, threads over tiles.

The training loops run a batch through every layer before the next batch.
Inference has no batch: ``predict`` used to take batches of up to a million
activations, so each layer's output left the caches before the next layer
read it, and every layer cost two more passes over memory (bias, activation)
than its product.  Here the rows are cut into *tiles* small enough that a
tile's activations stay in the core's L2 cache (:func:`fastnn.inference.plan`, set by
:data:`fastnn.config.INFERENCE_TILE_BYTES`); each tile goes through every layer
before the next tile starts, and:

- the first layer reads its rows of ``X`` in place (no copy) and the last
  layer writes its rows of ``out`` in place;
- the hidden layers alternate between two halves of a per-thread buffer;
- the parallel build gives each thread its own buffer and a fixed share of
  the tiles (thread ``w`` takes tiles ``w, w + T, w + 2T, ...``).  Tile
  boundaries depend on the shapes only, never on the thread count, so the
  thread count never changes the result.

Each layer of a tile is one single-threaded BLAS product
(:func:`fastnn.kernels.blas.forward_columns`; the caller holds BLAS at one
thread while the parallel build runs, see
:func:`fastnn.config.blas_single_threaded`), then one pass adding the bias
and one applying the activation while the block is in cache.  Narrow
networks too: measured on 2-4-1, 8-16-1, 4-8-8-3 and 16-16-16-4 over 100,000
rows, these tiles took 0.3-0.9x the time of feature-major tiles (the
training step's layout for narrow networks, :mod:`fastnn.kernels.feature_major`),
whose transposes in and out cost more than BLAS's small-matrix kernels lose.

The reference twin is :func:`fastnn.reference.train.predict_rows` (the same
tiles, each layer a NumPy product and whole-array passes); both compute the
same formulas and differ by rounding.
"""

from __future__ import annotations

from numba import prange

from fastnn.activations import RELU
from fastnn.contract import ACT, B_OFF, N_IN, N_OUT, W_OFF, require_parameters
from fastnn.kernels._jit import kernel, serial_kernel
from fastnn.kernels.activations import activate_block
from fastnn.kernels.blas import forward_columns


@serial_kernel
def add_bias_activate(res, theta, b0, nb, k, code):
    """``res = f(res + b)`` over the flat (nb, k) block ``res``; ``b`` is ``theta[b0:b0 + k]``.

    ReLU (the usual hidden layer) in one pass; other activations add the bias,
    then run :func:`~fastnn.kernels.activations.activate_block` over the block
    while it is in cache.
    """
    zero = res.dtype.type(0.0)
    # 2-D indexing and a bias view: indexing theta[b0 + j] and res[i * k + j] kept these loops from
    # vectorising (2-3x slower, measured on 4,000 x 64 blocks)
    block = res[:nb * k].reshape((nb, k))
    b = theta[b0:b0 + k]
    if code == RELU:
        for i in range(nb):
            for j in range(k):
                v = block[i, j] + b[j]
                block[i, j] = zero if v < zero else v  # NaN stays NaN, as activate_row's ReLU
        return
    for i in range(nb):
        for j in range(k):
            block[i, j] += b[j]
    activate_block(res, nb, k, code)


@serial_kernel
def forward_tile(xf, r0, nb, theta, layout, buf, tile, of):
    """Rows ``r0 .. r0 + nb - 1`` of ``X`` through every layer, into the same rows of ``out``; row-major.

    Parameters
    ----------
    xf, of : ndarray
        ``X`` (n, d0) and ``out`` (n, k_last), C-contiguous, as flat views.
    r0, nb : int
        The tile's first row and its number of rows (at most ``tile``).
    theta, layout : ndarray
        Flat parameters and their layout (:mod:`fastnn.contract`).
    buf : ndarray (2 * tile * max_hidden_width,)
        The thread's scratch: hidden layers alternate between its two halves.
    tile : int
        Rows per tile (the stride of ``buf``'s halves, in rows of the widest layer).
    """
    n_layers = layout.shape[0]
    half = buf.shape[0] // 2
    d0 = layout[0, N_IN]
    inp = xf[r0 * d0:(r0 + nb) * d0]
    for l in range(n_layers):
        d = layout[l, N_IN]
        k = layout[l, N_OUT]
        if l == n_layers - 1:
            res = of[r0 * k:(r0 + nb) * k]
        else:
            res = buf[(l % 2) * half:(l % 2) * half + nb * k]
        forward_columns(inp, theta[layout[l, W_OFF]:], res, nb, d, k, 0, k)
        add_bias_activate(res, theta, layout[l, B_OFF], nb, k, layout[l, ACT])
        inp = res


@kernel
def predict_rows(X, theta, layout, tile, n_workers, buffers, out):
    """Network output for every row of ``X`` into ``out``, ``tile`` rows at a time; row-major.

    Parameters
    ----------
    X : ndarray (n, d0), C-contiguous
    theta, layout : ndarray
        Flat parameters and their layout.
    tile : int
        Rows per tile (:func:`fastnn.inference.plan`).
    n_workers : int
        Threads sharing the tiles (1 in the serial build's use); each owns a row of ``buffers``.
    buffers : ndarray (n_workers, 2 * tile * max_hidden_width)
    out : ndarray (n, k_last), C-contiguous
    """
    n, d0 = X.shape
    k_last = out.shape[1]
    xf = X.reshape(n * d0)
    of = out.reshape(n * k_last)
    n_tiles = (n + tile - 1) // tile
    for w in prange(n_workers):
        buf = buffers[w]
        for t in range(w, n_tiles, n_workers):
            r0 = t * tile
            forward_tile(xf, r0, min(tile, n - r0), theta, layout, buf, tile, of)


require_parameters(predict_rows.serial.py_func, "predict_rows")
