"""Behaviour of fastmlp's estimators, as scikit-learn documents it for
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``.

Where scikit-learn defines the outcome (errors, warnings, predictions), the
test runs scikit-learn's estimator alongside and compares.
"""

import inspect
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import (
    load_iris,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp._training as fm_training
from conftest import assert_same_model
from _sklearn_features import HAS_LOSS, NO_LOSS, REJECTS_TINY_VALIDATION_SET
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SK = {"MLPClassifier": sk_nn.MLPClassifier, "MLPRegressor": sk_nn.MLPRegressor}
FM = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

SMALL = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)


def _classification(n=120, n_classes=3, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=5, n_informative=4, n_redundant=0,
        n_classes=n_classes, random_state=seed,
    )
    return X, y


def _regression(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 5)
    y = X @ rng.randn(5) + 0.1 * rng.randn(n)
    return X, y


X_CLF, Y_CLF = _classification()
X_REG, Y_REG = _regression()


def _models_equal(a, b, rtol=1e-12):
    assert_same_model(a, b, rtol=rtol)


# ---------------------------------------------------------------------------
# partial_fit

def test_partial_fit_classes_up_front_with_unseen_classes():
    classes = np.array([0, 1, 2, 3])
    X, y = _classification(n=160, n_classes=4)
    first = np.flatnonzero(y < 2)[:40]  # only classes 0 and 1
    models = {}
    for impl, cls in (("fm", MLPClassifier), ("sk", sk_nn.MLPClassifier)):
        clf = cls(hidden_layer_sizes=(8,), random_state=0)
        clf.partial_fit(X[first], y[first], classes=classes)
        np.testing.assert_array_equal(clf.classes_, classes)
        proba = clf.predict_proba(X)
        assert proba.shape == (X.shape[0], 4)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        # later calls may omit classes and contain the unseen ones
        clf.partial_fit(X, y)
        clf.partial_fit(X[y == 3], y[y == 3])
        models[impl] = clf
    np.testing.assert_array_equal(models["fm"].predict(X), models["sk"].predict(X))
    np.testing.assert_allclose(
        models["fm"].predict_proba(X), models["sk"].predict_proba(X), rtol=1e-9
    )
    assert set(models["fm"].predict(X)) <= set(classes)


def test_partial_fit_string_classes_up_front():
    y = np.array(["cat", "dog", "emu"])[Y_CLF]
    clf = MLPClassifier(**SMALL)
    clf.partial_fit(X_CLF[y != "emu"], y[y != "emu"], classes=["emu", "cat", "dog"])
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert clf.predict_proba(X_CLF).shape == (len(y), 3)
    assert set(clf.predict(X_CLF)) <= {"cat", "dog", "emu"}


def _raises_like_sklearn(exc_type, make_call):
    """make_call(module_classes) must raise exc_type in scikit-learn and
    fastmlp alike, with the same message."""
    with pytest.raises(exc_type) as sk_exc:
        make_call(SK)
    with pytest.raises(exc_type, match=re.escape(str(sk_exc.value))):
        make_call(FM)
    return sk_exc.value


def test_partial_fit_requires_classes_on_first_call():
    err = _raises_like_sklearn(
        ValueError,
        lambda mod: mod["MLPClassifier"](**SMALL).partial_fit(X_CLF, Y_CLF),
    )
    assert "classes must be passed on the first call" in str(err)


def test_partial_fit_classes_must_not_change():
    def call(mod):
        clf = mod["MLPClassifier"](**SMALL)
        clf.partial_fit(X_CLF, Y_CLF, classes=[0, 1, 2])
        clf.partial_fit(X_CLF, Y_CLF, classes=[0, 1, 2, 3])

    _raises_like_sklearn(ValueError, call)


def test_partial_fit_rejects_new_class():
    def call(mod):
        clf = mod["MLPClassifier"](**SMALL)
        clf.partial_fit(X_CLF, Y_CLF, classes=[0, 1, 2])
        clf.partial_fit(X_CLF[:5], np.full(5, 9))

    _raises_like_sklearn(ValueError, call)


