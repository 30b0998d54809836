"""Property-based tests (hypothesis) over random shapes and values.

Kernels equal the reference on arbitrary inputs, and both backends satisfy the
mathematical identities of each function (ranges, symmetries, chain rule,
linearity, optimizer fixed points).  ``deadline=None``: the first example of a
new dtype pays for Numba compilation.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import fnn_helpers as H
from fastnn import config
from fastnn.activations import ACTIVATIONS, ELEMENTWISE_ACTIVATIONS
from fastnn.losses import LOSSES

K = H.backend("kernels")
R = H.backend("reference")

SETTINGS = settings(max_examples=60, deadline=None, database=None)
FEW = settings(max_examples=40, deadline=None, database=None)

dtypes = st.sampled_from([np.dtype(d) for d in H.DTYPES])
modes = st.sampled_from(H.MODES)
backends = st.sampled_from(H.BACKENDS)
shapes_1d_2d = array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=17)


def floats(dtype, bound):
    return st.floats(-bound, bound, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)


def float_arrays(draw, dtype, shape, bound=30.0):
    return draw(arrays(dtype, shape, elements=floats(dtype, bound)))


# --------------------------------------------------------------------------
# kernels == reference on arbitrary inputs
# --------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), mode=modes, shape=shapes_1d_2d)
def test_activation_forward_kernel_equals_reference(data, dtype, activation, mode, shape):
    """activation_forward: kernels == reference for any shape and values in [-100, 100]."""
    z = float_arrays(data.draw, dtype, shape, bound=100.0)
    with config.parallel_mode(mode):
        got = K.activation_forward(z, activation)
    terms, scale = H.activation_scale(z, activation)
    H.assert_close(got, R.activation_forward(z, activation), dtype, terms=terms, scale=scale)


@SETTINGS
@given(data=st.data(), dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), mode=modes, shape=shapes_1d_2d)
def test_activation_backward_kernel_equals_reference(data, dtype, activation, mode, shape):
    """activation_backward: kernels == reference for any shape, activation outputs and gradients."""
    a = H.activation_output(float_arrays(data.draw, dtype, shape, bound=10.0), activation)
    g = float_arrays(data.draw, dtype, shape, bound=10.0)
    with config.parallel_mode(mode):
        got = K.activation_backward(a, g, activation)
    terms, scale = H.backward_scale(a, g, activation)
    H.assert_close(got, R.activation_backward(a, g, activation), dtype, terms=terms, scale=scale)


@st.composite
def dense_problem(draw, dtype):
    n, d, k = (draw(st.integers(1, 12)) for _ in range(3))
    x = float_arrays(draw, dtype, (n, d), bound=5.0)
    w = float_arrays(draw, dtype, (d, k), bound=1.0)
    b = float_arrays(draw, dtype, (k,), bound=1.0)
    return x, w, b


@SETTINGS
@given(data=st.data(), dtype=dtypes, activation=st.sampled_from(ACTIVATIONS), mode=modes)
def test_dense_kernels_equal_reference(data, dtype, activation, mode):
    """dense_forward and dense_backward: kernels == reference for any layer size."""
    x, w, b = data.draw(dense_problem(dtype))
    a = R.dense_forward(x, w, b, activation)
    g = float_arrays(data.draw, dtype, a.shape, bound=3.0)
    with config.parallel_mode(mode):
        got_a = K.dense_forward(x, w, b, activation)
        got = K.dense_backward(x, w, a, g, activation)
    terms, scale = H.dense_forward_scale(x, w, b, activation)
    H.assert_close(got_a, a, dtype, terms=terms, scale=scale, err_msg="dense_forward")
    bounds = H.dense_backward_scales(x, w, a, g, activation)
    for name, k_val, r_val in zip(("grad_w", "grad_b", "grad_x"), got, R.dense_backward(x, w, a, g, activation)):
        terms, scale = bounds[name]
        H.assert_close(k_val, r_val, dtype, terms=terms, scale=scale, err_msg=name)


@SETTINGS
@given(data=st.data(), dtype=dtypes, loss=st.sampled_from(list(LOSSES)), mode=modes, shape=shapes_1d_2d)
def test_losses_kernel_equal_reference(data, dtype, loss, mode, shape):
    """loss_value and the loss gradient: kernels == reference for arbitrary shapes and (realistic) values."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    grad_name = H.loss_gradient_name(loss)
    with config.parallel_mode(mode):
        value = K.loss_value(p, y, loss)
        grad = getattr(K, grad_name)(p, y)
    expected = R.loss_value(p, y, loss)
    H.assert_close(value, expected, dtype, terms=H.sum_terms(p.size), scale=abs(float(expected)))
    H.assert_close(grad, getattr(R, grad_name)(p, y), dtype)


