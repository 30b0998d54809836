"""fastnn's tools: the command line and what it runs, on top of the library.

- :mod:`fastnn.tools.cli`: the ``fastnn`` command (also ``python -m fastnn``).
- :mod:`fastnn.tools.compare`: ``fastnn compare``, the same training job on
  the NumPy reference backend, on fastnn's compiled backend and, optionally,
  on scikit-learn and PyTorch, timed side by side.
- :mod:`fastnn.tools.workloads`: the named, seeded training workloads that
  ``fastnn compare``, the asv suite and the tests share.
- :mod:`fastnn.tools.grid`: the realistic workload grid (26 training jobs)
  that ``fastnn compare --grid``, the asv suite and the tests share.
- :mod:`fastnn.tools.demos`: the four seed tutorials (``fastnn demo``).
- :mod:`fastnn.tools.plot`: their figures (loss curves, predictions, weight
  histograms, decision boundaries); matplotlib is optional.

This layer sits on top of the library and uses only its public API
(:class:`fastnn.Sequential`, :class:`fastnn.Dense`, the optimizers,
:mod:`fastnn.config`, :mod:`fastnn.reference`, ...); the one private read is
``compare``'s PyTorch side copying a model's shuffling generator, to train on
fastnn's exact batch order, and the one private import is
``compare --grid``'s compiled floor, built with :func:`fastnn.kernels._jit.opaque_kernel`
so that it has fastnn's own JIT options.  Nothing in ``fastnn/`` outside ``fastnn/tools/``
imports this layer, so the library never depends on a tool; the one exception
is ``fastnn/__main__.py``, the command's entry point.
"""
