"""fastnn.kernels.optim against its plain-NumPy twin fastnn.reference.optim.

sgd_update, momentum_update (plain and Nesterov) and adam_update, with and
without weight decay: several in-place steps, param and the state arrays
(velocity, m, v) evolve like the reference's.

How every test here runs (builds, dtypes, shapes, tolerances): ``tests/kernels/__init__.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fnn_helpers as H

K = H.backend("kernels")
R = H.backend("reference")


OPTIMIZERS = {
    "sgd": dict(lr=0.1),
    "sgd-decay": dict(lr=0.1, weight_decay=0.01),
    "momentum": dict(lr=0.1, momentum=0.9),
    "momentum-nesterov-decay": dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adam": dict(lr=0.01),
    "adam-decay": dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01),
}
STATE = {"sgd": (), "momentum": ("velocity",), "adam": ("m", "v")}


def _step(mod, kind, param, grad, state, t, hyper):
    if kind == "sgd":
        return mod.sgd_update(param, grad, **hyper)
    if kind == "momentum":
        return mod.momentum_update(param, grad, state["velocity"], **hyper)
    return mod.adam_update(param, grad, state["m"], state["v"], t, **hyper)


@pytest.mark.parametrize("shape", H.PARAM_SHAPES, ids=H.shape_id)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps(name, shape, dtype, mode, rng):
    """Several in-place updates: param and the state arrays (velocity, m, v) evolve like the reference's."""
    kind = name.split("-")[0]
    hyper = OPTIMIZERS[name]
    p0 = H.randn(rng, shape, dtype)
    params = {"k": p0.copy(), "r": p0.copy()}
    states = {side: {s: np.zeros_like(p0) for s in STATE[kind]} for side in "kr"}
    for t in range(1, 5):
        grad = H.randn(rng, shape, dtype)
        ret_k = _step(K, kind, params["k"], grad, states["k"], t, hyper)
        _step(R, kind, params["r"], grad, states["r"], t, hyper)
        assert ret_k is params["k"], "the update must return param itself"
        assert params["k"].dtype == dtype
        # Every operand is O(1) here (lr * g <= ~0.5, |adam step| <= ~lr * 3), so each
        # of the ~8 roundings per step is bounded by eps * (1 + |p0| + |param|).
        scale = 1.0 + np.abs(p0.astype(np.float64)) + np.abs(params["r"].astype(np.float64))
        H.assert_close(params["k"], params["r"], dtype, terms=8 * t, scale=scale, err_msg=f"param, step {t}")
        for s in STATE[kind]:
            ref = states["r"][s]
            assert states["k"][s].dtype == dtype
            H.assert_close(states["k"][s], ref, dtype, terms=8 * t, scale=np.max(np.abs(ref.astype(np.float64))),
                           err_msg=f"{s}, step {t}")
    assert not np.array_equal(params["k"], p0), "the updates must change param"
