"""What ``fit`` returns, how it reports progress, and how it survives Ctrl-C.

The compiled training loop runs in chunks of epochs (so that Python gets
control back a few times a second); between chunks :class:`Progress` redraws
the bar and :class:`InterruptGuard` tells whether Ctrl-C was pressed.  The
guard replaces Python's SIGINT handler during ``fit`` with one that only sets
a flag, so the interrupt never lands in the middle of bookkeeping: the chunk
in progress completes, then ``fit`` returns normally with the weights and
history of the last completed epoch.
"""

from __future__ import annotations

import _signal
import copy
import sys
import threading
import time


class History:
    """Record of one ``fit`` call.

    Attributes
    ----------
    loss : list of float
        Training loss of each epoch run (the sample-weighted mean of its batch losses).
    val_loss : list of float
        Validation loss after each epoch (empty without ``validation_data``).
    lr : list of float
        Learning rate used in each epoch.
    epochs : int
        Number of completed epochs.
    stopped_early : bool
        Early stopping ended the fit (the best weights were restored).
    best_epoch : int or None
        With ``patience``: the epoch (0-based, within this fit) whose weights the model holds.
    interrupted : bool
        Ctrl-C ended the fit after the last completed epoch.
    diverged : bool
        The loss or the weights became non-finite; the fit stopped (and warned).
    restored_epoch : int or None
        After a divergence: the epoch (0-based, within this fit) whose starting
        weights, optimizer state and step the model keeps, the one with the
        lowest finite training loss; so the model holds the result of
        ``restored_epoch`` epochs of this fit (0: it is as before the fit).
        With ``patience``, the early-stopping best weights take precedence.

    Notes
    -----
    ``fit`` records each chunk of epochs as one array (:meth:`record_chunk`);
    the lists are made on first access.  A fit of thousands of epochs thus
    creates no Python object per epoch unless its history is read.
    """

    _LISTS = ("loss", "val_loss", "lr")

    def __init__(self, loss=None, val_loss=None, lr=None, epochs=0, stopped_early=False, best_epoch=None,
                 interrupted=False, diverged=False, restored_epoch=None):
        self._lists = {"loss": list(loss or ()), "val_loss": list(val_loss or ()), "lr": list(lr or ())}
        self._pending: list = []  # (loss array, val_loss array or None, optimizer, first epoch) per chunk
        self.epochs = epochs
        self.stopped_early = stopped_early
        self.best_epoch = best_epoch
        self.interrupted = interrupted
        self.diverged = diverged
        self.restored_epoch = restored_epoch

    def record_chunk(self, losses, val_losses, optimizer, first_epoch: int) -> None:
        """Append one chunk's epochs: ``losses`` (float64 array, copied), ``val_losses`` (array or None).

        The learning rates are ``optimizer.lr_schedule(first_epoch, len(losses))``,
        computed when ``lr`` is first read, from a copy of the optimizer taken
        now (a later change of its settings does not rewrite this history).
        """
        lr_args = (copy.copy(optimizer).lr_schedule, first_epoch, len(losses))
        self._pending.append((losses.copy(), None if val_losses is None else val_losses.copy(), lr_args))

    def _materialise(self) -> None:
        for losses, val_losses, (schedule, first, count) in self._pending:
            self._lists["loss"] += losses.tolist()
            if val_losses is not None:
                self._lists["val_loss"] += val_losses.tolist()
            self._lists["lr"] += schedule(first, count)
        self._pending.clear()

    def _get(self, name: str) -> list:
        if self._pending:
            self._materialise()
        return self._lists[name]

    def _set(self, name: str, value) -> None:
        if self._pending:
            self._materialise()
        self._lists[name] = value

    loss = property(lambda self: self._get("loss"), lambda self, v: self._set("loss", v),
                    doc="Training loss of each epoch run.")
    val_loss = property(lambda self: self._get("val_loss"), lambda self, v: self._set("val_loss", v),
                        doc="Validation loss after each epoch (empty without validation data).")
    lr = property(lambda self: self._get("lr"), lambda self, v: self._set("lr", v),
                  doc="Learning rate used in each epoch.")

    def _fields(self) -> dict:
        return {"loss": self.loss, "val_loss": self.val_loss, "lr": self.lr, "epochs": self.epochs,
                "stopped_early": self.stopped_early, "best_epoch": self.best_epoch,
                "interrupted": self.interrupted, "diverged": self.diverged, "restored_epoch": self.restored_epoch}

    def __eq__(self, other) -> bool:
        return type(other) is History and self._fields() == other._fields()

    def __repr__(self) -> str:
        return "History(" + ", ".join(f"{k}={v!r}" for k, v in self._fields().items()) + ")"

    @property
    def history(self) -> dict:
        """Keras-style dict of per-epoch lists."""
        out = {"loss": self.loss, "lr": self.lr}
        if self.val_loss:
            out["val_loss"] = self.val_loss
        return out


class InterruptGuard:
    """Context manager: while active, Ctrl-C sets :attr:`interrupted` instead of raising.

    Only the main thread can install signal handlers; elsewhere the guard is a
    no-op (and ``KeyboardInterrupt`` is delivered to the main thread anyway).
    """

    def __init__(self):
        self.interrupted = False
        self._previous = None

    def _handler(self, signum, frame):
        self.interrupted = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                # _signal: signal.signal without its slow enum wrapping (docs/design.md, "Knobs")
                self._previous = _signal.signal(_signal.SIGINT, self._handler)
            except ValueError:  # pragma: no cover - embedded interpreters
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            _signal.signal(_signal.SIGINT, self._previous)
        return False


class Progress:
    """Text progress for ``fit``: ``verbose=1`` one redrawn bar, ``verbose=2`` one line per epoch."""

    def __init__(self, verbose: int, total_epochs: int, stream=None):
        self.verbose = verbose
        self.total = total_epochs
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self._drawn = False

    def update(self, history: History, epoch_offset: int, first_new: int) -> None:
        """Report the epochs ``first_new..`` of ``history`` (just completed)."""
        if self.verbose <= 0:
            return
        if self.verbose >= 2:
            for e in range(first_new, history.epochs):
                self.stream.write(self._line(history, e, epoch_offset) + "\n")
            self.stream.flush()
            return
        done = history.epochs
        width = 30
        filled = int(width * done / max(self.total, 1))
        bar = "=" * filled + (">" if filled < width else "") + " " * max(width - filled - 1, 0)
        elapsed = time.perf_counter() - self.start
        text = f"\repoch {done}/{self.total} [{bar}] {self._metrics(history, done - 1)} - {elapsed:.1f}s"
        self.stream.write(text)
        self.stream.flush()
        self._drawn = True

    def close(self, message: str = "") -> None:
        if self.verbose <= 0:
            return
        if self._drawn:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()

    def _line(self, history: History, e: int, epoch_offset: int) -> str:
        return f"epoch {e + 1}/{self.total} - {self._metrics(history, e)}"

    @staticmethod
    def _metrics(history: History, e: int) -> str:
        if e < 0:
            return ""
        text = f"loss: {history.loss[e]:.6g}"
        if history.val_loss:
            text += f" - val_loss: {history.val_loss[e]:.6g}"
        return text
