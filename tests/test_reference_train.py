"""The NumPy reference training loop (fastnn/reference/train.py) on its own: the parts the model API does not reach,
and the shape of its epoch loop.

- the SKLEARN convention (sample weights, scikit-learn's loss definitions and L2 term), which only
  ``fastnn.sklearn`` uses and only through the compiled loop: the reference's ``train_epochs`` and
  ``batch_loss_grad`` against the compiled ones, and its gradient against finite differences of its loss;
- the loop is lean: validation and the registries are consulted once per call, never per epoch, and an
  epoch of a small full-batch network is a handful of Python calls (counted with a profiler hook, not timed).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastnn.kernels.train as K
import fastnn.reference.train as R
from fastnn import Dense, Sequential, contract
from fastnn.activations import ACTIVATIONS
from fastnn.losses import LOSSES
from fastnn.optim import ADAM_CODE, MOMENTUM_CODE
from fastnn.tools.workloads import get_workload

from fit_helpers import make_data

#: The canonical output activation of each loss (the SKLEARN convention's output delta assumes it).
CANONICAL = {"mse": "identity", "binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
             "poisson": "exp"}


def _problem(loss, weighted, seed=0, n=29):
    X, Y = make_data(n=n, d=3, k=2, loss=loss, seed=seed)
    codes = [ACTIVATIONS.index("tanh"), ACTIVATIONS.index(CANONICAL[loss])]
    layout, n_params = contract.make_layout(3, [5, 2], codes)
    rng = np.random.default_rng(seed + 1)
    theta = 0.3 * rng.standard_normal(n_params)
    sw = rng.uniform(0.2, 2.0, n) if weighted else np.empty(0)
    return X, Y, sw, layout, theta


def _buffers(layout, batch):
    widths = [int(layout[0, contract.N_IN])] + [int(k) for k in layout[:, contract.N_OUT]]
    return {"xb": np.empty(batch * widths[0]), "yb": np.empty(batch * widths[-1]), "swb": np.empty(batch),
            "abuf": np.empty(batch * sum(widths[1:])), "dbuf": np.empty(batch * max(widths)),
            "dbuf_other": np.empty(batch * max(widths)), "rowloss": np.empty(batch)}


def _train(module, loss, weighted, opt_code, batch, shuffled, epochs=5):
    """``epochs`` epochs of ``module.train_epochs`` in the SKLEARN convention; returns theta and the losses."""
    X, Y, sw, layout, theta = _problem(loss, weighted)
    n, n_params = X.shape[0], theta.size
    buf = _buffers(layout, batch)
    rng = np.random.default_rng(7)
    perms = np.stack([rng.permutation(n) for _ in range(epochs)]) if shuffled else np.empty((0, n), np.int64)
    state = contract.new_loop_state()
    state[contract.S_N_EPOCHS] = epochs
    losses = np.zeros(epochs)
    args = contract.FitArgs(
        X=X, Y=Y, sw=sw, Xv=np.empty((0, 3)), Yv=np.empty((0, 2)), theta=theta, layout=layout, opt_code=opt_code,
        hyper=contract.hyper_vector(lr=0.05, momentum=0.8, nesterov=True, alpha=0.01), s1=np.zeros(n_params),
        s2=np.zeros(n_params) if opt_code == ADAM_CODE else np.empty(0), loss_code=LOSSES[loss].code,
        convention=contract.SKLEARN, eps=np.float64(np.finfo(np.float64).eps), batch_size=batch, patience=-1,
        grad=np.empty(contract.row_blocks(batch, layout) * n_params), snapshot=np.empty(0), best=np.empty(0), **buf)
    loop = module.train_epochs.pick(False) if module is K else module.train_epochs
    done, status, step = loop(*args, *contract.ChunkArgs(perms=perms, losses=losses, val_losses=np.empty(0),
                                                          state=state))
    assert (done, status, step) == (epochs, contract.OK, epochs * -(-n // batch))
    return theta, losses


@pytest.mark.parametrize("shuffled", [False, True], ids=["in_order", "shuffled"])
@pytest.mark.parametrize("batch", [29, 8], ids=["full_batch", "mini_batch"])
@pytest.mark.parametrize("opt_code", [MOMENTUM_CODE, ADAM_CODE], ids=["momentum", "adam"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weights"])
@pytest.mark.parametrize("loss", sorted(CANONICAL))
def test_sklearn_convention_agrees_with_the_compiled_loop(loss, weighted, opt_code, batch, shuffled):
    theta_ref, losses_ref = _train(R, loss, weighted, opt_code, batch, shuffled)
    theta_jit, losses_jit = _train(K, loss, weighted, opt_code, batch, shuffled)
    np.testing.assert_allclose(losses_ref, losses_jit, rtol=1e-10)
    np.testing.assert_allclose(theta_ref, theta_jit, rtol=1e-9, atol=1e-12)


def _loss_grad(module, X, Y, sw, theta, layout, loss, convention, alpha=0.01):
    grad = np.empty(theta.size)
    function = module.batch_loss_grad.pick(False) if module is K else module.batch_loss_grad
    value, weight_sum = function(*contract.LossGradArgs(
        x=X, y=Y, sw=sw, theta=theta, grad=grad, layout=layout, loss_code=LOSSES[loss].code, convention=convention,
        alpha=alpha, eps=np.float64(np.finfo(np.float64).eps), batch_size=X.shape[0], **{
            key: value for key, value in _buffers(layout, X.shape[0]).items() if key not in ("xb", "yb", "swb")}))
    return value, weight_sum, grad


@pytest.mark.parametrize("convention", [contract.KERAS, contract.SKLEARN], ids=["keras", "sklearn"])
@pytest.mark.parametrize("loss", sorted(CANONICAL))
def test_batch_loss_grad_is_the_gradient_of_its_loss(loss, convention):
    """Central finite differences of the reference's loss give its gradient (sample weights and L2 in SKLEARN),
    and the compiled batch_loss_grad returns the same loss, weight sum and gradient.

    SKLEARN's squared error is scikit-learn's: the loss is averaged over the outputs, but the output delta
    ``(p - y) sw / sum(sw)`` is not (scikit-learn's own MLP does the same), so there the gradient is the number
    of outputs times the derivative of the reported loss (the L2 term's gradient is exact)."""
    weighted = convention == contract.SKLEARN
    X, Y, sw, layout, theta = _problem(loss, weighted, seed=3, n=11)
    value, weight_sum, grad = _loss_grad(R, X, Y, sw, theta, layout, loss, convention)
    assert weight_sum == pytest.approx(sw.sum() if weighted else X.shape[0], rel=1e-12)
    # the data term's share of the gradient: 1, or the number of outputs for SKLEARN's squared error
    data_share = Y.shape[1] if loss == "mse" and convention == contract.SKLEARN else 1

    def derivative(i, alpha, h=1e-6):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        return (_loss_grad(R, X, Y, sw, up, layout, loss, convention, alpha)[0]
                - _loss_grad(R, X, Y, sw, down, layout, loss, convention, alpha)[0]) / (2 * h)

    numeric = np.array([derivative(i, 0.01) + (data_share - 1) * derivative(i, 0.0) for i in range(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    jit_value, jit_weight_sum, jit_grad = _loss_grad(K, X, Y, sw, theta, layout, loss, convention)
    assert jit_value == pytest.approx(value, rel=1e-12)
    assert jit_weight_sum == pytest.approx(weight_sum, rel=1e-12)
    np.testing.assert_allclose(grad, jit_grad, rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------
# the shape of the loop: what runs once per call, what runs per epoch
# ----------------------------------------------------------------------

#: Modules whose Python functions must not run per epoch: validation, the registries, the generic
#: reference kernels and NumPy's Python-level wrappers (their argument handling is what the loop avoids).
ONCE_PER_CALL = ("fastnn/_checks.py", "fastnn/data.py", "fastnn/losses.py", "fastnn/activations.py",
                 "fastnn/optim.py", "fastnn/contract.py", "fastnn/reference/activations.py",
                 "fastnn/reference/losses.py", "fastnn/reference/dense.py", "numpy/_core/fromnumeric.py",
                 "numpy/_core/numeric.py", "numpy/_core/_methods.py")


def _python_calls(model, X, Y, epochs, **fit_kwargs):
    """Python function calls during ``model.fit`` by file (a profiler hook: counted, not timed)."""
    counts = {}

    def hook(frame, event, arg):
        if event == "call":
            name = frame.f_code.co_filename.replace("\\", "/")
            counts[name] = counts.get(name, 0) + 1

    sys.setprofile(hook)
    try:
        model.fit(X, Y, epochs=epochs, verbose=0, **fit_kwargs)
    finally:
        sys.setprofile(None)
    return counts


@pytest.mark.parametrize("name", ["linear", "xor", "house", "classify"])
def test_an_epoch_of_a_seed_workload_is_a_few_python_calls(name):
    """40 more epochs of a seed workload's full-batch fit add no call into validation, the registries or NumPy's
    Python wrappers, and at most 7 + 2 * layers Python calls per epoch: the batch step, the loss rule (and
    ``np.vdot``'s dispatch stub), the forward and backward passes with one activation call per layer in each,
    the update, the finiteness check."""
    w = get_workload(name)
    data = w.data()
    counts = {}
    for epochs in (1, 41):
        model = w.build_model("numpy")
        counts[epochs] = _python_calls(model, data.X, data.y, epochs, **{
            key: value for key, value in w.fit_kwargs().items() if key not in ("epochs", "verbose")})
    extra = {f: counts[41].get(f, 0) - counts[1].get(f, 0) for f in counts[41]}
    per_epoch = {f: n / 40 for f, n in extra.items() if n > 0}
    assert not [f for f in per_epoch if f.endswith(ONCE_PER_CALL)], per_epoch
    assert sum(per_epoch.values()) <= 7 + 2 * len(w.layers), per_epoch


def test_validation_and_early_stopping_stay_lean():
    """With validation data and patience, the per-epoch calls grow only by the validation loss: its forward pass
    (one activation call per layer) and its loss sum (and ``np.vdot``'s dispatch stub)."""
    X, Y = make_data(n=40, d=3, k=1, loss="mse", seed=4)
    counts = {}
    for epochs in (1, 41):
        model = Sequential([Dense(4, "tanh"), Dense(1)], input_dim=3, backend="numpy", seed=1)
        counts[epochs] = _python_calls(model, X, Y, epochs, validation_data=(X[:10], Y[:10]), patience=1000)
    extra = {f: counts[41].get(f, 0) - counts[1].get(f, 0) for f in counts[41]}
    per_epoch = {f: n / 40 for f, n in extra.items() if n > 0}
    assert not [f for f in per_epoch if f.endswith(ONCE_PER_CALL)], per_epoch
    assert sum(per_epoch.values()) <= (7 + 2 * 2) + (4 + 2), per_epoch
