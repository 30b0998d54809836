"""Feature-major training step for narrow networks: every inner loop runs over the samples.

The row-major step (:func:`fastnn.kernels.train.batch_loss_grad`) walks one
sample at a time, with inner loops over a layer's outputs.  For the seed
networks (2-4-1, 2-3-1, a single neuron) those loops are one to four
iterations long: nothing vectorises and loop overhead is the cost
(docs/design.md, "The feature-major step for narrow networks").

Here a batch and every activation are stored transposed, ``(units,
samples)``, so each loop below has the batch as its contiguous inner loop:

- forward: ``out[j, :] = b[j] + sum_p w[p, j] * in[p, :]`` (multiply-adds
  over samples, inputs in order ``p = 0..d-1``), then the activation over the
  whole ``(k, nb)`` block (softmax per column);
- backward: ``grad_w[p, j] = sum_i in[p, i] * delta[j, i]`` and
  ``grad_b[j] = sum_i delta[j, i]`` (sums over samples),
  ``grad_x[p, :] = sum_j w[p, j] * delta[j, :]`` (multiply-adds over samples).

The sums over samples vectorise only if their order may change: the entry
points (:func:`fm_batch_loss_grad`, :func:`fm_dataset_loss`, and inference's
:func:`fastnn.kernels.inference.fm_forward_tile`) are compiled with
:data:`fastnn.config.VECTOR_FASTMATH` (``reassoc``, ``contract``) by
:func:`fastnn.kernels._jit.vector_kernel`, serially, so the result does not
depend on the thread count and differs from the row-major step by rounding
only; and without Numba's reference counting (see ``vector_kernel``).
``fastnn.kernels.train.train_epochs_narrow``, the epoch loop's feature-major
variant, calls them for narrow networks (:func:`fastnn.kernels.train.is_narrow`);
the epoch loop itself (lr schedule, shuffling, divergence checks, early
stopping) is the same source as the row-major loop's.

The KERAS loss convention only (the model API: no sample weights); the
scikit-learn estimators keep the row-major step.
"""

from __future__ import annotations

import numpy as np

from fastnn.activations import SOFTMAX
from fastnn.contract import A_COL, ACT, B_OFF, N_IN, N_OUT, W_OFF
from fastnn.kernels import vmath
from fastnn.kernels._jit import serial_kernel, vector_kernel
from fastnn.kernels.activations import activate_row, activation_backward_row
from fastnn.kernels.losses import loss_from_sum, loss_row_sum, scaled_difference_row
from fastnn.kernels.network import update_layers
from fastnn.losses import CATEGORICAL_CROSSENTROPY, MSE

# Blocks are flat 1-D slices (unit j, sample i at ``j * nb + i``) indexed from 0 by the loop variable: a
# reshape or an offset index costs more than a layer here (docs/design.md, "The feature-major step").


@serial_kernel
def fm_gather(src, perms, e, start, out):
    """``out`` (d, nb) block = rows ``perms[e, start:start + nb]`` of ``src`` (n, d), transposed.

    ``perms`` with no rows means the identity order.  (Indexing ``perms``
    here instead of taking the view ``perms[e]`` per epoch: a view costs an
    atomic reference-count pair outside this NRT-free code.)
    """
    d = src.shape[1]
    nb = out.shape[0] // d
    shuffled = perms.shape[0] > 0
    for i in range(nb):
        r = perms[e, start + i] if shuffled else start + i
        for p in range(d):
            out[p * nb + i] = src[r, p]


@serial_kernel
def fm_activate(z, k, nb, code):
    """Apply activation ``code`` in place to the (k, nb) block ``z``.

    Elementwise activations run over the whole block at once; softmax is
    taken over each column (one sample), subtracting the column max.
    """
    if code != SOFTMAX:
        activate_row(z, z, code)
        return
    zero = z.dtype.type(0.0)
    for i in range(nb):
        m = z[i]
        for j in range(1, k):
            if z[j * nb + i] > m:
                m = z[j * nb + i]
        s = zero
        for j in range(k):
            e = vmath.exp(z[j * nb + i] - m)
            z[j * nb + i] = e
            s += e
        for j in range(k):
            z[j * nb + i] = z[j * nb + i] / s


@serial_kernel
def fm_activation_backward(a, g, k, nb, code):
    """Turn the (k, nb) block ``g`` of ``dL/da`` into ``dL/dz`` in place; ``a`` is the layer's output block.

    Softmax per column: ``a * (g - sum_j g[j] a[j])``.
    """
    if code != SOFTMAX:
        activation_backward_row(a, g, g, code)
        return
    zero = g.dtype.type(0.0)
    for i in range(nb):
        s = zero
        for j in range(k):
            s += g[j * nb + i] * a[j * nb + i]
        for j in range(k):
            g[j * nb + i] = a[j * nb + i] * (g[j * nb + i] - s)


