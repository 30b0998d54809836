"""fastnn.Sequential on dask input, on a real LocalCluster (fastnn/cluster/sequential.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastnn  # noqa: E402


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    y = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] > 0).astype(np.int64)
    return X, y


def _model(seed=0, dtype="float64"):
    return fastnn.Sequential([fastnn.Dense(12, "relu"), fastnn.Dense(2, "softmax")], seed=seed, dtype=dtype)


def _dask(a, chunk=500):
    return da.from_array(a, chunks=(chunk,) + a.shape[1:])


FIT = dict(batch_size=32, loss="categorical_crossentropy")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_fit_is_reproducible_and_learns(dask_client, optimizer):
    X, y = _data()
    opt = fastnn.SGD(lr=0.1, momentum=0.9, nesterov=True, decay=0.01) if optimizer == "sgd" else fastnn.Adam(lr=0.01)
    a, b, c = _model(), _model(), _model(seed=1)
    ha = a.fit(_dask(X), _dask(y), epochs=15, optimizer=opt, **FIT)
    hb = b.fit(_dask(X), _dask(y), epochs=15, optimizer=opt, **FIT)
    c.fit(_dask(X), _dask(y), epochs=15, optimizer=opt, **FIT)
    np.testing.assert_array_equal(a._theta, b._theta)
    assert ha.loss == hb.loss and len(ha.loss) == 15 and a.epochs_trained == 15 and a.step == b.step > 0
    assert not np.array_equal(a._theta, c._theta)
    local = _model()
    local.fit(X, y, epochs=15, optimizer=opt, **FIT)
    assert a.evaluate(X, y)["accuracy"] >= local.evaluate(X, y)["accuracy"] - 0.02
    assert ha.loss[-1] < ha.loss[0]


def test_predict_and_evaluate_on_dask_equal_local(dask_client):
    X, y = _data()
    m = _model()
    m.fit(X, y, epochs=3, **FIT)
    pred = m.predict(_dask(X))
    assert hasattr(pred, "__dask_graph__")
    np.testing.assert_array_equal(pred.compute(), m.predict(X))
    remote, local = m.evaluate(_dask(X), _dask(y)), m.evaluate(X, y)
    assert remote["accuracy"] == local["accuracy"]
    assert remote["loss"] == pytest.approx(local["loss"], rel=1e-12)


def test_checkpoint_resume_is_bit_identical(dask_client, tmp_path):
    X, y = _data()
    path = tmp_path / "ck.npz"
    whole = _model()
    whole.fit(_dask(X), _dask(y), epochs=6, optimizer="adam", **FIT)
    first = _model()
    first.fit(_dask(X), _dask(y), epochs=3, optimizer="adam", checkpoint=path, checkpoint_every=3, **FIT)
    resumed = fastnn.load(path)
    assert resumed.epochs_trained == 3
    resumed.fit(_dask(X), _dask(y), epochs=3, **FIT)
    np.testing.assert_array_equal(resumed._theta, whole._theta)
    for s, t in zip(resumed._opt_state, whole._opt_state):
        np.testing.assert_array_equal(s, t)
    assert resumed.step == whole.step
    empty = _model()
    empty.fit(_dask(X), _dask(y), epochs=0, checkpoint=tmp_path / "zero.npz", **FIT)  # written at the end anyway
    np.testing.assert_array_equal(fastnn.load(tmp_path / "zero.npz")._theta, empty._theta)


def test_validation_and_patience(dask_client):
    X, y = _data()
    m = _model()
    h = m.fit(_dask(X), _dask(y), epochs=40, optimizer=fastnn.Adam(lr=0.05), validation_data=(X[:300], y[:300]),
              patience=2, **FIT)
    assert len(h.val_loss) == h.epochs == len(h.loss)
    if h.stopped_early:
        assert h.best_epoch is not None and h.epochs < 40
        assert m.evaluate(X[:300], y[:300])["loss"] == pytest.approx(min(h.val_loss), rel=1e-9)
    with pytest.raises(ValueError, match="sync_every=1"):
        _model().fit(_dask(X), _dask(y), epochs=2, validation_data=(X, y), sync_every=2, **FIT)


def test_sync_every_counts_epochs_per_round(dask_client):
    X, y = _data()
    m1, m2 = _model(), _model()
    h1 = m1.fit(_dask(X), _dask(y), epochs=4, optimizer="adam", **FIT)
    h2 = m2.fit(_dask(X), _dask(y), epochs=4, optimizer="adam", sync_every=2, **FIT)
    assert len(h1.loss) == len(h2.loss) == 4 and m2.epochs_trained == 4
    assert m2.step == m1.step  # the same local steps, fewer averagings
    assert not np.array_equal(m1._theta, m2._theta)


def test_bad_data_raises_and_changes_nothing(dask_client):
    X, y = _data()
    m = _model()
    m.fit(X, y, epochs=1, **FIT)
    before = m.to_state()
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in before.items()}
    bad = y.copy()
    bad[1700] = 5  # a label beyond the 2 output units, in the last block
    with pytest.raises(ValueError, match="class labels"):
        m.fit(_dask(X), _dask(bad), epochs=2, **FIT)
    after = m.to_state()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value)
        else:
            assert after[key] == value
    with pytest.raises(ValueError, match="backend"):
        fastnn.Sequential([fastnn.Dense(2, "softmax")], backend="numpy").fit(_dask(X), _dask(y), **FIT)
    unbuilt = _model()
    with pytest.raises(ValueError):
        unbuilt.fit(_dask(X), _dask(bad), epochs=1, **FIT)
    assert not unbuilt.built


def test_divergence_keeps_finite_weights(dask_client):
    X, y = _data()
    m = fastnn.Sequential([fastnn.Dense(12, "relu"), fastnn.Dense(1)], seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(_dask(X * 1e3), _dask(y.astype(float)), epochs=5, batch_size=32, optimizer=fastnn.SGD(lr=1e3))
    assert h.diverged and any(issubclass(w.category, RuntimeWarning) for w in caught)
    assert np.isfinite(m._theta).all()
