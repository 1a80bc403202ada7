"""scikit-learn's estimator checks on fastmlp's estimators.

Every estimator below runs the whole ``parametrize_with_checks`` suite.  A
check expected to fail is not marked xfail: it must raise the exception its
entry in ``_expected_failed_checks`` names, with the entry's pattern in the
message (or in the check's failing line, for a bare ``assert``), so a
different failure fails the test.  ``test_expected_failures_mirror_sklearn``
then runs each such check on ``sklearn.neural_network``'s estimator with the
same parameters, where it has them all, and asserts that it fails the same
way; where a setting uses fastmlp's own parameters (dropout, batch norm,
class_weight, early_stopping_metric, callbacks) there is no mirror, the entry
says why the check fails, and its control -- the setting with the cause
removed -- must pass the check.  The class weight check cannot run on
scikit-learn's MLP at all (no class_weight):
``test_class_weight_failures_are_the_models`` shows its failures are the
model's.

scikit-learn itself expects no MLP check to fail
(``sklearn/utils/_test_common/instance_generator.py`` has no
``PER_ESTIMATOR_XFAIL_CHECKS`` entry for MLPClassifier / MLPRegressor); it
runs the checks with ``max_iter=100`` and swaps in ``solver='lbfgs'``
(classifier) or ``solver='sgd', tol=1e-2`` (regressor) for
``check_sample_weight_equivalence_on_dense_data``.  The settings here are
wider (early stopping, Poisson loss, schedules), and those that make a check
inapplicable are listed in ``_expected_failed_checks`` with the reason.
"""

import functools
import os
import re
import traceback
import warnings
from typing import NamedTuple, Optional

import numpy as np
import pytest
import sklearn.neural_network as sk_nn
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning, SkipTestWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from _sklearn_features import (
    HAS_SAMPLE_WEIGHT,
    NO_SAMPLE_WEIGHT,
    NO_TINY_VALIDATION_ERROR,
    REJECTS_TINY_VALIDATION_SET,
    SKLEARN,
)
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # scikit-learn's Poisson loss overflows on the negative targets of the
    # mirrored check_regressors_train (see _POISSON_TRAIN)
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

def _noop_callback(epoch, logs, estimator):
    """A callback that only reads (callbacks must not change parameters)."""
    assert epoch == estimator.n_iter_ and "loss" in logs


# (estimator class, parameters).  max_iter=100 as in scikit-learn's own
# checking parameters: fewer epochs make check_*_train fail for scikit-learn
# too (the score thresholds need a trained model).
SETTINGS = [
    (MLPClassifier, dict(max_iter=100, random_state=0)),
    (
        MLPClassifier,
        dict(solver="sgd", learning_rate_init=0.01, momentum=0.9, max_iter=100,
             random_state=0),
    ),
    (
        MLPClassifier,
        dict(solver="sgd", nesterovs_momentum=False, learning_rate="invscaling",
             learning_rate_init=0.2, max_iter=100, random_state=0),
    ),
    (MLPClassifier, dict(solver="lbfgs", max_iter=100, random_state=0)),
    (MLPClassifier, dict(early_stopping=True, max_iter=100, random_state=0)),
    (
        MLPClassifier,
        dict(hidden_layer_sizes=(20, 10), activation="tanh", max_iter=100,
             random_state=0),
    ),
    (
        MLPClassifier,
        dict(activation="logistic", solver="sgd", learning_rate="adaptive",
             learning_rate_init=0.05, max_iter=100, random_state=0),
    ),
    (MLPClassifier, dict(activation="identity", max_iter=100, random_state=0)),
    (MLPRegressor, dict(max_iter=100, random_state=0)),
    (MLPRegressor, dict(solver="sgd", max_iter=100, random_state=0)),
    (
        MLPRegressor,
        dict(activation="tanh", solver="sgd", momentum=0.0,
             learning_rate_init=0.05, max_iter=100, random_state=0),
    ),
    (MLPRegressor, dict(solver="lbfgs", max_iter=100, random_state=0)),
    (MLPRegressor, dict(early_stopping=True, max_iter=100, random_state=0)),
    (MLPRegressor, dict(loss="poisson", max_iter=100, random_state=0)),
    (MLPRegressor, dict(loss="poisson", solver="lbfgs", max_iter=100, random_state=0)),
    (
        MLPRegressor,
        dict(hidden_layer_sizes=(20, 10), activation="tanh", solver="lbfgs",
             max_iter=100, random_state=0),
    ),
    (MLPRegressor, dict(activation="identity", max_iter=100, random_state=0)),
    # fastmlp's own parameters (issue 5), away from their defaults
    (MLPClassifier, dict(class_weight="balanced", max_iter=100, random_state=0)),
    (
        MLPClassifier,
        dict(weight_init="he", solver="sgd", learning_rate="cosine",
             learning_rate_init=0.05, max_iter=100, random_state=0),
    ),
    (
        MLPClassifier,
        dict(early_stopping=True, early_stopping_metric="loss",
             restore_best_weights=False, callbacks=[_noop_callback],
             max_iter=100, random_state=0),
    ),
    (
        MLPRegressor,
        dict(weight_init="lecun", learning_rate="step", lr_step_size=20,
             lr_gamma=0.5, callbacks=[_noop_callback], max_iter=100,
             random_state=0),
    ),
    (
        MLPRegressor,
        dict(early_stopping=True, early_stopping_metric="loss", max_iter=100,
             random_state=0),
    ),
]

