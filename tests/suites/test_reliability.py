"""Reliability: concurrency, worker processes, determinism, memory and read-only installs.

(Ctrl-C, divergence and hostile files are covered in tests/test_model.py and tests/test_io.py.)
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential

from _workers import parallel_kernel_sum, train_and_hash

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, which holds _workers.py
REPO = os.path.dirname(TESTS)


def test_threading_layer_is_thread_and_fork_safe():
    """fastnn asks Numba for TBB (thread- and fork-safe); without it, for a thread-safe layer."""
    parallel_kernel_sum()  # make sure the layer is initialised
    assert numba.threading_layer() in ("tbb", "omp")
    if fastnn.config.THREADING_LAYER == "tbb":
        assert numba.threading_layer() == "tbb"


def test_predict_from_many_threads_matches_serial_calls():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 256))
    model = Sequential([Dense(512, "relu"), Dense(10, "softmax")], input_dim=256, seed=0, init="he")
    expected = model.predict(X)
    chunks = [X[i::8] for i in range(8)]
    expected_chunks = [model.predict(c) for c in chunks]

    def run(i):
        with fastnn.config.parallel_mode("parallel" if i % 2 else "serial"):
            return model.predict(chunks[i % 8]) if i % 3 else model.predict(X)

    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(24)))
    for i, got in enumerate(results):
        want = expected_chunks[i % 8] if i % 3 else expected
        np.testing.assert_array_equal(got, want)


def test_fits_in_threads_do_not_interfere():
    """Independent models trained concurrently (kernels release the GIL) equal the same fits run alone."""
    alone = [train_and_hash(seed) for seed in range(4)]
    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(train_and_hash, range(4)))
    assert together == alone


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_worker_processes(method):
    """Parallel kernels and whole fits work in fork/spawn/forkserver workers and give the parent's bits."""
    parallel_kernel_sum()  # the parent has started its threads before forking
    expected = train_and_hash(0)
    ctx = mp.get_context(method)
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        assert list(pool.map(parallel_kernel_sum, range(2))) == [parallel_kernel_sum()] * 2
        assert list(pool.map(train_and_hash, [0, 0])) == [expected, expected]


def test_joblib_workers():
    joblib = pytest.importorskip("joblib")
    expected = train_and_hash(0)
    got = joblib.Parallel(n_jobs=2)(joblib.delayed(train_and_hash)(0) for _ in range(2))
    assert got == [expected, expected]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_bit_identical_across_fresh_processes(backend):
    """The same seed, data and settings give bit-identical weights in separate processes."""
    code = f"import sys; sys.path.insert(0, {TESTS!r}); " \
           f"from _workers import train_and_hash; print(train_and_hash(0, {backend!r}))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=REPO).stdout.strip() for _ in range(2)}
    assert outs == {train_and_hash(0, backend)}


def test_memory_error_before_training_leaves_model_unchanged():
    model = Sequential([Dense(1 << 20, "relu"), Dense(1)], input_dim=2, seed=0)
    before = [w.copy() for w in model.get_weights()]
    X = np.zeros((1 << 16, 2))
    with pytest.raises(MemoryError, match="model is unchanged"):
        model.fit(X, np.zeros(1 << 16), epochs=1, batch_size=1 << 16)  # ~512 GiB of batch buffers
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.optimizer is None and model.epochs_trained == 0


def _run_isolated(tmp_path, setup: str, env_extra: dict) -> subprocess.CompletedProcess:
    """Run a fresh interpreter on a *copy* of fastnn (so its cache starts empty) after ``setup``."""
    site = tmp_path / "site"
    shutil.copytree(os.path.join(REPO, "fastnn"), site / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        {setup}
        import numpy as np, fastnn
        assert fastnn.__file__.startswith({str(site)!r})
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
        m = fastnn.Sequential([fastnn.Dense(4, "tanh"), fastnn.Dense(1, "sigmoid")], input_dim=2, seed=0)
        h = m.fit(X, np.array([0, 1, 1, 0.]), epochs=50, optimizer=fastnn.SGD(0.5))
        print("ok", len(h.loss))
    """)
    env = {**os.environ, **env_extra}
    env.pop("NUMBA_CACHE_DIR", None) if "NUMBA_CACHE_DIR" not in env_extra else None
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)


def test_unwritable_package_caches_in_the_user_cache_dir(tmp_path):
    """Package directory not writable: Numba's cache goes to NUMBA_CACHE_DIR, with nothing on screen."""
    cache = tmp_path / "cache"
    setup = ("from numba.core import caching; "  # only the user-provided location: the in-tree one is unusable
             "caching.CacheImpl._locator_classes = [caching.UserProvidedCacheLocator]")
    result = _run_isolated(tmp_path, setup, {"NUMBA_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 50" and "Traceback" not in result.stderr and result.stderr.strip() == ""
    assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)
    assert not any(os.walk(tmp_path / "site" / "fastnn" / "kernels" / "__pycache__"))


def test_no_writable_cache_anywhere_still_runs(tmp_path):
    """No cache location at all: kernels compile in memory, one warning line, no traceback."""
    setup = "from numba.core import caching; caching.CacheImpl._locator_classes = []"
    result = _run_isolated(tmp_path, setup, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 50" and "Traceback" not in result.stderr
    assert result.stderr.count("no writable directory for Numba's kernel cache") == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_really_read_only_install(tmp_path):
    """A non-root user with a read-only copy of fastnn and a read-only HOME."""
    home = tmp_path / "home"
    home.mkdir()
    result_dir = tmp_path / "site"
    shutil.copytree(os.path.join(REPO, "fastnn"), result_dir / "fastnn", ignore=shutil.ignore_patterns("__pycache__"))
    for root, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(home, 0o555)
    code = (f"import sys; sys.path.insert(0, {str(result_dir)!r}); import numpy as np, fastnn; "
            "m = fastnn.Sequential([fastnn.Dense(1)], input_dim=1, seed=0); "
            "m.fit(np.ones((3, 1)), np.ones(3), epochs=2); print('ok')")
    env = {**os.environ, "HOME": str(home)}
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "ok" and "Traceback" not in result.stderr
