"""The model API: ``Sequential`` stacks of ``Dense`` layers, trained on either backend.

A model keeps all its parameters in one flat array (``theta``): layer ``l``'s
weight matrix (row-major, shape ``(n_in, n_out)``) followed by its bias.
Both backends train that same array with the same semantics, batch order and
loss accounting (see :mod:`fastnn.kernels.train`):

- ``backend="numba"`` runs whole chunks of epochs in one compiled call
  (:func:`fastnn.kernels.train.train_epochs`), with buffers allocated once per
  fit;
- ``backend="numpy"`` runs the plain per-batch loop of
  :mod:`fastnn.reference.train`, the reference.

Chunks are sized to last about a quarter of a second, so the progress bar
moves and Ctrl-C is honoured promptly (:mod:`fastnn.history`).
"""

from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np

from fastnn import config
from fastnn._checks import check_int, check_scalar
from fastnn.activations import activation_code, activation_name
from fastnn.data import check_features, check_targets
from fastnn.history import History, InterruptGuard, Progress
from fastnn.initializers import check_init, initial_weights
from fastnn.losses import LossSpec, loss_spec
from fastnn.optim import SGD, Optimizer, get_optimizer

BACKENDS: tuple[str, ...] = ("numba", "numpy")
DTYPES: tuple[str, ...] = ("float32", "float64")

def _train_module(backend: str):
    if backend == "numba":
        from fastnn.kernels import train
    else:
        from fastnn.reference import train
    return train


def _first_chunk(backend: str, n: int, batch: int, n_layers: int, work: int) -> int:
    """Epochs in the first chunk of a fit (later chunks are sized from the measured epoch times)."""
    n_batches = -(-n // batch)
    per_batch = work * config.FIRST_CHUNK_SECONDS_PER_MADD + n_layers * config.FIRST_CHUNK_SECONDS_PER_LAYER[backend]
    return max(1, int(config.CHUNK_SECONDS / (n_batches * per_batch)))


def _pick(function, backend: str, work: int):
    """The serial or parallel build of a kernel pair, or the reference function itself."""
    if backend == "numba":
        return function.pick(config.use_parallel(work, fused=True))
    return function


class Dense:
    """A fully connected layer: ``a = activation(x @ w + b)``.

    Parameters
    ----------
    units : int
        Number of outputs, >= 1.
    activation : str, default "identity"
        A name from :data:`fastnn.ACTIVATIONS` (``"linear"`` and
        ``"logistic"`` are accepted aliases).
    """

    def __init__(self, units, activation="identity"):
        self.units = check_int("units", units, low=1, high=2**31 - 1)
        self.activation = activation_name(activation)

    def get_config(self) -> dict:
        return {"units": self.units, "activation": self.activation}

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation!r})"


