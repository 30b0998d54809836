"""The model API: ``Sequential`` stacks of ``Dense`` layers.

A model keeps all its parameters in one flat array: layer ``l``'s weight
matrix (row-major, shape ``(n_in, n_out)``) followed by its bias, as the
training-loop contract lays them out (:mod:`fastnn.contract`).  This module
holds the structure, the weights, inference (``predict``, ``evaluate``) and
the model's state as plain data (``to_state``/``from_state``, which
:mod:`fastnn.io` writes to and reads from files).  Training is driven by
:mod:`fastnn.training`; ``fit`` hands it the model's arrays and takes back
its counters.  Both backends compute the same things:

- ``backend="numba"``: compiled kernels (:mod:`fastnn.kernels.train`);
- ``backend="numpy"``: the plain-NumPy reference (:mod:`fastnn.reference.train`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from fastnn import config, contract, inference, io, training
from fastnn._checks import check_int
from fastnn.activations import activation_code, activation_name
from fastnn.data import check_features, check_targets
from fastnn.history import History
from fastnn.initializers import check_init, initial_weights
from fastnn.losses import loss_spec
from fastnn.optim import OPTIMIZERS, Optimizer

BACKENDS: tuple[str, ...] = ("numba", "numpy")
DTYPES: tuple[str, ...] = ("float32", "float64")



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
        layout, n_params = self._layout_for(input_dim)
        try:
            theta = np.empty(n_params, dtype=self.dtype)
        except (MemoryError, ValueError):
            raise MemoryError(
                f"the model has {n_params} parameters ({n_params * self.dtype.itemsize / 2**30:.1f} GiB): "
                "too many to allocate; use fewer or smaller layers (units) or a smaller input_dim"
            ) from None
        for l in range(layout.shape[0]):
            w, b = contract.layer_views(theta, layout, l)
            w[...] = initial_weights(self.init, w.shape[0], w.shape[1], self._init_rng)
            b[...] = 0
        self.input_dim, self._layout, self._theta = input_dim, layout, theta
        # per-call constants of predict/evaluate: the work measure that picks a build, and the activation widths
        self._madds_per_row = contract.madds_per_row(layout)
        self._activation_width = sum(layer.units for layer in self.layers)
        self._narrow = max(layout[:, [contract.N_IN, contract.N_OUT]].max(), 0) <= config.NARROW_MAX_WIDTH
        self._inference = inference.plan(layout, self.dtype.itemsize)  # predict's tiles

    def _layout_for(self, input_dim: int) -> tuple[np.ndarray, int]:
        """The contract's layout of this stack of layers for ``input_dim`` inputs, and its parameter count."""
        return contract.make_layout(input_dim, [layer.units for layer in self.layers],
                                    [activation_code(layer.activation) for layer in self.layers])

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
            w, b = contract.layer_views(self._theta, self._layout, l)
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
        layout, _ = self._layout_for(input_dim)
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
            w, b = contract.layer_views(self._theta, self._layout, l)
            w[...] = arrays[2 * l]
            b[...] = arrays[2 * l + 1]

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=None, loss="mse", optimizer=None, shuffle=True, verbose=0,
            validation_data=None, patience=None, min_delta=0.0, threads=None, checkpoint=None,
            checkpoint_every=1, sync_every=1, callbacks=None, class_weight=None) -> History:
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
        checkpoint : str or os.PathLike, optional
            Save the model to this file (the :meth:`save` format, written
            atomically: a crash mid-write leaves the previous checkpoint
            whole) after every ``checkpoint_every`` epochs of this fit and at
            its end, however it ends: after all epochs, early stopping, Ctrl-C
            (``History.interrupted``) or divergence.  The file then holds what
            the model holds: the restored finite weights after a divergence,
            the best weights after early stopping; a checkpoint during the fit
            holds the current weights, not the best so far.  Its directory
            must exist and be writable (checked before anything changes).
            Each checkpoint writes the whole model and fsyncs it (about a
            millisecond for a small model): for many short epochs pick a
            ``checkpoint_every`` that saves every few seconds.  An error while
            writing (disk full) propagates; the model then holds the state
            after the checkpoint epoch, counters included.
        checkpoint_every : int, default 1
            Epochs of this fit between checkpoints, >= 1.
        sync_every : int, default 1
            Dask input only (``X`` and ``y`` dask arrays, trained on the
            current ``distributed.Client``'s cluster, see :mod:`fastnn.cluster`):
            epochs each worker trains on its own partitions between two
            averagings of the parameters and optimizer state.  ``threads``
            does not apply there (each worker uses its own thread budget);
            ``validation_data`` (numpy or dask) and ``patience`` need
            ``sync_every=1``.
        callbacks : list of fastnn.callbacks.Callback, optional
            Keras-style hooks: ``on_train_begin``, ``on_epoch_end(epoch,
            logs)`` with the epoch's ``loss``, ``lr`` and ``val_loss``, and
            ``on_train_end``; a callback stops the fit by setting
            ``model.stop_training = True`` or returning True from
            ``on_epoch_end``.  They run between compiled chunks, which are cut
            to end on every epoch a callback needs (its ``every`` attribute,
            default 1); see :mod:`fastnn.callbacks`.  On dask input they run
            after the rounds (every ``sync_every`` epochs) that reach one of
            those epochs.
        class_weight : dict or "balanced", optional
            Keras' class weights: ``{class_index: weight}`` (finite, >= 0;
            indices left out weigh 1).  A row's class is the arg-max of its
            target row when there are several output units (one-hot or
            integer labels), its target rounded to an integer with one unit.
            Each row's loss is multiplied by its weight and the batch loss
            stays Keras' ``sum(w_i * l_i) / batch_size`` (not divided by the
            sum of the weights).  ``"balanced"`` (fastnn's addition):
            ``n_samples / (n_classes * count)`` over the classes present.
            The training loss (``History.loss``) is weighted; validation
            losses and :meth:`evaluate` are not.  Weighted fits of narrow
            networks run the row-major loop.  Not supported on dask input.

        Returns
        -------
        History

        Notes
        -----
        **Resuming.** A checkpoint holds the weights, the optimizer and its
        state, the step and epoch counters and the shuffling stream after its
        epoch.  If ``fit(X, y, epochs=E, ...)`` on a model that had trained
        ``e0`` epochs was cut short (a crash, Ctrl-C), ``m = fastnn.load(path)``
        then ``m.fit(X, y, epochs=E - (m.epochs_trained - e0), ...)`` with the
        same data and settings (the optimizer may be omitted: the file's is
        kept) gives the weights, optimizer state and per-epoch losses of the
        uninterrupted fit, bit for bit, on either backend and dtype.  Early
        stopping's state is not in the file: a resumed fit starts its
        ``patience`` count afresh (no best loss yet, so its first epoch is an
        improvement) and ``best_epoch`` counts within it.  Neither is the
        divergence guard's lowest loss so far: a resumed fit restores at most
        back to its own start.
        """
        runner = None
        if callbacks is not None:  # (checked before anything changes; the driver runs them between chunks)
            from fastnn.callbacks import CallbackRunner, check_callbacks

            callbacks = check_callbacks(callbacks)
            if callbacks:
                runner = CallbackRunner(callbacks, self, self._set_counters)
        if hasattr(type(X), "__dask_graph__") or hasattr(type(y), "__dask_graph__"):  # data-parallel on Dask
            from fastnn.cluster import sequential

            if class_weight is not None:
                raise NotImplementedError("class_weight is not supported on dask input: fit numpy arrays, or pass "
                                          "class_weight=None")
            settings = training.FitSettings(*training.check_fit_settings(
                self, epochs, batch_size, loss, optimizer, shuffle, verbose, patience, min_delta, threads,
                checkpoint, checkpoint_every))
            if runner is None:
                return sequential.fit(self, X, y, settings, validation_data, sync_every)
            runner.begin()
            history = sequential.fit(self, X, y, settings, validation_data, sync_every, runner)
            runner.end(history)
            return history
        request = training.check_fit_args(self, X, y, epochs, batch_size, loss, optimizer, shuffle, verbose,
                                          validation_data, patience, min_delta, threads, checkpoint,
                                          checkpoint_every, class_weight)
        # everything is valid: from here on the model may change (a MemoryError below still leaves it as it was)
        if not self.built:
            self.build(request.X.shape[1])
        plan = training.PLANS.take(request, self.backend, self._layout, self.dtype)
        self._use_optimizer(request.optimizer, request.spec.name)
        on_checkpoint = None
        if request.checkpoint is not None:
            def on_checkpoint(epochs_trained, step, path=request.checkpoint):
                self.epochs_trained, self.step = epochs_trained, step
                self.save(path)
        if runner is not None:
            runner.begin()
        outcome = training.run_fit(request, plan, self.backend, self._theta, self._layout, self._opt_state,
                                   self._shuffle_rng, self.epochs_trained, self.step, on_checkpoint, runner)
        training.PLANS.give_back(plan)  # (not after an exception: that plan is simply dropped)
        self.epochs_trained, self.step = outcome.epochs_trained, outcome.step
        if runner is not None:
            runner.end(outcome.history)
        return outcome.history

    def _set_counters(self, epochs_trained: int, step: int) -> None:
        """The epoch and step counters of the state the arrays hold now (a callback is about to see the model)."""
        self.epochs_trained, self.step = epochs_trained, step

    def _assign_parameters(self, theta: np.ndarray) -> None:
        """Overwrite the flat parameters with ``theta`` (same layout; trusted: a fit's own result)."""
        self._theta[...] = theta

    def _use_optimizer(self, optimizer: Optimizer, loss_name: str) -> None:
        """Make ``optimizer`` the model's (a fresh state unless it equals the current one) and record the loss."""
        if optimizer is not self.optimizer and optimizer != self.optimizer:
            self._opt_state = training.new_optimizer_state(self.n_params, self.dtype, optimizer.n_state)
        self.optimizer, self.loss = optimizer, loss_name

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Network output for ``X`` (n_samples, n_features): an array (n_samples, n_outputs).

        Warns (RuntimeWarning) when the output holds NaN or infinity.
        """
        self._require_built("predict()")
        if hasattr(type(X), "__dask_graph__"):  # blockwise on the Dask workers: a dask array
            from fastnn.cluster import sequential

            return sequential.predict(self, X)
        out = self._forward(check_features("X", X, self.dtype, self.input_dim))
        if not math.isfinite(out.sum()) and not np.isfinite(out).all():  # a finite sum proves every value finite
            warnings.warn("predict() returns NaN or infinity: the weights or the inputs are too large for "
                          f"{self.dtype.name}", RuntimeWarning, stacklevel=2)
        return out

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """The network's output for validated ``X``, in cache-sized tiles (:mod:`fastnn.inference`)."""
        return inference.forward(X, self._theta, self._inference, self.backend)

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
            share of samples whose arg-max is the true class).  Warns
            (RuntimeWarning) when the loss is NaN or infinite.
        """
        self._require_built("evaluate()")
        if hasattr(type(X), "__dask_graph__"):  # per-shard sums on the Dask workers
            from fastnn.cluster import sequential

            return sequential.evaluate(self, X, y, loss=loss)
        spec = loss_spec(loss if loss is not None else (self.loss or "mse"))
        training.check_output_activation(spec, self.layers[-1].activation)
        X = check_features("X", X, self.dtype, self.input_dim)
        Y = check_targets("y", y, self.dtype, X.shape[0], self.output_dim, spec)
        batch, xb, abuf = self._inference_buffers(X.shape[0])
        _, dataset_loss = training.inference_kernels(self.backend, self._narrow)
        kernel = training.pick_build(dataset_loss, self.backend, batch * self._madds_per_row)
        args = contract.DatasetLossArgs(
            X=X, Y=Y, theta=self._theta, layout=self._layout, loss_code=spec.code,
            eps=self.dtype.type(np.finfo(self.dtype).eps), batch_size=batch, xb=xb,
            yb=np.empty(batch * Y.shape[1], self.dtype), abuf=abuf, rowloss=np.empty(batch, np.float64))
        value = kernel(*args)
        result = {"loss": float(value)}
        if not math.isfinite(value):
            warnings.warn(f"evaluate() returns a non-finite loss ({value}): the weights or the inputs are too "
                          f"large for {self.dtype.name}", RuntimeWarning, stacklevel=2)
        if spec.is_classification:
            p = self._forward(X)
            if spec.output_activation == "softmax":
                result["accuracy"] = float(np.mean(np.argmax(p, axis=1) == np.argmax(Y, axis=1)))
            else:
                result["accuracy"] = float(np.mean((p > 0.5) == (Y > 0.5)))
        return result

    def _inference_buffers(self, n: int):
        # allocated per call, not kept: predict may run in several threads at once on one model (Dask)
        batch = max(1, min(n, config.PREDICT_BUFFER_ELEMENTS // self._activation_width))
        return (batch, np.empty(batch * self.input_dim, self.dtype),
                np.empty(batch * self._activation_width, self.dtype))

    # ------------------------------------------------------------------
    # persistence and display
    # ------------------------------------------------------------------
    def save(self, path) -> None:
        """Save architecture, weights, optimizer state and dtype to ``path`` (an .npz file, no pickle).

        The file is written atomically: a crash mid-save leaves any previous
        file at ``path`` intact (:mod:`fastnn.io`).
        """
        self._require_built("save()")
        io.write_state(self.to_state(), path)

    def to_state(self) -> dict:
        """Everything that defines the built model, as plain data: the keys of ``fastnn.io.STATE_FIELDS`` and ``STATE_ARRAYS``.

        The non-array fields are JSON-serialisable; the arrays are the model's
        own (not copies).  :meth:`from_state` rebuilds an identical model,
        training included: the next ``fit`` continues exactly as this one's would.
        """
        self._require_built("to_state()")
        opt = self.optimizer
        state = list(self._opt_state) or [np.empty(0, self.dtype), np.empty(0, self.dtype)]
        return {
            "dtype": self.dtype.name,
            "input_dim": self.input_dim,
            "layers": [layer.get_config() for layer in self.layers],
            "backend": self.backend,
            "init": self.init,
            "seed": self.seed,
            "loss": self.loss,
            "optimizer": None if opt is None else {"name": opt.name, "config": opt.get_config()},
            "step": self.step,
            "epochs_trained": self.epochs_trained,
            "shuffle_rng": self._shuffle_rng.bit_generator.state,
            "theta": self._theta,
            "opt_state_0": state[0],
            "opt_state_1": state[1],
        }

    @classmethod
    def from_state(cls, state: dict) -> "Sequential":
        """The model described by ``state`` (as :meth:`to_state` gives it); arrays are copied.

        Raises
        ------
        ValueError
            A field is missing, of the wrong type, or inconsistent with the
            others (message names it).  Nothing is built from a bad state.
        """
        try:
            layers = [Dense(**spec) for spec in state["layers"]]
            if not layers:
                raise ValueError("no layers")
            model = cls(layers, input_dim=None, backend=state["backend"], dtype=state["dtype"],
                        init=state["init"], seed=state["seed"])
            input_dim = check_int("input_dim", state["input_dim"], low=1, high=2**31 - 1)
            _, n_params = model._layout_for(input_dim)
            theta = state["theta"]
            if not isinstance(theta, np.ndarray) or theta.dtype != model.dtype or theta.shape != (n_params,):
                raise ValueError(f"theta must be {model.dtype.name} of shape ({n_params},), got "
                                 f"{getattr(theta, 'dtype', type(theta).__name__)} {getattr(theta, 'shape', '')}")
            if not np.all(np.isfinite(theta)):
                raise ValueError("theta contains NaN or infinity")
            optimizer, opt_state = None, []
            if state["optimizer"] is not None:
                optimizer = OPTIMIZERS[state["optimizer"]["name"]](**state["optimizer"]["config"])
                for j in range(2):
                    arr = state[f"opt_state_{j}"]
                    expected = n_params if j < optimizer.n_state else 0
                    if not isinstance(arr, np.ndarray) or arr.dtype != model.dtype or arr.shape != (expected,):
                        raise ValueError(f"opt_state_{j} must be {model.dtype.name} of shape ({expected},), got "
                                         f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}")
                    opt_state.append(np.array(arr))
            loss = state["loss"]
            if loss is not None:
                loss = loss_spec(loss).name
            step, epochs = int(state["step"]), int(state["epochs_trained"])
            if step < 0 or epochs < 0:
                raise ValueError("negative counters")
            model.build(input_dim)
            model._theta[...] = theta
            model.optimizer, model._opt_state, model.loss = optimizer, opt_state, loss
            model.step, model.epochs_trained = step, epochs
            model._shuffle_rng.bit_generator.state = state["shuffle_rng"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad or missing field ({type(exc).__name__}: {exc})") from None
        return model

    def to_torch(self):
        """This network as a ``torch.nn.Sequential`` (:func:`fastnn.interop.torch.to_torch`; needs PyTorch)."""
        from fastnn.interop.torch import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, module, dtype=None) -> "Sequential":
        """A model from a torch ``nn.Sequential`` of Linear and activation modules
        (:func:`fastnn.interop.torch.from_torch`; needs PyTorch)."""
        from fastnn.interop.torch import from_torch

        return from_torch(module, dtype=dtype)

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


def load(path) -> Sequential:
    """Read a model saved by :meth:`Sequential.save`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a complete, consistent fastnn model file of a
        supported version.  Nothing in the file is ever executed.
    """
    state = io.read_state(path)
    try:
        return Sequential.from_state(state)
    except ValueError as exc:
        raise io.invalid_file(path, str(exc)) from None
    except Exception as exc:  # a hand-crafted header can fail in many ways (OverflowError, RecursionError, ...)
        raise io.invalid_file(path, f"bad field ({type(exc).__name__}: {exc})") from None
