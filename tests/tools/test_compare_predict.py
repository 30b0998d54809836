"""``fastnn compare --predict`` (fastnn/tools/compare/predict.py): what it times, checks and prints.

No timing is asserted: only that every side ran, that the outputs were
checked against the other libraries, and that a disagreement FAILs.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="compare --predict needs scikit-learn")

from fastnn.tools import cli  # noqa: E402
from fastnn.tools.compare import predict  # noqa: E402
from fastnn.tools.grid import get_shape  # noqa: E402

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
SHAPES = ["r1-1k-8-16-b16-sgd-64-est", "c2-2k-8-16-b32-adam-32-seq", "c3-5k-20-32x16-b64-adam-64-est"]


@pytest.mark.parametrize("name", SHAPES)
def test_a_case_times_every_side_and_checks_the_outputs(name):
    net = predict.build_network(get_shape(name))
    row = predict.compare_case(net, 40, 1, repeat=1)
    assert row["status"] == "ok", row["problems"]
    for side in ("fastnn", "sklearn", "floor") + (("onnxruntime",) if HAS_ORT else ()):
        assert row[f"{side}_s"] > 0
    assert row["sklearn_difference"] <= predict.TOLERANCE[row["dtype"]]
    if HAS_ORT:
        assert row["onnxruntime_difference"] <= predict.TOLERANCE[row["dtype"]]
        assert row["onnxruntime_speedup"] > 0
    else:
        assert row["onnxruntime_s"] is None and any("onnxruntime" in n for n in row["notes"])


def test_the_networks_are_the_same_in_both_libraries():
    """The scikit-learn twin holds fastnn's weights: its outputs are fastnn's, through another code path."""
    net = predict.build_network(get_shape("c3-5k-20-32x16-b64-adam-64-est"))
    X = net.inputs(25)
    np.testing.assert_allclose(net.fastnn.predict_proba(X), net.sklearn.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert [w.shape for w, _ in net.weights] == [(20, 32), (32, 16), (16, 3)]


def test_a_disagreement_fails_the_row_and_the_exit_status(monkeypatch, capsys):
    original = predict.build_network

    def wrong_twin(shape, seed=0):
        net = original(shape, seed)
        net.sklearn.intercepts_[-1] = net.sklearn.intercepts_[-1] + 1.0  # scikit-learn now computes another net
        return net

    monkeypatch.setattr(predict, "build_network", wrong_twin)
    assert predict.main([SHAPES[0]], repeat=1, threads=1, rows=[30]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "differ from sklearn's" in out


def test_cli_json_lists_a_row_per_shape_rows_and_threads(capsys):
    status = cli.main(["compare", "--predict", SHAPES[0], "--rows", "1,20", "--repeat", "1", "--threads", "1",
                       "--json"])
    assert status == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["rows"], r["threads"]) for r in doc["rows"]] == [(1, 1), (20, 1)]
    assert all(r["status"] == "ok" for r in doc["rows"])


@pytest.mark.parametrize("args, message", [
    (("--predict", "--rows", "0"), "--rows"),
    (("--predict", "--grid"), "no --grid or --with"),
    (("--rows", "5"), "--rows goes with --predict"),
    (("--predict", "no-such-shape"), "unknown grid shape"),
])
def test_usage_errors(capsys, args, message):
    assert cli.main(["compare", *args]) == 2
    assert message in capsys.readouterr().err
