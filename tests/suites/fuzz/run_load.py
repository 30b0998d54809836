"""Running a load case: ``fastnn.load`` on damaged and hand-crafted files.

:func:`make_load_file` writes the case's file (also used by the load cases'
reproducers); :func:`run_load` loads it: ``ValueError`` saying the file is not
a valid fastnn model file, or a working model.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from typing import Any

import numpy as np

from .cases import LoadCase
from .outcome import Result, _bad, _bad_exception, _exc_text, _fastnn_where


_BASE_FILES: dict = {}


def base_file_bytes(base: dict) -> bytes:
    key = json.dumps(base, sort_keys=True)
    if key not in _BASE_FILES:
        import fastnn

        layers = [fastnn.Dense(u, activation=a) for u, a in base["layers"]]
        model = fastnn.Sequential(layers, input_dim=base["input_dim"], dtype=base["dtype"], seed=1)
        opt = {None: None, "sgd": fastnn.SGD(lr=0.01), "momentum": fastnn.SGD(lr=0.01, momentum=0.9),
               "adam": fastnn.Adam()}[base.get("optimizer")]
        if base.get("fit") or opt is not None:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((6, base["input_dim"]))
            last = base["layers"][-1]
            loss = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy",
                    "exp": "poisson"}.get(last[1], "mse")
            y = rng.uniform(0, 1, (6, last[0]))
            if loss == "categorical_crossentropy":
                y = np.eye(last[0])[rng.integers(0, last[0], 6)]
            model.fit(X, y, epochs=1, loss=loss, optimizer=opt or "sgd", batch_size=3)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.npz")
            model.save(path)
            with open(path, "rb") as f:
                _BASE_FILES[key] = f.read()
    return _BASE_FILES[key]


def _npy_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=True)
    return buf.getvalue()


def _edit_json(meta, path, value):
    if value == "<raw>":
        return None
    obj = meta
    for key in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            obj = None
        if obj is None:
            return meta
    last = path[-1]
    if isinstance(obj, dict):
        if value == "<delete>":
            obj.pop(last, None)
        else:
            obj[last] = value
    elif isinstance(obj, list) and isinstance(last, int) and last < len(obj):
        if value == "<delete>":
            del obj[last]
        else:
            obj[last] = value
    return meta


def make_load_file(case: LoadCase, directory: str) -> Any:
    """Write the case's file into ``directory``; return the path argument for ``fastnn.load``."""
    path = os.path.join(directory, "model.npz")
    kind, *rest = case.mutation
    data = base_file_bytes(case.base) if kind not in ("raw", "npz", "npy") else b""
    if kind == "truncate":
        data = data[:int(len(data) * rest[0])]
    elif kind == "flip":
        buf = bytearray(data)
        for frac, xor in rest[0]:
            i = min(int(len(buf) * frac), len(buf) - 1)
            buf[i] ^= xor or 0xFF
        data = bytes(buf)
    elif kind == "insert":
        i = int(len(data) * rest[0])
        data = data[:i] + rest[1] + data[i:]
    elif kind == "zip-method":  # the compression method of the n-th central-directory entry
        buf = bytearray(data)
        at = -1
        for _ in range(rest[0] + 1):
            at = buf.find(b"PK\x01\x02", at + 1)
        if at >= 0:
            buf[at + 10:at + 12] = int(rest[1]).to_bytes(2, "little")
        data = bytes(buf)
    elif kind == "raw":
        data = rest[0]
    elif kind == "npy":
        data = _npy_bytes(np.arange(6.0))
    elif kind == "meta":
        with np.load(io.BytesIO(base_file_bytes(case.base))) as archive:
            members = {name: archive[name] for name in archive.files}
        text = members["meta"].tobytes().decode("utf-8")
        meta = json.loads(text)
        for edit in rest[0]:
            if len(edit) == 3 and edit[1] == "<raw>":
                text = edit[2]
                meta = None
                break
            meta = _edit_json(meta, edit[0], edit[1])
        if meta is not None:
            text = json.dumps(meta, allow_nan=True)
        members["meta"] = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **members)
        data = buf.getvalue()
    if kind == "npz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, value in rest[0].items():
                if name == "meta" and isinstance(value, str):
                    value = np.frombuffer(value.encode("utf-8", "surrogatepass"), np.uint8)
                zf.writestr(name + ".npy", _npy_bytes(value))
        data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    pk = case.path_kind
    if pk == "file":
        return path
    if pk == "pathlib":
        import pathlib

        return pathlib.Path(path)
    if pk == "bytes":
        return os.fsencode(path)
    if pk == "missing":
        return os.path.join(directory, "missing.npz")
    if pk == "directory":
        return directory
    return pk


def run_load(case: LoadCase) -> Result:
    import fastnn

    with tempfile.TemporaryDirectory() as d:
        path = make_load_file(case, d)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fastnn.load(path)
        except FileNotFoundError as exc:
            if case.path_kind not in ("file", "pathlib", "bytes", "directory"):
                return Result("documented-error", _exc_text(exc))
            return _bad_exception(exc, "FileNotFoundError for a file that exists")
        except TypeError as exc:
            if not isinstance(case.path_kind, str) or case.path_kind not in ("file", "pathlib", "bytes", "missing",
                                                                              "directory"):
                if "path" in str(exc) or "PathLike" in str(exc):
                    return Result("documented-error", _exc_text(exc))
            return _bad_exception(exc, "load raised TypeError (a bad file must give ValueError)")
        except ValueError as exc:
            if "not a valid fastnn model file" not in str(exc):
                r = _bad_exception(exc, "ValueError that does not say the file is invalid")
                r.signature = f"load: ValueError without the file's name @ {_fastnn_where(exc)}"
                return r
            return Result("documented-error", _exc_text(exc))
        except BaseException as exc:  # noqa: BLE001 - RecursionError, MemoryError, OverflowError...
            return _bad_exception(exc, "load raised an undocumented exception type")
    # a damaged file that still loads must give a working model
    if not isinstance(model, fastnn.Sequential) or not model.built:
        return _bad(f"load returned {model!r}", "load: returned something unusable")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model.predict(np.ones((2, model.input_dim), dtype=model.dtype))
    except Exception as exc:
        return _bad_exception(exc, "predict on a loaded model raised")
    if out.shape != (2, model.output_dim):
        return _bad(f"predict on the loaded model gave shape {out.shape}", "load: loaded model predicts badly")
    if case.mutation == ("none",):
        if not np.all(np.isfinite(model._theta)):
            return _bad("a valid file loaded with non-finite weights", "load: round trip")
    return Result("ok")
