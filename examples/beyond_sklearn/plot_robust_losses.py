"""
=====================================================
Robust regression losses: Huber, absolute, quantile
=====================================================

The squared error lets a few gross outliers among the training targets pull
the whole fit towards them.  ``MLPRegressor(loss='huber')`` (quadratic for
residuals up to ``huber_delta``, linear beyond) and
``loss='absolute_error'`` weigh them linearly, and keep the fit on the bulk
of the data.  ``loss='quantile'`` fits a quantile of the target instead of
its mean: two of them give a prediction interval.
"""

# %%
# Data with outliers
# ------------------
# A smooth curve with small noise; 15% of the training targets are moved by
# 10 to 20 up or down.  The held-out targets are clean.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error

from fastmlp import MLPRegressor

warnings.filterwarnings("ignore", category=ConvergenceWarning)
rng = np.random.default_rng(0)
X_train = rng.uniform(-1, 1, (300, 1))
y_train = np.sin(3 * X_train[:, 0]) + 0.1 * rng.standard_normal(300)
outlier = rng.random(300) < 0.15
y_train[outlier] += rng.choice([-1, 1], outlier.sum()) * rng.uniform(10, 20, outlier.sum())
X_test = np.linspace(-1, 1, 200)[:, None]
y_test = np.sin(3 * X_test[:, 0])

# %%
# Three losses, one network
# -------------------------
common = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)
models = {
    "squared_error": MLPRegressor(loss="squared_error", **common),
    "huber (delta 0.5)": MLPRegressor(loss="huber", huber_delta=0.5, **common),
    "absolute_error": MLPRegressor(loss="absolute_error", **common),
}
fig, ax = plt.subplots(figsize=(7, 4))
ax.scatter(X_train[~outlier, 0], y_train[~outlier], s=6, c="grey", label="training targets")
for name, model in models.items():
    pred = model.fit(X_train, y_train).predict(X_test)
    mae = mean_absolute_error(y_test, pred)
    print(f"{name:>18}: held-out absolute error {mae:.3f}")
    ax.plot(X_test[:, 0], pred, label=f"{name} (MAE {mae:.2f})")
ax.set_ylim(-3, 3)
ax.set_title("Outliers (off the plot) pull the squared error's fit")
ax.legend(fontsize=8)

# %%
# A prediction interval from two quantiles
# ----------------------------------------
# Noise that grows with x; the 0.1 and 0.9 quantile models should bracket
# about 80% of new targets.
X = rng.uniform(-1, 1, (2000, 1))
y = np.sin(3 * X[:, 0]) + rng.standard_normal(2000) * (0.1 + 0.4 * (X[:, 0] + 1))
X_fit, y_fit, X_new, y_new = X[:1000], y[:1000], X[1000:], y[1000:]
quantile = dict(hidden_layer_sizes=(32,), loss="quantile", learning_rate_init=0.01,
                max_iter=200, random_state=0)
low = MLPRegressor(quantile=0.1, **quantile).fit(X_fit, y_fit)
high = MLPRegressor(quantile=0.9, **quantile).fit(X_fit, y_fit)
covered = np.mean((y_new >= low.predict(X_new)) & (y_new <= high.predict(X_new)))
print(f"the [0.1, 0.9] interval holds {covered:.1%} of held-out targets")

grid = np.linspace(-1, 1, 200)[:, None]
fig, ax = plt.subplots(figsize=(7, 4))
ax.scatter(X_new[:, 0], y_new, s=4, c="grey")
ax.fill_between(grid[:, 0], low.predict(grid), high.predict(grid), alpha=0.3,
                label=f"0.1 to 0.9 quantile ({covered:.0%} covered)")
ax.legend()
plt.show()
