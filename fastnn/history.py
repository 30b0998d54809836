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
import sys
import threading
import time
from dataclasses import dataclass, field


@dataclass
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
    """

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    epochs: int = 0
    stopped_early: bool = False
    best_epoch: int | None = None
    interrupted: bool = False
    diverged: bool = False
    restored_epoch: int | None = None

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
