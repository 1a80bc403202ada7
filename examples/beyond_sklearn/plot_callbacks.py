"""
==================================================
Callbacks, early stopping on the loss, and curves
==================================================

``callbacks`` takes functions called after every epoch as
``callback(epoch, logs, estimator)``.  ``logs`` holds the epoch's training
``'loss'`` and ``'learning_rate'`` and, with early stopping, its
``'validation_score'`` and ``'validation_loss'``.  A callback that returns
``True`` stops training after that epoch.  :func:`fastmlp.plot_loss_curve`
draws the curves a fit recorded.

This example also stops early on the validation *loss*
(``early_stopping_metric='loss'``) instead of scikit-learn's validation
accuracy.
"""

# %%
# Collecting the logs
# -------------------
# A callback can be any callable; this one appends each epoch's logs to a
# list.
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, plot_loss_curve

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)

history = []


def keep_logs(epoch, logs, estimator):
    history.append(dict(logs, epoch=epoch))


clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01,
                    early_stopping=True, early_stopping_metric="loss",
                    n_iter_no_change=5, max_iter=200, callbacks=[keep_logs],
                    random_state=0).fit(X_train, y_train)
print("logs of the first epoch:",
      {key: round(value, 4) for key, value in history[0].items()})
print(f"stopped after {clf.n_iter_} epochs; the best validation loss, "
      f"{clf.best_validation_loss_:.4f}, was at epoch "
      f"{1 + clf.validation_loss_curve_.index(clf.best_validation_loss_)}")
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# Early stopping ended the fit once the validation loss had not improved
# for more than ``n_iter_no_change`` epochs, and put back the weights of the
# best epoch (``restore_best_weights=True``, the default, as in
# scikit-learn; ``False`` keeps the last epoch's).
#
# :func:`~fastmlp.plot_loss_curve` draws the training and validation loss
# and, on the right axis, the validation accuracy.
ax = plot_loss_curve(clf)
ax.figure.set_size_inches(6, 3.5)
ax.figure.tight_layout()

# %%
# Stopping from a callback
# ------------------------
# A callback returning a true value stops training after the current epoch;
# ``n_iter_`` counts that epoch and no ``ConvergenceWarning`` is raised.
# Here: stop once the training loss is below 0.05, or after 30 seconds (a
# time budget, far from reached here).


class StopWhen:
    """Stop below a training loss, or when a time budget is spent."""

    def __init__(self, loss_below, seconds):
        self.loss_below = loss_below
        self.seconds = seconds
        self.start = None

    def __call__(self, epoch, logs, estimator):
        if self.start is None:
            self.start = time.perf_counter()
        spent = time.perf_counter() - self.start
        return logs["loss"] < self.loss_below or spent > self.seconds


clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500,
                    callbacks=[StopWhen(loss_below=0.05, seconds=30)],
                    random_state=0).fit(X_train, y_train)
print(f"stopped after {clf.n_iter_} epochs at a training loss of "
      f"{clf.loss_curve_[-1]:.4f}; test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# The estimator passed to the callback is the model as trained so far, so a
# callback can also evaluate it on other data.  Here: the test accuracy
# after every epoch, next to the training loss.
test_accuracy = []


def score_on_test(epoch, logs, estimator):
    test_accuracy.append(estimator.score(X_test, y_test))


clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, tol=0,
                    n_iter_no_change=1000, callbacks=[score_on_test],
                    random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 40 epochs on purpose
    clf.fit(X_train, y_train)
print(f"test accuracy after epochs 1, 10, 40: {test_accuracy[0]:.3f}, "
      f"{test_accuracy[9]:.3f}, {test_accuracy[-1]:.3f}")

fig, (ax_loss, ax_accuracy) = plt.subplots(1, 2, figsize=(9, 3.5))
plot_loss_curve(clf, ax=ax_loss)
ax_accuracy.plot(range(1, clf.n_iter_ + 1), test_accuracy, color="C3")
ax_accuracy.set_xlabel("epoch")
ax_accuracy.set_ylabel("test accuracy")
ax_accuracy.set_title("recorded by a callback")
fig.tight_layout()
