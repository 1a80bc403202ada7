"""learning_rate='plateau': scikit-learn's 'adaptive' reduction for every
stochastic solver, by the factor lr_gamma, on the monitored value."""
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def rates_of(est_class, X, y, **params):
    rates = []

    def record(epoch, logs, estimator):
        rates.append(logs["learning_rate"])

    est = est_class(callbacks=[record], random_state=0, **params).fit(X, y)
    return est, rates


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "rmsprop"])
def test_rate_is_multiplied_by_gamma_then_training_stops(solver):
    """tol so large that no epoch improves: after n_iter_no_change + 1
    epochs without improvement the rate is multiplied by lr_gamma (the
    count starts over), until it is at or below 1e-6."""
    X, y = make_classification(100, 4, random_state=0)
    est, rates = rates_of(MLPClassifier, X, y, solver=solver, learning_rate="plateau",
                          learning_rate_init=1e-3, lr_gamma=0.1, tol=100.0,
                          n_iter_no_change=1, max_iter=100)
    # the first epoch sets best_loss_; then each rate runs two epochs without
    # improvement.  1e-3 * 0.1**3 rounds to just above 1e-6, so it is
    # reduced once more; training stops at a rate at or below 1e-6.
    n_rates = 5
    expected = [1e-3] + [1e-3 * 0.1**k for k in range(n_rates) for _ in range(2)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert rates[-1] <= 1e-6 < rates[-3]
    assert est.n_iter_ == len(expected) < 100
    constant = MLPClassifier(solver=solver, learning_rate="constant", tol=100.0,
                             n_iter_no_change=1, max_iter=100, random_state=0).fit(X, y)
    assert constant.n_iter_ == 3


def test_plateau_watches_the_validation_metric():
    X, y = make_classification(200, 4, random_state=0)
    est, rates = rates_of(MLPClassifier, X, y, learning_rate="plateau", early_stopping=True,
                          early_stopping_metric="loss", tol=100.0, n_iter_no_change=2,
                          lr_gamma=0.5, learning_rate_init=0.01, max_iter=20)
    # the validation loss never improves by tol after the first epoch: the
    # rate halves after every n_iter_no_change + 1 = 3 such epochs
    assert rates[:8] == pytest.approx([0.01] * 4 + [0.005] * 3 + [0.0025])
    assert len(est.validation_loss_curve_) == est.n_iter_


def test_adaptive_stays_sgd_only():
    X, y = make_classification(100, 4, random_state=0)
    _, rates = rates_of(MLPClassifier, X, y, solver="adam", learning_rate="adaptive",
                        tol=100.0, n_iter_no_change=1, max_iter=50)
    assert len(rates) == 3 and len(set(rates)) == 1


def test_sgd_plateau_with_gamma_one_fifth_is_adaptive():
    X, y = make_classification(100, 4, random_state=0)
    params = dict(solver="sgd", tol=0.05, n_iter_no_change=2, max_iter=60,
                  learning_rate_init=0.1)
    _, adaptive = rates_of(MLPClassifier, X, y, learning_rate="adaptive", **params)
    _, plateau = rates_of(MLPClassifier, X, y, learning_rate="plateau", lr_gamma=0.2, **params)
    assert len(adaptive) == len(plateau)
    np.testing.assert_allclose(plateau, adaptive, rtol=1e-12)
    assert len(set(adaptive)) > 1


def test_plateau_settles_a_noisy_regression():
    """Adam at a high rate on small noisy batches: reducing on the plateau
    ends at a lower training loss than the constant rate, same epochs
    (measured, seeds 0/1/2: see the README)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 3))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.3 * rng.standard_normal(400)
    for seed in range(3):
        common = dict(hidden_layer_sizes=(32,), learning_rate_init=0.03, batch_size=8,
                      max_iter=60, n_iter_no_change=3, tol=1e-3, random_state=seed)
        constant = MLPRegressor(**common, learning_rate="constant").fit(X, y)
        plateau = MLPRegressor(**common, learning_rate="plateau", lr_gamma=0.3).fit(X, y)
        assert plateau.n_iter_ > constant.n_iter_
        assert min(plateau.loss_curve_) < min(constant.loss_curve_)


def test_plateau_rate_survives_partial_fit_and_pickle():
    X, y = make_classification(100, 4, random_state=0)
    clf = MLPClassifier(learning_rate="plateau", tol=100.0, n_iter_no_change=1,
                        learning_rate_init=1e-2, random_state=0)
    for _ in range(4):
        clf.partial_fit(X, y, classes=[0, 1])
    again = pickle.loads(pickle.dumps(clf))
    assert again._optimizer.learning_rate == clf._optimizer.learning_rate
    assert clf._optimizer.learning_rate == pytest.approx(1e-3)
