"""The estimators' training, end to end, against computations that do not
use the estimator's code: the NumPy reference of tests/_engine_ref.py driven
with the documented settings (batch-norm momentum 0.1, eps 1e-5, AdamW's
decay, clipping, L1 and L2), and early stopping's rule, best-epoch restore
and validation loss recomputed from per-epoch snapshots.

Each test names, in its docstring, the wrong implementations it catches
(each is a fault of tests/mutation_drill.py)."""
import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import fastmlp._multilayer_perceptron as estimator_module
from _engine_ref import RefOptimizer, activation, pack, penalty, train_epoch
from conftest import max_rel_diff
from fastmlp import MLPClassifier, _engine

# documented in the README ("Batch normalization"); written here, not read
# from the package, so a wrong constant there fails these tests
BATCH_NORM_MOMENTUM = 0.1
BATCH_NORM_EPS = 1e-5

HIDDEN = (7, 5)
BATCH = 32
EPOCHS = 4


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=150, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=3, random_state=3)
    X = (X - X.mean(0)) / X.std(0)
    return X, y


def reference_network(clf, n_features, n_outputs):
    n_hidden = len(HIDDEN)
    acts = [clf.activation] * n_hidden
    return _engine.Network(
        [n_features, *HIDDEN, n_outputs], acts, "cross_entropy", alpha=clf.alpha, l1=clf.l1,
        leaky_relu_slope=clf.leaky_relu_slope,
        batch_norm=[True] * n_hidden if clf.batch_norm else None,
        batch_norm_momentum=BATCH_NORM_MOMENTUM, batch_norm_eps=BATCH_NORM_EPS)


def packed_from_attributes(clf, net):
    """The flat parameters and running statistics, from public attributes."""
    bn = None
    stats = np.empty(0)
    if clf.batch_norm:
        bn = list(zip(clf.batch_norm_scales_, clf.batch_norm_shifts_))
        stats = np.concatenate(clf.batch_norm_means_ + clf.batch_norm_vars_)
    return pack(net, clf.coefs_, clf.intercepts_, np.float64, bn), stats.astype(np.float64)


def reference_optimizer(clf, n_params):
    kw = dict(learning_rate=clf.learning_rate_init, max_grad_norm=clf.max_grad_norm or 0.0)
    if clf.solver == "sgd":
        kw.update(momentum=clf.momentum, nesterov=clf.nesterovs_momentum)
    elif clf.solver == "rmsprop":
        kw.update(beta_2=clf.rho, epsilon=clf.epsilon)
    else:
        kw.update(beta_1=clf.beta_1, beta_2=clf.beta_2, epsilon=clf.epsilon,
                  weight_decay=clf.weight_decay if clf.solver == "adamw" else 0.0)
    return RefOptimizer(clf.solver, n_params, np.float64, **kw)


