"""Tests of fastnn/kernels/ (each compared with its twin in fastnn/reference/), one file per kernel module.

Every comparison test here runs under the "auto" build selection and with the
serial and the parallel build forced (the ``mode`` fixture, ``conftest.py``),
in float32 and float64 (the ``dtype`` fixture), on the shapes of
``fnn_helpers`` (1x1, odd sizes, 1-D arrays, and one shape above
``fastnn.config.PARALLEL_MIN_WORK``).  Tolerances: ``fnn_helpers.assert_close``
(rounding-error bounds, by dtype).
"""
