"""``fastnn compare``: the same training job on fastnn's two backends, side by side.

For each named workload (:mod:`fastnn.tools.workloads`) the command trains the
*same initial weights* on the plain-NumPy reference backend (``numpy``) and on
the compiled backend (``numba``) and reports:

- ``reference_s`` / ``fastnn_s``: the median wall time of one whole ``fit``
  on each backend over ``--repeat`` rounds.  Each round runs the sides in
  turn (reference, fastnn, then the extras), so slow drifts of a shared,
  noisy machine hit every side alike.  Compilation and other one-off warm-up
  happen before the first round, outside the timed region; building the model
  and copying the initial weights in are not timed either.
- ``speedup``: the median over the rounds of ``reference time / fastnn time``
  (a ratio of two runs measured seconds apart).  Each timed side starts
  after a short idle pause (:data:`SETTLE_SECONDS`), so that the worker
  threads of the previous side have stopped spinning, and each timed fit
  right after a one-epoch fit on two batches of the same side, untimed.
- ``max_weight_diff``: the largest absolute difference between the two
  backends' final weights, checked against the dtype's tolerance
  (:data:`WEIGHT_RTOL`, relative to ``max(1, largest |weight|)``).  Beyond
  it, or when a backend's final weights change from one round to the next
  (fastnn promises deterministic results), the row says ``FAIL`` and the
  command exits with status 1.
- ``reference_loss`` / ``fastnn_loss``: the training loss after the fit (the
  workload's own loss), and for classification the accuracy (and test
  accuracy where the workload holds rows out).
- ``gemm_floor_s`` for the mini-batch workloads (``tabular``,
  ``mnist_like``): the time of the same matrix products alone, three per
  layer per batch (``x @ W``, ``x.T @ delta``, ``delta @ W.T``; not the
  first layer's ``delta @ W.T``, which a fit never needs) with the same
  shapes and dtype, through NumPy's BLAS, timed in the same rounds.
  ``fastnn_s / gemm_floor_s`` says how much fastnn adds on top of them.
- ``--with sklearn,torch``: scikit-learn's ``MLPRegressor``/``MLPClassifier``
  and a PyTorch CPU loop of the same network as extra timed sides (see
  :func:`run_sklearn` and :func:`run_torch` for how close each is to the
  workload); skipped with a note when not installed.
- ``--with float64``: for float32 workloads, the numba backend in float64
  (same data and initial weights, cast) as a timed side;
  ``float32_speedup`` is the median of ``float64 time / float32 time``.
- ``--with threads``: the numba backend at one thread as a timed side;
  ``thread_speedup`` is the median of ``one-thread time / time at the
  current thread count`` (the 2-core target: 1.6x).
- ``--with memory``: peak resident memory of fresh processes (untimed,
  :func:`fit_peak_rss`): ``memory_growth_mb`` = a numba fit of
  :data:`MEMORY_EPOCHS` epochs minus a one-epoch fit (no allocation per
  batch: ~0), ``memory_vs_reference_mb`` = that numba fit minus the same fit
  on the numpy backend (<= 0: never above the reference).

Tolerances (:data:`WEIGHT_RTOL`), measured on this project's workloads: in
float64 the backends' final weights differ by at most ~5e-15 after whole
fits (10,000 epochs of ``classify`` included), so 1e-8 is a bug detector with
a wide margin; in float32 they differ by up to ~4e-6 (``mnist5k``, 5 Adam
epochs) and ~2e-7 (``tabular``), so 1e-4.  The difference can grow far
beyond rounding when a long float32 fit sends a sample across a ReLU kink on
one backend only (``mnist5k`` at 7 epochs jumps to 3e-4, all of it in one
hidden unit's weights): the workloads are sized to stay
clear of that, and a FAIL on a new workload should be looked at with that in
mind, not by raising the tolerance.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

import fastnn
from fastnn import config
from fastnn.tools.workloads import WORKLOADS, Workload, available_workloads, get_workload

#: Largest allowed ``max |w_numba - w_numpy| / max(1, max |w|)`` after a whole fit, by dtype.
WEIGHT_RTOL = {"float64": 1e-8, "float32": 1e-4}

#: The optional comparison sides ``--with`` accepts, and the module each needs (None: nothing extra).
EXTRAS = {"sklearn": "sklearn", "torch": "torch", "float64": None, "threads": None, "memory": None}
_INSTALL_HINT = {"sklearn": "pip install scikit-learn", "torch": "pip install torch (a CPU build)"}
#: The extras that are other libraries (the rest measure fastnn itself another way).
LIBRARY_EXTRAS = ("sklearn", "torch")

#: ``--with memory``: the epochs of the long fit, compared with a one-epoch fit.
MEMORY_EPOCHS = 10

#: Idle seconds before each timed side.  After a multi-threaded call the worker threads of its
#: pool (OpenBLAS: NumPy's and SciPy's are two separate pools, the latter used by fastnn's compiled
#: loops; Numba's threading layer; PyTorch's) keep spinning for up to ~0.1 s; a side started inside
#: that window competes with them for the cores.  Measured on a 2-core machine, mnist_like: a numba
#: fit alternated with NumPy matrix products took 129 ms back to back and 74 ms with a 0.1 s gap,
#: the products 115 ms and 44 ms.  The pause gives each side a quiet machine.
SETTLE_SECONDS = 0.2

#: Workloads whose GEMM floor is measured (mini-batch, matrix products that matter).
GEMM_FLOOR_WORKLOADS = ("tabular", "mnist_like")

STATUS_OK, STATUS_FAIL = "ok", "FAIL"


class CompareError(Exception):
    """Bad input to :func:`run_compare` (unknown workload or extra): a usage error on the command line."""


# ----------------------------------------------------------------------
# the sides
# ----------------------------------------------------------------------


def _optional_module(name):
    """Import an optional package, or None when it is not installed (tests monkeypatch this)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _check_finished(history) -> None:
    if history.interrupted:  # fit returns normally after Ctrl-C; never report a partial run
        raise KeyboardInterrupt


