"""Callbacks for ``Sequential.fit``: code that runs between epochs, sees the losses, and can stop training.

The protocol is Keras's, cut to what a dense-network fit has::

    class PrintLoss(fastnn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"], logs.get("val_loss"))

    model.fit(X, y, epochs=100, callbacks=[PrintLoss()])

- ``set_model(model)`` (``self.model``), then ``on_train_begin(logs)``
  before the first epoch, ``on_epoch_end(epoch, logs)`` after epochs of this
  fit (``epoch`` 0-based within the fit; ``logs`` holds ``"loss"``, ``"lr"``
  and, with ``validation_data``, ``"val_loss"`` of that epoch), and
  ``on_train_end(logs)`` after the fit, once the model holds its final weights.
- To stop: set ``self.model.stop_training = True`` (Keras) or return True
  from ``on_epoch_end``.  The fit ends after that epoch; the model is the
  model after it (with ``patience``, its best weights are restored as after
  any end of a fit) and the history has that many epochs.
- ``every`` (an attribute, default 1): ``on_epoch_end`` runs after epochs
  ``every``, ``2 * every``, ... of the fit.
- There are no batch or epoch-begin hooks: batches run inside compiled code,
  and an epoch begins where the previous one ended.

Why ``every``: the compiled loop runs chunks of many epochs in one call
(:mod:`fastnn.training`), and a callback can only run between chunks.  A fit
with callbacks cuts its chunks to end on every epoch some callback needs, so
a callback with ``every=1`` makes chunks of one epoch (a Python round trip
per epoch, a few microseconds), and ``every=100`` costs almost nothing.  A
fit without callbacks is not touched.

The model seen by a callback is the model after that epoch: its weights,
optimizer state and counters (``epochs_trained``, ``step``), so
``self.model.evaluate``, ``predict`` or ``save`` work as after a fit of that
many epochs.  An exception raised by a callback propagates out of ``fit``;
the model keeps the epochs trained before it (as Keras does), counters
included (with ``patience``, the current weights, not the best so far).
"""

from __future__ import annotations

import math
import numbers


class Callback:
    """Base class of ``Sequential.fit`` callbacks; override the hooks you need (each does nothing here).

    Attributes
    ----------
    model : Sequential or None
        The model being trained, set by :meth:`set_model` before ``on_train_begin``.
    every : int
        ``on_epoch_end`` runs after every ``every``-th epoch of the fit (>= 1).
    """

    every = 1

    def __init__(self):
        self.model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None) -> None:
        """Before the first epoch of the fit."""

    def on_epoch_end(self, epoch: int, logs=None):
        """After epoch ``epoch`` (0-based within the fit); return True to stop training."""

    def on_train_end(self, logs=None) -> None:
        """After the fit, however it ended (not after an exception); ``logs`` of its last epoch."""


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``.

    ``on_epoch_end`` may return True to stop training.  ``every`` as in
    :class:`Callback`.
    """

    def __init__(self, on_epoch_end=None, on_train_begin=None, on_train_end=None, every=1):
        super().__init__()
        for name, fn in (("on_epoch_end", on_epoch_end), ("on_train_begin", on_train_begin),
                         ("on_train_end", on_train_end)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        self._epoch_end, self._train_begin, self._train_end = on_epoch_end, on_train_begin, on_train_end
        self.every = every

    def on_train_begin(self, logs=None):
        if self._train_begin is not None:
            self._train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end is not None:
            return self._epoch_end(epoch, logs)
        return None

    def on_train_end(self, logs=None):
        if self._train_end is not None:
            self._train_end(logs)


class EarlyStopping(Callback):
    """Stop when a monitored value has stopped improving (Keras's ``EarlyStopping``).

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's ``logs``: ``"loss"`` or ``"val_loss"`` (needs
        ``validation_data``).  Lower is better.
    patience : int, default 0
        Epochs without improvement after which training stops (0: at the
        first epoch that does not improve).
    min_delta : float, default 0.0
        An improvement must lower the value by more than ``min_delta``.
    restore_best_weights : bool, default False
        At the end of the fit, set the model's weights (not its optimizer
        state) to those of the best epoch.

    Attributes
    ----------
    best : float
        The best monitored value of the fit.
    best_epoch : int or None
        Its epoch (0-based within the fit).
    stopped_epoch : int or None
        The epoch after which this callback stopped the fit, or None.

    Notes
    -----
    The built-in ``fit(..., patience=N)`` does the same inside the compiled
    loop with no per-epoch round trip (and always restores the best
    weights); this callback is for rules of your own or a Keras port.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, restore_best_weights=False):
        super().__init__()
        if monitor not in ("loss", "val_loss"):
            raise ValueError(f"monitor must be 'loss' or 'val_loss', got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not 0 <= min_delta < math.inf:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best_weights = bool(restore_best_weights)
        self.best, self.best_epoch, self.stopped_epoch, self.wait = math.inf, None, None, 0
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.stopped_epoch, self.wait = math.inf, None, None, 0
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this fit does not report "
                             f"(it reports {sorted(logs)}); pass validation_data to fit to get 'val_loss'")
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
            return False
        self.wait += 1
        if self.wait >= self.patience:  # (patience 0 and 1 both stop at the first epoch without improvement)
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_weights is not None:
            self.model.set_weights(self._best_weights)


