"""Accuracy of averaged sgd/adam on a Dask cluster against single-machine training, per ``sync_every``.

Run ``python -m fastnn.tools.cluster_accuracy [--workers W] [--blocks B] [--sync 1,2,4] [SHAPE ...]``.
For every classification shape of the realistic grid (:mod:`fastnn.tools.grid`, digits and mnist5k
included) it holds out the last 20 % of the rows, fits ``fastnn.MLPClassifier`` with the shape's own
settings (solver, batch, epochs, learning rate) once in memory and once per ``sync_every`` on a
``LocalCluster`` of W worker processes (the training rows cut into B dask blocks), and prints the
held-out accuracy of each and the wall time of each fit.  Accuracy is what ``sync_every`` trades
against the synchronisations' cost; the README's default comes from this table.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn.tools.cluster_accuracy",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("shapes", nargs="*", help="grid shape names (default: every estimator classification shape)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--sync", default="1,2,4", help="sync_every values, comma-separated")
    parser.add_argument("--seeds", type=int, default=1,
                        help="average the accuracies over this many seeds (random_state 0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=None, help="override the shapes' epochs")
    parser.add_argument("--converge", action="store_true",
                        help="train to convergence instead: scikit-learn's stopping rule (tol=1e-4, "
                             "n_iter_no_change=10), at most --epochs (default 200) epochs")
    args = parser.parse_args(argv)
    import dask.array as da
    import distributed
    from sklearn.exceptions import ConvergenceWarning

    from fastnn.tools.grid import GRID, get_shape

    warnings.simplefilter("ignore", ConvergenceWarning)
    shapes = [get_shape(name) for name in args.shapes] or [
        s for s in GRID if s.task == "classification" and s.api == "estimator"]
    syncs = [int(v) for v in args.sync.split(",")]
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster):
        print(f"{'shape':48s} {'epochs':>6s} {'local':>7s} " + " ".join(f"{'sync=' + str(k):>8s}" for k in syncs)
              + "   seconds: local / " + " / ".join(f"sync={k}" for k in syncs))
        for shape in shapes:
            X, y = shape.data()
            cut = int(0.8 * X.shape[0])
            chunk = -(-cut // args.blocks)
            Xd = da.from_array(X[:cut], chunks=(chunk, X.shape[1])).persist()
            yd = da.from_array(y[:cut], chunks=chunk).persist()
            scores, times = [0.0] * (len(syncs) + 1), [0.0] * (len(syncs) + 1)
            for seed in range(args.seeds):
                params = shape.estimator_params(seed=seed)
                if args.converge:
                    params.update(max_iter=args.epochs or 200, tol=1e-4, n_iter_no_change=10)
                elif args.epochs is not None:
                    params.update(max_iter=args.epochs, n_iter_no_change=args.epochs + 1)
                runs = [((X[:cut], y[:cut]), {})] + [((Xd, yd), {"sync_every": k}) for k in syncs]
                for i, (data, extra) in enumerate(runs):
                    started = time.perf_counter()
                    est = shape.estimator().set_params(**params, **extra).fit(*data)
                    times[i] += (time.perf_counter() - started) / args.seeds
                    scores[i] += est.score(X[cut:], y[cut:]) / args.seeds
            print(f"{shape.name:48s} {params['max_iter']:6d} {scores[0]:7.4f} "
                  + " ".join(f"{s:8.4f}" for s in scores[1:])
                  + "   " + " / ".join(f"{t:.2f}" for t in times), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
