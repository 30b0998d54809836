"""fastnn/tools/export_speed.py: the table of prediction times of fastnn and its exports."""

from __future__ import annotations

import importlib.util

import pytest

from fastnn.tools import export_speed


def test_table_lists_every_installed_side_with_small_differences(capsys):
    assert export_speed.main(["--rows", "20", "--layers", "6,5,3", "--repeat", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["dtype", "side", "export", "ms", "predict", "ms", "max", "abs", "diff"]
    sides = ["fastnn"] + [name for name in ("onnxruntime", "torch") if importlib.util.find_spec(name)]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [(d, s) for d in ("float32", "float64") for s in sides]
    for r in rows:
        assert float(r[-1 if r[1] == "fastnn" else -2]) > 0  # a positive time
        if r[1] != "fastnn":  # the exports compute the same probabilities
            assert float(r[-1]) <= (1e-6 if r[0] == "float32" else 1e-12)


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit):
        export_speed.main(["--rows", "many"])
