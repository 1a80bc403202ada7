"""ONNX export (fastmlp.to_onnx, the skl2onnx converters): onnxruntime's
outputs against fastmlp's predict / predict_proba for every kind of model,
every hidden activation and both float types.

The activations leaky_relu, elu, gelu and swish are also checked graph by
graph against a NumPy forward pass (test_activation_graph_*), so their ONNX
conversion is tested whatever the estimator can fit.
"""

import subprocess
import warnings
import sys

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from _engine_ref import activation as reference_activation
from fastmlp import MLPClassifier, MLPRegressor

# The onnx extra, which does not install everywhere fastmlp does
# (onnxruntime needs a newer NumPy than fastmlp's oldest): without it the
# module is skipped.
_NO_ONNX = "the onnx extra (skl2onnx, onnx, onnxruntime) is not installed"
ort = pytest.importorskip("onnxruntime", reason=_NO_ONNX)
skl2onnx = pytest.importorskip("skl2onnx", reason=_NO_ONNX)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HIDDEN_ACTIVATIONS = [
    "identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish",
]
KINDS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]
DTYPES = [np.float32, np.float64]
# onnxruntime against fastmlp, absolute (probabilities) or absolute and
# relative (regression outputs, which may exceed 1)
TOL = {np.float32: 1e-5, np.float64: 1e-12}
# a leaky_relu slope other than the default, so the export must read it
LEAKY_SLOPE = 0.2

RNG = np.random.RandomState(0)
X_TRAIN = RNG.randn(150, 5)
# wider than the training data: saturated units, both signs everywhere
X_TEST = 1.5 * RNG.randn(300, 5)


def _targets(kind, X):
    score = X[:, 0] + 0.8 * X[:, 1] - 0.5 * X[:, 2] * X[:, 3]
    if kind == "binary":
        return np.where(score > 0, 3, -1)
    if kind == "multiclass":
        names = np.array(["cat", "dog", "emu"])
        return names[np.digitize(score, [-0.6, 0.6])]
    if kind == "multilabel":
        return np.column_stack([score > 0, X[:, 1] > 0.3, X[:, 3] < 0.5]).astype(int)
    if kind == "regression":
        return score
    if kind == "multioutput":
        return np.column_stack([score, np.sin(X[:, 0]), X[:, 4] ** 2])
    if kind == "poisson":
        return np.random.RandomState(1).poisson(np.exp(0.5 * score))
    raise ValueError(kind)


def _fit(kind, dtype, activation="relu", hidden_layer_sizes=(6, 5)):
    params = dict(
        hidden_layer_sizes=hidden_layer_sizes,
        activation=activation,
        # some L2 keeps the weights moderate: float32 rounding differences
        # grow with them (an unregularized deep tanh net reaches |W| ~ 10
        # and differs from the exact float64 result by 1e-5 both in fastmlp
        # and in onnxruntime)
        alpha=0.1,
        solver="lbfgs",
        max_iter=150,
        random_state=0,
    )
    if activation == "leaky_relu":
        params["leaky_relu_slope"] = LEAKY_SLOPE
    if kind == "poisson":
        params["loss"] = "poisson"
    cls = MLPClassifier if kind in ("binary", "multiclass", "multilabel") else MLPRegressor
    return cls(**params).fit(X_TRAIN.astype(dtype), _targets(kind, X_TRAIN))


def _run(onx, X):
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def _check_against_predict(model, dtype):
    """onnxruntime's outputs equal predict's and predict_proba's; returns
    the largest absolute difference of the probabilities / predictions."""
    X = X_TEST.astype(dtype)
    options = {"zipmap": False} if isinstance(model, MLPClassifier) else None
    onx = fastmlp.to_onnx(model, X[:1], options=options)
    outputs = _run(onx, X)
    tol = TOL[dtype]
    if isinstance(model, MLPClassifier):
        label, proba = outputs
        expected_proba = model.predict_proba(X)
        expected_label = model.predict(X)
        assert proba.dtype == dtype and proba.shape == expected_proba.shape
        np.testing.assert_allclose(proba, expected_proba, rtol=0, atol=tol)
        np.testing.assert_array_equal(label, expected_label)
        # a meaningful model: not one class for every sample
        assert len(np.unique(expected_label, axis=0)) > 1
        return np.abs(proba - expected_proba).max()
    (prediction,) = outputs
    expected = model.predict(X).reshape(len(X), -1)
    assert prediction.dtype == dtype and prediction.shape == (len(X), model.n_outputs_)
    np.testing.assert_allclose(prediction, expected, rtol=tol, atol=tol)
    return np.abs(prediction - expected).max()


# ---------------------------------------------------------------------------
# End to end: fitted estimators


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_matches_fastmlp(kind, dtype, activation):
    model = _fit(kind, dtype, activation)
    # float32 models stay float32 (the graph then computes in float)
    assert model.coefs_[0].dtype == dtype
    _check_against_predict(model, dtype)


