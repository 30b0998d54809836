"""``fastnn compare`` (fastnn.tools.compare and its CLI): keys, agreement check, exit status, optional sides.

No timing is asserted anywhere: only that times are measured and positive.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from fastnn.tools import cli, compare, tutorial
from fastnn.tools.workloads import get_workload

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {"name", "reference_s", "fastnn_s", "speedup", "max_weight_diff", "reference_loss", "fastnn_loss",
                 "status", "tolerance", "dtype"}


def run_main(*names, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = compare.main(list(names), out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_json_has_the_required_keys_for_small_workloads():
    status, out, err = run_main("linear", "xor", repeat=1, as_json=True)
    assert status == 0, out + err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["linear", "xor"]
    for row in rows:
        assert REQUIRED_KEYS <= set(row)
        assert row["status"] == "ok" and row["problems"] == []
        assert row["reference_s"] > 0 and row["fastnn_s"] > 0 and row["speedup"] > 0
        assert len(row["reference_times"]) == len(row["fastnn_times"]) == 1
        assert row["max_weight_diff"] <= row["tolerance"]
        assert row["fastnn_loss"] == pytest.approx(row["reference_loss"], rel=1e-6)
        # the tutorial-style loop: timed in the same round, its weights held to the backends' tolerance
        assert row["tutorial_s"] > 0 and len(row["tutorial_times"]) == 1
        assert row["tutorial_max_weight_diff"] <= row["tolerance"]
    assert "fastnn_accuracy" in rows[1] and "gemm_floor_s" not in rows[1]


def test_table_output_and_footer():
    status, out, _ = run_main("linear", repeat=2)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["workload", "dtype", "reference", "fastnn", "speed-up"]
    assert "tutorial  vs tutorial  ref/tut" in lines[0]
    assert lines[1].startswith("linear") and lines[1].rstrip().endswith("ok")
    assert any(line.startswith("times: median of 2 alternating rounds") for line in lines)
    assert any(line.startswith("tutorial loop max |w_tutorial - w_reference|: linear ") for line in lines)
    assert any(line.startswith("tutorial: the seed's training loop") and "ref/tut: reference time / tutorial time"
               in line for line in lines)
    assert any(line.startswith("machine: ") for line in lines)


def test_tutorial_loop_ratios_come_from_the_side_times():
    """Three rounds: each ratio is the median of the per-round ratios of the times the row reports."""
    row = compare.compare_workload(get_workload("house"), repeat=3)
    assert row["status"] == "ok", row["problems"]
    ref, fast, tut = row["reference_times"], row["fastnn_times"], row["tutorial_times"]
    assert len(ref) == len(fast) == len(tut) == 3 and min(tut) > 0
    assert row["tutorial_s"] == pytest.approx(np.median(tut))
    assert row["tutorial_speedup"] == pytest.approx(np.median([t / f for t, f in zip(tut, fast)]))
    assert row["reference_over_tutorial"] == pytest.approx(np.median([r / t for r, t in zip(ref, tut)]))
    assert row["speedup"] == pytest.approx(np.median([r / f for r, f in zip(ref, fast)]))


def test_tutorial_loop_weights_against_the_reference():
    """The loop's final weights are compared with the reference backend's: its own run of the loop here (outside
    the command) gives the reported difference, and both runs agree with the reference within the tolerance."""
    w = get_workload("xor")
    row = compare.compare_workload(w, repeat=1)
    model = w.build_model("numpy")
    weights, _ = tutorial.run_tutorial(w, model.get_weights())
    w.fit(model)
    assert row["tutorial_max_weight_diff"] == compare.max_abs_diff(weights, model.get_weights())
    assert row["tutorial_max_weight_diff"] <= row["tolerance"]


def test_a_tutorial_loop_that_disagrees_fails(monkeypatch):
    real = tutorial.tutorial_call

    def perturbed(workload, weights, epochs=None):
        call = real(workload, weights, epochs)

        def run():
            ws, losses = call()
            return [ws[0] + 1e-3] + ws[1:], losses
        return run

    monkeypatch.setattr(compare.sides.tutorial, "tutorial_call", perturbed)
    status, out, _ = run_main("linear", repeat=1)
    assert status == 1 and out.splitlines()[1].endswith("FAIL")
    assert "FAIL linear: tutorial loop disagrees with the reference" in out


def test_planted_disagreement_fails(monkeypatch):
    real = compare.train_backend

    def perturbed(workload, backend, weights, threads=None):
        seconds, model = real(workload, backend, weights, threads)
        if backend == "numba":
            ws = model.get_weights()
            ws[0] = ws[0] + 1e-3
            model.set_weights(ws)
        return seconds, model

    monkeypatch.setattr(compare.fits, "train_backend", perturbed)
    status, out, _ = run_main("xor", repeat=1)
    assert status == 1
    assert "FAIL" in out.splitlines()[1]
    assert "FAIL xor: backends disagree" in out
    status, out, _ = run_main("xor", repeat=1, as_json=True)
    assert status == 1 and json.loads(out)[0]["status"] == "FAIL"


def test_nondeterministic_backend_fails(monkeypatch):
    real = compare.train_backend
    calls = []

    def drifting(workload, backend, weights, threads=None):
        seconds, model = real(workload, backend, weights, threads)
        if backend == "numpy":
            calls.append(1)
            ws = model.get_weights()
            ws[1] = ws[1] + 1e-12 * len(calls)  # within tolerance, but differs between rounds
            model.set_weights(ws)
        return seconds, model

    monkeypatch.setattr(compare.fits, "train_backend", drifting)
    status, out, _ = run_main("linear", repeat=2)
    assert status == 1 and "numpy backend not deterministic" in out


def test_a_crashing_backend_is_a_fail_row_and_the_others_still_run(monkeypatch):
    real = compare.train_backend

    def crashing(workload, backend, weights, threads=None):
        if workload.name == "linear" and backend == "numba":
            raise AssertionError("planted kernel error")
        return real(workload, backend, weights, threads)

    monkeypatch.setattr(compare.fits, "train_backend", crashing)
    status, out, _ = run_main("linear", "xor", repeat=1)
    assert status == 1
    lines = out.splitlines()
    assert lines[1].startswith("linear") and lines[1].endswith("FAIL")
    assert lines[2].startswith("xor") and lines[2].endswith("ok")
    assert "FAIL linear: error: AssertionError: planted kernel error" in out


def test_missing_extras_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(compare.sides, "_optional_module", lambda name: None)
    status, out, err = run_main("linear", repeat=1, extras=["sklearn", "torch"])
    assert status == 0
    assert "note: skipped sklearn: not installed" in out and "note: skipped torch: not installed" in out
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    assert "sklearn" not in header and "torch" not in header
    status, out, err = run_main("linear", repeat=1, extras=["sklearn"], as_json=True)
    assert status == 0 and "note: skipped sklearn" in err
    assert "sklearn_s" not in json.loads(out)[0]


def test_bad_names_and_extras_are_usage_errors(capsys):
    with pytest.raises(compare.CompareError, match="unknown workload"):
        compare.plan(["nope"])
    with pytest.raises(compare.CompareError, match="unknown --with entry 'jax'"):
        compare.plan(["xor"], ["jax"])
    assert cli.main(["compare", "nope"]) == cli.EXIT_USAGE
    assert "unknown workload 'nope'" in capsys.readouterr().err
    assert cli.main(["compare", "xor", "--repeat", "0"]) == cli.EXIT_USAGE
    assert cli.main(["compare", "xor", "--with", "jax"]) == cli.EXIT_USAGE


def test_default_runs_every_available_workload_and_notes_the_others(monkeypatch):
    monkeypatch.setattr(type(get_workload("digits")), "unavailable_reason",
                        lambda self: "needs sklearn" if self.name == "digits" else None)
    p = compare.plan(None)
    assert "digits" not in [w.name for w in p.workloads] and "mnist_like" in [w.name for w in p.workloads]
    assert p.notes == ["skipped workload digits: needs sklearn"]
    with pytest.raises(compare.CompareError, match="'digits' is not available"):
        compare.plan(["digits"])


def test_gemm_floor_column_for_tabular():
    row = compare.compare_workload(get_workload("tabular"), repeat=1)
    assert row["status"] == "ok", row["problems"]
    assert row["gemm_floor_s"] > 0 and row["fastnn_over_gemm"] > 0
    assert not [key for key in row if key.startswith("tutorial")]  # the tutorial loop: seed workloads only
    assert row["max_weight_diff"] <= row["tolerance"]


def test_format_time():
    assert compare.format_time(None) == "-"
    assert compare.format_time(5e-4) == "500 us"
    assert compare.format_time(0.0123) == "12.3 ms"
    assert compare.format_time(1.5) == "1.500 s"


@pytest.mark.skipif(compare._optional_module("sklearn") is None, reason="scikit-learn not installed")
def test_with_sklearn_adds_its_columns():
    status, out, _ = run_main("linear", repeat=1, extras=["sklearn"], as_json=True)
    assert status == 0
    row = json.loads(out)[0]
    assert row["sklearn_s"] > 0 and row["sklearn_speedup"] > 0 and np.isfinite(row["sklearn_loss"])
    estimator, notes = compare.sklearn_estimator(get_workload("house"))
    assert estimator.max_iter == 1000 and estimator.tol == 0 and estimator.n_iter_no_change > 1000
    assert estimator.alpha == 0 and estimator.momentum == 0 and estimator.solver == "sgd"
    assert any("constant lr" in n for n in notes)


@pytest.mark.skipif(compare._optional_module("torch") is None, reason="PyTorch not installed")
def test_torch_side_starts_from_the_same_weights_and_matches_fastnn():
    """Full-batch float64 xor: the PyTorch loop ends at fastnn's weights to rounding (same steps)."""
    status, out, _ = run_main("xor", repeat=1, extras=["torch"], as_json=True)
    assert status == 0
    row = json.loads(out)[0]
    assert row["torch_s"] > 0 and row["torch_max_weight_diff"] < 1e-10
    assert row["torch_loss"] == pytest.approx(row["fastnn_loss"], rel=1e-9)


