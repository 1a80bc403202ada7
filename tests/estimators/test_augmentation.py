"""input_noise and mixup_alpha at the estimator level: what each documented
effect does (noise shrinks a linear model's coefficients like a ridge
penalty, per feature; mixup softens the classifier's probabilities), that
neither touches prediction or validation, reproducibility (random_state,
threads), sparse input, 'lbfgs', pickling, partial_fit and warm_start, and
that the defaults draw nothing."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def classification():
    X, y = make_classification(200, 8, n_informative=4, flip_y=0.1, random_state=0)
    return X, y


def linear(**kwargs):
    """A linear regressor (identity hidden layer, no penalty)."""
    return MLPRegressor(hidden_layer_sizes=(8,), activation="identity", alpha=0.0, max_iter=200,
                        learning_rate_init=0.01, random_state=0, **kwargs)


def test_noise_shrinks_coefficients_like_ridge_per_feature():
    X, y = make_regression(300, 3, noise=0.1, random_state=0)
    X /= X.std(axis=0)
    def effective(model):
        return (model.coefs_[0] @ model.coefs_[1]).ravel()
    plain = effective(linear().fit(X, y))
    noisy = effective(linear(input_noise=1.0).fit(X, y))
    first = effective(linear(input_noise=[1.0, 0.0, 0.0]).fit(X, y))
    # noise of variance s^2 on a standardized feature: about coefficient /
    # (1 + s^2) at the optimum (measured here: 0.38 to 0.58); the other
    # features keep theirs (0.90, 0.96)
    assert np.all(noisy / plain < 0.65)
    assert first[0] / plain[0] < 0.65
    assert np.all(first[1:] / plain[1:] > 0.85)


def test_mixup_softens_the_probabilities():
    X, y = classification()
    plain = MLPClassifier((32,), max_iter=200, random_state=0).fit(X, y)
    mixed = MLPClassifier((32,), max_iter=200, random_state=0, mixup_alpha=1.0).fit(X, y)
    assert mixed.predict_proba(X).max(axis=1).mean() < \
        plain.predict_proba(X).max(axis=1).mean() - 0.03


@pytest.mark.parametrize("kwargs", [dict(input_noise=0.5), dict(mixup_alpha=0.4)])
def test_prediction_and_validation_are_not_augmented(kwargs):
    X, y = classification()
    model = MLPClassifier((16,), max_iter=30, random_state=0, early_stopping=True,
                          restore_best_weights=False, n_iter_no_change=1000, **kwargs)
    model.fit(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    assert model.validation_scores_[-1] == model.score(X[150:], y[150:])
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("kwargs", [dict(input_noise=0.3), dict(mixup_alpha=0.4),
                                    dict(input_noise=0.2, mixup_alpha=0.2)])
def test_reproducible_and_independent_of_threads(kwargs):
    X, y = classification()
    a = MLPClassifier((16,), max_iter=10, random_state=0, **kwargs).fit(X, y)
    b = MLPClassifier((16,), max_iter=10, random_state=0, **kwargs).fit(X, y)
    with threadpool_limits(1):
        c = MLPClassifier((16,), max_iter=10, random_state=0, **kwargs).fit(X, y)
    d = MLPClassifier((16,), max_iter=10, random_state=1, **kwargs).fit(X, y)
    plain = MLPClassifier((16,), max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a._packed_params(), b._packed_params())
    np.testing.assert_array_equal(a._packed_params(), c._packed_params())
    assert not np.array_equal(a.coefs_[0], d.coefs_[0])
    assert not np.array_equal(a.coefs_[0], plain.coefs_[0])


def test_zero_is_off_and_draws_nothing():
    X, y = classification()
    plain = MLPClassifier((16,), max_iter=10, random_state=0).fit(X, y)
    zero = MLPClassifier((16,), max_iter=10, random_state=0, input_noise=[0.0] * 8,
                         mixup_alpha=0.0).fit(X, y)
    np.testing.assert_array_equal(plain._packed_params(), zero._packed_params())


@pytest.mark.parametrize("kwargs", [dict(input_noise=0.3), dict(mixup_alpha=0.4)])
def test_sparse_input_is_densified_per_batch(kwargs):
    X, y = classification()
    dense = MLPClassifier((16,), max_iter=10, random_state=0, **kwargs).fit(X, y)
    sparse = MLPClassifier((16,), max_iter=10, random_state=0, **kwargs).fit(
        sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse._packed_params(), dense._packed_params(),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(input_noise=0.3), dict(mixup_alpha=0.4)])
def test_lbfgs_refuses_augmentation(kwargs):
    X, y = classification()
    model = MLPClassifier((16,), solver="lbfgs", **kwargs)
    with pytest.raises(ValueError, match="lbfgs"):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(input_noise=-0.1), "input_noise"), (dict(mixup_alpha=-1.0), "mixup_alpha"),
     (dict(input_noise=[0.1, 0.2]), "one value per feature"),
     (dict(input_noise=[np.nan] * 8), "finite")],
)
def test_invalid_values(kwargs, match):
    X, y = classification()
    with pytest.raises(ValueError, match=match):
        MLPClassifier((4,), max_iter=2, **kwargs).fit(X, y)


def test_mixup_sample_weights_are_blended():
    """Scaling every weight by 2 changes nothing (a blend of weights keeps
    the batch's weight sum), and a zero-weight sample still enters training
    through its partners' blends (so it differs from dropping it)."""
    X, y = classification()
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, mixup_alpha=0.4,
              shuffle=False, batch_size=200)
    base = MLPClassifier(**kw).fit(X, y)
    doubled = MLPClassifier(**kw).fit(X, y, sample_weight=np.full(200, 2.0))
    # (up to Adam's epsilon and rounding)
    np.testing.assert_allclose(base._packed_params(), doubled._packed_params(), rtol=1e-5,
                               atol=1e-6)
    sw = np.ones(200)
    sw[:20] = 0
    zeroed = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    dropped = MLPClassifier(**kw).fit(X[20:], y[20:])
    assert not np.allclose(zeroed._packed_params(), dropped._packed_params())


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_pickle_partial_fit_and_warm_start(Estimator):
    X, y = classification()
    if Estimator is MLPRegressor:
        y = y.astype(float)
    kw = dict(hidden_layer_sizes=(8,), random_state=0, input_noise=0.2, mixup_alpha=0.3)
    extra = dict(classes=[0, 1]) if Estimator is MLPClassifier else {}
    model = Estimator(**kw)
    model.partial_fit(X, y, **extra)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.input_noise == 0.2 and clone.mixup_alpha == 0.3
    before = model._packed_params().copy()
    model.partial_fit(X, y)
    clone.partial_fit(X, y)
    np.testing.assert_array_equal(model._packed_params(), clone._packed_params())
    assert not np.array_equal(before, model._packed_params())
    warm = Estimator(max_iter=3, warm_start=True, **kw).fit(X, y)
    first = warm._packed_params().copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 3 and not np.array_equal(first, warm._packed_params())


