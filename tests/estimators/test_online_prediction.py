"""Online prediction (fastmlp._inference): the fast path that takes arrays the
engine reads as they are gives the full path's outputs and scikit-learn's
errors, follows every change of the model, and is safe under threads."""

import copy
import pickle
import re
import threading
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sk_nn
from sklearn.exceptions import NotFittedError

import fastmlp._inference as fm_inference
import fastmlp._multilayer_perceptron as fm_module
from fastmlp import MLPClassifier, MLPRegressor, _engine

RNG = np.random.RandomState(0)
X = RNG.randn(120, 7)
Y_MULTICLASS = RNG.randint(0, 4, 120)
Y_BINARY = np.where(X[:, 0] + RNG.randn(120) > 0, "yes", "no")
Y_MULTILABEL = (X[:, :3] + RNG.randn(120, 3) > 0).astype(int)
Y_REG = X @ RNG.randn(7) + RNG.randn(120)
Y_REG2 = np.c_[Y_REG, X[:, 1] - X[:, 2]]
SMALL = dict(hidden_layer_sizes=(9, 5), max_iter=20, random_state=0)

MODELS = {
    "multiclass": (MLPClassifier, Y_MULTICLASS, {}),
    "binary": (MLPClassifier, Y_BINARY, {}),
    "multilabel": (MLPClassifier, Y_MULTILABEL, {}),
    "regressor": (MLPRegressor, Y_REG, {}),
    "regressor-2-outputs": (MLPRegressor, Y_REG2, {}),
    "batch-norm": (MLPClassifier, Y_MULTICLASS, dict(batch_norm=True)),
    "regressor-batch-norm": (MLPRegressor, Y_REG, dict(batch_norm=[True, False])),
}


def fitted(case, dtype=np.float64, **params):
    cls, y, extra = MODELS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**{**SMALL, **extra, **params}).fit(X.astype(dtype), y)


def sk_fitted(case, dtype=np.float64):
    cls, y, _ = MODELS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(sk_nn, cls.__name__)(**SMALL).fit(X.astype(dtype), y)


def methods(est):
    names = ["predict"]
    if hasattr(est, "predict_proba"):
        names += ["predict_proba", "predict_log_proba"]
    return names


def strided(A):
    """A's values in an array that is not contiguous (the full path)."""
    return np.repeat(A, 2, axis=1)[:, ::2]


def reference_output(est, A):
    """The network's output as predict computed it before the fast path:
    everything made anew from the estimator's current attributes."""
    params = est._inference_params(est._packed_params())
    return _engine.predict(est._network(training=False), params, A)


@pytest.fixture
def no_validation(monkeypatch):
    """Fails the test if scikit-learn's validation runs (the full path)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the full path (validate_data) was taken")

    monkeypatch.setattr(fm_module, "validate_data", refuse)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(MODELS))
def test_fast_and_full_paths_give_identical_outputs(case, dtype, monkeypatch):
    est = fitted(case, dtype)
    inputs = [np.ascontiguousarray(X[:n], dtype=dtype) for n in (1, 2, 10, 100, 120)]
    full = {(m, i): getattr(est, m)(strided(A)) for m in methods(est)
            for i, A in enumerate(inputs)}
    before = dict(est.__dict__)
    monkeypatch.setattr(fm_module, "validate_data", None)  # the fast path only
    for (m, i), expected in full.items():
        got = getattr(est, m)(inputs[i])
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    assert est.__dict__.keys() == before.keys()  # predict leaves the estimator as it was
    output = est._online_output(inputs[-1])
    np.testing.assert_array_equal(output, reference_output(est, inputs[-1]))


@pytest.mark.parametrize("case", ["multiclass", "binary", "regressor"])
def test_fast_path_matches_scikit_learn_given_the_same_weights(case):
    """With scikit-learn's fitted weights copied in, both give the same
    predictions (up to rounding) through the fast path."""
    est = fitted(case)
    sk = sk_fitted(case)
    est.coefs_ = [c.copy() for c in sk.coefs_]
    est.intercepts_ = [b.copy() for b in sk.intercepts_]
    est.predict(strided(X))  # the full path prepares the new state
    if case != "regressor":
        np.testing.assert_array_equal(est.predict(X), sk.predict(X))
    for m in methods(est)[case != "regressor":]:
        np.testing.assert_allclose(getattr(est, m)(X), getattr(sk, m)(X), rtol=1e-7,
                                   atol=1e-9)


BAD = {
    "nan": lambda A: np.where(A > 1.5, np.nan, A),
    "inf": lambda A: np.where(A > 1.5, np.inf, A),
    "neg-inf": lambda A: np.where(A > 1.5, -np.inf, A),
    "nan-and-inf": lambda A: np.where(A > 1.5, np.inf, np.where(A < -1.5, np.nan, A)),
    "one-row-nan": lambda A: np.where(np.arange(A.shape[1]) == 3, np.nan, A[:1]),
    "wrong-n-features": lambda A: np.ascontiguousarray(A[:, :5]),
    "too-many-features": lambda A: np.c_[A, A],
    "no-samples": lambda A: A[:0],
    "1d": lambda A: A[0],
    "3d": lambda A: A[:, :, None],
    "complex": lambda A: A + 1j,
    "strings": lambda A: np.full(A.shape, "a"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("model", ["multiclass", "regressor"])
def test_bad_input_raises_scikit_learns_error(model, case, dtype):
    """With the state prepared (the fast path on), bad input raises what
    scikit-learn's estimator raises, type and message."""
    est = fitted(model, dtype)
    sk = sk_fitted(model, dtype)
    est.predict(X.astype(dtype))
    assert fm_inference._states.get(est) is not None
    bad = BAD[case](X.astype(dtype))
    for m in methods(est):
        with pytest.raises(Exception) as sk_exc:
            getattr(sk, m)(bad)
        with pytest.raises(type(sk_exc.value), match=re.escape(str(sk_exc.value))):
            getattr(est, m)(bad)


