"""The training-loop contract: what the compiled loops and their NumPy twins take and return.

Both backends (:mod:`fastnn.kernels.train`, :mod:`fastnn.reference.train`),
the training driver (:mod:`fastnn.training`), the model
(:mod:`fastnn.model`) and the scikit-learn estimators (:mod:`fastnn.sklearn`)
import these names; nothing here is declared anywhere else.

A network is one flat parameter array ``theta`` and an int64 ``layout`` of
shape (n_layers, 6) whose columns are:

- ``N_IN``, ``N_OUT``: the layer's inputs ``d`` and outputs ``k``;
- ``ACT``: its activation code (:mod:`fastnn.activations`);
- ``W_OFF``: where its weight matrix ``w`` (``d x k``, row-major) starts in ``theta``;
- ``B_OFF``: where its bias ``b`` (``k``) starts, right after ``w``;
- ``A_COL``: the sum of the widths of the layers before it (its activations
  for a batch of ``batch_size`` rows live at ``abuf[batch_size * A_COL:]``).

The Python-facing entry points of both backends take the fields of the
named tuples below, in their order: a caller builds the tuples by keyword once
per fit and splats them (``train_epochs(*fit_args, *chunk_args)``), and
:func:`require_parameters` checks at import time that each entry point's
parameter list is exactly those fields, so an argument-order mistake cannot
reach compiled code.  (Passing the tuples themselves into Numba would make
every call ~1 us per tuple slower to dispatch: measured, docs/design.md.)
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np

# ---------------------------------------------------------------------------
# the layout of a network
# ---------------------------------------------------------------------------
N_IN, N_OUT, ACT, W_OFF, B_OFF, A_COL = range(6)
LAYOUT_COLUMNS = 6


def make_layout(input_dim: int, units, activation_codes) -> tuple[np.ndarray, int]:
    """The layout of a stack of dense layers, and its number of parameters.

    Parameters
    ----------
    input_dim : int
        Inputs of the first layer.
    units : sequence of int, length n_layers
        Outputs of each layer.
    activation_codes : sequence of int, length n_layers
        Activation code of each layer.

    Returns
    -------
    layout : ndarray of int64, shape (n_layers, 6)
    n_params : int
    """
    rows, offset, a_col, d = [], 0, 0, int(input_dim)
    for k, code in zip(units, activation_codes):
        k = int(k)
        rows.append([d, k, int(code), offset, offset + d * k, a_col])
        offset += d * k + k
        a_col += k
        d = k
    return np.array(rows, dtype=np.int64).reshape(-1, LAYOUT_COLUMNS), offset


def layer_views(flat: np.ndarray, layout: np.ndarray, l: int) -> tuple[np.ndarray, np.ndarray]:
    """Views of layer ``l``'s weight matrix (d, k) and bias (k,) inside a flat array laid out like ``theta``."""
    d, k = int(layout[l, N_IN]), int(layout[l, N_OUT])
    w_off, b_off = int(layout[l, W_OFF]), int(layout[l, B_OFF])
    return flat[w_off:w_off + d * k].reshape(d, k), flat[b_off:b_off + k]


def madds_per_row(layout: np.ndarray) -> int:
    """Multiply-adds of one sample's forward pass (the work measure that picks serial or parallel builds)."""
    return sum(row[N_IN] * row[N_OUT] for row in layout.tolist())  # Python ints: ~5x faster than NumPy here


