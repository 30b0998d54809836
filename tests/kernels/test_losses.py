"""fastnn.kernels.losses against its plain-NumPy twin fastnn.reference.losses.

Every registered loss: ``<loss>_loss`` and ``loss_value``, the gradient
functions (``mse_grad``, ``*_delta``), and ``output_delta`` for every valid
(loss, output activation) pair; with ``out=`` and in place.

How every test here runs (builds, dtypes, shapes, tolerances): ``tests/kernels/__init__.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H
from fastnn.losses import LOSSES

K = H.backend("kernels")
R = H.backend("reference")


def _assert_loss_close(got, expected, dtype, size, err_msg=""):
    # every per-element term of the three losses is >= 0, so the sum of |terms| is the loss itself
    assert isinstance(got, np.floating) and got.dtype == dtype, f"loss must be a {dtype} scalar, got {type(got)}"
    H.assert_close(got, expected, dtype, terms=H.sum_terms(size), scale=abs(float(expected)), err_msg=err_msg)


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_functions(loss, shape, dtype, mode, rng):
    """<loss>_loss and loss_value(…, loss) match the reference; loss_value dispatches to <loss>_loss."""
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    fname = H.loss_function_name(loss)
    expected = getattr(R, fname)(p, y)
    got = getattr(K, fname)(p, y)
    _assert_loss_close(got, expected, dtype, p.size, err_msg=fname)
    assert K.loss_value(p, y, loss) == got, "loss_value must dispatch to the same computation"
    _assert_loss_close(K.loss_value(p, y, loss), R.loss_value(p, y, loss), dtype, p.size, err_msg="loss_value")


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_gradients(loss, shape, dtype, mode, rng):
    """mse_grad / *_delta match the reference; out=, out=y_true and out=y_pred (in place) too."""
    p, y = H.loss_inputs(rng, loss, shape, dtype)
    fname = H.loss_gradient_name(loss)
    expected = getattr(R, fname)(p, y)
    got = getattr(K, fname)(p, y)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, err_msg=fname)

    out = H.nan_like(p)
    assert getattr(K, fname)(p, y, out=out) is out
    H.assert_close(out, expected, dtype, err_msg="out=")

    for which in ("y_pred", "y_true"):
        p2, y2 = p.copy(), y.copy()
        target = p2 if which == "y_pred" else y2
        getattr(K, fname)(p2, y2, out=target)
        H.assert_close(target, expected, dtype, err_msg=f"out={which} (in place)")


@pytest.mark.parametrize("shape", H.ROW_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("loss, activation", list(H.output_pairs()))
def test_output_delta(loss, activation, shape, dtype, mode, rng):
    """output_delta matches the reference for every valid (loss, output activation) pair; out= and out=y_true too."""
    p, y = H.loss_inputs(rng, loss, shape, dtype, activation=activation)
    expected = R.output_delta(p, y, loss, activation)
    if LOSSES[loss].output_activation is None:  # activation_backward of 2 (p - y) / N
        grad_p = 2.0 * (p.astype(np.float64) - y) / p.size
        terms, scale = H.backward_scale(p, grad_p, activation)
    else:
        terms, scale = 0, None
    got = K.output_delta(p, y, loss, activation)
    assert got.shape == shape and got.dtype == dtype
    H.assert_close(got, expected, dtype, terms=terms, scale=scale)

    out = H.nan_like(p)
    assert K.output_delta(p, y, loss, activation, out=out) is out
    H.assert_close(out, expected, dtype, terms=terms, scale=scale, err_msg="out=")

    y2 = y.copy()
    K.output_delta(p, y2, loss, activation, out=y2)
    H.assert_close(y2, expected, dtype, terms=terms, scale=scale, err_msg="out=y_true (in place)")