@pytest.mark.parametrize("model", ["multiclass", "regressor"])
def test_unfitted_raises_not_fitted(model):
    est = MODELS[model][0](**SMALL)
    for m in methods(est):
        with pytest.raises(NotFittedError):
            getattr(est, m)(X[:1])


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float16])
def test_other_dtypes_take_the_full_path(dtype):
    """An input of another dtype than the fitted one is converted as before."""
    est = fitted("multiclass", np.float64)
    est.predict(X)
    A = (X * 3).astype(dtype)
    np.testing.assert_array_equal(est.predict_proba(A), est.predict_proba(strided(A)))
    np.testing.assert_array_equal(
        est.predict_proba(A), reference_output(est, A.astype(np.float64)))


def test_feature_names_keep_scikit_learns_warnings():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(7)])
    est = MLPClassifier(**SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame, Y_MULTICLASS)
    est.predict(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.predict(X)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.predict_proba(X[:1])


def check_follows(est, A):
    """The estimator's predictions are those of its current weights."""
    for m in methods(est):
        getattr(est, m)(A)  # (prepares or checks the state)
    np.testing.assert_array_equal(est._online_output(A), reference_output(est, A))
    if hasattr(est, "predict_proba"):
        expected = reference_output(est, A)
        proba = est.predict_proba(A)
        np.testing.assert_array_equal(proba, expected)


@pytest.mark.parametrize("case", ["multiclass", "batch-norm", "regressor-batch-norm"])
def test_the_state_follows_changes_of_the_model(case):
    est = fitted(case)
    A = np.ascontiguousarray(X[:10])
    check_follows(est, A)

    est.coefs_[0][...] *= 1.5  # in place, through the views
    check_follows(est, A)
    est.intercepts_[-1] += 0.25
    check_follows(est, A)

    est.coefs_[1] = est.coefs_[1] * -1.0  # an array replaced
    check_follows(est, A)
    est.coefs_ = [c.copy() for c in est.coefs_]  # the list replaced
    check_follows(est, A)

    if est.batch_norm is not False:
        est.batch_norm_means_[0][...] += 0.5  # running statistics, in place
        check_follows(est, A)
        est.batch_norm_scales_[0][...] *= 2.0
        check_follows(est, A)

    est.set_params(activation="tanh")
    check_follows(est, A)
    est.activation = "logistic"  # set directly
    check_follows(est, A)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, MODELS[case][1])
    check_follows(est, A)
    est.set_params(warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, MODELS[case][1])
    check_follows(est, A)
    est.set_params(warm_start=False, hidden_layer_sizes=(4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, MODELS[case][1])  # a new network
    check_follows(est, A)


@pytest.mark.parametrize("case", ["multiclass", "batch-norm", "regressor"])
def test_pickles_and_copies_carry_no_state_and_predict_the_same(case):
    est = fitted(case, np.float32)
    A = X[:3].astype(np.float32)
    expected = {m: getattr(est, m)(A) for m in methods(est)}
    state = fm_inference._states[est]
    for other in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        assert other not in fm_inference._states
        for m in methods(est):
            np.testing.assert_array_equal(getattr(other, m)(A), expected[m])
            np.testing.assert_array_equal(getattr(other, m)(A), expected[m])
        assert fm_inference._states[other] is not state


@pytest.mark.parametrize("case", ["multiclass", "regressor", "batch-norm"])
def test_threads_predicting_at_once_get_the_results_of_one_thread(case):
    """A threaded server: many threads, one estimator, batches of several
    sizes at once; each call's result equals the single-threaded one."""
    est = fitted(case, np.float32)
    rng = np.random.RandomState(1)
    batches = [rng.randn(n, 7).astype(np.float32) for n in (1, 3, 10, 64, 100, 300)]
    name = methods(est)[-1]
    expected = [getattr(est, name)(b) for b in batches]
    errors = []
    start = threading.Barrier(8)

    def work(seed):
        order = np.random.RandomState(seed).randint(0, len(batches), 300)
        try:
            start.wait()
            for i in order:
                got = getattr(est, name)(batches[i])
                if not np.array_equal(got, expected[i]):
                    errors.append((seed, i))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_labels_from_output_equal_label_binarizers():
    from sklearn.preprocessing import LabelBinarizer

    rng = np.random.RandomState(0)
    cases = [
        (np.array(["b", "a", "c"]), rng.rand(50, 3).round(1)),  # ties: the first
        (np.array([3, 7, 9, 11]), rng.randn(50, 4).astype(np.float32)),
        (np.array(["no", "yes"]), np.r_[rng.rand(48), 0.5, np.nextafter(0.5, 1)]),
        (np.array([-1, 1]), rng.rand(50).astype(np.float32)),
    ]
    for classes, output in cases:
        lb = LabelBinarizer().fit(classes)
        got = fm_inference.labels_from_output(lb, output)
        expected = lb.inverse_transform(output)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_engines_finiteness_check(dtype):
    info = np.finfo(dtype)
    smallest_subnormal = np.nextafter(dtype(0), dtype(1))  # (finfo has it from NumPy 1.22)
    finite = np.array([[0.0, -0.0, info.max, -info.max, info.tiny, smallest_subnormal]],
                      dtype=dtype)
    assert _engine.nonfinite(finite) == _engine.FINITE
    for n in (1, 7, 64, 1001):
        A = np.zeros((1, n), dtype=dtype)
        for where in {0, n // 2, n - 1}:
            for value, found in [(np.inf, _engine.NONFINITE_INF),
                                 (-np.inf, _engine.NONFINITE_INF),
                                 (np.nan, _engine.NONFINITE_NAN),
                                 (-np.nan, _engine.NONFINITE_NAN)]:
                B = A.copy()
                B[0, where] = value
                assert _engine.nonfinite(B) == found
        if n == 1:
            continue
        B = A.copy()
        B[0, -1] = np.nan
        B[0, 0] = np.inf
        assert _engine.nonfinite(B) == _engine.NONFINITE_NAN  # NaN is reported first


def test_predict_rows_checks_its_arguments():
    est = fitted("regressor", np.float32)
    est.predict(X[:1].astype(np.float32))
    state = fm_inference._states[est]
    A = X[:4].astype(np.float32)
    out = np.empty((4, 1), np.float32)
    plan = state.plan(4)
    args = (state.network, state.params)
    with pytest.raises(ValueError, match="X must have dtype"):
        _engine.predict_rows(*args, A.astype(np.float64), out, plan, 16)
    with pytest.raises(ValueError, match="X has shape"):
        _engine.predict_rows(*args, A[:, :3].copy(), out, plan, 16)
    with pytest.raises(ValueError, match="out has shape"):
        _engine.predict_rows(*args, A, out[:3], plan, 16)
    with pytest.raises(ValueError, match="C-contiguous"):
        _engine.predict_rows(*args, np.asfortranarray(A), out, plan, 16)
    with pytest.raises(ValueError, match="params has shape"):
        _engine.predict_rows(state.network, state.params[:-1], A, out, plan, 16)
    with pytest.raises(ValueError, match="plan"):
        _engine.predict_rows(*args, A, out, plan[:-1], 16)
    with pytest.raises(ValueError, match="workspace"):
        _engine.predict_rows(*args, A, out, plan, 16, np.empty(10, np.float32))
    assert _engine.predict_rows(*args, A, out, plan, 16) == _engine.FINITE
    np.testing.assert_array_equal(out, reference_output(est, A))
    before = out.copy()
    A[2, 1] = np.nan
    assert _engine.predict_rows(*args, A, out, plan, 16) == _engine.NONFINITE_NAN
    np.testing.assert_array_equal(out, before)  # left alone


def test_an_unhashable_subclass_predicts_through_the_full_path():
    class Unhashable(MLPRegressor):
        __hash__ = None

    est = Unhashable(**SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, Y_REG)
    expected = reference_output(est, X).ravel()
    np.testing.assert_array_equal(est.predict(X), expected)
    np.testing.assert_array_equal(est.predict(X), expected)