# Settings with fastmlp's extras beyond scikit-learn turned on: the same
# checks apply (scikit-learn has no twin to mirror, so their expected
# failures are argued one by one in _expected_failed_checks).
# rmsprop (no bias correction) on the sample-weight checks' 15 rows: with
# n_iter_no_change=10 the epoch at which "no improvement" fires flips on
# rounding-level loss differences (weighted vs repeated data stopped at epochs
# 78 and 77), hence n_iter_no_change=100; and the regressor's tanh net with
# rho=0.9 is chaotic there (weighted vs repeated predictions 1e-13 apart at
# epoch 40, 0.1 at epoch 60), hence rho=0.99.
EXTRA_SETTINGS = [
    (MLPClassifier, dict(activation="gelu", dropout=0.1, max_iter=100, random_state=0)),
    (
        MLPClassifier,
        dict(hidden_layer_sizes=(20, 10), activation=["elu", "swish"], batch_norm=True,
             max_iter=100, random_state=0),
    ),
    (
        MLPClassifier,
        dict(solver="rmsprop", l1=1e-4, max_grad_norm=5.0, activation="leaky_relu",
             n_iter_no_change=100, max_iter=100, random_state=0),
    ),
    (MLPClassifier, dict(solver="adamw", max_iter=100, random_state=0)),
    (
        MLPRegressor,
        dict(activation="swish", batch_norm=True, dropout=0.1, max_iter=100,
             random_state=0),
    ),
    (
        MLPRegressor,
        dict(solver="adamw", l1=1e-4, max_grad_norm=1.0, activation="elu", max_iter=100,
             random_state=0),
    ),
    (
        MLPRegressor,
        dict(solver="rmsprop", rho=0.99, activation="tanh", n_iter_no_change=100,
             max_iter=100, random_state=0),
    ),
    # issue 14: the robust losses, label smoothing, the plateau schedule
    (MLPRegressor, dict(loss="huber", huber_delta=0.5, max_iter=100, random_state=0)),
    (MLPRegressor, dict(loss="absolute_error", solver="lbfgs", max_iter=100, random_state=0)),
    (MLPRegressor, dict(loss="quantile", quantile=0.4, max_iter=100, random_state=0)),
    (
        MLPClassifier,
        dict(label_smoothing=0.1, learning_rate="plateau", lr_gamma=0.5, max_iter=100,
             random_state=0),
    ),
    # issue 14: data augmentation
    (MLPClassifier, dict(input_noise=0.1, mixup_alpha=0.2, max_iter=100, random_state=0)),
    (MLPRegressor, dict(input_noise=0.05, mixup_alpha=0.2, max_iter=100, random_state=0)),
]

