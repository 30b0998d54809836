"""fastnn.kernels.dense against its plain-NumPy twin fastnn.reference.dense.

dense_forward and dense_backward for every registered activation: the
returned arrays, caller buffers (overwritten, not accumulated) and
``compute_grad_x=False``.

How every test here runs (builds, dtypes, shapes, tolerances): ``tests/kernels/__init__.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.activations import ACTIVATIONS

K = H.backend("kernels")
R = H.backend("reference")


@pytest.mark.parametrize("ndk", H.LAYER_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward(activation, ndk, dtype, mode, rng):
    """dense_forward = f(x @ w + b) matches the reference, with and without a caller's out."""
    n, d, k = ndk
    x, w, b = H.dense_inputs(rng, n, d, k, dtype)
    expected = R.dense_forward(x, w, b, activation)
    terms, scale = H.dense_forward_scale(x, w, b, activation)

    got = K.dense_forward(x, w, b, activation)
    assert got.shape == (n, k) and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale, err_msg=f"{activation} {mode}")

    out = np.full((n, k), np.nan, dtype=dtype)
    assert K.dense_forward(x, w, b, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")


@pytest.mark.parametrize("ndk", H.LAYER_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_backward(activation, ndk, dtype, mode, rng):
    """dense_backward's grad_w, grad_b, grad_x match the reference; caller buffers are overwritten, not accumulated."""
    n, d, k = ndk
    x, w, b = H.dense_inputs(rng, n, d, k, dtype)
    a = R.dense_forward(x, w, b, activation)
    g = H.randn(rng, (n, k), dtype)
    expected = dict(zip(("grad_w", "grad_b", "grad_x"), R.dense_backward(x, w, a, g, activation)))
    bounds = H.dense_backward_scales(x, w, a, g, activation)

    got = dict(zip(("grad_w", "grad_b", "grad_x"), K.dense_backward(x, w, a, g, activation)))
    for name, (terms, scale) in bounds.items():
        assert got[name].dtype == dtype
        H.assert_close(got[name], expected[name], dtype, terms=terms, scale=scale, err_msg=f"{name} {mode}")

    buffers = {name: H.nan_like(arr) for name, arr in expected.items()}
    returned = K.dense_backward(x, w, a, g, activation, **buffers)
    for name, ret in zip(("grad_w", "grad_b", "grad_x"), returned):
        assert ret is buffers[name], f"{name} must be returned in the caller's buffer"
        terms, scale = bounds[name]
        H.assert_close(ret, expected[name], dtype, terms=terms, scale=scale, err_msg=f"{name} into out")

    gw, gb, gx = K.dense_backward(x, w, a, g, activation, compute_grad_x=False)
    assert gx is None
    H.assert_close(gw, expected["grad_w"], dtype, terms=bounds["grad_w"][0], scale=bounds["grad_w"][1])
    H.assert_close(gb, expected["grad_b"], dtype, terms=bounds["grad_b"][0], scale=bounds["grad_b"][1])