def train_backend(workload: Workload, backend: str, weights, threads=None):
    """One timed fit of ``workload`` on ``backend`` from ``weights``.

    Returns
    -------
    seconds : float
        Wall time of ``model.fit`` alone.
    model : Sequential
        The trained model.
    """
    model = workload.build_model(backend)
    model.set_weights(weights)
    data = workload.data()
    kwargs = workload.fit_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a diverging fit shows in its loss, not as noise
        start = time.perf_counter()
        history = model.fit(data.X, data.y, threads=threads, **kwargs)
        seconds = time.perf_counter() - start
    _check_finished(history)
    return seconds, model


def warm_up(workload: Workload, backend: str, weights, threads=None, evaluate=True) -> None:
    """Compile (or load from cache) everything a fit, predict and evaluate of ``workload`` run, untimed.

    Trains one epoch on the first rows only (two batches' worth), with the
    same batch size, so the same kernel builds are picked as in the timed fit.
    ``evaluate=False`` skips predict/evaluate: the short untimed run that
    precedes every timed fit (after an idle pause a sub-millisecond fit
    otherwise runs ~0.2 ms slower, its code and data no longer in cache).
    """
    model = workload.build_model(backend)
    model.set_weights(weights)
    data = workload.data()
    kwargs = workload.fit_kwargs()
    rows = data.n_samples if workload.batch_size is None else min(data.n_samples, 2 * workload.batch_size)
    kwargs["epochs"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(data.X[:rows], data.y[:rows], threads=threads, **kwargs)
    if evaluate:
        workload.evaluate(model)


@functools.lru_cache(maxsize=None)
def _float64_data(name: str):
    data = get_workload(name).data()
    return data.X.astype(np.float64), data.y.astype(np.float64)


def run_float64(workload: Workload, weights, threads=None) -> float:
    """Seconds of one numba-backend fit of a float32 ``workload`` in float64 (same data and weights, cast)."""
    X, y = _float64_data(workload.name)
    model = workload.build_model("numba", dtype="float64")
    model.set_weights(weights)
    kwargs = workload.fit_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        start = time.perf_counter()
        history = model.fit(X, y, threads=threads, **kwargs)
        seconds = time.perf_counter() - start
    _check_finished(history)
    return seconds


_PEAK_RSS_SCRIPT = """
import sys, warnings
from fastnn.tools.workloads import get_workload

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])

w = get_workload(sys.argv[1])
data = w.data()
rows = data.n_samples if w.batch_size is None else min(data.n_samples, 2 * w.batch_size)
w.build_model(sys.argv[2]).fit(data.X[:rows], data.y[:rows], **{**w.fit_kwargs(), "epochs": 1})  # load kernels
model = w.build_model(sys.argv[2])
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM, the peak, to the current RSS
    fh.write("5")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    w.fit(model, epochs=int(sys.argv[3]))
print(status("VmHWM") - before)
"""


def fit_peak_rss(workload: Workload, backend: str, epochs: int) -> float:
    """Peak resident memory (MiB) that one fit adds to a fresh process holding the data and the model.

    Linux only.  The process builds the data, loads the compiled kernels
    with a one-epoch fit on two batches, builds a fresh model, then resets
    its peak (``VmHWM``) through ``/proc/self/clear_refs``, so neither data
    generation nor loading code masks the fit, and reports ``VmHWM`` after
    the fit minus ``VmRSS`` before it (KiB).
    """
    result = subprocess.run([sys.executable, "-c", _PEAK_RSS_SCRIPT, workload.name, backend, str(epochs)],
                            capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"peak-memory run of {workload.name} ({backend}) failed: {result.stderr.strip()[-500:]}")
    return int(result.stdout.split()[-1]) / 1024.0


def memory_rows(workload: Workload) -> dict:
    """``--with memory``: the peak memory (MiB) numba fits of 1 and MEMORY_EPOCHS epochs and the numpy fit add."""
    one = fit_peak_rss(workload, "numba", 1)
    many = fit_peak_rss(workload, "numba", MEMORY_EPOCHS)
    reference = fit_peak_rss(workload, "numpy", MEMORY_EPOCHS)
    return {"fit_peak_1_epoch_mb": one, "fit_peak_mb": many, "reference_fit_peak_mb": reference,
            "memory_growth_mb": many - one, "memory_vs_reference_mb": many - reference}


def gemm_floor(workload: Workload):
    """A callable running the matrix products of one ``workload`` fit alone, through NumPy's BLAS.

    Per batch (the last, partial one with its real size) and per layer of
    shape ``(d, k)``: ``a = x @ W`` (b x d by d x k), ``grad_W = x.T @ delta``
    and ``grad_x = delta @ W.T``, into preallocated outputs, in the
    workload's dtype; except the first layer's ``grad_x``, the gradient with
    respect to the input data, which no training step needs and neither
    backend computes (counting it would put the "floor" above the plain NumPy
    reference on ``mnist_like``, whose first layer is the largest).  Array
    contents are random; BLAS time does not depend on them.
    """
    data = workload.data()
    dtype = np.dtype(workload.dtype)
    n = data.n_samples
    batch = n if workload.batch_size is None else min(workload.batch_size, n)
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    dims = [workload.input_dim] + [u for u, _ in workload.layers]
    rng = np.random.default_rng(0)
    layers = []
    for index, (d, k) in enumerate(zip(dims[:-1], dims[1:])):
        W = rng.standard_normal((d, k)).astype(dtype)
        x = rng.standard_normal((batch, d)).astype(dtype)
        delta = rng.standard_normal((batch, k)).astype(dtype)
        gx = np.empty((batch, d), dtype) if index > 0 else None
        layers.append((W, x, delta, np.empty((batch, k), dtype), np.empty((d, k), dtype), gx))
    epochs = workload.epochs

    def run():
        for _ in range(epochs):
            for b in sizes:
                for W, x, delta, a, gw, gx in layers:
                    np.matmul(x[:b], W, out=a[:b])
                    np.matmul(x[:b].T, delta[:b], out=gw)
                    if gx is not None:
                        np.matmul(delta[:b], W.T, out=gx[:b])

    return run


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
    from fastnn import reference

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
    torch = _optional_module("torch")
    from fastnn import reference

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


# ----------------------------------------------------------------------
# one workload
# ----------------------------------------------------------------------


def _settle() -> None:
    """Let the previous side's worker threads go idle before the next side starts (:data:`SETTLE_SECONDS`)."""
    if SETTLE_SECONDS > 0:
        time.sleep(SETTLE_SECONDS)


def max_abs_diff(a, b) -> float:
    """Largest absolute elementwise difference between two weight lists (inf on a shape mismatch)."""
    if len(a) != len(b) or any(np.shape(x) != np.shape(y) for x, y in zip(a, b)):
        return float("inf")
    return max((float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)), initial=0.0))
                for x, y in zip(a, b)), default=0.0)


