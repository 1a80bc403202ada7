"""Checks of the estimators' options and inputs beyond scikit-learn's
``_parameter_constraints``: per-hidden-layer settings, callbacks, partial_fit's
classes, L-BFGS's result, and X as the engine reads it.

Error and warning messages are part of the public behaviour: keep them.
"""

import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import unique_labels

from fastmlp import _engine


def check_hidden_layer_sizes(hidden_layer_sizes):
    """hidden_layer_sizes as a list (a single int is one hidden layer)."""
    if not hasattr(hidden_layer_sizes, "__iter__"):
        hidden_layer_sizes = [hidden_layer_sizes]
    hidden_layer_sizes = list(hidden_layer_sizes)
    if np.any(np.array(hidden_layer_sizes) <= 0):
        raise ValueError(
            "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes
        )
    return hidden_layer_sizes


def per_hidden_layer(value, n_hidden, name, check):
    """A parameter given once for all hidden layers or as a list with one
    entry per hidden layer, as a list of n_hidden checked entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_hidden:
            raise ValueError(
                f"{name} has {len(value)} entries but the network has {n_hidden} "
                f"hidden layers; give one per hidden layer, or a single value."
            )
        return [check(v, name) for v in value]
    return [check(value, name)] * n_hidden


def check_activation_name(value, name):
    if value not in _engine.HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"{name} entries must be among {sorted(_engine.HIDDEN_ACTIVATIONS)}, "
            f"got {value!r}."
        )
    return value


def check_dropout_rate(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not (
        0 <= value < 1
    ):
        raise ValueError(f"{name} rates must be numbers in [0, 1), got {value!r}.")
    return float(value)


def check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} entries must be True or False, got {value!r}.")
    return bool(value)


def check_callbacks(callbacks):
    """callbacks must be None or a list (tuple) of callables."""
    for i, callback in enumerate(callbacks or ()):
        if not callable(callback):
            raise TypeError(
                f"callbacks must be a list of callables called as "
                f"callback(epoch, logs, estimator); callbacks[{i}] is {callback!r} "
                f"({type(callback).__name__}), which is not callable."
            )


def check_partial_fit_first_call(clf, classes):
    """True on the first partial_fit call (when it sets classes_)."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(
                    "`classes=%r` is not the same as on last call "
                    "to partial_fit, was: %r" % (classes, clf.classes_)
                )
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


def engine_input(X, dtype):
    """X as the engine reads it (an ``_engine.Input``): C-contiguous dense or
    CSR, of `dtype`; at most one conversion of the caller's data."""
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        if X.dtype != dtype:
            X = X.astype(dtype)
    else:
        X = np.ascontiguousarray(X, dtype=dtype)
    return _engine.Input(X, dtype)


def check_lbfgs_result(result, max_iter):
    """n_iter_ of an L-BFGS run; warns, as scikit-learn does, when it did not
    converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return n_iter


def check_augmentation(estimator):
    """Data augmentation (input_noise, mixup_alpha) acts on the mini-batches
    of the stochastic solvers: 'lbfgs' refuses it rather than ignore it."""
    noise = np.asarray(estimator.input_noise, dtype=np.float64)
    if estimator.solver == "lbfgs" and (np.any(noise != 0) or estimator.mixup_alpha > 0):
        raise ValueError(
            "input_noise and mixup_alpha augment mini-batches: use a stochastic "
            "solver ('sgd', 'adam', 'rmsprop', 'adamw'), not 'lbfgs'"
        )
