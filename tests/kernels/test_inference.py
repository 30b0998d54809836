"""Tiled inference (fastnn.kernels.inference, fastnn.inference): the reference's outputs, whatever the tiling.

Oracles: the NumPy reference's ``predict_rows`` (one whole-array pass per
layer) for the values, to rounding; the kernels' own serial build with one
worker for the claims that threads and workers never change a bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import Dense, Sequential, config, inference
from fastnn.activations import ACTIVATIONS
from fastnn.kernels.inference import predict_rows
from fastnn.reference import train as R

TOL = {np.float64: dict(rtol=1e-11, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _model(d0, hidden, k, dtype, act="tanh", out_act="identity", seed=0):
    layers = [Dense(h, act) for h in hidden] + [Dense(k, out_act)]
    return Sequential(layers, input_dim=d0, dtype=np.dtype(dtype).name, seed=seed, init="xavier")


def _reference(model, X):
    out = np.empty((X.shape[0], model.output_dim), model.dtype)
    R.predict_rows(X.astype(np.float64), model._theta.astype(np.float64), model._layout, max(1, X.shape[0]), 1, None, out)
    return out


def _run(kernels, model, X, tile, n_workers, parallel=False):
    how = inference.plan(model._layout, X.itemsize)
    out = np.full((X.shape[0], model.output_dim), np.nan, model.dtype)
    buffers = np.empty((n_workers, tile * how.scratch_per_row), model.dtype)
    kernels.pick(parallel)(X, model._theta, model._layout, tile, n_workers, buffers, out)
    return out


NETWORKS = [  # (d0, hidden, k): narrow, wide, deep, one layer, wide input
    (3, (5,), 1), (4, (16, 8), 3), (20, (40,), 2), (7, (33, 17, 9), 4), (5, (), 2), (70, (24,), 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d0, hidden, k", NETWORKS)
@pytest.mark.parametrize("n, tile", [(1, 1), (5, 16), (37, 16), (100, 32), (64, 64)])
def test_tiles_equal_the_reference_for_any_tiling(dtype, d0, hidden, k, n, tile):
    model = _model(d0, hidden, k, dtype, seed=n)
    X = np.random.default_rng(n).standard_normal((n, d0)).astype(dtype)
    np.testing.assert_allclose(_run(predict_rows, model, X, min(tile, n), 1), _reference(model, X), **TOL[dtype])


@pytest.mark.parametrize("code_name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("width", [6, 40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_activation_as_hidden_and_output_layer(code_name, width, dtype):
    model = _model(5, (width,), 3, dtype, act=code_name, out_act=code_name, seed=2)
    X = np.random.default_rng(3).standard_normal((50, 5)).astype(dtype)
    got = inference.forward(X, model._theta, model._inference)
    np.testing.assert_allclose(got, _reference(model, X), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_workers_and_builds_never_change_a_bit(dtype):
    """Tiles are fixed by the shapes; threads only share them out."""
    model = _model(9, (12, 30), 3, dtype, act="relu", out_act="softmax", seed=4)
    X = np.random.default_rng(5).standard_normal((1001, 9)).astype(dtype)
    base = _run(predict_rows, model, X, 64, 1)
    for n_workers in (2, 3, 16):
        for parallel in (False, True):
            np.testing.assert_array_equal(_run(predict_rows, model, X, 64, n_workers, parallel), base)


@pytest.mark.parametrize("hidden", [(6,), (48, 24)], ids=["narrow", "wide"])
def test_predict_is_the_same_with_one_thread_or_two_and_in_any_parallel_mode(hidden):
    model = _model(8, hidden, 2, np.float64, act="relu", seed=6)
    X = np.random.default_rng(7).standard_normal((20_000, 8))  # several tiles, enough work for the parallel build
    with config.parallel_mode("serial"):
        base = model.predict(X)
    with config.parallel_mode("parallel"):
        np.testing.assert_array_equal(model.predict(X), base)
    with config.threads(1):
        np.testing.assert_array_equal(model.predict(X), base)
    np.testing.assert_allclose(base, _reference(model, X), **TOL[np.float64])


def test_predict_accepts_any_memory_order_and_slices():
    model = _model(6, (20,), 2, np.float64, act="relu", seed=8)
    X = np.random.default_rng(9).standard_normal((300, 12))
    view = X[::2, ::2]  # neither C- nor F-contiguous
    expected = model.predict(np.ascontiguousarray(view))
    np.testing.assert_array_equal(model.predict(view), expected)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(view)), expected)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs(n):
    model = _model(4, (10,), 3, np.float32, act="relu", out_act="softmax", seed=10)
    X = np.random.default_rng(11).standard_normal((n, 4)).astype(np.float32)
    out = inference.forward(X, model._theta, model._inference) if n == 0 else model.predict(X)
    assert out.shape == (n, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reference(model, X), **TOL[np.float32])


def test_the_numpy_backend_predicts_the_same_values():
    fast = _model(10, (30, 8), 2, np.float64, seed=12)
    slow = Sequential([Dense(30, "tanh"), Dense(8, "tanh"), Dense(2)], input_dim=10, seed=12, init="xavier",
                      backend="numpy")
    X = np.random.default_rng(13).standard_normal((9000, 10))  # more rows than one tile
    assert 9000 > slow._inference.tile
    np.testing.assert_allclose(fast.predict(X), slow.predict(X), **TOL[np.float64])


@pytest.mark.parametrize("d0, hidden, k", NETWORKS + [(784, (512, 256), 10)])
@pytest.mark.parametrize("itemsize", [4, 8])
def test_plan_tiles_fit_the_cache_budget_within_bounds(d0, hidden, k, itemsize):
    model = _model(d0, hidden, k, np.float64)
    how = inference.plan(model._layout, itemsize)
    assert how.tile % 16 == 0
    assert config.INFERENCE_TILE_MIN_ROWS - 16 < how.tile <= config.INFERENCE_TILE_MAX_ROWS
    assert how.scratch_per_row == 2 * max(hidden, default=1)
    if how.tile > config.INFERENCE_TILE_MIN_ROWS:  # not clipped up: the tile's hot blocks fit the budget
        assert how.tile * (how.scratch_per_row + k) * itemsize <= config.INFERENCE_TILE_BYTES


@pytest.mark.parametrize("n", [1, 100, 128, 129, 1000, 5000, 10_000, 33_333, 100_000, 1_000_000])
@pytest.mark.parametrize("hidden", [(16,), (512, 256)])
def test_tile_rows_depend_on_the_shapes_only_and_share_large_calls_out(n, hidden):
    model = _model(20, hidden, 3, np.float32)
    how = model._inference
    tile = inference.tile_rows(how, n)
    with config.threads(1):
        assert inference.tile_rows(how, n) == tile  # no thread count anywhere in the rule
    assert 1 <= tile <= min(n, how.tile)
    n_tiles = -(-n // tile)
    if n >= config.INFERENCE_MIN_TILES * config.INFERENCE_TILE_MIN_ROWS:
        assert n_tiles >= config.INFERENCE_MIN_TILES or tile == how.tile  # enough tiles for the threads
    if n <= config.INFERENCE_TILE_MIN_ROWS:
        assert tile == n  # one small call: one tile
    else:
        assert tile >= min(config.INFERENCE_TILE_MIN_ROWS, how.tile)
