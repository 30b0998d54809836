"""Plain-NumPy reference backend of fastnn: the correctness oracle of :mod:`fastnn.kernels`.

Every function here has the same name, signature, validation and results as
its Numba twin in :mod:`fastnn.kernels`, but is written the way one would
write it by hand: short vectorised NumPy that reads like the formula in its
docstring, not tuned for speed.  Tests compare the kernels against it, and it
is a readable statement of what each kernel computes.

Both backends validate their arguments with the same functions of
:mod:`fastnn._checks`, so they accept and reject exactly the same calls.
This package never imports :mod:`fastnn.kernels`.
"""

from fastnn.reference.activations import activation_backward, activation_derivative, activation_forward
from fastnn.reference.dense import dense_backward, dense_forward
from fastnn.reference.losses import (
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
from fastnn.reference.optim import adam_update, momentum_update, sgd_update

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
