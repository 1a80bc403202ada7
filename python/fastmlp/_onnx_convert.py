"""skl2onnx shape calculators and converters for fastmlp's estimators.

Importing this module imports skl2onnx and onnx; only
``fastmlp.register_onnx_converters`` does, so ``import fastmlp`` stays light.

The graph is rebuilt from ``_inference_layers()``: one ``Gemm`` per layer
(``x @ coef + intercept``) followed by its activation.  It computes in the
input's float type, as skl2onnx does for scikit-learn's MLP: double for a
float64 input, float otherwise (the weights are cast to it).  Outputs follow
skl2onnx's conventions for scikit-learn's ``MLPClassifier`` (``label`` and
``probabilities``, then ZipMap unless ``zipmap=False``) and ``MLPRegressor``
(``variable``, of shape ``(n_samples, n_outputs)``).
"""
import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int32TensorType,
    Int64TensorType,
    StringTensorType,
)
from skl2onnx.common.utils import (
    check_input_and_output_numbers,
    check_input_and_output_types,
)
from skl2onnx.common.utils_classifier import get_label_classes
from sklearn.utils.validation import check_is_fitted

from fastmlp._multilayer_perceptron import MLPClassifier, MLPRegressor

# Where (used by leaky_relu and elu in double) exists from opset 9 on.
MIN_OPSET = 9
# Gelu (with approximate='tanh') exists from opset 20 on; before, it is
# built from Tanh, Mul and Add (in double too, see _gelu).
GELU_OPSET = 20

_INPUT_TYPES = [
    FloatTensorType,
    DoubleTensorType,
    Int64TensorType,
    Int32TensorType,
    BooleanTensorType,
]
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)


class _Graph:
    """Adds nodes and constants to skl2onnx's container, in one float type."""

    def __init__(self, scope, container, float_proto):
        self.scope = scope
        self.container = container
        self.float_proto = float_proto
        double = float_proto == TensorProto.DOUBLE
        self.float_dtype = np.float64 if double else np.float32
        self.opset = container.target_opset

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, value, dtype=None):
        """A numeric initializer, stored bit for bit (raw data)."""
        value = np.asarray(value, dtype=self.float_dtype if dtype is None else dtype)
        name = self.name(hint)
        tensor = numpy_helper.from_array(value, name)
        self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name

    def node(self, op_type, inputs, hint, output=None, op_domain="", **attrs):
        output = self.name(hint) if output is None else output
        self.container.add_node(
            op_type,
            inputs,
            output,
            op_domain=op_domain,
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output


# ----------------------------------------------------------------------
# Activations: name -> function(graph, x, model) returning the output name


def _identity(g, x, model):
    return x


def _logistic(g, x, model):
    return g.node("Sigmoid", [x], "sigmoid")


def _tanh(g, x, model):
    return g.node("Tanh", [x], "tanh")


def _relu(g, x, model):
    return g.node("Relu", [x], "relu")


def _positive_or(g, x, negative_branch):
    """x where x > 0, negative_branch elsewhere."""
    positive = g.node("Greater", [x, g.constant("zero", 0.0)], "positive")
    return g.node("Where", [positive, x, negative_branch], "where")


def _leaky_relu(g, x, model):
    slope = float(model.leaky_relu_slope)
    if g.float_proto == TensorProto.FLOAT:
        return g.node("LeakyRelu", [x], "leaky_relu", alpha=slope)
    # onnxruntime has no double LeakyRelu, and ONNX attributes are float32
    # (the slope would lose digits): built from primitives instead.
    scaled = g.node("Mul", [x, g.constant("slope", slope)], "scaled")
    return _positive_or(g, x, scaled)


def _elu(g, x, model):
    if g.float_proto == TensorProto.FLOAT:
        return g.node("Elu", [x], "elu", alpha=1.0)
    # onnxruntime has no double Elu: exp(x) - 1 where x <= 0.
    exp = g.node("Exp", [x], "exp")
    exp_minus_one = g.node("Sub", [exp, g.constant("one", 1.0)], "expm1")
    return _positive_or(g, x, exp_minus_one)


def _gelu(g, x, model):
    if g.opset >= GELU_OPSET and g.float_proto == TensorProto.FLOAT:
        return g.node("Gelu", [x], "gelu", approximate="tanh")
    # Before opset 20, and in double (onnxruntime's double Gelu is only
    # float-accurate, off by ~1e-8): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    x2 = g.node("Mul", [x, x], "x2")
    x3 = g.node("Mul", [x2, x], "x3")
    cubic = g.node("Mul", [x3, g.constant("gelu_c", 0.044715)], "cubic")
    inner = g.node("Add", [x, cubic], "inner")
    scaled = g.node("Mul", [inner, g.constant("sqrt_2_pi", _SQRT_2_OVER_PI)], "scaled")
    tanh = g.node("Tanh", [scaled], "tanh")
    one_plus = g.node("Add", [tanh, g.constant("one", 1.0)], "one_plus")
    half_x = g.node("Mul", [x, g.constant("half", 0.5)], "half_x")
    return g.node("Mul", [half_x, one_plus], "gelu")


def _swish(g, x, model):
    if g.float_proto == TensorProto.FLOAT:
        sigmoid = g.node("Sigmoid", [x], "sigmoid")
        return g.node("Mul", [x, sigmoid], "swish")
    # onnxruntime before 1.31 fuses x * Sigmoid(x) into its float-only
    # QuickGelu even in double (and then fails): x / (1 + exp(-x)) instead.
    exp = g.node("Exp", [g.node("Neg", [x], "neg")], "exp")
    denominator = g.node("Add", [exp, g.constant("one", 1.0)], "denominator")
    return g.node("Div", [x, denominator], "swish")


def _softmax(g, x, model):
    return g.node("Softmax", [x], "softmax", axis=1)


def _exp(g, x, model):
    return g.node("Exp", [x], "exp")


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "swish": _swish,
    "softmax": _softmax,
    "exp": _exp,
}


