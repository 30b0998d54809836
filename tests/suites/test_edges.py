"""Numerical edges: saturated activations, huge logits, log(0) in cross-entropy, empty batches.

Every result must be finite (where the math is finite) and no RuntimeWarning
(overflow, divide by zero, invalid value) may be emitted: each call runs with
warnings turned into errors.  Run on both backends and both kernel builds.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.activations import ACTIVATIONS
from fastnn.losses import LOSSES


def quiet(fn, *args, **kwargs):
    """Call fn with every warning raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def extreme_values(dtype):
    big = float(np.finfo(dtype).max)
    return np.array([-big, -1e30, -1000.0, -710.0, -100.0, -88.8, -20.0, -1e-30, 0.0,
                     1e-30, 20.0, 88.8, 100.0, 710.0, 1000.0, 1e30, big], dtype=dtype)


def test_sigmoid_saturates_without_overflow(impl, dtype):
    """sigmoid(+-1000 ... +-max) is finite, in [0, 1], exactly 1 / 0 far out, 0.5 at 0, and warning-free."""
    z = extreme_values(dtype)
    a = quiet(impl.activation_forward, z, "sigmoid")
    assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a <= 1))
    assert np.all(np.diff(a) >= 0)
    assert a[z == 0][0] == 0.5
    assert np.all(a[z >= 100] == 1) and np.all(a[z <= -1000] == 0)
    # far left the result is exp(z), not flushed to zero early
    np.testing.assert_allclose(a[z == np.asarray(-20.0, dtype)], math.exp(-20.0) / (1 + math.exp(-20.0)),
                               rtol=H.BASE_RTOL[dtype])
    # the derivative written with a is 0 (not NaN) at saturation
    d = quiet(impl.activation_derivative, a, "sigmoid")
    assert np.all(np.isfinite(d)) and np.all(d[np.abs(z) >= 1000] == 0)


def test_tanh_relu_identity_of_huge_values(impl, dtype):
    """tanh(+-1000 ... +-max) = +-1 exactly; relu and identity pass huge values through exactly."""
    z = extreme_values(dtype)
    t = quiet(impl.activation_forward, z, "tanh")
    assert np.all(t[z >= 100] == 1) and np.all(t[z <= -100] == -1) and np.all(np.isfinite(t))
    np.testing.assert_array_equal(quiet(impl.activation_forward, z, "relu"), np.maximum(z, 0))
    np.testing.assert_array_equal(quiet(impl.activation_forward, z, "identity"), z)
    d = quiet(impl.activation_derivative, t, "tanh")
    assert np.all(d[np.abs(z) >= 100] == 0)


