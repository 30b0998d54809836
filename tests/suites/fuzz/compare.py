"""Comparing a kernel's result with the reference backend's: equal to rounding on tame inputs.

On extreme inputs (non-finite or huge values) a mismatch is only noted, for
the statistics, not reported as ``bad``.
"""

from __future__ import annotations

import numpy as np


def _tame_value(arr) -> bool:
    """Finite floats of moderate size: sums and products of a few of them stay far from overflow."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.size == 0:
        return True
    limit = 1e15 if arr.dtype.itemsize <= 4 else 1e100
    with np.errstate(all="ignore"):
        finite = np.isfinite(arr)
        if not finite.all():
            return False
        big = np.abs(arr).max()
        tiny = np.abs(arr[arr != 0]).min() if np.any(arr != 0) else 1.0
    return big <= limit and tiny >= np.finfo(arr.dtype).tiny


def compare_results(ref, ker, *, tame: bool, scale: float, label: str, notes: list) -> str | None:
    """None if ``ker`` equals ``ref`` to rounding (see the module docstring), else why not."""
    if ref is None or ker is None:
        return None if ref is None and ker is None else f"{label}: one backend returned None ({ref!r} vs {ker!r})"
    if isinstance(ref, tuple):
        if not isinstance(ker, tuple) or len(ker) != len(ref):
            return f"{label}: tuple of {len(ref)} vs {type(ker).__name__}"
        for i, (r, k) in enumerate(zip(ref, ker)):
            why = compare_results(r, k, tame=tame, scale=scale, label=f"{label}[{i}]", notes=notes)
            if why:
                return why
        return None
    if type(ref) is not type(ker):
        return f"{label}: type {type(ker).__name__} (kernels) vs {type(ref).__name__} (reference)"
    r, k = np.asarray(ref), np.asarray(ker)
    if r.shape != k.shape or r.dtype != k.dtype:
        return f"{label}: {k.dtype}{k.shape} (kernels) vs {r.dtype}{r.shape} (reference)"
    if r.dtype.kind != "f":
        return None if np.array_equal(r, k) else f"{label}: values differ"
    r64, k64 = r.astype(np.float64), k.astype(np.float64)
    with np.errstate(all="ignore"):
        rf, kf = np.isfinite(r64), np.isfinite(k64)
        same_special = (r64 == k64) | (np.isnan(r64) & np.isnan(k64))
        special_bad = (~rf | ~kf) & ~same_special
        eps = float(np.finfo(r.dtype).eps)
        rtol = 64 * eps if r.dtype.itemsize > 4 else 256 * eps
        atol = 1e3 * eps * scale
        both = rf & kf
        close = np.abs(r64 - k64) <= rtol * np.maximum(np.abs(r64), np.abs(k64)) + atol
        value_bad = both & ~close
    if special_bad.any():
        i = tuple(int(v) for v in np.argwhere(special_bad)[0]) if r.ndim else ()
        msg = f"{label}: at {i} kernels {k64[i]!r} vs reference {r64[i]!r} (non-finite mismatch)"
        if tame:
            return msg
        notes.append("non-finite mismatch on extreme inputs")
    if value_bad.any():
        i = tuple(int(v) for v in np.argwhere(value_bad)[0]) if r.ndim else ()
        msg = f"{label}: at {i} kernels {k64[i]!r} vs reference {r64[i]!r} (beyond rounding, atol={atol:.3g})"
        if tame:
            return msg
        notes.append("numeric mismatch on extreme inputs")
    return None
