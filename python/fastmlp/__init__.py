"""fastmlp: multilayer perceptrons with a C engine, scikit-learn compatible.

``from fastmlp import MLPClassifier`` replaces
``from sklearn.neural_network import MLPClassifier``: same parameters,
attributes and models, trained by a C engine.
"""
from fastmlp._multilayer_perceptron import MLPClassifier, MLPRegressor
from fastmlp._onnx import register_onnx_converters, to_onnx
from fastmlp._plotting import plot_loss_curve
from fastmlp._show_config import show_config

# The one place the version is written: the build (scikit-build-core's regex
# provider, pyproject.toml) and pickles read it from here.
__version__ = "0.1.0"
__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "plot_loss_curve",
    "register_onnx_converters",
    "show_config",
    "to_onnx",
]
