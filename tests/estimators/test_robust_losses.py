"""MLPRegressor's robust losses ('absolute_error', 'huber', 'quantile') and
MLPClassifier's label_smoothing: what each documents, measured."""
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import xlogy
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROBUST = ["absolute_error", "huber", "quantile"]


def outlier_problem(seed, n_samples=400, outlier_fraction=0.15):
    """y = sin(3 x0) + x1 + small noise; a fraction of the training targets
    replaced by gross outliers (+/- 10..20).  Clean held-out targets."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] + 0.1 * rng.standard_normal(n_samples)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=seed)
    bad = rng.random(y_train.shape[0]) < outlier_fraction
    y_train = y_train.copy()
    y_train[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(10, 20, bad.sum())
    return X_train, X_test, y_train, y_test


def fit_mae(loss, seed, **params):
    X_train, X_test, y_train, y_test = outlier_problem(seed)
    reg = MLPRegressor(hidden_layer_sizes=(32,), loss=loss, learning_rate_init=0.01,
                       max_iter=300, random_state=seed, **params).fit(X_train, y_train)
    return mean_absolute_error(y_test, reg.predict(X_test))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_robust_losses_beat_squared_error_on_outliers(seed):
    """Held-out absolute error on clean targets, training targets with 15%
    gross outliers (measured, seeds 0/1/2: squared error 1.21/1.06/1.35,
    huber (delta 0.5) 0.09/0.31/0.13, absolute error 0.09/0.11/0.10)."""
    squared = fit_mae("squared_error", seed)
    huber = fit_mae("huber", seed, huber_delta=0.5)
    absolute = fit_mae("absolute_error", seed)
    assert huber < 0.5 * squared, (huber, squared)
    assert absolute < 0.5 * squared, (absolute, squared)


def test_quantiles_cover_eighty_percent():
    """The 0.1 and 0.9 quantile models bracket about 80% of held-out targets
    (measured: 81.6% covered, 7.3% below, 11.1% above)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (2000, 1))
    y = np.sin(3 * X[:, 0]) + rng.standard_normal(2000) * (0.3 + 0.3 * (X[:, 0] > 0))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)
    common = dict(hidden_layer_sizes=(32,), loss="quantile", learning_rate_init=0.01,
                  max_iter=200, random_state=0)
    low = MLPRegressor(quantile=0.1, **common).fit(X_train, y_train).predict(X_test)
    high = MLPRegressor(quantile=0.9, **common).fit(X_train, y_train).predict(X_test)
    below = np.mean(y_test < low)
    above = np.mean(y_test > high)
    covered = np.mean((y_test >= low) & (y_test <= high))
    assert 0.74 <= covered <= 0.86, covered
    assert 0.05 <= below <= 0.15 and 0.05 <= above <= 0.15, (below, above)


@pytest.mark.parametrize("loss", ROBUST)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multi_output_and_score_is_r2(loss, solver):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], 2 * X[:, 2]])
    reg = MLPRegressor(loss=loss, solver=solver, learning_rate_init=0.01, max_iter=300,
                       random_state=0).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == Y.shape
    assert reg.score(X, Y) == pytest.approx(r2_score(Y, pred))
    assert reg.score(X, Y) > 0.9
    assert reg.out_activation_ == "identity"


@pytest.mark.parametrize("loss,param", [("absolute_error", None), ("huber", 0.7),
                                        ("quantile", 0.2)])
