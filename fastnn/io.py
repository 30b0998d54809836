"""Saving and loading models: an ``.npz`` file with a JSON header, never pickle.

Layout of the file (a NumPy zip archive, loaded with ``allow_pickle=False``):

- ``meta``: UTF-8 JSON as a uint8 array: format name and version, dtype,
  input_dim, layers, backend, init, seed, loss, optimizer (name and
  settings), step and epoch counters, and the shuffling generator's state;
- ``theta``: the flat parameter array (see :mod:`fastnn.model`);
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
_ARRAYS = ("meta", "theta", "opt_state_0", "opt_state_1")


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically (see the module docstring for the format)."""
    model._require_built("save()")
    opt = model.optimizer
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": model.dtype.name,
        "input_dim": model.input_dim,
        "layers": [layer.get_config() for layer in model.layers],
        "backend": model.backend,
        "init": model.init,
        "seed": model.seed,
        "loss": model.loss,
        "optimizer": None if opt is None else {"name": opt.name, "config": opt.get_config()},
        "step": model.step,
        "epochs_trained": model.epochs_trained,
        "shuffle_rng": model._shuffle_rng.bit_generator.state,
    }
    state = list(model._opt_state) or [np.empty(0, model.dtype), np.empty(0, model.dtype)]
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        "theta": model._theta,
        "opt_state_0": state[0],
        "opt_state_1": state[1],
    }
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


def _bad(path, why: str) -> ValueError:
    return ValueError(f"{path!s} is not a valid fastnn model file: {why}")


def load_model(path):
    """Read a model written by :func:`save_model`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a complete, consistent fastnn model file of a
        supported version.  Nothing in the file is ever executed.
    """
    path = os.fspath(path)
    try:
        return _load(path)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if "not a valid fastnn model file" in str(exc):
            raise
        raise _bad(path, f"cannot read it ({exc})") from None
    except Exception as exc:
        # An untrusted file can make the readers fail in many ways (a huge declared shape ->
        # MemoryError, an unknown zip compression -> NotImplementedError, a deeply nested header
        # -> RecursionError, numbers beyond range -> OverflowError, ...): all mean "not a model file".
        raise _bad(path, f"cannot read it ({type(exc).__name__}: {exc})") from None


def _load(path):
    from fastnn.model import Dense, Sequential
    from fastnn.optim import OPTIMIZERS

    with np.load(path, allow_pickle=False) as archive:
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise _bad(path, "it is a single array, not an .npz archive")
        missing = [name for name in _ARRAYS if name not in archive.files]
        if missing:
            raise _bad(path, f"missing arrays {missing}")
        arrays = {name: archive[name] for name in _ARRAYS}
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise _bad(path, f"{name} is not an array")

    meta_bytes = arrays["meta"]
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise _bad(path, "the header is not a byte string")
    try:
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"the header is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, "the header does not name the fastnn-model format")
    if meta.get("version") != VERSION:
        raise _bad(path, f"format version {meta.get('version')!r} is not supported (this fastnn reads {VERSION})")

    try:
        layers = [Dense(**spec) for spec in meta["layers"]]
        model = Sequential(layers, input_dim=None, backend=meta["backend"], dtype=meta["dtype"],
                           init=meta["init"], seed=meta["seed"])
        input_dim = meta["input_dim"]
        from fastnn.model import _make_layout

        if not layers:
            raise ValueError("no layers")
        layout, n_params = _make_layout(int(input_dim), layers)
        theta = arrays["theta"]
        if theta.dtype != model.dtype or theta.shape != (n_params,):
            raise ValueError(f"theta must be {model.dtype.name} of shape ({n_params},), got {theta.dtype} {theta.shape}")
        if not np.all(np.isfinite(theta)):
            raise ValueError("theta contains NaN or infinity")
        optimizer = None
        state = []
        if meta["optimizer"] is not None:
            opt_meta = meta["optimizer"]
            optimizer = OPTIMIZERS[opt_meta["name"]](**opt_meta["config"])
            for j in range(2):
                arr = arrays[f"opt_state_{j}"]
                expected = n_params if j < optimizer.n_state else 0
                if arr.dtype != model.dtype or arr.shape != (expected,):
                    raise ValueError(f"opt_state_{j} must be {model.dtype.name} of shape ({expected},), got "
                                     f"{arr.dtype} {arr.shape}")
                state.append(np.array(arr))
        loss = meta["loss"]
        if loss is not None:
            from fastnn.losses import loss_spec

            loss = loss_spec(loss).name
        step, epochs = int(meta["step"]), int(meta["epochs_trained"])
        if step < 0 or epochs < 0:
            raise ValueError("negative counters")
        model.build(int(input_dim))
        model._theta[...] = theta
        model.optimizer, model._opt_state, model.loss = optimizer, state, loss
        model.step, model.epochs_trained = step, epochs
        model._shuffle_rng.bit_generator.state = meta["shuffle_rng"]
    except ValueError as exc:
        raise _bad(path, str(exc)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise _bad(path, f"bad or missing field ({type(exc).__name__}: {exc})") from None
    return model
