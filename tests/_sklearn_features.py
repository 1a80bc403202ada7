"""What the installed scikit-learn's MLP can do, for the tests that compare
fastmlp with it.

fastmlp behaves as scikit-learn 1.9's MLP whatever scikit-learn (1.6 or
newer) is installed.  Older releases' MLPs lack some of that behaviour, so a
test comparing fastmlp with one of them skips the comparison, with the reason
below.  Each feature is detected, not inferred from a version number.
"""
import inspect
import warnings

import numpy as np
import sklearn
import sklearn.neural_network as sk_nn
from sklearn.utils.class_weight import compute_class_weight

SKLEARN = f"scikit-learn {sklearn.__version__}"

# sample_weight in the MLPs' fit and partial_fit (scikit-learn 1.7)
HAS_SAMPLE_WEIGHT = "sample_weight" in inspect.signature(sk_nn.MLPClassifier.fit).parameters
NO_SAMPLE_WEIGHT = f"{SKLEARN}'s MLP has no sample_weight (1.7+)"

# MLPRegressor's loss parameter, with 'poisson' (scikit-learn 1.7)
HAS_LOSS = "loss" in inspect.signature(sk_nn.MLPRegressor).parameters
NO_LOSS = f"{SKLEARN}'s MLPRegressor has no loss parameter (loss='poisson' is 1.7+)"

# compute_class_weight's sample_weight
COMPUTE_CLASS_WEIGHT_HAS_SAMPLE_WEIGHT = (
    "sample_weight" in inspect.signature(compute_class_weight).parameters
)
NO_COMPUTE_CLASS_WEIGHT_SAMPLE_WEIGHT = (
    f"{SKLEARN}'s compute_class_weight has no sample_weight"
)


def _rejects_tiny_validation_set():
    # 10 rows hold out one for early stopping: scikit-learn 1.7+ raises
    # "The validation set is too small", older releases score on that one row
    X, y = np.arange(10.0)[:, None], np.arange(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sk_nn.MLPRegressor(early_stopping=True, max_iter=1, random_state=0).fit(X, y)
        except ValueError as exc:
            return "validation set is too small" in str(exc)
    return False


REJECTS_TINY_VALIDATION_SET = _rejects_tiny_validation_set()
NO_TINY_VALIDATION_ERROR = (
    f"{SKLEARN}'s MLP trains on a validation set of one row (1.7+ raises "
    "'The validation set is too small', as fastmlp does)"
)
