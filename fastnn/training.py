"""The training driver behind ``Sequential.fit``: validate, allocate, run chunks of epochs, report.

:meth:`fastnn.model.Sequential.fit` is a thin wrapper around three steps here:

1. :func:`check_fit_args` validates every argument against the model's
   structure before anything changes (a bad call raises and loses nothing);
2. :class:`BufferCache` allocates every buffer of the fit up front (a
   ``MemoryError`` there also leaves the model unchanged);
3. :func:`run_fit` runs the epochs on the arrays it is handed (the model's
   parameters and optimizer state, updated in place) and returns a
   :class:`FitOutcome`; the model then updates its own counters.  With a
   checkpoint, ``run_fit`` calls the caller's ``on_checkpoint(epochs_trained,
   step)`` whenever the arrays hold the state after a checkpoint epoch, and
   once at the end (the caller stores its counters and writes the file).

Epochs run in chunks, each one call of the backend's ``train_epochs``
(:mod:`fastnn.kernels.train` or :mod:`fastnn.reference.train`), with the
arguments of the training-loop contract (:mod:`fastnn.contract`).  A chunk
lasts about :data:`fastnn.config.CHUNK_SECONDS`, so the progress output moves
and Ctrl-C is honoured promptly (:mod:`fastnn.history`); the first chunk is
sized by a pessimistic cost model, so a small fit is a single call.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from fastnn import config, contract
from fastnn._checks import check_int, check_scalar
from fastnn.class_weight import check_sequential_class_weight, sequential_sample_weight
from fastnn.data import check_features, check_targets
from fastnn.history import History, InterruptGuard, Progress
from fastnn.losses import LossSpec, loss_spec
from fastnn.optim import SGD, Optimizer, get_optimizer


def backend_module(backend: str):
    """The module holding ``train_epochs``, ``dataset_loss`` and ``predict_rows`` for ``backend``.

    Imported on first use (the kernels load compiled code), then remembered.
    """
    module = _BACKEND_MODULES.get(backend)
    if module is None:
        if backend == "numba":
            from fastnn.kernels import train as module
        else:
            from fastnn.reference import train as module
        _BACKEND_MODULES[backend] = module
    return module


_BACKEND_MODULES: dict = {}


def inference_kernels(backend: str, narrow: bool) -> tuple:
    """``(predict_rows, dataset_loss)`` of ``backend`` for a network (``narrow``: every layer's width within
    :data:`fastnn.config.NARROW_MAX_WIDTH`).

    On numba, ``predict_rows`` runs tiles of rows (:mod:`fastnn.kernels.inference`), and narrow
    networks predict and evaluate feature-major (:func:`fastnn.kernels.train.pick_inference_by_width`),
    with the kernels their fits compile anyway (same parameters as the row-major ones).
    """
    module = backend_module(backend)
    if backend != "numba":
        return module.predict_rows, module.dataset_loss
    key = ("inference", narrow)
    pair = _BACKEND_MODULES.get(key)
    if pair is None:
        pair = _BACKEND_MODULES[key] = module.pick_inference_by_width(narrow)
    return pair


def pick_build(function, backend: str, work: int):
    """The serial or parallel build of a compiled kernel pair by ``work``, or the reference function itself."""
    if backend == "numba":
        return function.pick(config.use_parallel(work, fused=True))
    return function


def check_output_activation(spec: LossSpec, last_activation: str) -> None:
    """ValueError when a loss needs a particular output activation and the last layer has another."""
    if spec.output_activation is not None and last_activation != spec.output_activation:
        raise ValueError(
            f"loss {spec.name!r} needs a {spec.output_activation!r} output layer "
            f"(the last layer has activation {last_activation!r})"
        )


@functools.lru_cache(maxsize=64)
def _no_rows(columns: int, dtype: np.dtype) -> np.ndarray:
    """A (0, columns) array: "no validation data" (shared between fits: it has nothing to write)."""
    return np.empty((0, columns), dtype)


class FitRequest(NamedTuple):
    """A validated ``fit`` call: the data converted to the model's dtype and every setting checked."""

    X: np.ndarray  #: (n, d)
    Y: np.ndarray  #: (n, k)
    Xv: np.ndarray  #: (n_val, d), or (0, d) without validation data
    Yv: np.ndarray  #: (n_val, k), or (0, k)
    spec: LossSpec
    optimizer: Optimizer
    epochs: int
    batch_size: int  #: rows per batch, at most n
    shuffle: bool  #: reshuffle every epoch (only when there is more than one batch)
    verbose: int
    patience: int | None
    min_delta: float
    threads: int | None
    checkpoint: str | None = None  #: the checkpoint file (``os.fspath`` of the argument), or None
    checkpoint_every: int = 1  #: epochs of this fit between checkpoints
    sw: np.ndarray | None = None  #: (n,) the rows' class weights (``class_weight``), or None: unweighted