# --------------------------------------------------------------------------
# activation identities (both backends)
# --------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, shape=shapes_1d_2d)
def test_softmax_rows_are_ordered_probability_distributions(data, dtype, name, shape):
    """softmax: entries in [0, 1], every row sums to 1, and it preserves the order within a row (logits up to 1e4)."""
    z = float_arrays(data.draw, dtype, shape, bound=1e4)
    a = H.backend(name).activation_forward(z, "softmax")
    assert np.all(np.isfinite(a)) and np.all(a >= 0) and np.all(a <= 1)
    z2, a2 = H.rows(z), H.rows(a)
    k = z2.shape[1]
    # each a_j carries a relative error <= (|z_j - m| + k + 4) eps and a_j |z_j - m| <= 1/e
    np.testing.assert_allclose(a2.sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=(2 * k + 4) * H.eps(dtype))
    order = np.argsort(z2, axis=1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(a2, order, axis=1), axis=1) >= 0), "softmax must be monotone in z"
    assert np.all(a2[np.arange(len(z2)), z2.argmax(axis=1)] == a2.max(axis=1))


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, shape=shapes_1d_2d)
def test_sigmoid_range_monotonicity_and_symmetry(data, dtype, name, shape):
    """sigmoid: in [0, 1], nondecreasing, sigmoid(-z) = 1 - sigmoid(z) (for any z up to 1e3)."""
    mod = H.backend(name)
    z = float_arrays(data.draw, dtype, shape, bound=1e3)
    a = mod.activation_forward(z, "sigmoid")
    assert np.all((a >= 0) & (a <= 1))
    flat_z, flat_a = z.ravel(), a.ravel()
    order = np.argsort(flat_z, kind="stable")
    assert np.all(np.diff(flat_a[order]) >= 0)
    np.testing.assert_allclose(mod.activation_forward(-z, "sigmoid"), 1 - a.astype(np.float64),
                               rtol=0, atol=2 * H.eps(dtype))


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, shape=shapes_1d_2d)
def test_relu_tanh_identity_exact_properties(data, dtype, name, shape):
    """identity copies z exactly; relu is z where z > 0 and 0 elsewhere, exactly; tanh is odd and in [-1, 1]."""
    mod = H.backend(name)
    z = float_arrays(data.draw, dtype, shape, bound=50.0)
    np.testing.assert_array_equal(mod.activation_forward(z, "identity"), z)
    np.testing.assert_array_equal(mod.activation_forward(z, "relu"), np.where(z > 0, z, 0).astype(dtype))
    t = mod.activation_forward(z, "tanh")
    assert np.all((t >= -1) & (t <= 1))
    np.testing.assert_allclose(mod.activation_forward(-z, "tanh"), -t, rtol=H.eps(dtype), atol=0)


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ELEMENTWISE_ACTIVATIONS),
       shape=shapes_1d_2d)