def check_callbacks(callbacks) -> list | None:
    """``callbacks`` as a list of :class:`Callback` instances (None or empty: None); TypeError/ValueError naming it.

    Checks each item's type and ``every`` before the fit changes anything.
    """
    if callbacks is None:
        return None
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of fastnn.callbacks.Callback instances, "
                        f"got {type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}; pass an instance ({cb.__name__}())")
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a fastnn.callbacks.Callback instance, got {type(cb).__name__}")
        every = cb.every
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"callbacks[{i}].every must be an int >= 1, got {every!r}")
    return list(callbacks) or None


class CallbackRunner:
    """Runs a fit's callbacks for the training driver (:func:`fastnn.training.run_fit`).

    The driver asks :meth:`epochs_to_next` how far the next chunk may go, and
    calls :meth:`chunk_end` after each chunk that completed; the runner keeps
    the model's counters in step (``on_state(epochs_trained, step)``) before
    any callback sees the model.
    """

    def __init__(self, callbacks: list, model, on_state):
        self.callbacks = callbacks
        self.model = model
        self.on_state = on_state  # (epochs_trained, step) -> None: the model's counters now
        self.everies = sorted({int(cb.every) for cb in callbacks})
        self.last_logs = {}

    def begin(self) -> None:
        self.model.stop_training = False
        for cb in self.callbacks:
            cb.set_model(self.model)
        for cb in self.callbacks:
            cb.on_train_begin({})

    def epochs_to_next(self, done: int) -> int:
        """Epochs from ``done`` (of this fit) to the next epoch a callback runs after."""
        return min(every - done % every for every in self.everies)

    def chunk_end(self, done: int, ran: int, epochs_trained: int, step: int, loss: float, val_loss,
                  lr: float) -> bool:
        """After a chunk of ``ran`` epochs ending on epoch ``done`` of this fit: run the callbacks due; True to stop.

        A callback is due when a multiple of its ``every`` lies in the chunk
        (a local fit's chunks end on those epochs; a Dask round may span
        several); it sees the logs of the chunk's last epoch, ``done - 1``.
        """
        due = [cb for cb in self.callbacks if done // cb.every > (done - ran) // cb.every]
        if not due:
            return False
        logs = {"loss": float(loss), "lr": float(lr)}
        if val_loss is not None:
            logs["val_loss"] = float(val_loss)
        self.last_logs = logs
        self.on_state(epochs_trained, step)
        for cb in due:  # (every due callback runs, even after one asked to stop)
            if cb.on_epoch_end(done - 1, dict(logs)):
                self.model.stop_training = True
        return bool(self.model.stop_training)

    def end(self, history) -> None:
        """After the fit (the model holds its final weights and counters)."""
        logs = dict(self.last_logs)
        if history.epochs and history.loss:
            logs = {"loss": history.loss[-1], "lr": history.lr[-1]}
            if history.val_loss:
                logs["val_loss"] = history.val_loss[-1]
        for cb in self.callbacks:
            cb.on_train_end(logs)


__all__ = ["Callback", "EarlyStopping", "LambdaCallback"]