def _max_abs(ws) -> float:
    return max((float(np.max(np.abs(w), initial=0.0)) for w in ws), default=0.0)


def _median(values):
    return float(statistics.median(values)) if values else None


def compare_workload(workload: Workload, repeat=3, threads=None, extras=(), log=None) -> dict:
    """Measure one workload; returns its result row (see the module docstring for the keys)."""
    log = log or (lambda message: None)
    weights = workload.build_model("numpy").get_weights()
    for backend in ("numpy", "numba"):
        warm_up(workload, backend, weights, threads)
    floor = gemm_floor(workload) if workload.name in GEMM_FLOOR_WORKLOADS else None
    if floor is not None:
        floor()  # BLAS's own warm-up (thread pool start, page faults)
    if "sklearn" in extras:
        run_sklearn(workload, threads, epochs=1)  # imports, first-call costs: untimed
    if "torch" in extras:
        run_torch(workload, weights, threads, epochs=1)
    float64 = "float64" in extras and workload.dtype == "float32"
    if float64:
        run_float64(workload, weights, threads)  # compiles the float64 kernels: untimed
    if "threads" in extras:
        warm_up(workload, "numba", weights, 1, evaluate=False)
    sides = {"numpy": [], "numba": [], "gemm": [], "sklearn": [], "torch": [], "float64": [], "threads": []}
    finals = {"numpy": [], "numba": []}
    models = {}
    extra_info: dict = {}
    for r in range(repeat):
        for backend in ("numpy", "numba"):
            _settle()
            warm_up(workload, backend, weights, threads, evaluate=False)
            seconds, model = train_backend(workload, backend, weights, threads)
            sides[backend].append(seconds)
            finals[backend].append(model.get_weights())
            models[backend] = model
        if floor is not None:
            _settle()
            start = time.perf_counter()
            floor()
            sides["gemm"].append(time.perf_counter() - start)
        if "sklearn" in extras:
            _settle()
            seconds, loss, notes = run_sklearn(workload, threads)
            sides["sklearn"].append(seconds)
            extra_info["sklearn_loss"], extra_info["sklearn_notes"] = loss, notes
        if "torch" in extras:
            _settle()
            seconds, loss, tw = run_torch(workload, weights, threads)
            sides["torch"].append(seconds)
            extra_info["torch_loss"] = loss
            extra_info["torch_max_weight_diff"] = max_abs_diff(tw, finals["numba"][-1])
        if float64:
            _settle()
            sides["float64"].append(run_float64(workload, weights, threads))
        if "threads" in extras:
            _settle()
            warm_up(workload, "numba", weights, 1, evaluate=False)
            sides["threads"].append(train_backend(workload, "numba", weights, 1)[0])
        log(f"  {workload.name}: round {r + 1}/{repeat} done")

    ref_w, fast_w = finals["numpy"][0], finals["numba"][0]
    diff = max_abs_diff(ref_w, fast_w)
    scale = max(1.0, _max_abs(ref_w))
    rtol = WEIGHT_RTOL[workload.dtype]
    problems = []
    finite = all(np.all(np.isfinite(w)) for w in ref_w + fast_w)
    if not finite:
        problems.append("non-finite weights")
    if not diff <= rtol * scale:
        problems.append(f"backends disagree: max |dw| {diff:.3g} > {rtol:g} x {scale:.3g}")
    for backend in ("numpy", "numba"):
        if any(max_abs_diff(finals[backend][0], later) != 0.0 for later in finals[backend][1:]):
            problems.append(f"{backend} backend not deterministic across rounds")
    ref_eval = workload.evaluate(models["numpy"])
    fast_eval = workload.evaluate(models["numba"])
    ratios = [a / b for a, b in zip(sides["numpy"], sides["numba"]) if b > 0]
    row = {
        "name": workload.name,
        "description": workload.description,
        "architecture": workload.architecture(),
        "dtype": workload.dtype,
        "n_samples": workload.data().n_samples,
        "epochs": workload.epochs,
        "batch_size": workload.batch_size,
        "repeat": repeat,
        "reference_s": _median(sides["numpy"]),
        "fastnn_s": _median(sides["numba"]),
        "speedup": _median(ratios),
        "reference_times": sides["numpy"],
        "fastnn_times": sides["numba"],
        "max_weight_diff": diff,
        "weight_scale": scale,
        "tolerance": rtol * scale,
        "status": STATUS_FAIL if problems else STATUS_OK,
        "problems": problems,
        "reference_loss": ref_eval["loss"],
        "fastnn_loss": fast_eval["loss"],
    }
    for key in ("accuracy", "test_accuracy"):
        if key in fast_eval:
            row[f"reference_{key}"] = ref_eval[key]
            row[f"fastnn_{key}"] = fast_eval[key]
    if floor is not None:
        row["gemm_floor_s"] = _median(sides["gemm"])
        row["gemm_floor_times"] = sides["gemm"]
        row["fastnn_over_gemm"] = _median([f / g for f, g in zip(sides["numba"], sides["gemm"]) if g > 0])
    for extra, key in (("sklearn", "sklearn_speedup"), ("torch", "torch_speedup"), ("float64", "float32_speedup"),
                       ("threads", "thread_speedup")):
        if sides[extra]:
            row[f"{extra}_s"] = _median(sides[extra])
            row[f"{extra}_times"] = sides[extra]
            row[key] = _median([e / f for e, f in zip(sides[extra], sides["numba"]) if f > 0])
    if "memory" in extras:
        log(f"  {workload.name}: peak memory of fresh processes")
        row.update(memory_rows(workload))
    row.update(extra_info)
    return row