def test_partial_fit_unavailable_for_lbfgs_classifier():
    clf = MLPClassifier(solver="lbfgs")
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError) as sk_exc:
        sk_nn.MLPClassifier(solver="lbfgs").partial_fit
    with pytest.raises(AttributeError, match=re.escape(str(sk_exc.value))) as fm_exc:
        clf.partial_fit
    # available_if chains the solver check's error
    assert str(fm_exc.value.__cause__) == str(sk_exc.value.__cause__)
    assert "partial_fit is only available for stochastic optimizers. lbfgs is not" in (
        str(fm_exc.value.__cause__)
    )
    for solver in ("sgd", "adam"):
        assert hasattr(MLPClassifier(solver=solver), "partial_fit")
    # switching the solver switches availability
    assert hasattr(clf.set_params(solver="sgd"), "partial_fit")


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_regressor_partial_fit_availability_matches_sklearn(solver):
    # scikit-learn 1.9's MLPRegressor offers partial_fit whatever the solver
    assert hasattr(MLPRegressor(solver=solver), "partial_fit") == hasattr(
        sk_nn.MLPRegressor(solver=solver), "partial_fit"
    )


def test_partial_fit_rejects_early_stopping():
    _raises_like_sklearn(
        ValueError,
        lambda mod: mod["MLPRegressor"](early_stopping=True, **SMALL).partial_fit(
            X_REG, Y_REG
        ),
    )


def test_partial_fit_is_one_epoch():
    reg = MLPRegressor(**SMALL)
    for k in range(3):
        reg.partial_fit(X_REG, Y_REG)
        assert reg.n_iter_ == 1
        assert len(reg.loss_curve_) == k + 1
        assert reg.t_ == (k + 1) * X_REG.shape[0]
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_partial_fit_wrong_n_features():
    def call(mod):
        reg = mod["MLPRegressor"](**SMALL).partial_fit(X_REG, Y_REG)
        reg.partial_fit(X_REG[:, :3], Y_REG)

    _raises_like_sklearn(ValueError, call)


# ---------------------------------------------------------------------------
# warm_start

@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_warm_start_continues_from_previous_weights(solver):
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=5,
                  learning_rate_init=0.01, random_state=0)
    warm = MLPRegressor(warm_start=True, **params).fit(X_REG, Y_REG)
    first_coefs = [c.copy() for c in warm.coefs_]
    cold = MLPRegressor(**params).fit(X_REG, Y_REG)
    _models_equal(warm, cold)
    warm.fit(X_REG, Y_REG)
    cold.fit(X_REG, Y_REG)
    # the cold refit restarts from the same initialisation
    np.testing.assert_allclose(cold.coefs_[0], first_coefs[0])
    # the warm one went on: further from the start, lower training loss
    assert not np.allclose(warm.coefs_[0], first_coefs[0])
    assert warm.loss_ < cold.loss_
    if solver != "lbfgs":
        assert len(warm.loss_curve_) == 10
        assert warm.loss_curve_[5] < warm.loss_curve_[0]
        # the second fit starts where the first ended
        assert abs(warm.loss_curve_[5] - warm.loss_curve_[4]) < abs(
            warm.loss_curve_[0] - warm.loss_curve_[4]
        )
    # and equals scikit-learn's warm start
    sk = sk_nn.MLPRegressor(warm_start=True, **params)
    sk.fit(X_REG, Y_REG).fit(X_REG, Y_REG)
    _models_equal(warm, sk, rtol=1e-7)


def test_warm_start_requires_same_classes():
    def call(mod):
        clf = mod["MLPClassifier"](warm_start=True, **SMALL).fit(X_CLF, Y_CLF)
        clf.fit(X_CLF[Y_CLF < 2], Y_CLF[Y_CLF < 2])

    err = _raises_like_sklearn(ValueError, call)
    assert "warm_start can only be used where `y` has the same classes" in str(err)


# ---------------------------------------------------------------------------
# early stopping

@pytest.fixture
def recorded_splits(monkeypatch):
    """Records the arguments and results of the early-stopping split."""
    calls = []
    original = fm_training.train_test_split

    def recording(*arrays, **kwargs):
        result = original(*arrays, **kwargs)
        calls.append((kwargs, result))
        return result

    monkeypatch.setattr(fm_training, "train_test_split", recording)
    return calls