class Expected(NamedTuple):
    """An expected failure: the exception, a pattern searched in its text
    (its message, the messages it was raised from, and the check's failing
    line: see _failure_text), and why.  control: parameter changes that
    remove the cause; where scikit-learn has no twin of the setting, the
    same check must pass with them (test_expected_failures_mirror_sklearn)."""

    exc: type
    match: str
    reason: str
    control: Optional[dict] = None


_SAMPLE_WEIGHT_MISMATCH = (
    "fitting with `sample_weight` is not equivalent to fitting with removed or "
    "repeated data points"
)
_TINY_VALIDATION = (
    "validation set is too small|test_size = 1 should be greater or equal to the "
    "number of classes"
)

_ES_PARTIAL_FIT = Expected(
    ValueError, "partial_fit does not support early_stopping=True",
    "partial_fit refuses early_stopping=True (documented behaviour, same in "
    "scikit-learn's MLP)",
    control={"early_stopping": False},
)
# scikit-learn before 1.8 runs this check's fit on a dataset too small to
# hold out a validation set, so the fit refuses before partial_fit does
_ES_N_FEATURES = Expected(
    ValueError, "partial_fit does not support early_stopping=True|" + _TINY_VALIDATION,
    "partial_fit refuses early_stopping=True; scikit-learn before 1.8 first fits "
    "the check's tiny dataset, whose validation split early stopping refuses "
    "(both documented, same in scikit-learn's MLP)",
    control={"early_stopping": False},
)
_ES_TINY_DATA_REASON = (
    "early stopping holds out validation_fraction=0.1 of the check's tiny "
    "dataset, which leaves a validation set too small (or smaller than the "
    "number of classes for the stratified split): fit raises before the "
    "check's assertion; scikit-learn's MLP fails identically"
)
# fit raises; or the check wanted another error (fit2d_1feature: "Got <the
# split's message>"; classifiers_one_label: raised from the split's error)
_ES_TINY_DATA = Expected(ValueError, _TINY_VALIDATION, _ES_TINY_DATA_REASON,
                         control={"early_stopping": False})
_ES_TINY_DATA_CHECK = Expected(AssertionError, _TINY_VALIDATION + "|least populated class",
                               _ES_TINY_DATA_REASON, control={"early_stopping": False})
_ES_SAMPLE_WEIGHT = Expected(
    AssertionError, _SAMPLE_WEIGHT_MISMATCH,
    "early stopping draws a random validation split, which differs between "
    "the weighted and the repeated datasets, so the fits cannot be "
    "equivalent; scikit-learn's MLP fails identically",
    control={"early_stopping": False},
)
_INVSCALING_SAMPLE_WEIGHT = Expected(
    AssertionError, _SAMPLE_WEIGHT_MISMATCH,
    "the invscaling learning rate decays with t_, the number of samples "
    "seen, which differs between the weighted and the repeated datasets; "
    "scikit-learn's MLP fails identically",
)
_RANDOM_PER_ROW_SAMPLE_WEIGHT = Expected(
    AssertionError, _SAMPLE_WEIGHT_MISMATCH,
    "no scikit-learn mirror (its MLP has no dropout or batch norm): dropout "
    "draws a mask per row and batch normalization normalizes by statistics "
    "over a batch's rows, so repeating a row (a new row with its own mask, "
    "and weight in the batch statistics) cannot equal weighting it; the same "
    "settings without them pass",
    control={"dropout": 0.0, "batch_norm": False},
)
_AUGMENTATION_SAMPLE_WEIGHT = Expected(
    AssertionError, _SAMPLE_WEIGHT_MISMATCH,
    "no scikit-learn mirror (its MLP has no input_noise or mixup_alpha): "
    "input_noise draws fresh noise per row and mixup blends each row with a "
    "random partner of its batch: a repeated row gets its own noise and "
    "partners, and a zero-weight row still enters its partners' blends, so "
    "repeating a row cannot equal weighting it; the same settings without "
    "them pass",
    control={"input_noise": 0.0, "mixup_alpha": 0.0},
)
_POISSON_TRAIN = Expected(
    AssertionError, r"regressor\.score\(X, y_\) > 0\.5",
    "check_regressors_train fits standardized (half negative) targets, which "
    "an exp-output Poisson model cannot fit to R^2 > 0.5; scikit-learn's "
    "MLPRegressor(loss='poisson') fails identically (it sets no "
    "positive_only target tag)",
)

