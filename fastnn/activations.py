"""The activation registry: the one place where activation names live.

Validation messages, both backends, tests, benchmarks and the README all read
:data:`ACTIVATIONS`.  Kernels select an activation by its integer code (an
index into :data:`ACTIVATIONS`), never by receiving a function: an integer
branch loads from Numba's on-disk cache, a function argument recompiles in
every process.

Derivatives are written in terms of the activation *output* ``a``
(as scikit-learn and the seed tutorials do), so the forward pass keeps only
activations:

==========  ==============================  =============================
name        a = f(z)                        f'(z) written with a
==========  ==============================  =============================
identity    z                               1
relu        max(z, 0)                       1 if a > 0 else 0
sigmoid     1 / (1 + exp(-z))               a (1 - a)
tanh        tanh(z)                         1 - a**2
softmax     exp(z_j) / sum_k exp(z_k)       Jacobian diag(a) - a a^T (row-wise)
exp         exp(z)                          a  (the Poisson output layer)
==========  ==============================  =============================
"""

from __future__ import annotations

#: Registered activation names; the position of a name is its integer code.
ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "sigmoid", "tanh", "softmax", "exp")

IDENTITY, RELU, SIGMOID, TANH, SOFTMAX, EXP = range(len(ACTIVATIONS))

#: Activations applied element by element (their derivative is elementwise too).
ELEMENTWISE_ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "sigmoid", "tanh", "exp")

#: Common aliases accepted on input (scikit-learn calls the sigmoid "logistic").
ALIASES: dict[str, str] = {"linear": "identity", "logistic": "sigmoid"}


def activation_name(activation) -> str:
    """Return the canonical registry name of ``activation``.

    Parameters
    ----------
    activation : str
        A name from :data:`ACTIVATIONS` or an alias from :data:`ALIASES`.

    Raises
    ------
    TypeError
        If ``activation`` is not a string.
    ValueError
        If it names no registered activation; the message lists the valid names.
    """
    if not isinstance(activation, str):
        raise TypeError(
            f"activation must be a string, one of {list(ACTIVATIONS)}; "
            f"got {type(activation).__name__}"
        )
    name = ALIASES.get(activation, activation)
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}"
        )
    return name


def activation_code(activation) -> int:
    """Integer code of ``activation`` (see :func:`activation_name` for errors)."""
    return ACTIVATIONS.index(activation_name(activation))
