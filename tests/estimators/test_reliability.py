"""Reliability of the estimators (issue #6): bad input is rejected with
scikit-learn's exception before the engine runs; every input layout that
scikit-learn accepts gives the model of a clean C-contiguous float array;
Ctrl-C, divergence, threads and repeated fits leave consistent models and no
leaked memory; absurd network sizes fail cleanly; pickles carry a format
version.

Cases that could kill the interpreter (interrupts, absurd allocations, the
repeated-fit memory measurement) run in a subprocess, whose exit status is
checked.  Engine-level counterparts (bindings' argument checks, engine
Ctrl-C, GIL release, MemoryError of the workspace) are in
test_engine_errors.py; the sanitizer run and property tests in .ci/run and
test_properties.py.
"""

import json
import pickle
import re
import threading
import time
import warnings

import numpy as np
import pytest
import scipy
import scipy.sparse as sp
import sklearn.neural_network as sk_nn
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import fastmlp
import fastmlp._multilayer_perceptron as fm_module
import fastmlp._checks
import fastmlp._parameters as fm_parameters
import fastmlp._training
import fastmlp._resources as fm_resources
from conftest import assert_same_model, run_python
from _sklearn_features import HAS_SAMPLE_WEIGHT, NO_SAMPLE_WEIGHT
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SK = {"MLPClassifier": sk_nn.MLPClassifier, "MLPRegressor": sk_nn.MLPRegressor}
FM = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
SMALL = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)

_rng = np.random.RandomState(0)
# integer-valued floats: the int-dtype variants hold exactly the same values
X = np.round(_rng.randn(40, 5) * 3)
X[_rng.rand(*X.shape) < 0.4] = 0  # a sparse-looking matrix for the sparse variants
Y_CLF = make_classification(n_samples=40, n_features=4, n_informative=3, n_redundant=0,
                            n_classes=3, random_state=0)[1]
Y_REG = X @ _rng.randn(5) + _rng.randn(40)
SW = _rng.uniform(0.5, 2.0, 40)


def results(out):
    """The `key value...` lines a subprocess printed, as a dict of strings."""
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def snapshot(est):
    """What a fit changes, copied."""
    return dict(
        params=[a.copy() for a in est.coefs_ + est.intercepts_],
        n_iter=est.n_iter_, t=est.t_,
        loss_curve=list(getattr(est, "loss_curve_", []) or []),
        moments=None if getattr(est, "_optimizer", None) is None else (
            est._optimizer.moment_1.copy(), est._optimizer.moment_2.copy(),
            est._optimizer.step, est._optimizer.learning_rate),
    )


def assert_unchanged(est, before):
    after = snapshot(est)
    for a, b in zip(after["params"], before["params"]):
        np.testing.assert_array_equal(a, b)
    assert (after["n_iter"], after["t"], after["loss_curve"]) == (
        before["n_iter"], before["t"], before["loss_curve"])
    if before["moments"] is not None:
        for a, b in zip(after["moments"], before["moments"]):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Bad input: scikit-learn's exception, raised before any engine call


class _NoEngine:
    def __getattr__(self, name):
        # constants (HIDDEN_ACTIVATIONS) and the parameter layout describe the
        # network: data, not engine work
        if name.isupper() or name == "parameter_layout":
            return getattr(fm_module_engine, name)
        raise AssertionError(f"the engine ({name}) was reached before the input was rejected")


fm_module_engine = fm_module._engine
# the estimators' modules that call the engine
_ENGINE_USERS = [fm_module, fm_parameters, fm_resources, fastmlp._checks, fastmlp._training]


def _block_engine(monkeypatch):
    for module in _ENGINE_USERS:
        monkeypatch.setattr(module, "_engine", _NoEngine())


@pytest.fixture
def no_engine(monkeypatch):
    """Makes any use of the C engine by the estimators fail the test."""
    _block_engine(monkeypatch)


def _fit(name, X, y, fit_kw=None, **params):
    return lambda mod: mod[name](**{**SMALL, **params}).fit(X, y, **(fit_kw or {}))


def _strings(shape):
    return np.full(shape, "a")


