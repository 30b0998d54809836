"""What happened to a case (:class:`Result`), and how an exception becomes one.

``ok``
    The call returned, and every cheap check of the result passed: shapes and
    dtypes; for kernel functions, equality with the reference backend on the
    same inputs; nothing written outside the arrays the call may write.
``documented-error``
    The call raised an exception of a documented type whose message names
    the offending argument (the rule of each entry point is in its
    ``run_*`` function, modules ``run_kernel``, ``run_model``, ``run_sklearn``
    and ``run_load``).
``bad``
    Anything else: an undocumented exception type (``OverflowError``,
    ``RecursionError``, a Numba ``TypingError``...), a message that names
    nothing, a result that differs from the reference, a write outside the
    output, a model changed by a call that raised, ...
``crash`` / ``timeout`` (made by the parent, :mod:`.worker`)
    The child died (segfault, abort: the signal is reported) or hung; the
    parent starts a new child for the next case.

A ``bad`` result carries a ``signature`` (a short, stable description such
as ``"OverflowError @ fastnn/_checks.py:check_scalar"``) that the parent uses
to deduplicate findings.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field


@dataclass
class Result:
    kind: str  # ok | documented-error | bad | crash | timeout
    detail: str = ""
    signature: str = ""
    notes: list = field(default_factory=list)  # tolerated oddities, for the statistics

    @property
    def failed(self) -> bool:
        return self.kind not in ("ok", "documented-error")


_IDENT = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?![\w.])")  # a word, not part of a dotted name like arr.dtype


def names_argument(message: str, names) -> bool:
    """True if ``message`` names one of ``names``.

    The message must start with the name (``"x must be 2-D ..."``), or contain
    a name of three characters or more as a word (``"unknown activation
    'foo'"``); one-letter names like ``a`` or ``x`` only count at the start, as
    they are also English words, and parts of dotted names (NumPy's
    ``arr.dtype.itemsize``) do not count.
    """
    tokens = _IDENT.findall(message)
    if not tokens:
        return False
    if tokens[0] in names:
        return True
    return any(t in names and len(t) >= 3 for t in tokens)


def _where(exc: BaseException) -> str:
    """``file:function`` of the innermost frame of the traceback, the path shortened."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "?"
    frame = tb[-1]
    path = frame.filename.replace("\\", "/")
    for marker in ("/fastnn/", "/site-packages/", "/tests/"):
        if marker in path:
            path = marker.strip("/") + "/" + path.split(marker, 1)[1]
            break
    return f"{path}:{frame.name}"


def _fastnn_where(exc: BaseException) -> str:
    """``file:line function`` of the innermost fastnn frame (the place to fix), else the innermost frame."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/fastnn/" in path and "/tests/" not in path:
            return f"fastnn/{path.split('/fastnn/', 1)[1]}:{frame.lineno} {frame.name}"
    return _where(exc)


def _exc_text(exc: BaseException) -> str:
    msg = str(exc)
    if len(msg) > 400:
        msg = msg[:400] + "..."
    return f"{type(exc).__name__}: {msg}"


def _bad(detail: str, signature: str, notes=None) -> Result:
    return Result("bad", detail, signature, notes or [])


def _bad_exception(exc: BaseException, why: str) -> Result:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return _bad(f"{why}: {_exc_text(exc)}\n{tb}", f"{type(exc).__name__} @ {_fastnn_where(exc)}")
