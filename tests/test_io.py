"""save/load: exact round trip, atomic writes, and hostile files rejected without executing anything."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Adam, Dense, Sequential


def trained_model(dtype="float64", optimizer=None, backend="numba"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] > 0).astype(float)
    model = Sequential([Dense(5, "tanh"), Dense(1, "sigmoid")], input_dim=3, dtype=dtype, backend=backend, seed=2)
    model.fit(X, y, epochs=5, batch_size=8, loss="binary_crossentropy",
              optimizer=optimizer or Adam(0.01, weight_decay=1e-3))
    return model, X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [Adam(0.01), SGD(0.1, momentum=0.9, nesterov=True, decay=0.1), SGD(0.1)],
                         ids=["adam", "nesterov", "sgd"])
def test_round_trip_is_exact_and_training_continues_identically(tmp_path, dtype, optimizer):
    model, X, y = trained_model(dtype, optimizer)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastnn.load(path)
    assert loaded.dtype == model.dtype and loaded.input_dim == 3
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert loaded.optimizer == model.optimizer and loaded.step == model.step
    assert loaded.epochs_trained == model.epochs_trained and loaded.loss == model.loss
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(model._opt_state, loaded._opt_state):
        assert np.array_equal(a, b)
    h1 = model.fit(X, y, epochs=3, batch_size=8, loss="binary_crossentropy")
    h2 = loaded.fit(X, y, epochs=3, batch_size=8, loss="binary_crossentropy")
    assert h1.loss == h2.loss
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))


def test_saved_path_is_used_as_given(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "weights.fnn"  # no .npz suffix appended
    model.save(str(path))
    assert path.exists() and not (tmp_path / "weights.fnn.npz").exists()
    assert fastnn.load(str(path)).n_params == model.n_params


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="built"):
        Sequential([Dense(1)]).save(tmp_path / "m.npz")


def test_crash_mid_save_keeps_previous_file(tmp_path, monkeypatch):
    model, _, _ = trained_model()
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def exploding_savez(file, **arrays):
        file.write(b"PK\x03\x04 partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # temporary file cleaned up


def _rewrite(path, **changes):
    """Copy of a saved model with some arrays replaced (meta given as a dict)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if name == "meta":
            value = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    out = path.with_name("edited.npz")
    np.savez(out, **arrays)
    return out


def _meta(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive["meta"].tobytes())


@pytest.fixture
def saved(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def test_truncated_file(saved):
    data = saved.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 10):
        saved.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a valid fastnn model file"):
            fastnn.load(saved)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "nope.npz")


def test_random_bytes_and_foreign_npz(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="not a valid fastnn model file"):
        fastnn.load(junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ValueError, match="missing arrays"):
        fastnn.load(foreign)


def test_pickled_object_array_is_never_unpickled(tmp_path, saved):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle payload ran')",))

    payload = np.empty(1, dtype=object)
    payload[0] = Boom()
    evil = _rewrite(saved, theta=payload)
    with pytest.raises(ValueError, match="not a valid fastnn model file"):
        fastnn.load(evil)


@pytest.mark.parametrize("field,value,match", [
    ("version", 99, "version 99"),
    ("format", "something-else", "format"),
    ("dtype", "float16", "dtype"),
    ("layers", [{"units": 5, "activation": "swish"}, {"units": 1, "activation": "sigmoid"}], "swish"),
    ("layers", [{"units": 0, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}], "units"),
    ("input_dim", 4, "theta"),
    ("optimizer", {"name": "adam", "config": {"lr": -1}}, "lr"),
    ("optimizer", {"name": "rmsprop", "config": {}}, "rmsprop"),
    ("step", -3, "negative"),
])
def test_hand_crafted_headers(saved, field, value, match):
    meta = _meta(saved)
    meta[field] = value
    with pytest.raises(ValueError, match=match):
        fastnn.load(_rewrite(saved, meta=meta))


def test_inconsistent_arrays(saved):
    with pytest.raises(ValueError, match="theta"):
        fastnn.load(_rewrite(saved, theta=np.ones(3)))
    with pytest.raises(ValueError, match="NaN"):
        bad = np.load(saved)["theta"].copy()
        bad[0] = np.nan
        fastnn.load(_rewrite(saved, theta=bad))
    with pytest.raises(ValueError, match="opt_state_1"):
        fastnn.load(_rewrite(saved, opt_state_1=np.ones(2)))
    with pytest.raises(ValueError, match="missing arrays"):
        fastnn.load(_rewrite(saved, opt_state_0=None))
    with pytest.raises(ValueError, match="header"):
        fastnn.load(_bad_meta_bytes(saved))


def _bad_meta_bytes(saved):
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["meta"] = np.frombuffer(b"\xff\xfe not json", dtype=np.uint8)
    out = saved.with_name("badmeta.npz")
    np.savez(out, **arrays)
    return out


def test_file_is_a_plain_zip_of_npy(saved):
    with zipfile.ZipFile(saved) as zf:
        assert sorted(zf.namelist()) == ["meta.npy", "opt_state_0.npy", "opt_state_1.npy", "theta.npy"]
