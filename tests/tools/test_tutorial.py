"""fastnn.tools.tutorial: the seed workloads' tutorial-style loops, against fastnn's reference backend.

Both start from the workload's initial weights and do the workload's arithmetic (the true MSE gradient,
the lr schedule); the reference computes it with other code (fastnn.reference.train through
``Sequential.fit``), so agreement to rounding checks the loops, and fastnn, against each other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fastnn import SGD
from fastnn.tools import tutorial
from fastnn.tools.workloads import WORKLOADS, get_workload


@pytest.mark.parametrize("name", tutorial.TUTORIAL_WORKLOADS)
def test_loop_ends_at_the_reference_weights_and_losses(name):
    w = get_workload(name)
    model = w.build_model("numpy")
    start = model.get_weights()
    weights, losses = tutorial.run_tutorial(w, start)
    history = w.fit(model)
    expected = model.get_weights()
    assert [a.shape for a in weights] == [a.shape for a in expected]
    scale = max(1.0, max(float(np.max(np.abs(a))) for a in expected))
    for got, want in zip(weights, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale)
    assert len(losses) == w.epochs
    np.testing.assert_allclose(np.asarray(losses, dtype=float), history.loss, rtol=1e-10)
    for before, after in zip(start, w.build_model("numpy").get_weights()):  # the initial weights are not touched
        np.testing.assert_array_equal(before, after)


def test_every_seed_workload_has_a_loop_and_no_other():
    seeds = [name for name in WORKLOADS if WORKLOADS[name].batch_size is None and WORKLOADS[name].loss == "mse"]
    assert sorted(seeds) == sorted(tutorial.TUTORIAL_WORKLOADS)
    assert all(tutorial.has_tutorial_loop(WORKLOADS[name]) for name in seeds)
    assert not tutorial.has_tutorial_loop(get_workload("tabular"))
    with pytest.raises(ValueError, match="no tutorial-style loop"):
        tutorial.tutorial_call(get_workload("tabular"), [])


@pytest.mark.parametrize("change", [
    {"loss": "binary_crossentropy"},
    {"layers": ((4, "tanh"), (1, "sigmoid"))},
    {"batch_size": 2},
    {"optimizer": lambda: SGD(lr=0.25, momentum=0.9)},
    {"optimizer": lambda: SGD(lr=0.25, decay=0.01)},
])
def test_a_workload_that_no_longer_matches_its_loop_is_refused(change):
    w = dataclasses.replace(get_workload("xor"), **change)
    with pytest.raises(ValueError, match="no longer matches its tutorial-style loop"):
        tutorial.tutorial_call(w, w.build_model("numpy").get_weights())


def test_the_loops_by_hand_on_one_step():
    """One epoch of each two-layer loop equals one gradient step worked out here with the chain rule."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 2)), rng.random((5, 1))
    weights = [rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((3, 1)), rng.standard_normal(1)]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for loop, hidden, output in ((tutorial.xor_loop, sig, sig), (tutorial.classify_loop, lambda z: np.maximum(z, 0), sig),
                                 (lambda *a: tutorial.house_loop(*a, 0.0), lambda z: np.maximum(z, 0), lambda z: z)):
        W1, b1, W2, b2 = weights
        h = hidden(X @ W1 + b1)
        p = output(h @ W2 + b2)
        # derivatives of each activation, from its definition: sigmoid' = s (1 - s), relu' = [z > 0], identity' = 1
        d_out = p * (1 - p) if output is sig else np.ones_like(p)
        d_hidden = h * (1 - h) if hidden is sig else (X @ W1 + b1 > 0).astype(float)
        g_z2 = 2 * (p - y) / p.size * d_out
        g_z1 = (g_z2 @ W2.T) * d_hidden
        expected = [W1 - 0.3 * X.T @ g_z1, b1 - 0.3 * g_z1.sum(0), W2 - 0.3 * h.T @ g_z2, b2 - 0.3 * g_z2.sum(0)]
        got, losses = loop(X, y, weights, 1, 0.3)
        assert losses[0] == pytest.approx(np.mean((p - y) ** 2), rel=1e-14)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    w, b, losses = tutorial.linear_loop(X[:, 0], y[:, 0], 0.5, -0.2, 1, 0.3)
    error = 0.5 * X[:, 0] - 0.2 - y[:, 0]
    assert w == pytest.approx(0.5 - 0.3 * 2 * np.mean(error * X[:, 0]), rel=1e-14)
    assert b == pytest.approx(-0.2 - 0.3 * 2 * np.mean(error), rel=1e-14)
    assert losses[0] == pytest.approx(np.mean(error ** 2), rel=1e-14)
