"""Numba kernels: the compiled backend of fastnn.

Every public function validates its arguments (:mod:`fastnn._checks`) before
any compiled code runs, then picks the serial or the parallel build of its
kernel by problem size (:func:`fastnn.config.use_parallel`).  The plain-NumPy
twin with the same names and signatures is :mod:`fastnn.reference`.
"""

from fastnn.kernels.activations import activation_backward, activation_derivative, activation_forward
from fastnn.kernels.dense import dense_backward, dense_forward
from fastnn.kernels.losses import (
    binary_crossentropy_delta,
    binary_crossentropy_loss,
    categorical_crossentropy_delta,
    categorical_crossentropy_loss,
    loss_value,
    mse_grad,
    mse_loss,
    output_delta,
    poisson_delta,
    poisson_loss,
)
from fastnn.kernels.optim import adam_update, momentum_update, sgd_update

__all__ = [
    "activation_forward",
    "activation_derivative",
    "activation_backward",
    "dense_forward",
    "dense_backward",
    "mse_loss",
    "mse_grad",
    "binary_crossentropy_loss",
    "binary_crossentropy_delta",
    "categorical_crossentropy_loss",
    "categorical_crossentropy_delta",
    "poisson_loss",
    "poisson_delta",
    "loss_value",
    "output_delta",
    "sgd_update",
    "momentum_update",
    "adam_update",
]