def test_fresh_draws_every_epoch_and_partial_fit_call(monkeypatch):
    """Each epoch (and each partial_fit call, which restarts the RandomState
    from random_state) gets its own noise seed, lambdas and partners; the
    partners permute the positions within each batch."""
    from fastmlp import _engine
    calls = []
    train_epoch = _engine.train_epoch

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return train_epoch(*args, **kwargs)

    monkeypatch.setattr(_engine, "train_epoch", recording)
    X, y = classification()
    kw = dict(hidden_layer_sizes=(4,), batch_size=64, random_state=0, input_noise=0.1,
              mixup_alpha=0.5)
    MLPClassifier(max_iter=3, **kw).fit(X, y)
    model = MLPClassifier(**kw)
    model.partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y)
    assert len(calls) == 5
    assert len({c["noise_seed"] for c in calls[:3]}) == 3
    assert calls[3]["noise_seed"] != calls[4]["noise_seed"]
    for c in calls:
        assert c["mixup_lambda"].shape == (4,)  # 200 rows in batches of 64
        partner = c["mixup_partner"]
        for start in range(0, 200, 64):
            batch = partner[start:start + 64]
            np.testing.assert_array_equal(np.sort(batch), np.arange(batch.size))
    assert not np.array_equal(calls[3]["mixup_lambda"], calls[4]["mixup_lambda"])
    assert not np.array_equal(calls[0]["mixup_partner"], calls[1]["mixup_partner"])


def test_held_out_log_loss_improves_on_a_noisy_problem():
    """The measured effect of docs/extras.rst, smaller: few noisy samples,
    many features, a wide unpenalized network."""
    from sklearn.metrics import log_loss
    X, y = make_classification(n_samples=400, n_features=40, n_informative=5,
                               flip_y=0.2, random_state=0)
    X = (X - X[:100].mean(axis=0)) / X[:100].std(axis=0)
    def held_out(**kwargs):
        losses = []
        for seed in range(2):
            clf = MLPClassifier((128,), alpha=0, max_iter=100, n_iter_no_change=1000,
                                random_state=seed, **kwargs).fit(X[:100], y[:100])
            losses.append(log_loss(y[100:], clf.predict_proba(X[100:])))
        return np.mean(losses)
    plain = held_out()
    assert held_out(input_noise=1.0) < plain - 0.05
    assert held_out(mixup_alpha=1.0) < plain - 0.03
