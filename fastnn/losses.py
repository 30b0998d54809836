"""The loss registry: the one place where loss names live.

Each loss knows the output activation it is fused with.  Cross-entropy is
only ever computed together with its output activation, so that the gradient
with respect to the output layer's pre-activation ``z`` is the simple,
numerically safe ``(p - y) / N`` instead of a division by ``p (1 - p)``.

========================  ============================================  ===================  ======================
name                      loss (Keras definitions)                      fused output         d loss / d z
========================  ============================================  ===================  ======================
mse                       mean over all elements of (p - y)**2          any (not fused)      2 (p - y) f'(z) / size
binary_crossentropy       -mean over all elements of                    sigmoid              (p - y) / size
                          y log p + (1 - y) log(1 - p)
categorical_crossentropy  -sum(y log p) / n_samples                     softmax              (p - y) / n_samples
poisson                   mean over all elements of p - y log p         exp                  (p - y) / size
========================  ============================================  ===================  ======================

Cross-entropy clips ``p`` to ``[eps, 1 - eps]`` with ``eps`` the machine
epsilon of the dtype (as scikit-learn does), so predictions of exactly 0 or 1
give a finite loss; Poisson clips ``p`` below at ``eps`` for the same reason.
Poisson targets must be >= 0 (counts or rates).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossSpec:
    """One registered loss.

    Attributes
    ----------
    name : str
        Registry name.
    code : int
        Integer code used by the kernels.
    output_activation : str or None
        The output activation the loss is fused with, or None if the loss
        works with any output activation.
    is_classification : bool
        Whether accuracy is a meaningful companion metric.
    """

    name: str
    code: int
    output_activation: str | None
    is_classification: bool


#: Registered losses by name.
LOSSES: dict[str, LossSpec] = {
    "mse": LossSpec("mse", 0, None, False),
    "binary_crossentropy": LossSpec("binary_crossentropy", 1, "sigmoid", True),
    "categorical_crossentropy": LossSpec("categorical_crossentropy", 2, "softmax", True),
    "poisson": LossSpec("poisson", 3, "exp", False),
}

MSE, BINARY_CROSSENTROPY, CATEGORICAL_CROSSENTROPY, POISSON = (spec.code for spec in LOSSES.values())

#: Common aliases accepted on input.
ALIASES: dict[str, str] = {
    "mean_squared_error": "mse",
    "bce": "binary_crossentropy",
    "log_loss": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy",
}


def loss_spec(loss) -> LossSpec:
    """Return the :class:`LossSpec` registered under ``loss`` (a name or alias).

    Raises
    ------
    TypeError
        If ``loss`` is not a string.
    ValueError
        If it names no registered loss; the message lists the valid names.
    """
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string, one of {list(LOSSES)}; got {type(loss).__name__}")
    name = ALIASES.get(loss, loss)
    if name not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")
    return LOSSES[name]


def loss_code(loss) -> int:
    """Integer code of ``loss`` (see :func:`loss_spec` for errors)."""
    return loss_spec(loss).code