BAD_FIT = {
    "X-no-samples": _fit("MLPClassifier", np.empty((0, 5)), []),
    "X-no-features": _fit("MLPClassifier", np.empty((40, 0)), Y_CLF),
    "X-1d": _fit("MLPClassifier", X[:, 0], Y_CLF),
    "X-3d": _fit("MLPRegressor", X[:, :, None], Y_REG),
    "X-strings": _fit("MLPClassifier", _strings(X.shape), Y_CLF),
    "X-object-strings": _fit("MLPRegressor", _strings(X.shape).astype(object), Y_REG),
    "X-object-None": _fit("MLPRegressor", np.where(X > 0, X, None), Y_REG),
    "X-complex": _fit("MLPRegressor", X + 1j, Y_REG),
    "X-nan-regressor": _fit("MLPRegressor", np.where(X > 2, np.nan, X), Y_REG),
    "X-inf-regressor": _fit("MLPRegressor", np.where(X > 2, np.inf, X), Y_REG),
    "X-neg-inf-classifier": _fit("MLPClassifier", np.where(X > 2, -np.inf, X), Y_CLF),
    "X-nan-sparse": _fit("MLPClassifier", sp.csr_matrix(np.where(X > 2, np.nan, X)), Y_CLF),
    "X-nan-lbfgs": _fit("MLPRegressor", np.where(X > 2, np.nan, X), Y_REG,
                        solver="lbfgs"),
    "y-nan-regressor": _fit("MLPRegressor", X, np.where(Y_REG > 1, np.nan, Y_REG)),
    "y-inf-regressor": _fit("MLPRegressor", X, np.where(Y_REG > 1, np.inf, Y_REG)),
    "y-nan-classifier": _fit("MLPClassifier", X, np.where(Y_CLF > 1, np.nan, Y_CLF)),
    "y-empty": _fit("MLPRegressor", X, []),
    "y-3d": _fit("MLPRegressor", X, Y_REG[:, None, None]),
    "y-too-short": _fit("MLPClassifier", X, Y_CLF[:-3]),
    "y-too-long": _fit("MLPRegressor", X, np.r_[Y_REG, 1.0]),
    "y-continuous-classifier": _fit("MLPClassifier", X, Y_REG),
    "y-mixed-objects": _fit("MLPClassifier", X, np.array([1, "a"] * 20, dtype=object)),
    "sample-weight-nan": _fit("MLPRegressor", X, Y_REG,
                              dict(sample_weight=np.where(SW > 1, np.nan, SW))),
    "sample-weight-inf": _fit("MLPRegressor", X, Y_REG,
                              dict(sample_weight=np.where(SW > 1, np.inf, SW))),
    "sample-weight-length": _fit("MLPRegressor", X, Y_REG, dict(sample_weight=SW[:-1])),
    "sample-weight-2d": _fit("MLPClassifier", X, Y_CLF, dict(sample_weight=SW[:, None])),
    "sample-weight-zeros": _fit("MLPClassifier", X, Y_CLF,
                                dict(sample_weight=np.zeros(40))),
    "sample-weight-strings": _fit("MLPRegressor", X, Y_REG,
                                  dict(sample_weight=_strings(40))),
    "hidden-layer-sizes-negative": _fit("MLPRegressor", X, Y_REG,
                                        hidden_layer_sizes=(4, -2)),
    "hidden-layer-sizes-zero": _fit("MLPClassifier", X, Y_CLF, hidden_layer_sizes=0),
    "hidden-layer-sizes-None": _fit("MLPClassifier", X, Y_CLF, hidden_layer_sizes=None),
    "hidden-layer-sizes-string": _fit("MLPClassifier", X, Y_CLF, hidden_layer_sizes="8"),
    "learning-rate-init-negative": _fit("MLPRegressor", X, Y_REG, learning_rate_init=-0.1),
    "learning-rate-init-inf": _fit("MLPRegressor", X, Y_REG, learning_rate_init=np.inf),
    "alpha-nan": _fit("MLPRegressor", X, Y_REG, alpha=np.nan),
    "alpha-inf": _fit("MLPRegressor", X, Y_REG, alpha=np.inf),
    "batch-size-negative": _fit("MLPClassifier", X, Y_CLF, batch_size=-5),
    "batch-size-float": _fit("MLPClassifier", X, Y_CLF, batch_size=2.5),
    "validation-fraction-negative": _fit("MLPClassifier", X, Y_CLF, early_stopping=True,
                                         validation_fraction=-0.1),
    "validation-fraction-zero-early-stopping": _fit(
        "MLPClassifier", X, Y_CLF, early_stopping=True, validation_fraction=0.0),
    "momentum-negative": _fit("MLPRegressor", X, Y_REG, solver="sgd", momentum=-0.5),
    "beta-2-above-1": _fit("MLPRegressor", X, Y_REG, beta_2=1.5),
    "tol-inf": _fit("MLPRegressor", X, Y_REG, tol=np.inf),
    "max-iter-float": _fit("MLPRegressor", X, Y_REG, max_iter=5.0),
    "power-t-negative": _fit("MLPRegressor", X, Y_REG, solver="sgd",
                             learning_rate="invscaling", power_t=-1.0),
    "max-fun-negative": _fit("MLPRegressor", X, Y_REG, solver="lbfgs", max_fun=-3),
}


# scikit-learn 1.9's errors, which fastmlp raises whatever scikit-learn is
# installed (older releases word the first differently and train on the
# second, or fail later)
SAMPLE_WEIGHT_ERRORS_OF_1_9 = {
    "sample-weight-2d": "Sample weights must be 1D array or scalar, got 2D array. "
                        f"Expected either a scalar value or a 1D array of length {len(X)}.",
    "sample-weight-zeros": "Sample weights must contain at least one non-zero number.",
}


@pytest.mark.parametrize("case", sorted(BAD_FIT))
def test_bad_fit_input_raises_like_sklearn(case, no_engine):
    """The same exception type and message as scikit-learn, and the engine is
    never reached."""
    call = BAD_FIT[case]
    if case in SAMPLE_WEIGHT_ERRORS_OF_1_9:
        with pytest.raises(ValueError, match=re.escape(SAMPLE_WEIGHT_ERRORS_OF_1_9[case])):
            call(FM)
    if case.startswith("sample-weight") and not HAS_SAMPLE_WEIGHT:
        if case in SAMPLE_WEIGHT_ERRORS_OF_1_9:
            return
        pytest.skip(NO_SAMPLE_WEIGHT)
    with pytest.raises(Exception) as sk_exc:
        call(SK)
    if case in SAMPLE_WEIGHT_ERRORS_OF_1_9 and str(sk_exc.value) != SAMPLE_WEIGHT_ERRORS_OF_1_9[case]:
        return  # an older scikit-learn's behaviour, not fastmlp's
    with pytest.raises(type(sk_exc.value), match=re.escape(str(sk_exc.value))):
        call(FM)


