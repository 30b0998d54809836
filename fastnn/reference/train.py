"""The training loop in plain NumPy: the reference twin of :mod:`fastnn.kernels.train`.

Same functions, same signatures, same semantics (see that module's
docstring), written the way a user writes the loop after reading the seed
tutorials: per batch, the forward pass, the loss, the output delta, the
backward pass and the update as a handful of NumPy expressions.

Everything that stays the same for a whole call is settled once at its start
(:func:`network`, :func:`loss_rule`, :func:`optimizer_step`): each layer's
weight matrix and bias as views of ``theta`` (so an update lands in
``theta``) and of ``grad``, each layer's activation expressions, the loss and
output-delta expression, the optimizer step over the whole flat ``theta``.
The epoch loop itself then does no look-ups, conversions or dispatch: a
full batch in the identity order is ``X`` itself, the loop's bookkeeping
(the kept snapshot, early stopping) lives in Python numbers until the call
returns.  The arguments come from :class:`fastnn.model.Sequential`, which has
validated them, so nothing here re-validates; buffers the compiled loop
needs (``xb``, ``abuf``, ...) are accepted and ignored, because the
straightforward code simply allocates its temporaries.

The expressions are the reference formulas (:mod:`fastnn.reference`), with
two plain-code choices that change results by rounding only: the sigmoid is
``1 / (1 + exp(-z))`` as the tutorials write it (for ``z >= 0`` it is the
compiled kernels' formula; for ``z << 0`` ``exp(-z)`` overflows to inf and
the result is 0, the limit, silently: every entry point runs under
``np.errstate(over="ignore", ...)``), and the sum of squared errors is one
dot product.  Loss values are summed in float64 whatever the dtype.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from fastnn.activations import EXP, IDENTITY, RELU, SIGMOID, SOFTMAX, TANH
from fastnn.contract import (
    ACT, B_OFF, H_ALPHA, H_BETA1, H_BETA2, H_DECAY, H_EPS, H_LR, H_MIN_DELTA, H_MOMENTUM, H_NESTEROV,
    H_WEIGHT_DECAY, KERAS, NON_FINITE, OK, S_BEST, S_BEST_EPOCH, S_EPOCH0, S_KEPT_EPOCH, S_KEPT_LOSS,
    S_KEPT_SLOT, S_KEPT_STEP, S_N_EPOCHS, S_STEP0, S_WAIT, SKLEARN, STOPPED_EARLY, W_OFF, layer_views,
    require_parameters,
)
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, POISSON
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE

# ----------------------------------------------------------------------
# the network: per-layer views and activation expressions, built once per call
# ----------------------------------------------------------------------


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))  # every exponent <= 0: no overflow, row sum >= 1
    return e / e.sum(axis=1, keepdims=True)


#: ``f(z)`` of each activation code.
ACTIVATE: dict[int, Callable] = {
    IDENTITY: lambda z: z,
    RELU: lambda z: np.maximum(z, 0),
    SIGMOID: _sigmoid,
    TANH: np.tanh,
    SOFTMAX: _softmax,
    EXP: np.exp,
}

#: ``dL/dz`` of each activation code from its output ``a = f(z)`` and the upstream ``g = dL/da``
#: (softmax: the Jacobian ``diag(a) - a a^T`` times ``g``, row by row).
BACKPROP: dict[int, Callable] = {
    IDENTITY: lambda a, g: g,
    RELU: lambda a, g: g * (a > 0),
    SIGMOID: lambda a, g: g * (a * (1 - a)),
    TANH: lambda a, g: g * (1 - a * a),
    SOFTMAX: lambda a, g: a * (g - np.sum(g * a, axis=1, keepdims=True)),
    EXP: lambda a, g: g * a,
}


class Layer(NamedTuple):
    """One dense layer of a call: views into ``theta`` and ``grad``, and its activation's expressions."""

    w: np.ndarray  #: (d, k) weight matrix, a view of theta
    b: np.ndarray  #: (k,) bias, a view of theta
    grad_w: np.ndarray | None  #: (d, k) view of grad (None without a gradient buffer)
    grad_b: np.ndarray | None  #: (k,) view of grad
    activate: Callable  #: z -> a
    backprop: Callable  #: (a, dL/da) -> dL/dz


