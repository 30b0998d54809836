"""The measurement tools of the cluster work: fastnn/tools/cluster_speed.py and cluster_accuracy.py (tiny runs)."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")
pytest.importorskip("sklearn")

from fastnn.tools import cluster_accuracy, cluster_speed  # noqa: E402


def test_cluster_speed_reports_both_sides_and_the_scaling_model(capsys):
    assert cluster_speed.main(["--rows", "6000", "--features", "5", "--hidden", "4", "--iterations", "3",
                               "--chunk", "1500", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for text in ("one process x 1 thread", "cluster", "speed-up", "scaling model", "lbfgs [3] iterations",
                 "first fit, fresh worker"):
        assert text in out


def test_cluster_accuracy_prints_one_row_per_shape(capsys):
    name = "c3-5k-20-32x16-b64-adam-64-est"
    assert cluster_accuracy.main([name, "--epochs", "2", "--sync", "1,2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(name)]
    assert len(lines) == 1
    accuracies = [float(v) for v in lines[0].split()[2:5]]
    assert all(0.0 <= a <= 1.0 for a in accuracies)