def test_cli_subprocess_json():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "fastnn", "compare", "--json", "xor", "--repeat", "1"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and REQUIRED_KEYS <= set(rows[0]) and rows[0]["status"] == "ok"


def test_cli_list(capsys):
    assert cli.main(["compare", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("linear") and "mnist_like" in out


def test_float64_and_threads_sides():
    """--with float64,threads: a float32 workload gets its float64 and one-thread fits timed; float64 ones not."""
    row = compare.compare_workload(get_workload("tabular"), repeat=1, extras=("float64", "threads"))
    assert row["status"] == "ok", row["problems"]
    assert row["float64_s"] > 0 and row["float32_speedup"] > 0
    assert row["threads_s"] > 0 and row["thread_speedup"] > 0
    row = compare.compare_workload(get_workload("linear"), repeat=1, extras=("float64",))
    assert "float64_s" not in row and "float32_speedup" not in row
    cols = [header for header, _, _ in compare.columns(("float64", "threads", "memory"))]
    assert {"f32 gain", "threads gain", "mem +epochs", "mem vs ref"} <= set(cols)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory from /proc/self (Linux)")
def test_memory_of_a_long_fit_is_that_of_a_short_one():
    """The compiled loop allocates nothing per batch or epoch: a 10-epoch tabular fit adds (within 5 MiB, the
    issue's bound) no more peak memory than a 1-epoch fit, nor (within the same bound) than the numpy fit."""
    result = compare.memory_rows(get_workload("tabular"))
    assert set(result) == {"fit_peak_1_epoch_mb", "fit_peak_mb", "reference_fit_peak_mb", "memory_growth_mb",
                           "memory_vs_reference_mb"}
    assert all(np.isfinite(v) for v in result.values())
    assert result["memory_growth_mb"] < 5.0
    assert result["memory_vs_reference_mb"] < 5.0