def network(theta, layout, grad=None) -> list[Layer]:
    """The layers of ``theta`` (and their gradient slots in ``grad``) as :class:`Layer` views."""
    layers = []
    for l in range(layout.shape[0]):
        w, b = layer_views(theta, layout, l)
        grad_w, grad_b = layer_views(grad, layout, l) if grad is not None else (None, None)
        code = int(layout[l, ACT])
        layers.append(Layer(w, b, grad_w, grad_b, ACTIVATE[code], BACKPROP[code]))
    return layers


def forward(x, layers):
    """Activations of every layer for the batch ``x``: ``[a_1, ..., a_last]``."""
    activations = []
    for layer in layers:
        x = layer.activate(x @ layer.w + layer.b)
        activations.append(x)
    return activations


def backward(x, delta, layers, activations):
    """Fill each layer's ``grad_w``/``grad_b`` from the output layer's ``delta`` = dL/dz (weights not yet updated)."""
    for l in range(len(layers) - 1, 0, -1):
        layer, inp = layers[l], activations[l - 1]
        np.matmul(inp.T, delta, out=layer.grad_w)
        np.add.reduce(delta, axis=0, out=layer.grad_b)
        delta = layers[l - 1].backprop(inp, delta @ layer.w.T)
    np.matmul(x.T, delta, out=layers[0].grad_w)
    np.add.reduce(delta, axis=0, out=layers[0].grad_b)


# ----------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------


def row_loss_sums(p, y, loss_code, eps):
    """Float64 per-row sums of the per-element loss (before the sign and the mean)."""
    p = p.astype(np.float64, copy=False)
    y = y.astype(np.float64, copy=False)
    if loss_code == MSE:
        return np.sum((p - y) ** 2, axis=1)
    if loss_code == POISSON:
        return np.sum(p - y * np.log(np.maximum(p, float(eps))), axis=1)
    p = np.clip(p, float(eps), 1 - float(eps))
    if loss_code == BINARY_CROSSENTROPY:
        return np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    return np.sum(y * np.log(p), axis=1)


def loss_sum(p, y, loss_code, eps) -> float:
    """Float64 sum of the per-element loss over the whole batch (before the sign and the mean)."""
    if loss_code == MSE:
        d = p - y if p.dtype == np.float64 else np.subtract(p, y, dtype=np.float64)
        return float(np.vdot(d, d))
    return float(np.sum(row_loss_sums(p, y, loss_code, eps)))


def loss_from_sum(total, loss_code, n_rows, n_elements):
    """Loss value from :func:`loss_sum`: MSE, Poisson and binary CE average over elements, categorical over rows."""
    if loss_code == MSE or loss_code == POISSON:
        return total / n_elements
    if loss_code == BINARY_CROSSENTROPY:
        return -total / n_elements
    return -total / n_rows


def loss_rule(loss_code, convention, eps, last_backprop, layers, alpha, dtype, weighted=False):
    """The function ``(p, y, sw) -> (loss, weight_sum, delta)`` of one batch, picked once per call.

    ``delta`` is dL/dz of the output layer.  KERAS: the registry's loss, mean
    over the batch (``weight_sum`` is the number of rows); ``weighted``
    (``sw`` not empty): Keras' weighted mean ``sum_i sw_i l_i / rows``,
    ``l_i`` the row's loss (``weight_sum`` is then ``sum(sw)``).  SKLEARN:
    scikit-learn's MLP loss with sample weights ``sw`` (empty: all ones) and
    the L2 term ``0.5 alpha ||W||^2 / sum(sw)`` (read from ``layers`` before
    the update); the output delta is ``(p - y) sw / sum(sw)``.  ``dtype``:
    the parameters' (MSE in float64 reuses ``p - y`` for the loss and the
    delta; in float32 the loss is summed from float64 differences).
    """
    if convention == SKLEARN:
        def sklearn_rule(p, y, sw):
            weights = sw.astype(np.float64) if len(sw) else np.ones(len(p))
            weight_sum = float(np.sum(weights))
            rows = row_loss_sums(p, y, loss_code, eps)
            if loss_code == POISSON:  # half Poisson deviance keeps the term xlogy(y, y) - y
                y64 = y.astype(np.float64)
                rows = rows + np.sum(np.where(y64 > 0, y64 * np.log(np.where(y64 > 0, y64, 1)), 0) - y64, axis=1)
            total = float(np.sum(rows * weights))
            if loss_code == MSE:
                value = 0.5 * total / (weight_sum * y.shape[1])
            elif loss_code == POISSON:
                value = total / weight_sum
            else:
                value = -total / weight_sum
            w_norm = sum(float(np.sum(layer.w.astype(np.float64) ** 2)) for layer in layers)
            value += 0.5 * alpha * w_norm / weight_sum
            return value, weight_sum, (p - y) * (weights / weight_sum).astype(p.dtype)[:, None]
        return sklearn_rule
    if weighted:
        return _keras_weighted_rule(loss_code, eps, last_backprop)
    if loss_code == MSE:
        if dtype == np.float64:
            def mse_rule(p, y, sw):
                d = p - y
                return float(np.vdot(d, d)) / d.size, float(len(d)), last_backprop(p, d * (2 / d.size))
            return mse_rule

        def mse_rule_low_precision(p, y, sw):  # the loss summed in float64, the delta in the parameters' dtype
            d = np.subtract(p, y, dtype=np.float64)
            return float(np.vdot(d, d)) / d.size, float(len(d)), last_backprop(p, (p - y) * (2 / p.size))
        return mse_rule_low_precision
    scale_by_rows = loss_code == CATEGORICAL_CROSSENTROPY  # softmax output: dL/dz = (p - y) / rows

    def log_loss_rule(p, y, sw):  # the cross-entropies and Poisson: canonical links, dL/dz = (p - y) / N
        value = loss_from_sum(loss_sum(p, y, loss_code, eps), loss_code, len(y), y.size)
        return value, float(len(y)), (p - y) / (p.shape[0] if scale_by_rows else p.size)
    return log_loss_rule