def row_blocks(batch_size: int, layout: np.ndarray) -> int:
    """Gradient slots of a training batch: the row blocks the compiled step cuts each batch into.

    One unless a batch's forward pass has :data:`fastnn.config.ROW_BLOCK_MIN_MADDS`
    multiply-adds and no product of the batch is large enough to be split by
    columns (:func:`fastnn.kernels.blas.column_parts`); then up to :data:`fastnn.config.MAX_ROW_BLOCKS` blocks of at
    least :data:`fastnn.config.ROW_BLOCK_MIN_ROWS` rows.  The compiled step's
    ``grad`` holds this many slots of P values.  It depends on the batch and the
    network only, never on the thread count.
    """
    from fastnn import config

    if batch_size * madds_per_row(layout) < config.ROW_BLOCK_MIN_MADDS:
        return 1
    if batch_size >= config.COLUMN_PART_MIN:
        for d, k in layout[:, [N_IN, N_OUT]].tolist():
            if d * k >= config.COLUMN_SPLIT_MIN_WEIGHTS:
                return 1  # its products are split by columns instead (fastnn.kernels.blas): no nested parallelism
    return max(1, min(config.MAX_ROW_BLOCKS, batch_size // config.ROW_BLOCK_MIN_ROWS))


# ---------------------------------------------------------------------------
# hyper-parameters: one float64 vector, read by slot
# ---------------------------------------------------------------------------
H_LR, H_DECAY, H_MOMENTUM, H_NESTEROV, H_BETA1, H_BETA2, H_EPS, H_WEIGHT_DECAY, H_MIN_DELTA, H_ALPHA = range(10)
N_HYPER = 10


def hyper_vector(*, lr: float, decay: float = 0.0, momentum: float = 0.0, nesterov: bool = False,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 min_delta: float = 0.0, alpha: float = 0.0) -> np.ndarray:
    """The (N_HYPER,) float64 hyper-parameter vector of the loops, built by name.

    ``lr`` is the base learning rate (epoch ``e`` uses ``lr / (1 + decay * e)``);
    ``weight_decay`` is the model API's coupled L2 term; ``alpha`` is
    scikit-learn's L2 penalty (the SKLEARN convention); ``min_delta`` is the
    improvement early stopping requires.
    """
    values = [0.0] * N_HYPER
    values[H_LR], values[H_DECAY], values[H_MOMENTUM], values[H_NESTEROV] = lr, decay, momentum, float(nesterov)
    values[H_BETA1], values[H_BETA2], values[H_EPS] = beta1, beta2, eps
    values[H_WEIGHT_DECAY], values[H_MIN_DELTA], values[H_ALPHA] = weight_decay, min_delta, alpha
    return np.array(values, dtype=np.float64)


# ---------------------------------------------------------------------------
# loss conventions and what a loop returns
# ---------------------------------------------------------------------------
#: KERAS: the model API's losses (mean over the batch, coupled weight decay in the update);
#: SKLEARN: scikit-learn's MLP definitions (sample weights, L2 ``alpha`` in the loss and gradient).
KERAS, SKLEARN = 0, 1

#: Status codes returned by ``train_epochs``.
OK, NON_FINITE, STOPPED_EARLY = range(3)

#: Slots of the float64 loop state, one array for a whole fit.  Set by the caller before each call
#: (a chunk of epochs): the index of the chunk's first epoch over the model's life (the decay
#: schedule), how many epochs to run, the optimizer steps so far (Adam's t).  Carried by the loop
#: from chunk to chunk:
#: early stopping (best monitored loss, epochs without improvement, best epoch) and the snapshot
#: kept for a divergence (lowest finite training loss, the epoch whose start it was measured from,
#: the optimizer step at that start, which of the two snapshot slots holds it).
S_EPOCH0, S_N_EPOCHS, S_STEP0 = range(3)
S_BEST, S_WAIT, S_BEST_EPOCH, S_KEPT_LOSS, S_KEPT_EPOCH, S_KEPT_STEP, S_KEPT_SLOT = range(3, 10)
N_STATE = 10


def new_loop_state() -> np.ndarray:
    """The loop state at the start of a fit: no epoch run, nothing best, nothing kept."""
    state = np.zeros(N_STATE, dtype=np.float64)
    state[S_BEST], state[S_BEST_EPOCH] = np.inf, -1.0
    state[S_KEPT_LOSS], state[S_KEPT_EPOCH] = np.inf, -1.0
    return state


def snapshot_size(n_params: int) -> int:
    """Elements of the snapshot buffer: two slots of (theta, s1, s2), each of ``n_params`` values.

    One slot holds the start of the running epoch, the other the start of the
    epoch with the lowest finite training loss; they swap roles instead of copying.
    """
    return 6 * n_params


# ---------------------------------------------------------------------------
# the arguments of the Python-facing entry points, in parameter order
# ---------------------------------------------------------------------------
class FitArgs(NamedTuple):
    """What ``train_epochs`` takes that stays the same for a whole fit (before :class:`ChunkArgs`)."""

    # data
    X: np.ndarray  #: (n, d) training features
    Y: np.ndarray  #: (n, k) targets
    sw: np.ndarray  #: (n,) sample weights, or (0,) for unit weights
    Xv: np.ndarray  #: (n_val, d) validation features, or (0, d)
    Yv: np.ndarray  #: (n_val, k) validation targets, or (0, k)
    # network and optimizer
    theta: np.ndarray  #: (P,) parameters, updated in place
    layout: np.ndarray  #: (n_layers, 6) int64
    opt_code: int  #: fastnn.optim SGD_CODE / MOMENTUM_CODE / ADAM_CODE
    hyper: np.ndarray  #: (N_HYPER,) float64, see hyper_vector
    s1: np.ndarray  #: (P,) momentum velocity or Adam's first moment, or (0,)
    s2: np.ndarray  #: (P,) Adam's second moment, or (0,)
    # loss and schedule
    loss_code: int  #: fastnn.losses code
    convention: int  #: KERAS or SKLEARN
    eps: float  #: clipping epsilon of the log losses, in the parameters' dtype
    batch_size: int  #: rows per batch (the last batch of an epoch may be smaller)
    patience: int  #: early-stopping patience, or -1 for none
    # buffers, allocated once per fit
    grad: np.ndarray  #: (P,)
    snapshot: np.ndarray  #: (snapshot_size(P),) in the KERAS convention, else (0,)
    best: np.ndarray  #: (P,) early stopping's best parameters when patience >= 0, else (0,)
    xb: np.ndarray  #: (batch_size * d,) the gathered batch
    yb: np.ndarray  #: (batch_size * k,)
    swb: np.ndarray  #: (batch_size,) the batch's sample weights
    abuf: np.ndarray  #: (batch_size * sum of layer widths,) every layer's activations
    dbuf: np.ndarray  #: (batch_size * max width,) back-propagated deltas
    dbuf_other: np.ndarray  #: (batch_size * max width,) the other delta buffer
    rowloss: np.ndarray  #: (batch_size,) float64 per-row losses


class ChunkArgs(NamedTuple):
    """What ``train_epochs`` reads and writes from chunk to chunk: the same arrays for a whole fit.

    Before each call the caller writes the chunk's row orders into ``perms``
    and its counters into ``state`` (``S_EPOCH0``, ``S_N_EPOCHS``,
    ``S_STEP0``), and reads the chunk's losses afterwards, so one argument
    tuple serves every call.
    """

    perms: np.ndarray  #: (rows, n) int64: rows >= the chunk's epochs, each a row order; (0, n): identity order
    losses: np.ndarray  #: (rows >= the chunk's epochs,) float64: epoch e of a chunk writes losses[e]
    val_losses: np.ndarray  #: the same for the validation loss ((0,) without validation data)
    state: np.ndarray  #: (N_STATE,) float64 loop state


class LossGradArgs(NamedTuple):
    """``batch_loss_grad``: loss of one batch and its gradient (scikit-learn's L-BFGS calls it)."""

    x: np.ndarray  #: (nb, d)
    y: np.ndarray  #: (nb, k)
    sw: np.ndarray  #: (nb,) sample weights, or (0,)
    theta: np.ndarray  #: (P,)
    grad: np.ndarray  #: (P,) receives the gradient
    layout: np.ndarray
    loss_code: int
    convention: int
    alpha: float  #: scikit-learn's L2 penalty (SKLEARN convention)
    eps: float
    abuf: np.ndarray
    dbuf: np.ndarray
    dbuf_other: np.ndarray
    rowloss: np.ndarray
    batch_size: int  #: the row stride of abuf (>= nb)


class DatasetLossArgs(NamedTuple):
    """``dataset_loss``: the loss of a whole data set, in batches."""

    X: np.ndarray
    Y: np.ndarray
    theta: np.ndarray
    layout: np.ndarray
    loss_code: int
    eps: float
    batch_size: int
    xb: np.ndarray
    yb: np.ndarray
    abuf: np.ndarray
    rowloss: np.ndarray


class PredictArgs(NamedTuple):
    """``predict_rows``: the network's output for every row, in tiles of rows (:mod:`fastnn.inference`)."""

    X: np.ndarray  #: (n, d), C-contiguous
    theta: np.ndarray
    layout: np.ndarray
    tile: int  #: rows per tile (the compiled kernels' unit of work and of cache use)
    n_workers: int  #: threads sharing the tiles (the parallel build); each owns a row of ``buffers``
    buffers: np.ndarray  #: (n_workers, tile * scratch per row) scratch (:func:`fastnn.inference.plan`)
    out: np.ndarray  #: (n, k), C-contiguous, receives the output


#: Each Python-facing entry point of both backends and the tuples whose fields are its parameters.
ENTRY_POINTS: dict = {
    "train_epochs": (FitArgs, ChunkArgs),
    "batch_loss_grad": (LossGradArgs,),
    "dataset_loss": (DatasetLossArgs,),
    "predict_rows": (PredictArgs,),
}


def require_parameters(function, name: str) -> None:
    """Raise TypeError unless ``function``'s parameters are exactly the contract's fields for ``name``."""
    expected = tuple(field for args in ENTRY_POINTS[name] for field in args._fields)
    actual = tuple(inspect.signature(function).parameters)
    if actual != expected:
        raise TypeError(f"{function.__module__}.{function.__qualname__} must take the contract's parameters "
                        f"for {name!r} in order {expected}, got {actual}")
