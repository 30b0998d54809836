"""Fused loops: whole epochs of training, and the data-set loss, in compiled code (inference: :mod:`fastnn.kernels.inference`).

A network is ``theta`` (every parameter in one flat array) and its
``layout``, as the training-loop contract (:mod:`fastnn.contract`) defines
them; so are the entry points' parameters, the hyper-parameter slots, the
loss conventions, the status codes and the loop state.

Every buffer is allocated once per fit by the caller (:mod:`fastnn.training`,
:mod:`fastnn.sklearn`) and passed in; the loops never allocate per batch.  The math is the row
helpers of :mod:`fastnn.kernels.dense`, :mod:`~fastnn.kernels.losses` and
:mod:`~fastnn.kernels.optim`, the same code the single-kernel API runs, and
every parallel loop owns the rows it writes, so results do not depend on the
number of threads.

The epoch loop comes in two variants compiled from one source
(:func:`fastnn.kernels._jit.variant`): ``train_epochs`` runs the row-major
step below (BLAS for wide layers) for every network and both conventions;
``train_epochs_narrow`` runs the feature-major step of
:mod:`fastnn.kernels.feature_major` for narrow networks (:func:`is_narrow`)
in the KERAS convention, serially and without reference counting.
:func:`pick_train_epochs` chooses; both follow the semantics below.

Two loss conventions (``convention``):

- ``KERAS`` (the model API): the registry's losses (:mod:`fastnn.losses`),
  mean over the batch, L2 ``weight_decay`` added to the weight gradients;
  with sample weights ``sw`` (``Sequential.fit``'s ``class_weight``), Keras'
  default reduction: ``sum_i sw_i l_i / nb`` (divided by the batch size, not
  by ``sum(sw)``), its gradient ``sw_i`` times the unweighted row's;
- ``SKLEARN`` (:mod:`fastnn.sklearn`): scikit-learn's MLP definitions, with
  optional sample weights ``sw``: the output delta is ``(p - y) sw_i / sum(sw)``
  for every loss (canonical link), squared error is ``0.5 mean_outputs(
  weighted mean_samples((p - y)**2))``, log losses and (half) Poisson deviance
  are summed over outputs and averaged over samples, and the L2 term
  ``0.5 alpha ||W||^2 / sum(sw)`` is added to the loss and ``alpha W / sum(sw)``
  to the weight gradients.  A non-finite loss does not stop this convention
  (scikit-learn checks the weights after the fit).

Semantics (the NumPy backend's per-batch loop in :mod:`fastnn.reference.train`
follows the same steps):

1. for each epoch, the learning rate is ``lr / (1 + decay * epoch)``;
2. batches are consecutive slices of the epoch's row order ``perms[e]``
   (or of ``0..n-1`` when ``perms`` is empty); the last one may be partial;
3. each batch: forward, loss (before the update), output delta, backward,
   one optimizer step (Adam's step counter counts batches);
4. the epoch loss is the sample-weighted mean of the batch losses;
5. a non-finite batch loss, or non-finite parameters at the end of an
   epoch, stops the loop (KERAS convention) and restores the parameters,
   optimizer state and step of the start of the epoch with the lowest finite
   training loss so far in this fit (an epoch's loss is measured from the
   weights it starts with; with none yet, the start of the diverging epoch):
   the two snapshot slots swap roles instead of copying;
6. with validation data the validation loss is computed after each epoch;
   with ``patience >= 0`` the monitored loss (validation if given, else
   training) drives early stopping and ``best`` keeps the best parameters.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fastnn.config import NARROW_MAX_WIDTH, ROW_BLOCK_MIN_ROWS
from fastnn.config import UPDATE_CHUNK as CHUNK
from fastnn.contract import (
    A_COL, ACT, B_OFF, H_ALPHA, H_DECAY, H_LR, H_MIN_DELTA, H_WEIGHT_DECAY, KERAS, N_IN, N_OUT, NON_FINITE, OK,
    S_BEST, S_BEST_EPOCH, S_EPOCH0, S_KEPT_EPOCH, S_KEPT_LOSS, S_KEPT_SLOT, S_KEPT_STEP, S_N_EPOCHS,
    S_STEP0, S_WAIT, SKLEARN, STOPPED_EARLY, W_OFF, require_parameters,
)
from fastnn.kernels._jit import (
    KernelPair, _build_copy, kernel, opaque_variant, serial_kernel, variant, vector_kernel,
)
from fastnn.kernels.activations import activate_block, activation_backward_block
from fastnn.kernels import vmath
from fastnn.kernels.blas import has_large_weights, product_forward, product_input_grad, product_weight_grad
from fastnn.kernels.dense import add_bias_rows, grad_b_sum
from fastnn.kernels.feature_major import fm_dataset_loss, fm_train_batch
from fastnn.kernels.inference import predict_rows
from fastnn.kernels.losses import _sum_rows, loss_from_sum, loss_row_sum, scaled_difference_row
from fastnn.kernels.network import update_range
from fastnn.losses import CATEGORICAL_CROSSENTROPY, MSE, POISSON


@serial_kernel
def forward_batch(x, theta, layout, abuf, batch_size, row0, split):
    """Forward pass of ``x`` (nb rows) through every layer; returns the output view (nb, k_last).

    ``x`` holds rows ``row0..row0 + nb - 1`` of a batch: layer ``l``'s
    outputs land in those rows of its activation block,
    ``abuf[batch_size * A_COL + row0 * k:]`` (so row blocks of one batch can
    run side by side).  Each layer is one BLAS product into its activation
    block, then one pass adding the bias and one applying the activation over
    the whole block (:func:`~fastnn.kernels.activations.activate_block`).
    ``split``: large products are split by columns between threads
    (:mod:`fastnn.kernels.blas`; training only, where BLAS runs on one thread).
    """
    nb = x.shape[0]
    inp = x
    for l in range(layout.shape[0]):
        d = layout[l, N_IN]
        k = layout[l, N_OUT]
        w = theta[layout[l, W_OFF]:layout[l, W_OFF] + d * k].reshape((d, k))
        b = theta[layout[l, B_OFF]:layout[l, B_OFF] + k]
        start = batch_size * layout[l, A_COL] + row0 * k
        block = abuf[start:start + nb * k]
        out = block.reshape((nb, k))
        product_forward(inp, w, out, split)
        add_bias_rows(out, b)
        activate_block(block, nb, k, layout[l, ACT])
        inp = out
    return inp


#: A real call (one compiled copy) for dataset_loss, which never splits products by columns: inlining the
#: forward pass into each of its builds would only compile it again.
forward_batch_call = opaque_variant(forward_batch.py_func, "_call")


@serial_kernel
def backward_batch(x, theta, grad, layout, abuf, dbuf, dbuf_other, batch_size, row0, split, output_is_da):
    """Back-propagate ``dbuf`` (nb rows: rows ``row0..`` of the batch, see :func:`forward_batch`) into ``grad``.

    ``dbuf`` holds dL/dz of the last layer, or dL/da when ``output_is_da``
    (MSE: the activation's derivative is applied here, at the same call site
    as every hidden layer's, which keeps the compiled code smaller).  Per
    layer: the activation's derivative over the whole block, then
    ``x.T @ delta`` and ``delta @ W.T`` through BLAS and the bias gradient
    as column sums.
    """
    nb = x.shape[0]
    n_layers = layout.shape[0]
    cur = dbuf
    other = dbuf_other
    for l in range(n_layers - 1, -1, -1):
        d = layout[l, N_IN]
        k = layout[l, N_OUT]
        delta = cur[:nb * k].reshape((nb, k))
        if l < n_layers - 1 or output_is_da:  # cur holds dL/da of this layer: turn it into dL/dz
            a_start = batch_size * layout[l, A_COL] + row0 * k
            activation_backward_block(abuf[a_start:a_start + nb * k], cur[:nb * k], nb, k, layout[l, ACT])
        if l == 0:
            inp = x
        else:
            p_start = batch_size * layout[l - 1, A_COL] + row0 * d
            inp = abuf[p_start:p_start + nb * d].reshape((nb, d))
        product_weight_grad(inp, delta, grad[layout[l, W_OFF]:layout[l, W_OFF] + d * k].reshape((d, k)), split)
        grad_b_sum(delta, grad[layout[l, B_OFF]:layout[l, B_OFF] + k])
        if l > 0:
            w = theta[layout[l, W_OFF]:layout[l, W_OFF] + d * k].reshape((d, k))
            product_input_grad(delta, w, other[:nb * d].reshape((nb, d)), split)
            cur, other = other, cur


@kernel
def update_segment(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, start, stop):
    """One optimizer step on ``theta[start:stop]`` (chunks of CHUNK elements in parallel)."""
    n_chunks = (stop - start + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = start + c * CHUNK
        update_range(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, lo, min(stop, lo + CHUNK))


@serial_kernel
def gather_rows(src, rows, start, out):
    """``out[i] = src[rows[start + i]]`` for the nb rows of ``out`` (rows empty: identity order).

    Inlined: its ``prange`` runs in parallel inside the parallel builds of the loops, serially otherwise.
    """
    nb, width = out.shape
    for i in prange(nb):
        r = rows[start + i] if rows.shape[0] > 0 else start + i
        for j in range(width):
            out[i, j] = src[r, j]


@vector_kernel
def squared_weight_norm(theta, layout):
    """Sum of squares of every weight matrix (not the biases), in float64.

    A vector kernel (:func:`fastnn.kernels._jit.vector_kernel`): the sum may
    be reassociated, so it vectorises (8 us instead of 46 us for 79,000
    float32 weights, measured); serial, so the order is fixed for a build
    whatever the thread count.  The SKLEARN convention adds it to every
    batch loss.
    """
    total = 0.0
    for l in range(layout.shape[0]):
        w = theta[layout[l, W_OFF]:layout[l, W_OFF] + layout[l, N_IN] * layout[l, N_OUT]]
        for i in range(w.shape[0]):
            v = np.float64(w[i])
            total += v * v
    return total


@serial_kernel
def poisson_deviance_constant(y):
    """Row sum of ``xlogy(y, y) - y``: the term of scikit-learn's half Poisson deviance without ``p``."""
    s = 0.0
    for j in range(y.shape[0]):
        t = np.float64(y[j])
        if t > 0.0:
            s += t * vmath.log(t)
        s -= t
    return s


@kernel
def sum_gradient_slots(grad, n_params, n_blocks):
    """``grad[:P] = slot 0 + slot 1 + ...`` in block order (parallel over chunks of parameters)."""
    n_chunks = (n_params + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = c * CHUNK
        hi = min(n_params, lo + CHUNK)
        acc = grad[lo:hi]
        for b in range(1, n_blocks):
            part = grad[b * n_params + lo:b * n_params + hi]
            for i in range(hi - lo):
                acc[i] += part[i]


@kernel
def add_scaled(grad, theta, scale, start, stop):
    """``grad[start:stop] += scale * theta[start:stop]``, in chunks of UPDATE_CHUNK (in parallel in the parallel build)."""
    n_chunks = (stop - start + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = start + c * CHUNK
        g = grad[lo:min(stop, lo + CHUNK)]
        w = theta[lo:min(stop, lo + CHUNK)]
        for i in range(g.shape[0]):
            g[i] += scale * w[i]


@serial_kernel
def max_width(layout):
    """The widest layer input or output of a network (the row stride of the delta buffers' row blocks)."""
    width = layout[0, N_IN]
    for l in range(layout.shape[0]):
        width = max(width, layout[l, N_OUT])
    return width


def _block_loss_grad(x, y, sw, theta, grad, layout, loss_code, convention, eps, abuf, dbuf, dbuf_other, rowloss,
                     batch_size, row0, scale, inv_weight_sum):
    """Forward, loss, output delta and backward of one row block of a batch; returns its float64 loss sum.

    The block is rows ``row0..row0 + nb - 1`` of the batch (``x``, ``y``,
    ``sw`` are its rows; ``dbuf``/``dbuf_other`` its own scratch).  Its
    weight gradients go to ``grad`` (its own gradient slot).  The sum is
    the sample-weighted sum of the per-element losses (the weighted rows'
    terms are also written to ``rowloss[row0:]``); ``scale`` turns ``p - y``
    into the output delta; weighted rows use ``sw_i * inv_weight_sum`` instead
    (SKLEARN: ``1 / sum(sw)``; KERAS: ``scale`` itself, Keras' weighted mean).
    """
    nb = x.shape[0]
    k_last = y.shape[1]
    count = nb * k_last
    weighted = sw.shape[0] > 0
    split = has_large_weights(layout, nb)  # (never true inside row blocks: contract.row_blocks)
    if PARALLEL_BUILD:  # inlined into the parallel build: its column-split products run side by side
        out = forward_batch(x, theta, layout, abuf, batch_size, row0, split)
    else:  # the serial copy calls the forward pass inference uses too: compiled once
        out = forward_batch_call(x, theta, layout, abuf, batch_size, row0, split)
    p = out.reshape(count)  # the output and target blocks, flat: whole-block loops, no per-row views
    yf = y.reshape(count)
    sklearn_poisson = convention == SKLEARN and loss_code == POISSON
    delta = dbuf[:count]
    if weighted:
        t = theta.dtype.type
        for i in range(nb):
            r = loss_row_sum(p[i * k_last:(i + 1) * k_last], yf[i * k_last:(i + 1) * k_last], loss_code, eps)
            if sklearn_poisson:
                r += poisson_deviance_constant(yf[i * k_last:(i + 1) * k_last])
            rowloss[row0 + i] = r * sw[i]
            row_scale = t(sw[i] * inv_weight_sum)
            for j in range(i * k_last, (i + 1) * k_last):
                delta[j] = row_scale * (p[j] - yf[j])
        total = _sum_rows(rowloss[row0:row0 + nb])
    else:
        total = loss_row_sum(p, yf, loss_code, eps)
        if sklearn_poisson:
            total += poisson_deviance_constant(yf)
        scaled_difference_row(p, yf, delta, scale)  # dL/dp (MSE) or, fused, dL/dz (cross-entropy, Poisson)
    # KERAS MSE: delta is dL/dp, and backward_batch applies the output activation's derivative
    backward_batch(x, theta, grad, layout, abuf, dbuf, dbuf_other, batch_size, row0, split,
                   convention == KERAS and loss_code == MSE)
    return total


#: Inlined where a batch is one block (its column-split products then run in parallel in the parallel build).
block_loss_grad = serial_kernel(_build_copy(_block_loss_grad, "_inlined", parallel=True))
#: A real call in the row blocks' ``prange`` body: one serial copy instead of the whole step inlined into the
#: parallel build's parfor (whose passes made the first parallel fit compile ~3x longer than the serial one).
#: Row blocks never split products by columns (contract.row_blocks), so the serial copy loses nothing.
block_loss_grad_call = opaque_variant(_block_loss_grad, "_call")


@kernel
def batch_loss_grad(x, y, sw, theta, grad, layout, loss_code, convention, alpha, eps,
                    abuf, dbuf, dbuf_other, rowloss, batch_size):
    """Loss of one batch (float64, before any update) and its gradient into ``grad`` (L2 term included).

    ``sw`` holds the batch's sample weights, or is empty for unit weights.
    Returns ``(loss, weight_sum)``; ``weight_sum`` is ``sum(sw)`` (or the
    batch size), by which the SKLEARN convention divides its loss and L2
    term (KERAS divides by the batch size, weighted or not).

    ``grad`` holds ``n_blocks`` gradient slots of P values (the caller
    sizes it with :func:`fastnn.contract.row_blocks`); the batch is cut into
    that many row blocks (fewer for a short last batch, at least
    :data:`fastnn.config.ROW_BLOCK_MIN_ROWS` rows each), each block runs its
    whole forward and backward pass on its own rows (in parallel in the
    parallel build, one BLAS thread each) into its own slot, and the slots
    are summed into ``grad[:P]`` in block order.  The cut depends on the batch
    and ``grad`` only, never on the thread count, so results do not either.
    """
    nb = x.shape[0]
    k_last = y.shape[1]
    n_params = theta.shape[0]
    weighted = sw.shape[0] > 0
    n_blocks = max(1, min(grad.shape[0] // n_params, nb // ROW_BLOCK_MIN_ROWS))
    weight_sum = _sum_rows(sw) if weighted else np.float64(nb)
    t = theta.dtype.type
    inv_weight_sum = 1.0 / weight_sum
    if convention == SKLEARN:
        scale = t(inv_weight_sum)
    elif loss_code == MSE:
        scale = t(2.0) / t(nb * k_last)
    elif loss_code == CATEGORICAL_CROSSENTROPY:
        scale = t(1.0) / t(nb)
    else:  # binary cross-entropy, Poisson
        scale = t(1.0) / t(nb * k_last)
    if convention == KERAS:  # Keras' weighted mean: sum(sw_i l_i) / nb, so weighted rows' delta is sw_i * scale
        inv_weight_sum = np.float64(scale)
    if n_blocks == 1 and PARALLEL_BUILD:  # inlined here: its column-split products run in parallel
        total = block_loss_grad(x, y, sw, theta, grad, layout, loss_code, convention, eps, abuf, dbuf, dbuf_other,
                                rowloss, batch_size, 0, scale, inv_weight_sum)
    else:  # row blocks, and every batch of the serial build: one call site of the one compiled copy of the step
        width = max_width(layout)
        for c in prange(n_blocks):
            r0 = c * nb // n_blocks
            r1 = (c + 1) * nb // n_blocks
            # (a weighted block's row terms sit in rowloss[r0:r1]; they are summed before r0 takes the block's sum)
            rowloss[r0] = block_loss_grad_call(x[r0:r1], y[r0:r1], sw[r0:r1] if weighted else sw, theta,
                                               grad[c * n_params:(c + 1) * n_params], layout, loss_code, convention,
                                               eps, abuf, dbuf[r0 * width:r1 * width],
                                               dbuf_other[r0 * width:r1 * width], rowloss, batch_size, r0, scale,
                                               inv_weight_sum)
        total = 0.0
        for c in range(n_blocks):
            total += rowloss[c * nb // n_blocks]
        if n_blocks > 1:
            sum_gradient_slots(grad, n_params, n_blocks)
    if convention == SKLEARN:
        if loss_code == MSE:
            value = 0.5 * total / (weight_sum * k_last)
        elif loss_code == POISSON:
            value = total / weight_sum
        else:
            value = -total / weight_sum
        value += 0.5 * alpha * squared_weight_norm(theta, layout) / weight_sum
        # the gradient of the L2 term that value includes: alpha W / sum(sw)
        decay = t(alpha / weight_sum)
        for l in range(layout.shape[0]):
            start = layout[l, W_OFF]
            add_scaled(grad, theta, decay, start, start + layout[l, N_IN] * layout[l, N_OUT])
    else:
        value = loss_from_sum(total, loss_code, nb, nb * k_last)
    return value, weight_sum


@kernel
def dataset_loss(X, Y, theta, layout, loss_code, eps, batch_size, xb, yb, abuf, rowloss):
    """Loss of the whole data set, evaluated in batches of ``batch_size`` rows (float64)."""
    n, d0 = X.shape
    k_last = Y.shape[1]
    no_rows = np.empty(0, dtype=np.int64)
    total = 0.0
    for start in range(0, n, batch_size):
        nb = min(batch_size, n - start)
        x = xb[:nb * d0].reshape((nb, d0))
        y = yb[:nb * k_last].reshape((nb, k_last))
        gather_rows(X, no_rows, start, x)
        gather_rows(Y, no_rows, start, y)
        out = forward_batch_call(x, theta, layout, abuf, batch_size, 0, False)
        total += loss_row_sum(out.reshape(nb * k_last), y.reshape(nb * k_last), loss_code, eps)
    return loss_from_sum(total, loss_code, n, n * k_last)


@serial_kernel
def is_narrow(layout):
    """True when every layer has at most :data:`fastnn.config.NARROW_MAX_WIDTH` inputs and outputs.

    Such networks train feature-major (:mod:`fastnn.kernels.feature_major`):
    their per-sample loops over 1-16 units are too short to vectorise.
    """
    for l in range(layout.shape[0]):
        if layout[l, N_IN] > NARROW_MAX_WIDTH or layout[l, N_OUT] > NARROW_MAX_WIDTH:
            return False
    return True


@serial_kernel
def all_finite(a):
    """True when every element of ``a`` is finite."""
    for i in range(a.shape[0]):
        if not np.isfinite(a[i]):
            return False
    return True


@serial_kernel
def copy_into(src, src_start, dst, dst_start, count):
    """``dst[dst_start:+count] = src[src_start:+count]`` with a plain loop.

    Numba's slice assignment ``dst[a:b] = src`` goes through its general
    broadcasting and overlap machinery (~100 ns, measured), more than a
    whole epoch of the seed networks' arithmetic.
    """
    s = src[src_start:src_start + count]
    d = dst[dst_start:dst_start + count]
    for i in range(count):  # from 0 over slices: vectorises (see fastnn.kernels.optim)
        d[i] = s[i]


@serial_kernel
def save_snapshot(theta, s1, s2, snapshot, slot):
    """Save the parameters and optimizer state into snapshot slot ``slot`` (0 or 1) of 3 * P values."""
    n_params = theta.shape[0]
    base = slot * 3 * n_params
    copy_into(theta, 0, snapshot, base, n_params)
    copy_into(s1, 0, snapshot, base + n_params, s1.shape[0])
    copy_into(s2, 0, snapshot, base + 2 * n_params, s2.shape[0])


@serial_kernel
def restore_snapshot(theta, s1, s2, snapshot, slot):
    """Put back the parameters and optimizer state saved in snapshot slot ``slot``."""
    n_params = theta.shape[0]
    base = slot * 3 * n_params
    copy_into(snapshot, base, theta, 0, n_params)
    copy_into(snapshot, base + n_params, s1, 0, s1.shape[0])
    copy_into(snapshot, base + 2 * n_params, s2, 0, s2.shape[0])


#: Set by fastnn.kernels._jit in each build's copy of a kernel (True in the parallel build).
PARALLEL_BUILD = False

#: Compile-time switch of the two variants of the epoch loop (see :func:`fastnn.kernels._jit.variant`).
FEATURE_MAJOR = False


def _train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                  batch_size, patience, grad, snapshot, best, xb, yb, swb, abuf, dbuf, dbuf_other, rowloss,
                  perms, losses, val_losses, state):
    """Train for up to ``state[S_N_EPOCHS]`` epochs; returns ``(epochs_done, status, step)``.

    Parameters are :class:`fastnn.contract.FitArgs` then
    :class:`fastnn.contract.ChunkArgs`.  After a divergence (status
    NON_FINITE) ``step`` is the restored step, and ``state[S_KEPT_EPOCH]``
    says which epoch's start was restored (-1: the diverging epoch's own).
    """
    n, d0 = X.shape
    k_last = Y.shape[1]
    n_params = theta.shape[0]
    n_layers = layout.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    epoch0 = np.int64(state[S_EPOCH0])
    n_epochs = np.int64(state[S_N_EPOCHS])
    step0 = np.int64(state[S_STEP0])
    shuffle = perms.shape[0] > 0
    weighted = sw.shape[0] > 0
    no_rows = layout[0, :0]  # an empty int64 row order (no allocation: the narrow variant runs without NRT)
    alpha = hyper[H_ALPHA]
    step = step0
    if FEATURE_MAJOR and (convention != KERAS or weighted or not is_narrow(layout)):
        raise ValueError("train_epochs_narrow: KERAS convention, no sample weights and a narrow network only")
    # feature-major: xb/yb hold the batch transposed, and a single unshuffled batch is gathered once
    # (until validation reuses xb)
    gathered = False
    kept_slot = np.int64(state[S_KEPT_SLOT])  # the snapshot slot holding the start of the lowest-loss epoch
    kept_loss = state[S_KEPT_LOSS]
    have_kept = state[S_KEPT_EPOCH] >= 0.0
    for e in range(n_epochs):
        epoch = epoch0 + e
        step_at_start = step
        running = 1 - kept_slot  # the other slot saves this epoch's start
        if convention == KERAS:  # to undo the epoch if it diverges
            save_snapshot(theta, s1, s2, snapshot, running)
        lr = hyper[H_LR] / (1.0 + hyper[H_DECAY] * epoch)
        total = 0.0
        diverged = False
        for bi in range(n_batches):
            start = bi * batch_size
            nb = min(batch_size, n - start)
            weight_decay = 0.0 if convention == SKLEARN else hyper[H_WEIGHT_DECAY]  # SKLEARN: L2 is in grad
            step += 1
            if FEATURE_MAJOR:  # one call: gather, loss and gradient, update
                gather = shuffle or n_batches > 1 or not gathered
                batch_loss = fm_train_batch(X, Y, perms, e, start, nb, gather, xb, yb, theta, grad, s1, s2, layout,
                                            loss_code, eps, opt_code, hyper, lr, step, weight_decay,
                                            abuf, dbuf, dbuf_other, batch_size)
                gathered = True
            else:
                rows = perms[e] if shuffle else no_rows
                x = xb[:nb * d0].reshape((nb, d0))
                y = yb[:nb * k_last].reshape((nb, k_last))
                gather_rows(X, rows, start, x)
                gather_rows(Y, rows, start, y)
                w = swb[:nb if weighted else 0]
                if weighted:
                    gather_rows(sw.reshape((n, 1)), rows, start, swb[:nb].reshape((nb, 1)))
                batch_loss, weight_sum = batch_loss_grad(x, y, w, theta, grad, layout, loss_code, convention, alpha,
                                                         eps, abuf, dbuf, dbuf_other, rowloss, batch_size)
            if convention == KERAS and not np.isfinite(batch_loss):
                diverged = True
                break
            total += batch_loss * nb
            if not FEATURE_MAJOR:
                for l in range(n_layers):
                    w_start = layout[l, W_OFF]
                    b_start = layout[l, B_OFF]
                    b_stop = b_start + layout[l, N_OUT]
                    update_segment(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, w_start, b_start)
                    update_segment(theta, grad, s1, s2, opt_code, hyper, lr, step, 0.0, b_start, b_stop)
        # a finite loss, then an update that overflowed, diverges too
        if convention == KERAS and (diverged or not all_finite(theta)):
            if have_kept:
                restore_snapshot(theta, s1, s2, snapshot, kept_slot)
                return e, NON_FINITE, np.int64(state[S_KEPT_STEP])
            restore_snapshot(theta, s1, s2, snapshot, running)
            return e, NON_FINITE, step_at_start
        losses[e] = total / n
        if convention == KERAS and (not have_kept or losses[e] < kept_loss):
            kept_slot, kept_loss, have_kept = running, losses[e], True  # this epoch's start is kept: swap slots
            state[S_KEPT_LOSS] = kept_loss
            state[S_KEPT_EPOCH] = epoch
            state[S_KEPT_STEP] = step_at_start
            state[S_KEPT_SLOT] = kept_slot
        monitored = losses[e]
        if Xv.shape[0] > 0:
            if FEATURE_MAJOR:
                val_losses[e] = fm_dataset_loss(Xv, Yv, theta, layout, loss_code, eps, batch_size, xb, yb, abuf,
                                                rowloss)
                gathered = False  # the validation batches used xb and yb
            else:
                val_losses[e] = dataset_loss(Xv, Yv, theta, layout, loss_code, eps, batch_size, xb, yb, abuf,
                                             rowloss)
            monitored = val_losses[e]
        if patience >= 0:
            if monitored < state[S_BEST] - hyper[H_MIN_DELTA]:
                state[S_BEST] = monitored
                state[S_WAIT] = 0.0
                state[S_BEST_EPOCH] = epoch
                # not best[:] = theta (its shape-error path adds seconds of compile); a prange, so the parallel
                # build copies millions of parameters on every core (and has a parallel loop of its own)
                for i in prange(n_params):
                    best[i] = theta[i]
            else:
                state[S_WAIT] += 1.0
                if state[S_WAIT] >= patience:
                    return e + 1, STOPPED_EARLY, step
    return n_epochs, OK, step


require_parameters(_train_epochs, "train_epochs")
require_parameters(batch_loss_grad.serial.py_func, "batch_loss_grad")
require_parameters(dataset_loss.serial.py_func, "dataset_loss")

#: The epoch loop with the row-major step (every network, both loss conventions, sample weights).
train_epochs = variant(_train_epochs, "", FEATURE_MAJOR=False)

#: The same loop with the feature-major step (:mod:`fastnn.kernels.feature_major`): narrow networks
#: (:func:`is_narrow`), KERAS convention, no sample weights; :func:`pick_train_epochs` chooses.
train_epochs_narrow = variant(_train_epochs, "_narrow", nrt=False, FEATURE_MAJOR=True)


def pick_inference_by_width(narrow: bool):
    """``(predict_rows, dataset_loss)`` for a network; ``narrow``: :func:`is_narrow` holds for it.

    ``predict_rows`` is the tiled inference of :mod:`fastnn.kernels.inference`
    for every network.  Narrow networks evaluate feature-major:
    ``fm_dataset_loss`` is what their fits compile for validation anyway (a
    serial build, returned as a pair of itself).
    """
    if narrow:
        return predict_rows, KernelPair(fm_dataset_loss, fm_dataset_loss)
    return predict_rows, dataset_loss


def pick_train_epochs(layout, convention, weighted: bool):
    """The epoch-loop variant for a network: ``train_epochs_narrow`` where it applies, else ``train_epochs``."""
    if convention == KERAS and not weighted and is_narrow(layout):
        return train_epochs_narrow
    return train_epochs
