"""
===============================================================
Label smoothing, a plateau schedule and your own validation set
===============================================================

Three training options of the classifier that work together:

- ``label_smoothing=eps`` trains the log-loss on ``(1 - eps) * onehot + eps
  / n_classes`` instead of the hard labels: the network is not pushed to
  ever more extreme probabilities, which matters when some labels are
  wrong.
- ``learning_rate='plateau'`` multiplies the rate by ``lr_gamma`` whenever
  the monitored value stops improving for ``n_iter_no_change`` epochs
  (instead of stopping), for every stochastic solver, Adam included.
- ``fit(X, y, X_val=..., y_val=...)`` with ``early_stopping=True`` monitors
  a validation set you give instead of holding out ``validation_fraction``
  of ``X``, so all of ``X`` trains.
"""

# %%
# Noisy labels, a held-out validation set and a test set
# ------------------------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier

X, y = make_classification(n_samples=1500, n_features=20, n_informative=6,
                           n_classes=3, flip_y=0.15, random_state=0)
X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=300, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=200,
                                                random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(a) for a in (X_train, X_val, X_test))

# %%
# Label smoothing: less confident, lower held-out log-loss
# --------------------------------------------------------
# A wide network trained long on 300 samples with 15% wrong labels becomes
# sure of the wrong ones too; smoothing keeps its probabilities away from 0
# and 1.  (The fits run all 150 epochs on purpose.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for eps in (0.0, 0.1, 0.2):
        clf = MLPClassifier(hidden_layer_sizes=(256,), label_smoothing=eps, alpha=0,
                            max_iter=150, n_iter_no_change=1000,
                            random_state=0).fit(X_train, y_train)
        proba = clf.predict_proba(X_test)
        print(f"label_smoothing={eps:<4} test log-loss {log_loss(y_test, proba):.3f}  "
              f"mean top probability {proba.max(axis=1).mean():.3f}")

# %%
# A plateau schedule instead of stopping
# --------------------------------------
# With a high rate and small batches, the training loss stops improving by
# ``tol`` early: the constant rate stops there, ``'plateau'`` lowers the rate
# (times ``lr_gamma``) and goes on.
curves = {}
for schedule in ("constant", "plateau"):
    clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate=schedule, lr_gamma=0.3,
                        learning_rate_init=0.03, batch_size=16, tol=1e-3,
                        n_iter_no_change=3, max_iter=100, random_state=0)
    clf.fit(X_train, y_train)
    curves[schedule] = clf.loss_curve_
    print(f"learning_rate={schedule!r:<11} epochs {clf.n_iter_:>3}  "
          f"best training loss {clf.best_loss_:.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for schedule, curve in curves.items():
    ax.plot(np.arange(1, len(curve) + 1), curve, label=f"learning_rate='{schedule}'")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()

# %%
# Early stopping on your own validation set
# -----------------------------------------
# ``validation_fraction`` holds out part of the 300 training samples (here
# 40%), which then do not train and give a small, noisy validation score;
# ``X_val``/``y_val`` (200 other samples) leave all 300 to training.
for seed in range(3):
    split = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True,
                          validation_fraction=0.4, max_iter=200, random_state=seed)
    split.fit(X_train, y_train)
    given = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, max_iter=200,
                          random_state=seed)
    given.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    print(f"seed {seed}: test accuracy {split.score(X_test, y_test):.3f} "
          f"(validation_fraction, {split.n_iter_} epochs), "
          f"{given.score(X_test, y_test):.3f} (X_val, {given.n_iter_} epochs)")