# Each case names the documented effects it pins down.
CASES = {
    # batch norm's running statistics (momentum, unbiased variance) and the
    # L2 term in both the gradient and the reported loss
    "batch-norm-tanh-adam-l2": dict(activation="tanh", batch_norm=True, solver="adam",
                                    alpha=0.05),
    "batch-norm-leaky-sgd-l1": dict(activation="leaky_relu", leaky_relu_slope=0.2,
                                    batch_norm=True, solver="sgd", nesterovs_momentum=False,
                                    alpha=0.01, l1=0.01),
    "elu-rmsprop-l1": dict(activation="elu", solver="rmsprop", rho=0.8, l1=0.05, alpha=0.0),
    "swish-adamw": dict(activation="swish", solver="adamw", weight_decay=0.5, alpha=0.0),
    "gelu-adam-clipped": dict(activation="gelu", solver="adam", max_grad_norm=0.05),
    "relu-nesterov-clipped": dict(activation="relu", solver="sgd", max_grad_norm=0.05),
    "logistic-rmsprop-clipped": dict(activation="logistic", solver="rmsprop",
                                     max_grad_norm=0.02),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_matches_the_numpy_reference(data, case):
    """EPOCHS epochs of fit (unshuffled, a fresh optimizer from warm-started
    weights) give the weights, batch-norm running statistics, loss_curve_,
    n_iter_ and t_ of the NumPy reference with the documented constants.

    Catches: a batch-norm momentum other than 0.1 (in Python or C), a biased
    running variance, an L2 term dropped from the loss or the gradient, a
    wrong L1 sign, a wrong elu/swish/gelu/tanh derivative, RMSProp without
    the square root, AdamW decaying by the wrong factor or decaying the
    biases, clipping skipped for a solver or scaled wrongly, Nesterov's step
    replaced by plain momentum, a bias left without update."""
    X, y = data
    Y = (y[:, None] == np.unique(y)).astype(np.float64)
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, learning_rate_init=0.01, batch_size=BATCH,
                        shuffle=False, warm_start=True, n_iter_no_change=10**6, tol=0.0,
                        max_iter=1, random_state=0, **CASES[case])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)  # weights and statistics away from their initial values
        net = reference_network(clf, X.shape[1], Y.shape[1])
        params, stats = packed_from_attributes(clf, net)
        t_before = clf.t_
        clf.set_params(max_iter=EPOCHS).fit(X, y)
    opt = reference_optimizer(clf, net.n_params)
    order = np.arange(X.shape[0], dtype=np.int64)
    losses = []
    for _ in range(EPOCHS):
        losses.append(train_epoch(net, params, opt, X, Y, None, order, BATCH,
                                  running_stats=stats if clf.batch_norm else None) / len(X))
    fitted, fitted_stats = packed_from_attributes(clf, net)
    # observed: about 1e-15 (float64 rounding); a wrong update is > 1e-6
    assert max_rel_diff(fitted, params) < 1e-10
    if clf.batch_norm:
        assert max_rel_diff(fitted_stats, stats) < 1e-10
    np.testing.assert_allclose(clf.loss_curve_[-EPOCHS:], losses, rtol=1e-10)
    assert clf.n_iter_ == EPOCHS
    assert clf.t_ == t_before + EPOCHS * len(X)
    if clf.max_grad_norm:
        # the case does clip, but not every update (else clipping would be
        # a fixed step length, whatever its scale)
        assert 0 < opt.n_clipped, opt.n_clipped
    if CASES[case].get("alpha") or CASES[case].get("l1"):
        # the penalty is a visible part of the loss (so dropping it fails)
        assert penalty(net, params) / len(X) > 1e-3 * losses[-1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_binary_probabilities_follow_classes_order():
    """Binary targets: the output unit is the probability of classes_[1]
    (NumPy forward pass from coefs_), predict_proba's columns follow
    classes_, and predict is classes_[argmax].

    Catches: swapped probability columns, a class order other than sorted."""
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    labels = np.array(["yes", "no"])[y]  # sorted order is ["no", "yes"]
    clf = MLPClassifier(hidden_layer_sizes=(6,), learning_rate_init=0.05, max_iter=60,
                        random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["no", "yes"]
    h = activation("relu", X @ clf.coefs_[0] + clf.intercepts_[0])
    p_yes = 1 / (1 + np.exp(-(h @ clf.coefs_[1] + clf.intercepts_[1]).ravel()))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, np.column_stack([1 - p_yes, p_yes]), rtol=1e-12)
    # the model learned something, so a swap changes the answers
    assert np.mean(clf.predict(X) == labels) > 0.8
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])


# ---- early stopping, recomputed from per-epoch snapshots ------------------


def numpy_proba(coefs, intercepts, activation_name, bn=None):
    """predict_proba from the weights alone (bn: per layer (scale, shift,
    mean, var) with the running statistics), in NumPy."""

    def run(X):
        h = X
        for layer, (W, b) in enumerate(zip(coefs, intercepts)):
            z = h @ W + b
            if layer == len(coefs) - 1:
                return softmax(z, axis=1)
            if bn is not None:
                scale, shift, mean, var = bn[layer]
                z = scale * (z - mean) / np.sqrt(var + BATCH_NORM_EPS) + shift
            h = activation(activation_name, z)
    return run


class Snapshots:
    """A callback that keeps each epoch's weights and running statistics."""

    def __init__(self):
        self.epochs = []

    def __call__(self, n_iter, logs, est):
        bn = None
        if est.batch_norm:
            bn = [tuple(np.array(a) for a in arrays) for arrays in
                  zip(est.batch_norm_scales_, est.batch_norm_shifts_,
                      est.batch_norm_means_, est.batch_norm_vars_)]
        self.epochs.append(dict(
            coefs=[np.array(c) for c in est.coefs_],
            intercepts=[np.array(b) for b in est.intercepts_],
            bn=bn, logs=logs))
        return False