@serial_kernel
def fm_combine_rows(row, init, w, w_start, w_step, src, m, nb):
    """``row = init + sum_q w[w_start + q * w_step] * src[q, :]`` for the m rows of the (m, nb) block ``src``.

    Rows are added in order q = 0..m-1, each a multiply-add over the batch.
    """
    for i in range(nb):
        row[i] = init
    for q in range(m):
        c = w[w_start + q * w_step]
        src_row = src[q * nb:(q + 1) * nb]
        for i in range(nb):
            row[i] += c * src_row[i]


@serial_kernel
def fm_dense_forward(inp, w, b, out, d, k, nb):
    """(k, nb) block ``out = w.T @ inp + b`` before the activation; ``inp`` (d, nb), ``w`` (d, k) flat.

    Output j starts at ``b[j]`` and adds ``w[p, j] * inp[p, :]`` for p = 0..d-1.
    """
    for j in range(k):
        fm_combine_rows(out[j * nb:(j + 1) * nb], b[j], w, j, k, inp, d, nb)


@serial_kernel
def fm_dense_grads(inp, delta, grad_w, grad_b, d, k, nb):
    """``grad_w = inp @ delta.T`` (d, k) and ``grad_b = delta.sum(1)`` (k,), flat: sums over the samples."""
    zero = grad_w.dtype.type(0.0)
    for p in range(d):
        src = inp[p * nb:(p + 1) * nb]
        for j in range(k):
            drow = delta[j * nb:(j + 1) * nb]
            s = zero
            for i in range(nb):
                s += src[i] * drow[i]
            grad_w[p * k + j] = s
    for j in range(k):
        drow = delta[j * nb:(j + 1) * nb]
        s = zero
        for i in range(nb):
            s += drow[i]
        grad_b[j] = s


@serial_kernel
def fm_grad_input(w, delta, grad_x, d, k, nb):
    """(d, nb) block ``grad_x = w @ delta``; ``w`` (d, k) flat, ``delta`` (k, nb)."""
    zero = grad_x.dtype.type(0.0)
    for p in range(d):
        fm_combine_rows(grad_x[p * nb:(p + 1) * nb], zero, w, p * k, 1, delta, k, nb)


@serial_kernel
def fm_forward(xb, nb, theta, layout, abuf, batch_size):
    """Forward pass of the (d0, nb) block ``xb`` through every layer; returns the output block (k_last, nb).

    Layer ``l``'s outputs land at ``abuf[batch_size * layout[l, A_COL]:]``.
    """
    inp = xb[:layout[0, N_IN] * nb]
    for l in range(layout.shape[0]):
        d = layout[l, N_IN]
        k = layout[l, N_OUT]
        w_off = layout[l, W_OFF]
        start = batch_size * layout[l, A_COL]
        out = abuf[start:start + k * nb]
        fm_dense_forward(inp, theta[w_off:w_off + d * k], theta[layout[l, B_OFF]:layout[l, B_OFF] + k], out, d, k, nb)
        fm_activate(out, k, nb, layout[l, ACT])
        inp = out
    return inp


