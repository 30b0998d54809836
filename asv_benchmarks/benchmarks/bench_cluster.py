"""Training on a Dask cluster: lbfgs on a LocalCluster of 2 workers x 1 thread against one process x 1 thread.

The same data (a seeded dask random array kept on the workers; the one-process side gets a copy)
and the same fit (``MLPClassifier``, lbfgs, a fixed number of iterations) on both sides, from
:class:`fastnn.tools.cluster_speed.LbfgsRace`, the code behind ``python -m fastnn.tools.cluster_speed``.
``setup`` starts the cluster and loads every kernel on both sides; nothing timed compiles.  Skipped
(``NotImplementedError``) where dask/distributed or scikit-learn is not installed.

On a 2-core machine the speed-up is bounded by 2 and by the machine's other load.  The data set is
the README's (1,000,000 x 20); fewer rows measure Dask's round trip more than the training (on
200,000 rows one evaluation is ~22 ms of compute per worker against ~12 ms of round trip here).
"""

from __future__ import annotations

ROWS, FEATURES, HIDDEN, ITERATIONS, CHUNK = 1_000_000, 20, 32, 5, 125_000


class ClusterLbfgs:
    """Seconds of one lbfgs fit on each side, and their ratio measured in one run (alternated, median of 3)."""

    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)
    warmup_time = 0.0

    def setup(self):
        import importlib.util

        missing = [name for name in ("distributed", "sklearn") if importlib.util.find_spec(name) is None]
        if missing:
            raise NotImplementedError(f"needs dask[distributed] and scikit-learn; missing: {missing}")
        from fastnn.tools.cluster_speed import LbfgsRace, local_cluster

        self._cluster = local_cluster(2)
        client = self._cluster.__enter__()
        self.race = LbfgsRace(client, ROWS, FEATURES, HIDDEN, ITERATIONS, CHUNK)
        self.race.setup()

    def teardown(self):
        self._cluster.__exit__(None, None, None)

    def time_one_process(self):
        self.race.local()

    def time_cluster(self):
        self.race.cluster()

    def track_cluster_speedup(self):
        local, cluster, _ = self.race.times(3)
        return local / cluster

    track_cluster_speedup.unit = "ratio"
