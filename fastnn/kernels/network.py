"""The optimizer step over a network's flat parameters, shared by both training steps.

Used by the row-major loops (:mod:`fastnn.kernels.train`) and the
feature-major step for narrow networks (:mod:`fastnn.kernels.feature_major`).
``theta``, ``layout`` and ``hyper`` follow the training-loop contract
(:mod:`fastnn.contract`).
"""

from __future__ import annotations

import numpy as np

from fastnn.contract import B_OFF, H_BETA1, H_BETA2, H_EPS, H_MOMENTUM, H_NESTEROV, N_OUT, W_OFF
from fastnn.kernels._jit import serial_kernel
from fastnn.kernels.optim import adam_range, momentum_range, sgd_range
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE


@serial_kernel
def update_range(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, start, stop):
    """One optimizer step (SGD, momentum or Adam by ``opt_code``) on ``theta[start:stop]``."""
    t = theta.dtype.type
    if opt_code == ADAM_CODE:
        beta1 = hyper[H_BETA1]
        beta2 = hyper[H_BETA2]
        fstep = np.float64(step)
        lr_t = lr * np.sqrt(1.0 - beta2 ** fstep) / (1.0 - beta1 ** fstep)
        adam_range(theta, grad, s1, s2, t(lr_t), t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2),
                   t(hyper[H_EPS]), t(weight_decay), start, stop)
    elif opt_code == MOMENTUM_CODE:
        momentum_range(theta, grad, s1, t(lr), t(hyper[H_MOMENTUM]), hyper[H_NESTEROV] != 0.0, t(weight_decay),
                       start, stop)
    else:
        sgd_range(theta, grad, t(lr), t(weight_decay), start, stop)


@serial_kernel
def update_layers(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay, layout):
    """One optimizer step on every layer, serially: weights with ``weight_decay``, biases without."""
    for l in range(layout.shape[0]):
        b_start = layout[l, B_OFF]
        for part in range(2):  # the weights (with weight decay), then the biases: one call site, half the code
            start = layout[l, W_OFF] if part == 0 else b_start
            stop = b_start if part == 0 else b_start + layout[l, N_OUT]
            update_range(theta, grad, s1, s2, opt_code, hyper, lr, step, weight_decay if part == 0 else 0.0,
                         start, stop)