@pytest.mark.parametrize(
    "hidden_layer_sizes", [(), (7,), (6, 5), (5, 4, 3, 4)], ids=lambda h: f"depth{len(h)}"
)
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_matches_fastmlp_any_depth(kind, hidden_layer_sizes):
    model = _fit(kind, np.float32, "tanh", hidden_layer_sizes)
    assert len(model.coefs_) == len(hidden_layer_sizes) + 1
    _check_against_predict(model, np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_float32_model_float64_input_computes_in_double(dtype):
    # skl2onnx's convention: the input's type sets the graph's; fastmlp
    # likewise predicts in float64 for float64 input whatever the weights
    model = _fit("multiclass", dtype)
    onx = fastmlp.to_onnx(model, X_TEST[:1], options={"zipmap": False})
    label, proba = _run(onx, X_TEST)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, model.predict_proba(X_TEST), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(label, model.predict(X_TEST))


def test_integer_input_is_cast_to_float():
    model = _fit("binary", np.float32)
    X = np.round(X_TEST * 2).astype(np.int64)
    label, proba = _run(fastmlp.to_onnx(model, X[:1], options={"zipmap": False}), X)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, model.predict(X))


# ---------------------------------------------------------------------------
# The activations' graphs, against NumPy, independently of the estimator


def _override_layers(monkeypatch, model, dtype, activation, seed=2):
    """Make the fitted model's _inference_layers (what the exporter reads)
    return random weights of its shapes with `activation` in every hidden
    layer (the output activation kept); returns those layers."""
    rng = np.random.RandomState(seed)
    fitted = model._inference_layers()
    layers = []
    for i, (coef, _, output_activation) in enumerate(fitted):
        fan_in, fan_out = coef.shape
        layers.append((
            (rng.randn(fan_in, fan_out) * 1.2 / np.sqrt(fan_in)).astype(dtype),
            (0.3 * rng.randn(fan_out)).astype(dtype),
            activation if i < len(fitted) - 1 else output_activation,
        ))
    # an instance attribute: skl2onnx finds converters by exact type, so a
    # test subclass would not be converted
    monkeypatch.setattr(model, "_inference_layers", lambda: list(layers))
    monkeypatch.setattr(model, "leaky_relu_slope", LEAKY_SLOPE, raising=False)
    return layers


def _with_layers(monkeypatch, dtype, activation):
    """A fitted regressor (identity output) with _override_layers."""
    model = _fit("multioutput", dtype, "relu", (6, 5))
    return model, _override_layers(monkeypatch, model, dtype, activation)


def _reference_forward(layers, X, slope):
    a = X.astype(np.float64)
    for i, (coef, intercept, activation) in enumerate(layers):
        z = a @ coef.astype(np.float64) + intercept.astype(np.float64)
        if i < len(layers) - 1:
            # both branches of the piecewise activations are exercised
            assert (z < -0.5).any() and (z > 0.5).any()
        a = reference_activation(activation, z, slope)
    return a


def _op_types(onx):
    return {node.op_type for node in onx.graph.node}


# the ONNX operators expected where ONNX (and onnxruntime) have one
EXPECTED_OPS = {
    (np.float32, "logistic"): {"Sigmoid"},
    (np.float32, "tanh"): {"Tanh"},
    (np.float32, "relu"): {"Relu"},
    (np.float32, "leaky_relu"): {"LeakyRelu"},
    (np.float32, "elu"): {"Elu"},
    (np.float32, "gelu"): {"Gelu"},
    (np.float32, "swish"): {"Sigmoid", "Mul"},
    # onnxruntime has no double LeakyRelu and Elu kernels
    (np.float64, "leaky_relu"): {"Where", "Mul"},
    (np.float64, "elu"): {"Where", "Exp"},
    # onnxruntime's double Gelu is only float-accurate
    (np.float64, "gelu"): {"Tanh", "Mul"},
    # onnxruntime < 1.31 would fuse x * Sigmoid(x) into a float-only kernel
    (np.float64, "swish"): {"Exp", "Div"},
}


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_activation_graph_matches_numpy(monkeypatch, dtype, activation):
    model, layers = _with_layers(monkeypatch, dtype, activation)
    X = X_TEST.astype(dtype)
    onx = fastmlp.to_onnx(model, X[:1])
    assert EXPECTED_OPS.get((dtype, activation), set()) <= _op_types(onx)
    (prediction,) = _run(onx, X)
    expected = _reference_forward(layers, X, LEAKY_SLOPE)
    assert prediction.dtype == dtype
    np.testing.assert_allclose(prediction, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_gelu_before_opset_20_is_built_from_primitives(monkeypatch, dtype):
    model, layers = _with_layers(monkeypatch, dtype, "gelu")
    X = X_TEST.astype(dtype)
    onx = fastmlp.to_onnx(model, X[:1], target_opset=18)
    assert "Gelu" not in _op_types(onx) and "Tanh" in _op_types(onx)
    assert max(o.version for o in onx.opset_import if o.domain in ("", "ai.onnx")) <= 18
    (prediction,) = _run(onx, X)
    expected = _reference_forward(layers, X, LEAKY_SLOPE)
    np.testing.assert_allclose(prediction, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "gelu", "swish"])
