"""Training and prediction on a Dask cluster, the data staying on the workers.

``fastnn.MLPClassifier`` / ``MLPRegressor`` ``.fit`` and ``Sequential.fit``
accept dask arrays (and, for the estimators, dask dataframes) and train one
model on the cluster of the current ``distributed.Client``; ``predict`` and
friends on dask input return dask results computed blockwise on the workers.

- :mod:`fastnn.cluster.driver`: the client side: the client, row blocks,
  placement of the partitions in shards (one per worker), safe waiting;
- :mod:`fastnn.cluster.worker`: what runs on the workers: the compiled
  loss/gradient and epoch loops of a local fit, on a shard's partitions;
- :mod:`fastnn.cluster.targets`: target encoders sent to the workers;
- :mod:`fastnn.cluster.estimators`: the scikit-learn estimators on dask input;
- :mod:`fastnn.cluster.sequential`: ``Sequential`` on dask input.

Nothing here imports dask until a dask collection is passed.
"""
