"""Per-sample training speed of chunked (out-of-core) training against
in-memory `fit`, side by side in one process.

    python benchmarks/out_of_core.py [--workloads tabular,regression] [--repeats 5]
                                     [--chunk 10000] [--dtype float64] [--no-dask]

Per round, interleaved, on the same data and for the same number of epochs
(`tol=0`, `n_iter_no_change` above `max_iter`: every epoch runs):

  fit          `fit(X, y)` on an in-memory array, `max_iter=epochs`
  memmap       `partial_fit` over the `--chunk`-row chunks of an `np.memmap`
               of the same data (read-only, a file in a temporary directory),
               `epochs` passes; `classes=` on the first call
  chunks       the same, over in-memory chunks (what chunking alone costs)
  dask         dask-ml's `Incremental` over a Dask array of `--chunk`-row
               blocks stored with `da.to_npy_stack` and memory-mapped by the
               worker, one `partial_fit` pass per epoch, on a one-worker,
               one-thread `LocalCluster` (skipped without dask-ml, or with
               `--no-dask`)

Per-sample time = time / (n_samples x epochs); the ratio is the chunked
path's median over fit's median (> 1: chunked training is slower), with the
range of the per-round ratios.  The memmap's pages stay in the page cache
after the first round, so this measures the cost of chunked training, not
the disk.  The held-out score of each path is printed too: chunked training
shuffles within chunks only, so its model differs from fit's, not its quality.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor

# from benchmarks/README.md (tabular: 4x the samples, so an epoch has 20
# chunks of 10k rows)
WORKLOADS = {
    "tabular": dict(n_samples=200_000, n_features=20, hidden=(32, 32), batch=200,
                    epochs=4, task="classification"),
    "regression": dict(n_samples=60_000, n_features=100, hidden=(256, 256), batch=200,
                       epochs=2, task="regression"),
}
N_TEST = 10_000


def make_data(spec, dtype):
    n = spec["n_samples"] + N_TEST
    if spec["task"] == "classification":
        X, y = make_classification(n, spec["n_features"], n_informative=10, random_state=0)
    else:
        X, y = make_regression(n, spec["n_features"], n_informative=50, noise=1.0,
                               random_state=0)
        y = y / y.std()
    return X.astype(dtype), y


def estimator(spec):
    Estimator = MLPClassifier if spec["task"] == "classification" else MLPRegressor
    return Estimator(hidden_layer_sizes=spec["hidden"], batch_size=spec["batch"],
                     max_iter=spec["epochs"], tol=0.0, n_iter_no_change=spec["epochs"] + 1,
                     random_state=0)


def partial_fit_passes(model, X, y, n_passes, chunk, classes):
    for _ in range(n_passes):
        for start in range(0, X.shape[0], chunk):
            rows = slice(start, start + chunk)
            if classes is None:
                model.partial_fit(X[rows], y[rows])
            else:
                model.partial_fit(X[rows], y[rows], classes=classes)
    return model


def to_memmap(path, array):
    out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    out[:] = array
    out.flush()
    del out
    return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)


def run_workload(name, spec, args, tmp, client):
    X_all, y_all = make_data(spec, np.dtype(args.dtype))
    n, epochs = spec["n_samples"], spec["epochs"]
    X, y = X_all[:n], y_all[:n]
    X_test, y_test = X_all[n:], y_all[n:]
    classes = np.unique(y) if spec["task"] == "classification" else None
    X_map = to_memmap(os.path.join(tmp, f"{name}-X.dat"), X)
    y_map = to_memmap(os.path.join(tmp, f"{name}-y.dat"), y)

    paths = {
        "fit": lambda: estimator(spec).fit(X, y),
        "memmap": lambda: partial_fit_passes(estimator(spec), X_map, y_map, epochs,
                                             args.chunk, classes),
        "chunks": lambda: partial_fit_passes(estimator(spec), X, y, epochs,
                                             args.chunk, classes),
    }
    if client is not None:
        import dask
        import dask.array as da
        from dask_ml.wrappers import Incremental

        for part, array in (("X", X), ("y", y)):
            chunks = (args.chunk,) + (-1,) * (array.ndim - 1)
            # written here, not by shipping the array to the cluster
            with dask.config.set(scheduler="synchronous"):
                da.to_npy_stack(os.path.join(tmp, f"{name}-{part}"),
                                da.from_array(array, chunks=chunks))
        X_dask = da.from_npy_stack(os.path.join(tmp, f"{name}-X"), mmap_mode="r")
        y_dask = da.from_npy_stack(os.path.join(tmp, f"{name}-y"), mmap_mode="r")
        fit_kwargs = {} if classes is None else {"classes": classes}

        def dask_incremental():
            model = Incremental(estimator(spec), random_state=0)
            for _ in range(epochs):
                model.partial_fit(X_dask, y_dask, **fit_kwargs)
            return model.estimator_

        paths["dask"] = dask_incremental

    times = {path: [] for path in paths}
    scores = {}
    for _ in range(args.repeats):
        for path, train in paths.items():  # interleaved: fit, memmap, chunks, dask, fit, ...
            start = time.perf_counter()
            model = train()
            times[path].append(time.perf_counter() - start)
            assert model.t_ == n * epochs, (path, model.t_)  # the same work
            scores[path] = model.score(X_test, y_test)

    fit_median = statistics.median(times["fit"])
    n_outputs = 1 if classes is None or len(classes) == 2 else len(classes)
    print(f"\n{name}: {n} x {spec['n_features']} {args.dtype}, layers "
          f"{spec['n_features']}-{'-'.join(map(str, spec['hidden']))}-{n_outputs}, "
          f"batch {spec['batch']}, "
          f"{epochs} epochs, chunks of {args.chunk} rows, {args.repeats} rounds")
    print(f"  {'path':<8} {'median s':>9} {'us/sample':>10} {'vs fit':>7}  {'range':<13} "
          f"{'held-out ' + ('accuracy' if classes is not None else 'R2')}")
    results = {}
    for path, path_times in times.items():
        median = statistics.median(path_times)
        per_sample = median / (n * epochs) * 1e6
        ratios = [t / f for t, f in zip(path_times, times["fit"])]
        results[path] = median / fit_median
        print(f"  {path:<8} {median:9.3f} {per_sample:10.3f} {median / fit_median:6.2f}x  "
              f"[{min(ratios):.2f}, {max(ratios):.2f}]  {scores[path]:.4f}")
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--chunk", type=int, default=10_000, help="rows per chunk (default 10000)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--no-dask", action="store_true", help="skip the dask-ml path")
    args = p.parse_args()
    names = args.workloads.split(",")
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads {sorted(unknown)}; choose from {list(WORKLOADS)}")
    if args.chunk < 1 or args.repeats < 1:
        p.error("--chunk and --repeats must be positive")

    client = cluster = None
    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster
            import dask_ml  # noqa: F401
        except ImportError as exc:
            print(f"dask path skipped ({exc}); pip install '.[dask]'", file=sys.stderr)
        else:
            cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}, BLAS threads {args.threads}")
    warnings.simplefilter("ignore", ConvergenceWarning)
    try:
        with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=args.threads):
            for name in names:
                run_workload(name, WORKLOADS[name], args, tmp, client)
    finally:
        if client is not None:
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