# fastmlp's MLPClassifier has class_weight, so scikit-learn runs its class
# weight checks, which it never runs on its own MLP (no class_weight): no
# setting has a scikit-learn twin.  The failure is shown to be the model's,
# not class_weight's: the same weights given as sample_weight (to
# scikit-learn's MLP where it has the parameters and sample_weight, else to
# fastmlp's) give the same model and fractions.
_CLASS_WEIGHT_THRESHOLD = (
    "check_class_weight_classifiers wants class 0 (weight 1000, the others "
    "1e-4) predicted for 87%% of the held-out points of 2 and of 3 very noisy "
    "blobs; %s"
)
_CLASS_WEIGHT_FAILURE = r"np\.mean\(y_pred == 0\) > 0\.87"
_ES_CLASS_WEIGHT = Expected(AssertionError, _CLASS_WEIGHT_FAILURE, _CLASS_WEIGHT_THRESHOLD % (
    "early stopping on the class-weighted validation accuracy of 5 samples "
    "keeps an early epoch (36% class 0 of 3 blobs)"
))
_DEEP_CLASS_WEIGHT = Expected(AssertionError, _CLASS_WEIGHT_FAILURE, _CLASS_WEIGHT_THRESHOLD % (
    "the (20, 10) networks, which fit even the 1e-4-weighted points once class "
    "0's loss is small, predict class 0 for 80% (tanh, 3 blobs) and 82% "
    "(elu/swish with batch norm, 2 blobs)"
))
_BALANCED_PARTIAL_FIT = Expected(
    ValueError, "class_weight='balanced' is not supported by partial_fit",
    "no scikit-learn mirror (its MLP has no class_weight): partial_fit refuses "
    "class_weight='balanced', since the class frequencies are unknown from one "
    "chunk; without class_weight the checks pass",
    control={"class_weight": None},
)
_ES_TINY_DATA_CHECKS = {"check_fit2d_1feature", "check_classifiers_one_label"}


