"""Finite-difference gradient check of a whole small network (after scikit-learn's ``test_gradient``).

A 3-layer MLP 5 -> 4 -> 3 -> 3 is built from ``dense_forward``; its loss is
``loss_value``; back-propagation uses ``output_delta`` and ``dense_backward``
(the output layer passes the fused delta with activation "identity").  Every
analytic gradient (every layer's grad_w and grad_b, and dL/dx) must match
central differences of ``loss_value`` in float64, for every hidden activation x
every (loss, output activation) pair of the registries, on both backends.
(Small inputs run the kernels' serial build in "auto" mode; one network is
also checked with the parallel build forced.  That build is otherwise pinned
bit-for-bit to the serial one in tests/kernels/test_jit.py: forcing it for
~600 tiny calls per network only measures thread wake-up latency.)
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.activations import ACTIVATIONS
from fastnn.losses import LOSSES

LAYERS = (5, 4, 3, 3)
N_SAMPLES = 4
STEP = 1e-6
# Central differences: truncation O(STEP^2 |f'''|) ~ 1e-11, cancellation O(eps |L| / STEP) ~ 1e-10.
RTOL, ATOL = 1e-6, 1e-8

def make_network(rng, loss, out_activation):
    """Parameters [(w, b), ...], inputs x and realistic targets y (float64)."""
    params = [
        (H.randn(rng, (d, k), np.float64, scale=1.0 / np.sqrt(d)), H.randn(rng, (k,), np.float64, scale=0.3))
        for d, k in zip(LAYERS[:-1], LAYERS[1:])
    ]
    x = H.randn(rng, (N_SAMPLES, LAYERS[0]), np.float64)
    y = H.targets(rng, loss, (N_SAMPLES, LAYERS[-1]), np.float64)
    if LOSSES[loss].output_activation is None and out_activation in ("sigmoid", "softmax"):
        y = H.activation_output(y, out_activation)  # a reachable regression target
    return params, x, y


def forward(mod, params, x, hidden, out_activation):
    """Activations of every layer, input first."""
    acts = [x]
    for i, (w, b) in enumerate(params):
        act = out_activation if i == len(params) - 1 else hidden
        acts.append(mod.dense_forward(acts[-1], w, b, act))
    return acts


def backward(mod, params, acts, y, loss, hidden, out_activation, fused=True):
    """[(grad_w, grad_b), ...] per layer and dL/dx, by back-propagation.

    fused: the output layer's dL/dz comes from output_delta and goes through
    dense_backward with "identity".  Unfused (losses without a fused output
    activation, i.e. MSE): dL/da from ``<loss>_grad`` goes through
    dense_backward with the real output activation.
    """
    grads = [None] * len(params)
    if fused:
        grad_a = mod.output_delta(acts[-1], y, loss, out_activation)
        activation = "identity"
    else:
        grad_a = getattr(mod, H.loss_gradient_name(loss))(acts[-1], y)
        activation = out_activation
    for i in reversed(range(len(params))):
        gw, gb, grad_a = mod.dense_backward(acts[i], params[i][0], acts[i + 1], grad_a, activation)
        grads[i] = (gw, gb)
        activation = hidden
    return grads, grad_a


def numerical_gradient(f, arr):
    """Central differences of the scalar f() with respect to every element of arr (perturbed in place)."""
    grad = np.empty_like(arr)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + STEP
        up = f()
        arr[idx] = orig - STEP
        down = f()
        arr[idx] = orig
        grad[idx] = (up - down) / (2 * STEP)
    return grad


def check_network_gradients(mod, rng, hidden, loss, out_activation, fused=True):
    params, x, y = make_network(rng, loss, out_activation)

    def total_loss():
        value = mod.loss_value(forward(mod, params, x, hidden, out_activation)[-1], y, loss)
        assert isinstance(value, np.float64)
        return float(value)

    acts = forward(mod, params, x, hidden, out_activation)
    grads, grad_x = backward(mod, params, acts, y, loss, hidden, out_activation, fused=fused)
    assert any(np.any(gw != 0) for gw, _ in grads), "degenerate check: all gradients are zero"

    for layer, ((w, b), (gw, gb)) in enumerate(zip(params, grads)):
        np.testing.assert_allclose(gw, numerical_gradient(total_loss, w), rtol=RTOL, atol=ATOL,
                                   err_msg=f"grad_w of layer {layer}")
        np.testing.assert_allclose(gb, numerical_gradient(total_loss, b), rtol=RTOL, atol=ATOL,
                                   err_msg=f"grad_b of layer {layer}")
    np.testing.assert_allclose(grad_x, numerical_gradient(total_loss, x), rtol=RTOL, atol=ATOL,
                               err_msg="dL/dx")


@pytest.mark.parametrize("loss, out_activation", list(H.output_pairs()))
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_network_gradient_matches_finite_differences(backend, rng, hidden, loss, out_activation):
    """Back-propagated gradients of every layer equal central differences of loss_value."""
    check_network_gradients(backend, rng, hidden, loss, out_activation)


def test_network_gradient_with_the_parallel_build(both_builds, rng):
    """The same check through the kernels with each build forced (softmax hidden layer, categorical CE)."""
    loss = next(name for name, spec in LOSSES.items() if spec.output_activation == "softmax")
    check_network_gradients(H.backend("kernels"), rng, "softmax", loss, "softmax")


@pytest.mark.parametrize("out_activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", [name for name, spec in LOSSES.items() if spec.output_activation is None])
def test_unfused_loss_gradient_through_dense_backward(backend, rng, loss, out_activation):
    """mse_grad (dL/dp) fed to dense_backward with the output activation also gives the exact gradient."""
    check_network_gradients(backend, rng, "tanh", loss, out_activation, fused=False)