def check_checkpoint(checkpoint) -> str:
    """``checkpoint`` as a str path whose directory exists and is writable; TypeError/ValueError naming it.

    Touches nothing: the file is first written after the first checkpoint epoch.
    """
    if isinstance(checkpoint, (bytes, bytearray)) or not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike), got {type(checkpoint).__name__}")
    path = os.fspath(checkpoint)
    if not isinstance(path, str):  # a PathLike giving bytes
        raise TypeError(f"checkpoint must be a str path, got a path of {type(path).__name__}")
    if not path:
        raise ValueError("checkpoint must be a file path, got an empty string")
    if os.path.isdir(path):
        raise ValueError(f"checkpoint must be a file path, got the directory {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"checkpoint {path!r}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint {path!r}: the directory {directory!r} is not writable")
    return path


class FitSettings(NamedTuple):
    """The checked settings of a ``fit`` call, without its data (what a fit on dask input is handed)."""

    spec: LossSpec
    optimizer: Optimizer
    epochs: int
    batch_size: int | None  #: rows per batch as given (None: full batch), not yet cut to the data
    shuffle: bool
    verbose: int
    patience: int | None
    min_delta: float
    threads: int | None
    checkpoint: str | None
    checkpoint_every: int


def check_fit_settings(model, epochs, batch_size, loss, optimizer, shuffle, verbose, patience, min_delta, threads,
                       checkpoint=None, checkpoint_every=1) -> tuple:
    """Validate the settings of :meth:`fastnn.model.Sequential.fit` (everything but the data); nothing changes.

    Returns the fields of :class:`FitSettings` as a plain tuple (the small-fit
    path builds no NamedTuple it does not need).  Raises TypeError or
    ValueError naming the argument.
    """
    spec = loss_spec(loss)
    if not model.layers:
        raise ValueError("the model has no layers; pass them to Sequential([...]) or use add()")
    # plain ints and floats in range skip the general checks (a fit of a small network is ~20 us in all)
    if not (type(epochs) is int and 0 <= epochs <= 2**53):
        epochs = check_int("epochs", epochs, low=0)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
    if not (type(verbose) is int and verbose >= 0):
        verbose = check_int("verbose", verbose, low=0)
    if patience is not None:
        patience = check_int("patience", patience, low=0)
    if not (type(min_delta) is float and 0.0 <= min_delta < math.inf):
        min_delta = check_scalar("min_delta", min_delta, low=0.0)
    if threads is not None:
        threads = config._check_threads(threads)
    if not (type(checkpoint_every) is int and 1 <= checkpoint_every <= 2**53):
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    if checkpoint is not None:
        checkpoint = check_checkpoint(checkpoint)
    if batch_size is not None and not (type(batch_size) is int and 1 <= batch_size <= 2**53):
        batch_size = check_int("batch_size", batch_size, low=1)
    opt = get_optimizer(optimizer) if optimizer is not None else (model.optimizer or SGD(lr=0.01))
    dtype = model.dtype
    eps = getattr(opt, "eps", None)
    if eps is not None and dtype.type(eps) == 0:  # e.g. 1e-300 in float32: 0/0 in the update
        raise ValueError(f"Adam eps={eps} is 0 in {dtype.name}; use eps >= {np.finfo(dtype).tiny}")
    check_output_activation(spec, model.layers[-1].activation)
    return (spec, opt, epochs, batch_size, bool(shuffle), verbose, patience, min_delta, threads, checkpoint,
            checkpoint_every)


def check_fit_args(model, X, y, epochs, batch_size, loss, optimizer, shuffle, verbose, validation_data, patience,
                   min_delta, threads, checkpoint=None, checkpoint_every=1, class_weight=None) -> FitRequest:
    """Validate the arguments of :meth:`fastnn.model.Sequential.fit` against ``model``; nothing changes.

    Reads the model's public structure only (``layers``, ``dtype``,
    ``input_dim``, ``output_dim``, ``optimizer``).  Raises TypeError or
    ValueError naming the argument.
    """
    (spec, opt, epochs, batch_size, shuffle, verbose, patience, min_delta, threads, checkpoint,
     checkpoint_every) = check_fit_settings(model, epochs, batch_size, loss, optimizer, shuffle, verbose, patience,
                                            min_delta, threads, checkpoint, checkpoint_every)
    dtype = model.dtype
    if class_weight is not None:  # (before the data: a bad dict is reported whatever the data)
        class_weight = check_sequential_class_weight(class_weight, spec, model.output_dim)
    X = check_features("X", X, dtype, model.input_dim)
    Y = check_targets("y", y, dtype, X.shape[0], model.output_dim, spec)
    sw = None if class_weight is None else sequential_sample_weight(class_weight, Y)
    Xv = _no_rows(X.shape[1], dtype)
    Yv = _no_rows(Y.shape[1], dtype)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a tuple (X_val, y_val)")
        Xv = check_features("validation_data[0]", validation_data[0], dtype, X.shape[1])
        Yv = check_targets("validation_data[1]", validation_data[1], dtype, Xv.shape[0], model.output_dim, spec)
    n = X.shape[0]
    batch = n if batch_size is None else min(batch_size, n)
    return FitRequest(X, Y, Xv, Yv, spec, opt, epochs, batch, shuffle and batch < n, verbose, patience,
                      min_delta, threads, checkpoint, checkpoint_every, sw)


class FitBuffers(NamedTuple):
    """Every array a fit needs besides the model's own: the contract's buffers and the row orders."""

    grad: np.ndarray
    snapshot: np.ndarray
    best: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    abuf: np.ndarray
    dbuf: np.ndarray
    dbuf_other: np.ndarray
    rowloss: np.ndarray
    perms: np.ndarray  #: (shuffle_rows * n,) int64: the row orders of one chunk of epochs
    losses: np.ndarray  #: (chunk_epochs,) float64: a chunk's training losses
    val_losses: np.ndarray  #: (chunk_epochs,) float64 with validation data, else (0,)


def allocate_buffers(layout: np.ndarray, dtype: np.dtype, n: int, batch: int, early_stopping: bool,
                     shuffle_rows: int, chunk_epochs: int, validation: bool, grad_slots: int = 1) -> FitBuffers:
    """The buffers of a fit of ``n`` rows in batches of ``batch``; MemoryError names the batch size.

    ``grad_slots``: gradient slots of the compiled step (:func:`fastnn.contract.row_blocks`).
    """
    rows = layout.tolist()
    p = rows[-1][contract.B_OFF] + rows[-1][contract.N_OUT]
    widths = [rows[0][contract.N_IN]] + [row[contract.N_OUT] for row in rows]
    sizes = {
        "grad": (grad_slots * p, dtype),
        "snapshot": (contract.snapshot_size(p), dtype),  # two start-of-epoch slots: theta, s1, s2
        "best": (p if early_stopping else 0, dtype),
        "xb": (batch * widths[0], dtype),
        "yb": (batch * widths[-1], dtype),
        "abuf": (batch * sum(widths[1:]), dtype),
        "dbuf": (batch * max(widths), dtype),
        "dbuf_other": (batch * max(widths), dtype),
        "rowloss": (batch, np.float64),
        "perms": (shuffle_rows * n, np.int64),
        "losses": (chunk_epochs, np.float64),
        "val_losses": (chunk_epochs if validation else 0, np.float64),
    }
    try:
        return FitBuffers(**{name: np.empty(size, dtype) for name, (size, dtype) in sizes.items()})
    except MemoryError:
        total = sum(size * np.dtype(dtype).itemsize for size, dtype in sizes.values())
        raise MemoryError(
            f"fit needs about {total / 2**20:.0f} MiB of buffers for batch_size={batch}; "
            "the model is unchanged (try a smaller batch_size)"
        ) from None


class FitPlan(NamedTuple):
    """Everything a fit derives from its settings and shapes, not from the data values.

    Made by :func:`make_plan`; :class:`PlanPool` keeps small ones, so a later
    ``fit`` with the same settings and shapes reuses it (and its buffers): it
    allocates nothing and recomputes nothing before the compiled loop runs.
    """

    buffers: FitBuffers
    loop: object  #: the backend's train_epochs (a KernelPair for numba: the build is picked per call)
    work: int  #: multiply-adds of one batch's forward pass
    blas_threads_matter: bool  #: the fit's products reach OpenBLAS's threading (see run_fit)
    first_chunk: int  #: epochs of the first call
    no_weights: np.ndarray  #: (0,) of the model's dtype: no sample weights
    opt_code: int
    hyper: np.ndarray
    #: the loop's arguments after ``s2`` (loss_code ... state), in the contract's order
    tail: tuple
    state: np.ndarray  #: the loop state (part of ``tail``), reset by run_fit
    perm_rows: np.ndarray  #: (shuffle epochs, n) view of ``buffers.perms`` (part of ``tail``)
    order: np.ndarray | None  #: arange(n) when shuffling: the start of every permutation
    key: tuple = ()  #: the PlanPool key it was made for


def _plan_knobs() -> tuple:
    """The :mod:`fastnn.config` knobs a plan reads (row blocks, chunks, permutations, BLAS threading).

    Part of a plan's key, so a knob changed at run time (a test, a tuning
    session) is honoured by the next fit instead of a kept plan's old value.
    """
    c = config
    return (c.ROW_BLOCK_MIN_MADDS, c.ROW_BLOCK_MIN_ROWS, c.MAX_ROW_BLOCKS, c.COLUMN_SPLIT_MIN_WEIGHTS,
            c.COLUMN_PART_MIN, c.PERMUTATION_BYTES, c.MAX_CHUNK_EPOCHS, c.CHUNK_SECONDS,
            c.FIRST_CHUNK_SECONDS_PER_MADD, tuple(c.FIRST_CHUNK_SECONDS_PER_LAYER.values()),
            c.BLAS_THREADING_MIN_MADDS)


class PlanPool:
    """Keeps the plans of recent small fits for the next fit with the same settings and shapes, on any model.

    :meth:`take` hands a plan to one fit, which owns it (and its buffers)
    until it gives it back with :meth:`give_back`; a fit in another thread at
    the same time takes another plan or makes its own, so no two running fits
    share buffers.  Only plans whose buffers take at most
    :data:`fastnn.config.REUSED_BUFFER_BYTES` are kept, and at most
    :data:`MAX_KEPT` of them (least recently returned dropped first): a
    repeated fit of a small network (or a fresh model of the same shape, as a
    grid search builds) then costs a few microseconds beyond its compiled
    loop, and large fits keep no batch buffers alive.
    """

    MAX_KEPT = 16

    def __init__(self):
        self._kept: dict = {}  # key -> list of idle plans (insertion order: least recently returned first)

    @staticmethod
    def key(request: FitRequest, backend: str, layout: np.ndarray, dtype: np.dtype) -> tuple:
        """What a plan depends on: the settings and shapes of the fit, not its data values."""
        opt = request.optimizer
        return (backend, layout.tobytes(), layout.shape, dtype, request.X.shape, request.Xv.shape,
                request.batch_size, request.epochs, request.shuffle, request.patience, request.min_delta,
                request.spec.code, type(opt), tuple(vars(opt).values()), _plan_knobs(), request.sw is not None)

    def take(self, request: FitRequest, backend: str, layout: np.ndarray, dtype: np.dtype) -> FitPlan:
        """A plan for ``request`` that no other fit is using; MemoryError (nothing changed) when buffers do not fit."""
        key = self.key(request, backend, layout, dtype)
        idle = self._kept.get(key)
        if idle:
            try:
                return idle.pop()  # list.pop is atomic: two threads never get the same plan
            except IndexError:  # another thread took the last one in between
                pass
        return make_plan(request, backend, layout, dtype)._replace(key=key)

    def give_back(self, plan: FitPlan) -> None:
        """Return a plan after its fit; kept when small."""
        if sum(a.nbytes for a in plan.buffers) > config.REUSED_BUFFER_BYTES:
            return
        idle = self._kept.pop(plan.key, [])  # re-inserted last: the most recently returned
        if len(idle) < 2:  # more idle plans of one key only serve more simultaneous fits
            idle.append(plan)
        self._kept[plan.key] = idle
        while len(self._kept) > self.MAX_KEPT:
            try:  # (another thread may change the dict at the same time: then try again or stop)
                self._kept.pop(next(iter(self._kept)), None)
            except (RuntimeError, StopIteration):
                break

    def clear(self) -> None:
        """Drop every kept plan (tests; or to free the memory)."""
        self._kept.clear()


#: The process's pool of fit plans (:meth:`fastnn.model.Sequential.fit` takes and returns them).
PLANS = PlanPool()


def make_plan(request: FitRequest, backend: str, layout: np.ndarray, dtype: np.dtype) -> FitPlan:
    """Allocate the buffers of ``request`` and derive its loop, hyper-parameters and first chunk."""
    n, batch = request.X.shape[0], request.batch_size
    madds = contract.madds_per_row(layout)
    work = batch * madds
    grad_slots = contract.row_blocks(batch, layout) if backend == "numba" else 1
    buf = allocate_buffers(layout, dtype, n, batch, request.patience is not None, shuffle_rows_per_chunk(request),
                           chunk_epochs(request), request.Xv.shape[0] > 0, grad_slots)
    train = backend_module(backend)
    if backend == "numba":  # the feature-major loop for narrow networks, else the row-major one
        loop = train.pick_train_epochs(layout, contract.KERAS, request.sw is not None)  # (weighted: row-major)
    else:
        loop = train.train_epochs
    no_weights = np.empty(0, dtype)
    perm_rows = buf.perms.reshape(-1, n)
    state = contract.new_loop_state()
    tail = (
        request.spec.code, contract.KERAS, dtype.type(np.finfo(dtype).eps), batch,
        -1 if request.patience is None else request.patience,
        buf.grad, buf.snapshot, buf.best, buf.xb, buf.yb,
        no_weights if request.sw is None else np.empty(batch, dtype),  # swb: a batch's gathered class weights
        buf.abuf, buf.dbuf, buf.dbuf_other,
        buf.rowloss, *contract.ChunkArgs(perms=perm_rows, losses=buf.losses, val_losses=buf.val_losses, state=state),
    )
    return FitPlan(
        buffers=buf, loop=loop, work=work,
        blas_threads_matter=backend == "numba" and work >= config.BLAS_THREADING_MIN_MADDS,
        first_chunk=first_chunk(backend, n, batch, layout.shape[0], work), no_weights=no_weights,
        opt_code=request.optimizer.code, hyper=hyper_for(request.optimizer, request.min_delta), tail=tail,
        state=state, perm_rows=perm_rows, order=np.arange(n) if request.shuffle else None,
    )


#: The loop state every fit starts from (copied into the plan's state array).
_INITIAL_STATE = contract.new_loop_state()


def new_optimizer_state(n_params: int, dtype: np.dtype, n_state: int) -> list:
    """A fresh optimizer state ``[s1, s2]``: ``n_state`` zero arrays of ``n_params`` values, the rest empty."""
    try:
        state = [np.zeros(n_params, dtype) for _ in range(n_state)]
    except MemoryError:
        raise MemoryError(f"the optimizer state needs {n_state} x {n_params} values; the model is unchanged") from None
    return state + [np.empty(0, dtype)] * (2 - n_state)


def chunk_epochs(request: FitRequest) -> int:
    """Most epochs one chunk of this fit can hold: the room of its loss buffers."""
    return max(1, min(request.epochs, config.MAX_CHUNK_EPOCHS))


def shuffle_rows_per_chunk(request: FitRequest) -> int:
    """Epochs whose row orders fit in :data:`fastnn.config.PERMUTATION_BYTES` (at least one; 0 without shuffling)."""
    if not request.shuffle:
        return 0
    return min(request.epochs, max(1, config.PERMUTATION_BYTES // (8 * request.X.shape[0])))


def first_chunk(backend: str, n: int, batch: int, n_layers: int, work: int) -> int:
    """Epochs in the first chunk of a fit (later chunks are sized from the measured epoch times)."""
    n_batches = -(-n // batch)
    per_batch = work * config.FIRST_CHUNK_SECONDS_PER_MADD + n_layers * config.FIRST_CHUNK_SECONDS_PER_LAYER[backend]
    return max(1, int(config.CHUNK_SECONDS / (n_batches * per_batch)))


def hyper_for(opt: Optimizer, min_delta: float) -> np.ndarray:
    """The contract's hyper-parameter vector for a model-API optimizer."""
    c = opt.get_config()
    return contract.hyper_vector(
        lr=c["lr"], decay=c.get("decay", 0.0), momentum=c.get("momentum", 0.0), nesterov=c.get("nesterov", False),
        beta1=c.get("beta1", 0.9), beta2=c.get("beta2", 0.999), eps=c.get("eps", 1e-8),
        weight_decay=c["weight_decay"], min_delta=min_delta,
    )


class FitOutcome(NamedTuple):
    """What a fit changed besides the arrays it was handed: the record and the model's counters."""

    history: History
    epochs_trained: int  #: epochs over the model's life after this fit
    step: int  #: optimizer steps over the model's life after this fit


#: ``on_checkpoint(epochs_trained, step)``: see :func:`run_fit`.
CheckpointHook = Callable[[int, int], None]


def run_fit(request: FitRequest, plan: FitPlan, backend: str, theta: np.ndarray, layout: np.ndarray,
            opt_state: list, shuffle_rng: np.random.Generator, epochs_trained: int, step: int,
            on_checkpoint: CheckpointHook | None = None, callbacks=None) -> FitOutcome:
    """Train ``theta`` (and ``opt_state``) in place for ``request.epochs`` epochs; see the module docstring.

    ``plan`` comes from :meth:`PlanPool.take` for this request.
    ``epochs_trained`` and ``step`` are the model's counters before the fit
    (the decay schedule and Adam's step continue from them).

    ``on_checkpoint(epochs_trained, step)``, when given, is called with the
    model's counters over its life (as in :class:`FitOutcome`) whenever
    ``theta``, ``opt_state`` and ``shuffle_rng`` hold exactly the state after
    that many epochs, so the caller can store the counters and save:

    - after every ``request.checkpoint_every`` epochs of this fit (chunks are
      cut to end there) while the fit goes on;
    - once at the end of the fit, however it ended (all epochs, early
      stopping, Ctrl-C, divergence), after the driver's last change to
      ``theta`` (early stopping's best weights; the loop's divergence restore),
      with the counters :class:`FitOutcome` will hold.

    It runs between compiled calls, inside the fit's thread settings and a
    Ctrl-C guard (a Ctrl-C while it runs ends the fit after it; during the
    call at the end it is ignored), so a Ctrl-C never breaks a save.  An exception
    from it propagates out of ``run_fit``: ``theta`` and ``opt_state`` then
    hold the state after the epochs it was called for.

    ``callbacks``, when given, is a :class:`fastnn.callbacks.CallbackRunner`:
    chunks are cut to end on every epoch a callback runs after, and after
    such a chunk (status OK or stopped early) it runs them, with the state
    after that epoch; it may end the fit there.
    """
    if request.threads is None and not plan.blas_threads_matter:  # nothing to set: skip the context managers
        return _run(request, plan, backend, theta, layout, opt_state, shuffle_rng, epochs_trained, step,
                    on_checkpoint, callbacks)
    context = config.threads(request.threads) if request.threads is not None else contextlib.nullcontext()
    with context, config.blas_single_threaded(plan.blas_threads_matter):
        return _run(request, plan, backend, theta, layout, opt_state, shuffle_rng, epochs_trained, step,
                    on_checkpoint, callbacks)


def _run(req: FitRequest, plan: FitPlan, backend, theta, layout, opt_state, shuffle_rng, epoch0, step,
         on_checkpoint=None, callbacks=None):
    X, Y, Xv, Yv, n = req.X, req.Y, req.Xv, req.Yv, req.X.shape[0]
    epochs, patience = req.epochs, req.patience
    train_epochs = pick_build(plan.loop, backend, plan.work)
    state, perm_rows, losses = plan.state, plan.perm_rows, plan.buffers.losses
    state[:] = _INITIAL_STATE
    # one argument tuple for every chunk: between calls only the row orders and the counters in `state` change
    sw = plan.no_weights if req.sw is None else req.sw  # the rows' class weights (Sequential.fit's class_weight)
    loop_args = (X, Y, sw, Xv, Yv, theta, layout, plan.opt_code, plan.hyper, opt_state[0],
                 opt_state[1], *plan.tail)
    validation = Xv.shape[0] > 0
    history = History()
    progress = Progress(req.verbose, epochs) if req.verbose else None
    chunk, status, done = plan.first_chunk, contract.OK, 0
    every = req.checkpoint_every if on_checkpoint is not None else 0
    with InterruptGuard() as guard:
        while done < epochs and status == contract.OK and not guard.interrupted:
            count = min(chunk, epochs - done, losses.shape[0])
            if every:  # end the chunk on the next checkpoint epoch
                count = min(count, every - done % every)
            if callbacks is not None:  # ... and on the next epoch a callback runs after
                count = min(count, callbacks.epochs_to_next(done))
            if req.shuffle:
                count = min(count, perm_rows.shape[0])
                for row in perm_rows[:count]:  # rng.permutation(n) is arange(n) then shuffle: the same stream
                    row[...] = plan.order
                    shuffle_rng.shuffle(row)
            state[contract.S_EPOCH0] = epoch0 + done
            state[contract.S_N_EPOCHS] = count
            state[contract.S_STEP0] = step
            started = time.perf_counter()
            ran, status, step = train_epochs(*loop_args)
            elapsed = time.perf_counter() - started
            ran, step = int(ran), int(step)
            history.record_chunk(losses[:ran], plan.buffers.val_losses[:ran] if validation else None,
                                 req.optimizer, epoch0 + done)
            done += ran
            history.epochs = done
            if progress is not None:
                progress.update(history, epoch0, done - ran)
            if ran:
                chunk = max(1, int(config.CHUNK_SECONDS / max(elapsed / ran, 1e-9)))
            if callbacks is not None and ran and status != contract.NON_FINITE and callbacks.chunk_end(
                    done, ran, epoch0 + done, step, losses[ran - 1],
                    plan.buffers.val_losses[ran - 1] if validation else None,
                    req.optimizer.lr_schedule(epoch0 + done - 1, 1)[0]):
                break  # a callback stopped the fit after this epoch
            # a checkpoint epoch inside the fit (the end of the fit is saved below, once)
            if every and done % every == 0 and done < epochs and status == contract.OK and not guard.interrupted:
                on_checkpoint(epoch0 + done, step)
        history.interrupted = guard.interrupted and history.epochs < epochs and status == contract.OK
    epochs_trained = epoch0 + history.epochs
    message = ""
    if status == contract.NON_FINITE:
        history.diverged = True
        kept = int(state[contract.S_KEPT_EPOCH])
        history.restored_epoch = kept - epoch0 if kept >= 0 else history.epochs
        epochs_trained = epoch0 + history.restored_epoch
        if kept < 0:
            kept_text = "the weights it had before this fit (its first epoch did not finish)"
        else:
            start = "before this fit" if history.restored_epoch == 0 else f"after epoch {history.restored_epoch}"
            kept_text = (f"the weights it had {start}: the training loss measured from them in epoch "
                         f"{history.restored_epoch + 1}, {state[contract.S_KEPT_LOSS]:.6g}, is the lowest finite one")
        message = (f"the loss or the weights became non-finite in epoch {history.epochs + 1}; training stopped "
                   f"and the model keeps {kept_text}")
        warnings.warn(message, RuntimeWarning, stacklevel=4)
    if patience is not None and state[contract.S_BEST_EPOCH] >= 0:
        theta[...] = plan.buffers.best
        history.best_epoch = int(state[contract.S_BEST_EPOCH]) - epoch0
    history.stopped_early = status == contract.STOPPED_EARLY
    if on_checkpoint is not None:
        with InterruptGuard():  # Ctrl-C while saving does not abort the save (nor the return of the history)
            on_checkpoint(epochs_trained, step)
    if history.interrupted:
        message = f"interrupted: kept the weights and history of epoch {history.epochs}"
    if progress is not None:
        progress.close(message)
    return FitOutcome(history, epochs_trained, step)