def test_early_stopping_stratifies_the_validation_set(recorded_splits):
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    y = np.where(np.arange(200) % 10 == 0, "rare", "common")  # 10% rare
    clf = MLPClassifier(early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=3, max_iter=30, hidden_layer_sizes=(6,),
                        random_state=0).fit(X, y)
    (kwargs, (X_train, X_val, y_train, y_val)), = recorded_splits
    assert kwargs["stratify"] is not None
    assert X_val.shape[0] == 40 and X_train.shape[0] == 160
    # proportions kept: 4 of the 20 rare samples in the validation set
    val_labels = clf._label_binarizer.inverse_transform(y_val)
    assert np.sum(val_labels == "rare") == 4
    # bookkeeping
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # the best weights are restored: their validation score is the best one
    assert clf.score(X_val, val_labels) == pytest.approx(clf.best_validation_score_)


@pytest.mark.parametrize("kind", ["multilabel", "regression"])
def test_early_stopping_does_not_stratify(recorded_splits, kind):
    if kind == "multilabel":
        X, Y = make_multilabel_classification(n_samples=100, n_classes=3,
                                              random_state=0)
        est = MLPClassifier(early_stopping=True, **SMALL).fit(X, Y)
    else:
        X, Y = X_REG, Y_REG
        est = MLPRegressor(early_stopping=True, **SMALL).fit(X, Y)
    (kwargs, _), = recorded_splits
    assert kwargs["stratify"] is None
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_early_stopping_stops_and_keeps_best():
    reg = MLPRegressor(early_stopping=True, n_iter_no_change=2, tol=0.5,
                       max_iter=50, hidden_layer_sizes=(8,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stops before max_iter
        reg.fit(X_REG, Y_REG)
    assert reg.n_iter_ < 50
    # scikit-learn's rule, replayed on the recorded scores: an epoch counts
    # as no improvement when it does not beat the best so far by tol; the
    # fit stops at the first run of n_iter_no_change + 1 such epochs
    best, count, stop = -np.inf, 0, None
    for epoch, score in enumerate(reg.validation_scores_, start=1):
        count = count + 1 if score < best + reg.tol else 0
        best = max(best, score)
        if count > reg.n_iter_no_change:
            stop = epoch
            break
    assert stop == reg.n_iter_
    # tol matters here: with tol=0 the same scores would not have stopped yet
    assert any(b > a for a, b in zip(reg.validation_scores_, reg.validation_scores_[1:]))
    assert len(reg.loss_curve_) == reg.n_iter_ == len(reg.validation_scores_)
    assert reg.best_validation_score_ == max(reg.validation_scores_)


def test_validation_set_too_small():
    def fit(mod):
        return mod["MLPRegressor"](early_stopping=True, **SMALL).fit(X_REG[:10], Y_REG[:10])

    if REJECTS_TINY_VALIDATION_SET:
        _raises_like_sklearn(ValueError, fit)
    else:
        # scikit-learn 1.6 trains on the one held-out row; fastmlp raises as
        # 1.7+ does, whatever scikit-learn is installed
        with pytest.raises(ValueError, match="The validation set is too small"):
            fit(FM)


# ---------------------------------------------------------------------------
# multilabel, labels, dtypes

def test_multilabel_predict_proba():
    X, Y = make_multilabel_classification(n_samples=100, n_classes=4, random_state=1)
    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=50, random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.shape == (100, 4)
    assert np.all((proba >= 0) & (proba <= 1))
    assert not np.allclose(proba.sum(axis=1), 1.0)
    pred = clf.predict(X)
    assert pred.shape == (100, 4)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(pred.dtype))
    assert set(np.unique(pred)) <= {0, 1}
    assert clf.out_activation_ == "logistic"
    sk = sk_nn.MLPClassifier(hidden_layer_sizes=(10,), max_iter=50,
                             random_state=0).fit(X, Y)
    np.testing.assert_array_equal(pred, sk.predict(X))


@pytest.mark.parametrize(
    "labels",
    [np.array([-1, 7]), np.array(["no", "yes"]), np.array([-1, 7, 100]),
     np.array(["a", "b", "c"]), np.array([1.0, 3.0]), np.array([True, False])],
    ids=["ints-binary", "strings-binary", "ints-multiclass", "strings-multiclass",
         "floats", "bools"],
)
def test_arbitrary_labels_round_trip(labels):
    X, y_idx = _classification(n=120, n_classes=len(labels))
    y = labels[y_idx]
    params = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=200,
                  random_state=0)
    clf = MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)
    assert np.mean(pred == y) > 0.7
    assert clf.predict_proba(X).shape == (120, len(labels))
    sk = sk_nn.MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(pred, sk.predict(X))