class Sequential:
    """A stack of :class:`Dense` layers.

    Parameters
    ----------
    layers : list of Dense, optional
        More can be appended with :meth:`add` before the model is built.
    input_dim : int, optional
        Number of input features.  When omitted the model is built by the
        first :meth:`fit` (or :meth:`set_weights`) from the data.
    backend : {"numba", "numpy"}, default "numba"
        ``"numba"``: compiled kernels and fused training loops;
        ``"numpy"``: the plain-NumPy reference.
    dtype : {"float32", "float64"}, default "float64"
        Precision of the parameters and of all computation.
    init : {"normal", "xavier", "glorot_uniform", "he"}, default "normal"
        Weight initializer (:mod:`fastnn.initializers`); biases start at 0.
    seed : int, optional
        Seeds the initial weights and the per-epoch shuffling.  When omitted
        a random seed is drawn and kept in :attr:`seed`, so the model can
        still be rebuilt exactly.
    """

    def __init__(self, layers=None, input_dim=None, backend="numba", dtype="float64", init="normal", seed=None):
        if layers is None:
            layers = []
        elif isinstance(layers, Dense) or not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of fastnn.Dense layers, got {type(layers).__name__}")
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise TypeError(f"layers[{i}] must be a fastnn.Dense layer, got {type(layer).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
        try:
            dtype_name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
        except TypeError:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}") from None
        if dtype_name not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = check_int("seed", seed, low=0, high=2**64 - 1)
        self.layers = layers
        self.backend = backend
        self.dtype = np.dtype(dtype_name)
        self.init = check_init(init)
        self.input_dim = None
        self.optimizer: Optimizer | None = None
        self.loss: str | None = None
        self.epochs_trained = 0
        self.step = 0  # optimizer steps (batches) over the model's life: Adam's t
        self._theta = None
        self._layout = None
        self._opt_state: list[np.ndarray] = []
        init_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._init_rng = np.random.default_rng(init_seq)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        if input_dim is not None:
            self.build(input_dim)

    # ------------------------------------------------------------------
    # structure
    # ------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a :class:`Dense` layer (only before the model is built)."""
        if not isinstance(layer, Dense):
            raise TypeError(f"layer must be a fastnn.Dense layer, got {type(layer).__name__}")
        if self.built:
            raise RuntimeError("cannot add layers to a model that is already built")
        self.layers.append(layer)

    @property
    def built(self) -> bool:
        return self._theta is not None

    @property
    def output_dim(self) -> int:
        self._require_layers()
        return self.layers[-1].units

    @property
    def n_params(self) -> int:
        return 0 if self._theta is None else self._theta.size

    def _require_layers(self):
        if not self.layers:
            raise ValueError("the model has no layers; pass them to Sequential([...]) or use add()")

    def build(self, input_dim) -> None:
        """Create the parameters for ``input_dim`` input features, drawn from the initializer."""
        self._require_layers()
        input_dim = check_int("input_dim", input_dim, low=1, high=2**31 - 1)
        if self.built:
            if input_dim != self.input_dim:
                raise ValueError(f"the model is built for input_dim={self.input_dim}, got {input_dim}")
            return
        layout, n_params = _make_layout(input_dim, self.layers)
        try:
            theta = np.empty(n_params, dtype=self.dtype)
        except (MemoryError, ValueError):
            raise MemoryError(
                f"the model has {n_params} parameters ({n_params * self.dtype.itemsize / 2**30:.1f} GiB): "
                "too many to allocate; use fewer or smaller layers (units) or a smaller input_dim"
            ) from None
        for l in range(layout.shape[0]):
            d, k = layout[l, 0], layout[l, 1]
            theta[layout[l, 3]:layout[l, 3] + d * k] = initial_weights(self.init, d, k, self._init_rng).ravel()
            theta[layout[l, 4]:layout[l, 4] + k] = 0
        self.input_dim, self._layout, self._theta = input_dim, layout, theta

    def _madds_per_row(self) -> int:
        """Multiply-adds of one sample's forward pass (the work measure that picks kernel builds)."""
        widths = [self.input_dim] + [layer.units for layer in self.layers]
        return sum(d * k for d, k in zip(widths[:-1], widths[1:]))

    def _require_built(self, what: str):
        if not self.built:
            raise RuntimeError(
                f"{what} needs a built model: pass input_dim to Sequential, or call fit() or set_weights() first"
            )

    # ------------------------------------------------------------------
    # weights
    # ------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters: ``[w0, b0, w1, b1, ...]``, ``w`` of shape (n_in, n_out)."""
        self._require_built("get_weights()")
        out = []
        for l in range(self._layout.shape[0]):
            w, b = self._layer_views(self._theta, l)
            out += [w.copy(), b.copy()]
        return out

    def set_weights(self, weights) -> None:
        """Replace the parameters with ``[w0, b0, w1, b1, ...]`` (cast to the model's dtype).

        Builds the model from ``weights[0].shape[0]`` if it is not built yet.
        Raises ValueError/TypeError (and changes nothing) on a wrong count,
        shape, non-numeric or non-finite array.
        """
        self._require_layers()
        if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"weights must be a list of arrays [w0, b0, w1, b1, ...], got {type(weights).__name__}")
        weights = list(weights)
        if len(weights) != 2 * len(self.layers):
            raise ValueError(f"weights must hold {2 * len(self.layers)} arrays [w0, b0, ...], got {len(weights)}")
        input_dim = self.input_dim
        if input_dim is None:
            first = _weight_array(0, weights[0])
            if first.ndim != 2:
                raise ValueError(f"weights[0] must be 2-D (n_in, n_out), got shape {first.shape}")
            input_dim = first.shape[0]
        layout, _ = _make_layout(input_dim, self.layers)
        arrays = []
        for l in range(layout.shape[0]):
            d, k = int(layout[l, 0]), int(layout[l, 1])
            for j, shape in ((2 * l, (d, k)), (2 * l + 1, (k,))):
                arr = _weight_array(j, weights[j])
                if arr.shape != shape:
                    raise ValueError(f"weights[{j}] must have shape {shape}, got {arr.shape}")
                arr = arr.astype(self.dtype)
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"weights[{j}] contains NaN or infinity")
                arrays.append(arr)
        if not self.built:
            self.build(input_dim)
        for l in range(layout.shape[0]):
            w, b = self._layer_views(self._theta, l)
            w[...] = arrays[2 * l]
            b[...] = arrays[2 * l + 1]

    def _layer_views(self, flat, l):
        d, k = int(self._layout[l, 0]), int(self._layout[l, 1])
        w_off, b_off = int(self._layout[l, 3]), int(self._layout[l, 4])
        return flat[w_off:w_off + d * k].reshape(d, k), flat[b_off:b_off + k]

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=None, loss="mse", optimizer=None, shuffle=True, verbose=0,
            validation_data=None, patience=None, min_delta=0.0, threads=None) -> History:
        """Train the model.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            For ``categorical_crossentropy``, integer class labels are accepted
            and one-hot encoded.
        epochs : int, default 1
        batch_size : int, optional
            Samples per gradient step; None (default) means full batch.  The
            last batch of an epoch may be smaller: it is used, not dropped.
        loss : str, default "mse"
            A name from :data:`fastnn.LOSSES`; cross-entropy needs the matching
            output activation (sigmoid for binary, softmax for categorical).
        optimizer : Optimizer or str, optional
            Default: keep the model's current optimizer and its state, or
            ``SGD(lr=0.01)`` on the first fit.  Passing an optimizer with the
            same settings as the current one keeps the state (momentum, Adam
            moments); different settings start a fresh state.
        shuffle : bool, default True
            Reshuffle the samples every epoch (from the model's seed) when
            there is more than one batch.
        verbose : {0, 1, 2}, default 0
            1: a progress bar with the current loss; 2: one line per epoch.
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch into ``History.val_loss``.
        patience : int, optional
            Early stopping: stop after ``patience`` epochs without an
            improvement of more than ``min_delta`` in the monitored loss
            (validation loss if given, else training loss), and restore the
            best weights.
        min_delta : float, default 0.0
        threads : int, optional
            Numba and BLAS threads for this fit (results do not depend on it).

        Returns
        -------
        History
        """
        spec = loss_spec(loss)
        self._require_layers()
        epochs = check_int("epochs", epochs, low=0)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        verbose = check_int("verbose", verbose, low=0)
        if patience is not None:
            patience = check_int("patience", patience, low=0)
        min_delta = check_scalar("min_delta", min_delta, low=0.0)
        if threads is not None:
            threads = config._check_threads(threads)
        opt = get_optimizer(optimizer) if optimizer is not None else (self.optimizer or SGD(lr=0.01))
        eps = getattr(opt, "eps", None)
        if eps is not None and self.dtype.type(eps) == 0:  # e.g. 1e-300 in float32: 0/0 in the update
            raise ValueError(f"Adam eps={eps} is 0 in {self.dtype.name}; use eps >= {np.finfo(self.dtype).tiny}")
        self._check_output_activation(spec)
        X = check_features("X", X, self.dtype, self.input_dim)
        Y = check_targets("y", y, self.dtype, X.shape[0], self.output_dim, spec)
        Xv = np.empty((0, X.shape[1]), self.dtype)
        Yv = np.empty((0, Y.shape[1]), self.dtype)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            Xv = check_features("validation_data[0]", validation_data[0], self.dtype, X.shape[1])
            Yv = check_targets("validation_data[1]", validation_data[1], self.dtype, Xv.shape[0], self.output_dim, spec)
        n = X.shape[0]
        batch = n if batch_size is None else min(check_int("batch_size", batch_size, low=1), n)

        # everything is valid: from here on the model may change
        self.build(X.shape[1])
        shuffle_rows = min(epochs, max(1, config.PERMUTATION_BYTES // (8 * n))) if shuffle and batch < n else 0
        buffers = self._allocate(opt, n, batch, patience is not None, shuffle_rows)
        if opt != self.optimizer:
            self._opt_state = buffers.pop("opt_state")
        else:
            buffers.pop("opt_state")
        self.optimizer, self.loss = opt, spec.name
        context = config.threads(threads) if threads is not None else contextlib.nullcontext()
        with context:
            return self._run(X, Y, Xv, Yv, spec, opt, epochs, batch, shuffle, verbose, patience, min_delta, buffers)

    def _check_output_activation(self, spec: LossSpec):
        last = self.layers[-1].activation
        if spec.output_activation is not None and last != spec.output_activation:
            raise ValueError(
                f"loss {spec.name!r} needs a {spec.output_activation!r} output layer "
                f"(the last layer has activation {last!r})"
            )

    def _allocate(self, opt: Optimizer, n: int, batch: int, early_stopping: bool, shuffle_rows: int) -> dict:
        """Every buffer a fit needs, allocated up front: MemoryError here leaves the model unchanged.

        Buffers of up to :data:`config.REUSED_BUFFER_BYTES` are kept for the next fit
        with the same sizes (every one is overwritten before it is read), which
        saves ~10 us per fit for the small networks; optimizer state is always new.
        """
        layout, p = self._layout, self.n_params
        key = (p, self.dtype, n, batch, early_stopping, shuffle_rows, self.input_dim,
               tuple(layer.units for layer in self.layers))
        cached = self.__dict__.get("_buffer_cache")
        if cached is not None and cached[0] == key:
            buffers = dict(cached[1])
            state = [np.zeros(p, self.dtype) for _ in range(opt.n_state)]
            buffers["opt_state"] = state + [np.empty(0, self.dtype)] * (2 - len(state))
            return buffers
        widths = [self.input_dim] + [layer.units for layer in self.layers]
        n_batches = -(-n // batch)
        sizes = {
            "grad": (p, self.dtype),
            "xb": (batch * self.input_dim, self.dtype),
            "yb": (batch * widths[-1], self.dtype),
            "abuf": (batch * int(layout[:, 1].sum()), self.dtype),
            "dbuf": (batch * max(widths), self.dtype),
            "dbuf_other": (batch * max(widths), self.dtype),
            "rowloss": (batch, np.float64),
            "snapshot": (3 * p, self.dtype),  # start-of-epoch parameters + optimizer state
            "best": (p if early_stopping else 0, self.dtype),
            "perms": (shuffle_rows * n, np.int64),  # row orders of up to shuffle_rows epochs (one chunk)
        }
        try:
            buffers = {name: np.empty(size, dtype) for name, (size, dtype) in sizes.items()}
            state = [np.zeros(p, self.dtype) for _ in range(opt.n_state)]
        except MemoryError:
            total = sum(size * np.dtype(dtype).itemsize for size, dtype in sizes.values())
            raise MemoryError(
                f"fit needs about {total / 2**20:.0f} MiB of buffers for batch_size={batch}; "
                "the model is unchanged (try a smaller batch_size)"
            ) from None
        if sum(b.nbytes for b in buffers.values()) <= config.REUSED_BUFFER_BYTES:
            self._buffer_cache = (key, dict(buffers))
        state += [np.empty(0, self.dtype)] * (2 - len(state))
        buffers["opt_state"] = state
        return buffers

    def _run(self, X, Y, Xv, Yv, spec, opt, epochs, batch, shuffle, verbose, patience, min_delta, buf) -> History:
        train = _train_module(self.backend)
        n = X.shape[0]
        work = batch * self._madds_per_row()
        if self.backend == "numba":  # the feature-major loop for narrow networks, else the row-major one
            loop = train.pick_train_epochs(self._layout, train.KERAS, False)
        else:
            loop = train.train_epochs
        train_epochs = _pick(loop, self.backend, work)
        hyper = _hyper(opt, min_delta)
        early = np.array([np.inf, 0.0, -1.0])

        eps = self.dtype.type(np.finfo(self.dtype).eps)
        no_weights = np.empty(0, self.dtype)
        s1, s2 = self._opt_state
        shuffle = bool(shuffle) and batch < n
        perm_rows = buf["perms"].reshape(-1, n)
        order = np.arange(n) if shuffle else None
        history = History()
        progress = Progress(verbose, epochs)
        chunk, status = _first_chunk(self.backend, n, batch, len(self.layers), work), train.OK
        epoch0 = self.epochs_trained
        with InterruptGuard() as guard:
            while history.epochs < epochs and status == train.OK and not guard.interrupted:
                count = min(chunk, epochs - history.epochs)
                if shuffle:
                    count = min(count, perm_rows.shape[0])
                    perms = perm_rows[:count]
                    for row in perms:  # rng.permutation(n) is arange(n) then shuffle: the same stream, in place
                        row[...] = order
                        self._shuffle_rng.shuffle(row)
                else:
                    perms = perm_rows[:0]
                done = history.epochs
                losses, val_losses = np.empty(count), np.empty(count)
                started = time.perf_counter()
                ran, status, step = train_epochs(
                    X, Y, no_weights, perms, self._theta, buf["grad"], s1, s2, buf["snapshot"], buf["best"],
                    self._layout, spec.code, train.KERAS, opt.code, hyper, eps, batch, epoch0 + done, count,
                    self.step, -1 if patience is None else patience, Xv, Yv, buf["xb"], buf["yb"], no_weights,
                    buf["abuf"], buf["dbuf"], buf["dbuf_other"], buf["rowloss"], losses, val_losses, early,
                )
                elapsed = time.perf_counter() - started
                ran = int(ran)
                self.step = int(step)
                self.epochs_trained += ran
                history.epochs = done + ran
                history.loss += losses[:ran].tolist()
                if Xv.shape[0]:
                    history.val_loss += val_losses[:ran].tolist()
                history.lr += opt.lr_schedule(epoch0 + done, ran)
                progress.update(history, epoch0, done)
                if ran:
                    chunk = max(1, int(config.CHUNK_SECONDS / max(elapsed / ran, 1e-9)))
            history.interrupted = guard.interrupted and history.epochs < epochs and status == train.OK
        message = ""
        if status == train.NON_FINITE:
            history.diverged = True
            message = (f"the loss or the weights became non-finite in epoch {history.epochs + 1}; training stopped "
                       f"and the weights of the last completed epoch ({history.epochs}) were kept")
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        if patience is not None and early[2] >= 0:
            self._theta[...] = buf["best"]
            history.best_epoch = int(early[2]) - epoch0
        history.stopped_early = status == train.STOPPED_EARLY
        if history.interrupted:
            message = f"interrupted: kept the weights and history of epoch {history.epochs}"
        progress.close(message if verbose else "")
        return history

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Network output for ``X`` (n_samples, n_features): an array (n_samples, n_outputs)."""
        self._require_built("predict()")
        X = check_features("X", X, self.dtype, self.input_dim)
        out = np.empty((X.shape[0], self.output_dim), dtype=self.dtype)
        batch, xb, abuf = self._inference_buffers(X.shape[0])
        train = _train_module(self.backend)
        work = batch * self._madds_per_row()
        _pick(train.predict_rows, self.backend, work)(X, self._theta, self._layout, batch, xb, abuf, out)
        return out

    def evaluate(self, X, y, loss=None) -> dict:
        """Loss (and accuracy for classification losses) of the model on ``(X, y)``.

        Parameters
        ----------
        loss : str, optional
            Default: the loss of the last fit, else ``"mse"``.

        Returns
        -------
        dict
            ``{"loss": float}``, plus ``"accuracy"`` for cross-entropy losses
            (binary: share of outputs on the right side of 0.5; categorical:
            share of samples whose arg-max is the true class).
        """
        self._require_built("evaluate()")
        spec = loss_spec(loss if loss is not None else (self.loss or "mse"))
        self._check_output_activation(spec)
        X = check_features("X", X, self.dtype, self.input_dim)
        Y = check_targets("y", y, self.dtype, X.shape[0], self.output_dim, spec)
        batch, xb, abuf = self._inference_buffers(X.shape[0])
        train = _train_module(self.backend)
        yb = np.empty(batch * Y.shape[1], self.dtype)
        rowloss = np.empty(batch, np.float64)
        eps = self.dtype.type(np.finfo(self.dtype).eps)
        work = batch * self._madds_per_row()
        value = _pick(train.dataset_loss, self.backend, work)(
            X, Y, self._theta, self._layout, spec.code, eps, batch, xb, yb, abuf, rowloss)
        result = {"loss": float(value)}
        if spec.is_classification:
            p = self.predict(X)
            if spec.output_activation == "softmax":
                result["accuracy"] = float(np.mean(np.argmax(p, axis=1) == np.argmax(Y, axis=1)))
            else:
                result["accuracy"] = float(np.mean((p > 0.5) == (Y > 0.5)))
        return result

    def _inference_buffers(self, n: int):
        widths = int(self._layout[:, 1].sum())
        batch = max(1, min(n, config.PREDICT_BUFFER_ELEMENTS // widths))
        return batch, np.empty(batch * self.input_dim, self.dtype), np.empty(batch * widths, self.dtype)

    # ------------------------------------------------------------------
    # persistence and display
    # ------------------------------------------------------------------
    def save(self, path) -> None:
        """Save architecture, weights, optimizer state and dtype to ``path`` (an .npz file, no pickle).

        The file is written atomically: a crash mid-save leaves any previous
        file at ``path`` intact.
        """
        from fastnn.io import save_model

        save_model(self, path)

    def summary(self) -> str:
        """A table of the layers, their shapes and parameter counts."""
        lines = [f"Sequential(backend={self.backend!r}, dtype={self.dtype.name!r}, init={self.init!r})"]
        d = self.input_dim
        total = 0
        for i, layer in enumerate(self.layers):
            count = (d * layer.units + layer.units) if d is not None else None
            total += count or 0
            shape = f"({d}, {layer.units})" if d is not None else f"(?, {layer.units})"
            lines.append(f"  {i}: Dense {shape:>14s}  {layer.activation:9s} params {count if count else '?'}")
            d = layer.units
        lines.append(f"  total params: {total if self.built else '?'}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Sequential({self.layers!r}, input_dim={self.input_dim}, backend={self.backend!r}, "
                f"dtype={self.dtype.name!r}, init={self.init!r}, seed={self.seed})")


def _weight_array(j: int, value) -> np.ndarray:
    """``weights[j]`` of ``set_weights`` as a numeric array, or a TypeError naming it."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"weights[{j}] must be a numeric array; could not convert it: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"weights[{j}] must be numeric, got dtype {arr.dtype}")
    return arr


def _make_layout(input_dim: int, layers) -> tuple[np.ndarray, int]:
    """The (n_layers, 6) int64 layout of the flat parameter array (see fastnn.kernels.train)."""
    rows, offset, a_col, d = [], 0, 0, input_dim
    for layer in layers:
        k = layer.units
        rows.append([d, k, activation_code(layer.activation), offset, offset + d * k, a_col])
        offset += d * k + k
        a_col += k
        d = k
    return np.array(rows, dtype=np.int64), offset


def _hyper(opt: Optimizer, min_delta: float) -> np.ndarray:
    """The float64 hyper-parameter vector of the training loops (H_* indices in fastnn.kernels.train)."""
    c = opt.get_config()
    return np.array([
        c["lr"], c.get("decay", 0.0), c.get("momentum", 0.0), float(c.get("nesterov", False)),
        c.get("beta1", 0.9), c.get("beta2", 0.999), c.get("eps", 1e-8), c["weight_decay"], min_delta,
        0.0,  # alpha: scikit-learn's L2 convention, unused by the model API
    ], dtype=np.float64)

