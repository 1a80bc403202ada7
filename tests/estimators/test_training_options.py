"""fastmlp's training extras that live in the estimators' Python layer
(issue 5): weight_init, class_weight, the 'cosine' and 'step' learning-rate
schedules, early_stopping_metric, restore_best_weights, callbacks, the
progress bar and fastmlp.plot_loss_curve.

Their defaults are scikit-learn's behaviour: test_parity.py checks it,
unchanged.  Here each extra is checked against its documented definition
and for the effect it exists for (measured, with a margin).
"""

import math
import pickle
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, mean_squared_error, recall_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from fastmlp._losses import output_loss
from fastmlp._training import STOCHASTIC_SOLVERS
from _sklearn_features import (
    COMPUTE_CLASS_WEIGHT_HAS_SAMPLE_WEIGHT,
    NO_COMPUTE_CLASS_WEIGHT_SAMPLE_WEIGHT,
)
from fastmlp import MLPClassifier, MLPRegressor, _engine, plot_loss_curve

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_digits = load_digits()
X_DIG = _digits.data / 16
Y_DIG = _digits.target
# a smaller set for the many short fits
X_SMALL, Y_SMALL = X_DIG[:300], Y_DIG[:300]
STOCHASTIC = list(STOCHASTIC_SOLVERS)


def _params(est):
    """All weights and biases, copied."""
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_same_params(a, b):
    for x, y in zip(a, b, strict=True):
        assert_array_equal(x, y)


class _Recorder:
    """A callback that records what it is called with (and the weights)."""

    def __init__(self, stop_at=None, snapshot=False):
        self.calls, self.snapshots = [], []
        self.stop_at, self.snapshot = stop_at, snapshot

    def __call__(self, epoch, logs, estimator):
        self.calls.append((epoch, logs, estimator))
        if self.snapshot:
            self.snapshots.append(_params(estimator))
        return epoch == self.stop_at


def _record_learning_rate(epoch, logs, estimator):
    """A module-level (so picklable) callback."""
    estimator.recorded_learning_rates_ = getattr(
        estimator, "recorded_learning_rates_", []) + [logs["learning_rate"]]


# ---------------------------------------------------------------------------
# weight_init


@pytest.mark.parametrize("weight_init, factor", [("he", 6.0), ("lecun", 3.0)])
def test_weight_init_draws(weight_init, factor):
    """Weights uniform in +-sqrt(factor / fan_in), drawn layer by layer from
    the RandomState, biases 0.  (An SGD step of 1e-300 leaves the float64
    weights exactly as drawn.)"""
    X = np.random.RandomState(1).randn(50, 20)
    Y = np.random.RandomState(2).randn(50, 3)
    reg = MLPRegressor(hidden_layer_sizes=(64, 48), weight_init=weight_init, solver="sgd",
                       learning_rate_init=1e-300, momentum=0.0, max_iter=1,
                       shuffle=False, random_state=0).fit(X, Y)
    rng = np.random.RandomState(0)
    for coef, intercept, (fan_in, fan_out) in zip(
            reg.coefs_, reg.intercepts_, [(20, 64), (64, 48), (48, 3)]):
        bound = math.sqrt(factor / fan_in)
        assert_array_equal(coef, rng.uniform(-bound, bound, (fan_in, fan_out)))
        assert np.abs(intercept).max() < 1e-250  # 0, moved by the 1e-300 step
        assert np.abs(coef).max() <= bound
    # the variance the name promises: 2 / fan_in (He), 1 / fan_in (LeCun)
    first = reg.coefs_[0]
    assert first.var() == pytest.approx(factor / 3 / 20, rel=0.1)


def test_weight_init_glorot_is_the_default_and_sklearns():
    """The default draws scikit-learn's initial weights (test_parity checks
    the whole fit; here the initial weights of a logistic network, whose
    factor is 2)."""
    X = np.random.RandomState(1).randn(40, 6)
    y = np.arange(40) % 3
    clf = MLPClassifier(hidden_layer_sizes=(7, 5), activation="logistic", solver="sgd",
                        learning_rate_init=1e-300, momentum=0.0, max_iter=1,
                        random_state=3).fit(X, y)
    assert clf.get_params()["weight_init"] == "glorot"
    rng = np.random.RandomState(3)
    expected = []
    for fan_in, fan_out in [(6, 7), (7, 5), (5, 3)]:
        bound = math.sqrt(2.0 / (fan_in + fan_out))
        expected.append((rng.uniform(-bound, bound, (fan_in, fan_out)),
                         rng.uniform(-bound, bound, fan_out)))
    for (coef, intercept), c, i in zip(expected, clf.coefs_, clf.intercepts_):
        assert_array_equal(c, coef)
        assert_array_equal(i, intercept)


def test_he_init_trains_a_deep_relu_net_faster():
    """10 hidden relu layers of 32: Glorot's variance (1 / fan_in here)
    halves the signal's power at every layer, He's (2 / fan_in) keeps it, so
    He's net learns from the first epochs.  Measured (Adam, 5 epochs,
    digits): training loss 2.05-2.16 with Glorot, 1.33-1.36 with He."""
    for seed in range(3):
        loss = {}
        for weight_init in ("glorot", "he"):
            clf = MLPClassifier(hidden_layer_sizes=(32,) * 10, weight_init=weight_init,
                                max_iter=5, random_state=seed)
            loss[weight_init] = clf.fit(X_DIG, Y_DIG).loss_curve_[-1]
        assert loss["he"] < loss["glorot"] - 0.4, (seed, loss)