@pytest.mark.parametrize("shift", [0.0, 1000.0, -1000.0, 5000.0, -5000.0])
def test_softmax_of_large_logits_is_shift_invariant(impl, dtype, shift):
    """softmax(z + c) == softmax(z) for logits in the thousands: no overflow, no NaN, rows sum to 1."""
    base = np.array([[0.0, 1.0, 2.0], [-3.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    z = (base + shift).astype(dtype)
    a = quiet(impl.activation_forward, z, "softmax")
    assert np.all(np.isfinite(a))
    e = np.exp(base - base.max(axis=1, keepdims=True))
    # z + shift itself is rounded in float32 (spacing 2**-11 at 5000), which shifts the logits slightly
    atol = 4 * float(np.spacing(np.asarray(abs(shift) + 3, dtype=dtype))) + 4 * H.eps(dtype)
    np.testing.assert_allclose(a, e / e.sum(axis=1, keepdims=True), rtol=0, atol=atol)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=4 * H.eps(dtype))


def test_softmax_saturates_to_one_hot(impl, dtype):
    """Logit gaps of 1e4 give exact one-hot rows; its backward pass is finite (zero for one-hot a)."""
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [7e3, 7e3, -7e3]], dtype=dtype)
    a = quiet(impl.activation_forward, z, "softmax")
    np.testing.assert_array_equal(a, np.array([[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]], dtype=dtype))
    g = np.array([[1.0, -2.0, 3.0]] * 3, dtype=dtype)
    grad_z = quiet(impl.activation_backward, a, g, "softmax")
    assert np.all(np.isfinite(grad_z))
    np.testing.assert_array_equal(grad_z[:2], 0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_with_huge_pre_activations(impl, dtype, activation):
    """A dense layer whose pre-activations are +-1e4 gives finite activations without warnings."""
    x = np.array([[100.0, -100.0], [-100.0, 100.0]], dtype=dtype)
    w = np.array([[50.0, -50.0, 1.0], [-50.0, 50.0, 1.0]], dtype=dtype)
    b = np.zeros(3, dtype=dtype)
    a = quiet(impl.dense_forward, x, w, b, activation)
    if activation == "exp":  # exp(+1e4) is inf and exp(-1e4) is 0: the true values' limits, without a warning
        z = x.astype(np.float64) @ w.astype(np.float64)
        np.testing.assert_array_equal(a[z > 1000], np.inf)
        np.testing.assert_array_equal(a[z < -1000], 0)
        return
    assert np.all(np.isfinite(a))


def _clipped_log_terms(dtype):
    eps = np.finfo(dtype).eps
    return -math.log(float(eps)), -math.log1p(-float(eps))  # wrong and right prediction, clipped


@pytest.mark.parametrize("loss", [name for name, spec in LOSSES.items() if spec.is_classification])
def test_cross_entropy_of_exact_zero_and_one_predictions(impl, dtype, loss):
    """p exactly 0 or 1 is clipped to [eps, 1 - eps]: a wrong prediction costs -log(eps), a right one -log(1 - eps)."""
    wrong, right = _clipped_log_terms(dtype)
    k = 3
    y = np.zeros((2, k), dtype=dtype)
    y[0, 0] = y[1, 2] = 1
    fname = H.loss_function_name(loss)
    if LOSSES[loss].output_activation == "softmax":  # -sum(y log p) / n, one term per row
        perfect, hopeless = y.copy(), np.roll(y, 1, axis=1)
        expect_perfect, expect_hopeless = right, wrong
    else:  # -mean over every element: each element contributes -log(1 - eps) or -log(eps)
        perfect, hopeless = y.copy(), 1 - y
        expect_perfect, expect_hopeless = right, wrong
    for p, expected in ((perfect, expect_perfect), (hopeless, expect_hopeless)):
        value = quiet(getattr(impl, fname), p, y)
        assert np.isfinite(value) and value.dtype == dtype
        np.testing.assert_allclose(value, expected, rtol=H.BASE_RTOL[dtype])
        assert quiet(impl.loss_value, p, y, loss) == value
        delta = quiet(getattr(impl, H.loss_gradient_name(loss)), p, y)
        assert np.all(np.isfinite(delta))
        act = LOSSES[loss].output_activation
        assert np.all(np.isfinite(quiet(impl.output_delta, p, y, loss, act)))


def test_poisson_with_zero_predictions_is_finite(impl, dtype):
    """A predicted rate of exactly 0 against a positive count is clipped to eps: a finite, large loss."""
    p = np.array([[0.0, 2.0]], dtype=dtype)
    y = np.array([[3.0, 2.0]], dtype=dtype)
    eps = float(np.finfo(dtype).eps)
    expected = ((0.0 - 3.0 * math.log(eps)) + (2.0 - 2.0 * math.log(2.0))) / 2
    value = quiet(impl.poisson_loss, p, y)
    assert np.isfinite(value) and value.dtype == dtype
    np.testing.assert_allclose(value, expected, rtol=H.BASE_RTOL[dtype])
    np.testing.assert_array_equal(quiet(impl.poisson_delta, p, y), (p - y) / p.size)


def test_soft_labels_with_zero_predictions_are_finite(impl, dtype):
    """Targets strictly between 0 and 1 against predictions of exactly 0/1: finite, positive losses."""
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    y = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], dtype=dtype)
    for loss, spec in LOSSES.items():
        value = quiet(impl.loss_value, p, y, loss)
        assert np.isfinite(value) and value > 0, loss


def test_adam_with_zero_gradient_and_zero_state(impl, dtype):
    """Adam from m = v = 0 with a zero gradient divides 0 by eps, not by 0: param unchanged, no warning."""
    p0 = np.array([[1.0, -2.0], [0.0, 3.0]], dtype=dtype)
    p = p0.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    quiet(impl.adam_update, p, np.zeros_like(p), m, v, 1)
    np.testing.assert_array_equal(p, p0)
    assert not np.any(m) and not np.any(v)


def test_empty_batch(impl, dtype):
    """Zero samples: activations and dense forward give empty results, gradients of weights are exactly zero."""
    x = np.empty((0, 3), dtype=dtype)
    w = np.ones((3, 2), dtype=dtype)
    b = np.ones(2, dtype=dtype)
    for act in ACTIVATIONS:
        a = quiet(impl.dense_forward, x, w, b, act)
        assert a.shape == (0, 2) and a.dtype == dtype
        assert quiet(impl.activation_forward, a, act).shape == (0, 2)
        gw, gb, gx = quiet(impl.dense_backward, x, w, a, np.empty((0, 2), dtype=dtype), act)
        np.testing.assert_array_equal(gw, np.zeros((3, 2)))
        np.testing.assert_array_equal(gb, np.zeros(2))
        assert gx.shape == (0, 3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nan_propagates(impl, dtype, activation):
    """A NaN pre-activation gives NaN (never a silently finite value), in its row for softmax."""
    z = np.array([[0.5, np.nan, -1.0], [0.5, 2.0, -1.0]], dtype=dtype)
    with np.errstate(invalid="ignore"):
        a = impl.activation_forward(z, activation)
    if activation == "softmax":
        assert np.all(np.isnan(a[0])) and np.all(np.isfinite(a[1]))
    else:
        np.testing.assert_array_equal(np.isnan(a), np.isnan(z))
