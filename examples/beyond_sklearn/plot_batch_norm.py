"""
=========================================================
Batch normalization: training a deep sigmoid network
=========================================================

In a deep network of logistic units the gradient shrinks at every layer on
its way back to the first ones: eight such layers barely train.
``batch_norm=True`` normalizes each hidden unit by the mean and variance of
its input over the mini-batch, before the activation, then applies a learned
scale and shift.  The units stay in the steep part of the sigmoid and the
gradient reaches the early layers.

For prediction the running averages of the mini-batch statistics are used
(``batch_norm_means_``, ``batch_norm_vars_``), folded into the weights, so
predicting costs no more than without batch normalization.  Like dropout, it
needs a mini-batch solver.
"""

# %%
# Eight logistic layers, with and without batch normalization
# -----------------------------------------------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

X, y = make_classification(n_samples=1500, n_features=20, n_informative=10,
                           random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

models = {}
with warnings.catch_warnings():
    # 30 epochs, whether converged or not: the curves are the point
    warnings.simplefilter("ignore", ConvergenceWarning)
    for batch_norm in (False, True):
        models[batch_norm] = MLPClassifier(
            hidden_layer_sizes=(32,) * 8, activation="logistic",
            batch_norm=batch_norm, max_iter=30, n_iter_no_change=1000,
            random_state=0,
        ).fit(X_train, y_train)

for batch_norm, clf in models.items():
    print(f"batch_norm={batch_norm!s:<5}  final training loss {clf.loss_:.3f}  "
          f"test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Without it the loss stays at ln 2 = 0.693, a coin toss between the two
# classes; with it the network learns within a few epochs.
fig, ax = plt.subplots(figsize=(6, 3.5))
for batch_norm, clf in models.items():
    ax.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_,
            label=f"batch_norm={batch_norm}")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
ax.set_title("8 hidden logistic layers of 32 units")
fig.tight_layout()

# %%
# The learned parameters and running statistics
# ---------------------------------------------
# One array per hidden layer (None for a layer without batch normalization,
# which a list such as ``batch_norm=[True, False, ...]`` chooses).
clf = models[True]
print("scales of layer 1:", clf.batch_norm_scales_[0][:4].round(3), "...")
print("running means of layer 1:", clf.batch_norm_means_[0][:4].round(3), "...")
print("number of normalized layers:",
      sum(s is not None for s in clf.batch_norm_scales_))