def _expected_failed_checks(estimator):
    """{check name: Expected} for this estimator's parameters."""
    params = estimator.get_params()
    failed = {}
    if params["early_stopping"]:
        # partial_fit refuses early stopping, by design (see _ES_PARTIAL_FIT)
        for name in (
            "check_fit_score_takes_y",
            "check_n_features_in_after_fitting",
            "check_estimators_partial_fit_n_features",
        ):
            failed[name] = (_ES_N_FEATURES if name == "check_n_features_in_after_fitting"
                            else _ES_PARTIAL_FIT)
        # the checks' datasets are too small to hold out a validation set
        tiny = ["check_estimators_nan_inf", "check_fit2d_1feature"]
        tiny.append("check_classifiers_one_label" if isinstance(estimator, MLPClassifier)
                    else "check_regressors_no_decision_function")
        for name in tiny:
            failed[name] = _ES_TINY_DATA_CHECK if name in _ES_TINY_DATA_CHECKS else _ES_TINY_DATA
        # weighted and repeated data get different validation splits
        for name in (
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data",
        ):
            failed[name] = _ES_SAMPLE_WEIGHT
    if params["solver"] == "sgd" and params["learning_rate"] == "invscaling":
        # the schedule depends on the number of samples seen
        for name in (
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data",
        ):
            failed[name] = _INVSCALING_SAMPLE_WEIGHT
    if isinstance(estimator, MLPClassifier):
        if params["early_stopping"] and params["early_stopping_metric"] == "score":
            failed["check_class_weight_classifiers"] = _ES_CLASS_WEIGHT
        if params["hidden_layer_sizes"] == (20, 10):
            failed["check_class_weight_classifiers"] = _DEEP_CLASS_WEIGHT
        if params["class_weight"] == "balanced":
            for name in (
                "check_fit_score_takes_y",
                "check_n_features_in_after_fitting",
                "check_estimators_partial_fit_n_features",
            ):
                failed[name] = _BALANCED_PARTIAL_FIT
    if isinstance(estimator, MLPRegressor) and params["loss"] == "poisson":
        # an exp output cannot fit negative targets
        failed["check_regressors_train"] = _POISSON_TRAIN
    if np.any(np.asarray(params["input_noise"]) != 0) or params["mixup_alpha"]:
        for name in (
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data",
        ):
            failed[name] = _AUGMENTATION_SAMPLE_WEIGHT
    if params["dropout"] or params["batch_norm"]:
        for name in (
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data",
        ):
            failed[name] = _RANDOM_PER_ROW_SAMPLE_WEIGHT
    return failed


def _check_name(check):
    func = check.func if isinstance(check, functools.partial) else check
    return func.__name__


def _failure_text(exc):
    """The exception's message, the messages of the exceptions it was raised
    from, and the source line of scikit-learn's check where it failed (a bare
    `assert` has no message)."""
    parts = []
    seen = exc
    while seen is not None and len(parts) < 5:
        parts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.basename(f.filename) == "estimator_checks.py"]
    if frames:
        parts.append(f"failed at: {frames[-1].line}")
    return "\n".join(parts)


def _assert_fails_as_expected(run, expected, who):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SkipTestWarning)
        with pytest.raises(expected.exc) as excinfo:
            run()
    text = _failure_text(excinfo.value)
    assert re.search(expected.match, text), (
        f"{who} fails, but not as expected ({expected.match!r}):\n{text}")


def _run_passing(run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SkipTestWarning)
        run()


ESTIMATORS = [cls(**params) for cls, params in SETTINGS + EXTRA_SETTINGS]


def _parametrize_with_checks(estimators):
    """scikit-learn's parametrize_with_checks, the checks listed up front
    (before 1.8 they come as a generator, which pytest deprecates)."""
    mark = parametrize_with_checks(estimators)
    argnames, argvalues = mark.args
    return pytest.mark.parametrize(argnames, list(argvalues), **mark.kwargs)


# The expected failures are checked here, not marked xfail: each must raise
# its exception with its pattern (a different failure fails the test).
@_parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    expected = _expected_failed_checks(estimator).get(_check_name(check))
    if expected is None:
        check(estimator)
    else:
        _assert_fails_as_expected(lambda: check(estimator), expected, repr(estimator))


def _fastmlp_only(cls, params):
    """The parameters of a setting that scikit-learn's MLP does not have."""
    return sorted(set(params) - set(getattr(sk_nn, cls.__name__)().get_params()))


def _mirror_cases():
    for cls, params in SETTINGS + EXTRA_SETTINGS:
        est = cls(**params)
        extra = _fastmlp_only(cls, params)
        for check_name in sorted(_expected_failed_checks(est)):
            if check_name == "check_class_weight_classifiers":
                continue  # test_class_weight_failures_are_the_models
            kind = f"no-mirror-{'+'.join(extra)}" if extra else "sklearn"
            yield pytest.param(cls, params, check_name, id=f"{est!r}-{check_name}-{kind}")


