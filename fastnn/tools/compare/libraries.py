"""The workload as other libraries train it: scikit-learn's MLP and a plain PyTorch loop.

Both take a :class:`~fastnn.tools.workloads.Workload` and return the seconds
of the fit alone and the workload's own loss of the fitted model, computed
with :func:`fastnn.reference.loss_value` from the model's predictions, so it
is comparable with fastnn's.  Neither library is a dependency of fastnn:
each is imported inside its function.

- :func:`sklearn_estimator` / :func:`run_sklearn`: the nearest
  ``MLPRegressor``/``MLPClassifier`` (its own initial weights: it cannot
  start from given ones).
- :func:`run_torch`: ``nn.Sequential`` of ``nn.Linear`` layers holding the
  workload's initial weights, the same loss, optimizer, batches and batch
  order; its final weights come back for comparison with fastnn's.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np

from fastnn import config, reference
from fastnn.tools.workloads import Workload

# -- scikit-learn --------------------------------------------------------

_SKLEARN_ACTIVATIONS = {"identity": "identity", "relu": "relu", "sigmoid": "logistic", "tanh": "tanh"}


def sklearn_estimator(workload: Workload, epochs=None):
    """scikit-learn's nearest equivalent of ``workload``: an unfitted MLP, and notes on what differs.

    Same hidden layers and activation, same solver (``sgd`` without momentum
    or ``adam`` with the same betas and eps), same batch size and number of
    epochs (``max_iter=epochs`` with the stopping rule disabled:
    ``tol=0``, ``n_iter_no_change`` beyond ``max_iter``, no early stopping),
    shuffling, no L2 penalty (``alpha=0``).  scikit-learn's squared-error
    loss is half the MSE, so its SGD learning rate is twice fastnn's (the
    same steps).  Its own initial weights (from ``random_state``): it cannot
    start from given ones.

    Returns
    -------
    estimator, notes : object, list of str
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    epochs = workload.epochs if epochs is None else epochs
    notes = []
    hidden = [a for _, a in workload.layers[:-1]]
    out_act = workload.layers[-1][1]
    if len(set(hidden)) > 1:
        notes.append("hidden activations differ; scikit-learn uses one for all")
    activation = _SKLEARN_ACTIVATIONS[hidden[0]] if hidden else "identity"
    cfg = workload.optimizer().get_config()
    common = dict(hidden_layer_sizes=tuple(u for u, _ in workload.layers[:-1]), activation=activation, alpha=0.0,
                  batch_size=workload.batch_size or workload.data().n_samples, max_iter=epochs, tol=0.0,
                  n_iter_no_change=epochs + 1, early_stopping=False, shuffle=True,
                  random_state=workload.seed)
    if "beta1" in cfg:
        common.update(solver="adam", learning_rate_init=cfg["lr"], beta_1=cfg["beta1"], beta_2=cfg["beta2"],
                      epsilon=cfg["eps"])
    else:
        common.update(solver="sgd", learning_rate="constant", momentum=cfg["momentum"],
                      nesterovs_momentum=cfg["nesterov"], learning_rate_init=cfg["lr"])
        if cfg.get("decay"):
            notes.append("constant lr (no 1/(1 + decay epoch) schedule in scikit-learn)")
        if cfg["momentum"] == 0:
            common["momentum"] = 0.0
    if out_act == "identity" and workload.loss == "mse":
        if common["solver"] == "sgd":
            common["learning_rate_init"] = 2 * cfg["lr"]
        return MLPRegressor(**common), notes
    if workload.loss == "mse":
        notes.append("log-loss, not MSE (scikit-learn's classifier)")
    return MLPClassifier(**common), notes


def run_sklearn(workload: Workload, threads=None, epochs=None):
    """A timed fit of :func:`sklearn_estimator`; returns ``(seconds, final loss, notes)``.

    The loss is the workload's own loss computed from the fitted model's
    predictions, comparable with fastnn's.  Threads: the BLAS limit set
    around the whole comparison (scikit-learn's MLP uses BLAS only).
    ``epochs`` overrides the workload's (the untimed warm-up runs one).
    """
    data = workload.data()
    estimator, notes = sklearn_estimator(workload, epochs)
    classifier = type(estimator).__name__ == "MLPClassifier"
    if classifier:
        y = data.labels if data.labels is not None else data.y[:, 0].astype(np.int64)
    else:
        y = data.y[:, 0] if data.y.shape[1] == 1 else data.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached, as asked
        start = time.perf_counter()
        estimator.fit(data.X, y)
        seconds = time.perf_counter() - start
    if classifier:
        p = estimator.predict_proba(data.X)
        if data.y.shape[1] == 1:
            p = p[:, 1:]
    else:
        p = estimator.predict(data.X).reshape(data.y.shape)
    p = np.ascontiguousarray(p, dtype=data.y.dtype)
    loss = float(reference.loss_value(p, data.y, workload.loss))
    return seconds, loss, notes


