"""The parent's driver: profiles, per-entry-point statistics, :func:`check` and :func:`run_fuzz`.

Profiles (selected with ``FASTNN_FUZZ_PROFILE``; registered here, not in
conftest.py, so the rest of the suite keeps hypothesis' defaults): ``quick``
(default) and ``long``; see the package docstring (``__init__.py``) for the
other switches.  The fixtures that use this module (one worker process, the
summary table) are in ``conftest.py``.
"""

from __future__ import annotations

import collections
import os
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings

from .outcome import Result
from .reproducer import reproducer
from .worker import Worker


PROFILE = os.environ.get("FASTNN_FUZZ_PROFILE", "quick")
if PROFILE not in ("quick", "long"):
    raise ValueError(f"FASTNN_FUZZ_PROFILE must be quick or long, got {PROFILE!r}")
SURVEY = os.environ.get("FASTNN_FUZZ_SURVEY", "") not in ("", "0")
STRICT = os.environ.get("FASTNN_FUZZ_STRICT", "") not in ("", "0")
STATS_PATH = os.environ.get("FASTNN_FUZZ_STATS")

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]
settings.register_profile("fastnn-fuzz-quick", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
settings.register_profile("fastnn-fuzz-long", deadline=None, derandomize=False, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)


def fuzz_settings(quick: int, long: int) -> settings:
    """The active profile with this test's number of examples."""
    return settings(settings.get_profile(f"fastnn-fuzz-{PROFILE}"), max_examples=quick if PROFILE == "quick" else long)


#: Bugs found by this suite, reported, and not fixed yet: ``(entry-point regex, signature regex) -> what``.
#: A test that hits only these runs all its examples and is then marked xfail with the reasons;
#: any other bad outcome fails at once (``FASTNN_FUZZ_STRICT=1`` fails on these too).  Delete an
#: entry when its bug is fixed: a fixed bug stops matching, so a stale entry hides nothing else.
KNOWN_BUGS: dict[tuple[str, str], str] = {
    # empty: every bug this suite found is fixed; a regression fails.  Add (entry regex, signature
    # regex) -> reason here only for a reported, not yet fixed bug.
}

STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FINDINGS: dict[str, dict] = {}
KNOWN_HITS: dict[str, set] = collections.defaultdict(set)
WALL: dict[str, float] = collections.defaultdict(float)
MESSAGES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)  # documented errors seen


def _known(entry: str, result: Result) -> str | None:
    if STRICT:
        return None
    for (entry_re, sig_re), reason in KNOWN_BUGS.items():
        if re.match(entry_re, entry) and re.match(sig_re, result.signature):
            return reason
    return None


def _record(entry: str, result: Result, case) -> None:
    key = f"{entry} | {result.signature or result.kind}"
    if key not in FINDINGS:
        FINDINGS[key] = {"entry": entry, "kind": result.kind, "signature": result.signature,
                         "detail": result.detail[:3000], "reproducer": reproducer(case), "count": 0}
    FINDINGS[key]["count"] += 1


def check(worker: Worker, entry: str, case) -> None:
    """Run ``case`` in the child; fail on a crash, a hang or a ``bad`` outcome."""
    started = time.perf_counter()
    result = worker.run(case)
    WALL[entry] += time.perf_counter() - started
    STATS[entry][result.kind] += 1
    for note in result.notes:
        STATS[entry][f"note: {note}"] += 1
    if result.kind == "documented-error":
        MESSAGES[entry][result.detail[:90]] += 1
    if not result.failed:
        return
    reason = _known(entry, result)
    _record(entry, result, case)
    if reason is not None:
        KNOWN_HITS[entry].add(reason)
        STATS[entry]["known bug"] += 1
        return
    if SURVEY:
        return
    raise AssertionError(
        f"{entry}: {result.kind} [{result.signature}]\n{result.detail}\n"
        f"--- reproducer ---\n{reproducer(case)}"
    )


def run_fuzz(worker, entry: str, strategy, quick: int, long: int, examples=()) -> None:
    """Run ``strategy``'s cases (after the explicit ``examples``) through :func:`check`."""
    def fuzz(case):
        check(worker, entry, case)

    for case in reversed(list(examples)):
        fuzz = example(case=case)(fuzz)
    fuzz = fuzz_settings(quick, long)(given(case=strategy)(fuzz))
    fuzz()
    if KNOWN_HITS.get(entry):
        pytest.xfail("known bug(s) reported, not fixed yet: " + " | ".join(sorted(KNOWN_HITS[entry])))