def test_elementwise_backward_is_grad_times_derivative(data, dtype, name, activation, shape):
    """For elementwise activations, activation_backward(a, g) == g * activation_derivative(a) elementwise."""
    mod = H.backend(name)
    a = H.activation_output(float_arrays(data.draw, dtype, shape, bound=10.0), activation)
    g = float_arrays(data.draw, dtype, shape, bound=10.0)
    product = g.astype(np.float64) * mod.activation_derivative(a, activation)
    # two roundings at most; below the normal range the spacing is absolute (smallest subnormal)
    np.testing.assert_allclose(mod.activation_backward(a, g, activation), product,
                               rtol=2 * H.eps(dtype), atol=2 * float(np.finfo(dtype).smallest_subnormal))


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, shape=shapes_1d_2d)
def test_softmax_backward_rows_sum_to_zero(data, dtype, name, shape):
    """The softmax Jacobian has rows summing to 0 (sum_j a_j = 1), so each row of dL/dz sums to 0."""
    a = H.activation_output(float_arrays(data.draw, dtype, shape, bound=10.0), "softmax")
    g = float_arrays(data.draw, dtype, shape, bound=10.0)
    grad_z = H.rows(H.backend(name).activation_backward(a, g, "softmax")).astype(np.float64)
    terms, scale = H.backward_scale(a, g, "softmax")
    k = grad_z.shape[1]
    # sum_j a_j (g_j - s) = s (1 - sum_j a_j): the rounding of the terms plus that of sum_j a_j (<= (2k + 4) eps)
    bound = (terms + 2 * k + 4) * H.eps(dtype) * H.rows(scale).sum(axis=1) + H.BASE_ATOL[np.dtype(dtype)]
    assert np.all(np.abs(grad_z.sum(axis=1)) <= bound)


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ACTIVATIONS))
def test_one_dimensional_input_is_one_row(data, dtype, name, activation):
    """A 1-D input of length k gives exactly the (1, k) result, in the caller's shape."""
    mod = H.backend(name)
    k = data.draw(st.integers(1, 20))
    z = float_arrays(data.draw, dtype, (k,), bound=20.0)
    a = mod.activation_forward(z, activation)
    assert a.shape == (k,)
    np.testing.assert_array_equal(a, mod.activation_forward(z[None, :], activation)[0])
    g = float_arrays(data.draw, dtype, (k,), bound=5.0)
    np.testing.assert_array_equal(mod.activation_backward(a, g, activation),
                                  mod.activation_backward(a[None], g[None], activation)[0])


