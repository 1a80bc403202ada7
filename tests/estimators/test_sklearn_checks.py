"""scikit-learn's estimator checks on fastmlp's estimators.

Every estimator below runs the whole ``parametrize_with_checks`` suite.  A
check is only expected to fail where scikit-learn's own MLP, with the same
parameters, fails it too: ``test_expected_failures_mirror_sklearn`` runs each
such check on ``sklearn.neural_network``'s estimator and asserts that it fails
there as well, so an expected failure can never hide a fastmlp-only defect.

scikit-learn itself expects no MLP check to fail
(``sklearn/utils/_test_common/instance_generator.py`` has no
``PER_ESTIMATOR_XFAIL_CHECKS`` entry for MLPClassifier / MLPRegressor); it
runs the checks with ``max_iter=100`` and swaps in ``solver='lbfgs'``
(classifier) or ``solver='sgd', tol=1e-2`` (regressor) for
``check_sample_weight_equivalence_on_dense_data``.  The settings here are
wider (early stopping, Poisson loss, schedules), and those that make a check
inapplicable are listed in ``_expected_failed_checks`` with the reason.
"""

import warnings

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

_ES_PARTIAL_FIT = (
    "with early_stopping=True partial_fit raises 'partial_fit does not support "
    "early_stopping=True' (documented behaviour, same in scikit-learn's MLP)"
)
_ES_TINY_DATA = (
    "early stopping holds out validation_fraction=0.1 of the check's tiny "
    "dataset, which leaves a validation set too small (or smaller than the "
    "number of classes for the stratified split): fit raises before the "
    "check's assertion; scikit-learn's MLP fails identically"
)
_ES_SAMPLE_WEIGHT = (
    "early stopping draws a random validation split, which differs between "
    "the weighted and the repeated datasets, so the fits cannot be "
    "equivalent; scikit-learn's MLP fails identically"
)
_INVSCALING_SAMPLE_WEIGHT = (
    "the invscaling learning rate decays with t_, the number of samples "
    "seen, which differs between the weighted and the repeated datasets; "
    "scikit-learn's MLP fails identically"
)
_RANDOM_PER_ROW_SAMPLE_WEIGHT = (
    "dropout draws a mask per row and batch normalization normalizes by "
    "statistics over a batch's rows, so repeating a row (a new row with its "
    "own mask, and weight in the batch statistics) cannot equal weighting it"
)
_AUGMENTATION_SAMPLE_WEIGHT = (
    "input_noise draws fresh noise per row and mixup blends each row with a "
    "random partner of its batch: a repeated row gets its own noise and "
    "partners, and a zero-weight row still enters its partners' blends, so "
    "repeating a row cannot equal weighting it"
)
_POISSON_TRAIN = (
    "check_regressors_train fits standardized (half negative) targets, which "
    "an exp-output Poisson model cannot fit to R^2 > 0.5; scikit-learn's "
    "MLPRegressor(loss='poisson') fails identically (it sets no "
    "positive_only target tag)"
)

# fastmlp's MLPClassifier has class_weight, so scikit-learn runs its class
# weight checks, which it never runs on its own MLP: those failures are
# mirrored by scikit-learn's MLP trained with the equivalent sample_weight
# (test_expected_failures_mirror_sklearn), or are a documented refusal.
_CLASS_WEIGHT_THRESHOLD = (
    "check_class_weight_classifiers wants class 0 (weight 1000, the others "
    "1e-4) predicted for 87%% of the held-out points of 2 and of 3 very noisy "
    "blobs; %s.  The same weights given as sample_weight (to scikit-learn's "
    "MLP where it has the parameters, else to fastmlp's) give the same model "
    "and fractions"
)
_ES_CLASS_WEIGHT = _CLASS_WEIGHT_THRESHOLD % (
    "early stopping on the class-weighted validation accuracy of 5 samples "
    "keeps an early epoch (36% class 0 of 3 blobs)"
)
_DEEP_CLASS_WEIGHT = _CLASS_WEIGHT_THRESHOLD % (
    "the (20, 10) networks, which fit even the 1e-4-weighted points once class "
    "0's loss is small, predict class 0 for 80% (tanh, 3 blobs) and 82% "
    "(elu/swish with batch norm, 2 blobs)"
)
_BALANCED_PARTIAL_FIT = (
    "partial_fit refuses class_weight='balanced' (the class frequencies are "
    "unknown from one chunk), as scikit-learn's SGDClassifier does"
)


def _expected_failed_checks(estimator):
    """Checks that scikit-learn's MLP with the same parameters fails too."""
    params = estimator.get_params()
    failed = {}
    if params["early_stopping"]:
        # partial_fit refuses early stopping, by design (see _ES_PARTIAL_FIT)
        for name in (
            "check_fit_score_takes_y",
            "check_n_features_in_after_fitting",
            "check_estimators_partial_fit_n_features",
        ):
            failed[name] = _ES_PARTIAL_FIT
        # the checks' datasets are too small to hold out a validation set
        for name in ("check_estimators_nan_inf", "check_fit2d_1feature"):
            failed[name] = _ES_TINY_DATA
        if isinstance(estimator, MLPClassifier):
            failed["check_classifiers_one_label"] = _ES_TINY_DATA
        else:
            failed["check_regressors_no_decision_function"] = _ES_TINY_DATA
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