BAD_PREDICT = {
    "1d": X[0],
    "3d": X[:, :, None],
    "no-samples": np.empty((0, 5)),
    "wrong-n-features": X[:, :4],
    "too-many-features": np.c_[X, X],
    "nan": np.where(X > 2, np.nan, X),
    "inf": np.where(X > 2, np.inf, X),
    "nan-sparse": sp.csc_matrix(np.where(X > 2, np.nan, X)),
    "strings": _strings(X.shape),
    "complex": X + 1j,
}


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "partial_fit"])
@pytest.mark.parametrize("case", sorted(BAD_PREDICT))
def test_bad_input_after_fit_raises_like_sklearn(case, method, monkeypatch):
    bad = BAD_PREDICT[case]
    models = {"sk": sk_nn.MLPClassifier(**SMALL).fit(X, Y_CLF),
              "fm": MLPClassifier(**SMALL).fit(X, Y_CLF)}
    _block_engine(monkeypatch)

    def call(est):
        if method in ("score", "partial_fit"):
            return getattr(est, method)(bad, Y_CLF[:bad.shape[0]])
        return getattr(est, method)(bad)

    with pytest.raises(Exception) as sk_exc:
        call(models["sk"])
    with pytest.raises(type(sk_exc.value), match=re.escape(str(sk_exc.value))):
        call(models["fm"])


def test_string_targets_for_the_regressor_raise_value_error():
    """scikit-learn 1.9 fails late, with a NumPy UFuncTypeError from its loss;
    fastmlp rejects the strings up front with a ValueError."""
    with pytest.raises(ValueError, match="could not convert string to float"):
        MLPRegressor(**SMALL).fit(X, _strings(40))


@pytest.mark.parametrize("hidden", [(2.5,), (3.0,), (True,)])
def test_non_integer_layer_sizes_raise_like_sklearn(hidden):
    with pytest.raises(TypeError) as sk_exc:
        sk_nn.MLPRegressor(**{**SMALL, "hidden_layer_sizes": hidden}).fit(X, Y_REG)
    with pytest.raises(TypeError, match=re.escape(str(sk_exc.value))):
        MLPRegressor(**{**SMALL, "hidden_layer_sizes": hidden}).fit(X, Y_REG)


def test_absurd_network_sizes_fail_cleanly():
    """A layer of 10**11 units exceeds the engine's int sizes: ValueError.
    Networks whose training needs more memory than any machine has:
    MemoryError, before anything is allocated (scikit-learn attempts the
    allocation: MemoryError from NumPy at best, the OOM killer at worst).
    The interpreter survives."""
    rc, out, err = run_python("""
    import time, numpy as np
    from fastmlp import MLPClassifier, MLPRegressor
    X = np.random.RandomState(0).randn(20, 3)
    y = np.arange(20) % 2
    cases = {
        "1e11": lambda: MLPClassifier(hidden_layer_sizes=(10**11,)).fit(X, y),
        "2**31": lambda: MLPRegressor(hidden_layer_sizes=(5, 2**31)).fit(X, y),
        "huge-pair": lambda: MLPClassifier(hidden_layer_sizes=(2**31 - 1, 2**31 - 1),
                                           solver="lbfgs").fit(X, y),
        "huge-pair-partial": lambda: MLPRegressor(
            hidden_layer_sizes=(2**31 - 1, 2**31 - 1)).partial_fit(X, y),
        "huge-float32": lambda: MLPRegressor(hidden_layer_sizes=(2**30,) * 3).fit(
            X.astype(np.float32), y),
    }
    for name, fit in cases.items():
        t = time.perf_counter()
        try:
            fit()
            outcome = "no-error"
        except (MemoryError, ValueError) as e:
            outcome = type(e).__name__ + ":" + str(e).replace(" ", "_")
        print(name, outcome, round(time.perf_counter() - t, 3), flush=True)
    # the interpreter still trains normally
    print("after", MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y).n_iter_)
    """)
    assert rc == 0, f"the interpreter died (status {rc}): {err[-3000:]}"
    res = {k: v.split() for k, v in results(out).items()}
    assert res.pop("after") == ["3"], out
    assert set(res) == {"1e11", "2**31", "huge-pair", "huge-pair-partial", "huge-float32"}
    # no time bound: "before anything is allocated" is what the exception
    # type and message show (an attempted allocation of this size would
    # fail differently, or not return); pytest-timeout catches a hang
    assert res["1e11"][0].startswith("ValueError:") and "units_per_layer" in res["1e11"][0]
    assert res["2**31"][0].startswith("ValueError:")
    for name in ("huge-pair", "huge-pair-partial", "huge-float32"):
        assert res[name][0].startswith("MemoryError:"), res[name]
        assert "hidden_layer_sizes" in res[name][0]


