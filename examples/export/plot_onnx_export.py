"""
=====================
Export to ONNX
=====================

:func:`fastmlp.to_onnx` converts a fitted model to an ONNX graph with
skl2onnx (``pip install "fastmlp[onnx]"`` installs skl2onnx, onnx and
onnxruntime).  Any ONNX runtime can then run it, from Python, C++, C#,
Java or JavaScript, without fastmlp or scikit-learn.
"""

# %%
# A classifier, exported and run with onnxruntime
# -----------------------------------------------
# The sample passed as second argument gives the input's type and width: a
# float32 sample gives a graph computing in float32.  ``zipmap=False`` makes
# the probabilities one tensor (skl2onnx's default is a list of
# ``{class: probability}`` dicts).
import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

clf = MLPClassifier(hidden_layer_sizes=(64, 32), activation=["gelu", "relu"],
                    max_iter=300, random_state=0).fit(X_train, y_train)

onx = fastmlp.to_onnx(clf, X_train[:1], options={"zipmap": False})
input_type = onnx.TensorProto.DataType.Name(onx.graph.input[0].type.tensor_type.elem_type)
print("input:", onx.graph.input[0].name, input_type)
print("outputs:", [o.name for o in onx.graph.output])
print("operators:", sorted({node.op_type for node in onx.graph.node}))

session = ort.InferenceSession(onx.SerializeToString(),
                               providers=["CPUExecutionProvider"])
label, proba = session.run(None, {"X": X_test})
print("labels equal to predict:", np.array_equal(label, clf.predict(X_test)))
print(f"max |difference| with predict_proba: "
      f"{np.abs(proba - clf.predict_proba(X_test)).max():.2e}")

# %%
# The graph can be saved to a file and loaded by any ONNX runtime:
#
# .. code-block:: python
#
#    with open("digits.onnx", "wb") as f:
#        f.write(onx.SerializeToString())
#
# A regressor in float64, inside a pipeline
# -----------------------------------------
# After :func:`fastmlp.register_onnx_converters` (which ``to_onnx`` calls
# itself), skl2onnx converts fastmlp's estimators wherever they are, in
# pipelines too.  A float64 sample gives a graph computing in double
# precision.
import skl2onnx  # noqa: E402

fastmlp.register_onnx_converters()

X, y = make_regression(n_samples=2000, n_features=10, noise=5, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y / y.std(), random_state=0)
reg = make_pipeline(StandardScaler(),
                    MLPRegressor(hidden_layer_sizes=(32,), activation="swish",
                                 max_iter=300, random_state=0)).fit(X_train, y_train)

onx = skl2onnx.to_onnx(reg, X_train[:1])
session = ort.InferenceSession(onx.SerializeToString(),
                               providers=["CPUExecutionProvider"])
(predicted,) = session.run(None, {"X": X_test})
print("output shape:", predicted.shape)
print(f"max |difference| with predict: "
      f"{np.abs(predicted.ravel() - reg.predict(X_test)).max():.2e}")
