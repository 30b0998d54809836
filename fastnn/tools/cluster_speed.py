"""Speed of fitting on a Dask cluster against one process, and the numbers of the scaling model.

Run ``python -m fastnn.tools.cluster_speed [--rows N] [--workers W] [--repeat R]``.  It starts a
``LocalCluster`` of W worker processes of one thread each on 127.0.0.1, generates the data on the
workers (a seeded dask random array, so it never passes through the client), and times, alternately
and ``--repeat`` times (the median is reported):

- **one process**: ``fastnn.MLPClassifier(solver="lbfgs", n_threads=1)`` on the same data in memory;
- **cluster**: the same estimator on the dask array (``fastnn.cluster``);

both for a fixed number of L-BFGS iterations (``tol=0``), so the work is the same.  It also reports
the time of one iteration in each, and from them the scaling model of the README: a cluster
iteration costs ``compute / W + communication``, where ``compute`` is the one-process iteration and
``communication`` the rest (the parameters out to every shard, the sums back, the scheduler).
First it times an ``MLPClassifier`` (adam) fit in each fresh worker: the first fit of a new worker,
which loads its kernels from Numba's disk cache after ``fastnn warmup``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
import warnings


def _arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn.tools.cluster_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=125_000, help="rows per dask block")
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args(argv)


class LbfgsRace:
    """The same lbfgs fit in one process (1 thread) and on a client's cluster, on the same data.

    The data is a seeded dask random array generated and kept on the workers; the one-process side
    gets a computed copy.  ``setup`` loads every kernel on both sides (not timed); ``local()`` and
    ``cluster()`` run one fit each and return its seconds and iterations.  Shared by ``main`` and
    the asv benchmark ``bench_cluster.py``.
    """

    def __init__(self, client, rows: int, features: int, hidden: int, iterations: int, chunk: int):
        import dask.array as da
        import distributed

        self.client = client
        self.settings = dict(hidden_layer_sizes=(hidden,), solver="lbfgs", max_iter=iterations, tol=0.0,
                             random_state=0)
        X = da.random.RandomState(0).standard_normal((rows, features), chunks=(chunk, features))
        y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype("int64")
        self.X, self.y = X.persist(), y.persist()
        distributed.wait([self.X, self.y])
        self.X_local, self.y_local = self.X.compute(), self.y.compute()

    def setup(self) -> None:
        import fastnn

        quick = {**self.settings, "max_iter": 2}
        with _quiet():
            fastnn.MLPClassifier(**quick, n_threads=1).fit(self.X_local[:5000], self.y_local[:5000])
            fastnn.MLPClassifier(**quick).fit(self.X[:20000], self.y[:20000])

    def local(self) -> tuple:
        import fastnn

        with _quiet():
            started = time.perf_counter()
            est = fastnn.MLPClassifier(**self.settings, n_threads=1).fit(self.X_local, self.y_local)
            return time.perf_counter() - started, est.n_iter_

    def cluster(self) -> tuple:
        import fastnn

        with _quiet():
            started = time.perf_counter()
            est = fastnn.MLPClassifier(**self.settings).fit(self.X, self.y)
            return time.perf_counter() - started, est.n_iter_

    def times(self, repeat: int) -> tuple:
        """``(local seconds, cluster seconds, iterations)``, each side's median of ``repeat`` alternated fits."""
        local, remote, iterations = [], [], set()
        for _ in range(repeat):
            seconds, n_iter = self.local()
            local.append(seconds)
            iterations.add(n_iter)
            seconds, n_iter = self.cluster()
            remote.append(seconds)
            iterations.add(n_iter)
        return statistics.median(local), statistics.median(remote), max(iterations)


@contextlib.contextmanager
def local_cluster(workers: int):
    """A ``LocalCluster`` of ``workers`` processes x 1 thread on 127.0.0.1, yielding its client."""
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _quiet():
    """Without scikit-learn's "did not converge" warning (the fits run a fixed number of iterations)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def main(argv=None) -> int:
    args = _arguments(argv)
    with local_cluster(args.workers) as client:
        # the first fits in the fresh workers (kernels loaded from the disk cache: run `fastnn warmup` first)
        first = max(client.run(_first_fit_seconds, "adam").values())
        race = LbfgsRace(client, args.rows, args.features, args.hidden, args.iterations, args.chunk)
        race.setup()
        t_local, t_cluster, n_iter = race.times(args.repeat)
    per_local, per_cluster = t_local / n_iter, t_cluster / n_iter
    communication = per_cluster - per_local / args.workers
    print(f"{args.rows} rows x {args.features} features, hidden ({args.hidden},), lbfgs [{n_iter}] "
          f"iterations, {args.workers} workers x 1 thread, median of {args.repeat}")
    print(f"  one process x 1 thread : {t_local:8.3f} s   ({per_local * 1e3:7.2f} ms per iteration)")
    print(f"  cluster                : {t_cluster:8.3f} s   ({per_cluster * 1e3:7.2f} ms per iteration)")
    print(f"  speed-up               : {t_local / t_cluster:8.2f}x")
    print(f"  first fit, fresh worker: {first:.2f} s (MLPClassifier adam, 1000 x 20, hidden 50, 20 iterations; "
          "slowest worker)")
    print(f"  scaling model          : iteration = {per_local * 1e3:.2f} ms / N + c, c = {communication * 1e3:.2f} ms"
          + (" (below zero: the workers' blocks run faster per row than the one process's single batch)"
             if communication < 0 else " (the round trip and the scheduler)"))
    return 0


def _first_fit_seconds(solver: str) -> float:
    """Wall time of an ``MLPClassifier`` fit in this process (run on a fresh worker: its first fit)."""
    import numpy as np

    from fastnn import MLPClassifier  # (imports scikit-learn: not part of the fit's time)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 20))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        MLPClassifier((50,), solver=solver, max_iter=20, random_state=0).fit(X, y)
        return time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
