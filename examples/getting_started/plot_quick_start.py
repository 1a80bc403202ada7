"""
===========
Quick start
===========

Train a classifier and a regressor with fastmlp, exactly as with
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` and
:class:`~sklearn.neural_network.MLPRegressor`: the estimators, their
arguments, fitted attributes and methods are the same; the training loop
runs in fastmlp's C engine.
"""

# %%
# Classification
# --------------
# The digits data: 8×8 images of handwritten digits, 10 classes.  Pixel
# values are 0-16, so dividing by 16 scales them to [0, 1].
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)

clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=400, random_state=0)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f} after {clf.n_iter_} epochs")

# %%
# The fitted attributes are scikit-learn's: one weight matrix and one bias
# vector per layer, the training loss of every epoch, the classes.
print("weight shapes:", [w.shape for w in clf.coefs_])
print("classes:", clf.classes_)
print("probabilities of the first test image:", clf.predict_proba(X_test[:1]).round(3))

# %%
# ``loss_curve_`` holds the training loss after each epoch.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.set_title("MLPClassifier on digits")
fig.tight_layout()

# %%
# Regression, inside a pipeline
# -----------------------------
# Neural networks want standardized inputs; a
# :class:`~sklearn.pipeline.Pipeline` with a
# :class:`~sklearn.preprocessing.StandardScaler` does it, and fastmlp's
# estimators work in pipelines, grid searches and cross-validation like any
# scikit-learn estimator.  Float32 data is trained in float32.
X, y = make_regression(n_samples=5000, n_features=20, noise=5.0, random_state=0)
X = X.astype("float32")
X_train, X_test, y_train, y_test = train_test_split(X, y / y.std(), random_state=0)

reg = make_pipeline(
    StandardScaler(),
    MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=200, random_state=0),
)
reg.fit(X_train, y_train)
mlp = reg[-1]
print(f"R² on held-out data: {reg.score(X_test, y_test):.3f}")
print("weights dtype:", mlp.coefs_[0].dtype)