def _keras_weighted_rule(loss_code, eps, last_backprop):
    """KERAS with sample weights: the unweighted rule's loss and delta with each row's terms times ``sw_i``.

    The divisor stays the batch's (rows for categorical cross-entropy,
    elements for the others), as Keras' default ``sum_over_batch_size``
    reduction divides by the batch size and not by ``sum(sw)``.
    """
    def keras_weighted_rule(p, y, sw):
        weights = sw.astype(np.float64)
        value = loss_from_sum(float(np.sum(row_loss_sums(p, y, loss_code, eps) * weights)), loss_code, len(y),
                              y.size)
        if loss_code == MSE:
            return value, float(np.sum(weights)), last_backprop(p, (p - y) * (weights * (2 / y.size)).astype(
                p.dtype)[:, None])
        per_row = 1 / (len(y) if loss_code == CATEGORICAL_CROSSENTROPY else y.size)
        return value, float(np.sum(weights)), (p - y) * (weights * per_row).astype(p.dtype)[:, None]
    return keras_weighted_rule


# ----------------------------------------------------------------------
# the optimizer step on the flat theta
# ----------------------------------------------------------------------


def optimizer_step(theta, grad, s1, s2, layout, opt_code, hyper, weight_decay):
    """The function ``(lr, step) -> None`` applying one optimizer step to all of ``theta``, picked once per call.

    The L2 ``weight_decay`` applies to the weights, not the biases (a flat
    vector holding it at every weight's position, 0 at the biases).
    ``hyper`` holds Python floats (weak scalars): float32 parameters stay
    float32.  Adam's step ``step`` counts batches from 1.
    """
    if weight_decay:
        decay = np.zeros_like(theta)
        for l in range(layout.shape[0]):
            decay[layout[l, W_OFF]:layout[l, B_OFF]] = weight_decay

        def gradient():
            return grad + decay * theta
    else:
        def gradient():
            return grad
    if opt_code == ADAM_CODE:
        beta1, beta2, eps = hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS]

        def adam(lr, step):
            g = gradient()
            s1[...] = beta1 * s1 + (1 - beta1) * g
            s2[...] = beta2 * s2 + (1 - beta2) * g * g
            lr_t = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            np.subtract(theta, lr_t * s1 / (np.sqrt(s2) + eps), out=theta)
        return adam
    if opt_code == MOMENTUM_CODE:
        momentum, nesterov = hyper[H_MOMENTUM], bool(hyper[H_NESTEROV])

        def momentum_step(lr, step):
            g = gradient()
            s1[...] = momentum * s1 - lr * g
            np.add(theta, momentum * s1 - lr * g if nesterov else s1, out=theta)
        return momentum_step
    if weight_decay:
        def sgd_with_decay(lr, step):
            np.subtract(theta, lr * gradient(), out=theta)
        return sgd_with_decay

    def sgd(lr, step):
        np.subtract(theta, lr * grad, out=theta)
    return sgd