# --------------------------------------------------------------------------
# dense-layer identities
# --------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ACTIVATIONS))
def test_bias_is_a_weight_on_a_constant_one_input(data, dtype, name, activation):
    """Appending a column of ones to x and b as a last row of w: same forward; grad_w's last row is grad_b."""
    mod = H.backend(name)
    x, w, b = data.draw(dense_problem(dtype))
    x1 = np.hstack([x, np.ones((len(x), 1), dtype)])
    w1 = np.vstack([w, b[None, :]])
    zero_b = np.zeros_like(b)
    a = mod.dense_forward(x, w, b, activation)
    terms, scale = H.dense_forward_scale(x1, w1, zero_b, activation)
    H.assert_close(mod.dense_forward(x1, w1, zero_b, activation), a, dtype, terms=terms, scale=scale)

    g = float_arrays(data.draw, dtype, a.shape, bound=3.0)
    gw, gb, _ = mod.dense_backward(x, w, a, g, activation)
    gw1, gb1, _ = mod.dense_backward(x1, w1, a, g, activation)
    bounds = H.dense_backward_scales(x1, w1, a, g, activation)
    terms, scale = bounds["grad_w"]
    H.assert_close(gw1[-1], gb, dtype, terms=terms, scale=scale[-1], err_msg="bias row of grad_w vs grad_b")
    H.assert_close(gw1[:-1], gw, dtype, terms=terms, scale=scale[:-1], err_msg="grad_w")
    H.assert_close(gb1, gb, dtype, terms=terms, scale=bounds["grad_b"][1], err_msg="grad_b")


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ACTIVATIONS))
def test_dense_backward_is_the_chain_rule(data, dtype, name, activation):
    """grad_w = x.T @ delta, grad_b = sum(delta), grad_x = delta @ w.T with delta = activation_backward(a, grad_a)."""
    mod = H.backend(name)
    x, w, b = data.draw(dense_problem(dtype))
    a = mod.dense_forward(x, w, b, activation)
    g = float_arrays(data.draw, dtype, a.shape, bound=3.0)
    delta = mod.activation_backward(a, g, activation).astype(np.float64)
    gw, gb, gx = mod.dense_backward(x, w, a, g, activation)
    bounds = H.dense_backward_scales(x, w, a, g, activation)
    H.assert_close(gw, x.T.astype(np.float64) @ delta, dtype, terms=bounds["grad_w"][0], scale=bounds["grad_w"][1])
    H.assert_close(gb, delta.sum(axis=0), dtype, terms=bounds["grad_b"][0], scale=bounds["grad_b"][1])
    H.assert_close(gx, delta @ w.T.astype(np.float64), dtype, terms=bounds["grad_x"][0],
                   scale=bounds["grad_x"][1])


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ACTIVATIONS))
def test_dense_backward_is_linear_in_the_upstream_gradient(data, dtype, name, activation):
    """dense_backward(grad_a = g1 + g2) == dense_backward(g1) + dense_backward(g2), for all three gradients."""
    mod = H.backend(name)
    x, w, b = data.draw(dense_problem(dtype))
    a = mod.dense_forward(x, w, b, activation)
    g1 = float_arrays(data.draw, dtype, a.shape, bound=3.0)
    g2 = float_arrays(data.draw, dtype, a.shape, bound=3.0)
    both = mod.dense_backward(x, w, a, g1 + g2, activation)
    one, two = mod.dense_backward(x, w, a, g1, activation), mod.dense_backward(x, w, a, g2, activation)
    b1 = H.dense_backward_scales(x, w, a, g1, activation)
    b2 = H.dense_backward_scales(x, w, a, g2, activation)
    for i, name_ in enumerate(("grad_w", "grad_b", "grad_x")):
        terms = b1[name_][0] + 2
        scale = 2 * (b1[name_][1] + b2[name_][1])  # both sides round; g1 + g2 rounds once more
        H.assert_close(both[i], one[i].astype(np.float64) + two[i], dtype, terms=terms, scale=scale, err_msg=name_)


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, loss=st.sampled_from(list(LOSSES)), shape=shapes_1d_2d)
def test_loss_is_nonnegative_and_minimal_at_the_target(data, dtype, name, loss, shape):
    """Every loss is finite and minimal at y_pred == y_true; all but Poisson are >= 0; MSE and its gradient vanish there."""
    mod = H.backend(name)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    value = mod.loss_value(p, y, loss)
    assert np.isfinite(value)
    if loss == "poisson":
        # Keras' Poisson loss mean(p - y log p) drops the constant y log y - y, so it can be negative;
        # it is minimal at p == y (where dL/dp = 1 - y/p vanishes), with the clipping p >= eps for y == 0
        y_safe = np.maximum(y, np.finfo(dtype).eps)
        assert mod.loss_value(y_safe, y, loss) <= value + 4 * H.eps(dtype) * (1 + abs(float(value)))
        return
    assert value >= 0
    # at the target the cross-entropies reach their minimum (the entropy of y; 0 for 0/1 labels up to clipping)
    at_target = mod.loss_value(y, y, loss)
    assert at_target <= value
    if LOSSES[loss].output_activation is None:
        assert at_target == 0
        assert not np.any(getattr(mod, H.loss_gradient_name(loss))(y, y))
    else:  # 0/1 targets: only the clipping to [eps, 1 - eps] is left, -log(1 - eps) ~ eps per label
        assert at_target <= 2 * H.eps(dtype)
    if p.ndim == 1:  # a 1-D pair is one row
        assert value == mod.loss_value(p[None], y[None], loss)


@SETTINGS
@given(data=st.data(), dtype=dtypes, name=backends, activation=st.sampled_from(ACTIVATIONS), shape=shapes_1d_2d)
def test_unfused_output_delta_is_activation_backward_of_the_loss_gradient(data, dtype, name, activation, shape):
    """For losses without a fused activation: output_delta == activation_backward(p, <loss>_grad(p, y))."""
    mod = H.backend(name)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for loss, spec in LOSSES.items():
        if spec.output_activation is not None:
            continue
        p, y = H.loss_inputs(rng, loss, shape, dtype, activation=activation)
        grad_p = getattr(mod, H.loss_gradient_name(loss))(p, y)
        expected = mod.activation_backward(p, grad_p, activation)
        terms, scale = H.backward_scale(p, grad_p, activation)
        H.assert_close(mod.output_delta(p, y, loss, activation), expected, dtype, terms=terms, scale=scale)


# --------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------

param_shapes = array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=17)


@FEW
@given(data=st.data(), dtype=dtypes, name=backends, shape=param_shapes,
       weight_decay=st.floats(0, 1), momentum=st.floats(0, 0.99), nesterov=st.booleans())
