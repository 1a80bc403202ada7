"""
===================================
The one-line swap from scikit-learn
===================================

Replacing ``from sklearn.neural_network import MLPClassifier`` by
``from fastmlp import MLPClassifier`` changes how long ``fit`` takes, not what
it computes: with equal arguments and ``random_state``, fastmlp draws the same
initial weights, visits the same mini-batches in the same order and applies
the same updates as scikit-learn, so both fit the same model.

This example fits both with the same arguments and compares their weights,
predictions and fit times.
"""

# %%
# The same arguments for both
# ---------------------------
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
params = dict(hidden_layer_sizes=(100,), max_iter=40, random_state=0)


def timed_fit(estimator):
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    return estimator, time.perf_counter() - start


# 40 epochs stop before the loss has converged; both libraries say so with a
# ConvergenceWarning, which is expected here.  One BLAS thread: a network this
# small gains nothing from more, and on a busy machine BLAS threads waiting
# for each other can slow a single fit down many times over.
with warnings.catch_warnings(), threadpool_limits(limits=1):
    warnings.simplefilter("ignore", ConvergenceWarning)
    sk, sk_seconds = timed_fit(SklearnMLPClassifier(**params))
    fm, fm_seconds = timed_fit(MLPClassifier(**params))

# %%
# The same model
# --------------
# The weights agree to floating-point rounding, and so do the loss curves,
# the number of epochs and every prediction.
weight_diff = max(np.abs(a - b).max() for a, b in zip(sk.coefs_, fm.coefs_))
loss_diff = np.abs(np.subtract(sk.loss_curve_, fm.loss_curve_)).max()
same_predictions = np.mean(sk.predict(X_test) == fm.predict(X_test))
print(f"largest |weight difference|:       {weight_diff:.1e}")
print(f"largest |loss_curve_ difference|:  {loss_diff:.1e}")
print(f"n_iter_: scikit-learn {sk.n_iter_}, fastmlp {fm.n_iter_}")
print(f"identical test predictions:        {same_predictions:.1%}")
print(f"test accuracy: scikit-learn {sk.score(X_test, y_test):.4f}, "
      f"fastmlp {fm.score(X_test, y_test):.4f}")

# %%
# A different fit time
# --------------------
# One fit of each, timed while these pages were built (a shared machine: the
# ratio of a single run is noisy; :doc:`/benchmarks` has medians of
# interleaved runs).
print(f"scikit-learn fit: {sk_seconds * 1e3:7.1f} ms")
print(f"fastmlp fit:      {fm_seconds * 1e3:7.1f} ms")
print(f"ratio:            {sk_seconds / fm_seconds:7.1f}x")