# ----------------------------------------------------------------------
# the contract's entry points
# ----------------------------------------------------------------------

_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _batch_step(layers, rule, sklearn_alpha):
    """The function ``(x, y, sw) -> (loss, weight_sum)``: one batch's loss and gradient (into the layers' grad views)."""
    def step(x, y, sw):
        activations = forward(x, layers)
        value, weight_sum, delta = rule(activations[-1], y, sw)
        backward(x, delta, layers, activations)
        if sklearn_alpha is not None:  # the gradient of the L2 term the loss includes
            for layer in layers:
                np.add(layer.grad_w, (sklearn_alpha / weight_sum) * layer.w, out=layer.grad_w)
        return value, weight_sum
    return step


def _step_for(theta, grad, layout, loss_code, convention, eps, alpha, weighted=False):
    layers = network(theta, layout, grad)
    rule = loss_rule(loss_code, convention, eps, layers[-1].backprop, layers, alpha, theta.dtype, weighted)
    return _batch_step(layers, rule, alpha if convention == SKLEARN else None)


def batch_loss_grad(x, y, sw, theta, grad, layout, loss_code, convention, alpha, eps,
                    abuf, dbuf, dbuf_other, rowloss, batch_size):
    """Loss of one batch (before any update) and its gradient (L2 term included) into ``grad``.

    Returns ``(loss, weight_sum)``.  See :func:`loss_rule` for the two conventions.
    """
    with np.errstate(**_QUIET):
        return _step_for(theta, grad, layout, loss_code, convention, eps, float(alpha), len(sw) > 0)(x, y, sw)


def _dataset_loss(X, Y, layers, loss_code, eps, batch_size):
    total = 0.0
    for start in range(0, X.shape[0], batch_size):
        total += loss_sum(forward(X[start:start + batch_size], layers)[-1], Y[start:start + batch_size],
                          loss_code, eps)
    return loss_from_sum(total, loss_code, X.shape[0], Y.size)


def dataset_loss(X, Y, theta, layout, loss_code, eps, batch_size, xb, yb, abuf, rowloss):
    """Loss of the whole data set, evaluated in batches of ``batch_size`` rows.

    Overflow is silent, as in the compiled loop: the caller reports a non-finite result once.
    """
    with np.errstate(**_QUIET):
        return _dataset_loss(X, Y, network(theta, layout), loss_code, eps, batch_size)


def predict_rows(X, theta, layout, tile, n_workers, buffers, out):
    """Network output for every row of ``X`` into ``out``, ``tile`` rows per NumPy pass.

    ``n_workers`` and ``buffers`` (the compiled kernels' threads and scratch)
    are not used: each tile's layers are whole-array NumPy operations.
    Overflow is silent, as in dataset_loss.
    """
    layers = network(theta, layout)
    with np.errstate(**_QUIET):
        for start in range(0, X.shape[0], tile):
            out[start:start + tile] = forward(X[start:start + tile], layers)[-1]


def train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                 batch_size, patience, grad, snapshot, best, xb, yb, swb, abuf, dbuf, dbuf_other, rowloss,
                 perms, losses, val_losses, state):
    """Train for up to ``state[S_N_EPOCHS]`` epochs; returns ``(epochs_done, status, step)``.

    A diverging fit overflows; like the compiled loop, this one says nothing
    about it and lets the non-finite loss stop the fit (which warns once).
    """
    with np.errstate(**_QUIET):
        return _train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                             batch_size, patience, grad, snapshot, best, perms, losses, val_losses, state)


def _snapshot_slots(snapshot, theta, s1, s2):
    """The two snapshot slots, each ``3 * P`` values (the compiled loop's layout): ``[(saved, live), ...]`` per slot.

    ``saved`` is the slot's view for ``live`` (``theta``, ``s1``, ``s2``); empty optimizer states are left out.
    """
    p = theta.size
    return [[(snapshot[start:start + live.size], live)
             for start, live in ((base, theta), (base + p, s1), (base + 2 * p, s2)) if live.size]
            for base in (0, 3 * p)]


def _all_finite(a) -> bool:
    # a finite sum means every term is finite (inf and NaN propagate); only a non-finite one needs the full check
    return math.isfinite(np.add.reduce(a)) or bool(np.isfinite(a).all())


