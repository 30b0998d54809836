"""The realistic workload grid (fastnn/tools/grid.py) and ``fastnn compare --grid`` (fastnn/tools/compare/grid*.py).

What the grid claims to cover, its data, its arithmetic against a hand
count, the two estimators of a shape, the command's keys, ratios, summary,
listing and errors, and one behavioural check (fastnn's training accuracy
against scikit-learn's on the same job).  No timing is asserted: only that
times are measured, positive and consistent with the ratios.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from fastnn.tools import cli, grid
from fastnn.tools.compare import grid as compare_grid
from fastnn.tools.compare import grid_sides
from fastnn.tools.grid import GRID

#: The two smallest jobs: both APIs, both dtypes, regression and classification, both solvers.
SMALL = ("r1-1k-8-16-b16-sgd-64-est", "c2-2k-8-16-b32-adam-32-seq")
ROW_KEYS = {"name", "description", "n_rows", "n_features", "hidden", "task", "n_outputs", "batch_size", "solver",
            "dtype", "api", "epochs", "data_source", "madds", "repeat", "threads", "status", "problems", "notes",
            "fastnn_s", "fastnn_times", "gemm_floor_s", "gemm_floor_times", "compiled_floor_s",
            "compiled_floor_times", "compute_floor_s", "fastnn_vs_gemm_floor", "fastnn_vs_compiled_floor",
            "fastnn_vs_compute_floor"}
SKLEARN_KEYS = {"sklearn_s", "sklearn_times", "sklearn_speedup"}


def _available(shape):
    if shape.unavailable_reason() is not None:
        pytest.skip(f"{shape.name}: {shape.unavailable_reason()}")
    return shape


# ----------------------------------------------------------------------
# the grid
# ----------------------------------------------------------------------


def test_the_grid_covers_what_it_claims():
    assert len(GRID) >= 24
    assert len({s.name for s in GRID}) == len(GRID)
    assert min(s.n_rows for s in GRID) == 1_000 and max(s.n_rows for s in GRID) == 100_000
    assert min(s.n_features for s in GRID) == 8 and max(s.n_features for s in GRID) == 784
    hidden = {s.hidden for s in GRID}
    assert {(16,), (32, 16), (64, 64), (100,), (128,), (256,), (256, 128), (512, 256)} <= hidden
    regression = [s for s in GRID if s.task == "regression"]
    classes = {s.n_outputs for s in GRID if s.task == "classification"}
    assert regression and {2, 3, 5, 10} <= classes
    assert any(s.n_outputs == 2 and s.output_units == 1 and s.loss == "binary_crossentropy" for s in GRID)
    batches = {s.batch_size for s in GRID}
    assert min(batches) == 16 and max(batches) == 512 and 200 in batches
    assert {s.solver for s in GRID} == {"adam", "sgd"}
    assert {s.dtype for s in GRID} == {"float32", "float64"}
    assert {s.api for s in GRID} == {"estimator", "sequential"}
    assert {"digits", "mnist5k", "synthetic"} <= {s.data_source for s in GRID}


def test_data_is_deterministic_typed_shaped_and_read_only():
    for shape in GRID:
        if shape.unavailable_reason() is not None:
            continue
        X, y = shape.data()
        args = (shape.data_source, shape.n_rows, shape.n_features, shape.task, shape.n_outputs, shape.dtype)
        X2, y2 = grid._grid_data.__wrapped__(*args)  # a second build, past the cache
        assert np.array_equal(X, X2) and np.array_equal(y, y2), shape.name
        assert X.shape == (shape.n_rows, shape.n_features) and X.dtype == shape.dtype, shape.name
        assert np.all(np.isfinite(X))
        assert not X.flags.writeable and not y.flags.writeable, shape.name
        if shape.task == "classification":
            assert y.dtype == np.int64 and y.shape == (shape.n_rows,)
            assert set(np.unique(y).tolist()) == set(range(shape.n_outputs)), shape.name
        else:
            assert y.dtype == shape.dtype
            assert y.shape == ((shape.n_rows,) if shape.n_outputs == 1 else (shape.n_rows, shape.n_outputs))
        targets = shape.targets()
        assert targets.shape == (shape.n_rows, shape.output_units) and targets.dtype == shape.dtype


def test_products_and_madds_against_a_hand_count():
    # 8 -> 16 -> 1, batches of 16: forward x @ W (16, 8, 16), weight gradient x.T @ delta (8, 16, 16); second
    # layer the same plus the input gradient delta @ W.T (16, 1, 16).  Per row: 8*16 + 8*16 + 16 + 16 + 16 = 304
    # multiply-adds, 1,000 rows (62 full batches and one of 8 rows) an epoch, 20 epochs.
    small = grid.get_shape("r1-1k-8-16-b16-sgd-64-est")
    assert small.products() == [(16, 8, 16), (8, 16, 16), (16, 16, 1), (16, 16, 1), (16, 1, 16)]
    assert small.batches_per_epoch == 63
    assert small.madds_per_epoch() == 304 * 1_000
    assert small.madds() == 304 * 1_000 * 20
    # 784 -> 512 -> 256 -> 10, batches of 128: per row 2*784*512 + 3*512*256 + 3*256*10 = 1,203,712.
    large = grid.get_shape("c10-10k-784-512x256-b128-adam-32-est")
    assert large.products() == [(128, 784, 512), (784, 128, 512), (128, 512, 256), (512, 128, 256),
                                (128, 256, 512), (128, 256, 10), (256, 128, 10), (128, 10, 256)]
    assert large.madds_per_epoch() == 1_203_712 * 10_000 == large.madds()
    for shape in (small, large):
        roles = shape.products_by_role()
        assert [p for _, p in roles] == shape.products()
        assert [r for r, _ in roles][:3] == ["forward", "weight_grad", "forward"]


def test_the_product_floor_computes_the_shapes_products():
    """Both floors compute x @ W, x.T @ delta and delta @ W.T of each layer (checked against @ on copies)."""
    shape = dataclasses.replace(grid.get_shape("r2-5k-20-32x16-b32-sgd-32-seq"), n_rows=70)  # 2 full batches + 6
    floor = grid_sides.ProductFloor(shape)
    assert floor.rows.tolist() == [32, 32, 6]
    for run in (floor.numpy, floor.compiled):
        for c in floor.out:
            c[...] = np.nan
        run(1)
        for kind, a, b, c in zip(floor.kinds, floor.lhs, floor.rhs, floor.out):
            r = 6  # the last batch's rows
            if kind == grid_sides.FORWARD:
                np.testing.assert_allclose(c[:r], a[:r] @ b, rtol=1e-4)
            elif kind == grid_sides.WEIGHT_GRAD:
                np.testing.assert_allclose(c, a[:r].T @ b[:r], rtol=1e-4)
            else:
                np.testing.assert_allclose(c[:r], a[:r] @ b.T, rtol=1e-4)
    assert not floor.lhs[1].T.flags.c_contiguous  # the weight gradient multiplies a transposed view


def test_the_two_estimators_of_a_shape_get_the_same_parameters():
    pytest.importorskip("sklearn")
    for shape in GRID:
        fast, skl = shape.estimator("fastnn", 3).get_params(), shape.estimator("sklearn", 3).get_params()
        shared = set(fast) & set(skl)
        assert set(shape.estimator_params(3)) <= shared
        assert {k: fast[k] for k in shared} == {k: skl[k] for k in shared}, shape.name


def test_fastnn_reaches_scikit_learns_training_accuracy():
    pytest.importorskip("sklearn")
    shape = _available(grid.get_shape("c3-5k-20-32x16-b64-adam-64-est"))
    X, y = shape.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached, as asked
        fast = shape.estimator("fastnn").fit(X, y).score(X, y)
        skl = shape.estimator("sklearn").fit(X, y).score(X, y)
    assert skl > 0.6  # the job is learnable (3 classes: chance is ~0.33)
    assert fast == pytest.approx(skl, abs=0.03)


# ----------------------------------------------------------------------
# fastnn compare --grid
# ----------------------------------------------------------------------


def test_grid_json_keys_ratios_and_summary(capsys):
    pytest.importorskip("sklearn")
    status = cli.main(["compare", "--grid", *SMALL, "--repeat", "1", "--json", "--with", "sklearn"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads(captured.out)
    assert set(result) == {"rows", "summary", "environment"}
    rows = result["rows"]
    assert [r["name"] for r in rows] == list(SMALL)
    for row in rows:
        assert ROW_KEYS | SKLEARN_KEYS <= set(row)
        assert row["status"] == "ok" and row["problems"] == [] and row["repeat"] == 1
        for key in ("fastnn_s", "gemm_floor_s", "compiled_floor_s", "compute_floor_s", "sklearn_s"):
            assert row[key] > 0, key
        assert row["fastnn_vs_gemm_floor"] == pytest.approx(row["fastnn_s"] / row["gemm_floor_s"])
        assert row["fastnn_vs_compiled_floor"] == pytest.approx(row["fastnn_s"] / row["compiled_floor_s"])
        assert row["fastnn_vs_compute_floor"] == pytest.approx(row["fastnn_s"] / row["compute_floor_s"])
        assert row["sklearn_speedup"] == pytest.approx(row["sklearn_s"] / row["fastnn_s"])
        peak = result["environment"]["peak_gflops"][row["dtype"]]
        assert row["compute_floor_s"] == pytest.approx(2 * row["madds"] / (peak * 1e9))
        assert row["madds"] == grid.get_shape(row["name"]).madds()
    summary = result["summary"]
    assert set(summary) == {"fastnn_vs_gemm_floor", "fastnn_vs_compiled_floor", "fastnn_vs_compute_floor",
                            "sklearn_speedup"}
    for key, s in summary.items():
        assert s["min"] <= s["median"] <= s["max"] and s["n"] == 2
        assert s["min"] == min(r[key] for r in rows) and s["max"] == max(r[key] for r in rows)
    env = result["environment"]
    assert {"cpu", "cores", "threads", "numpy", "numba", "blas", "peak_gflops", "sklearn"} <= set(env)
    assert set(env["peak_gflops"]) == {"float32", "float64"} and min(env["peak_gflops"].values()) > 0
    assert f"[2/2] {SMALL[1]}" in captured.err  # progress on stderr


def test_grid_table_with_torch_at_one_thread(capsys):
    pytest.importorskip("torch")
    status = cli.main(["compare", "--grid", SMALL[1], "--repeat", "1", "--threads", "1", "--with", "torch"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["shape", "fastnn", "GEMM"] and "torch" in lines[0]
    assert lines[1].startswith(SMALL[1]) and lines[1].endswith("ok")
    assert any(line.startswith("torch / fastnn") for line in lines)
    assert any(line.startswith("machine: ") and "1 threads" in line for line in lines)


def test_grid_list_unknown_names_and_extras(capsys):
    assert cli.main(["compare", "--grid", "--list"]) == cli.EXIT_OK
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(GRID)
    for line, shape in zip(listed, GRID):
        assert line.startswith(shape.name) and shape.describe() in line
    assert cli.main(["compare", "--grid", "no-such-shape"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown grid shape 'no-such-shape'" in err and GRID[0].name in err
    assert cli.main(["compare", "--grid", SMALL[0], "--with", "memory"]) == cli.EXIT_USAGE
    assert "not available with --grid" in capsys.readouterr().err
    shapes, _ = compare_grid.select_shapes(["512x256"])
    assert [s.name for s in shapes] == [s.name for s in GRID if "512x256" in s.name] and len(shapes) == 3


def test_a_diverging_fastnn_fit_fails_the_row(monkeypatch, capsys):
    """A Sequential shape trained at a learning rate that overflows: the row says FAIL, the exit status is 1."""
    monkeypatch.setitem(grid.LEARNING_RATE, "sgd", 1e4)
    monkeypatch.setattr(grid_sides, "peak_gflops", lambda dtype: 100.0)  # not what this test is about
    shape = dataclasses.replace(grid.get_shape("r2-5k-20-32x16-b32-sgd-32-seq"), epochs=3)
    with pytest.raises(grid_sides.FitFailed, match="diverged"):
        grid_sides.fastnn_fit(shape)
    status = cli.main(["compare", "--grid", "r2-5k-20-32x16-b32-sgd-32-seq", "--repeat", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert out.splitlines()[1].endswith("FAIL")
    assert "FAIL r2-5k-20-32x16-b32-sgd-32-seq: error: FitFailed" in out