def error_row(workload: Workload, exc: BaseException) -> dict:
    """The row of a workload whose measurement raised: status FAIL, the error as its problem."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {
        "name": workload.name, "description": workload.description, "architecture": workload.architecture(),
        "dtype": workload.dtype, "reference_s": None, "fastnn_s": None, "speedup": None,
        "max_weight_diff": None, "tolerance": WEIGHT_RTOL[workload.dtype], "status": STATUS_FAIL,
        "problems": [f"error: {type(exc).__name__}: {message}"], "reference_loss": None, "fastnn_loss": None,
    }


# ----------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------


@dataclass
class Plan:
    """What a compare run will do: the workloads, the extras, and notes on what was skipped."""

    workloads: list
    extras: list
    notes: list


def plan(names=None, extras=()) -> Plan:
    """Resolve workload names and ``--with`` extras.

    Unknown names raise :class:`CompareError`; a named workload whose optional
    package is missing too.  With no names, every available workload runs and
    the unavailable ones are noted.  Extras that are not installed are
    dropped with a note.
    """
    notes = []
    if not names:
        names = available_workloads()
        for name, w in WORKLOADS.items():
            if not w.available():
                notes.append(f"skipped workload {name}: {w.unavailable_reason()}")
    workloads = []
    for name in names:
        try:
            w = get_workload(name)
        except ValueError as exc:
            raise CompareError(str(exc)) from None
        if not w.available():
            raise CompareError(f"workload {name!r} is not available: {w.unavailable_reason()}")
        if w not in workloads:
            workloads.append(w)
    chosen = []
    for extra in extras:
        if extra not in EXTRAS:
            raise CompareError(f"unknown --with entry {extra!r}; expected a comma-separated list of "
                               f"{', '.join(EXTRAS)}")
        if extra in chosen:
            continue
        if EXTRAS[extra] is not None and _optional_module(EXTRAS[extra]) is None:
            notes.append(f"skipped {extra}: not installed ({_INSTALL_HINT[extra]})")
            continue
        chosen.append(extra)
    return Plan(workloads, chosen, notes)


def environment() -> dict:
    """Machine, versions and thread settings, for the report."""
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    info = {"cpu": cpu, "cores": config.cpu_count(), "python": platform.python_version(),
            "fastnn": fastnn.__version__, "numpy": np.__version__,
            "numba": importlib.import_module("numba").__version__,
            "numba_threads": config.get_num_threads(), "blas": blas}
    for extra, module in EXTRAS.items():
        mod = sys.modules.get(module)
        if mod is not None:
            info[extra] = getattr(mod, "__version__", "?")
    return info


def run_compare(names=None, repeat=3, threads=None, extras=(), log=None, on_row=None) -> tuple[list, Plan, dict]:
    """Run the comparison.

    Parameters
    ----------
    names : list of str, optional
        Workload names; default every available workload.
    repeat : int
        Alternating rounds per workload (>= 1).
    threads : int, optional
        Numba and BLAS threads (and PyTorch's) for every side; default the
        current settings.
    extras : sequence of {"sklearn", "torch"}
    log : callable(str), optional
        Progress messages.
    on_row : callable(dict), optional
        Called with each workload's row as soon as it is measured.

    Returns
    -------
    rows, plan, env
    """
    p = plan(names, extras)
    context = config.threads(threads) if threads is not None else contextlib.nullcontext()
    rows = []
    with context:
        env = environment()
        for w in p.workloads:
            try:
                row = compare_workload(w, repeat=repeat, threads=threads, extras=p.extras, log=log)
            except Exception as exc:  # a crashing side is a FAIL of its row; the other workloads still run
                row = error_row(w, exc)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows, p, env


# ----------------------------------------------------------------------
# printing
# ----------------------------------------------------------------------


def format_time(seconds) -> str:
    """``"523 us"``, ``"12.3 ms"``, ``"1.234 s"``; ``"-"`` for None."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def _ratio(x) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 1 else f"{x:.2f}x"


def _mib(x) -> str:
    return "-" if x is None else f"{x:+.1f} MiB"


def _loss(x) -> str:
    return "-" if x is None else f"{x:.6g}"


def columns(extras=(), with_floor=False) -> list:
    """The table's columns: (header, width, function of a row -> text)."""
    cols = [
        ("workload", 10, lambda r: r["name"]),
        ("dtype", 7, lambda r: r["dtype"]),
        ("reference", 10, lambda r: format_time(r["reference_s"])),
        ("fastnn", 10, lambda r: format_time(r["fastnn_s"])),
        ("speed-up", 8, lambda r: _ratio(r["speedup"])),
    ]
    if with_floor:
        cols += [("GEMM floor", 10, lambda r: format_time(r.get("gemm_floor_s"))),
                 ("fastnn/floor", 12, lambda r: _ratio(r.get("fastnn_over_gemm")))]
    for extra in extras:
        if extra in LIBRARY_EXTRAS:
            cols += [(extra, 10, lambda r, e=extra: format_time(r.get(f"{e}_s"))),
                     (f"vs {extra}", 10, lambda r, e=extra: _ratio(r.get(f"{e}_speedup")))]
        elif extra == "float64":
            cols += [("float64", 10, lambda r: format_time(r.get("float64_s"))),
                     ("f32 gain", 8, lambda r: _ratio(r.get("float32_speedup")))]
        elif extra == "threads":
            cols += [("1 thread", 10, lambda r: format_time(r.get("threads_s"))),
                     ("threads gain", 12, lambda r: _ratio(r.get("thread_speedup")))]
        else:  # memory
            cols += [("mem +epochs", 11, lambda r: _mib(r.get("memory_growth_mb"))),
                     ("mem vs ref", 10, lambda r: _mib(r.get("memory_vs_reference_mb")))]
    cols += [
        ("max |dw|", 9, lambda r: "-" if r["max_weight_diff"] is None else f"{r['max_weight_diff']:.1e}"),
        ("tol", 7, lambda r: f"{r['tolerance']:.0e}"),
        ("loss ref", 11, lambda r: _loss(r["reference_loss"])),
        ("loss fastnn", 11, lambda r: _loss(r["fastnn_loss"])),
        ("", 4, lambda r: r["status"]),
    ]
    return cols


def format_row(cols, row) -> str:
    return "  ".join(f"{fn(row):<{w}}" if i == 0 else f"{fn(row):>{w}}" for i, (_, w, fn) in enumerate(cols)).rstrip()


def format_header(cols) -> str:
    return "  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w, _) in enumerate(cols)).rstrip()


def format_footer(rows, p: Plan, env: dict, repeat: int) -> list:
    lines = []
    for row in rows:
        for problem in row["problems"]:
            lines.append(f"FAIL {row['name']}: {problem}")
    accs = [f"{r['name']} {r['fastnn_test_accuracy']:.3f}" for r in rows if "fastnn_test_accuracy" in r]
    if accs:
        lines.append("test accuracy (fastnn): " + ", ".join(accs))
    for extra in p.extras:
        bits = [f"{r['name']} {r[f'{extra}_loss']:.4g}" for r in rows if f"{extra}_loss" in r]
        if bits:
            lines.append(f"{extra} final loss: " + ", ".join(bits))
    if "torch" in p.extras:
        bits = [f"{r['name']} {r['torch_max_weight_diff']:.1e}" for r in rows if "torch_max_weight_diff" in r]
        if bits:
            lines.append("torch max |w_torch - w_fastnn|: " + ", ".join(bits))
    if "sklearn" in p.extras:
        sk = sorted({f"{r['name']}: {n}" for r in rows for n in r.get("sklearn_notes", [])})
        if sk:
            lines.append("sklearn differs: " + "; ".join(sk))
    lines.append(f"times: median of {repeat} alternating rounds (reference, fastnn, then the others); speed-up: "
                 "median of the per-round ratios; tol: max allowed |dw|")
    if "float64" in p.extras:
        lines.append("float64: the numba fit of a float32 workload in float64; f32 gain: float64 time / float32 time")
    if "threads" in p.extras:
        lines.append(f"1 thread: the numba fit at one thread; threads gain: its time / the time at "
                     f"{env['numba_threads']} threads")
    if "memory" in p.extras:
        lines.append(f"mem +epochs: peak RSS of a {MEMORY_EPOCHS}-epoch numba fit minus a 1-epoch fit; mem vs ref: "
                     f"minus the {MEMORY_EPOCHS}-epoch numpy fit (fresh processes)")
    blas = "; ".join(env.get("blas") or ["?"])
    extra_versions = "".join(f", {e} {env[e]}" for e in EXTRAS if e in env)
    lines.append(f"machine: {env['cpu']}, {env['cores']} cores; numba threads {env['numba_threads']}, BLAS {blas}")
    lines.append(f"versions: python {env['python']}, fastnn {env['fastnn']}, numpy {env['numpy']}, "
                 f"numba {env['numba']}{extra_versions}")
    return lines


def main(names=None, repeat=3, threads=None, extras=(), as_json=False, out=None, err=None) -> int:
    """The ``fastnn compare`` command: print the table (or JSON); 0 if every row is ok, 1 on any FAIL.

    Raises
    ------
    CompareError
        Unknown workload or ``--with`` entry, or a named workload that is not
        available.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    p = plan(names, extras)  # validate before printing anything
    for note in p.notes:
        print(f"note: {note}", file=err if as_json else out, flush=True)
    cols = columns(p.extras, with_floor=any(w.name in GEMM_FLOOR_WORKLOADS for w in p.workloads))

    def on_row(row):
        if not as_json:
            print(format_row(cols, row), file=out, flush=True)

    if not as_json:
        print(format_header(cols), file=out, flush=True)
    rows, p2, env = run_compare([w.name for w in p.workloads], repeat, threads, p.extras, on_row=on_row)
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
    else:
        for line in format_footer(rows, p, env, repeat):
            print(line, file=out)
    out.flush()
    return 1 if any(r["status"] != STATUS_OK for r in rows) else 0