def test_memory_check_against_the_machine(monkeypatch):
    """The MemoryError comes from comparing a lower bound of the fit's memory
    with the machine's (here: pretended) memory, before any allocation; the
    estimator is left untouched.  L-BFGS counts its chunked rows."""
    monkeypatch.setattr(fm_resources, "memory_limit", lambda: 256 * 2**20)
    reg = MLPRegressor(**SMALL).fit(X, Y_REG)
    before = snapshot(reg)
    # 14M parameters with their gradient and an optimizer moment: 336 MB, and
    # the activations of a 40-row batch: 1.3 GB
    reg.set_params(hidden_layer_sizes=(2_000_000,))
    with pytest.raises(MemoryError, match=r"layers \[5, 2000000, 1\] \(14,000,001 "
                       r"parameters\) needs at least 1.5 GiB, more than this "
                       r"machine's 0.2 GiB of memory"):
        reg.fit(X, Y_REG)
    assert_unchanged(reg, before)
    check = fm_resources.check_network_size
    # 0.7M parameters (22 MB); a batch of 200 rows of 100 001 activations and
    # deltas: 320 MB
    with pytest.raises(MemoryError):
        check([5, 100_000, 1], np.float64, 200, stochastic=True, first_pass=True)
    check([5, 100_000, 1], np.float32, 100, stochastic=True, first_pass=True)
    # L-BFGS runs a million rows in chunks of 41 rows (64 MB)
    check([5, 100_000, 1], np.float64, 10**6, stochastic=False, first_pass=True)


def test_wide_network_predicts_in_bounded_memory():
    """Prediction and L-BFGS's full-batch gradient run in chunks of rows
    sized to the network's width: a 300 000-unit layer predicts 3000 rows
    with a few MB of workspace (chunks of the engine's default 4096 rows
    would need 3000 x 300 000 x 16 bytes = 14 GB of activations)."""
    rc, out, err = run_python("""
    import resource, warnings
    import numpy as np
    from fastmlp import MLPRegressor
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X, y = rng.randn(3000, 2), rng.randn(3000)
    reg = MLPRegressor(hidden_layer_sizes=(300_000,), solver="lbfgs", max_iter=1,
                       random_state=0).fit(X[:50], y[:50])
    pred = reg.predict(X)
    print("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    # the same numbers as NumPy's forward pass (on a few rows: NumPy's
    # forward pass is not chunked)
    ref = np.maximum(X[:20] @ reg.coefs_[0] + reg.intercepts_[0], 0) @ reg.coefs_[1] \\
        + reg.intercepts_[1]
    print("close", np.allclose(pred[:20], ref.ravel(), rtol=1e-9, atol=1e-12))
    """)
    assert rc == 0, f"the interpreter died (status {rc}): {err[-3000:]}"
    res = results(out)
    assert res["close"] == "True"
    # the interpreter, the libraries, the 10 MB model and L-BFGS's 200 MB of
    # history: under 1 GB
    assert int(res["peak_mb"]) < 1000, res


# ---------------------------------------------------------------------------
# Inputs that must just work: the model of a clean C-contiguous float64 array


def _memmap(a, tmp_path, name):
    path = tmp_path / f"{name}.dat"
    m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    m[:] = a
    m.flush()
    return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)


def _strided(a):
    big = np.zeros((2 * a.shape[0],) + tuple(3 * s for s in a.shape[1:]), a.dtype)
    index = (slice(None, None, 2),) + (slice(None, None, 3),) * (a.ndim - 1)
    big[index] = a
    return big[index]


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _negative_strides(a):
    flipped = a[::-1].copy()
    return flipped[::-1]


def _dataframe(a):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(a) if a.ndim == 2 else pd.Series(a)


X_VARIANTS = {
    "fortran": lambda a, tmp: np.asfortranarray(a),
    "strided": lambda a, tmp: _strided(a),
    "negative-strides": lambda a, tmp: _negative_strides(a),
    "readonly": lambda a, tmp: _readonly(a),
    "memmap-readonly": lambda a, tmp: _memmap(a, tmp, "X"),
    "int64": lambda a, tmp: a.astype(np.int64),
    "int32-fortran": lambda a, tmp: np.asfortranarray(a.astype(np.int32)),
    "uint8": lambda a, tmp: (a - a.min()).astype(np.uint8),
    "list": lambda a, tmp: a.tolist(),
    "dataframe": lambda a, tmp: _dataframe(a),
    "csr": lambda a, tmp: sp.csr_matrix(a),
    "csc": lambda a, tmp: sp.csc_matrix(a),
    "coo": lambda a, tmp: sp.coo_matrix(a),
    "csr-int": lambda a, tmp: sp.csr_matrix(a.astype(np.int64)),
    "csr-array-unsorted": lambda a, tmp: _unsorted_csr(a),
}


def _unsorted_csr(a):
    """A CSR array (scipy's sparray) with unsorted column indices."""
    m = sp.csr_array(a)
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        m.indices[lo:hi] = m.indices[lo:hi][::-1].copy()
        m.data[lo:hi] = m.data[lo:hi][::-1].copy()
    m.has_sorted_indices = False
    return m


def _clean(a):
    """What a variant is equivalent to: C-contiguous float64 values."""
    return np.ascontiguousarray(a, dtype=np.float64)


ESTIMATORS = {
    "classifier-adam": (MLPClassifier, dict(SMALL), Y_CLF),
    "regressor-lbfgs": (MLPRegressor, dict(SMALL, solver="lbfgs"), Y_REG),
    "regressor-sgd": (MLPRegressor, dict(SMALL, solver="sgd"), Y_REG),
}