@vector_kernel
def fm_batch_loss_grad(xb, yb, nb, theta, grad, layout, loss_code, eps, abuf, dbuf, dbuf_other, batch_size):
    """Loss of one batch (float64, before the update) and its gradient into ``grad``; feature-major.

    Parameters
    ----------
    xb : ndarray
        The batch, transposed: its first ``d0 * nb`` values are (d0, nb) (:func:`fm_gather`).
    yb : ndarray
        Its targets, transposed: (k_last, nb).
    nb : int
        Samples in the batch.
    theta, grad : ndarray (P,)
        Flat parameters and gradient (see :mod:`fastnn.kernels.train`).
    layout : ndarray of int64 (n_layers, 6)
    loss_code : int
        A :mod:`fastnn.losses` code; KERAS convention (batch mean).
    eps : float
        Probability clip of the log losses.
    abuf : ndarray
        Layer ``l``'s activations, (k, nb), at ``batch_size * layout[l, A_COL]``.
    dbuf, dbuf_other : ndarray
        Two scratch buffers of at least ``max width * nb`` values.
    batch_size : int
        The fit's batch size (the stride of ``abuf``'s layer blocks).

    Returns
    -------
    float
        The batch loss.
    """
    n_layers = layout.shape[0]
    last = n_layers - 1
    t = theta.dtype.type

    p = fm_forward(xb, nb, theta, layout, abuf, batch_size)
    k_last = layout[last, N_OUT]
    count = k_last * nb
    y = yb[:count]

    # loss, and dL/dz of the output layer: the row-major step's formulas, over the whole block
    value = loss_from_sum(loss_row_sum(p, y, loss_code, eps), loss_code, nb, count)
    if loss_code == MSE:
        scale = t(2.0) / t(count)
    elif loss_code == CATEGORICAL_CROSSENTROPY:
        scale = t(1.0) / t(nb)
    else:  # binary cross-entropy, Poisson
        scale = t(1.0) / t(count)
    scaled_difference_row(p, y, dbuf[:count], scale)  # dL/dp (MSE) or, fused, dL/dz (cross-entropy, Poisson)

    # backward: cur holds dL/da of layer l (dL/dz for the output layer of a fused loss), (k, nb) from offset 0
    cur = dbuf
    other = dbuf_other
    for l in range(last, -1, -1):
        d = layout[l, N_IN]
        k = layout[l, N_OUT]
        w_off = layout[l, W_OFF]
        delta = cur[:k * nb]
        if l < last or loss_code == MSE:  # dL/da -> dL/dz (one call site for every layer: less code to compile)
            a_start = batch_size * layout[l, A_COL]
            fm_activation_backward(abuf[a_start:a_start + k * nb], delta, k, nb, layout[l, ACT])
        if l == 0:
            inp = xb[:d * nb]
        else:
            in_start = batch_size * layout[l - 1, A_COL]
            inp = abuf[in_start:in_start + d * nb]
        fm_dense_grads(inp, delta, grad[w_off:w_off + d * k], grad[layout[l, B_OFF]:layout[l, B_OFF] + k], d, k, nb)
        if l > 0:
            fm_grad_input(theta[w_off:w_off + d * k], delta, other[:d * nb], d, k, nb)
            cur, other = other, cur
    return value


@serial_kernel
def fm_train_batch(X, Y, perms, e, start, nb, gather, xb, yb, theta, grad, s1, s2, layout, loss_code, eps,
                   opt_code, hyper, lr, step, weight_decay, abuf, dbuf, dbuf_other, batch_size):
    """One training step of a narrow network: gather the batch, loss and gradient, optimizer update.

    The batch is rows ``perms[e, start:start + nb]`` of ``X``/``Y`` (``perms``
    with no rows: ``start..start + nb - 1``), gathered transposed into ``xb``/``yb``
    when ``gather`` is true (a single unshuffled batch is gathered once per
    fit).  The update runs only when the loss is finite (the caller then
    restores the epoch's starting point).  Returns the batch loss (float64).

    Inlined into the epoch loop's narrow variant, which is compiled without
    reference counting (``_nrt=False``): no array is allocated here, and the
    ~30 array slices of a step cost nothing.  The loss and gradient are one
    real call per batch (:func:`fm_batch_loss_grad`, a vector kernel): one
    compiled copy, instead of its inlined body copied and typed again here
    (measured: a cold first xor fit 17.5 s -> 12.5 s of CPU time).
    """
    d0 = X.shape[1]
    if gather:
        fm_gather(X, perms, e, start, xb[:nb * d0])
        fm_gather(Y, perms, e, start, yb[:nb * Y.shape[1]])
    value = fm_batch_loss_grad(xb, yb, nb, theta, grad, layout, loss_code, eps, abuf, dbuf, dbuf_other, batch_size)
    if np.isfinite(value):
        update_layers(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, layout)
    return value


@vector_kernel
def fm_dataset_loss(X, Y, theta, layout, loss_code, eps, batch_size, xb, yb, abuf, rowloss):
    """Loss of the whole data set (float64), in batches of ``batch_size`` rows; feature-major.

    The parameters of :func:`fastnn.kernels.train.dataset_loss` (``rowloss`` is not used here), so
    either can serve a caller.

    The narrow loop's validation loss: the same value as
    :func:`fastnn.kernels.train.dataset_loss` up to rounding.
    """
    n, d0 = X.shape
    k_last = Y.shape[1]
    no_perms = layout[:0]  # an empty int64 2-D array: the identity order, without allocating
    total = 0.0
    for start in range(0, n, batch_size):
        nb = min(batch_size, n - start)
        fm_gather(X, no_perms, 0, start, xb[:nb * d0])
        fm_gather(Y, no_perms, 0, start, yb[:nb * k_last])
        p = fm_forward(xb, nb, theta, layout, abuf, batch_size)
        total += loss_row_sum(p, yb[:nb * k_last], loss_code, eps)
    return loss_from_sum(total, loss_code, n, n * k_last)
