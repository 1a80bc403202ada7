"""
=====================================================
Data augmentation: input noise and mixup
=====================================================

Two ways to train on more varied data than you have, both applied to each
training mini-batch and never at prediction:

- ``input_noise``: Gaussian noise of this standard deviation (one for all
  features, or one per feature) added to the inputs.  It is in the units of
  ``X``, so scale ``X`` first.  On a linear model it acts like an L2 penalty.
- ``mixup_alpha``: mixup.  Each batch is blended with a shuffled copy of
  itself, ``lam * x_i + (1 - lam) * x_j`` with ``lam ~ Beta(alpha, alpha)``,
  and the class probabilities (the values, for a regressor) and sample
  weights are blended the same way.  The network learns softer, more linear
  transitions between classes.

Both need a mini-batch solver ('lbfgs' refuses them).  The draws come from
``random_state``: a fit is reproducible, whatever the number of threads.
"""

# %%
# A problem to overfit
# --------------------
# 100 standardized training samples, 40 features of which 5 are informative,
# 20% of the labels flipped; a 128-unit hidden layer trained for 100 epochs
# without L2 penalty, so that only the augmentation regularizes.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier

X, y = make_classification(n_samples=600, n_features=40, n_informative=5,
                           flip_y=0.2, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=100,
                                                    random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# Held-out accuracy and log-loss, with and without
# ------------------------------------------------
# Each setting is fitted with three seeds; the fits run all 100 epochs on
# purpose, so the "not converged" warnings are silenced.
settings = {
    "none": {},
    "input_noise=0.5": dict(input_noise=0.5),
    "input_noise=1.0": dict(input_noise=1.0),
    "mixup_alpha=1.0": dict(mixup_alpha=1.0),
    "both": dict(input_noise=0.5, mixup_alpha=0.2),
}
results = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, params in settings.items():
        scores = []
        for seed in range(3):
            clf = MLPClassifier(hidden_layer_sizes=(128,), alpha=0, max_iter=100,
                                n_iter_no_change=1000, random_state=seed, **params)
            clf.fit(X_train, y_train)
            scores.append((clf.score(X_test, y_test),
                           log_loss(y_test, clf.predict_proba(X_test))))
        results[name] = np.mean(scores, axis=0)
        print(f"{name:<16} test accuracy {results[name][0]:.3f}  "
              f"test log-loss {results[name][1]:.3f}")

# %%
# Both lower the held-out log-loss markedly: the unregularized network is
# overconfident on the flipped labels, and the augmented ones are less so.
# The noise also raises the accuracy here.
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(results)
ax.bar(names, [results[n][1] for n in names])
ax.set_ylabel("test log-loss (mean of 3 seeds)")
ax.set_title("128 hidden units, 100 noisy training samples")
ax.tick_params(axis="x", labelrotation=20)
fig.tight_layout()

# %%
# One noise level per feature
# ---------------------------
# A list gives each feature its own standard deviation; 0 leaves a feature
# (here the first 20) untouched.
noise = np.r_[np.zeros(20), np.full(20, 1.0)]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf = MLPClassifier(hidden_layer_sizes=(128,), input_noise=noise, max_iter=100,
                        random_state=0).fit(X_train, y_train)
print(f"per-feature noise: test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# 'lbfgs' minimizes the full-batch loss and has no mini-batches to augment:
try:
    MLPClassifier(solver="lbfgs", mixup_alpha=0.2).fit(X_train, y_train)
except ValueError as exc:
    print(exc)
