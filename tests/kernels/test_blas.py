"""Direct BLAS calls with leading dimensions (fastnn/kernels/blas.py) against NumPy's products.

Each column-range helper computes its columns of a row-major product; the
split products (``product_*``) cut a large product into column parts.  Checked
for both dtypes, odd shapes and every split, and the parallel builds of a
caller against the serial ones (the split depends on the shape only).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import config
from fastnn.kernels import blas
from fastnn.kernels._jit import kernel

TOL = {np.float32: 2e-5, np.float64: 1e-12}


@kernel
def _columns_in_parts(x, w, delta, out, grad_w, grad_x, parts):
    """The three products, each computed as ``parts`` column ranges (serially)."""
    nb, d = x.shape
    k = w.shape[1]
    xf, wf, df = x.reshape(nb * d), w.reshape(d * k), delta.reshape(nb * k)
    of, gwf, gxf = out.reshape(nb * k), grad_w.reshape(d * k), grad_x.reshape(nb * d)
    for c in range(parts):
        blas.forward_columns(xf, wf, of, nb, d, k, c * k // parts, (c + 1) * k // parts)
        blas.weight_grad_columns(xf, df, gwf, nb, d, k, c * k // parts, (c + 1) * k // parts)
        blas.input_grad_columns(df, wf, gxf, nb, d, k, c * d // parts, (c + 1) * d // parts)


@kernel
def _split_products(x, w, delta, out, grad_w, grad_x):
    blas.product_forward(x, w, out, True)
    blas.product_weight_grad(x, delta, grad_w, True)
    blas.product_input_grad(delta, w, grad_x, True)


def _operands(nb, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((nb, d)).astype(dtype), rng.standard_normal((d, k)).astype(dtype),
            rng.standard_normal((nb, k)).astype(dtype))


def _outputs(nb, d, k, dtype):
    return np.full((nb, k), np.nan, dtype), np.full((d, k), np.nan, dtype), np.full((nb, d), np.nan, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (3, 1, 9), (64, 33, 17)])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_column_ranges_compute_the_products(dtype, shape, parts):
    nb, d, k = shape
    if parts > min(d, k):
        pytest.skip("fewer columns than parts")
    x, w, delta = _operands(nb, d, k, dtype)
    out, grad_w, grad_x = _outputs(nb, d, k, dtype)
    _columns_in_parts.serial(x, w, delta, out, grad_w, grad_x, parts)
    tol = TOL[dtype]
    np.testing.assert_allclose(out, x @ w, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_w, x.T @ delta, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_x, delta @ w.T, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_products_split_and_agree_across_builds(dtype):
    """In a network with large weights, a product of COLUMN_SPLIT_MIN_MADDS is split; the parallel build gives
    the serial build's bits."""
    d, k = 512, 256
    nb = -(-config.COLUMN_SPLIT_MIN_MADDS // (d * k))
    assert blas.column_parts(True, nb, d, k, k) == config.COLUMN_PARTS
    assert blas.column_parts(True, nb - 1, d, k, k) == 1
    assert blas.column_parts(False, nb, d, k, k) == 1  # no split outside networks with large weights
    x, w, delta = _operands(nb, d, k, dtype, seed=1)
    results = []
    for build in (_split_products.serial, _split_products.parallel):
        out, grad_w, grad_x = _outputs(nb, d, k, dtype)
        with config.threads(min(2, config.cpu_count())):
            build(x, w, delta, out, grad_w, grad_x)
        results.append((out, grad_w, grad_x))
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(results[0][0], x @ w, rtol=tol, atol=tol)
    np.testing.assert_allclose(results[0][1], x.T @ delta, rtol=tol, atol=tol)
    np.testing.assert_allclose(results[0][2], delta @ w.T, rtol=tol, atol=tol)
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_networks_with_large_weights_are_the_ones_split():
    from fastnn import contract
    from fastnn.activations import RELU

    def layout(widths):
        return contract.make_layout(widths[0], widths[1:], [RELU] * (len(widths) - 1))[0]

    big = layout([config.COLUMN_SPLIT_MIN_WEIGHTS // 64, 64, 10])
    assert blas.has_large_weights(big, config.COLUMN_PART_MIN)
    assert not blas.has_large_weights(big, config.COLUMN_PART_MIN - 1)
    assert not blas.has_large_weights(layout([256, 256, 10]), 512)


def test_fit_with_column_split_products_matches_the_reference():
    """A network whose first weight matrix is split by columns: the numba fit equals the numpy reference's to
    rounding, and gives the same bits at 1 and 2 threads."""
    from fastnn import SGD, Dense, Sequential

    d, k = 512, config.COLUMN_SPLIT_MIN_WEIGHTS // 512
    rng = np.random.default_rng(3)
    X = rng.standard_normal((96, d))
    Y = np.eye(3)[rng.integers(0, 3, 96)]
    fits = {}
    for backend, threads in (("numpy", 1), ("numba", 1), ("numba", 2)):
        model = Sequential([Dense(k, "relu"), Dense(3, "softmax")], input_dim=d, backend=backend, seed=0,
                           init="he")
        with config.parallel_mode("parallel"):
            history = model.fit(X, Y, epochs=2, batch_size=config.COLUMN_PART_MIN + 16, loss="categorical_crossentropy",
                                optimizer=SGD(lr=0.01, momentum=0.9), threads=min(threads, config.cpu_count()))
        assert not history.diverged
        fits[backend, threads] = model.get_weights()
    for a, b in zip(fits["numba", 1], fits["numpy", 1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    assert all(np.array_equal(a, b) for a, b in zip(fits["numba", 1], fits["numba", 2]))