# ----------------------------------------------------------------------
# Shared pieces


def _float_type(input_type):
    """The graph's float type for an input type (skl2onnx's convention)."""
    if isinstance(input_type, DoubleTensorType):
        return DoubleTensorType
    return FloatTensorType


def _check_input(operator):
    model = operator.raw_operator
    check_is_fitted(model)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    shape = operator.inputs[0].type.shape
    width_known = len(shape) == 2 and isinstance(shape[1], (int, np.integer))
    if len(shape) != 2 or (width_known and shape[1] != model.n_features_in_):
        raise ValueError(
            f"{type(model).__name__} expects inputs of shape (n_samples, "
            f"{model.n_features_in_}); the ONNX input is declared {list(shape)}."
        )


def _forward(scope, operator, container):
    """The output layer's activation, (n_samples, n_outputs), by name."""
    model = operator.raw_operator
    if container.target_opset < MIN_OPSET:
        raise RuntimeError(
            f"fastmlp's ONNX converters need target_opset >= {MIN_OPSET}, "
            f"got {container.target_opset}."
        )
    float_type = _float_type(operator.inputs[0].type)
    double = float_type is DoubleTensorType
    g = _Graph(scope, container, TensorProto.DOUBLE if double else TensorProto.FLOAT)

    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, float_type):
        x = g.node("Cast", [x], "cast_input", to=g.float_proto)
    for coef, intercept, activation in model._inference_layers():
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Activation {activation!r} has no ONNX conversion; "
                f"supported: {sorted(ACTIVATIONS)}."
            )
        pre_activation = g.node(
            "Gemm",
            [x, g.constant("coef", coef), g.constant("intercept", intercept)],
            "pre_activation",
        )
        x = ACTIVATIONS[activation](g, pre_activation, model)
    return g, x


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _label_classes(scope, model):
    """classes_ as the label output holds them: int64 or strings."""
    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError(
                "ONNX class labels are integers or strings (as in skl2onnx); "
                f"this model's classes_ {classes} are not."
            )
        return classes.astype(np.int64)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise ValueError(
        "ONNX class labels are integers or strings (as in skl2onnx); "
        f"this model's classes_ {classes} are not."
    )


# ----------------------------------------------------------------------
# Shape calculators


