"""
==========================================
Learning-rate schedules: cosine and step
==========================================

With small mini-batches the gradient is noisy, and a constant learning rate
keeps the weights jumping around the minimum.  Lowering the rate as training
goes on lets them settle.  Beside scikit-learn's schedules ('invscaling' and
'adaptive', for 'sgd' only), fastmlp has two that apply to every stochastic
solver, Adam included.  At epoch ``e`` (counted from 0):

- ``learning_rate='cosine'``: ``0.5 * learning_rate_init * (1 + cos(pi * e /
  max_iter))``, from ``learning_rate_init`` down towards 0 at ``max_iter``;
- ``learning_rate='step'``: ``learning_rate_init * lr_gamma ** (e //
  lr_step_size)``, multiplied by ``lr_gamma`` every ``lr_step_size``
  epochs.
"""

# %%
# Recording the rate with a callback
# ----------------------------------
# A callback is called after every epoch with the epoch number, a dict of
# logs and the estimator; ``logs["learning_rate"]`` is the rate the epoch
# used.  This one keeps them in a list.
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_squared_error

from fastmlp import MLPRegressor


class RecordRate:
    """Keep the learning rate of every epoch."""

    def __init__(self):
        self.rates = []

    def __call__(self, epoch, logs, estimator):
        self.rates.append(logs["learning_rate"])


# %%
# A noisy regression, mini-batches of 8
# -------------------------------------
# Adam at a rate of 0.01 for 30 epochs, with each schedule; the step
# schedule divides the rate by 5 every 10 epochs.  All fits run the 30
# epochs (``tol=0``), so their "not converged" warnings are silenced.
X, y = make_regression(n_samples=1000, n_features=10, noise=20, random_state=0)
y = (y - y.mean()) / y.std()

fits = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for schedule in ("constant", "cosine", "step"):
        recorder = RecordRate()
        reg = MLPRegressor(hidden_layer_sizes=(32,), batch_size=8,
                           learning_rate=schedule, learning_rate_init=0.01,
                           lr_step_size=10, lr_gamma=0.2, max_iter=30, tol=0,
                           n_iter_no_change=1000, callbacks=[recorder],
                           random_state=0).fit(X, y)
        fits[schedule] = (reg, recorder.rates)
        print(f"{schedule:<8}  training MSE after 30 epochs: "
              f"{mean_squared_error(y, reg.predict(X)):.4f}")

# %%
# The rates, and the training loss (half the mean squared error) per epoch:
# the annealed runs end lower, as their rate becomes small.
fig, (ax_rate, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
for schedule, (reg, rates) in fits.items():
    epochs = range(1, len(rates) + 1)
    ax_rate.plot(epochs, rates, label=schedule)
    ax_loss.plot(epochs, reg.loss_curve_, label=schedule)
ax_rate.set_xlabel("epoch")
ax_rate.set_ylabel("learning rate")
ax_rate.legend()
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss")
ax_loss.set_yscale("log")
ax_loss.legend()
fig.tight_layout()

# %%
# ``partial_fit`` counts epochs across calls, so the schedule goes on from
# one call to the next (each call is one epoch):
reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate="step",
                   learning_rate_init=0.01, lr_step_size=2, lr_gamma=0.5,
                   random_state=0)
recorder = RecordRate()
reg.set_params(callbacks=[recorder])
for _ in range(6):
    reg.partial_fit(X, y)
print("rates of six partial_fit calls:", recorder.rates)
