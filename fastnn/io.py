"""Saving and loading models: an ``.npz`` file with a JSON header, never pickle.

This module knows files, not models, and imports nothing of fastnn: it
writes the plain-data state a model gives
(:meth:`fastnn.model.Sequential.to_state`) and reads it back for
:func:`fastnn.model.load`, which builds the model with
:meth:`~fastnn.model.Sequential.from_state` (that checks every field).
Layout of the file (a NumPy zip archive, loaded with
``allow_pickle=False``):

- ``meta``: UTF-8 JSON as a uint8 array: format name and version, and the
  state's non-array fields (dtype, input_dim, layers, backend, init, seed,
  loss, optimizer name and settings, step and epoch counters, the shuffling
  generator's state);
- ``theta``: the flat parameter array (see :mod:`fastnn.contract`);
- ``opt_state_0``, ``opt_state_1``: the optimizer state arrays (momentum
  velocity; Adam's first and second moments), empty when unused.

``save`` writes to a temporary file in the target directory, flushes it to
disk and renames it over the target, so a crash mid-save leaves any previous
file intact.  ``load`` checks every field before building the model and
raises ``ValueError`` naming what is wrong for a truncated, corrupted,
foreign or hand-crafted file.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

FORMAT = "fastnn-model"
VERSION = 1
#: The state's non-array fields, kept in the JSON header.
STATE_FIELDS: tuple[str, ...] = ("dtype", "input_dim", "layers", "backend", "init", "seed", "loss", "optimizer",
                                 "step", "epochs_trained", "shuffle_rng")
#: The state's arrays, one ``.npy`` member each.
STATE_ARRAYS: tuple[str, ...] = ("theta", "opt_state_0", "opt_state_1")
_ARRAYS = ("meta",) + STATE_ARRAYS


def write_state(state: dict, path) -> None:
    """Write a model's ``state`` (every key of STATE_FIELDS and STATE_ARRAYS) to ``path`` atomically."""
    meta = {"format": FORMAT, "version": VERSION, **{name: state[name] for name in STATE_FIELDS}}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
              **{name: state[name] for name in STATE_ARRAYS}}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def invalid_file(path, why: str) -> ValueError:
    """The error for a file that is not a valid model file, saying ``why``."""
    return ValueError(f"{path!s} is not a valid fastnn model file: {why}")


def read_state(path) -> dict:
    """Read the state written by :func:`write_state`: the fields present, unchecked (the model checks them).

    FileNotFoundError without a file; ValueError (:func:`invalid_file`) for
    anything that is not a readable fastnn model archive of this version.
    """
    path = os.fspath(path)
    try:
        return _load(path)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if "not a valid fastnn model file" in str(exc):
            raise
        raise invalid_file(path, f"cannot read it ({exc})") from None
    except Exception as exc:
        # An untrusted file can make the readers fail in many ways (a huge declared shape ->
        # MemoryError, an unknown zip compression -> NotImplementedError, a deeply nested header
        # -> RecursionError, numbers beyond range -> OverflowError, ...): all mean "not a model file".
        raise invalid_file(path, f"cannot read it ({type(exc).__name__}: {exc})") from None


def _load(path):
    with np.load(path, allow_pickle=False) as archive:
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise invalid_file(path, "it is a single array, not an .npz archive")
        missing = [name for name in _ARRAYS if name not in archive.files]
        if missing:
            raise invalid_file(path, f"missing arrays {missing}")
        arrays = {name: archive[name] for name in _ARRAYS}
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise invalid_file(path, f"{name} is not an array")

    meta_bytes = arrays.pop("meta")
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise invalid_file(path, "the header is not a byte string")
    try:
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_file(path, f"the header is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise invalid_file(path, "the header does not name the fastnn-model format")
    if meta.get("version") != VERSION:
        raise invalid_file(path, f"format version {meta.get('version')!r} is not supported (this fastnn reads {VERSION})")
    return {**{name: meta[name] for name in STATE_FIELDS if name in meta}, **arrays}
