"""Crash fuzzing: hostile inputs to every public entry point never crash fastnn (issue 7, point 1).

Hypothesis generates calls to every public entry point -- each function of
:mod:`fastnn.kernels` and :mod:`fastnn.reference`, ``Dense``/``Sequential``
construction, ``fit``/``predict``/``evaluate``/``set_weights``, the
scikit-learn estimators, and :func:`fastnn.load` on damaged and hand-crafted
files -- with random shapes (0-sized and mismatched ones included), every
numeric dtype plus object and string arrays, non-contiguous, transposed,
negative-stride and read-only views, aliased outputs, NaN, inf, huge and
denormal values, and wrong hyper-parameters (negative, NaN, huge, strings,
None, ...).  Most calls start valid and get zero to two *mutations*, so the
kernels do run on odd-but-valid inputs as well as being called badly.

Each call runs in a child process, which classifies it as ``ok`` (returned,
with the right shapes/dtypes and, for kernel functions, the same result as
the reference backend on the same inputs), ``documented-error`` (a
documented exception type whose message names the argument), or ``bad``; a
segfault or abort of the child is a ``crash``.  A test fails on anything but
``ok``/``documented-error``, with a standalone reproducer in the message; the
child is restarted after a crash, so pytest itself never dies.

Parent side (pytest + hypothesis):

- ``test_kernel_functions.py``, ``test_model_api.py``,
  ``test_sklearn_estimators.py``, ``test_load_files.py``: the strategies and
  explicit examples of each family of entry points, and its tests;
  ``test_worker.py``: the harness itself (crash, abort, hang, recovery);
- ``values.py``: building blocks shared by the strategies;
- ``driver.py``: profiles, statistics, ``check`` / ``run_fuzz``;
  ``conftest.py``: the shared worker and the summary table;
- ``reproducer.py``: a case as a standalone Python snippet.

Process protocol and child side (imports only numpy and the standard library
at module level; fastnn only in the child):

- ``cases.py``: the picklable case descriptions (``A``, ``Alias``, ``Obj``,
  ``KernelCase``, ``ModelCase``, ``SklearnCase``, ``LoadCase``, ``SelfTest``);
- ``worker.py``: ``Worker``, the parent's end of the pipe (spawn, timeouts,
  restarts); ``child.py``: the child's main loop;
- ``outcome.py``: ``Result`` and the classification rules;
  ``materialise.py``: arguments made from the descriptions;
  ``compare.py``: kernels vs reference results;
- ``run_kernel.py``, ``run_model.py``, ``run_sklearn.py``, ``run_load.py``:
  how each kind of case is run and judged.

Profiles (selected with ``FASTNN_FUZZ_PROFILE``; registered in ``driver.py``,
not in the root conftest.py, so the rest of the suite keeps hypothesis'
defaults):

- ``quick`` (default, CI): about 1,300 deterministic examples
  (``derandomize=True``): ~15 s on 2 cores with a warm Numba cache, ~60 s cold.
- ``long``: about 47,000 random examples (``derandomize=False``), ~3 minutes::

      FASTNN_FUZZ_PROFILE=long .venv/bin/python -m pytest tests/suites/fuzz -p no:cacheprovider

Other switches: ``FASTNN_FUZZ_STATS=path.json`` writes the per-entry-point
counts; ``FASTNN_FUZZ_SURVEY=1`` records every distinct bad outcome (in the
stats file and the terminal summary) instead of failing at the first one,
to survey a tree; ``FASTNN_FUZZ_STRICT=1`` turns the known bugs of
``driver.KNOWN_BUGS`` into failures too.
"""
