"""fastnn.warmup: after a warm-up into a cache directory, a fresh process's fits compile nothing.

Each case runs the warm-up in one subprocess and the fits in a second one,
both with ``NUMBA_CACHE_DIR`` set to the same new temporary directory; the
second prints :func:`fastnn.warmup.compiled_signatures` (Numba's cache misses
of every fastnn kernel), which must be empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from fastnn.warmup import WarmupSummary, compiled_signatures


def run(code: str, cache_dir, timeout=1500) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with its Numba cache in ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def last_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: float32 Sequential fits of every kind, in the auto mode a user runs (small: the serial builds).
SEQUENTIAL_FITS = """
    import json, warnings
    import numpy as np
    import fastnn
    from fastnn.warmup import compiled_signatures
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 30)).astype("float32")
    Y = rng.standard_normal((100, 2)).astype("float32")
    for d, width in ((3, 12), (30, 40)):  # narrow and wide; other widths than the warm-up's
        m = fastnn.Sequential([fastnn.Dense(width, "tanh"), fastnn.Dense(2)], input_dim=d, dtype="float32")
        m.fit(X[:, :d], Y, epochs=2, batch_size=10, validation_data=(X[:20, :d], Y[:20]), patience=1)
        m.fit(X[:, :d], Y, epochs=1, shuffle=False)
        m.predict(X[:, :d]); m.evaluate(X[:, :d], Y)
    print(json.dumps(compiled_signatures()))
"""


def test_summary_formats_counts_and_jobs():
    s = WarmupSummary(compiled=3, loaded=5, kernels=4, seconds=1.5, cache_dirs=["/c"], jobs=["a", "b"],
                      skipped=["scikit-learn estimators (not installed)"])
    text = s.format()
    assert "3 kernel specialisations compiled, 5 already cached" in text and "in 1.5 s" in text
    assert "cache: /c" in text and "skipped: scikit-learn" in text and "  a" not in text
    assert "  a\n  b" in s.format(verbose=True)


def test_compiled_signatures_lists_names_and_types():
    # whatever this process compiled so far: qualified names of registered kernels, each with its argument types
    # (in a whole-suite run that includes kernels the tests themselves build with fastnn.kernels._jit)
    for entry in compiled_signatures():
        name = entry.split("(")[0]
        assert "(" in entry and entry.endswith(")") and "." in name
        assert not name.startswith("fastnn.") or name.startswith("fastnn.kernels.")


def test_bad_arguments_raise():
    import fastnn

    with pytest.raises(ValueError, match="dtypes"):
        fastnn.warmup(dtypes=("int32",), sklearn=False, kernels=False)
    with pytest.raises(ValueError, match="builds"):
        fastnn.warmup(dtypes=("float32",), builds=("threaded",), sklearn=False, kernels=False)


def test_float32_serial_warmup_covers_the_sequential_fits(tmp_path):
    # the fast case: one dtype, one build, no scikit-learn (a cold compile of both loops, ~1 min)
    warm = run("""
        import json, fastnn
        s = fastnn.warmup(dtypes=("float32",), builds=("serial",), sklearn=False, kernels=False)
        print(json.dumps([s.compiled, s.loaded]))
    """, tmp_path)
    compiled, loaded = last_json(warm)
    assert compiled > 0
    again = run("""
        import json, fastnn
        s = fastnn.warmup(dtypes=("float32",), builds=("serial",), sklearn=False, kernels=False)
        print(json.dumps([s.compiled, s.loaded]))
    """, tmp_path)
    assert last_json(again)[0] == 0 and last_json(again)[1] > 0  # a second warm-up only loads
    assert last_json(run(SEQUENTIAL_FITS, tmp_path)) == []


@pytest.mark.slow
def test_full_warmup_covers_every_kind_of_fit(tmp_path):
    # the whole warm-up from a cold cache (several minutes on two cores), then every kind of fit, both dtypes,
    # the scikit-learn solvers with sample weights, and both builds forced
    run("import fastnn; fastnn.warmup()", tmp_path, timeout=3000)
    proc = run("""
        import json, warnings
        warnings.simplefilter("ignore")
        import numpy as np
        import fastnn
        from fastnn import config
        from fastnn.sklearn import MLPClassifier, MLPRegressor
        from fastnn.warmup import compiled_signatures
        rng = np.random.default_rng(0)
        X = rng.standard_normal((200, 40)); y = rng.standard_normal((200, 1))
        labels = (X[:, 0] > 0).astype(int)
        for mode in ("auto", "serial", "parallel"):
            with config.parallel_mode(mode):
                for dtype in ("float64", "float32"):
                    for d, width in ((8, 4), (40, 64)):
                        m = fastnn.Sequential([fastnn.Dense(width, "tanh"), fastnn.Dense(2, "softmax")],
                                              input_dim=d, dtype=dtype)
                        Y = np.eye(2)[labels]
                        m.fit(X[:, :d], Y, epochs=2, batch_size=32, loss="categorical_crossentropy",
                              validation_data=(X[:50, :d], Y[:50]))
                        m.predict(X[:, :d]); m.evaluate(X[:, :d], Y)
                    Xd = X.astype(dtype)
                    for solver in ("adam", "sgd", "lbfgs"):
                        MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=2, solver=solver).fit(
                            Xd, labels, sample_weight=np.ones(200)).predict_proba(Xd)
                        MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, solver=solver).fit(
                            Xd[:, :3], y.ravel().astype(dtype)).predict(Xd[:, :3])
        print(json.dumps(compiled_signatures()))
    """, tmp_path)
    assert last_json(proc) == []
