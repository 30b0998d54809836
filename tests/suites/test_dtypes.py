"""dtype discipline: float32 in, float32 out; float64 in, float64 out.

Every public function of both backends (and both kernel builds), for every
activation/loss, on small and large inputs: returned arrays, loss scalars and
in-place state arrays keep the input dtype.  A float32 call must never
produce float64 (a stray ``np.float64`` scalar or bare float literal promotes).
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.losses import LOSSES


def _check_dtypes(outputs, dtype, what):
    assert outputs, f"{what}: nothing was returned"
    for name, value in outputs.items():
        if np.ndim(value) == 0:  # loss values: a NumPy scalar of the input dtype, not a Python float
            assert isinstance(value, np.generic), f"{what}: {name} is a {type(value).__name__}, not a NumPy scalar"
        assert value.dtype == dtype, f"{what}: {name} has dtype {value.dtype}, expected {dtype}"


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("case", H.CASES, ids=lambda c: c.id)
def test_results_keep_the_input_dtype(impl, case, dtype, large, rng):
    """Every output of every function (arrays, loss scalars, updated param/state) has the input dtype."""
    outputs = case.build(rng, dtype, large)(impl)
    _check_dtypes(outputs, dtype, f"{impl.__name__}.{case.id}")


@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_scalar_type(backend, loss, dtype, rng):
    """Loss values are exactly np.float32 / np.float64 scalars (type, not just dtype)."""
    p, y = H.loss_inputs(rng, loss, (4, 3), dtype)
    for value in (backend.loss_value(p, y, loss), getattr(backend, H.loss_function_name(loss))(p, y)):
        assert type(value) is dtype.type


def test_float32_and_float64_calls_do_not_mix(backend, rng):
    """The same call in float32 and float64 gives results of the two dtypes that agree to float32 precision."""
    x, w, b = H.dense_inputs(rng, 5, 4, 3, np.float64)
    a64 = backend.dense_forward(x, w, b, "tanh")
    a32 = backend.dense_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), "tanh")
    assert a64.dtype == np.float64 and a32.dtype == np.float32
    np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-6)
