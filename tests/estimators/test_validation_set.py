"""fit(X, y, sample_weight, *, X_val, y_val, sample_weight_val): early
stopping on a validation set the user gives, as HistGradientBoosting's fit."""
import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def data():
    X, y = make_classification(300, 5, n_informative=3, n_classes=3, random_state=0)
    return X[:200], y[:200], X[200:], y[200:]


def test_given_validation_set_replaces_the_split(data):
    X, y, X_val, y_val = data
    clf = MLPClassifier(early_stopping=True, max_iter=30, random_state=0,
                        restore_best_weights=False)
    seen = []
    clf.set_params(callbacks=[lambda e, logs, est: seen.append(
        accuracy_score(y_val, est.predict(X_val)))])
    clf.fit(X, y, X_val=X_val, y_val=y_val)
    # the recorded scores are the given set's, epoch by epoch
    assert clf.validation_scores_ == pytest.approx(seen)
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == len(clf.loss_curve_)
    # no data held out: the model differs from the split one, and the
    # training loss is over all 200 samples (t_ counts them)
    assert clf.t_ == 200 * clf.n_iter_
    split = MLPClassifier(early_stopping=True, max_iter=30, random_state=0).fit(X, y)
    assert split.t_ == 180 * split.n_iter_


def test_sample_weight_val_weights_the_score(data):
    X, y, X_val, y_val = data
    sw_val = np.where(y_val == 0, 5.0, 1.0)
    clf = MLPClassifier(early_stopping=True, max_iter=5, random_state=0,
                        restore_best_weights=False)
    clf.fit(X, y, X_val=X_val, y_val=y_val, sample_weight_val=sw_val)
    assert clf.validation_scores_[-1] == pytest.approx(
        accuracy_score(y_val, clf.predict(X_val), sample_weight=sw_val))


def test_regressor_and_multilabel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    reg = MLPRegressor(early_stopping=True, max_iter=20, random_state=0,
                       restore_best_weights=False)
    reg.fit(X[:150], Y[:150], X_val=X[150:], y_val=Y[150:])
    assert reg.validation_scores_[-1] == pytest.approx(r2_score(Y[150:], reg.predict(X[150:])))
    Xm, Ym = make_multilabel_classification(200, 5, n_classes=3, random_state=0)
    clf = MLPClassifier(early_stopping=True, max_iter=10, random_state=0,
                        restore_best_weights=False)
    clf.fit(Xm[:150], Ym[:150], X_val=Xm[150:], y_val=Ym[150:])
    assert clf.validation_scores_[-1] == pytest.approx(
        accuracy_score(Ym[150:], clf.predict(Xm[150:])))


@pytest.mark.parametrize("kwargs,message", [
    (dict(X_val=True), "together"),
    (dict(y_val=True), "together"),
    (dict(sample_weight_val=True), "without X_val"),
])
def test_incomplete_validation_set(data, kwargs, message):
    X, y, X_val, y_val = data
    values = {"X_val": X_val, "y_val": y_val, "sample_weight_val": np.ones(len(y_val))}
    kwargs = {k: values[k] for k in kwargs}
    with pytest.raises(ValueError, match=message):
        MLPClassifier(early_stopping=True).fit(X, y, **kwargs)


@pytest.mark.parametrize("params", [dict(early_stopping=False),
                                    dict(early_stopping=True, solver="lbfgs")])
def test_validation_set_needs_early_stopping(data, params):
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match="early_stopping=True"):
        MLPClassifier(**params).fit(X, y, X_val=X_val, y_val=y_val)


def test_mismatched_validation_set(data):
    X, y, X_val, y_val = data
    clf = MLPClassifier(early_stopping=True, max_iter=2)
    with pytest.raises(ValueError, match="features"):
        clf.fit(X, y, X_val=X_val[:, :3], y_val=y_val)
    with pytest.raises(ValueError, match="samples"):
        clf.fit(X, y, X_val=X_val, y_val=y_val[:-1])
    with pytest.raises(ValueError, match="not in the training classes"):
        clf.fit(X, y, X_val=X_val, y_val=y_val + 10)
    with pytest.raises(ValueError, match="outputs"):
        MLPRegressor(early_stopping=True, max_iter=2).fit(
            X, y.astype(float), X_val=X_val, y_val=np.ones((len(X_val), 2)))


def test_metadata_routing_through_a_pipeline(data):
    X, y, X_val, y_val = data
    with sklearn.config_context(enable_metadata_routing=True):
        clf = MLPClassifier(early_stopping=True, max_iter=10, random_state=0,
                            restore_best_weights=False)
        clf.set_fit_request(X_val=True, y_val=True, sample_weight_val=True)
        pipe = make_pipeline(StandardScaler(), clf)
        # the pipeline routes X_val as is (untransformed): scale it first
        X_val_scaled = pipe[0].fit(X).transform(X_val)
        pipe.fit(X, y, X_val=X_val_scaled, y_val=y_val, sample_weight_val=np.ones(len(y_val)))
        assert pipe[-1].validation_scores_[-1] == pytest.approx(
            accuracy_score(y_val, pipe.predict(X_val)))