def test_zero_learning_rate_leaves_param_unchanged(data, dtype, name, shape, weight_decay, momentum, nesterov):
    """lr = 0: sgd, momentum (from zero velocity) and adam leave param bit-for-bit unchanged."""
    mod = H.backend(name)
    p0 = float_arrays(data.draw, dtype, shape, bound=10.0)
    g = float_arrays(data.draw, dtype, shape, bound=10.0)
    p = p0.copy()
    mod.sgd_update(p, g, 0.0, weight_decay=weight_decay)
    np.testing.assert_array_equal(p, p0)
    mod.momentum_update(p, g, np.zeros_like(p), 0.0, momentum, nesterov=nesterov, weight_decay=weight_decay)
    np.testing.assert_array_equal(p, p0)
    m, v = np.zeros_like(p), np.zeros_like(p)
    mod.adam_update(p, g, m, v, 1, lr=0.0, weight_decay=weight_decay)
    np.testing.assert_array_equal(p, p0)
    # ... while its moments still move: m = (1 - beta1) g, v = (1 - beta2) g^2 with g = grad + weight_decay * param
    g_eff = g.astype(np.float64) + weight_decay * p0.astype(np.float64)
    g_mag = np.abs(g.astype(np.float64)) + weight_decay * np.abs(p0.astype(np.float64))  # g_eff may cancel
    tiny = float(np.finfo(dtype).tiny)  # products may underflow
    assert np.all(np.abs(m - (1 - 0.9) * g_eff) <= 4 * H.eps(dtype) * 0.1 * g_mag + tiny)
    assert np.all(np.abs(v - (1 - 0.999) * g_eff**2) <= 8 * H.eps(dtype) * 0.001 * g_mag**2 + tiny)


@FEW
@given(data=st.data(), dtype=dtypes, name=backends, shape=param_shapes,
       lr=st.floats(0, 1), weight_decay=st.floats(0, 1), nesterov=st.booleans())
def test_momentum_zero_is_sgd(data, dtype, name, shape, lr, weight_decay, nesterov):
    """momentum = 0 (plain or Nesterov) makes the same step as sgd_update, and velocity = -lr * g."""
    mod = H.backend(name)
    p0 = float_arrays(data.draw, dtype, shape, bound=10.0)
    g = float_arrays(data.draw, dtype, shape, bound=10.0)
    p_sgd, p_mom, vel = p0.copy(), p0.copy(), np.zeros_like(p0)
    mod.sgd_update(p_sgd, g, lr, weight_decay=weight_decay)
    mod.momentum_update(p_mom, g, vel, lr, 0.0, nesterov=nesterov, weight_decay=weight_decay)
    scale = np.abs(p0.astype(np.float64)) + lr * (np.abs(g) + weight_decay * np.abs(p0))
    H.assert_close(p_mom, p_sgd, dtype, terms=6, scale=scale)
    step = lr * (g.astype(np.float64) + weight_decay * p0.astype(np.float64))
    H.assert_close(vel, -step, dtype, terms=4, scale=np.abs(step) + lr * np.abs(g))


@FEW
@given(data=st.data(), dtype=dtypes, name=backends, shape=param_shapes, lr=st.floats(1e-4, 1.0))
def test_first_adam_step_has_size_lr_and_descends(data, dtype, name, shape, lr):
    """From m = v = 0 the first Adam step is lr * g / (|g| + eps/sqrt(1-b2)): about lr, against the gradient."""
    mod = H.backend(name)
    p0 = float_arrays(data.draw, dtype, shape, bound=10.0)
    g = data.draw(arrays(dtype, shape, elements=st.floats(0.125, 10, width=np.dtype(dtype).itemsize * 8)))
    g = g * np.where(np.arange(g.size).reshape(shape) % 2, -1, 1).astype(dtype)
    p = p0.copy()
    mod.adam_update(p, g, np.zeros_like(p), np.zeros_like(p), 1, lr=lr)
    step = p.astype(np.float64) - p0
    assert np.all(np.sign(step) == -np.sign(g)), "the first Adam step must go against the gradient"
    expected = lr * np.abs(g.astype(np.float64)) / (np.abs(g) + 1e-8 / np.sqrt(1 - 0.999))
    # |p| up to 10 vs a step down to 1e-4: the step is known to eps * |p| absolute
    H.assert_close(np.abs(step), expected, dtype, terms=8, scale=np.abs(p0) + expected)