def test_reported_loss_is_the_documented_formula(loss, param):
    """loss_ of lbfgs (the loss at the final weights) against NumPy: the
    per-sample loss summed over outputs, weighted mean, plus the L2 term."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    Y = rng.standard_normal((60, 2))
    sw = rng.uniform(0.5, 2, 60)
    kw = {"huber": {"huber_delta": param}, "quantile": {"quantile": param}}.get(loss, {})
    reg = MLPRegressor(loss=loss, solver="lbfgs", hidden_layer_sizes=(5,), alpha=0.3,
                       max_iter=20, random_state=0, **kw).fit(X, Y, sample_weight=sw)
    r = reg.predict(X) - Y
    if loss == "absolute_error":
        per = np.abs(r)
    elif loss == "huber":
        per = np.where(np.abs(r) <= param, 0.5 * r**2, param * (np.abs(r) - 0.5 * param))
    else:
        per = np.maximum(-param * r, (1 - param) * r)
    data = np.average(per.sum(axis=1), weights=sw)
    l2 = 0.5 * 0.3 * sum((c**2).sum() for c in reg.coefs_) / sw.sum()
    assert reg.loss_ == pytest.approx(data + l2, rel=1e-9)


def test_huber_with_large_delta_is_squared_error_bit_for_bit():
    """Residuals all below delta: Huber is the half squared error, whose
    gradient sums over the output (one output here, so loss_ agrees too)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = 0.1 * X[:, 0]
    a = MLPRegressor(loss="huber", huber_delta=1e6, max_iter=5, random_state=0).fit(X, y)
    b = MLPRegressor(loss="squared_error", max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("loss", ROBUST)
def test_robust_validation_loss_uses_the_loss(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X[:, 0] + 0.1 * rng.standard_normal(200)
    reg = MLPRegressor(loss=loss, quantile=0.3, early_stopping=True, early_stopping_metric="loss",
                       max_iter=30, random_state=0).fit(X, y)
    assert len(reg.validation_loss_curve_) == reg.n_iter_
    assert all(np.isfinite(reg.validation_loss_curve_))


@pytest.mark.parametrize("loss", ROBUST)
def test_pickle_partial_fit_and_warm_start(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = X[:, 0]
    reg = MLPRegressor(loss=loss, huber_delta=0.3, quantile=0.8, max_iter=5, random_state=0)
    reg.fit(X, y)
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    assert again.get_params() == reg.get_params()
    # partial_fit trains the same loss as fit: one epoch of each agrees
    one = clone(reg).set_params(max_iter=1, shuffle=False).fit(X, y)
    inc = clone(reg).set_params(shuffle=False).partial_fit(X, y)
    np.testing.assert_array_equal(one.predict(X), inc.predict(X))
    warm = clone(reg).set_params(warm_start=True, max_iter=3)
    warm.fit(X, y)
    before = warm.loss_
    warm.fit(X, y)
    assert warm.loss_ < before


def test_quantile_orders_the_predictions():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (500, 1))
    y = X[:, 0] + rng.standard_normal(500)
    preds = [MLPRegressor(loss="quantile", quantile=q, learning_rate_init=0.01, max_iter=100,
                          random_state=0).fit(X, y).predict(X).mean()
             for q in (0.1, 0.5, 0.9)]
    assert preds[0] < preds[1] - 0.5 and preds[1] < preds[2] - 0.5


@pytest.mark.parametrize("params", [{"huber_delta": 0}, {"huber_delta": -1},
                                    {"quantile": 0}, {"quantile": 1}, {"loss": "hinge"}])
def test_invalid_parameters(params):
    X = np.ones((10, 2))
    y = np.arange(10.0)
    with pytest.raises(ValueError):
        MLPRegressor(**params).fit(X, y)


# ---------------------------------------------------------------- label_smoothing

def smoothed_log_loss(proba, Y, eps, multiclass):
    """The NumPy smoothed cross-entropy per sample (Y binarized)."""
    if multiclass:
        T = (1 - eps) * Y + eps / Y.shape[1]
        return -xlogy(T, proba).sum(axis=1)
    T = (1 - eps) * Y + eps / 2
    return -(xlogy(T, proba) + xlogy(1 - T, 1 - proba)).sum(axis=1)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_label_smoothing_loss_against_numpy(kind):
    if kind == "multilabel":
        X, y = make_multilabel_classification(80, 5, n_classes=3, random_state=0)
    else:
        X, y = make_classification(80, 5, n_informative=3, n_classes=2 if kind == "binary" else 3,
                                   random_state=0)
    eps, alpha = 0.2, 0.1
    clf = MLPClassifier(label_smoothing=eps, solver="lbfgs", hidden_layer_sizes=(6,),
                        alpha=alpha, max_iter=30, random_state=0).fit(X, y)
    if kind == "multilabel":
        Y, proba = y, clf.predict_proba(X)
    elif kind == "binary":
        Y, proba = y[:, None], clf.predict_proba(X)[:, 1:]
    else:
        Y, proba = np.eye(3)[y], clf.predict_proba(X)
    data = smoothed_log_loss(proba, Y, eps, kind == "multiclass").mean()
    l2 = 0.5 * alpha * sum((c**2).sum() for c in clf.coefs_) / X.shape[0]
    assert clf.loss_ == pytest.approx(data + l2, rel=1e-7)


def test_label_smoothing_bounds_the_confidence():
    """On separable data the unsmoothed model's probabilities go to 1; with
    eps = 0.2 they settle near 1 - eps + eps / 3 = 0.867 (the loss's minimum)."""
    X, y = make_classification(300, 4, n_informative=4, n_redundant=0, n_classes=3,
                               class_sep=4, random_state=0)
    common = dict(solver="lbfgs", max_iter=500, random_state=0)
    plain = MLPClassifier(**common).fit(X, y).predict_proba(X).max(axis=1)
    smooth = MLPClassifier(label_smoothing=0.2, **common).fit(X, y).predict_proba(X).max(axis=1)
    assert plain.mean() > 0.99
    assert abs(np.median(smooth) - (1 - 0.2 + 0.2 / 3)) < 0.03
    assert smooth.max() < 0.95


def test_label_smoothing_zero_is_the_default_model():
    X, y = make_classification(100, 4, random_state=0)
    a = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier(label_smoothing=0.0, max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = MLPClassifier(label_smoothing=0.1, max_iter=5, random_state=0).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_label_smoothing_partial_fit_pickle_and_validation():
    X, y = make_classification(200, 4, random_state=0)
    clf = MLPClassifier(label_smoothing=0.3, max_iter=1, shuffle=False, random_state=0)
    one = clone(clf).fit(X, y)
    inc = clone(clf).partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(one.predict_proba(X), inc.predict_proba(X))
    again = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(again.predict_proba(X), one.predict_proba(X))
    # the validation loss is the plain log-loss of the true labels
    es = MLPClassifier(label_smoothing=0.3, early_stopping=True, max_iter=10,
                       random_state=0).fit(X, y)
    assert min(es.validation_loss_curve_) < min(es.loss_curve_)
    with pytest.raises(ValueError):
        MLPClassifier(label_smoothing=1.0).fit(X, y)


def test_onnx_export_predicts_the_same():
    """The new losses and label smoothing change training only: the
    exported graph (identity / logistic output) predicts as the model."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from fastmlp._onnx import to_onnx

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    for model in (MLPRegressor(loss="quantile", quantile=0.8, max_iter=5, random_state=0),
                  MLPClassifier(label_smoothing=0.2, max_iter=5, random_state=0)):
        y = X[:, 0] if isinstance(model, MLPRegressor) else X[:, 0] > 0
        model.fit(X, y)
        session = ort.InferenceSession(to_onnx(model, X[:1]).SerializeToString())
        out = session.run(None, {session.get_inputs()[0].name: X})[0]
        if isinstance(model, MLPRegressor):
            np.testing.assert_allclose(out.ravel(), model.predict(X), atol=1e-5)
        else:
            np.testing.assert_array_equal(out, model.predict(X))
