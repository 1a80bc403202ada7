"""
=======================================================
More activations, per-layer activations, and He init
=======================================================

Beside scikit-learn's 'identity', 'logistic', 'tanh' and 'relu', the hidden
layers can use 'leaky_relu' (slope ``leaky_relu_slope`` below 0), 'elu'
(``exp(z) - 1`` below 0), 'gelu' (its tanh approximation) and 'swish'
(``z * logistic(z)``, also called SiLU); a list gives one per hidden layer.
``weight_init`` chooses the initial weights: 'glorot' (scikit-learn's, the
default), 'he' or 'lecun'.
"""

# %%
# The activation functions
# ------------------------
# Each is computed here from its formula in NumPy (the engine computes the
# same functions in C).
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

z = np.linspace(-4, 3, 200)
logistic = 1 / (1 + np.exp(-z))
curves = {
    "relu": np.maximum(z, 0),
    "leaky_relu (slope 0.1)": np.where(z > 0, z, 0.1 * z),
    "elu": np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
    "swish": z * logistic,
}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in curves.items():
    ax.plot(z, values, label=name)
ax.axhline(0, color="gray", linewidth=0.5)
ax.set_xlabel("z")
ax.legend()
ax.set_title("hidden activations")
fig.tight_layout()

# %%
# Each activation on digits
# -------------------------
# Two hidden layers of 64 units, 30 epochs of Adam; the last row mixes
# activations, one per layer.
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)

activations = ["relu", "tanh", "leaky_relu", "elu", "gelu", "swish", ["gelu", "elu"]]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 30 epochs for all
    for activation in activations:
        clf = MLPClassifier(hidden_layer_sizes=(64, 64), activation=activation,
                            max_iter=30, random_state=0).fit(X_train, y_train)
        print(f"{str(activation):<16}  training loss {clf.loss_:.3f}  "
              f"test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# He initialisation for deep relu networks
# ----------------------------------------
# Glorot's initial weights shrink a relu network's signal layer after layer;
# He's (uniform in ``±sqrt(6 / fan_in)``) keep its scale, so a deep relu
# network starts learning sooner.  Ten hidden layers of 32 units, 5 epochs:
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for weight_init in ("glorot", "he", "lecun"):
        clf = MLPClassifier(hidden_layer_sizes=(32,) * 10, weight_init=weight_init,
                            max_iter=5, random_state=0).fit(X_train, y_train)
        print(f"weight_init={weight_init!r:<9}  training loss after 5 epochs "
              f"{clf.loss_:.3f}")
