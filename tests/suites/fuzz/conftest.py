"""Fixtures of the fuzz suite: one worker process for the whole package, and the summary table.

Both are package-scoped, so every fuzz test shares one child process (restarted
only after a crash or a hang) and the table of examples per entry point is
printed once, after the last fuzz test.
"""

from __future__ import annotations

import json

import pytest

from .driver import FINDINGS, MESSAGES, PROFILE, STATS, STATS_PATH, SURVEY, WALL
from .worker import Worker


@pytest.fixture(scope="package")
def worker():
    w = Worker(timeout=120.0)
    yield w
    w.close()


@pytest.fixture(scope="package", autouse=True)
def _summary(request):
    yield
    lines = [f"fastnn fuzz ({PROFILE} profile): examples per entry point"]
    total = 0
    for entry in sorted(STATS):
        c = STATS[entry]
        n = sum(v for k, v in c.items() if not k.startswith("note:") and k != "known bug")
        total += n
        parts = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        lines.append(f"  {entry:42s} {n:6d}  ({parts}; {WALL[entry]:.1f} s)")
    lines.append(f"  {'total':42s} {total:6d}")
    if FINDINGS:
        lines.append("distinct bad outcomes:")
        for key, f in sorted(FINDINGS.items()):
            lines.append(f"  [{f['count']}x] {key}")
    if not (PROFILE == "long" or SURVEY or request.config.get_verbosity() > 0):
        lines = [f"fastnn fuzz ({PROFILE} profile): {total} examples, {len(FINDINGS)} distinct bad outcomes "
                 "(-v or FASTNN_FUZZ_PROFILE=long for the table)"]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    if STATS_PATH:
        with open(STATS_PATH, "w") as f:
            json.dump({"profile": PROFILE, "stats": {k: dict(v) for k, v in STATS.items()},
                       "wall_seconds": dict(WALL), "findings": FINDINGS,
                       "documented_errors": {k: dict(v.most_common()) for k, v in MESSAGES.items()}},
                      f, indent=1, default=str)