def test_new_activations_in_a_classifier_graph(monkeypatch, activation):
    # the classifier's head (softmax, argmax, string labels) after them
    model = _fit("multiclass", np.float32, "relu", (6, 5))
    layers = _override_layers(monkeypatch, model, np.float32, activation, seed=3)
    assert layers[-1][2] == "softmax"
    X = X_TEST.astype(np.float32)
    label, proba = _run(fastmlp.to_onnx(model, X[:1], options={"zipmap": False}), X)
    expected = _reference_forward(layers, X, LEAKY_SLOPE)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, model.classes_[expected.argmax(axis=1)])
    assert len(np.unique(label)) > 1


# ---------------------------------------------------------------------------
# skl2onnx integration and errors


def test_skl2onnx_to_onnx_after_registering_in_a_pipeline():
    fastmlp.register_onnx_converters()
    model = _fit("multiclass", np.float32)
    pipe = make_pipeline(StandardScaler(), model).fit(
        X_TRAIN.astype(np.float32), _targets("multiclass", X_TRAIN)
    )
    X = X_TEST.astype(np.float32)
    onx = skl2onnx.to_onnx(pipe, X[:1])
    # default options: skl2onnx's ZipMap, one {class: probability} per row
    label, proba_maps = _run(onx, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    expected = pipe.predict_proba(X)
    got = np.array([[row[c] for c in pipe.classes_] for row in proba_maps])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_output_names_follow_skl2onnx():
    clf = _fit("binary", np.float32)
    X = X_TEST[:1].astype(np.float32)
    names = lambda onx: [o.name for o in onx.graph.output]  # noqa: E731
    assert names(fastmlp.to_onnx(clf, X)) == ["output_label", "output_probability"]
    assert names(fastmlp.to_onnx(clf, X, options={"zipmap": False})) == [
        "label", "probabilities",
    ]
    assert names(fastmlp.to_onnx(_fit("regression", np.float32), X)) == ["variable"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_to_onnx_without_X_declares_the_input_from_the_model(dtype):
    model = _fit("multioutput", dtype)
    onx = fastmlp.to_onnx(model)
    (prediction,) = _run(onx, X_TEST.astype(dtype))
    assert prediction.dtype == dtype
    np.testing.assert_allclose(
        prediction, model.predict(X_TEST.astype(dtype)), rtol=TOL[dtype], atol=TOL[dtype]
    )


def test_unfitted_model_raises_not_fitted():
    with pytest.raises(NotFittedError):
        fastmlp.to_onnx(MLPClassifier(), X_TEST[:1])


def test_input_of_the_wrong_width_is_rejected():
    from skl2onnx.common.data_types import FloatTensorType

    model = _fit("regression", np.float32)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(n_samples, 5\)"):
        fastmlp.to_onnx(model, initial_types=[("X", FloatTensorType([None, 4]))])


def test_missing_skl2onnx_names_the_extra(monkeypatch):
    model = _fit("regression", np.float32)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import skl2onnx fails
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[onnx\]"'):
        fastmlp.to_onnx(model, X_TEST[:1])
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[onnx\]"'):
        fastmlp.register_onnx_converters()


def test_import_fastmlp_does_not_import_onnx():
    code = (
        "import sys, fastmlp; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('skl2onnx', 'onnx', 'onnxruntime')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_batch_norm_model(kind, dtype):
    """A batch-norm model's graph (the running statistics folded into the
    weights) gives predict's outputs, and both equal a NumPy forward pass
    that applies the running statistics unfolded, as documented:
    scale * (z - mean) / sqrt(var + 1e-5) + shift before the activation."""
    cls = MLPClassifier if kind == "multiclass" else MLPRegressor
    model = cls(hidden_layer_sizes=(6, 5), activation="tanh", batch_norm=True, max_iter=60,
                learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_TRAIN.astype(dtype), _targets(kind, X_TRAIN))
    # the statistics moved away from their start (0, 1): folding matters
    assert np.abs(model.batch_norm_means_[0]).max() > 0.05
    _check_against_predict(model, dtype)
    h = X_TEST
    for layer, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        z = h @ W.astype(np.float64) + b
        if layer == len(model.coefs_) - 1:
            break
        z = (model.batch_norm_scales_[layer] * (z - model.batch_norm_means_[layer])
             / np.sqrt(model.batch_norm_vars_[layer].astype(np.float64) + 1e-5)
             + model.batch_norm_shifts_[layer])
        h = np.tanh(z)
    if kind == "multiclass":
        expected = np.exp(z - z.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        got = _run(fastmlp.to_onnx(model, X_TEST[:1].astype(dtype),
                                   options={"zipmap": False}), X_TEST.astype(dtype))[1]
    else:
        expected = z
        got = _run(fastmlp.to_onnx(model, X_TEST[:1].astype(dtype)), X_TEST.astype(dtype))[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=50 * TOL[dtype])
