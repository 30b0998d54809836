"""The training loop in plain NumPy: the reference twin of :mod:`fastnn.kernels.train`.

Same functions, same signatures, same semantics (see that module's
docstring), written the way the seed tutorials write it: one batch at a
time, one layer at a time, with NumPy expressions and the reference
formulas.  The arguments come from :class:`fastnn.model.Sequential`, which
has validated them, so nothing here re-validates; buffers the compiled loop
needs (``xb``, ``abuf``, ...) are accepted and ignored, because the
straightforward code simply allocates its temporaries.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.contract import (
    ACT, B_OFF, H_ALPHA, H_BETA1, H_BETA2, H_DECAY, H_EPS, H_LR, H_MIN_DELTA, H_MOMENTUM, H_NESTEROV,
    H_WEIGHT_DECAY, KERAS, N_IN, N_OUT, NON_FINITE, OK, S_BEST, S_BEST_EPOCH, S_EPOCH0, S_KEPT_EPOCH,
    S_KEPT_LOSS, S_KEPT_SLOT, S_KEPT_STEP, S_N_EPOCHS, S_STEP0, S_WAIT, SKLEARN, STOPPED_EARLY, W_OFF,
    require_parameters,
)
from fastnn.losses import BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, MSE, POISSON
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE
from fastnn.reference.activations import _backward, _forward


def layer_params(theta, layout, l):
    """Views of layer ``l``'s weight matrix (d, k) and bias (k,) inside the flat ``theta``."""
    d, k = layout[l, N_IN], layout[l, N_OUT]
    w = theta[layout[l, W_OFF]:layout[l, W_OFF] + d * k].reshape(d, k)
    b = theta[layout[l, B_OFF]:layout[l, B_OFF] + k]
    return w, b


def forward(x, theta, layout):
    """Activations of every layer for the batch ``x``: ``[a_0, ..., a_last]``."""
    activations = []
    a = x
    for l in range(layout.shape[0]):
        w, b = layer_params(theta, layout, l)
        a = _forward(a @ w + b, layout[l, ACT])
        activations.append(a)
    return activations


def batch_loss_sum(p, y, loss_code, eps):
    """Float64 sum of the per-element loss (before the sign and the mean)."""
    return float(np.sum(row_loss_sums(p, y, loss_code, eps)))


def row_loss_sums(p, y, loss_code, eps):
    """Float64 per-row sums of the per-element loss (before the sign and the mean)."""
    p = p.astype(np.float64)
    y = y.astype(np.float64)
    if loss_code == MSE:
        return np.sum((p - y) ** 2, axis=1)
    if loss_code == POISSON:
        return np.sum(p - y * np.log(np.maximum(p, float(eps))), axis=1)
    p = np.clip(p, float(eps), 1 - float(eps))
    if loss_code == BINARY_CROSSENTROPY:
        return np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    return np.sum(y * np.log(p), axis=1)


def loss_from_sum(total, loss_code, n_rows, n_elements):
    """Loss value from :func:`batch_loss_sum`: MSE, Poisson and binary CE average over elements, categorical over rows."""
    if loss_code == MSE or loss_code == POISSON:
        return total / n_elements
    if loss_code == BINARY_CROSSENTROPY:
        return -total / n_elements
    return -total / n_rows


def output_delta(p, y, loss_code, last_act):
    """dL/dz of the output layer for a batch (mean loss over this batch)."""
    if loss_code == MSE:
        return _backward(p, 2 * (p - y) / p.size, last_act)
    if loss_code == CATEGORICAL_CROSSENTROPY:
        return (p - y) / p.shape[0]
    return (p - y) / p.size  # binary cross-entropy, Poisson


def backward(x, delta, theta, grad, layout, activations):
    """Fill ``grad`` (flat, same layout as ``theta``) from the output layer's ``delta`` = dL/dz."""
    n_layers = layout.shape[0]
    for l in range(n_layers - 1, -1, -1):
        inp = x if l == 0 else activations[l - 1]
        w, _ = layer_params(theta, layout, l)
        grad_w, grad_b = layer_params(grad, layout, l)
        grad_w[...] = inp.T @ delta
        grad_b[...] = delta.sum(axis=0)
        if l > 0:
            delta = _backward(activations[l - 1], delta @ w.T, layout[l - 1, ACT])