@pytest.mark.parametrize("est_name", sorted(ESTIMATORS))
@pytest.mark.parametrize("variant", sorted(X_VARIANTS))
def test_x_layouts_and_types_give_the_clean_model(variant, est_name, tmp_path):
    if variant == "csr-array-unsorted" and not hasattr(sp, "csr_array"):
        pytest.skip(f"SciPy {scipy.__version__} has no sparse arrays (csr_array is 1.8+)")
    cls, params, y = ESTIMATORS[est_name]
    X_base = X - X.min() if variant == "uint8" else X
    Xv = X_VARIANTS[variant](X_base, tmp_path)
    clean = cls(**params).fit(_clean(X_base), y)
    model = cls(**params).fit(Xv, y)
    sparse = sp.issparse(Xv)
    # the CSR kernel sums in another order than the dense GEMM
    assert_same_model(model, clean, rtol=1e-9 if sparse else 0.0)
    pred, expected = model.predict(Xv), clean.predict(_clean(X_base))
    if cls is MLPClassifier:
        np.testing.assert_array_equal(pred, expected)
        np.testing.assert_allclose(model.predict_proba(Xv),
                                   clean.predict_proba(_clean(X_base)),
                                   rtol=1e-9 if sparse else 0, atol=0)
    else:
        np.testing.assert_allclose(pred, expected, rtol=1e-9 if sparse else 0, atol=0)
    # the caller's data is never modified
    if not sparse and variant not in ("list", "dataframe"):
        np.testing.assert_array_equal(np.asarray(Xv, np.float64), _clean(X_base))


Y_VARIANTS = {
    "list": lambda a, tmp, name: a.tolist(),
    "strided": lambda a, tmp, name: _strided(a),
    "readonly": lambda a, tmp, name: _readonly(a),
    "memmap-readonly": lambda a, tmp, name: _memmap(a, tmp, name),
    "series": lambda a, tmp, name: _dataframe(a),
    "tuple": lambda a, tmp, name: tuple(a.tolist()),
}


@pytest.mark.parametrize("est_name", ["classifier-adam", "regressor-lbfgs"])
@pytest.mark.parametrize("variant", sorted(Y_VARIANTS))
def test_y_and_sample_weight_layouts_give_the_clean_model(variant, est_name, tmp_path):
    cls, params, y = ESTIMATORS[est_name]
    make = Y_VARIANTS[variant]
    clean = cls(**params).fit(X, y, sample_weight=SW)
    model = cls(**params).fit(X, make(y, tmp_path, "y"),
                            sample_weight=make(SW, tmp_path, "sw"))
    assert_same_model(model, clean)


def test_float32_layouts_give_the_clean_float32_model(tmp_path):
    X32 = X.astype(np.float32)
    clean = MLPRegressor(**SMALL).fit(X32, Y_REG)
    for variant in ("fortran", "strided", "readonly", "memmap-readonly", "dataframe"):
        model = MLPRegressor(**SMALL).fit(X_VARIANTS[variant](X32, tmp_path), Y_REG)
        assert model.coefs_[0].dtype == np.float32, variant
        assert_same_model(model, clean)


def test_partial_fit_layouts_give_the_clean_model(tmp_path):
    clean = MLPClassifier(**SMALL)
    model = MLPClassifier(**SMALL)
    for k, variant in enumerate(["fortran", "csr", "list", "readonly", "coo"]):
        rows = slice(8 * k, 8 * k + 8)
        kw = dict(classes=[0, 1, 2]) if k == 0 else {}
        clean.partial_fit(_clean(X[rows]), Y_CLF[rows], **kw)
        model.partial_fit(X_VARIANTS[variant](X[rows], tmp_path), Y_CLF[rows], **kw)
    assert_same_model(model, clean, rtol=1e-9)


# ---------------------------------------------------------------------------
# Ctrl-C

INTERRUPT_PRELUDE = """
    import json, os, pickle, signal, threading, time, warnings
    import numpy as np
    from fastmlp import MLPClassifier, MLPRegressor, _engine

    def interrupt_in(seconds):
        \"\"\"SIGINT to this process after `seconds`; returns the list that
        receives the time it was sent.\"\"\"
        sent = []
        def fire():
            time.sleep(seconds)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire, daemon=True).start()
        return sent

    def engine_epoch(est, X, Y, rows, batch_size):
        \"\"\"Continue est's training over `rows` with the engine directly.\"\"\"
        _engine.train_epoch(est._network(), est._params, est._optimizer,
                            np.ascontiguousarray(X, est._params.dtype),
                            np.ascontiguousarray(Y, est._params.dtype), None,
                            np.ascontiguousarray(rows, np.int64), batch_size)
"""


