"""Every kernel, at small, medium and large sizes, on both backends.

``fastnn.kernels`` (numba) and ``fastnn.reference`` (numpy) expose the same
functions; the backend axis picks the module.  Outputs are preallocated and
passed as ``out=`` (in place for the optimizers), so the timings are the
kernels' own work plus their argument checks, as a user calling them in a
loop would see.  Each kernel is called once in ``setup`` so that compilation
(or loading from Numba's cache) is never timed.
"""

from __future__ import annotations

import numpy as np

import fastnn
from fastnn.losses import LOSSES

from .common import BACKENDS, DTYPES, kernels, random_array

#: (rows, inputs, outputs) of one dense layer call.
DENSE_SIZES = {"small": (32, 32, 32), "medium": (256, 256, 128), "large": (1024, 784, 256)}
#: (rows, columns) of a loss call.
LOSS_SIZES = {"small": (32, 1), "medium": (256, 10), "large": (4096, 10)}
#: Number of parameters of an optimizer update.
PARAM_SIZES = {"small": 1_000, "medium": 100_000, "large": 1_000_000}
#: Every registered activation (fastnn.ACTIVATIONS).
ACTIVATIONS = list(fastnn.ACTIVATIONS)


class DenseForward:
    """``dense_forward(x, w, b, activation, out=)``: ``f(x @ w + b)``."""

    params = [BACKENDS, ACTIVATIONS, list(DENSE_SIZES), DTYPES]
    param_names = ["backend", "activation", "size", "dtype"]

    def setup(self, backend, activation, size, dtype):
        n, d, k = DENSE_SIZES[size]
        self.K = kernels(backend)
        self.x = random_array((n, d), dtype, 1)
        self.w = random_array((d, k), dtype, 2, scale=1 / np.sqrt(d))
        self.b = random_array((k,), dtype, 3)
        self.out = np.empty((n, k), dtype)
        self.K.dense_forward(self.x, self.w, self.b, activation, out=self.out)

    def time_dense_forward(self, backend, activation, size, dtype):
        self.K.dense_forward(self.x, self.w, self.b, activation, out=self.out)


class DenseBackward:
    """``dense_backward(x, w, a, grad_a, activation, grad_w=, grad_b=, grad_x=)``: all three gradients."""

    params = [BACKENDS, ACTIVATIONS, list(DENSE_SIZES), DTYPES]
    param_names = ["backend", "activation", "size", "dtype"]

    def setup(self, backend, activation, size, dtype):
        n, d, k = DENSE_SIZES[size]
        self.K = kernels(backend)
        self.x = random_array((n, d), dtype, 1)
        self.w = random_array((d, k), dtype, 2, scale=1 / np.sqrt(d))
        b = random_array((k,), dtype, 3)
        self.a = self.K.dense_forward(self.x, self.w, b, activation)
        self.grad_a = random_array((n, k), dtype, 4)
        self.gw = np.empty((d, k), dtype)
        self.gb = np.empty((k,), dtype)
        self.gx = np.empty((n, d), dtype)
        self._call(activation)

    def _call(self, activation):
        self.K.dense_backward(self.x, self.w, self.a, self.grad_a, activation, grad_w=self.gw, grad_b=self.gb,
                              grad_x=self.gx)

    def time_dense_backward(self, backend, activation, size, dtype):
        self._call(activation)


def _loss_inputs(loss, size, dtype):
    n, k = LOSS_SIZES[size]
    spec = LOSSES[loss]
    activation = spec.output_activation or "identity"
    if loss == "categorical_crossentropy" and k == 1:
        k = 2
    if spec.output_activation == "softmax":
        z = random_array((n, k), dtype, 1, -3, 3)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = np.zeros((n, k), dtype)
        y[np.arange(n), np.random.default_rng(2).integers(0, k, n)] = 1
    elif spec.output_activation == "sigmoid":
        p = random_array((n, k), dtype, 1, 0.01, 0.99)
        y = (random_array((n, k), dtype, 2, 0, 1) > 0.5).astype(dtype)
    else:  # identity or anything needing positive values (e.g. poisson with an exp/softplus-like output)
        p = random_array((n, k), dtype, 1, 0.1, 2.0)
        y = random_array((n, k), dtype, 2, 0.1, 2.0)
    return np.ascontiguousarray(p, dtype), np.ascontiguousarray(y, dtype), activation


class Loss:
    """``loss_value`` and ``output_delta`` (the loss gradient, fused with the output activation)."""

    params = [BACKENDS, list(LOSSES), list(LOSS_SIZES), DTYPES]
    param_names = ["backend", "loss", "size", "dtype"]

    def setup(self, backend, loss, size, dtype):
        self.K = kernels(backend)
        self.p, self.y, self.activation = _loss_inputs(loss, size, dtype)
        self.out = np.empty_like(self.p)
        self.K.loss_value(self.p, self.y, loss)
        self.K.output_delta(self.p, self.y, loss, self.activation, out=self.out)

    def time_loss_value(self, backend, loss, size, dtype):
        self.K.loss_value(self.p, self.y, loss)

    def time_output_delta(self, backend, loss, size, dtype):
        self.K.output_delta(self.p, self.y, loss, self.activation, out=self.out)


class OptimizerUpdate:
    """In-place parameter updates: ``sgd_update``, ``momentum_update`` (Nesterov), ``adam_update``."""

    params = [BACKENDS, ["sgd", "momentum", "adam"], list(PARAM_SIZES), DTYPES]
    param_names = ["backend", "optimizer", "size", "dtype"]

    def setup(self, backend, optimizer, size, dtype):
        self.K = kernels(backend)
        n = PARAM_SIZES[size]
        self.param = random_array((n,), dtype, 1)
        self.grad = random_array((n,), dtype, 2, scale=1e-3)  # small: repeated updates stay bounded
        self.s1 = np.zeros(n, dtype)
        self.s2 = np.zeros(n, dtype)
        self.optimizer = optimizer
        self._call()

    def _call(self):
        K = self.K
        if self.optimizer == "sgd":
            K.sgd_update(self.param, self.grad, 1e-3)
        elif self.optimizer == "momentum":
            K.momentum_update(self.param, self.grad, self.s1, 1e-3, 0.9, nesterov=True)
        else:
            K.adam_update(self.param, self.grad, self.s1, self.s2, 10, lr=1e-3)

    def time_update(self, backend, optimizer, size, dtype):
        self._call()