def batch_loss_grad(x, y, sw, theta, grad, layout, loss_code, convention, alpha, eps,
                    abuf, dbuf, dbuf_other, rowloss, batch_size):
    """Loss of one batch (before any update) and its gradient (L2 term included) into ``grad``.

    Returns ``(loss, weight_sum)``.

    KERAS: the registry's loss, mean over the batch.  SKLEARN: scikit-learn's
    MLP loss with sample weights ``sw`` (empty: all ones) and the L2 term
    ``0.5 alpha ||W||^2 / sum(sw)``; the output delta is ``(p - y) sw / sum(sw)``.
    """
    activations = forward(x, theta, layout)
    p = activations[-1]
    rows = row_loss_sums(p, y, loss_code, eps)
    weights = sw.astype(np.float64) if len(sw) else np.ones(len(x))
    weight_sum = float(np.sum(weights))
    if convention == SKLEARN:
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
        w_norm = sum(float(np.sum(layer_params(theta, layout, l)[0].astype(np.float64) ** 2))
                     for l in range(layout.shape[0]))
        value += 0.5 * alpha * w_norm / weight_sum
        delta = (p - y) * (weights / weight_sum).astype(p.dtype)[:, None]
    else:
        value = loss_from_sum(float(np.sum(rows)), loss_code, len(y), y.size)
        delta = output_delta(p, y, loss_code, layout[layout.shape[0] - 1, ACT])
    backward(x, delta, theta, grad, layout, activations)
    if convention == SKLEARN:  # the gradient of the L2 term that value includes
        for l in range(layout.shape[0]):
            w, _ = layer_params(theta, layout, l)
            grad_w, _ = layer_params(grad, layout, l)
            grad_w += (alpha / weight_sum) * w
    return value, weight_sum


def update(theta, grad, s1, s2, layout, opt_code, hyper, lr, step, weight_decay):
    """One optimizer step on every layer; the L2 penalty applies to weights, not biases.

    ``hyper`` holds Python floats (weak scalars): float32 parameters stay float32.
    """
    for l in range(layout.shape[0]):
        for part, wd in zip(range(2), (weight_decay, 0.0)):
            start = layout[l, W_OFF] if part == 0 else layout[l, B_OFF]
            stop = layout[l, B_OFF] if part == 0 else layout[l, B_OFF] + layout[l, N_OUT]
            p, g = theta[start:stop], grad[start:stop] + wd * theta[start:stop]
            if opt_code == ADAM_CODE:
                beta1, beta2, eps = hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS]
                m, v = s1[start:stop], s2[start:stop]
                m[...] = beta1 * m + (1 - beta1) * g
                v[...] = beta2 * v + (1 - beta2) * g * g
                lr_t = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
                p -= lr_t * m / (np.sqrt(v) + eps)
            elif opt_code == MOMENTUM_CODE:
                momentum = hyper[H_MOMENTUM]
                velocity = s1[start:stop]
                velocity[...] = momentum * velocity - lr * g
                if hyper[H_NESTEROV]:
                    p += momentum * velocity - lr * g
                else:
                    p += velocity
            else:
                p -= lr * g


def dataset_loss(X, Y, theta, layout, loss_code, eps, batch_size, xb, yb, abuf, rowloss):
    """Loss of the whole data set, evaluated in batches of ``batch_size`` rows.

    Overflow is silent, as in the compiled loop: the caller reports a non-finite result once.
    """
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, X.shape[0], batch_size):
            x, y = X[start:start + batch_size], Y[start:start + batch_size]
            total += batch_loss_sum(forward(x, theta, layout)[-1], y, loss_code, eps)
    return loss_from_sum(total, loss_code, X.shape[0], Y.size)


def predict_rows(X, theta, layout, batch_size, xb, abuf, out):
    """Network output for every row of ``X`` into ``out``, in batches (overflow is silent, as in dataset_loss)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, X.shape[0], batch_size):
            out[start:start + batch_size] = forward(X[start:start + batch_size], theta, layout)[-1]


def train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                 batch_size, patience, grad, snapshot, best, xb, yb, swb, abuf, dbuf, dbuf_other, rowloss,
                 perms, losses, val_losses, state):
    """Train for up to ``state[S_N_EPOCHS]`` epochs; returns ``(epochs_done, status, step)``.

    A diverging fit overflows; like the compiled loop, this one says nothing
    about it and lets the non-finite loss stop the fit (which warns once).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                             batch_size, patience, grad, snapshot, best, perms, losses, val_losses, state)


