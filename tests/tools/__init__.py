"""Tests of fastnn's tools layer (:mod:`fastnn.tools`): the command line, compare, workloads, demos, plots.

A package so that its test modules are imported as ``tools.test_*`` and
cannot clash with a same-named test file elsewhere under ``tests/``.
"""