def calculate_classifier_output_shapes(operator):
    """label: (N,) (the class) or (N, n_classes) (multilabel indicators);
    probabilities: (N, n_classes) in the input's float type."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    _check_input(operator)
    model = operator.raw_operator
    n_samples = operator.inputs[0].get_first_dimension()
    n_classes = len(model.classes_)
    if _is_multilabel(model):
        label_type = Int64TensorType([n_samples, n_classes])
    else:
        if n_classes < 2:
            raise ValueError(
                "A classifier fitted on a single class cannot be exported to ONNX."
            )
        classes = _label_classes(operator.scope_inst, model)
        label_cls = StringTensorType if classes.dtype.kind == "U" else Int64TensorType
        label_type = label_cls([n_samples])
    operator.outputs[0].type = label_type
    float_type = _float_type(operator.inputs[0].type)
    operator.outputs[1].type = float_type([n_samples, n_classes])


def calculate_regressor_output_shapes(operator):
    """variable: (N, n_outputs) in the input's float type."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    _check_input(operator)
    model = operator.raw_operator
    n_samples = operator.inputs[0].get_first_dimension()
    float_type = _float_type(operator.inputs[0].type)
    operator.outputs[0].type = float_type([n_samples, model.n_outputs_])


# ----------------------------------------------------------------------
# Converters


def convert_classifier(scope, operator, container):
    """MLPClassifier: label and probabilities, as fastmlp's predict and
    predict_proba compute them."""
    model = operator.raw_operator
    label_out = operator.outputs[0].full_name
    proba_out = operator.outputs[1].full_name
    g, output = _forward(scope, operator, container)
    int64 = np.int64

    if _is_multilabel(model):
        # K independent probabilities; the label is the indicator p > 0.5
        g.node("Identity", [output], "probabilities", output=proba_out)
        above = g.node("Greater", [output, g.constant("threshold", 0.5)], "above")
        g.node("Cast", [above], "label", output=label_out, to=TensorProto.INT64)
        return

    if model.n_outputs_ == 1:
        # binary: one logistic unit p, probabilities [1 - p, p], class p > 0.5
        negative = g.node("Sub", [g.constant("one", 1.0), output], "negative")
        g.node("Concat", [negative, output], "probabilities", output=proba_out, axis=1)
        above = g.node("Greater", [output, g.constant("threshold", 0.5)], "above")
        index_2d = g.node("Cast", [above], "index_2d", to=TensorProto.INT64)
        index = g.node(
            "Reshape", [index_2d, g.constant("flat", [-1], dtype=int64)], "index"
        )
    else:
        # multiclass: softmax, the first class of highest probability
        g.node("Identity", [output], "probabilities", output=proba_out)
        index = g.node("ArgMax", [output], "index", axis=1, keepdims=0)

    classes = _label_classes(scope, model)
    if classes.dtype.kind == "U":
        classes_name = g.name("classes")
        container.add_initializer(
            classes_name,
            TensorProto.STRING,
            [len(classes)],
            [c.encode("utf-8") for c in classes],
        )
    else:
        classes_name = g.constant("classes", classes, dtype=int64)
    g.node("Gather", [classes_name, index], "label", output=label_out, axis=0)


def convert_regressor(scope, operator, container):
    """MLPRegressor: the predictions, (n_samples, n_outputs)."""
    g, output = _forward(scope, operator, container)
    g.node("Identity", [output], "variable", output=operator.outputs[0].full_name)


def register():
    """Register both estimators with skl2onnx (idempotent)."""
    update_registered_converter(
        MLPClassifier,
        "FastmlpMLPClassifier",
        calculate_classifier_output_shapes,
        convert_classifier,
        # the options skl2onnx gives scikit-learn's MLPClassifier; with
        # 'zipmap' declared, skl2onnx parses it as a classifier
        options={
            "zipmap": [True, False, "columns"],
            "output_class_labels": [False, True],
            "nocl": [True, False],
        },
    )
    update_registered_converter(
        MLPRegressor,
        "FastmlpMLPRegressor",
        calculate_regressor_output_shapes,
        convert_regressor,
    )