# ---------------------------------------------------------------------------
# class_weight


def _imbalanced(seed):
    X, y = make_classification(n_samples=3000, n_features=10, n_informative=4,
                               weights=[0.95, 0.05], class_sep=0.8, flip_y=0,
                               random_state=seed)
    return train_test_split(X, y, stratify=y, test_size=0.5, random_state=0)


def test_balanced_raises_minority_recall():
    """95% / 5% classes: unweighted, the net mostly predicts the majority;
    'balanced' weighs both classes equally.  Measured minority recall on
    held-out data: 0.09 / 0.12 unweighted, 0.65 / 0.77 balanced."""
    for seed in (0, 1):
        X_train, X_test, y_train, y_test = _imbalanced(seed)
        recall = {}
        for class_weight in (None, "balanced"):
            clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0,
                                class_weight=class_weight).fit(X_train, y_train)
            recall[class_weight] = recall_score(y_test, clf.predict(X_test))
        assert recall["balanced"] > recall[None] + 0.3, (seed, recall)


@pytest.mark.parametrize("with_sample_weight", [False, True], ids=["cw", "cw*sw"])
@pytest.mark.parametrize(
    "solver, early_stopping",
    [("adam", False), ("sgd", False), ("lbfgs", False), ("adam", True)],
)
def test_class_weight_dict_is_the_equivalent_sample_weight(solver, early_stopping,
                                                           with_sample_weight):
    """A dict of class weights trains exactly the model that the same weights
    given per sample train (times sample_weight when both are given), early
    stopping included: the split and the validation score are weighted the
    same way."""
    class_weight = {0: 2.5, 3: 0.25, 7: 4.0}
    per_sample = np.array([class_weight.get(c, 1.0) for c in Y_SMALL])
    sample_weight = (np.random.RandomState(0).uniform(0.5, 2.0, len(Y_SMALL))
                     if with_sample_weight else None)
    common = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=15,
                  early_stopping=early_stopping, random_state=0)
    weighted = MLPClassifier(class_weight=class_weight, **common).fit(
        X_SMALL, Y_SMALL, sample_weight=sample_weight)
    expected = per_sample if sample_weight is None else per_sample * sample_weight
    reference = MLPClassifier(**common).fit(X_SMALL, Y_SMALL, sample_weight=expected)
    _assert_same_params(_params(weighted), _params(reference))
    unweighted = MLPClassifier(**common).fit(X_SMALL, Y_SMALL, sample_weight=sample_weight)
    assert not np.array_equal(weighted.coefs_[0], unweighted.coefs_[0])
    if solver != "lbfgs":
        assert weighted.loss_curve_ == reference.loss_curve_
    if early_stopping:
        assert weighted.validation_scores_ == reference.validation_scores_
        assert weighted.validation_loss_curve_ == reference.validation_loss_curve_


def _compute_class_weight(class_weight, *, classes, y, sample_weight):
    """scikit-learn's compute_class_weight, given sample_weight only where
    there is one (older releases have no such parameter)."""
    if sample_weight is None:
        return compute_class_weight(class_weight, classes=classes, y=y)
    if not COMPUTE_CLASS_WEIGHT_HAS_SAMPLE_WEIGHT:
        pytest.skip(NO_COMPUTE_CLASS_WEIGHT_SAMPLE_WEIGHT)
    return compute_class_weight(class_weight, classes=classes, y=y,
                                sample_weight=sample_weight)


@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_balanced_weights_are_compute_class_weights(labels, with_sample_weight):
    """'balanced': n_samples / (n_classes * count), sample-weighted when
    sample_weight is given (scikit-learn's compute_class_weight, as its
    LogisticRegression uses it), times the sample weights."""
    rng = np.random.RandomState(0)
    y = rng.choice(4, size=200, p=[0.6, 0.25, 0.1, 0.05])
    if labels == "str":
        y = np.array(["ant", "bee", "cat", "dog"])[y]
    X = rng.randn(200, 5)
    sample_weight = rng.uniform(0.1, 3.0, 200) if with_sample_weight else None
    clf = MLPClassifier(class_weight="balanced", max_iter=2, random_state=0).fit(
        X, y, sample_weight=sample_weight)
    derived = clf._with_class_weight(clf._label_binarizer.transform(y).astype(bool),
                                     sample_weight)
    per_class = _compute_class_weight("balanced", classes=clf.classes_, y=y,
                                     sample_weight=sample_weight)
    expected = per_class[np.searchsorted(clf.classes_, y)]
    if sample_weight is not None:
        expected = expected * sample_weight
    assert_allclose(derived, expected, rtol=1e-13)