# -- PyTorch -------------------------------------------------------------


def _shuffle_stream(workload: Workload):
    """The permutation stream fastnn's Sequential draws its batch order from (same seed, same batches)."""
    model = workload.build_model("numpy")
    # no public accessor: the private generator is read (a copy) so PyTorch sees fastnn's exact batch order
    rng = getattr(model, "_shuffle_rng", None)
    return copy.deepcopy(rng) if rng is not None else np.random.default_rng(workload.seed)


def run_torch(workload: Workload, weights, threads=None, epochs=None):
    """The workload as a plain PyTorch CPU loop; returns ``(seconds, final loss, final weights)``.

    ``nn.Sequential`` of ``nn.Linear`` and activation modules holding the
    same initial weights; the same loss (``MSELoss``; a softmax output with
    categorical cross-entropy is ``CrossEntropyLoss`` on the logits, a
    sigmoid with binary cross-entropy ``BCEWithLogitsLoss``), optimizer
    (``SGD`` with the same momentum and the ``1/(1 + decay epoch)`` schedule
    via ``LambdaLR``, or ``Adam``), batch size and batch order (the same
    permutations fastnn draws), dtype, and ``torch.set_num_threads`` equal to
    fastnn's threads.  Only the training loop is timed.  ``epochs``
    overrides the workload's (the untimed warm-up runs one).
    """
    import torch

    nn = torch.nn
    data = workload.data()
    tdtype = torch.float32 if workload.dtype == "float32" else torch.float64
    modules = []
    n_layers = len(workload.layers)
    fused = workload.loss in ("categorical_crossentropy", "binary_crossentropy")
    acts = {"identity": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
            "softmax": lambda: nn.Softmax(dim=1)}
    d = workload.input_dim
    for i, (units, act) in enumerate(workload.layers):
        lin = nn.Linear(d, units, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(weights[2 * i]).T)))
            lin.bias.copy_(torch.from_numpy(np.asarray(weights[2 * i + 1])))
        modules.append(lin)
        if not (fused and i == n_layers - 1):
            modules.append(acts[act]())
        d = units
    net = nn.Sequential(*modules)
    X = torch.from_numpy(np.array(data.X))  # a writable copy (the workload arrays are read-only)
    if workload.loss == "categorical_crossentropy":
        labels = data.labels if data.labels is not None else np.argmax(data.y, axis=1)
        Y = torch.from_numpy(np.array(labels, dtype=np.int64))
        loss_fn = nn.CrossEntropyLoss()
    elif workload.loss == "binary_crossentropy":
        Y = torch.from_numpy(np.array(data.y))
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        Y = torch.from_numpy(np.array(data.y))
        loss_fn = nn.MSELoss()
    cfg = workload.optimizer().get_config()
    if "beta1" in cfg:
        opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"])
        decay = 0.0
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"])
        decay = cfg.get("decay", 0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1.0 + decay * e)) if decay else None
    n = data.n_samples
    batch = n if workload.batch_size is None else min(workload.batch_size, n)
    shuffle = batch < n
    perm_rng = _shuffle_stream(workload) if shuffle else None
    n_epochs = workload.epochs if epochs is None else epochs
    perms = [torch.from_numpy(perm_rng.permutation(n)) for _ in range(n_epochs)] if shuffle else None
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads or config.get_num_threads())
    try:
        start = time.perf_counter()
        for epoch in range(n_epochs):
            if shuffle:
                order = perms[epoch]
                for s in range(0, n, batch):
                    idx = order[s:s + batch]
                    opt.zero_grad(set_to_none=True)
                    loss_fn(net(X[idx]), Y[idx]).backward()
                    opt.step()
            else:
                opt.zero_grad(set_to_none=True)
                loss_fn(net(X), Y).backward()
                opt.step()
            if sched is not None:
                sched.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            out = net(X)
            if workload.loss == "categorical_crossentropy":
                out = torch.softmax(out, dim=1)
            elif workload.loss == "binary_crossentropy":
                out = torch.sigmoid(out)
            p = np.ascontiguousarray(out.numpy(), dtype=data.y.dtype)
    finally:
        torch.set_num_threads(old_threads)
    final = []
    for m in net:
        if isinstance(m, nn.Linear):
            final += [m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()]
    return seconds, float(reference.loss_value(p, data.y, workload.loss)), final