def test_int_X():
    X_int = np.round(X_CLF * 3).astype(np.int64)
    clf = MLPClassifier(**SMALL).fit(X_int, Y_CLF)
    ref = MLPClassifier(**SMALL).fit(X_int.astype(np.float64), Y_CLF)
    assert clf.coefs_[0].dtype == np.float64
    _models_equal(clf, ref, rtol=0)
    np.testing.assert_array_equal(clf.predict(X_int), ref.predict(X_int))


def test_float32_input():
    X32 = X_CLF.astype(np.float32)
    clf = MLPClassifier(**SMALL).fit(X32, Y_CLF)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    # float64 data on a float32 model: float64 output, same probabilities
    proba64 = clf.predict_proba(X32.astype(np.float64))
    np.testing.assert_allclose(proba64, clf.predict_proba(X32), rtol=1e-4, atol=1e-6)
    reg = MLPRegressor(**SMALL).fit(X_REG.astype(np.float32), Y_REG)
    assert reg.coefs_[0].dtype == np.float32
    assert reg.predict(X_REG.astype(np.float32)).dtype == np.float32


def test_predict_log_proba():
    clf = MLPClassifier(**SMALL).fit(X_CLF, Y_CLF)
    np.testing.assert_allclose(
        clf.predict_log_proba(X_CLF), np.log(clf.predict_proba(X_CLF)), rtol=1e-12
    )
    binary = MLPClassifier(**SMALL).fit(X_CLF, Y_CLF == 1)
    proba = binary.predict_proba(X_CLF)
    assert proba.shape == (X_CLF.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(binary.predict_log_proba(X_CLF), np.log(proba))


def test_column_vector_y_warns_like_sklearn():
    for cls in (MLPRegressor, sk_nn.MLPRegressor):
        with pytest.warns(DataConversionWarning, match="column-vector y"):
            cls(**SMALL).fit(X_REG, Y_REG.reshape(-1, 1))


# ---------------------------------------------------------------------------
# sparse and pandas input

@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_equals_dense(fmt, solver):
    X = X_CLF.copy()
    X[np.abs(X) < 0.7] = 0
    Xs = sp.csr_matrix(X).asformat(fmt)
    params = dict(SMALL, solver=solver)
    dense = MLPClassifier(**params).fit(X, Y_CLF)
    sparse = MLPClassifier(**params).fit(Xs, Y_CLF)
    _models_equal(sparse, dense, rtol=1e-9)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                               rtol=1e-9)
    np.testing.assert_allclose(dense.predict_proba(Xs), dense.predict_proba(X),
                               rtol=1e-12)
    reg_dense = MLPRegressor(**params).fit(X, Y_REG)
    reg_sparse = MLPRegressor(**params).fit(Xs, Y_REG)
    _models_equal(reg_sparse, reg_dense, rtol=1e-9)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas", reason="pandas (test extra) is not installed")
    names = [f"f{i}" for i in range(X_CLF.shape[1])]
    df = pd.DataFrame(X_CLF, columns=names)
    clf = MLPClassifier(**SMALL).fit(df, pd.Series(Y_CLF))
    np.testing.assert_array_equal(clf.feature_names_in_, names)
    assert clf.n_features_in_ == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no feature-name warning
        pred_df = clf.predict(df)
    ref = MLPClassifier(**SMALL).fit(X_CLF, Y_CLF)
    np.testing.assert_array_equal(pred_df, ref.predict(X_CLF))
    assert not hasattr(ref, "feature_names_in_")
    # same warnings / errors as scikit-learn on mismatched names
    sk = sk_nn.MLPClassifier(**SMALL).fit(df, Y_CLF)
    with pytest.warns(UserWarning) as sk_rec:
        sk.predict(X_CLF)
    with pytest.warns(UserWarning) as fm_rec:
        clf.predict(X_CLF)
    assert [str(w.message) for w in fm_rec] == [str(w.message) for w in sk_rec]
    renamed = df.rename(columns={"f0": "zzz"})
    with pytest.raises(ValueError) as sk_exc:
        sk.predict(renamed)
    with pytest.raises(ValueError, match=re.escape(str(sk_exc.value))):
        clf.predict(renamed)
    # early stopping's internal scoring keeps working with a DataFrame
    es = MLPClassifier(early_stopping=True, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no feature-name warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        es.fit(df, Y_CLF)
    assert len(es.validation_scores_) == es.n_iter_


# ---------------------------------------------------------------------------
# persistence

@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_pickle_round_trip(solver):
    clf = MLPClassifier(**dict(SMALL, solver=solver)).fit(X_CLF, Y_CLF)
    expected = clf.predict_proba(X_CLF)
    blob = pickle.dumps(clf)
    # pickling leaves the original intact
    np.testing.assert_array_equal(clf.predict_proba(X_CLF), expected)
    assert pickle.dumps(clf) == blob
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(X_CLF), expected)
    np.testing.assert_array_equal(restored.predict(X_CLF), clf.predict(X_CLF))
    for a, b in zip(restored.coefs_ + restored.intercepts_,
                    clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and a.shape == b.shape
    # coefs_ stay usable: editing them in place changes the model ...
    restored.coefs_[-1][:] = 0.0
    restored.intercepts_[-1][:] = 0.0
    np.testing.assert_allclose(restored.predict_proba(X_CLF), 1.0 / 3)
    # ... and so does replacing them
    restored.coefs_ = [c.copy() for c in clf.coefs_]
    restored.intercepts_ = [c.copy() for c in clf.intercepts_]
    np.testing.assert_allclose(restored.predict_proba(X_CLF), expected, rtol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_after_unpickling_matches(solver, tmp_path):
    reg = MLPRegressor(**dict(SMALL, solver=solver)).fit(X_REG, Y_REG)
    via_pickle = pickle.loads(pickle.dumps(reg))
    path = tmp_path / "model.joblib"
    joblib.dump(reg, path)
    via_joblib = joblib.load(path)
    for model in (reg, via_pickle, via_joblib):
        model.partial_fit(X_REG[:60], Y_REG[:60])
        model.partial_fit(X_REG[60:], Y_REG[60:])
    _models_equal(via_pickle, reg, rtol=0)
    _models_equal(via_joblib, reg, rtol=0)
    assert via_pickle.loss_curve_ == reg.loss_curve_
    assert via_pickle.t_ == reg.t_


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_joblib_load_read_only_memmap(solver, tmp_path):
    """scikit-learn's models load with joblib's mmap_mode='r' (as in
    check_estimators_pickle(readonly_memmap=True)) and predict as before."""
    clf = MLPClassifier(**dict(SMALL, solver=solver)).fit(X_CLF, Y_CLF)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    restored = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(restored.predict_proba(X_CLF),
                                  clf.predict_proba(X_CLF))


def test_warm_start_after_unpickling_matches():
    clf = MLPClassifier(warm_start=True, **SMALL).fit(X_CLF, Y_CLF)
    restored = pickle.loads(pickle.dumps(clf))
    clf.fit(X_CLF, Y_CLF)
    restored.fit(X_CLF, Y_CLF)
    _models_equal(restored, clf, rtol=0)


def test_unfitted_pickle():
    clf = pickle.loads(pickle.dumps(MLPClassifier(alpha=0.5)))
    assert clf.alpha == 0.5
    with pytest.raises(NotFittedError):
        clf.predict(X_CLF)


# ---------------------------------------------------------------------------
# estimator API

def test_html_repr():
    for est in (MLPClassifier(), MLPRegressor(alpha=3.0).fit(X_REG, Y_REG)):
        html = est._repr_html_()
        assert isinstance(html, str)
        assert type(est).__name__ in html
    assert "alpha" in MLPRegressor(alpha=3.0)._repr_html_()


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_get_set_params_clone(name):
    est = FM[name](hidden_layer_sizes=(5, 4), alpha=0.3, random_state=1)
    sk_params = SK[name]().get_params()
    params = est.get_params()
    # every scikit-learn parameter, with its default; fastmlp's own come after
    assert params.keys() >= sk_params.keys()
    defaults = FM[name]().get_params()
    assert {k: defaults[k] for k in sk_params} == sk_params
    signature = list(inspect.signature(FM[name]).parameters)
    if name == "MLPRegressor" and not HAS_LOSS:
        signature.remove("loss")  # first in scikit-learn 1.7+'s, absent before
    assert signature[: len(sk_params)] == list(inspect.signature(SK[name]).parameters)
    assert params["hidden_layer_sizes"] == (5, 4) and params["alpha"] == 0.3
    assert est.set_params(alpha=2.0, max_iter=7) is est
    assert est.alpha == 2.0 and est.max_iter == 7
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_param=1)
    X, y = (X_CLF, Y_CLF) if name == "MLPClassifier" else (X_REG, Y_REG)
    est.set_params(max_iter=5).fit(X, y)
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "coefs_")
    cloned.fit(X, y)
    _models_equal(cloned, est, rtol=0)
    params = est.get_params()
    assert repr(est) == repr(SK[name](**{k: params[k] for k in sk_params}))