def test_multilabel_class_weight_is_compute_sample_weight():
    """Multilabel targets: each label weighted as a 0/1 output, a sample's
    weight the product over its labels (scikit-learn's
    compute_sample_weight for multi-output targets)."""
    X, _ = make_classification(n_samples=150, n_features=6, random_state=0)
    rng = np.random.RandomState(0)
    Y = (rng.rand(150, 3) < [0.5, 0.2, 0.05]).astype(int)
    for class_weight in ("balanced", [{0: 1.0, 1: 5.0}, {0: 2.0, 1: 1.0}, {1: 3.0}]):
        clf = MLPClassifier(class_weight=class_weight, max_iter=3, random_state=0)
        clf.fit(X, Y)
        derived = clf._with_class_weight(Y.astype(bool), None)
        assert_allclose(derived, compute_sample_weight(class_weight, Y), rtol=1e-13)
        reference = MLPClassifier(max_iter=3, random_state=0)
        reference.fit(X, Y, sample_weight=derived)
        _assert_same_params(_params(clf), _params(reference))


@pytest.mark.parametrize(
    "class_weight, y_kind, match",
    [
        ({0: 2.0, 11: 3.0}, "multiclass", r"labels \[11\] that are not classes of y"),
        ({0: -1.0}, "multiclass", "finite and non-negative"),
        ([{0: 1.0, 1: 2.0}], "multiclass", "for multilabel targets"),
        ({0: 2.0}, "multilabel", "list of 2 dicts"),
        ([{0: 1.0, 1: 2.0}], "multilabel", "1 dicts but the multilabel target has 2"),
    ],
)
def test_class_weight_errors(class_weight, y_kind, match):
    y = Y_SMALL if y_kind == "multiclass" else np.c_[Y_SMALL % 2, Y_SMALL < 5]
    clf = MLPClassifier(class_weight=class_weight, max_iter=2)
    with pytest.raises(ValueError, match=match):
        clf.fit(X_SMALL, y)
    assert not hasattr(clf, "coefs_")


def test_class_weight_dict_with_extra_labels_is_accepted():
    """As scikit-learn: labels that match no class are fine when every class
    is weighted (a fold of a cross-validation may lack a class)."""
    y = Y_SMALL % 3
    weights = {0: 1.0, 1: 2.0, 2: 3.0, 9: 5.0}
    clf = MLPClassifier(class_weight=weights, max_iter=2, random_state=0).fit(X_SMALL, y)
    reference = MLPClassifier(max_iter=2, random_state=0).fit(
        X_SMALL, y, sample_weight=np.array([weights[c] for c in y]))
    _assert_same_params(_params(clf), _params(reference))


def test_partial_fit_class_weight():
    """partial_fit applies a dict to every chunk; 'balanced' is refused
    (one chunk does not give the class frequencies), as SGDClassifier does,
    before anything changes."""
    class_weight = {1: 3.0, 4: 0.5}
    classes = np.arange(10)
    weighted = MLPClassifier(class_weight=class_weight, random_state=0)
    reference = MLPClassifier(random_state=0)
    for start in (0, 100, 200):
        X, y = X_SMALL[start:start + 100], Y_SMALL[start:start + 100]
        weighted.partial_fit(X, y, classes=classes)
        reference.partial_fit(X, y, classes=classes,
                              sample_weight=np.array([class_weight.get(c, 1.0) for c in y]))
    _assert_same_params(_params(weighted), _params(reference))

    balanced = MLPClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match=r"'balanced' is not supported by partial_fit.*"
                       r"compute_class_weight\('balanced'"):
        balanced.partial_fit(X_SMALL, Y_SMALL, classes=classes)
    assert not hasattr(balanced, "coefs_") and not hasattr(balanced, "classes_")
    # a model trained with a dict stays as it was
    before = _params(weighted)
    with pytest.raises(ValueError, match="partial_fit"):
        weighted.set_params(class_weight="balanced").partial_fit(X_SMALL, Y_SMALL)
    _assert_same_params(_params(weighted), before)


@pytest.mark.parametrize("class_weight", [{0: 3.0, 2: 0.25}, "balanced"])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_class_weighted_objective_gradient(class_weight, with_sample_weight):
    """The training objective with class weights -- the engine's loss with the
    per-sample weights the estimator derives -- is the class-weighted mean
    log-loss plus the L2 term over the weight sum, and its analytic gradient
    matches central differences."""
    rng = np.random.RandomState(0)
    X = rng.randn(30, 5)
    y = rng.choice(3, size=30, p=[0.5, 0.3, 0.2])
    sample_weight = rng.uniform(0.5, 2.0, 30) if with_sample_weight else None
    alpha = 0.1
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", alpha=alpha,
                        class_weight=class_weight, max_iter=3, random_state=0)
    clf.fit(X, y, sample_weight=sample_weight)
    Y = clf._label_binarizer.transform(y).astype(np.float64)
    weights = clf._with_class_weight(Y.astype(bool), sample_weight)
    per_class = (_compute_class_weight("balanced", classes=np.arange(3), y=y,
                                      sample_weight=sample_weight)
                 if class_weight == "balanced"
                 else np.array([class_weight.get(c, 1.0) for c in range(3)]))
    expected_weights = per_class[y] * (1.0 if sample_weight is None else sample_weight)
    assert_allclose(weights, expected_weights, rtol=1e-13)

    network = clf._network()
    params = clf._packed_params().copy()
    loss, grad = _engine.loss_grad(network, params, X, Y, weights)
    proba = clf.predict_proba(X)
    penalty = 0.5 * alpha * sum(np.sum(c ** 2) for c in clf.coefs_) / weights.sum()
    expected_loss = np.average(-np.log(proba[np.arange(30), y]), weights=weights) + penalty
    assert loss == pytest.approx(expected_loss, rel=1e-10)

    h = 1e-6
    fd = np.empty_like(params)
    for i in range(params.size):
        shifted = params.copy()
        shifted[i] += h
        loss_plus, _ = _engine.loss_grad(network, shifted, X, Y, weights)
        shifted[i] -= 2 * h
        loss_minus, _ = _engine.loss_grad(network, shifted, X, Y, weights)
        fd[i] = (loss_plus - loss_minus) / (2 * h)
    error = np.max(np.abs(grad - fd)) / np.max(np.abs(fd))
    assert error < 1e-6, f"max |analytic - fd| / max |fd| = {error:.2e}"
    # the class weights matter: the unweighted gradient is another one
    _, unweighted_grad = _engine.loss_grad(network, params, X, Y, None)
    assert np.max(np.abs(unweighted_grad - grad)) > 100 * np.max(np.abs(grad - fd))


