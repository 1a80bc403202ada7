"""The losses, by name: which engine loss a model trains, the output
activation that loss implies, and the data loss scikit-learn reports.

The output activation of each loss is the engine's (its canonical link,
``fm_loss_output_activation`` in csrc/net.c, exposed as
``_engine.OUTPUT_ACTIVATIONS``); nothing here restates it.
"""

import numpy as np
from scipy.special import xlogy

from fastmlp import _engine

# MLPRegressor's losses beyond scikit-learn's: all with the identity output,
# summed over outputs in the reported loss as in the gradient.
ROBUST_LOSSES = ("absolute_error", "huber", "quantile")

# The engine loss of each output activation (the inverse of the engine's map,
# over the losses scikit-learn has: squared error for the identity).
ENGINE_LOSS = {activation: loss for loss, activation in _engine.OUTPUT_ACTIVATIONS.items()
               if loss not in ROBUST_LOSSES}


def training_loss(estimator_loss, is_classifier, y_type):
    """The engine loss a model trains: the classifier's log-loss (softmax
    cross-entropy for multiclass targets, per-output logistic otherwise), the
    regressor's `loss` parameter."""
    if not is_classifier:
        return estimator_loss
    return "cross_entropy" if y_type == "multiclass" else "binary_cross_entropy"


def engine_loss(out_activation, n_outputs, estimator_loss=None):
    """The engine's loss for a model with this output activation, and the
    factor that makes its reported value scikit-learn's.  estimator_loss: the
    regressor's `loss` parameter, used when its output activation is this one
    (a robust loss trains as itself; a fitted model whose `loss` was changed
    since predicts with the loss of its output activation)."""
    if _engine.OUTPUT_ACTIVATIONS.get(estimator_loss) == out_activation:
        loss = estimator_loss
    else:
        loss = ENGINE_LOSS[out_activation]
    if loss == "squared_error":
        # scikit-learn averages the squared error over outputs in the loss it
        # reports but sums over them in the gradient.
        return loss, 1.0 / n_outputs
    return loss, 1.0


def output_loss(out_activation, output, y, sample_weight, loss=None, loss_param=None):
    """The data term (no L2 or L1 penalty) of the loss of the output
    activations `output` (n_samples, n_outputs) against the targets y
    (binarized labels for the classifier), as scikit-learn defines it:
    probabilities clipped to [eps, 1 - eps] of their dtype, half the squared
    error averaged over outputs, the Poisson half deviance; a mean over
    samples weighted by sample_weight.  loss, loss_param: a robust loss of
    the regressor and its parameter (summed over outputs, as trained).

    The validation loss of early stopping.  The engine computes its training
    loss from the pre-activations (fused with the gradient, without
    clipping); prediction returns only the activations, so the validation
    loss is computed here, in float64."""
    y = np.asarray(y, dtype=np.float64).reshape(output.shape)
    if out_activation in ("softmax", "logistic"):
        eps = np.finfo(output.dtype).eps
        prob = np.clip(output, eps, 1 - eps)
        per_sample = -xlogy(y, prob.astype(np.float64)).sum(axis=1)
        if out_activation == "logistic":
            per_sample -= xlogy(1 - y, (1 - prob).astype(np.float64)).sum(axis=1)
    elif loss in ROBUST_LOSSES:
        residual = output.astype(np.float64) - y
        with np.errstate(over="ignore", invalid="ignore"):
            if loss == "absolute_error":
                per_sample = np.abs(residual).sum(axis=1)
            elif loss == "huber":
                r = np.abs(residual)
                per_sample = np.where(
                    r <= loss_param, 0.5 * r**2, loss_param * (r - 0.5 * loss_param)
                ).sum(axis=1)
            else:
                per_sample = np.maximum(
                    -loss_param * residual, (1 - loss_param) * residual
                ).sum(axis=1)
    elif out_activation == "exp":
        pred = output.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            per_sample = (xlogy(y, y / pred) - y + pred).sum(axis=1)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            per_sample = 0.5 * ((output.astype(np.float64) - y) ** 2).mean(axis=1)
    return float(np.average(per_sample, weights=sample_weight))
