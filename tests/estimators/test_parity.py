"""Parity of fastmlp's estimators with scikit-learn 1.9's.

With the same arguments and ``random_state``, fastmlp must draw the same
initial weights, visit the same mini-batches and apply the same updates as
``sklearn.neural_network``: every fitted attribute (``coefs_``,
``intercepts_``, ``loss_curve_``, ``n_iter_``, ``t_``, ``best_loss_``,
``validation_scores_``...) must match to rounding error in float64.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sk_nn
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from _sklearn_features import HAS_LOSS, HAS_SAMPLE_WEIGHT, NO_LOSS, NO_SAMPLE_WEIGHT

# Relative tolerance of the float64 comparisons.  The engine computes the
# same sums as NumPy in a different order, so differences are rounding
# noise (typically < 1e-13 after a few epochs; L-BFGS amplifies them the
# most, through its line search).
RTOL = 1e-7
ATOL = 1e-12

IMPLS = {
    "sklearn": {"MLPClassifier": sk_nn.MLPClassifier, "MLPRegressor": sk_nn.MLPRegressor},
    "fastmlp": {"MLPClassifier": fastmlp.MLPClassifier, "MLPRegressor": fastmlp.MLPRegressor},
}


# ---------------------------------------------------------------------------
# Data: small, standardized, deterministic

def _make_data():
    rng = np.random.RandomState(42)
    n, d = 150, 6
    X = rng.randn(n, d)
    W = rng.randn(d, 3)
    Z = X @ W + 0.3 * rng.randn(n, 3)
    data = {}
    data["binary"] = ("MLPClassifier", X, (Z[:, 0] > 0).astype(int))
    data["multiclass"] = ("MLPClassifier", X, np.argmax(Z, axis=1))
    Xl, Yl = make_multilabel_classification(
        n_samples=n, n_features=d, n_classes=3, random_state=0
    )
    data["multilabel"] = ("MLPClassifier", (Xl - Xl.mean(0)) / Xl.std(0), Yl)
    data["regression"] = ("MLPRegressor", X, Z[:, 0] / Z[:, 0].std())
    data["multioutput"] = ("MLPRegressor", X, Z[:, :2] / Z[:, :2].std(0))
    data["poisson"] = (
        "MLPRegressor", X, rng.poisson(np.exp(0.3 * Z[:, 1] / Z[:, 1].std()))
        .astype(float),
    )
    return data


DATA = _make_data()
TASKS = list(DATA)


# ---------------------------------------------------------------------------
# Helpers

def max_rel_diff(actual, desired):
    """Largest elementwise |actual - desired| / |desired| over arrays."""
    worst = 0.0
    for a, d in zip(actual, desired):
        a = np.asarray(a, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        if a.size:
            worst = max(
                worst, float(np.max(np.abs(a - d) / np.maximum(np.abs(d), 1e-300)))
            )
    return worst


def _assert_close_arrays(name, actual, desired, rtol=RTOL, atol=ATOL):
    actual, desired = list(actual), list(desired)
    assert len(actual) == len(desired), f"{name}: {len(actual)} != {len(desired)}"
    for i, (a, d) in enumerate(zip(actual, desired)):
        assert np.shape(a) == np.shape(d), f"{name}[{i}] shape {np.shape(a)} != {np.shape(d)}"
    rel = max_rel_diff(actual, desired)
    for i, (a, d) in enumerate(zip(actual, desired)):
        assert np.allclose(a, d, rtol=rtol, atol=atol), (
            f"{name}[{i}] differs from scikit-learn: max relative difference "
            f"{rel:.3e} (rtol={rtol}), max abs difference "
            f"{np.max(np.abs(np.asarray(a) - np.asarray(d))):.3e}"
        )


def _scalar_close(a, b, rtol=RTOL):
    if a is None or b is None:
        return a is b
    return bool(np.isclose(a, b, rtol=rtol, atol=ATOL)) or (a == b)


def assert_same_model(fm, sk, rtol=RTOL):
    """fastmlp's fitted estimator `fm` equals scikit-learn's `sk`."""
    _assert_close_arrays("coefs_", fm.coefs_, sk.coefs_, rtol=rtol)
    _assert_close_arrays("intercepts_", fm.intercepts_, sk.intercepts_, rtol=rtol)
    for c_fm, c_sk in zip(fm.coefs_, sk.coefs_):
        assert c_fm.dtype == c_sk.dtype
    for attr in ("n_iter_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_"):
        assert getattr(fm, attr) == getattr(sk, attr), attr
    if hasattr(sk, "classes_"):
        np.testing.assert_array_equal(fm.classes_, sk.classes_)
    assert _scalar_close(fm.loss_, sk.loss_, rtol), (
        f"loss_ {fm.loss_!r} != scikit-learn's {sk.loss_!r} (relative difference "
        f"{abs(fm.loss_ - sk.loss_) / abs(sk.loss_):.3e})"
    )
    if sk.solver in ("sgd", "adam"):
        assert fm.t_ == sk.t_
        assert len(fm.loss_curve_) == len(sk.loss_curve_)
        np.testing.assert_allclose(
            fm.loss_curve_, sk.loss_curve_, rtol=rtol, atol=ATOL,
            err_msg=f"loss_curve_: max rel diff "
            f"{max_rel_diff([fm.loss_curve_], [sk.loss_curve_]):.3e}",
        )
        assert _scalar_close(fm.best_loss_, sk.best_loss_, rtol), (
            f"best_loss_ {fm.best_loss_!r} != scikit-learn's {sk.best_loss_!r}")
        if sk.validation_scores_ is None:
            assert fm.validation_scores_ is None
            assert fm.best_validation_score_ is None
        else:
            np.testing.assert_allclose(
                fm.validation_scores_, sk.validation_scores_, rtol=rtol, atol=ATOL
            )
            assert _scalar_close(
                fm.best_validation_score_, sk.best_validation_score_, rtol
            )
        assert fm._no_improvement_count == sk._no_improvement_count
    else:
        assert not hasattr(fm, "t_") or fm.t_ == sk.t_


def _predictions_close(fm, sk, X, rtol=1e-6):
    if hasattr(sk, "predict_proba"):
        np.testing.assert_allclose(
            fm.predict_proba(X), sk.predict_proba(X), rtol=rtol, atol=1e-10
        )
    if hasattr(sk, "classes_"):
        np.testing.assert_array_equal(fm.predict(X), sk.predict(X))
    else:
        np.testing.assert_allclose(fm.predict(X), sk.predict(X), rtol=rtol, atol=1e-10)


def fit_both(cls_name, params, X, y, *, calls=None, record=False, **fit_kwargs):
    """Fit scikit-learn's and fastmlp's estimator with the same arguments.

    `calls`: a list of (method, args, kwargs) run in turn instead of a single
    ``fit(X, y, **fit_kwargs)``.  With `record`, also returns each
    implementation's warnings (category, message) and stdout.
    """
    if calls is None:
        calls = [("fit", (X, y), fit_kwargs)]
    # nothing to compare with where the installed scikit-learn lacks a feature
    if "loss" in params and not HAS_LOSS:
        pytest.skip(NO_LOSS)
    if not HAS_SAMPLE_WEIGHT and any(
        kwargs.get("sample_weight") is not None for _, _, kwargs in calls
    ):
        pytest.skip(NO_SAMPLE_WEIGHT)
    models, logs = {}, {}
    for impl, classes in IMPLS.items():
        est = classes[cls_name](**params)
        out = io.StringIO()
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            for method, args, kwargs in calls:
                if method == "set_params":
                    est.set_params(**kwargs)
                else:
                    getattr(est, method)(*args, **kwargs)
        models[impl] = est
        logs[impl] = (
            [(w.category, str(w.message)) for w in caught],
            out.getvalue(),
        )
    if record:
        return models["fastmlp"], models["sklearn"], logs
    return models["fastmlp"], models["sklearn"]


# ---------------------------------------------------------------------------
# Solver x activation x loss

SOLVER_PARAMS = {
    "sgd": dict(solver="sgd", learning_rate_init=0.05, max_iter=8, batch_size=32),
    "adam": dict(solver="adam", learning_rate_init=0.01, max_iter=8, batch_size=32),
    "lbfgs": dict(solver="lbfgs", max_iter=15),
}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_solver_activation_loss(solver, activation, task):
    cls_name, X, y = DATA[task]
    params = dict(
        SOLVER_PARAMS[solver],
        activation=activation,
        hidden_layer_sizes=(6, 5) if activation in ("tanh", "relu") else (8,),
        random_state=3,
    )
    if task == "poisson":
        params["loss"] = "poisson"
        if solver == "sgd":
            params["learning_rate_init"] = 0.005
    fm, sk = fit_both(cls_name, params, X, y)
    assert_same_model(fm, sk)
    _predictions_close(fm, sk, X)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_alpha(solver, alpha):
    cls_name, X, y = DATA["multiclass"]
    params = dict(SOLVER_PARAMS[solver], alpha=alpha, hidden_layer_sizes=(7,),
                  random_state=0)
    fm, sk = fit_both(cls_name, params, X, y)
    assert_same_model(fm, sk)


def test_parity_int_hidden_layer_sizes_and_random_state_instance():
    """An int hidden_layer_sizes and a RandomState instance: the instance is
    advanced exactly as scikit-learn advances it."""
    cls_name, X, y = DATA["multiclass"]
    rs = {impl: np.random.RandomState(7) for impl in IMPLS}
    models = {}
    for impl, classes in IMPLS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models[impl] = classes[cls_name](
                hidden_layer_sizes=7, max_iter=4, batch_size=40,
                random_state=rs[impl],
            ).fit(X, y)
    assert_same_model(models["fastmlp"], models["sklearn"])
    state_fm, state_sk = rs["fastmlp"].get_state(), rs["sklearn"].get_state()
    np.testing.assert_array_equal(state_fm[1], state_sk[1])
    assert state_fm[2] == state_sk[2]


@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_parity_saturated_outputs(task):
    """Large logits (inputs x 20): the reported log-loss must still be
    scikit-learn's, which evaluates log(1 - p) on the rounded probability
    p = expit(z) clipped to [eps, 1 - eps]."""
    cls_name, X, y = DATA[task]
    params = dict(solver="sgd", learning_rate_init=0.1, max_iter=5,
                  hidden_layer_sizes=(8,), random_state=0)
    fm, sk = fit_both(cls_name, params, 20 * X, y)
    assert_same_model(fm, sk)


# ---------------------------------------------------------------------------
# Early stopping and stopping on the training loss

@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_early_stopping(solver, task):
    cls_name, X, y = DATA[task]
    params = dict(
        SOLVER_PARAMS[solver], early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=2, tol=1e-3, max_iter=40, hidden_layer_sizes=(8,),
        random_state=1,
    )
    if task == "poisson":
        params["loss"] = "poisson"
        params["learning_rate_init"] = 0.005
    fm, sk = fit_both(cls_name, params, X, y)
    assert sk.n_iter_ < 40, "the case should stop early"
    assert fm.best_loss_ is None
    assert fm.best_validation_score_ == max(fm.validation_scores_)
    assert len(fm.validation_scores_) == fm.n_iter_ == len(fm.loss_curve_)
    assert_same_model(fm, sk)


@pytest.mark.parametrize("n_iter_no_change", [2, np.inf])
@pytest.mark.parametrize("cls_task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_training_loss_convergence(solver, cls_task, n_iter_no_change):
    cls_name, X, y = DATA[cls_task]
    params = dict(SOLVER_PARAMS[solver], tol=0.05, n_iter_no_change=n_iter_no_change,
                  max_iter=20, hidden_layer_sizes=(8,), random_state=0)
    fm, sk, logs = fit_both(cls_name, params, X, y, record=True)
    # stops on the training loss, or never with n_iter_no_change=inf
    assert (sk.n_iter_ < 20) == (n_iter_no_change == 2)
    assert_same_model(fm, sk)
    assert logs["fastmlp"] == logs["sklearn"]


# ---------------------------------------------------------------------------
# Sample weights

@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_sample_weight(solver, task):
    cls_name, X, y = DATA[task]
    sw = np.random.RandomState(0).uniform(0.0, 3.0, size=X.shape[0])
    sw[:10] = 0.0
    params = dict(SOLVER_PARAMS[solver], hidden_layer_sizes=(6, 5), random_state=5)
    if task == "poisson":
        params.update(loss="poisson", learning_rate_init=0.005)
    fm, sk = fit_both(cls_name, params, X, y, sample_weight=sw)
    assert_same_model(fm, sk)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_parity_sample_weight_early_stopping(task):
    cls_name, X, y = DATA[task]
    sw = np.random.RandomState(1).randint(0, 4, size=X.shape[0]).astype(float)
    params = dict(SOLVER_PARAMS["adam"], early_stopping=True, n_iter_no_change=3,
                  max_iter=20, hidden_layer_sizes=(8,), random_state=2)
    fm, sk = fit_both(cls_name, params, X, y, sample_weight=sw)
    assert_same_model(fm, sk)


# ---------------------------------------------------------------------------
# partial_fit and warm_start

@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_partial_fit_sequence(solver, task):
    cls_name, X, y = DATA[task]
    params = dict(SOLVER_PARAMS[solver], hidden_layer_sizes=(6, 5), random_state=4)
    if task == "poisson":
        params.update(loss="poisson", learning_rate_init=0.005)
    is_single_label = task in ("binary", "multiclass")
    first = slice(0, 50)
    if is_single_label:
        # first chunk without the last class: `classes` must provide it
        keep = np.flatnonzero(y != y.max())[:50]
    else:
        keep = np.arange(50)
    if is_single_label:
        extra = {"classes": np.unique(y)}
    elif cls_name == "MLPClassifier":  # multilabel: classes are the columns
        extra = {"classes": np.arange(y.shape[1])}
    else:
        extra = {}
    sw = np.linspace(0.5, 2.0, 60)
    calls = [
        ("partial_fit", (X[keep], y[keep]), extra),
        ("partial_fit", (X[50:110], y[50:110]), {"sample_weight": sw}),
        ("partial_fit", (X[110:], y[110:]), {}),
        ("partial_fit", (X[first], y[first]), {}),
    ]
    fm, sk = fit_both(cls_name, params, X, y, calls=calls)
    assert fm.n_iter_ == 1
    assert fm.t_ == len(keep) + 60 + 40 + 50
    assert len(fm.loss_curve_) == 4
    assert_same_model(fm, sk)
    _predictions_close(fm, sk, X)


@pytest.mark.parametrize(
    "schedule",
    [dict(learning_rate="invscaling", learning_rate_init=0.2),
     dict(learning_rate="adaptive", tol=0.5, n_iter_no_change=1),
     dict(learning_rate="constant", tol=0.5, n_iter_no_change=1)],
    ids=["invscaling", "adaptive", "constant-stopping"],
)
def test_parity_partial_fit_sgd_schedules(schedule):
    """The per-call schedule (invscaling on t_, adaptive division by 5 when
    the loss stalls) carries over partial_fit calls as in scikit-learn."""
    cls_name, X, y = DATA["regression"]
    params = dict(SOLVER_PARAMS["sgd"], hidden_layer_sizes=(8,), random_state=15,
                  **schedule)
    calls = [("partial_fit", (X[i:i + 50], y[i:i + 50]), {})
             for i in (0, 50, 100, 0, 50, 100, 0, 50)]
    fm, sk = fit_both(cls_name, params, X, y, calls=calls)
    assert_same_model(fm, sk)
    assert fm._optimizer.learning_rate == pytest.approx(
        sk._optimizer.learning_rate, rel=1e-12
    )
    if schedule["learning_rate"] != "constant":
        assert sk._optimizer.learning_rate < params["learning_rate_init"]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_partial_fit_after_fit(solver):
    cls_name, X, y = DATA["multiclass"]
    params = dict(SOLVER_PARAMS[solver], max_iter=3, hidden_layer_sizes=(8,),
                  random_state=0)
    calls = [("fit", (X, y), {}), ("partial_fit", (X[:70], y[:70]), {}),
             ("partial_fit", (X[70:], y[70:]), {})]
    fm, sk = fit_both(cls_name, params, X, y, calls=calls)
    assert len(fm.loss_curve_) == 5
    assert_same_model(fm, sk)


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "regression", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_warm_start(solver, task):
    cls_name, X, y = DATA[task]
    params = dict(SOLVER_PARAMS[solver], warm_start=True, max_iter=4,
                  hidden_layer_sizes=(6, 5), random_state=6)
    if task == "poisson":
        params.update(loss="poisson", learning_rate_init=0.005)
    calls = [
        ("fit", (X, y), {}),
        ("set_params", (), {"max_iter": 3}),
        ("fit", (X, y), {}),
        ("fit", (X[::2], y[::2]), {}),
    ]
    fm, sk = fit_both(cls_name, params, X, y, calls=calls)
    if solver != "lbfgs":
        assert len(fm.loss_curve_) == 4 + 3 + 3
        assert fm.n_iter_ == 3
    assert_same_model(fm, sk)


def test_parity_warm_start_early_stopping():
    cls_name, X, y = DATA["multiclass"]
    params = dict(SOLVER_PARAMS["adam"], warm_start=True, early_stopping=True,
                  n_iter_no_change=50, max_iter=5, hidden_layer_sizes=(8,),
                  random_state=0)
    calls = [("fit", (X, y), {}), ("fit", (X, y), {})]
    fm, sk = fit_both(cls_name, params, X, y, calls=calls)
    assert len(fm.validation_scores_) == 10
    assert_same_model(fm, sk)


# ---------------------------------------------------------------------------
# SGD variants, batching, shuffling

@pytest.mark.parametrize(
    "sgd_params",
    [
        dict(momentum=0.9, nesterovs_momentum=True),
        dict(momentum=0.9, nesterovs_momentum=False),
        dict(momentum=0.0),
        dict(momentum=0.5, learning_rate="invscaling", power_t=0.3,
             learning_rate_init=0.3),
        dict(momentum=0.9, learning_rate="invscaling"),
        dict(momentum=0.9, learning_rate="adaptive", tol=0.05, n_iter_no_change=1,
             max_iter=25),
        dict(momentum=0.0, learning_rate="adaptive", tol=0.5, n_iter_no_change=1,
             max_iter=40, learning_rate_init=0.01),
    ],
    ids=["nesterov", "classical", "no-momentum", "invscaling-power", "invscaling",
         "adaptive", "adaptive-to-stop"],
)
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_parity_sgd_variants(task, sgd_params):
    cls_name, X, y = DATA[task]
    params = dict(SOLVER_PARAMS["sgd"], hidden_layer_sizes=(8,), random_state=8)
    params.update(sgd_params)
    fm, sk = fit_both(cls_name, params, X, y)
    assert_same_model(fm, sk)
    # the schedule's current learning rate
    assert np.isclose(fm._optimizer.learning_rate, sk._optimizer.learning_rate,
                      rtol=1e-12), (fm._optimizer.learning_rate,
                                    sk._optimizer.learning_rate)
    if sgd_params.get("learning_rate") == "adaptive":
        assert sk._optimizer.learning_rate < params["learning_rate_init"], (
            "the case should trigger the adaptive schedule"
        )


@pytest.mark.parametrize("batch_size", [1, 7, 32, 149, 150, 400, "auto"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_batch_size(solver, batch_size):
    cls_name, X, y = DATA["multiclass"]
    params = dict(SOLVER_PARAMS[solver], batch_size=batch_size,
                  max_iter=2 if batch_size == 1 else 5, hidden_layer_sizes=(6,),
                  random_state=9)
    fm, sk, logs = fit_both(cls_name, params, X, y, record=True)
    assert_same_model(fm, sk)
    assert logs["fastmlp"][0] == logs["sklearn"][0]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_no_shuffle(solver, task):
    cls_name, X, y = DATA[task]
    params = dict(SOLVER_PARAMS[solver], shuffle=False, batch_size=40,
                  hidden_layer_sizes=(8,), random_state=10)
    fm, sk = fit_both(cls_name, params, X, y)
    assert_same_model(fm, sk)


def test_parity_adam_betas():
    cls_name, X, y = DATA["regression"]
    params = dict(SOLVER_PARAMS["adam"], beta_1=0.5, beta_2=0.9, epsilon=1e-4,
                  hidden_layer_sizes=(8,), random_state=0)
    fm, sk = fit_both(cls_name, params, X, y)
    assert_same_model(fm, sk)


@pytest.mark.parametrize("max_fun", [4, 15000])
def test_parity_lbfgs_max_fun_and_warning(max_fun):
    cls_name, X, y = DATA["multiclass"]
    params = dict(solver="lbfgs", max_iter=12, max_fun=max_fun,
                  hidden_layer_sizes=(8,), random_state=0)
    fm, sk, logs = fit_both(cls_name, params, X, y, record=True)
    assert_same_model(fm, sk)
    assert any(c is ConvergenceWarning for c, _ in logs["sklearn"][0])
    if all("iteration(s)" in m for _, m in logs["sklearn"][0]):
        assert logs["fastmlp"][0] == logs["sklearn"][0]
    else:
        # scikit-learn 1.6 words the warning differently (and newer SciPy
        # deprecates an option its lbfgs passes); fastmlp keeps 1.9's text
        # whatever scikit-learn is installed
        sk_convergence = [m for c, m in logs["sklearn"][0] if c is ConvergenceWarning]
        assert [c for c, _ in logs["fastmlp"][0]] == [ConvergenceWarning] * len(sk_convergence)
        assert all(m.startswith("lbfgs failed to converge after ")
                   for _, m in logs["fastmlp"][0])


# ---------------------------------------------------------------------------
# Sparse input

@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_sparse(solver, task, fmt):
    cls_name, X, y = DATA[task]
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.8] = 0.0
    Xs = sp.csr_matrix(Xs).asformat(fmt)
    params = dict(SOLVER_PARAMS[solver], hidden_layer_sizes=(6, 5), random_state=11)
    fm, sk = fit_both(cls_name, params, Xs, y)
    assert_same_model(fm, sk)
    _predictions_close(fm, sk, Xs)


def test_parity_sparse_early_stopping_sample_weight():
    cls_name, X, y = DATA["multiclass"]
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.8] = 0.0
    Xs = sp.csr_matrix(Xs)
    sw = np.linspace(0.1, 2.0, X.shape[0])
    params = dict(SOLVER_PARAMS["sgd"], early_stopping=True, n_iter_no_change=3,
                  max_iter=15, hidden_layer_sizes=(8,), random_state=12)
    fm, sk = fit_both(cls_name, params, Xs, y, sample_weight=sw)
    assert_same_model(fm, sk)


# ---------------------------------------------------------------------------
# float32

@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parity_float32(solver, task):
    cls_name, X, y = DATA[task]
    X32 = X.astype(np.float32)
    params = dict(SOLVER_PARAMS[solver], hidden_layer_sizes=(8,), random_state=13)
    if task == "poisson":
        params.update(loss="poisson", learning_rate_init=0.005)
    fm, sk = fit_both(cls_name, params, X32, y)
    assert all(c.dtype == np.float32 for c in fm.coefs_ + fm.intercepts_)
    if solver != "lbfgs":
        assert all(c.dtype == np.float32 for c in sk.coefs_)
    # (scikit-learn's lbfgs unpacks scipy's float64 solution, so its coefs_
    # come back float64; fastmlp keeps the float32 model float32.)
    pred_fm, pred_sk = fm.predict(X32), sk.predict(X32)
    if cls_name == "MLPClassifier":
        agree = np.mean(pred_fm == pred_sk)
        assert agree >= 0.99, f"predictions agree on {agree:.1%} of samples"
        proba = fm.predict_proba(X32)
        assert proba.dtype == np.float32
        np.testing.assert_allclose(proba, sk.predict_proba(X32), atol=1e-3)
    else:
        assert pred_fm.dtype == np.float32
        close = np.mean(np.isclose(pred_fm, pred_sk, rtol=1e-3, atol=1e-3))
        assert close >= 0.99, f"predictions agree on {close:.1%} of samples"
    # float32 training must still follow the same trajectory closely
    np.testing.assert_allclose(fm.loss_, sk.loss_, rtol=1e-3)


# ---------------------------------------------------------------------------
# Warnings and verbose output

@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", max_iter=6),
        dict(solver="adam", max_iter=6, early_stopping=True),
        dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=1,
             max_iter=30, learning_rate_init=0.01),
        dict(solver="adam", tol=0.5, n_iter_no_change=2, max_iter=30,
             early_stopping=True),
        dict(solver="adam", tol=0.5, n_iter_no_change=2, max_iter=30),
    ],
    ids=["sgd-max-iter", "adam-early-stopping", "sgd-adaptive",
         "adam-validation-stop", "adam-loss-stop"],
)
def test_parity_verbose_and_warnings(params):
    cls_name, X, y = DATA["multiclass"]
    params = dict(params, verbose=True, hidden_layer_sizes=(8,), random_state=14)
    fm, sk, logs = fit_both(cls_name, params, X, y, record=True)
    (warn_fm, out_fm), (warn_sk, out_sk) = logs["fastmlp"], logs["sklearn"]
    assert out_sk.strip(), "scikit-learn printed nothing"
    assert out_fm.splitlines() == out_sk.splitlines()
    assert warn_fm == warn_sk
    assert_same_model(fm, sk)


def test_parity_verbose_capsys(capsys):
    """The same check through pytest's capsys."""
    cls_name, X, y = DATA["binary"]
    params = dict(solver="sgd", max_iter=3, verbose=1, hidden_layer_sizes=(4,),
                  random_state=0)
    outputs = {}
    for impl, classes in IMPLS.items():
        with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
            classes[cls_name](**params).fit(X, y)
        outputs[impl] = capsys.readouterr().out
    assert outputs["fastmlp"] == outputs["sklearn"]
    assert outputs["sklearn"].count("Iteration") == 3
