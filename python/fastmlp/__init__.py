"""fastmlp: multilayer perceptrons with a C engine, scikit-learn compatible."""
from fastmlp import _engine  # noqa: F401  (loads the engine and its BLAS)

__version__ = "0.1.0"
