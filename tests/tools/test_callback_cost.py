"""``python -m fastnn.tools.callback_cost`` runs and reports every case (no timing is checked)."""

from __future__ import annotations

from fastnn.tools import callback_cost


def test_it_runs_every_case(capsys):
    callback_cost.main(["--rounds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("none" in line and "every=1" in line and "every=100" in line for line in lines)