def _interrupt_run(code):
    rc, out, err = run_python(INTERRUPT_PRELUDE + code, timeout=120)
    assert rc == 0, f"status {rc}: {out} {err[-3000:]}"
    assert out.strip(), err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_ctrl_c_during_stochastic_fit_keeps_the_last_update():
    """SIGINT during fit (adam): within a second the fit returns with
    scikit-learn's "Training interrupted by user." warning; the weights are
    those after the last completed mini-batch update -- exactly: the model
    equals one trained for the completed epochs and then for the completed
    batches of the interrupted one -- with the interrupted epoch counted
    neither in n_iter_, t_ nor loss_curve_."""
    res = _interrupt_run("""
    # epochs of ~0.3 s (60 000 updates): the interrupt usually lands mid-epoch
    rng = np.random.RandomState(0)
    X = rng.randn(60_000, 20)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    params = dict(hidden_layer_sizes=(128,), batch_size=1, shuffle=False, tol=0.0,
                  n_iter_no_change=np.inf, max_iter=10**6, random_state=0)
    t0 = time.perf_counter()
    MLPClassifier(**dict(params, max_iter=1)).fit(X, y)
    epoch = time.perf_counter() - t0
    clf = MLPClassifier(**params)
    sent = interrupt_in(2.5 * epoch)  # in the third epoch, whatever the machine
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    latency = time.perf_counter() - sent[0]
    n_batches = 60_000
    # the reference: the completed epochs with fit, then the completed
    # batches of the interrupted epoch with the engine
    ref = MLPClassifier(**dict(params, max_iter=clf.n_iter_))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X, y)
    extra = clf._optimizer.step - ref._optimizer.step
    Y = ref._label_binarizer.transform(y).astype(float)
    engine_epoch(ref, X, Y, np.arange(extra), 1)
    print(json.dumps(dict(
        latency=latency,
        warnings=[str(w.message) for w in caught],
        finite=bool(np.isfinite(clf._params).all()),
        n_iter=clf.n_iter_, curve=len(clf.loss_curve_), t=clf.t_,
        extra=int(extra), n_batches=n_batches,
        same_as_reference=bool(np.array_equal(clf._params, ref._params)),
        same_moments=bool(np.array_equal(clf._optimizer.moment_1, ref._optimizer.moment_1)
                          and np.array_equal(clf._optimizer.moment_2,
                                             ref._optimizer.moment_2)),
        predicts=clf.predict(X[:5]).tolist(),
    )))
    """)
    assert res["latency"] < 1.0, res
    assert res["warnings"] == ["Training interrupted by user."], res
    assert res["finite"]
    assert res["n_iter"] > 0 and res["n_iter"] == res["curve"]
    assert res["t"] == res["n_iter"] * 60_000
    # mid-epoch (the signal comes 2.5 epochs in): a rollback to the last
    # whole epoch (extra == 0) is not "the last completed update"
    assert 0 < res["extra"] < res["n_batches"], res
    assert res["same_as_reference"] and res["same_moments"], res
    assert len(res["predicts"]) == 5


def test_ctrl_c_during_partial_fit_keeps_the_last_update():
    """SIGINT during one long partial_fit epoch (batch_size=1): the call
    returns within a second with the warning; t_, n_iter_ and loss_curve_
    are those before the call, the weights those after the last completed
    update, and training can go on."""
    res = _interrupt_run("""
    rng = np.random.RandomState(0)
    X = rng.randn(300_000, 10)
    y = X[:, 0] - 2 * X[:, 1] + rng.randn(300_000)
    reg = MLPRegressor(hidden_layer_sizes=(512,), batch_size=1, shuffle=False,
                       random_state=0)
    reg.partial_fit(X[:100], y[:100])
    before = pickle.loads(pickle.dumps(reg))
    sent = interrupt_in(0.5)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.partial_fit(X, y)
    latency = time.perf_counter() - sent[0]
    extra = reg._optimizer.step - before._optimizer.step
    engine_epoch(before, X, y[:, None], np.arange(extra), 1)
    same = bool(np.array_equal(reg._params, before._params))
    reg.partial_fit(X[:100], y[:100])  # goes on
    print(json.dumps(dict(
        latency=latency, elapsed=time.perf_counter() - t0,
        warnings=[str(w.message) for w in caught],
        extra=int(extra), same_as_reference=same,
        t_before=before.t_, curve_before=len(before.loss_curve_),
        t_after_next=reg.t_, curve_after_next=len(reg.loss_curve_),
        finite=bool(np.isfinite(reg._params).all()),
    )))
    """)
    assert res["latency"] < 1.0, res
    assert res["warnings"] == ["Training interrupted by user."], res
    assert 0 < res["extra"] < 300_000, "the epoch was not interrupted mid-way"
    assert res["same_as_reference"]
    # the interrupted call counted nothing; the next one counts its 100 rows
    assert res["t_before"] == 100 and res["curve_before"] == 1
    assert res["t_after_next"] == 200 and res["curve_after_next"] == 2
    assert res["finite"]


def test_ctrl_c_during_lbfgs_propagates_and_leaves_the_estimator_untouched():
    """With 'lbfgs' (as in scikit-learn) KeyboardInterrupt propagates, within
    a second; the estimator is left as it was: a fitted one keeps its model,
    an unfitted one stays unfitted."""
    res = _interrupt_run("""
    from sklearn.utils.validation import check_is_fitted
    rng = np.random.RandomState(0)
    X, y = rng.randn(20000, 20), rng.randn(20000)  # noise: L-BFGS never converges
    params = dict(solver="lbfgs", hidden_layer_sizes=(64,), tol=0.0, max_iter=10**6,
                  max_fun=10**9, random_state=0)
    out = {}
    for case in ("fitted", "unfitted"):
        reg = MLPRegressor(**params)
        if case == "fitted":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reg.set_params(max_iter=3).fit(X[:200], y[:200]).set_params(max_iter=10**6)
        before = pickle.loads(pickle.dumps(reg))
        sent = interrupt_in(0.5)
        try:
            reg.fit(X, y)
            out[case] = "finished"
            continue
        except KeyboardInterrupt:
            latency = time.perf_counter() - sent[0]
        if case == "fitted":
            same = (np.array_equal(reg._params, before._params) and
                    reg.n_iter_ == before.n_iter_ and reg.loss_ == before.loss_ and
                    np.array_equal(reg.predict(X[:50]), before.predict(X[:50])))
        else:
            try:
                check_is_fitted(reg)
                same = False
            except Exception as exc:
                same = type(exc).__name__ == "NotFittedError"
            same = same and not hasattr(reg, "coefs_")
        out[case] = dict(latency=latency, untouched=bool(same))
    print(json.dumps(out))
    """)
    for case in ("fitted", "unfitted"):
        assert res[case] != "finished", "L-BFGS ended before the interrupt"
        assert res[case]["latency"] < 1.0, res
        assert res[case]["untouched"], res


