"""Optimizer objects: hyper-parameters and state, nothing that computes.

The update formulas live in :mod:`fastnn.kernels.optim` (Numba) and
:mod:`fastnn.reference.optim` (NumPy).  An optimizer object validates its
hyper-parameters when it is built, and a :class:`~fastnn.model.Sequential`
keeps its state (velocity, Adam moments, step count) between ``fit`` calls
and in saved files.

Conventions (scikit-learn and Keras):

- ``SGD(lr, momentum=0, nesterov=False, decay=0, weight_decay=0)``: the
  learning rate of epoch ``e`` (counted over all fits of the model) is
  ``lr / (1 + decay * e)`` (seed 001's schedule); ``velocity = momentum *
  velocity - lr * g``; ``param += velocity`` (Nesterov: ``param += momentum *
  velocity - lr * g``).
- ``Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0)``:
  ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``,
  ``param -= lr_t * m / (sqrt(v) + eps)``.
- ``weight_decay`` is an L2 penalty on the weight matrices (not the biases):
  ``g = grad + weight_decay * w``.
"""

from __future__ import annotations

import numpy as np

from fastnn._checks import check_scalar

#: Optimizer kinds by integer code, as the fused training loops see them.
OPTIMIZER_KINDS: tuple[str, ...] = ("sgd", "momentum", "adam")
SGD_CODE, MOMENTUM_CODE, ADAM_CODE = range(len(OPTIMIZER_KINDS))


class Optimizer:
    """Base class: a name, hyper-parameters, and the number of state arrays per parameter."""

    name: str = ""
    n_state: int = 0

    def get_config(self) -> dict:
        """Hyper-parameters as a JSON-serialisable dict (``type(self)(**config)`` rebuilds it)."""
        raise NotImplementedError

    @property
    def code(self) -> int:
        """Integer code of the update rule in :data:`OPTIMIZER_KINDS`."""
        raise NotImplementedError

    def lr_at(self, epoch: int) -> float:
        """Learning rate used during ``epoch`` (0-based, counted over the model's whole life)."""
        return self.lr

    def lr_schedule(self, first: int, count: int) -> list:
        """``[lr_at(e) for e in range(first, first + count)]``, computed in one go."""
        return [self.lr] * count

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, lr decay and L2 penalty.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, >= 0.
    momentum : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0`` to make a difference).
    decay : float, default 0.0
        Learning-rate decay per epoch: ``lr / (1 + decay * epoch)``.
    weight_decay : float, default 0.0
        L2 penalty on the weight matrices.
    """

    name = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, decay=0.0, weight_decay=0.0):
        self.lr = check_scalar("lr", lr, low=0.0)
        self.momentum = check_scalar("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        self.nesterov = nesterov
        self.decay = check_scalar("decay", decay, low=0.0)
        self.weight_decay = check_scalar("weight_decay", weight_decay, low=0.0)

    @property
    def n_state(self) -> int:  # type: ignore[override]
        return 1 if self.momentum > 0 else 0

    @property
    def code(self) -> int:
        return MOMENTUM_CODE if self.momentum > 0 else SGD_CODE

    def lr_at(self, epoch: int) -> float:
        return self.lr / (1.0 + self.decay * epoch)

    def lr_schedule(self, first: int, count: int) -> list:
        if self.decay == 0:
            return [self.lr] * count
        # the same float64 operations as lr_at (and as the training loops)
        return (self.lr / (1.0 + self.decay * np.arange(first, first + count, dtype=np.float64))).tolist()

    def get_config(self) -> dict:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "decay": self.decay,
            "weight_decay": self.weight_decay,
        }


class Adam(Optimizer):
    """Adam (Kingma & Ba), in the scikit-learn / Keras form.

    Parameters
    ----------
    lr : float, default 0.001
    beta1 : float, default 0.9
        In [0, 1).
    beta2 : float, default 0.999
        In [0, 1).
    eps : float, default 1e-8
        > 0.
    weight_decay : float, default 0.0
        L2 penalty on the weight matrices.
    """

    name = "adam"
    n_state = 2

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr = check_scalar("lr", lr, low=0.0)
        self.beta1 = check_scalar("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_scalar("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_scalar("eps", eps, low=0.0, low_open=True)
        self.weight_decay = check_scalar("weight_decay", weight_decay, low=0.0)

    @property
    def code(self) -> int:
        return ADAM_CODE

    def get_config(self) -> dict:
        return {
            "lr": self.lr,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }


#: Optimizer classes by name (for ``fit(optimizer="adam")`` and for loading saved models).
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get_optimizer(optimizer) -> Optimizer:
    """Return an :class:`Optimizer` from an instance or a registered name (default settings)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {list(OPTIMIZERS)} or an instance")
        return OPTIMIZERS[optimizer.lower()]()
    raise TypeError(
        f"optimizer must be an SGD/Adam instance or one of {list(OPTIMIZERS)}, got {type(optimizer).__name__}"
    )