# ---------------------------------------------------------------------------
# learning-rate schedules


def _scheduled(schedule, epoch, learning_rate_init, max_iter, step_size, gamma):
    """The documented rate of the epoch run after `epoch` completed ones."""
    if schedule == "cosine":
        return 0.5 * learning_rate_init * (1 + math.cos(math.pi * (epoch % max_iter)
                                                        / max_iter))
    return learning_rate_init * gamma ** (epoch // step_size)


@pytest.mark.parametrize("schedule", ["cosine", "step"])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_schedule_learning_rate_per_epoch(solver, schedule):
    recorder = _Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(10,), solver=solver, learning_rate=schedule,
                        learning_rate_init=0.02, lr_step_size=3, lr_gamma=0.5,
                        max_iter=12, tol=0, n_iter_no_change=100, callbacks=[recorder],
                        random_state=0).fit(X_SMALL, Y_SMALL)
    assert clf.n_iter_ == 12
    rates = [logs["learning_rate"] for _, logs, _ in recorder.calls]
    expected = [_scheduled(schedule, e, 0.02, 12, 3, 0.5) for e in range(12)]
    assert rates == pytest.approx(expected, rel=1e-14, abs=0)
    assert rates[0] == 0.02 and len(set(rates)) > 3


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_schedule_reaches_the_optimizer(solver):
    """After lr_step_size epochs a 'step' rate of 1e-12 * learning_rate_init
    freezes the weights: the optimizer uses the scheduled rate."""
    recorder = _Recorder(snapshot=True)
    MLPClassifier(hidden_layer_sizes=(10,), solver=solver, momentum=0.0,
                  learning_rate="step", learning_rate_init=0.01, lr_step_size=2,
                  lr_gamma=1e-12, max_iter=5, tol=0, callbacks=[recorder],
                  random_state=0).fit(X_SMALL, Y_SMALL)
    first = recorder.snapshots
    moved = np.max(np.abs(first[1][0] - first[0][0]))
    assert moved > 1e-4  # epoch 2 still ran at the full rate
    for later in first[2:]:
        for a, b in zip(later, first[1]):
            assert np.max(np.abs(a - b)) < 1e-8 * moved


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_schedule_full_batch_sgd_steps(schedule):
    """Full-batch SGD without momentum: each epoch moves the weights by
    exactly -rate * gradient, with the documented rate of that epoch."""
    X, y = X_SMALL[:60], Y_SMALL[:60]
    recorder = _Recorder(snapshot=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", solver="sgd",
                        momentum=0.0, batch_size=60, shuffle=False, alpha=0.0,
                        learning_rate=schedule, learning_rate_init=0.5, lr_step_size=2,
                        lr_gamma=0.3, max_iter=6, tol=0, callbacks=[recorder],
                        random_state=0)
    # the weights before the first epoch: the initial draws
    initial = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", solver="sgd",
                            learning_rate_init=1e-300, momentum=0.0, max_iter=1,
                            random_state=0).fit(X, y)
    clf.fit(X, y)
    network = clf._network()
    Y = clf._label_binarizer.transform(y).astype(np.float64)
    before = np.concatenate([a.ravel() for a in _params(initial)])
    for epoch, snapshot in enumerate(recorder.snapshots):
        after = np.concatenate([a.ravel() for a in snapshot])
        _, grad = _engine.loss_grad(network, before, X, Y, None)
        rate = _scheduled(schedule, epoch, 0.5, 6, 2, 0.3)
        assert_allclose(after - before, -rate * grad, rtol=1e-9, atol=1e-15)
        before = after


def test_scikit_learn_schedules_stay_sgd_only():
    """'invscaling' and 'adaptive' leave Adam's rate at learning_rate_init,
    as in scikit-learn."""
    for schedule in ("invscaling", "adaptive"):
        recorder = _Recorder()
        MLPClassifier(hidden_layer_sizes=(8,), learning_rate=schedule, max_iter=5,
                      callbacks=[recorder], random_state=0).fit(X_SMALL, Y_SMALL)
        assert [logs["learning_rate"] for _, logs, _ in recorder.calls] == [0.001] * 5


