"""fastnn.kernels.activations against its plain-NumPy twin fastnn.reference.activations.

activation_forward, activation_derivative and activation_backward for every
registered activation: the returned array, a caller's ``out`` and in place.

How every test here runs (builds, dtypes, shapes, tolerances): ``tests/kernels/__init__.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.activations import ACTIVATIONS, ELEMENTWISE_ACTIVATIONS

K = H.backend("kernels")
R = H.backend("reference")


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(activation, shape, dtype, mode, rng):
    """activation_forward(z) matches the reference; also into a caller's out and in place (out=z)."""
    z = H.randn(rng, shape, dtype, scale=3.0)
    expected = R.activation_forward(z, activation)
    terms, scale = H.activation_scale(z, activation)

    got = K.activation_forward(z, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale, err_msg=f"{activation} {mode}")

    out = H.nan_like(z)
    assert K.activation_forward(z, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    z_inplace = z.copy()
    assert K.activation_forward(z_inplace, activation, out=z_inplace) is z_inplace
    H.assert_close(z_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=z (in place)")


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ELEMENTWISE_ACTIVATIONS)
def test_activation_derivative(activation, shape, dtype, mode, rng):
    """activation_derivative(a) matches the reference, also with out= and in place (out=a)."""
    a = H.activation_output(H.randn(rng, shape, dtype, scale=3.0), activation)
    expected = R.activation_derivative(a, activation)
    # 1 - a*a and a*(1-a) cancel near |a| = 1: the error is relative to 1 + a^2.
    scale = 1.0 + np.abs(a.astype(np.float64)) ** 2

    got = K.activation_derivative(a, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=2, scale=scale)

    out = H.nan_like(a)
    assert K.activation_derivative(a, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=2, scale=scale, err_msg="out=")

    a_inplace = a.copy()
    K.activation_derivative(a_inplace, activation, out=a_inplace)
    H.assert_close(a_inplace, expected, dtype, terms=2, scale=scale, err_msg="out=a (in place)")


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward(activation, shape, dtype, mode, rng):
    """activation_backward(a, grad_a) matches the reference; out=, out=grad_a and out=a in place."""
    a = H.activation_output(H.randn(rng, shape, dtype, scale=3.0), activation)
    g = H.randn(rng, shape, dtype)
    expected = R.activation_backward(a, g, activation)
    terms, scale = H.backward_scale(a, g, activation)

    got = K.activation_backward(a, g, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale)

    out = H.nan_like(a)
    assert K.activation_backward(a, g, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    g_inplace = g.copy()
    K.activation_backward(a, g_inplace, activation, out=g_inplace)
    H.assert_close(g_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=grad_a")

    a_inplace = a.copy()
    K.activation_backward(a_inplace, g, activation, out=a_inplace)
    H.assert_close(a_inplace, expected, dtype, terms=terms, scale=scale, err_msg="out=a")
