"""The timed sides of ``fastnn compare --grid``: one grid shape's training job, run one way each.

Each function runs (or prepares) one side of one
:class:`~fastnn.tools.grid.GridShape`; the runner (:mod:`.grid`) warms every
side up, alternates them over the rounds and takes the medians.  Models,
estimators, tensors and operands are built before the clock starts: only the
training (or the products) is timed.

- :func:`fastnn_fit`: the fit through the shape's API (estimator or
  :class:`fastnn.Sequential`), checked to have run every epoch to a finite
  loss (:class:`FitFailed` otherwise); ``float64=True`` casts a float32
  shape's data to float64 (``--with float64``).
- :func:`sklearn_fit`: scikit-learn's MLP with the same parameters.
- :func:`torch_fit`: a plain PyTorch CPU loop of the same network.
- :class:`ProductFloor`: the shape's matrix products alone, through NumPy
  (:meth:`~ProductFloor.numpy`) or from one compiled Numba loop
  (:meth:`~ProductFloor.compiled`).
- :func:`peak_gflops`: the machine's measured peak floating-point rate, from
  which the compute floor is computed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings

import numpy as np

from fastnn import config
from fastnn.tools.grid import GridShape

#: The peak rate's measurement: the best of PEAK_TRIES products of two PEAK_SIZE x PEAK_SIZE matrices.
PEAK_SIZE, PEAK_TRIES = 2048, 5
#: Codes of the three products of a layer in the compiled loop (Numba freezes them as constants).
FORWARD, WEIGHT_GRAD, INPUT_GRAD = 0, 1, 2
_ROLE_CODES = {"forward": FORWARD, "weight_grad": WEIGHT_GRAD, "input_grad": INPUT_GRAD}


class FitFailed(Exception):
    """A fastnn fit of a grid shape did not finish: it stopped early or its loss or weights are not finite."""


# ----------------------------------------------------------------------
# fastnn
# ----------------------------------------------------------------------


@functools.cache
def _float64_inputs(shape: GridShape):
    """``(X, y, targets)`` of a shape cast to float64 (labels stay integers); read-only, built once."""
    X, y = shape.data()
    arrays = (X.astype(np.float64), y.astype(np.float64) if y.dtype.kind == "f" else y,
              shape.targets().astype(np.float64))
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _check_finished(shape: GridShape, epochs_run: int, loss: float, weights, diverged: bool = False) -> None:
    problems = ["diverged"] if diverged else []
    if epochs_run != shape.epochs:
        problems.append(f"stopped after {epochs_run} of {shape.epochs} epochs")
    if not math.isfinite(loss):
        problems.append(f"final loss {loss}")
    if not all(np.all(np.isfinite(w)) for w in weights):
        problems.append("non-finite weights")
    if problems:
        raise FitFailed(f"{shape.name}: " + ", ".join(problems))


def fastnn_fit(shape: GridShape, seed: int = 0, float64: bool = False) -> float:
    """Seconds of one fastnn fit of ``shape`` through its API; the fit is checked to have finished.

    Parameters
    ----------
    shape : GridShape
    seed : int
        ``random_state`` of the estimator, ``seed`` of the Sequential model.
    float64 : bool
        Train in float64 on the shape's data cast to float64 (and its float
        targets); for float32 shapes.

    Raises
    ------
    FitFailed
        Fewer epochs than asked, or a non-finite final loss or weight (a
        diverging estimator raises scikit-learn's own ValueError first).
    KeyboardInterrupt
        The fit was interrupted (fastnn then returns normally; a partial
        fit must not be reported as a time).
    """
    if shape.api == "estimator":
        X, y = (_float64_inputs(shape)[:2] if float64 else shape.data())
        estimator = shape.estimator("fastnn", seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # recorded, not shown: ConvergenceWarning (max_iter reached) is expected
            start = time.perf_counter()
            estimator.fit(X, y)
            seconds = time.perf_counter() - start
        if any("interrupted" in str(w.message) for w in caught):
            raise KeyboardInterrupt
        _check_finished(shape, estimator.n_iter_, float(estimator.loss_), estimator.coefs_)
        return seconds
    if float64:
        X, _, targets = _float64_inputs(shape)
        model = dataclasses.replace(shape, dtype="float64").sequential(seed)
    else:
        X, targets = shape.data()[0], shape.targets()
        model = shape.sequential(seed)
    kwargs = shape.sequential_fit_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a divergence is reported by the check below
        start = time.perf_counter()
        history = model.fit(X, targets, **kwargs)
        seconds = time.perf_counter() - start
    if history.interrupted:
        raise KeyboardInterrupt
    loss = history.loss[-1] if history.loss else float("nan")
    _check_finished(shape, history.epochs, loss, model.get_weights(), history.diverged)
    return seconds


# ----------------------------------------------------------------------
# other libraries
# ----------------------------------------------------------------------


def sklearn_fit(shape: GridShape, seed: int = 0) -> float:
    """Seconds of one fit of scikit-learn's MLP with the shape's parameters (:meth:`GridShape.estimator`).

    Sequential shapes get the same estimator: scikit-learn has no other
    API, and the network, loss, solver and batches are the same (its L2
    penalty ``alpha`` is the only difference, a negligible cost).  Its
    warnings (ConvergenceWarning: ``max_iter`` reached, as asked) are
    silenced.
    """
    X, y = shape.data()
    estimator = shape.estimator("sklearn", seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def torch_fit(shape: GridShape, threads=None, seed: int = 0) -> float:
    """Seconds of the shape's training loop in plain PyTorch on the CPU.

    ``nn.Sequential`` of ``nn.Linear`` + ``nn.ReLU`` hidden layers and a
    linear output layer in the shape's dtype; the loss on its raw outputs:
    ``CrossEntropyLoss`` (softmax outputs, integer labels),
    ``BCEWithLogitsLoss`` (one sigmoid unit) or ``MSELoss`` (regression);
    ``Adam(lr=1e-3)`` or ``SGD(lr=1e-2, momentum=0.9, nesterov=True)``; the
    shape's batch size, rows shuffled every epoch (``torch.randperm`` with a
    generator seeded by ``seed``).  PyTorch's own initial weights and no L2
    penalty (which only the estimator shapes have: a negligible cost).
    ``torch.set_num_threads`` is ``threads`` (default: fastnn's current
    Numba thread count) during the call, restored after.  Only the epoch loop
    is timed.
    """
    import torch

    nn = torch.nn
    X, y = shape.data()
    tdtype = torch.float32 if shape.dtype == "float32" else torch.float64
    with torch.random.fork_rng(devices=[]):  # seeded initial weights without moving the caller's global generator
        torch.manual_seed(seed)
        modules = []
        for i, (d, u) in enumerate(zip(shape.widths[:-1], shape.widths[1:])):
            modules.append(nn.Linear(d, u, dtype=tdtype))
            if i < len(shape.widths) - 2:
                modules.append(nn.ReLU())
        net = nn.Sequential(*modules)
    inputs = torch.from_numpy(np.array(X))  # a writable copy: the grid's arrays are read-only
    if shape.loss == "categorical_crossentropy":
        targets, loss_fn = torch.from_numpy(np.array(y, dtype=np.int64)), nn.CrossEntropyLoss()
    elif shape.loss == "binary_crossentropy":
        targets, loss_fn = torch.from_numpy(np.array(shape.targets())), nn.BCEWithLogitsLoss()
    else:
        targets, loss_fn = torch.from_numpy(np.array(shape.targets())), nn.MSELoss()
    if shape.solver == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9, nesterov=True)
    generator = torch.Generator().manual_seed(seed)
    n, batch = shape.n_rows, shape.batch_size
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads or config.get_num_threads())
    try:
        start = time.perf_counter()
        for _ in range(shape.epochs):
            order = torch.randperm(n, generator=generator)
            for s in range(0, n, batch):
                rows = order[s:s + batch]
                optimizer.zero_grad(set_to_none=True)
                loss_fn(net(inputs[rows]), targets[rows]).backward()
                optimizer.step()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(old_threads)


# ----------------------------------------------------------------------
# the floors
# ----------------------------------------------------------------------


def _products_loop(kinds, lhs, rhs, out, rows, epochs):
    """Every product of ``epochs`` epochs, batch after batch, without returning to Python.

    The same views and layouts as :meth:`ProductFloor.numpy` builds: the
    batch dimension is sliced, the stored weight-gradient ``x`` and the
    stored input-gradient ``W`` are transposed here.
    """
    for _ in range(epochs):
        for r in rows:
            for i in range(kinds.shape[0]):
                if kinds[i] == FORWARD:
                    np.dot(lhs[i][:r], rhs[i], out[i][:r])
                elif kinds[i] == WEIGHT_GRAD:
                    np.dot(lhs[i][:r].T, rhs[i][:r], out[i])
                else:
                    np.dot(lhs[i][:r], rhs[i].T, out[i][:r])


@functools.cache
def _compiled_products_loop():
    """:func:`_products_loop` compiled with fastnn's own decorator (its JIT options, its disk cache).

    Built on first use, not at import, so that ``fastnn compare`` without
    ``--grid`` (and the asv suite's import) registers no extra dispatcher.
    ``opaque_kernel``: serial, a real function, like fastnn's own BLAS calls.
    """
    from fastnn.kernels._jit import opaque_kernel

    return opaque_kernel(_products_loop)


class ProductFloor:
    """The matrix products of one shape's fit, alone; operands allocated once, in the shape's dtype.

    For every product ``(m, k, n)`` of :meth:`GridShape.products_by_role`
    (``m`` rows of the result, ``k`` the inner dimension, ``n`` its
    columns) the operands have the memory layout a training step gives them:

    ===============  ===============  ====================================================
    role             product          operands
    ===============  ===============  ====================================================
    ``forward``      ``x @ W``        ``x`` (m, k) C-contiguous @ ``W`` (k, n) C-contiguous
    ``weight_grad``  ``x.T @ delta``  ``x`` stored (k, m), its transposed view (m, k),
                                      @ ``delta`` (k, n) C-contiguous
    ``input_grad``   ``delta @ W.T``  ``delta`` (m, k) C-contiguous @ ``W`` stored (n, k),
                                      its transposed view (k, n)
    ===============  ===============  ====================================================

    and the results go into preallocated C-contiguous (m, n) outputs.  One
    epoch is ``batches_per_epoch`` batches: full ones of ``batch_size`` rows
    and a last one with the rows left over (the batch dimension is ``m`` of
    the forward and input-gradient products and ``k`` of the weight
    gradient), so an epoch does exactly ``madds_per_epoch()`` multiply-adds.
    Contents are random: BLAS time does not depend on them.
    """

    def __init__(self, shape: GridShape, seed: int = 0):
        dtype = np.dtype(shape.dtype)
        batch = min(shape.batch_size, shape.n_rows)
        full, rest = divmod(shape.n_rows, batch)
        self.rows = np.array([batch] * full + ([rest] if rest else []), dtype=np.int64)
        rng = np.random.default_rng(seed)
        self.kinds, self.lhs, self.rhs, self.out = [], [], [], []
        for role, (m, k, n) in shape.products_by_role():
            stored = {"forward": ((m, k), (k, n)), "weight_grad": ((k, m), (k, n)),
                      "input_grad": ((m, k), (n, k))}[role]
            self.kinds.append(_ROLE_CODES[role])
            self.lhs.append(rng.standard_normal(stored[0]).astype(dtype))
            self.rhs.append(rng.standard_normal(stored[1]).astype(dtype))
            self.out.append(np.empty((m, n), dtype))
        self.kinds = np.array(self.kinds, dtype=np.int64)
        # the views of a batch of each size, made once: the timed loop is the np.dot calls alone
        views = {r: [self._views(i, int(r)) for i in range(len(self.kinds))] for r in set(self.rows.tolist())}
        self._epoch = [views[r] for r in self.rows.tolist()]
        self._typed = None

    def _views(self, i: int, r: int):
        """``(a, b, out)`` of product ``i`` for a batch of ``r`` rows (the layouts of the class docstring)."""
        a, b, c = self.lhs[i], self.rhs[i], self.out[i]
        if self.kinds[i] == FORWARD:
            return a[:r], b, c[:r]
        if self.kinds[i] == WEIGHT_GRAD:
            return a[:r].T, b[:r], c
        return a[:r], b.T, c[:r]

    def numpy(self, epochs: int) -> None:
        """The products of ``epochs`` epochs through NumPy: ``np.dot(a, b, out=c)`` per product and batch."""
        dot = np.dot
        for _ in range(epochs):
            for batch in self._epoch:
                for a, b, c in batch:
                    dot(a, b, out=c)

    def compiled(self, epochs: int) -> None:
        """The same products from one compiled loop (:func:`_products_loop`): no Python between calls."""
        if self._typed is None:  # typed lists of the arrays, built once (outside the timed calls)
            from numba.typed import List

            self._typed = tuple(List(arrays) for arrays in (self.lhs, self.rhs, self.out))
        _compiled_products_loop()(self.kinds, *self._typed, self.rows, epochs)


def peak_gflops(dtype: str, size: int = PEAK_SIZE, tries: int = PEAK_TRIES) -> float:
    """The machine's peak rate in ``dtype`` at the current thread count, in GFLOP/s (2 flops per multiply-add).

    The best of ``tries`` ``np.dot`` of two ``size`` x ``size`` matrices,
    after one untimed product (thread pool start, page faults): a square
    product that large runs BLAS at its best, so no product of a fit can be
    expected to run faster.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    c = np.empty((size, size), dtype)
    np.dot(a, b, out=c)
    best = math.inf
    for _ in range(tries):
        start = time.perf_counter()
        np.dot(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9