def test_schedule_clock_in_partial_fit_and_fit():
    """partial_fit's epochs are counted across calls ('cosine' restarting
    every max_iter of them); a fit starts the clock again."""
    for schedule in ("cosine", "step"):
        recorder = _Recorder()
        clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate=schedule,
                            learning_rate_init=0.01, lr_step_size=2, lr_gamma=0.5,
                            max_iter=4, callbacks=[recorder], random_state=0)
        for _ in range(7):
            clf.partial_fit(X_SMALL, Y_SMALL, classes=np.arange(10))
        rates = [logs["learning_rate"] for _, logs, _ in recorder.calls]
        assert [epoch for epoch, _, _ in recorder.calls] == [1] * 7  # n_iter_
        assert rates == pytest.approx(
            [_scheduled(schedule, e, 0.01, 4, 2, 0.5) for e in range(7)], rel=1e-14)
        recorder.calls.clear()
        clf.set_params(warm_start=True).fit(X_SMALL, Y_SMALL)
        assert recorder.calls[0][1]["learning_rate"] == 0.01


def test_annealing_schedules_lower_the_final_loss():
    """A noisy regression with small batches: a constant rate ends in the
    gradient noise, annealing it settles lower.  Measured (Adam, rate 0.01,
    batch 8, 30 epochs), training MSE: constant 0.0194 / 0.0207, cosine
    0.0137 / 0.0139, step 0.0148 / 0.0146."""
    X, y = make_regression(n_samples=1000, n_features=10, noise=20, random_state=0)
    y = (y - y.mean()) / y.std()
    for seed in (0, 1):
        mse = {}
        for schedule in ("constant", "cosine", "step"):
            reg = MLPRegressor(hidden_layer_sizes=(32,), batch_size=8,
                               learning_rate_init=0.01, learning_rate=schedule,
                               lr_step_size=10, lr_gamma=0.2, max_iter=30, tol=0,
                               n_iter_no_change=1000, random_state=seed).fit(X, y)
            mse[schedule] = mean_squared_error(y, reg.predict(X))
        assert mse["cosine"] < 0.85 * mse["constant"], (seed, mse)
        assert mse["step"] < 0.85 * mse["constant"], (seed, mse)


# ---------------------------------------------------------------------------
# early_stopping_metric and restore_best_weights

ES = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, early_stopping=True,
          validation_fraction=0.2, n_iter_no_change=5, max_iter=300, random_state=0)
X_ES, Y_ES = X_DIG[:600], Y_DIG[:600]


def _stopping_epoch(curve, tol, n_iter_no_change, lower_is_better):
    """The documented rule: stop once more than n_iter_no_change epochs in
    a row failed to beat the best value by tol."""
    best, count = np.inf, 0
    for epoch, value in enumerate(curve, start=1):
        value = value if lower_is_better else -value
        count = 0 if value < best - tol else count + 1
        best = min(best, value)
        if count > n_iter_no_change:
            return epoch
    return None


def test_early_stopping_on_validation_loss():
    """metric='loss' stops by the validation loss, 'score' by the accuracy:
    the same training (the loss curves agree) stopped at different epochs
    (measured: 49 and 20)."""
    by_loss = MLPClassifier(early_stopping_metric="loss", **ES).fit(X_ES, Y_ES)
    by_score = MLPClassifier(**ES).fit(X_ES, Y_ES)
    for clf, curve, lower in ((by_loss, by_loss.validation_loss_curve_, True),
                              (by_score, by_score.validation_scores_, False)):
        assert len(curve) == clf.n_iter_ < ES["max_iter"]
        assert clf.n_iter_ == _stopping_epoch(curve, clf.tol, 5, lower)
    assert by_loss.n_iter_ != by_score.n_iter_
    shorter = min(by_loss.n_iter_, by_score.n_iter_)
    assert by_loss.loss_curve_[:shorter] == by_score.loss_curve_[:shorter]
    # both record both curves
    assert len(by_score.validation_loss_curve_) == by_score.n_iter_
    assert by_loss.best_validation_loss_ == min(by_loss.validation_loss_curve_)
    assert by_loss.best_validation_score_ == max(by_loss.validation_scores_)


def test_validation_loss_attributes_without_early_stopping():
    clf = MLPClassifier(max_iter=3, random_state=0).fit(X_SMALL, Y_SMALL)
    assert clf.validation_loss_curve_ is None and clf.best_validation_loss_ is None


def _engine_data_loss(est, X, Y, sample_weight):
    """The engine's training loss without the L2 term."""
    alpha = est.alpha
    est.alpha = 0.0
    try:
        network = est._network()
    finally:
        est.alpha = alpha
    params = est._packed_params()
    Y = np.ascontiguousarray(Y, dtype=params.dtype)
    return _engine.loss_grad(network, params, X, Y, sample_weight)[0]


@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel", "squared",
                                    "poisson"])
