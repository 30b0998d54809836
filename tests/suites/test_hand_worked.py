"""One training step of a tiny network, worked out by hand.

Network 2 -> 2 -> 1: sigmoid hidden layer, identity output, MSE loss, one
sample, one SGD step with lr = 0.1.  The weights are chosen so that every
intermediate number is a short binary fraction::

    x  = [1, 2]                  y  = [1]
    W1 = [[ 0.25, -0.75],        b1 = [0.25, -0.25]
          [-0.25,  0.50]]
    W2 = [[ 1.0],                b2 = [0.5]
          [-2.0]]

Forward
    z1 = x @ W1 + b1 = [1*0.25 + 2*(-0.25) + 0.25,  1*(-0.75) + 2*0.5 - 0.25] = [0, 0]
    a1 = sigmoid(z1) = [0.5, 0.5]
    z2 = a1 @ W2 + b2 = 0.5*1 + 0.5*(-2) + 0.5 = 0
    a2 = z2 = 0                                    (identity)
    L  = mean((a2 - y)^2) = (0 - 1)^2 = 1

Backward
    dL/da2 = 2 (a2 - y) / N = 2 * (0 - 1) / 1 = -2;   identity: delta2 = -2
    grad_W2 = a1^T delta2 = [[0.5 * -2], [0.5 * -2]] = [[-1], [-1]]
    grad_b2 = [-2]
    dL/da1  = delta2 W2^T = [-2 * 1, -2 * -2] = [-2, 4]
    delta1  = dL/da1 * a1 (1 - a1) = [-2 * 0.25, 4 * 0.25] = [-0.5, 1]
    grad_W1 = x^T delta1 = [[1 * -0.5, 1 * 1], [2 * -0.5, 2 * 1]] = [[-0.5, 1], [-1, 2]]
    grad_b1 = [-0.5, 1]
    dL/dx   = delta1 W1^T = [-0.5*0.25 + 1*(-0.75), -0.5*(-0.25) + 1*0.5] = [-0.875, 0.625]

SGD step (param -= 0.1 * grad)
    W1' = [[0.25 + 0.05, -0.75 - 0.1], [-0.25 + 0.1, 0.5 - 0.2]] = [[0.3, -0.85], [-0.15, 0.3]]
    b1' = [0.25 + 0.05, -0.25 - 0.1] = [0.3, -0.35]
    W2' = [[1 + 0.1], [-2 + 0.1]] = [[1.1], [-1.9]]
    b2' = [0.5 + 0.2] = [0.7]

Forward after the step
    z1' = [1*0.3 + 2*(-0.15) + 0.3,  1*(-0.85) + 2*0.3 - 0.35] = [0.3, -0.6]
    a1' = [sigmoid(0.3), sigmoid(-0.6)] = [0.574443, 0.354344]
    a2' = 1.1 * 0.574443 - 1.9 * 0.354344 + 0.7 = 0.658634
    L'  = (0.658634 - 1)^2 = 0.116531  < 1: the step went downhill.

(A transposed W1 would give z1 = [-1, 0.5], a dropped bias z2 = -0.5: both visible.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

LR = 0.1


def sigmoid(t):
    return 1.0 / (1.0 + math.exp(-t))


# The hand-derived numbers of the docstring, as plain Python.
EXPECTED = {
    "a1": [0.5, 0.5],
    "a2": [0.0],
    "loss": 1.0,
    "delta2": [-2.0],
    "grad_W2": [[-1.0], [-1.0]],
    "grad_b2": [-2.0],
    "grad_a1": [-2.0, 4.0],
    "grad_W1": [[-0.5, 1.0], [-1.0, 2.0]],
    "grad_b1": [-0.5, 1.0],
    "grad_x": [-0.875, 0.625],
    "W1_new": [[0.25 - LR * -0.5, -0.75 - LR * 1.0], [-0.25 - LR * -1.0, 0.5 - LR * 2.0]],
    "b1_new": [0.25 - LR * -0.5, -0.25 - LR * 1.0],
    "W2_new": [[1.0 - LR * -1.0], [-2.0 - LR * -1.0]],
    "b2_new": [0.5 - LR * -2.0],
}
_a1_new = [sigmoid(1 * 0.3 + 2 * -0.15 + 0.3), sigmoid(1 * -0.85 + 2 * 0.3 - 0.35)]
EXPECTED["loss_new"] = (1.1 * _a1_new[0] - 1.9 * _a1_new[1] + 0.7 - 1.0) ** 2

TOL = {np.dtype(np.float32): dict(rtol=1e-6, atol=1e-7), np.dtype(np.float64): dict(rtol=1e-14, atol=1e-15)}


def test_hand_derived_numbers_are_consistent():
    """The literals above agree with the docstring's arithmetic (guards typos in the expected values)."""
    np.testing.assert_allclose(EXPECTED["W1_new"], [[0.3, -0.85], [-0.15, 0.3]], rtol=1e-15)
    np.testing.assert_allclose(EXPECTED["b1_new"], [0.3, -0.35], rtol=1e-15)
    np.testing.assert_allclose(EXPECTED["W2_new"], [[1.1], [-1.9]], rtol=1e-15)
    np.testing.assert_allclose(EXPECTED["b2_new"], [0.7], rtol=1e-15)
    assert EXPECTED["loss_new"] == pytest.approx(0.116531, abs=1e-6)


def test_one_sgd_step_of_a_tiny_network(impl, dtype):
    """Forward, loss, back-propagation and one SGD step reproduce the hand-worked numbers."""
    mod = impl
    tol = TOL[dtype]

    def check(name, got):
        assert np.asarray(got).dtype == dtype, name
        np.testing.assert_allclose(got, EXPECTED[name], err_msg=name, **tol)

    arr = lambda v: np.array(v, dtype=dtype)  # noqa: E731
    x, y = arr([[1.0, 2.0]]), arr([[1.0]])
    W1, b1 = arr([[0.25, -0.75], [-0.25, 0.5]]), arr([0.25, -0.25])
    W2, b2 = arr([[1.0], [-2.0]]), arr([0.5])

    a1 = mod.dense_forward(x, W1, b1, "sigmoid")
    a2 = mod.dense_forward(a1, W2, b2, "identity")
    check("a1", a1[0])
    check("a2", a2[0])
    check("loss", mod.loss_value(a2, y, "mse"))

    delta2 = mod.output_delta(a2, y, "mse", "identity")
    check("delta2", delta2[0])
    gW2, gb2, ga1 = mod.dense_backward(a1, W2, a2, delta2, "identity")
    check("grad_W2", gW2)
    check("grad_b2", gb2)
    check("grad_a1", ga1[0])
    gW1, gb1, gx = mod.dense_backward(x, W1, a1, ga1, "sigmoid")
    check("grad_W1", gW1)
    check("grad_b1", gb1)
    check("grad_x", gx[0])

    for param, grad in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
        assert mod.sgd_update(param, grad, LR) is param
    check("W1_new", W1)
    check("b1_new", b1)
    check("W2_new", W2)
    check("b2_new", b2)

    a2_new = mod.dense_forward(mod.dense_forward(x, W1, b1, "sigmoid"), W2, b2, "identity")
    loss_new = mod.loss_value(a2_new, y, "mse")
    check("loss_new", loss_new)
    assert loss_new < EXPECTED["loss"]
