"""
============================================
Dask: Incremental training and grid search
============================================

With Dask (``pip install "fastmlp[dask]"``: dask, distributed and dask-ml),
the rows of a data set can be spread over files and machines:

- dask-ml's :class:`~dask_ml.wrappers.Incremental` calls ``partial_fit``
  on each block of a Dask array in turn, on a worker of the cluster;
- scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` runs its
  fits on the cluster through the Dask joblib backend.

Here the "cluster" is one worker thread inside this process, so that the
example runs anywhere in a few seconds; with
``LocalCluster(n_workers=4)`` or a real scheduler's address the code is the
same.
"""

# %%
# The data: blocks of rows in ``.npy`` files
# ------------------------------------------
# ``da.to_npy_stack`` writes one file per block of 10 000 rows;
# ``da.from_npy_stack(..., mmap_mode="r")`` gives a Dask array whose blocks
# the workers memory-map when they need them.  10 000 held-out samples stay
# in memory.
import os
import shutil
import tempfile
import warnings

import dask.array as da
import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from dask_ml.wrappers import Incremental
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from fastmlp import MLPClassifier

X_all, y_all = make_classification(n_samples=50_000, n_features=20, n_informative=10,
                                   random_state=0)
X_all = X_all.astype(np.float32)
X_test, y_test = X_all[40_000:], y_all[40_000:]

folder = tempfile.mkdtemp()
da.to_npy_stack(os.path.join(folder, "X"), da.from_array(X_all[:40_000], chunks=(10_000, 20)))
da.to_npy_stack(os.path.join(folder, "y"), da.from_array(y_all[:40_000], chunks=10_000))
X = da.from_npy_stack(os.path.join(folder, "X"), mmap_mode="r")
y = da.from_npy_stack(os.path.join(folder, "y"), mmap_mode="r")
print(X)

# %%
# A light local cluster
# ---------------------
# One worker with one thread, in this process, without the dashboard.
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                       dashboard_address=None)
client = Client(cluster)

# %%
# ``Incremental``: ``partial_fit`` block by block
# -----------------------------------------------
# Each call of ``Incremental.partial_fit`` is one pass over the blocks (in
# random order with ``shuffle_blocks=True``, dask-ml's default); the
# fastmlp estimator is carried from block to block.  Five passes:
model = Incremental(MLPClassifier(hidden_layer_sizes=(64,), random_state=0),
                    random_state=0)
for epoch in range(5):
    model.partial_fit(X, y, classes=[0, 1])
print(f"Incremental, 5 passes: held-out accuracy {model.score(X_test, y_test):.4f}")

# %%
# The trained fastmlp model is ``model.estimator_``; prediction on a Dask
# array is lazy, block by block.
print("samples seen:", model.estimator_.t_)
y_pred = model.predict(X)
print(type(y_pred).__name__, "->", y_pred[:10].compute())

# %%
# For comparison, ``fit`` on all the training rows in memory, 5 epochs:
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 5 epochs on purpose
    in_memory = MLPClassifier(hidden_layer_sizes=(64,), max_iter=5,
                              random_state=0).fit(X_all[:40_000], y_all[:40_000])
print(f"fit in memory, 5 epochs: held-out accuracy {in_memory.score(X_test, y_test):.4f}")

# %%
# A grid search on the cluster
# ----------------------------
# Under ``joblib.parallel_backend("dask")``, ``GridSearchCV`` sends its
# fits (each on in-memory data) to the cluster's workers; the result is the
# one it gets without Dask.
X_small, y_small = X_all[:3_000], y_all[:3_000]
grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(8,), (32,)]}
with warnings.catch_warnings(), joblib.parallel_backend("dask"):
    warnings.simplefilter("ignore", ConvergenceWarning)  # 30 epochs each
    search = GridSearchCV(MLPClassifier(max_iter=30, random_state=0), grid,
                          cv=3).fit(X_small, y_small)
print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.4f}")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    local = GridSearchCV(MLPClassifier(max_iter=30, random_state=0), grid,
                         cv=3).fit(X_small, y_small)
print("the same search without Dask scores the same:",
      np.allclose(local.cv_results_["mean_test_score"],
                  search.cv_results_["mean_test_score"], rtol=1e-12, atol=0))
print(f"held-out accuracy of the refitted best model: "
      f"{search.score(X_test, y_test):.4f}")

# %%
# Shut the cluster down and remove the files.
client.close()
cluster.close()
del X, y
shutil.rmtree(folder)