def test_validation_loss_is_the_training_loss_without_penalty(target):
    """The validation loss (computed in NumPy from the outputs) is the engine's
    training loss, sample-weighted, without the L2 term."""
    rng = np.random.RandomState(0)
    X = rng.randn(80, 6)
    sample_weight = rng.uniform(0.2, 2.0, 80)
    if target in ("squared", "poisson"):
        Y = (rng.poisson(2.0, (80, 2)) if target == "poisson" else rng.randn(80, 2))
        est = MLPRegressor(hidden_layer_sizes=(8,), alpha=0.5, max_iter=20, random_state=0,
                           loss="poisson" if target == "poisson" else "squared_error")
        est.fit(X, Y)
        Y_model = Y
    else:
        y = {"multiclass": rng.randint(0, 4, 80), "binary": rng.randint(0, 2, 80),
             "multilabel": rng.randint(0, 2, (80, 3))}[target]
        est = MLPClassifier(hidden_layer_sizes=(8,), alpha=0.5, max_iter=20,
                            random_state=0).fit(X, y)
        Y_model = est._label_binarizer.transform(y)
    output = est._forward_pass_fast(X)
    loss = output_loss(est.out_activation_, output, Y_model, sample_weight)
    assert loss == pytest.approx(_engine_data_loss(est, X, Y_model, sample_weight),
                                 rel=1e-10)
    if target in ("multiclass", "binary"):
        assert loss == pytest.approx(log_loss(y, est.predict_proba(X),
                                              sample_weight=sample_weight), rel=1e-10)
    if target == "squared":
        assert loss == pytest.approx(
            0.5 * mean_squared_error(Y, est.predict(X), sample_weight=sample_weight),
            rel=1e-12)


@pytest.mark.parametrize("metric", ["score", "loss"])
def test_restore_best_weights(metric):
    """True: the weights of the best validation epoch (the first best one),
    exactly; False: those of the last epoch."""
    recorder = _Recorder(snapshot=True)
    best = MLPClassifier(early_stopping_metric=metric, callbacks=[recorder], **ES)
    best.fit(X_ES, Y_ES)
    best_epoch = (int(np.argmin(best.validation_loss_curve_)) if metric == "loss"
                  else int(np.argmax(best.validation_scores_)))
    assert best_epoch < best.n_iter_ - 1  # otherwise the test shows nothing
    _assert_same_params(_params(best), recorder.snapshots[best_epoch])

    recorder = _Recorder(snapshot=True)
    last = MLPClassifier(early_stopping_metric=metric, restore_best_weights=False,
                         callbacks=[recorder], **ES).fit(X_ES, Y_ES)
    assert last.n_iter_ == best.n_iter_
    _assert_same_params(_params(last), recorder.snapshots[-1])
    assert not np.array_equal(last.coefs_[0], best.coefs_[0])


def test_restore_best_weights_without_early_stopping_changes_nothing():
    common = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    a = MLPClassifier(restore_best_weights=True, **common).fit(X_SMALL, Y_SMALL)
    b = MLPClassifier(restore_best_weights=False, **common).fit(X_SMALL, Y_SMALL)
    _assert_same_params(_params(a), _params(b))


# ---------------------------------------------------------------------------
# callbacks


def test_callback_arguments():
    recorder = _Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, callbacks=[recorder],
                        random_state=0).fit(X_SMALL, Y_SMALL)
    assert [epoch for epoch, _, _ in recorder.calls] == list(range(1, 7))
    for epoch, logs, estimator in recorder.calls:
        assert estimator is clf
        assert set(logs) == {"loss", "learning_rate"}
        assert logs["loss"] == clf.loss_curve_[epoch - 1]
        assert logs["learning_rate"] == 0.001

    recorder = _Recorder()
    clf = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=6,
                       callbacks=[recorder], random_state=0).fit(X_SMALL, Y_SMALL)
    for epoch, logs, _ in recorder.calls:
        assert set(logs) == {"loss", "learning_rate", "validation_score",
                             "validation_loss"}
        assert logs["validation_score"] == clf.validation_scores_[epoch - 1]
        assert logs["validation_loss"] == clf.validation_loss_curve_[epoch - 1]

    # partial_fit: one epoch a call, epoch = n_iter_ = 1
    recorder = _Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), callbacks=[recorder])
    for _ in range(3):
        clf.partial_fit(X_SMALL, Y_SMALL, classes=np.arange(10))
    assert [epoch for epoch, _, _ in recorder.calls] == [1, 1, 1]
    assert [logs["loss"] for _, logs, _ in recorder.calls] == clf.loss_curve_


def test_callback_sees_the_current_model():
    """Inside a callback the estimator predicts with the epoch's weights."""
    seen = []

    def check(epoch, logs, estimator):
        seen.append(estimator.score(X_SMALL, Y_SMALL))

    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=8, callbacks=[check],
                        random_state=0).fit(X_SMALL, Y_SMALL)
    assert seen[-1] == clf.score(X_SMALL, Y_SMALL)
    assert seen[-1] > seen[0]


def test_callback_stops_training():
    """A true return value stops after that epoch: n_iter_ counts it, no
    ConvergenceWarning; every callback still sees that epoch."""
    stopper, watcher = _Recorder(stop_at=4), _Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, callbacks=[stopper, watcher],
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X_SMALL, Y_SMALL)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert clf.t_ == 4 * len(Y_SMALL)
    assert [epoch for epoch, _, _ in watcher.calls] == [1, 2, 3, 4]
    # stopping at the last epoch: no "Maximum iterations" warning either
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, callbacks=[_Recorder(stop_at=3)],
                      random_state=0).fit(X_SMALL, Y_SMALL)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, callbacks=[_Recorder()],
                      random_state=0).fit(X_SMALL, Y_SMALL)


def test_callback_stop_with_early_stopping_restores_best():
    recorder = _Recorder(stop_at=15, snapshot=True)
    clf = MLPClassifier(callbacks=[recorder], **ES).fit(X_ES, Y_ES)
    assert clf.n_iter_ == 15
    best_epoch = int(np.argmax(clf.validation_scores_))
    _assert_same_params(_params(clf), recorder.snapshots[best_epoch])