def test_not_fitted():
    for name in FM:
        with pytest.raises(NotFittedError):
            FM[name]().predict(X_REG)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X_CLF)


# ---------------------------------------------------------------------------
# errors shared with scikit-learn

def test_diverging_training_raises_like_sklearn():
    X = X_REG * 1e4
    y = Y_REG * 1e6

    def call(mod):
        mod["MLPRegressor"](solver="sgd", learning_rate_init=10.0,
                            hidden_layer_sizes=(8,), max_iter=20,
                            random_state=0).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn overflows
        err = _raises_like_sklearn(ValueError, call)
    assert "Solver produced non-finite parameter weights" in str(err)


@pytest.mark.parametrize("where", ["fit", "predict"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_X(where, value):
    X_bad = X_CLF.copy()
    X_bad[3, 2] = value

    def call(mod):
        clf = mod["MLPClassifier"](**SMALL)
        if where == "fit":
            clf.fit(X_bad, Y_CLF)
        else:
            clf.fit(X_CLF, Y_CLF).predict(X_bad)

    _raises_like_sklearn(ValueError, call)


def test_nan_in_y_regressor():
    y_bad = Y_REG.copy()
    y_bad[0] = np.nan
    _raises_like_sklearn(
        ValueError, lambda mod: mod["MLPRegressor"](**SMALL).fit(X_REG, y_bad)
    )


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_wrong_n_features_at_predict(method):
    def call(mod):
        clf = mod["MLPClassifier"](**SMALL).fit(X_CLF, Y_CLF)
        args = (X_CLF[:, :4],) + ((Y_CLF,) if method == "score" else ())
        getattr(clf, method)(*args)

    err = _raises_like_sklearn(ValueError, call)
    assert "features" in str(err)


def test_mismatched_n_samples():
    _raises_like_sklearn(
        ValueError, lambda mod: mod["MLPRegressor"](**SMALL).fit(X_REG, Y_REG[:-1])
    )


@pytest.mark.parametrize("sizes", [(0,), (5, 0), [3, -1], 0])
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_bad_hidden_layer_sizes(name, sizes):
    X, y = (X_CLF, Y_CLF) if name == "MLPClassifier" else (X_REG, Y_REG)
    _raises_like_sklearn(
        ValueError,
        lambda mod: mod[name](hidden_layer_sizes=sizes, max_iter=2).fit(X, y),
    )


@pytest.mark.parametrize(
    "bad",
    [
        dict(alpha=-1.0),
        dict(batch_size=0),
        dict(batch_size="big"),
        dict(learning_rate_init=0.0),
        dict(power_t=-0.5),
        dict(max_iter=0),
        dict(shuffle="yes"),
        dict(tol=-1.0),
        dict(momentum=1.5),
        dict(nesterovs_momentum="no"),
        dict(early_stopping=1),
        dict(validation_fraction=1.0),
        dict(beta_1=1.0),
        dict(beta_2=-0.1),
        dict(epsilon=0.0),
        dict(n_iter_no_change=0),
        dict(max_fun=0),
        dict(random_state="seed"),
    ],
    ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()),
)
def test_invalid_parameters(bad):
    if "loss" in bad and not HAS_LOSS:
        pytest.skip(NO_LOSS)
    name = "MLPRegressor" if "loss" in bad else "MLPClassifier"
    X, y = (X_CLF, Y_CLF) if name == "MLPClassifier" else (X_REG, Y_REG)
    err = _raises_like_sklearn(
        ValueError, lambda mod: mod[name](**{"max_iter": 2, **bad}).fit(X, y)
    )
    assert f"'{next(iter(bad))}' parameter of {name} must be" in str(err)


@pytest.mark.parametrize(
    "name, bad, options",
    [
        ("activation", "softmax",
         ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish"]),
        ("solver", "newton", ["lbfgs", "sgd", "adam", "rmsprop", "adamw"]),
        ("learning_rate", "optimal",
         ["constant", "invscaling", "adaptive", "cosine", "step"]),
    ],
)
def test_invalid_option_of_an_extended_parameter(name, bad, options):
    """Parameters whose options fastmlp extends: a value neither accepts is
    rejected as scikit-learn rejects it, with a message that lists
    fastmlp's options."""
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        SK["MLPClassifier"](**{name: bad}, max_iter=2).fit(X_CLF, Y_CLF)
    with pytest.raises(ValueError, match=f"'{name}' parameter of MLPClassifier "
                       "must be a str among") as exc:
        MLPClassifier(**{name: bad}, max_iter=2).fit(X_CLF, Y_CLF)
    for option in options:
        assert f"'{option}'" in str(exc.value)


def test_classifier_rejects_continuous_targets():
    _raises_like_sklearn(
        ValueError, lambda mod: mod["MLPClassifier"](**SMALL).fit(X_REG, Y_REG)
    )


def test_poisson_counts_like_sklearn():
    # scikit-learn's Poisson MLP trains on non-negative counts; so must fastmlp
    y = np.random.RandomState(0).poisson(2.0, size=X_REG.shape[0]).astype(float)
    fm = MLPRegressor(loss="poisson", **SMALL).fit(X_REG, y)
    assert fm.out_activation_ == "exp"
    assert np.all(fm.predict(X_REG) > 0)
    if not HAS_LOSS:
        pytest.skip(NO_LOSS)
    sk = sk_nn.MLPRegressor(loss="poisson", **SMALL).fit(X_REG, y)
    np.testing.assert_allclose(fm.predict(X_REG), sk.predict(X_REG), rtol=1e-9)


# ---------------------------------------------------------------------------
# meta-estimators

def test_pipeline():
    X = X_CLF * 100 + 50
    pipe_fm = make_pipeline(StandardScaler(), MLPClassifier(**SMALL)).fit(X, Y_CLF)
    pipe_sk = make_pipeline(StandardScaler(), sk_nn.MLPClassifier(**SMALL)).fit(X, Y_CLF)
    np.testing.assert_array_equal(pipe_fm.predict(X), pipe_sk.predict(X))
    np.testing.assert_allclose(pipe_fm.predict_proba(X), pipe_sk.predict_proba(X),
                               rtol=1e-9)
    assert pipe_fm.score(X, Y_CLF) == pipe_sk.score(X, Y_CLF)
    reg = Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor(**SMALL))])
    reg.set_params(mlp__alpha=0.01).fit(X_REG, Y_REG)
    assert reg.named_steps["mlp"].alpha == 0.01
    assert reg.predict(X_REG).shape == Y_REG.shape


