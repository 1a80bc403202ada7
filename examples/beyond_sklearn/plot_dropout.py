"""
=====================================
Dropout: a smaller train/test gap
=====================================

A wide network trained long on few noisy samples learns them by heart: its
training loss goes to zero while its loss on new data grows.  ``dropout``
zeroes each hidden unit's output with the given probability while training
(and scales the others up by ``1 / (1 - rate)``, so prediction, which keeps
every unit, needs no rescaling).  The network cannot rely on any single unit
and fits the noise less.

Dropout needs a mini-batch solver ('sgd', 'adam', 'rmsprop', 'adamw');
``solver='lbfgs'`` refuses it.  The masks are drawn from ``random_state``, so
a fit is reproducible.
"""

# %%
# A problem to overfit
# --------------------
# 100 training samples, 40 features of which 5 are informative, and 20% of
# the labels flipped at random; a 256-unit hidden layer trained for 100
# epochs without L2 penalty (``alpha=0``), so only dropout regularizes.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

X, y = make_classification(n_samples=600, n_features=40, n_informative=5,
                           flip_y=0.2, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=100,
                                                    random_state=0)

# %%
# Train and test log-loss for several dropout rates
# -------------------------------------------------
# Each rate is fitted with three seeds and the losses averaged.  The fits
# run all 100 epochs on purpose (the point is what long training does), so
# the "not converged" warnings are silenced.
rates = [0.0, 0.25, 0.5, 0.75]
train_loss, test_loss = [], []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for rate in rates:
        losses = []
        for seed in range(3):
            clf = MLPClassifier(hidden_layer_sizes=(256,), dropout=rate, alpha=0,
                                max_iter=100, n_iter_no_change=1000,
                                random_state=seed).fit(X_train, y_train)
            losses.append((log_loss(y_train, clf.predict_proba(X_train)),
                           log_loss(y_test, clf.predict_proba(X_test))))
        train, test = np.mean(losses, axis=0)
        train_loss.append(train)
        test_loss.append(test)
        print(f"dropout={rate:<4}  train log-loss {train:.3f}  test log-loss "
              f"{test:.3f}  gap {test - train:.3f}")

# %%
# Without dropout the training loss is near 0 and the test loss is far
# above it; the higher the rate, the smaller the gap, and the test loss
# falls with it.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(rates, train_loss, "o-", label="training data")
ax.plot(rates, test_loss, "o-", label="test data")
ax.set_xlabel("dropout rate")
ax.set_ylabel("log-loss (mean of 3 seeds)")
ax.set_xticks(rates)
ax.legend()
ax.set_title("256 hidden units, 100 noisy training samples")
fig.tight_layout()

# %%
# One rate per hidden layer
# -------------------------
# A list gives each hidden layer its own rate (here none on the first).
# Prediction uses every unit, so it is deterministic whatever the rates.
clf = MLPClassifier(hidden_layer_sizes=(64, 64), dropout=[0.0, 0.3], max_iter=50,
                    random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# 'lbfgs' minimizes the full-batch loss, which dropout would make random:
try:
    MLPClassifier(solver="lbfgs", dropout=0.5).fit(X_train, y_train)
except ValueError as exc:
    print(exc)