class _CallbackFailure(Exception):
    pass


def _raise_at(epoch_to_fail):
    def callback(epoch, logs, estimator):
        if epoch == epoch_to_fail:
            raise _CallbackFailure(f"failed at epoch {epoch}")
    return callback


def test_raising_callback_leaves_the_estimator_unchanged():
    # unfitted: stays unfitted
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, callbacks=[_raise_at(2)])
    with pytest.raises(_CallbackFailure, match="epoch 2"):
        clf.fit(X_SMALL, Y_SMALL)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "n_iter_")

    # fitted, trained further with warm_start: the model it was
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.fit(X_SMALL, Y_SMALL)
    before = (_params(clf), clf.n_iter_, clf.t_, list(clf.loss_curve_),
              clf.predict_proba(X_SMALL))
    clf.set_params(warm_start=True, callbacks=[_raise_at(3)])
    with pytest.raises(_CallbackFailure):
        clf.fit(X_SMALL, Y_SMALL)
    _assert_same_params(_params(clf), before[0])
    assert (clf.n_iter_, clf.t_, clf.loss_curve_) == before[1:4]
    assert_array_equal(clf.predict_proba(X_SMALL), before[4])

    # early stopping, trained further: the validation curves too
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5,
                        random_state=0).fit(X_SMALL, Y_SMALL)
    curves = (list(clf.validation_scores_), list(clf.validation_loss_curve_),
              clf.best_validation_score_, clf.best_validation_loss_)
    params = _params(clf)
    clf.set_params(warm_start=True, callbacks=[_raise_at(2)])
    with pytest.raises(_CallbackFailure):
        clf.fit(X_SMALL, Y_SMALL)
    assert (clf.validation_scores_, clf.validation_loss_curve_,
            clf.best_validation_score_, clf.best_validation_loss_) == curves
    _assert_same_params(_params(clf), params)

    # partial_fit: weights and optimizer state as before
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X_SMALL, Y_SMALL, classes=np.arange(10))
    params, moment = _params(clf), clf._optimizer.moment_1.copy()
    clf.set_params(callbacks=[_raise_at(1)])
    with pytest.raises(_CallbackFailure):
        clf.partial_fit(X_SMALL, Y_SMALL)
    _assert_same_params(_params(clf), params)
    assert_array_equal(clf._optimizer.moment_1, moment)
    assert len(clf.loss_curve_) == 1


def test_callbacks_must_be_callable():
    clf = MLPClassifier(max_iter=2, callbacks=[_record_learning_rate, "not a function"])
    with pytest.raises(TypeError, match=r"callbacks\[1\] is 'not a function'"):
        clf.fit(X_SMALL, Y_SMALL)
    assert not hasattr(clf, "coefs_")
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        MLPClassifier(max_iter=2, callbacks=_record_learning_rate).fit(X_SMALL, Y_SMALL)


def test_lbfgs_calls_no_callbacks():
    recorder = _Recorder()
    MLPClassifier(solver="lbfgs", max_iter=5, callbacks=[recorder]).fit(X_SMALL, Y_SMALL)
    assert recorder.calls == []


def test_clone_and_get_params_with_callbacks():
    callbacks = [_record_learning_rate]
    clf = MLPClassifier(callbacks=callbacks, max_iter=3, random_state=0)
    assert clf.get_params()["callbacks"] is callbacks
    cloned = clone(clf)
    assert cloned.get_params()["callbacks"] == callbacks
    cloned.fit(X_SMALL, Y_SMALL)
    assert cloned.recorded_learning_rates_ == [0.001] * 3


# ---------------------------------------------------------------------------
# progress bar


def test_progress_bar_on_stderr(capsys):
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, progress=True,
                  random_state=0).fit(X_SMALL, Y_SMALL)
    out, err = capsys.readouterr()
    assert out == ""
    assert "MLPClassifier" in err and "5/5" in err and "loss=" in err
    assert "val_score" not in err


def test_progress_bar_shows_the_validation_score(capsys):
    MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, progress=True, early_stopping=True,
                 early_stopping_metric="loss", random_state=0).fit(X_SMALL, Y_SMALL)
    err = capsys.readouterr().err
    assert "MLPRegressor" in err and "val_score=" in err and "val_loss=" in err


def test_verbose_2_shows_the_bar_instead_of_the_lines(capsys):
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, verbose=2,
                  random_state=0).fit(X_SMALL, Y_SMALL)
    out, err = capsys.readouterr()
    assert "Iteration" not in out
    assert "5/5" in err
    # stopping messages are still printed
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, verbose=2, tol=10.0,
                  n_iter_no_change=2, random_state=0).fit(X_SMALL, Y_SMALL)
    out, err = capsys.readouterr()
    assert "did not improve" in out and "4/50" in err


def test_progress_with_verbose_1_prints_the_lines_too(capsys):
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, verbose=1, progress=True,
                  random_state=0).fit(X_SMALL, Y_SMALL)
    out, err = capsys.readouterr()
    assert out.count("Iteration") == 5
    assert "5/5" in err


