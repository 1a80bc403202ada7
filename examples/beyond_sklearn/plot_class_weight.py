"""
======================================
Class weights on imbalanced classes
======================================

With 95% of the samples in one class, a classifier can score well by
neglecting the other.  ``class_weight`` (classifier only) weighs each
sample by its class, as in scikit-learn's other classifiers: ``'balanced'``
gives each class the weight ``n_samples / (n_classes * count)``, so both
classes weigh the same in the loss; a dict ``{label: weight}`` sets them by
hand.  The weights multiply ``sample_weight`` when both are given.
"""

# %%
# A 95% / 5% problem
# ------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay, balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

X, y = make_classification(n_samples=4000, n_features=20, n_informative=4,
                           weights=[0.95], flip_y=0.02, class_sep=0.7,
                           random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y,
                                                    random_state=0)
print(f"minority class: {y_train.mean():.1%} of the training samples")

# %%
# Unweighted, balanced, and a hand-set weight
# -------------------------------------------
# Balancing trades some majority-class recall for much more of the
# minority's: the balanced accuracy (the mean of the two recalls) rises.
# Each model trains for 40 epochs (its "not converged" warning silenced).
models = {
    "None": MLPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0),
    "'balanced'": MLPClassifier(hidden_layer_sizes=(32,), max_iter=40,
                                class_weight="balanced", random_state=0),
    "{0: 1, 1: 5}": MLPClassifier(hidden_layer_sizes=(32,), max_iter=40,
                                  class_weight={0: 1, 1: 5}, random_state=0),
}
for name, clf in models.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    y_pred = clf.predict(X_test)
    print(f"class_weight={name:<13} minority recall "
          f"{recall_score(y_test, y_pred):.2f}  majority recall "
          f"{recall_score(y_test, y_pred, pos_label=0):.2f}  balanced accuracy "
          f"{balanced_accuracy_score(y_test, y_pred):.2f}")

# %%
# The test set's confusion matrices, unweighted and balanced.
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, name in zip(axes, ["None", "'balanced'"]):
    ConfusionMatrixDisplay.from_estimator(models[name], X_test, y_test, ax=ax,
                                          colorbar=False)
    ax.set_title(f"class_weight={name}")
fig.tight_layout()
