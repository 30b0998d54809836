"""Helpers of the interop tests: small random networks and the tolerance rule.

Not a test module.  The networks get their weights through ``set_weights``
(no training), scaled like Glorot's initialisation (N(0, 1 / fan_in)) so every
activation works in its interesting range and the layers neither blow up nor
vanish: the comparisons then measure the two implementations, not the
conditioning of a badly scaled network.
"""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

import fastnn

#: Relative tolerance per dtype (issue 15): float32 1e-6, float64 1e-12.
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


def random_sequential(activations, dtype, rng, n_in=4, width=5, n_out=3) -> fastnn.Sequential:
    """A built Sequential with one layer per entry of ``activations`` (the last has ``n_out`` units)."""
    units = [width] * (len(activations) - 1) + [n_out]
    model = fastnn.Sequential([fastnn.Dense(u, a) for u, a in zip(units, activations)], dtype=dtype, seed=0)
    weights, fan_in, scale = [], n_in, 1.0
    for u, activation in zip(units, activations):
        weights += [rng.normal(size=(fan_in, u)) * (scale / np.sqrt(fan_in)), rng.normal(size=u) * 0.3]
        # after an exp layer (positive, heavy-tailed outputs) the weights are smaller: at full scale the next
        # exp overflows float32 (88.7), and exp's relative error is |z| times z's, so a large z alone would
        # exhaust float32's 1e-6 (~17 ulp); at 0.15 the worst case uses 0.11 of the tolerance
        fan_in, scale = u, (0.15 if activation == "exp" else 1.0)
    model.set_weights(weights)
    return model


def inputs(rng, n, n_in, dtype) -> np.ndarray:
    return rng.normal(size=(n, n_in)).astype(dtype)


def assert_close(actual, expected, dtype) -> None:
    """``actual`` equals ``expected`` to the dtype's relative tolerance.

    The absolute tolerance is the same relative tolerance times the largest
    ``|expected|``: an output near zero is the difference of larger terms
    (``x @ w + b`` cancels), and two correct implementations that add those
    terms in another order differ by a few roundings *of the terms*, which is
    unbounded relative to the small result but not relative to the output's
    scale.
    """
    dtype = np.dtype(dtype)
    expected = np.asarray(expected)
    assert np.asarray(actual).shape == expected.shape
    assert np.isfinite(expected).all()  # (a comparison of infinities would prove nothing)
    rtol = RTOL[dtype]
    assert_allclose(actual, expected, rtol=rtol, atol=rtol * float(np.abs(expected).max()))