# ---------------------------------------------------------------------------
# Divergence: scikit-learn's ValueError, and no NaN weights left behind

X_DIVERGE, Y_DIVERGE = X * 1e4, Y_REG * 1e6
DIVERGING = dict(solver="sgd", learning_rate_init=10.0, hidden_layer_sizes=(8,),
                 batch_size=4, max_iter=20, random_state=0)
NON_FINITE = "Solver produced non-finite parameter weights"


@pytest.fixture(autouse=False)
def quiet_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_diverging_fit_leaves_an_unfitted_estimator_unfitted(quiet_overflow):
    reg = MLPRegressor(**DIVERGING)
    with pytest.raises(ValueError, match=NON_FINITE):
        reg.fit(X_DIVERGE, Y_DIVERGE)
    assert not hasattr(reg, "coefs_")
    with pytest.raises(NotFittedError):
        reg.predict(X)
    # scikit-learn keeps the NaN weights; fastmlp does not (documented)
    sk = sk_nn.MLPRegressor(**DIVERGING)
    with pytest.raises(ValueError, match=NON_FINITE):
        sk.fit(X_DIVERGE, Y_DIVERGE)
    assert not all(np.isfinite(c).all() for c in sk.coefs_)


def test_diverging_refit_keeps_the_previous_model(quiet_overflow):
    reg = MLPRegressor(**dict(DIVERGING, learning_rate_init=1e-3)).fit(X, Y_REG)
    before, pred = snapshot(reg), reg.predict(X)
    reg.set_params(learning_rate_init=10.0)
    with pytest.raises(ValueError, match=NON_FINITE):
        reg.fit(X_DIVERGE, Y_DIVERGE)
    assert_unchanged(reg, before)
    np.testing.assert_array_equal(reg.predict(X), pred)
    check_is_fitted(reg)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_diverging_continued_training_restores_the_state_before_the_call(
        how, quiet_overflow):
    """Weights, optimizer moments, n_iter_, t_ and loss_curve_ as before the
    failed call; training then goes on exactly as if it had never happened."""
    params = dict(DIVERGING, learning_rate_init=1e-3, warm_start=how == "warm_start")

    def good_step(est):
        if how == "warm_start":
            est.fit(X, Y_REG)
        else:
            est.partial_fit(X, Y_REG)

    reg, twin = MLPRegressor(**params), MLPRegressor(**params)
    good_step(reg)
    good_step(twin)
    before = snapshot(reg)
    reg.set_params(learning_rate_init=10.0)
    with pytest.raises(ValueError, match=NON_FINITE):
        if how == "warm_start":
            reg.fit(X_DIVERGE, Y_DIVERGE)
        else:
            reg.partial_fit(X_DIVERGE, Y_DIVERGE)
    assert_unchanged(reg, before)
    assert np.isfinite(reg._optimizer.moment_1).all()
    reg.set_params(learning_rate_init=1e-3)
    good_step(reg)
    good_step(twin)
    assert_same_model(reg, twin)
    assert reg.loss_curve_ == twin.loss_curve_ and reg.t_ == twin.t_


def test_rejected_partial_fit_leaves_the_model_untouched():
    """Any failing call is undone, not only divergence: a partial_fit whose
    data is rejected, or that raises mid-way."""
    clf = MLPClassifier(**SMALL).partial_fit(X, Y_CLF, classes=[0, 1, 2])
    before = snapshot(clf)
    with pytest.raises(ValueError):
        clf.partial_fit(np.where(X > 2, np.nan, X), Y_CLF)
    with pytest.raises(ValueError):
        clf.partial_fit(X, np.full(40, 7))
    assert_unchanged(clf, before)


def test_failure_inside_the_engine_call_is_undone(monkeypatch):
    """An error raised after training started (here: MemoryError from the
    second epoch) leaves a warm-started model as it was."""
    reg = MLPRegressor(**dict(SMALL, warm_start=True)).fit(X, Y_REG)
    before = snapshot(reg)
    real = fm_module._engine.train_epoch
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("fastmlp engine: could not allocate its workspace")
        return real(*args, **kwargs)

    monkeypatch.setattr(fm_module._engine, "train_epoch", failing)
    with pytest.raises(MemoryError):
        reg.fit(X, Y_REG)
    assert len(calls) == 2
    assert_unchanged(reg, before)


# ---------------------------------------------------------------------------
# Threads