def _save(theta, s1, s2, snapshot, slot):
    """Copy the parameters and optimizer state into snapshot slot ``slot`` (3 * P values each)."""
    p = theta.size
    base = slot * 3 * p
    snapshot[base:base + p] = theta
    snapshot[base + p:base + p + s1.size] = s1
    snapshot[base + 2 * p:base + 2 * p + s2.size] = s2


def _restore(theta, s1, s2, snapshot, slot):
    p = theta.size
    base = slot * 3 * p
    theta[...] = snapshot[base:base + p]
    s1[...] = snapshot[base + p:base + p + s1.size]
    s2[...] = snapshot[base + 2 * p:base + 2 * p + s2.size]


def _train_epochs(X, Y, sw, Xv, Yv, theta, layout, opt_code, hyper, s1, s2, loss_code, convention, eps,
                  batch_size, patience, grad, snapshot, best, perms, losses, val_losses, state):
    n = X.shape[0]
    epoch0, n_epochs, step = (int(state[i]) for i in (S_EPOCH0, S_N_EPOCHS, S_STEP0))
    hyper = [float(h) for h in hyper]  # Python floats keep float32 math in float32 (NEP 50)
    keras = convention == KERAS
    for e in range(n_epochs):
        epoch = epoch0 + e
        step_at_start = step
        running = 1 - int(state[S_KEPT_SLOT])  # the snapshot slot not holding the kept start
        if keras:  # to undo the epoch if it diverges
            _save(theta, s1, s2, snapshot, running)
        lr = hyper[H_LR] / (1 + hyper[H_DECAY] * epoch)
        order = perms[e] if perms.shape[0] > 0 else np.arange(n)
        total = 0.0
        diverged = False
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            x, y, w = X[rows], Y[rows], (sw[rows] if len(sw) else sw)
            batch_loss, weight_sum = batch_loss_grad(x, y, w, theta, grad, layout, loss_code, convention,
                                                     hyper[H_ALPHA], eps, None, None, None, None, batch_size)
            if keras and not math.isfinite(batch_loss):
                diverged = True
                break
            total += batch_loss * len(y)
            weight_decay = 0.0 if convention == SKLEARN else hyper[H_WEIGHT_DECAY]  # SKLEARN: L2 is in grad
            step += 1
            update(theta, grad, s1, s2, layout, opt_code, hyper, lr, step, weight_decay)
        if keras and (diverged or not np.all(np.isfinite(theta))):  # or the last update overflowed
            if state[S_KEPT_EPOCH] >= 0:  # back to the start of the epoch with the lowest finite loss
                _restore(theta, s1, s2, snapshot, int(state[S_KEPT_SLOT]))
                return e, NON_FINITE, int(state[S_KEPT_STEP])
            _restore(theta, s1, s2, snapshot, running)
            return e, NON_FINITE, step_at_start
        loss = losses[e] = total / n
        if keras and (state[S_KEPT_EPOCH] < 0 or loss < state[S_KEPT_LOSS]):
            state[S_KEPT_LOSS], state[S_KEPT_EPOCH], state[S_KEPT_STEP], state[S_KEPT_SLOT] = (
                loss, epoch, step_at_start, running)
        monitored = loss
        if Xv.shape[0] > 0:
            monitored = val_losses[e] = dataset_loss(Xv, Yv, theta, layout, loss_code, eps, batch_size,
                                                     None, None, None, None)
        if patience >= 0:
            if monitored < state[S_BEST] - hyper[H_MIN_DELTA]:
                state[S_BEST], state[S_WAIT], state[S_BEST_EPOCH] = monitored, 0, epoch
                best[...] = theta
            else:
                state[S_WAIT] += 1
                if state[S_WAIT] >= patience:
                    return e + 1, STOPPED_EARLY, step
    return n_epochs, OK, step


for _name in ("train_epochs", "batch_loss_grad", "dataset_loss", "predict_rows"):
    require_parameters(globals()[_name], _name)