ESTIMATORS = [cls(**params) for cls, params in SETTINGS + EXTRA_SETTINGS]


def _parametrize_with_checks(estimators, expected_failed_checks):
    """scikit-learn's parametrize_with_checks, the checks listed up front.
    Strict xfails come from pyproject.toml's pytest settings (the
    xfail_strict keyword is scikit-learn 1.8+); before 1.8 the checks come
    as a generator, which pytest deprecates."""
    mark = parametrize_with_checks(estimators, expected_failed_checks=expected_failed_checks)
    argnames, argvalues = mark.args
    return pytest.mark.parametrize(argnames, list(argvalues), **mark.kwargs)


@_parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _mirror_cases():
    for cls, params in SETTINGS:
        est = cls(**params)
        for check_name, reason in sorted(_expected_failed_checks(est).items()):
            yield pytest.param(
                cls.__name__, params, check_name,
                id=f"{est!r}-{check_name}",
            )


@pytest.mark.parametrize("cls_name, params, check_name", list(_mirror_cases()))
def test_expected_failures_mirror_sklearn(cls_name, params, check_name):
    """Every expected failure above must be a failure of scikit-learn's own
    estimator with the same parameters (and of fastmlp's, with the same
    exception type): otherwise the xfail would hide a fastmlp defect.
    scikit-learn's estimator gets scikit-learn's parameters only (every
    expected failure is caused by those)."""
    reason = _expected_failed_checks(
        {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}[cls_name](**params)
    )[check_name]
    if reason == _BALANCED_PARTIAL_FIT:
        # the failure is exactly the documented refusal
        check = getattr(estimator_checks, check_name)
        with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
            check(cls_name, MLPClassifier(**params))
        return
    if check_name == "check_class_weight_classifiers":
        _assert_class_weight_failure_mirrored(params)
        return
    # an older scikit-learn's MLP without the feature the failure comes from
    # has nothing to mirror
    sk_cls = getattr(sk_nn, cls_name)
    missing = sorted(set(params) - set(sk_cls().get_params()))
    if missing:
        pytest.skip(f"{SKLEARN}'s {cls_name} has no {', '.join(missing)} parameter")
    if "sample_weight" in check_name and not HAS_SAMPLE_WEIGHT:
        pytest.skip(NO_SAMPLE_WEIGHT)
    if reason == _ES_TINY_DATA and not REJECTS_TINY_VALIDATION_SET:
        pytest.skip(NO_TINY_VALIDATION_ERROR)
    check = getattr(estimator_checks, check_name)
    outcomes = {}
    fastmlp_cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
    sk_params = {k: v for k, v in params.items() if k in sk_cls().get_params()}
    for label, cls, cls_params in (
        ("sklearn", sk_cls, sk_params),
        ("fastmlp", fastmlp_cls[cls_name], params),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", SkipTestWarning)
            try:
                check(cls_name, cls(**cls_params))
            except (AssertionError, ValueError) as exc:
                outcomes[label] = type(exc)
            else:
                outcomes[label] = None
    assert outcomes["sklearn"] is not None, (
        f"scikit-learn's {cls_name}({params}) passes {check_name}: the expected "
        "failure is not a mirror of scikit-learn's behaviour"
    )
    assert outcomes["fastmlp"] is outcomes["sklearn"], outcomes


def _class_weight_check_fractions(params):
    """check_class_weight_classifiers' two problems (its data, split, weights
    and parameter changes): for 2 and 3 blobs, the fraction of held-out
    points predicted as class 0 by fastmlp's class_weight fit and by the
    same weights given as sample_weight -- to scikit-learn's MLP when it has
    sample_weight and all the parameters, else to fastmlp's."""
    sk_names = sk_nn.MLPClassifier().get_params()
    mirror_cls = (sk_nn.MLPClassifier if set(params) <= set(sk_names) and HAS_SAMPLE_WEIGHT
                  else MLPClassifier)
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


def _assert_class_weight_failure_mirrored(params):
    fractions = _class_weight_check_fractions(params)
    assert min(fractions["mirror"]) <= 0.87, fractions
    assert fractions["fastmlp"] == fractions["mirror"], fractions


@pytest.mark.parametrize(
    "params",
    [params for cls, params in EXTRA_SETTINGS
     if "check_class_weight_classifiers" in _expected_failed_checks(cls(**params))],
)
def test_class_weight_failures_of_extra_settings(params):
    """The extras' settings have no scikit-learn twin: their class weight
    check failures are those of the same fit with the weights given as
    sample_weight, so the model, not class_weight, misses the threshold."""
    _assert_class_weight_failure_mirrored(params)
