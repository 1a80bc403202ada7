"""Demo: ``python -m fastmlp``.

Trains fastmlp's and scikit-learn's MLPClassifier with the same arguments on
scikit-learn's digits data and prints accuracy, fit time and the speed ratio
side by side (median of interleaved repeats), plus how far apart the two
models' weights are.
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from fastmlp import MLPClassifier


def _timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp", description=__doc__.split("\n\n")[1])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved fits of each (default 5)")
    parser.add_argument("--max-iter", type=int, default=40, help="epochs (default 40)")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    params = dict(hidden_layer_sizes=(100,), max_iter=args.max_iter, random_state=0)
    print(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test samples, "
          f"{X.shape[1]} features, 10 classes")
    print(f"MLPClassifier({', '.join(f'{k}={v!r}' for k, v in params.items())}), "
          f"solver='adam', batch_size=200\n")

    times = {"scikit-learn": [], "fastmlp": []}
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(args.repeats):  # interleaved: A B A B ...
            for name, cls in (("scikit-learn", SklearnMLPClassifier), ("fastmlp", MLPClassifier)):
                models[name] = cls(**params)
                times[name].append(_timed_fit(models[name], X_train, y_train))

    print(f"{'':14}{'test accuracy':>15}{'fit time (median)':>20}")
    for name, model in models.items():
        print(f"{name:14}{model.score(X_test, y_test):>15.4f}"
              f"{statistics.median(times[name]) * 1e3:>17.1f} ms")
    ratio = statistics.median(times["scikit-learn"]) / statistics.median(times["fastmlp"])
    print(f"\nfastmlp fits {ratio:.1f}x faster than scikit-learn "
          f"(median of {args.repeats} interleaved fits each)")
    diff = max(np.abs(a - b).max() for a, b in zip(models["scikit-learn"].coefs_,
                                                   models["fastmlp"].coefs_))
    same = np.mean(models["scikit-learn"].predict(X_test) == models["fastmlp"].predict(X_test))
    print(f"same model: max |weight difference| = {diff:.1e}, "
          f"identical test predictions: {same:.1%}")


if __name__ == "__main__":
    main()