def _batches(X, Y, sw, batch_size):
    """The batches of the identity row order, as views: ``[(x, y, sw)]`` (one batch: ``X``, ``Y``, ``sw`` themselves)."""
    n = X.shape[0]
    if batch_size >= n:
        return [(X, Y, sw)]
    return [(X[s:s + batch_size], Y[s:s + batch_size], sw[s:s + batch_size] if len(sw) else sw)
            for s in range(0, n, batch_size)]


def _gathered(X, Y, sw, order, batch_size):
    """The batches of the row order ``order``, gathered."""
    for start in range(0, order.shape[0], batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], Y[rows], (sw[rows] if len(sw) else sw)


def _train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                  batch_size, patience, grad, snapshot, best, perms, losses, val_losses, state):
    n = X.shape[0]
    epoch0, n_epochs, step = (int(state[i]) for i in (S_EPOCH0, S_N_EPOCHS, S_STEP0))
    hyper = [float(h) for h in hyper]  # Python floats keep float32 math in float32 (NEP 50)
    keras = convention == KERAS
    lr0, decay, min_delta = hyper[H_LR], hyper[H_DECAY], hyper[H_MIN_DELTA]
    # everything the epochs share, once
    batch_step = _step_for(theta, grad, layout, loss_code, convention, eps, hyper[H_ALPHA], len(sw) > 0)
    update = optimizer_step(theta, grad, s1, s2, layout, opt_code, hyper,
                            hyper[H_WEIGHT_DECAY] if keras else 0.0)  # SKLEARN: the L2 term is in grad
    in_order = _batches(X, Y, sw, batch_size) if perms.shape[0] == 0 else None
    layers = network(theta, layout) if Xv.shape[0] > 0 else None
    slots = _snapshot_slots(snapshot, theta, s1, s2) if keras else None
    # the loop state, as Python numbers until the call returns
    kept_loss, kept_epoch, kept_step, kept_slot = (state[S_KEPT_LOSS], int(state[S_KEPT_EPOCH]),
                                                   int(state[S_KEPT_STEP]), int(state[S_KEPT_SLOT]))
    best_loss, wait, best_epoch = state[S_BEST], int(state[S_WAIT]), int(state[S_BEST_EPOCH])

    def finish(epochs_done, status, final_step):
        state[S_KEPT_LOSS], state[S_KEPT_EPOCH], state[S_KEPT_STEP], state[S_KEPT_SLOT] = (
            kept_loss, kept_epoch, kept_step, kept_slot)
        state[S_BEST], state[S_WAIT], state[S_BEST_EPOCH] = best_loss, wait, best_epoch
        return epochs_done, status, final_step

    for e in range(n_epochs):
        epoch = epoch0 + e
        step_at_start = step
        running = 1 - kept_slot  # the snapshot slot not holding the kept start
        if keras:  # to undo the epoch if it diverges
            for saved, live in slots[running]:
                saved[...] = live
        lr = lr0 / (1 + decay * epoch)
        total = 0.0
        diverged = False
        for x, y, w in in_order if in_order is not None else _gathered(X, Y, sw, perms[e], batch_size):
            batch_loss, _ = batch_step(x, y, w)
            if keras and not math.isfinite(batch_loss):
                diverged = True
                break
            total += batch_loss * len(y)
            step += 1
            update(lr, step)
        if keras and (diverged or not _all_finite(theta)):  # or the last update overflowed
            # back to the start of the epoch with the lowest finite loss, or of this one
            restored, final_step = (kept_slot, kept_step) if kept_epoch >= 0 else (running, step_at_start)
            for saved, live in slots[restored]:
                live[...] = saved
            return finish(e, NON_FINITE, final_step)
        loss = losses[e] = total / n
        if keras and (kept_epoch < 0 or loss < kept_loss):
            kept_loss, kept_epoch, kept_step, kept_slot = loss, epoch, step_at_start, running
        monitored = loss
        if layers is not None:
            monitored = val_losses[e] = _dataset_loss(Xv, Yv, layers, loss_code, eps, batch_size)
        if patience >= 0:
            if monitored < best_loss - min_delta:
                best_loss, wait, best_epoch = monitored, 0, epoch
                best[...] = theta
            else:
                wait += 1
                if wait >= patience:
                    return finish(e + 1, STOPPED_EARLY, step)
    return finish(n_epochs, OK, step)


for _name in ("train_epochs", "batch_loss_grad", "dataset_loss", "predict_rows"):
    require_parameters(globals()[_name], _name)