@pytest.fixture
def validation_split(monkeypatch):
    """Records the validation set the estimator draws (its own split)."""
    seen = []
    original = estimator_module.split_validation

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out[3])
        return out

    monkeypatch.setattr(estimator_module, "split_validation", spy)
    return seen


def expected_stop(scores_or_losses, tol, patience, higher_is_better=True):
    """scikit-learn's rule, by hand: an epoch improves when it beats the
    best so far by more than tol; training stops after patience + 1 epochs
    in a row without improvement.  Returns the number of epochs run."""
    best = -np.inf if higher_is_better else np.inf
    count = 0
    for epoch, value in enumerate(scores_or_losses, start=1):
        if higher_is_better:
            improved = not value < best + tol
            best = max(best, value)
        else:
            improved = value < best - tol
            best = min(best, value)
        count = 0 if improved else count + 1
        if count > patience:
            return epoch
    return None


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batch-norm"])
@pytest.mark.parametrize("metric", ["score", "loss"])
def test_early_stopping_rule_restore_and_validation_loss(data, validation_split, batch_norm,
                                                         metric):
    """With early stopping, recomputed from each epoch's snapshot:
    validation_scores_ is the accuracy and validation_loss_curve_ the
    weighted log-loss of that epoch's weights on the validation set; the run
    stops at the epoch scikit-learn's rule (tol, n_iter_no_change) names,
    before max_iter; and the final weights and batch-norm statistics are
    those of the best epoch (the first best one).

    Catches: no restore of the best weights, the best epoch's batch-norm
    statistics not captured, the tolerance applied with the wrong sign,
    n_iter_no_change off by one, an unweighted validation loss."""
    X, y = data
    sample_weight = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    snapshots = Snapshots()
    tol, patience = 0.003 if metric == "score" else 1e-3, 3
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_norm=batch_norm, early_stopping=True,
                        early_stopping_metric=metric, validation_fraction=0.3, tol=tol,
                        n_iter_no_change=patience, learning_rate_init=0.05, max_iter=300,
                        batch_size=16, random_state=1, callbacks=[snapshots])
    clf.fit(X, y, sample_weight=sample_weight)
    X_val, y_val, _, sw_val = validation_split[0]
    assert len(snapshots.epochs) == clf.n_iter_ == len(clf.validation_scores_)
    scores, losses = [], []
    for snap in snapshots.epochs:
        proba = numpy_proba(snap["coefs"], snap["intercepts"], clf.activation, snap["bn"])(X_val)
        labels = clf.classes_[np.argmax(proba, axis=1)]
        scores.append(np.average(labels == y_val, weights=sw_val))
        onehot = (y_val[:, None] == clf.classes_).astype(float)
        eps = np.finfo(np.float64).eps  # documented: clipped to [eps, 1 - eps]
        per_sample = -np.sum(onehot * np.log(np.clip(proba, eps, 1 - eps)), axis=1)
        losses.append(np.average(per_sample, weights=sw_val))
    np.testing.assert_allclose(clf.validation_scores_, scores, rtol=1e-12)
    np.testing.assert_allclose(clf.validation_loss_curve_, losses, rtol=1e-9)
    watched = scores if metric == "score" else losses
    stop = expected_stop(watched, tol, patience, higher_is_better=metric == "score")
    assert stop is not None and stop < clf.max_iter
    assert clf.n_iter_ == stop
    best = int(np.argmax(scores)) if metric == "score" else int(np.argmin(losses))
    # the best epoch is not the last one, so restoring is visible
    assert best < clf.n_iter_ - 1
    for fitted, kept in zip(clf.coefs_ + clf.intercepts_,
                            snapshots.epochs[best]["coefs"] + snapshots.epochs[best]["intercepts"]):
        np.testing.assert_array_equal(fitted, kept)
    if batch_norm:
        final = [np.concatenate(arrays) for arrays in
                 (clf.batch_norm_means_, clf.batch_norm_vars_)]
        kept = [np.concatenate([layer[k] for layer in snapshots.epochs[best]["bn"]])
                for k in (2, 3)]
        np.testing.assert_array_equal(final[0], kept[0])
        np.testing.assert_array_equal(final[1], kept[1])
        # and these differ from the last epoch's (else the check proves nothing)
        last = np.concatenate([layer[2] for layer in snapshots.epochs[-1]["bn"]])
        assert not np.array_equal(final[0], last)