@pytest.mark.parametrize("cls, params, check_name", list(_mirror_cases()))
def test_expected_failures_mirror_sklearn(cls, params, check_name):
    """Where scikit-learn's MLP has every parameter of a setting, it must
    fail the check the same way (exception and pattern) with the same
    parameters: otherwise the expected failure would hide a fastmlp defect.
    Where the setting uses fastmlp's own parameters there is no mirror: the
    entry's reason says why it fails, and its control (the cause removed)
    must pass the same check."""
    expected = _expected_failed_checks(cls(**params))[check_name]
    check = getattr(estimator_checks, check_name)
    extra = _fastmlp_only(cls, params)
    if extra and expected.control is None:
        # a scikit-learn parameter this older release lacks (loss is 1.7+)
        pytest.skip(f"{SKLEARN}'s {cls.__name__} has no {', '.join(extra)} parameter")
    if not extra:
        if "sample_weight" in check_name and not HAS_SAMPLE_WEIGHT:
            pytest.skip(NO_SAMPLE_WEIGHT)
        if expected.reason == _ES_TINY_DATA_REASON and not REJECTS_TINY_VALIDATION_SET:
            pytest.skip(NO_TINY_VALIDATION_ERROR)
        sk_estimator = getattr(sk_nn, cls.__name__)(**params)
        _assert_fails_as_expected(lambda: check(cls.__name__, sk_estimator), expected,
                                  f"scikit-learn's {sk_estimator!r}")
        return
    assert expected.control is not None, (
        f"{check_name} on {cls.__name__}({params}): no scikit-learn mirror "
        f"({extra} are fastmlp's) and no control")
    control = cls(**dict(params, **expected.control))
    _run_passing(lambda: check(cls.__name__, control))


def _class_weight_check_fractions(params, mirror_cls):
    """check_class_weight_classifiers' two problems (its data, split, weights
    and parameter changes): for 2 and 3 blobs, the fraction of held-out
    points predicted as class 0 by fastmlp's class_weight fit and by
    mirror_cls fitted with the same weights given as sample_weight."""
    fractions = {"fastmlp": [], "mirror": []}
    for n_centers in (2, 3):
        X, y = make_blobs(centers=n_centers, random_state=0, cluster_std=20)
        X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5,
                                                       random_state=0)
        class_weight = {0: 1000, 1: 0.0001, 2: 0.0001}
        if n_centers == 2:
            del class_weight[2]
        common = dict(params, max_iter=1000, n_iter_no_change=20, random_state=0)
        fm = MLPClassifier(**common, class_weight=class_weight).fit(X_train, y_train)
        mirror = mirror_cls(**common).fit(
            X_train, y_train, sample_weight=np.array([class_weight[c] for c in y_train])
        )
        fractions["fastmlp"].append(float(np.mean(fm.predict(X_test) == 0)))
        fractions["mirror"].append(float(np.mean(mirror.predict(X_test) == 0)))
    return fractions


@pytest.mark.parametrize(
    "params",
    [params for cls, params in SETTINGS + EXTRA_SETTINGS
     if "check_class_weight_classifiers" in _expected_failed_checks(cls(**params))],
)
def test_class_weight_failures_are_the_models(params):
    """scikit-learn cannot run check_class_weight_classifiers on its MLP (it
    has no class_weight).  The fastmlp failure is the model's: the same
    weights given as sample_weight -- to scikit-learn's MLP where it has
    the setting's parameters and a sample_weight, else (no mirror) to
    fastmlp's -- give the same fractions, below the check's 0.87."""
    if _fastmlp_only(MLPClassifier, params):
        mirror_cls = MLPClassifier
    elif HAS_SAMPLE_WEIGHT:
        mirror_cls = sk_nn.MLPClassifier
    else:
        pytest.skip(NO_SAMPLE_WEIGHT)
    fractions = _class_weight_check_fractions(params, mirror_cls)
    assert min(fractions["mirror"]) <= 0.87, fractions
    assert fractions["fastmlp"] == fractions["mirror"], fractions
