"""scikit-learn 1.9's behaviour on every supported scikit-learn (1.6+).

fastmlp behaves the same whatever scikit-learn is installed.  Where a helper
it borrows from scikit-learn changed between releases, the wrapper here gives
1.9's behaviour; each difference is detected from the installed release's
signature, not from its version number.
"""

import inspect

import numpy as np
from sklearn.utils.validation import _check_sample_weight

# 1.9's _check_sample_weight rejects all-zero weights (allow_all_zero_weights
# turns that off) and names the dimensions of a weight array that is not 1-D
_REJECTS_ALL_ZERO_WEIGHTS = (
    "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
)


def check_sample_weight(sample_weight, X):
    """Validate sample_weight for X (already validated): a C-contiguous
    float array of shape (n_samples,), as scikit-learn 1.9's
    ``_check_sample_weight`` returns it and with its errors."""
    if _REJECTS_ALL_ZERO_WEIGHTS:
        return _check_sample_weight(sample_weight, X)
    try:
        sample_weight = _check_sample_weight(sample_weight, X)
    except ValueError as exc:
        if str(exc) != "Sample weights must be 1D array or scalar":
            raise
        ndim = np.ndim(sample_weight)
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {ndim}D array. "
            f"Expected either a scalar value or a 1D array of length {X.shape[0]}."
        ) from None
    if np.all(sample_weight == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight
