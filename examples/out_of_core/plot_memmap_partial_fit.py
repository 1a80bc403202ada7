"""
===================================================
Training on a memory-mapped array, chunk by chunk
===================================================

``partial_fit`` runs one epoch over the data it is given, so a data set
too large for memory can be trained on one chunk of rows at a time, read
from disk.  NumPy's memory-mapped arrays (``np.load(..., mmap_mode="r")``)
read only the rows a slice touches.  fastmlp trains on a memory-mapped chunk
as on the same chunk in memory: the model is the same bit for bit.

Chunked training shuffles within each chunk only, so its model is not the
one ``fit`` gives on all the data at once, but it reaches ``fit``'s held-out
score.
"""

# %%
# The data, saved to disk
# -----------------------
# 60 000 samples of a synthetic classification problem, written as ``.npy``
# files to a temporary folder (a stand-in for data that does not fit in
# memory), and 10 000 held-out samples kept in memory.
import os
import shutil
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier

X_all, y_all = make_classification(n_samples=70_000, n_features=20, n_informative=10,
                                   n_classes=3, random_state=0)
X_all = X_all.astype(np.float32)
X_test, y_test = X_all[60_000:], y_all[60_000:]

folder = tempfile.mkdtemp()
np.save(os.path.join(folder, "X.npy"), X_all[:60_000])
np.save(os.path.join(folder, "y.npy"), y_all[:60_000])

X = np.load(os.path.join(folder, "X.npy"), mmap_mode="r")
y = np.load(os.path.join(folder, "y.npy"), mmap_mode="r")
print(type(X).__name__, X.shape, X.dtype)

# %%
# ``partial_fit`` over chunks of 10 000 rows
# ------------------------------------------
# The first call must name every class (``classes=``): a chunk may lack
# some.  One pass over all chunks is an epoch; the held-out accuracy is
# measured after each.
chunk = 10_000
classes = np.unique(y)
params = dict(hidden_layer_sizes=(64,), random_state=0)

chunked = MLPClassifier(**params)
chunked_scores = []
for epoch in range(10):
    for start in range(0, X.shape[0], chunk):
        rows = slice(start, start + chunk)
        chunked.partial_fit(X[rows], y[rows], classes=classes)
    chunked_scores.append(chunked.score(X_test, y_test))
print(f"partial_fit over memory-mapped chunks, 10 epochs: held-out accuracy "
      f"{chunked_scores[-1]:.4f}")

# %%
# The same chunks in memory give the same model
# ---------------------------------------------
in_memory = MLPClassifier(**params)
X_mem, y_mem = np.asarray(X_all[:60_000]), np.asarray(y_all[:60_000])
for epoch in range(10):
    for start in range(0, X_mem.shape[0], chunk):
        rows = slice(start, start + chunk)
        in_memory.partial_fit(X_mem[rows], y_mem[rows], classes=classes)
print("identical weights:", all(np.array_equal(a, b)
                                for a, b in zip(chunked.coefs_, in_memory.coefs_)))

# %%
# Against ``fit`` on all the data in memory
# -----------------------------------------
# ``fit`` for the same 10 epochs; a callback records its held-out accuracy
# after every epoch.
fit_scores = []


def score_held_out(epoch, logs, estimator):
    fit_scores.append(estimator.score(X_test, y_test))


full = MLPClassifier(**params, max_iter=10, callbacks=[score_held_out])
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 10 epochs on purpose
    full.fit(X_mem, y_mem)
print(f"fit in memory, 10 epochs: held-out accuracy {fit_scores[-1]:.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
epochs = range(1, 11)
ax.plot(epochs, fit_scores, "o-", label="fit, in memory")
ax.plot(epochs, chunked_scores, "o-", label="partial_fit, memory-mapped chunks")
ax.set_xlabel("epoch")
ax.set_ylabel("held-out accuracy")
ax.legend()
fig.tight_layout()

# %%
# Clean up the temporary files (the memory maps first).
del X, y
shutil.rmtree(folder)