def test_grid_search():
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(4,), (8,)]}
    cv = KFold(3, shuffle=True, random_state=0)
    gs_fm = GridSearchCV(MLPClassifier(max_iter=20, random_state=0), grid, cv=cv)
    gs_sk = GridSearchCV(sk_nn.MLPClassifier(max_iter=20, random_state=0), grid, cv=cv)
    gs_fm.fit(X_CLF, Y_CLF)
    gs_sk.fit(X_CLF, Y_CLF)
    np.testing.assert_allclose(gs_fm.cv_results_["mean_test_score"],
                               gs_sk.cv_results_["mean_test_score"])
    assert gs_fm.best_params_ == gs_sk.best_params_
    assert isinstance(gs_fm.best_estimator_, MLPClassifier)
    np.testing.assert_array_equal(gs_fm.predict(X_CLF), gs_sk.predict(X_CLF))


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_cross_val_score(name):
    X, y = (X_CLF, Y_CLF) if name == "MLPClassifier" else (X_REG, Y_REG)
    params = dict(SMALL, learning_rate_init=0.01, max_iter=100)
    fm = cross_val_score(FM[name](**params), X, y, cv=3)
    sk = cross_val_score(SK[name](**params), X, y, cv=3)
    assert fm.shape == (3,)
    np.testing.assert_allclose(fm, sk, rtol=1e-9)
    if name == "MLPClassifier":
        assert fm.mean() > 0.5


def test_pickle_keeps_fitted_shapes_after_set_params():
    """The pickle stores the fitted layer shapes: changing hidden_layer_sizes
    after fit (without refitting) must not garble the loaded weights."""
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(7,), max_iter=20, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    clf.set_params(hidden_layer_sizes=(3, 2))
    loaded = pickle.loads(pickle.dumps(clf))
    assert [c.shape for c in loaded.coefs_] == [(4, 7), (7, 3)]
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
