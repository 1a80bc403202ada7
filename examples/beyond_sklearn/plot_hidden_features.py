"""
=============================================
Hidden features: what the last layer learned
=============================================

``hidden_activations(X, layer=-1)`` returns a hidden layer's output for each
row of X, as ``predict`` computes it.  The last hidden layer of a digits
classifier is a learned representation: embedded in 2-D the classes form
clusters, and a linear model on it does as well as the network.
"""

# %%
# A small digits classifier
# -------------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
clf = MLPClassifier(hidden_layer_sizes=(64, 16), max_iter=100, random_state=0)
clf.fit(X_train, y_train)
print(f"network accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# The last hidden layer, embedded in 2-D
# --------------------------------------
H_train = clf.hidden_activations(X_train)  # (n_samples, 16)
H_test = clf.hidden_activations(X_test)
embedded = PCA(n_components=2).fit(H_train).transform(H_test)
fig, ax = plt.subplots(figsize=(6, 5))
points = ax.scatter(embedded[:, 0], embedded[:, 1], c=y_test, cmap="tab10", s=8)
fig.colorbar(points, ax=ax, label="digit")
ax.set_title("Last hidden layer (16 units), PCA to 2-D")

# %%
# The same features for a linear model
# ------------------------------------
pixels = LogisticRegression(max_iter=2000).fit(X_train, y_train).score(X_test, y_test)
hidden = LogisticRegression(max_iter=2000).fit(H_train, y_train).score(H_test, y_test)
print(f"LogisticRegression on the 64 pixels: {pixels:.3f}, on the 16 hidden features: {hidden:.3f}")
plt.show()
