"""Export to ONNX through skl2onnx (the optional extra ``fastmlp[onnx]``).

Nothing here imports skl2onnx or onnx until a function is called: they are
heavy and optional, and ``import fastmlp`` must not need them.
"""
import numpy as np

_INSTALL_HINT = 'pip install "fastmlp[onnx]"'


def _import_skl2onnx():
    try:
        import onnx  # noqa: F401  (skl2onnx needs it; a clear message if absent)
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            f"Exporting fastmlp models to ONNX needs skl2onnx and onnx ({exc}); "
            f"install them with: {_INSTALL_HINT}"
        ) from exc
    return skl2onnx


def register_onnx_converters():
    """Register fastmlp's estimators with skl2onnx.

    Afterwards skl2onnx converts a fitted :class:`~fastmlp.MLPClassifier`
    or :class:`~fastmlp.MLPRegressor` as it converts scikit-learn's, alone or
    inside a pipeline: ``skl2onnx.to_onnx(model, X[:1])`` just works.
    :func:`fastmlp.to_onnx` calls this itself. Calling it again is harmless.

    Raises
    ------
    ImportError
        If skl2onnx or onnx is not installed (``pip install "fastmlp[onnx]"``).

    Examples
    --------
    >>> import fastmlp, skl2onnx                             # doctest: +SKIP
    >>> fastmlp.register_onnx_converters()                   # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(model, X[:1])                 # doctest: +SKIP
    """
    _import_skl2onnx()
    from fastmlp import _onnx_convert

    _onnx_convert.register()


def to_onnx(model, X=None, *, target_opset=None, options=None, **kwargs):
    """Convert a fitted model to an ONNX graph with skl2onnx.

    The graph reproduces ``predict`` and ``predict_proba``: every layer and
    activation fastmlp supports (``leaky_relu``, ``elu``, ``gelu`` and
    ``swish`` included) maps to ONNX operators.

    Parameters
    ----------
    model : estimator
        A fitted :class:`~fastmlp.MLPClassifier` or
        :class:`~fastmlp.MLPRegressor`, or any scikit-learn object skl2onnx
        converts that contains them (a ``Pipeline``, for example).
    X : array-like of shape (n_samples, n_features), default=None
        A sample of the input, from which skl2onnx takes the input's name
        ``'X'``, type and width (one row is enough). A float64 input gives
        a graph computing in double, any other in float. When None and
        ``model`` is a fastmlp estimator, the input is declared from
        ``n_features_in_`` and the type of the model's weights.
    target_opset : int or dict, default=None
        The ONNX opset; None takes skl2onnx's default (its latest tested
        opset). Below opset 20, ``gelu`` is built from ``Tanh``, ``Mul`` and
        ``Add`` as ONNX has no ``Gelu`` operator there (so is it in double
        at any opset: onnxruntime's double ``Gelu`` is only float-accurate).
    options : dict, default=None
        skl2onnx's converter options. The classifier accepts scikit-learn
        MLPClassifier's: ``{'zipmap': False}`` gives the outputs ``label``
        and ``probabilities`` as tensors instead of ``output_label`` and a
        list of dictionaries ``output_probability``; ``'nocl'`` and
        ``'output_class_labels'`` as in skl2onnx.
    **kwargs
        Passed to :func:`skl2onnx.to_onnx` (``initial_types``, ``name``,
        ``final_types``...).

    Returns
    -------
    onnx.ModelProto
        The ONNX model; run it with ``onnxruntime.InferenceSession(
        onx.SerializeToString())``.

    Raises
    ------
    ImportError
        If skl2onnx or onnx is not installed (``pip install "fastmlp[onnx]"``).
    sklearn.exceptions.NotFittedError
        If the model is not fitted.

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort                # doctest: +SKIP
    >>> from fastmlp import MLPClassifier, to_onnx           # doctest: +SKIP
    >>> clf = MLPClassifier(max_iter=300).fit(X, y)          # doctest: +SKIP
    >>> onx = to_onnx(clf, X[:1].astype(np.float32),
    ...               options={"zipmap": False})              # doctest: +SKIP
    >>> sess = ort.InferenceSession(onx.SerializeToString()) # doctest: +SKIP
    >>> label, proba = sess.run(None, {"X": X.astype(np.float32)})  # doctest: +SKIP
    """
    skl2onnx = _import_skl2onnx()
    register_onnx_converters()

    from sklearn.utils.validation import check_is_fitted

    from fastmlp._multilayer_perceptron import BaseMultilayerPerceptron

    if isinstance(model, BaseMultilayerPerceptron):
        check_is_fitted(model)
        if X is None and kwargs.get("initial_types") is None:
            from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

            float64 = model.coefs_[0].dtype == np.float64
            tensor_type = DoubleTensorType if float64 else FloatTensorType
            kwargs["initial_types"] = [("X", tensor_type([None, model.n_features_in_]))]
    return skl2onnx.to_onnx(
        model, X, target_opset=target_opset, options=options, **kwargs
    )
