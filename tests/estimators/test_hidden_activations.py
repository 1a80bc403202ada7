"""hidden_activations(X, layer): a hidden layer's output as predict computes
it, checked against NumPy from the public attributes (coefs_, intercepts_,
batch_norm_*)."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression

from conftest import reference_hidden
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def clf(data):
    X, y = data
    return MLPClassifier(
        hidden_layer_sizes=(6, 5, 4), activation=["tanh", "gelu", "leaky_relu"],
        batch_norm=[False, True, False], dropout=0.2, max_iter=30, random_state=0,
    ).fit(X, y)


@pytest.mark.parametrize("layer", [0, 1, 2, -1, -2, -3])
def test_matches_numpy(clf, data, layer):
    X, _ = data
    expected = reference_hidden(clf, X, layer % 3)
    got = clf.hidden_activations(X, layer=layer)
    assert got.shape == (X.shape[0], clf.coefs_[layer % 3].shape[1])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_default_is_last_hidden_layer(clf, data):
    X, _ = data
    np.testing.assert_array_equal(clf.hidden_activations(X), clf.hidden_activations(X, 2))


@pytest.mark.parametrize("layer", [3, -4, 10, 1.0, "0", True, None])
def test_bad_layer(clf, data, layer):
    with pytest.raises(ValueError, match="layer must be an integer from -3 to 2"):
        clf.hidden_activations(data[0], layer=layer)


def test_no_hidden_layer(data):
    X, y = data
    est = MLPClassifier(hidden_layer_sizes=(), max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="0 hidden layers"):
        est.hidden_activations(X)


def test_input_validated_like_predict(clf, data):
    X, _ = data
    with pytest.raises(ValueError, match="features"):
        clf.hidden_activations(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.hidden_activations(np.full_like(X, np.nan))
    with pytest.raises(Exception, match="not fitted"):
        MLPClassifier().hidden_activations(X)


def test_float32_and_sparse():
    X, y = make_regression(n_samples=120, n_features=6, random_state=1)
    X32 = X.astype(np.float32)
    reg = MLPRegressor(hidden_layer_sizes=(7, 3), activation="relu", max_iter=20,
                       random_state=0).fit(X32, y)
    got = reg.hidden_activations(X32, layer=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_hidden(reg, X32, 0), rtol=2e-5, atol=2e-5)
    for fmt in ("csr", "csc"):
        X_sparse = sp.random(10, 6, density=0.4, format=fmt, random_state=0,
                             dtype=np.float32)
        np.testing.assert_allclose(reg.hidden_activations(X_sparse),
                                   reg.hidden_activations(X_sparse.toarray()),
                                   rtol=1e-5, atol=1e-6)


def test_pickle_and_estimator_kind(clf, data):
    X, _ = data
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.hidden_activations(X, 1), clf.hidden_activations(X, 1))
    assert is_classifier(clf) and not is_regressor(clf)
    tags = clf.__sklearn_tags__()
    assert tags.estimator_type == "classifier" and tags.transformer_tags is None
    assert not hasattr(clf, "transform")
    assert is_regressor(MLPRegressor())
