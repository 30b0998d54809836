"""Weight initializers: the registry of ``init=`` names.

Weights are drawn in float64 from a NumPy ``Generator`` and then cast to the
model's dtype, so a float32 and a float64 model built with the same seed
start from the same (rounded) weights, on either backend.  Biases start at
zero, as in the seed tutorials.

==============  ===============================================  ==========================
name            weight of a (fan_in, fan_out) layer              source
==============  ===============================================  ==========================
normal          randn                                            seeds 002, 003
xavier          randn * sqrt(2 / (fan_in + fan_out))             seed 001 (Glorot normal)
glorot_uniform  uniform(-l, l), l = sqrt(6 / (fan_in + fan_out))  Keras' default
he              randn * sqrt(2 / fan_in)                         He et al. (ReLU layers)
==============  ===============================================  ==========================
"""

from __future__ import annotations

import numpy as np

INITIALIZERS: tuple[str, ...] = ("normal", "xavier", "glorot_uniform", "he")


def check_init(init) -> str:
    """Return ``init`` if it names a registered initializer, else raise TypeError/ValueError."""
    if not isinstance(init, str):
        raise TypeError(f"init must be a string, one of {list(INITIALIZERS)}; got {type(init).__name__}")
    if init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; expected one of {list(INITIALIZERS)}")
    return init


def initial_weights(init: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a float64 weight matrix of shape (fan_in, fan_out) for the initializer ``init``."""
    init = check_init(init)
    if init == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))
    w = rng.standard_normal((fan_in, fan_out))
    if init == "xavier":
        w *= np.sqrt(2.0 / (fan_in + fan_out))
    elif init == "he":
        w *= np.sqrt(2.0 / fan_in)
    return w
