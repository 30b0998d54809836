"""Worker readiness (issue 14): fastnn in a real Dask worker runs one Numba thread per worker thread.

Dask's nanny starts each worker with ``OMP_NUM_THREADS=1`` (and MKL/OpenBLAS);
fastnn's thread budget (fastnn.config.thread_budget) makes that every
thread's Numba count, including the executor thread that runs a task.
"""

from __future__ import annotations


def _threads_in_task():
    import threading

    import numba

    import fastnn

    return {
        "fastnn": fastnn.get_num_threads(),
        "numba": numba.get_num_threads(),
        "budget": fastnn.config.THREAD_BUDGET,
        "main_thread": threading.current_thread() is threading.main_thread(),
    }


def _small_fit_in_task():
    import numpy as np

    import fastnn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    y = X @ rng.standard_normal((5, 1))
    model = fastnn.Sequential([fastnn.Dense(8, "relu"), fastnn.Dense(1)], input_dim=5, seed=0)
    history = model.fit(X, y, epochs=3, batch_size=16)
    return len(history.history["loss"]), fastnn.get_num_threads()


def test_a_task_runs_one_numba_thread(dask_client):
    seen = dask_client.gather([dask_client.submit(_threads_in_task, pure=False, workers=[w])
                               for w in dask_client.scheduler_info()["workers"]])
    for s in seen:
        assert not s["main_thread"]  # the task runs in an executor thread: the thread-local count had to follow
        assert s["fastnn"] == s["numba"] == 1, s
        assert s["budget"] is not None and s["budget"][0] == 1


def test_a_fit_in_a_task_keeps_one_thread(dask_client):
    epochs, threads = dask_client.submit(_small_fit_in_task, pure=False).result()
    assert epochs == 3 and threads == 1