def test_missing_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    recorder = _Recorder()
    clf = MLPClassifier(max_iter=3, progress=True, callbacks=[recorder])
    with pytest.raises(ImportError, match=r"pip install tqdm"):
        clf.fit(X_SMALL, Y_SMALL)
    assert recorder.calls == [] and not hasattr(clf, "coefs_")
    # a fitted model, trained further: nothing runs, nothing changes
    clf = MLPClassifier(max_iter=3, random_state=0).fit(X_SMALL, Y_SMALL)
    before = _params(clf)
    clf.set_params(warm_start=True, progress=True, callbacks=[recorder])
    with pytest.raises(ImportError, match="progress=False"):
        clf.fit(X_SMALL, Y_SMALL)
    assert recorder.calls == []
    _assert_same_params(_params(clf), before)
    capsys.readouterr()
    # verbose=2 without tqdm: scikit-learn's lines (drop-in behaviour)
    MLPClassifier(max_iter=3, verbose=2, random_state=0).fit(X_SMALL, Y_SMALL)
    assert capsys.readouterr().out.count("Iteration") == 3
    # partial_fit and lbfgs show no bar, so need no tqdm
    MLPClassifier(progress=True).partial_fit(X_SMALL, Y_SMALL, classes=np.arange(10))
    MLPClassifier(solver="lbfgs", max_iter=3, progress=True).fit(X_SMALL, Y_SMALL)


# ---------------------------------------------------------------------------
# plot_loss_curve


@pytest.fixture
def pyplot():
    import matplotlib  # in the test extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def test_plot_loss_curve_writes_a_png(pyplot, tmp_path):
    clf = MLPClassifier(early_stopping_metric="loss", **ES).fit(X_ES, Y_ES)
    ax = plot_loss_curve(clf)
    train, val_loss = ax.lines
    assert list(train.get_ydata()) == clf.loss_curve_
    assert list(val_loss.get_ydata()) == clf.validation_loss_curve_
    assert list(train.get_xdata()) == list(range(1, clf.n_iter_ + 1))
    assert list(ax.right_ax.lines[0].get_ydata()) == clf.validation_scores_
    assert [t.get_text() for t in ax.right_ax.get_legend().get_texts()] == [
        "training loss", "validation loss", "validation score"]
    path = tmp_path / "curves.png"
    ax.figure.savefig(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_plot_loss_curve_on_given_axes(pyplot):
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=7, random_state=0)
    reg.fit(X_SMALL, Y_SMALL)
    _, ax = pyplot.subplots()
    assert plot_loss_curve(reg, ax=ax) is ax
    assert len(ax.lines) == 1 and not hasattr(ax, "right_ax")
    assert list(ax.lines[0].get_ydata()) == reg.loss_curve_


def test_plot_loss_curve_errors(pyplot, monkeypatch):
    with pytest.raises(NotFittedError):
        plot_loss_curve(MLPClassifier())
    lbfgs = MLPClassifier(solver="lbfgs", max_iter=3).fit(X_SMALL, Y_SMALL)
    with pytest.raises(ValueError, match="solver='lbfgs'"):
        plot_loss_curve(lbfgs)
    fitted = MLPClassifier(max_iter=3).fit(X_SMALL, Y_SMALL)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_loss_curve(fitted)


# ---------------------------------------------------------------------------
# pickling


def test_pickle_an_estimator_fitted_with_extras():
    clf = MLPClassifier(weight_init="he", class_weight={0: 2.0, 3: 0.5},
                        learning_rate="cosine", early_stopping=True,
                        early_stopping_metric="loss", restore_best_weights=False,
                        callbacks=[_record_learning_rate], **{
                            k: v for k, v in ES.items() if k != "early_stopping"})
    clf.fit(X_ES, Y_ES)
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.get_params() == clf.get_params()
    assert_array_equal(restored.predict_proba(X_ES), clf.predict_proba(X_ES))
    assert restored.validation_loss_curve_ == clf.validation_loss_curve_
    assert restored.best_validation_loss_ == clf.best_validation_loss_

    # partial_fit's schedule clock and optimizer travel with the pickle
    reg = MLPRegressor(hidden_layer_sizes=(8,), learning_rate="step", lr_step_size=1,
                       lr_gamma=0.5, callbacks=[_record_learning_rate], random_state=0)
    for _ in range(3):
        reg.partial_fit(X_SMALL, Y_SMALL)
    copy = pickle.loads(pickle.dumps(reg))
    reg.partial_fit(X_SMALL, Y_SMALL)
    copy.partial_fit(X_SMALL, Y_SMALL)
    _assert_same_params(_params(copy), _params(reg))
    assert copy.recorded_learning_rates_ == reg.recorded_learning_rates_ == [
        0.001, 0.0005, 0.00025, 0.000125]


def test_pickle_from_before_the_extras_loads_with_their_defaults():
    """A pickle written before these parameters existed loads with their
    defaults (the behaviour of the version that wrote it)."""
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    clf.fit(X_SMALL, Y_SMALL)
    state = clf.__getstate__()
    new = ("weight_init", "class_weight", "lr_step_size", "lr_gamma",
           "early_stopping_metric", "restore_best_weights", "callbacks", "progress")
    for name in new:
        del state[name]
    restored = MLPClassifier.__new__(MLPClassifier)
    restored.__setstate__(state)
    assert restored.get_params() == MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=3, random_state=0).get_params()
    assert_array_equal(restored.predict(X_SMALL), clf.predict(X_SMALL))