def test_concurrent_fits_in_threads_match_sequential_fits():
    """Different estimators fitted at the same time in threads (the engine
    releases the GIL, so they really overlap) get exactly the models they get
    alone: the engine keeps no shared mutable state."""
    rng = np.random.RandomState(1)
    Xt = rng.randn(3000, 12)
    y_clf = (Xt[:, 0] * Xt[:, 1] > 0).astype(int) + (Xt[:, 2] > 1)
    y_reg = Xt @ rng.randn(12)
    Xs = sp.csr_matrix(np.where(np.abs(Xt) > 1, Xt, 0))
    jobs = [
        (MLPClassifier, dict(hidden_layer_sizes=(64,), batch_size=16), Xt, y_clf),
        (MLPClassifier, dict(hidden_layer_sizes=(32, 16), batch_size=16),
         Xt.astype(np.float32), y_clf),
        (MLPRegressor, dict(solver="sgd", hidden_layer_sizes=(48,), batch_size=8), Xs, y_reg),
        (MLPRegressor, dict(solver="lbfgs", hidden_layer_sizes=(64,)), Xt, y_reg),
        (MLPRegressor, dict(hidden_layer_sizes=(40,), batch_size=16, early_stopping=True,
                            n_iter_no_change=1000), Xt, y_reg),
    ]

    def fit(i):
        cls, params, Xj, yj = jobs[i]
        return cls(random_state=i, max_iter=25, **params).fit(Xj, yj)

    sequential = [fit(i) for i in range(len(jobs))]
    concurrent = [None] * len(jobs)
    spans, errors = [None] * len(jobs), []

    def work(i):
        try:
            t0 = time.perf_counter()
            concurrent[i] = fit(i)
            spans[i] = (t0, time.perf_counter())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(concurrent, sequential):
        assert_same_model(a, b)
        assert a.n_iter_ == b.n_iter_ and a.loss_ == b.loss_
    # the fits ran at the same time: the first to end ended after all began
    assert min(end for _, end in spans) > max(start for start, _ in spans)


# ---------------------------------------------------------------------------
# Memory


def test_repeated_fits_do_not_leak_memory():
    """30 rounds of fits (every solver, dense and sparse, float32, partial_fit,
    predict, pickling, a diverging fit) after a warm-up: the process's
    resident memory grows by less than 4 MB (a leaked workspace per engine
    call would add tens of MB)."""
    rc, out, err = run_python("""
    import gc, os, pickle, warnings
    import numpy as np, scipy.sparse as sp
    from fastmlp import MLPClassifier, MLPRegressor
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = rng.randn(600, 30)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    yr = X @ rng.randn(30)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def one_round(seed):
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=8, random_state=seed)
        clf.fit(X, y).predict_proba(X)
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=8, early_stopping=True,
                      random_state=seed).fit(X.astype(np.float32), y).predict(X)
        reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(32, 16), max_iter=20,
                           random_state=seed).fit(Xs, yr)
        reg.predict(Xs)
        sgd = MLPRegressor(solver="sgd", hidden_layer_sizes=(16,), random_state=seed)
        for k in range(3):
            sgd.partial_fit(X[200 * k:200 * (k + 1)], yr[200 * k:200 * (k + 1)])
        pickle.loads(pickle.dumps(clf)).predict(X)
        try:
            MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=5,
                         random_state=seed).fit(X * 1e4, yr * 1e6)
        except ValueError:
            pass

    for seed in range(5):
        one_round(seed)
    gc.collect()
    start = rss()
    for seed in range(30):
        one_round(seed)
    gc.collect()
    print("growth", rss() - start)
    """, timeout=300)
    assert rc == 0, f"status {rc}: {err[-3000:]}"
    growth = int(results(out)["growth"])
    assert growth < 4 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MB"


# ---------------------------------------------------------------------------
# Saved models


@pytest.mark.parametrize(
    "saved",
    [fm_parameters.PICKLE_FORMAT_VERSION - 1, fm_parameters.PICKLE_FORMAT_VERSION + 1, None],
    ids=["older", "newer", "unversioned"],
)
def test_pickle_from_an_incompatible_version_raises(saved, monkeypatch):
    clf = MLPClassifier(**SMALL).fit(X, Y_CLF)
    with monkeypatch.context() as m:
        if saved is None:
            original = fm_module.BaseMultilayerPerceptron.__getstate__

            def unversioned(self):
                state = original(self)
                del state["_fastmlp_pickle_version"], state["_fastmlp_version"]
                return state

            m.setattr(fm_module.BaseMultilayerPerceptron, "__getstate__", unversioned)
        else:
            m.setattr(fm_parameters, "PICKLE_FORMAT_VERSION", saved)
            m.setattr(fastmlp, "__version__", f"9.{saved}.0")
        blob = pickle.dumps(clf)
    with pytest.raises(ValueError) as exc:
        pickle.loads(blob)
    msg = str(exc.value)
    current = fm_parameters.PICKLE_FORMAT_VERSION
    assert f"this is fastmlp {fastmlp.__version__}" in msg
    assert f"reads pickle format {current} only" in msg
    if saved is None:
        assert "an unknown fastmlp version (no pickle format)" in msg
    else:
        assert f"fastmlp 9.{saved}.0 (pickle format {saved})" in msg
    assert "Refit" in msg


def test_pickle_records_both_versions():
    state = MLPRegressor(**SMALL).fit(X, Y_REG).__getstate__()
    assert state["_fastmlp_pickle_version"] == fm_parameters.PICKLE_FORMAT_VERSION
    assert state["_fastmlp_version"] == fastmlp.__version__
    restored = pickle.loads(pickle.dumps(MLPRegressor(**SMALL).fit(X, Y_REG)))
    assert not hasattr(restored, "_fastmlp_version")
    assert not hasattr(restored, "_fastmlp_pickle_version")
