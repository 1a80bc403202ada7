"""The training policy of the mini-batch solvers ('sgd', 'adam', 'rmsprop',
'adamw'), apart from the estimators that run it.

- ``make_optimizer``: the engine's optimizer for the estimator's solver;
- ``LearningRateSchedule``: every change of its learning rate (the one place
  that sets it);
- ``ImprovementMonitor``: the validation split, the per-epoch comparison with
  the best score or loss so far, the best-weight snapshots, and when to stop;
- ``EpochReport``: what each epoch reports to (verbose lines, the progress
  bar, the callbacks);
- ``batch_rows``, ``shuffle_order``, ``dropout_seed``, ``epoch_augmentation``:
  one epoch's batches.

The estimator's ``_fit_stochastic`` wires these around ``_engine.train_epoch``.
Random draws (the split, each epoch's shuffle, the dropout seeds) come from
the estimator's RandomState in scikit-learn's order.
"""

import math
import sys
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from fastmlp import _engine
from fastmlp._losses import output_loss

STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "adamw")

# sgd's 'adaptive' rate (and every solver's 'plateau' rate) stops training
# once it would go below this.
_ADAPTIVE_MIN_RATE = 1e-6


def make_optimizer(estimator, n_params, dtype):
    """A fresh optimizer (zero moments) for the estimator's solver, at the
    schedule's first rate, learning_rate_init."""
    est = estimator
    common = dict(
        learning_rate=float(est.learning_rate_init),
        max_grad_norm=float(est.max_grad_norm or 0.0),
    )
    if est.solver == "sgd":
        return _engine.Optimizer(
            "sgd", n_params, dtype, momentum=est.momentum,
            nesterov=est.nesterovs_momentum, **common,
        )
    if est.solver == "rmsprop":
        # the engine's RMSProp decays its squared-gradient average by beta_2
        return _engine.Optimizer(
            "rmsprop", n_params, dtype, beta_2=est.rho, epsilon=est.epsilon, **common
        )
    return _engine.Optimizer(
        est.solver,
        n_params,
        dtype,
        beta_1=est.beta_1,
        beta_2=est.beta_2,
        epsilon=est.epsilon,
        weight_decay=float(est.weight_decay) if est.solver == "adamw" else 0.0,
        **common,
    )


class LearningRateSchedule:
    """The estimator's ``learning_rate`` schedule, applied to its optimizer.

    'constant': learning_rate_init throughout.  'invscaling' (sgd):
    learning_rate_init / (t_ + 1) ** power_t after each epoch.  'adaptive'
    (sgd): divided by 5 whenever training stops improving, until it would
    fall below 1e-6.  'cosine' and 'step' (every solver) at the start of
    each epoch, from the number of epochs run with the current optimizer
    (this fit's; partial_fit's, summed over its calls): a half cosine from
    learning_rate_init to 0 restarting every max_iter epochs, and
    learning_rate_init * lr_gamma ** (epochs // lr_step_size).  'plateau'
    (every solver): 'adaptive' with the factor lr_gamma instead of 1 / 5.

    The rate lives in the optimizer (it travels with it through partial_fit
    calls and pickles); this class is the only code that changes it."""

    def __init__(self, estimator, optimizer):
        self.kind = estimator.learning_rate
        self.sgd = estimator.solver == "sgd"
        self.initial = float(estimator.learning_rate_init)
        self.power_t = estimator.power_t
        self.max_iter = estimator.max_iter
        self.step_size = estimator.lr_step_size
        self.gamma = estimator.lr_gamma
        self.optimizer = optimizer

    @property
    def rate(self):
        return self.optimizer.learning_rate

    def _set(self, rate):
        self.optimizer.learning_rate = rate

    def epoch_starts(self, epochs_run):
        """Set the rate of the epoch about to run (epochs_run epochs ran with
        this optimizer before it) and return it."""
        if self.kind == "cosine":
            phase = (epochs_run % self.max_iter) / self.max_iter
            self._set(0.5 * self.initial * (1 + math.cos(math.pi * phase)))
        elif self.kind == "step":
            self._set(self.initial * self.gamma ** (epochs_run // self.step_size))
        return self.rate

    def epoch_ends(self, n_samples_seen):
        """After an epoch; n_samples_seen: the estimator's t_."""
        if self.sgd and self.kind == "invscaling":
            self._set(self.initial / (n_samples_seen + 1) ** self.power_t)

    @property
    def reduces_on_plateau(self):
        return (self.sgd and self.kind == "adaptive") or self.kind == "plateau"

    def reduce_on_plateau(self):
        """Divide the rate by 5 ('adaptive'), multiply it by lr_gamma
        ('plateau'); False (and unchanged) when it is already at or below
        the smallest rate."""
        if self.rate <= _ADAPTIVE_MIN_RATE:
            return False
        if self.kind == "plateau":
            self._set(self.rate * self.gamma)
        else:
            self._set(self.rate / 5.0)
        return True


def batch_rows(batch_size, n_samples, warn=False):
    """Rows of one mini-batch: min(200, n_samples) for 'auto', else
    batch_size clipped to [1, n_samples] (with scikit-learn's warning when
    warn and it is clipped)."""
    if batch_size == "auto":
        return min(200, n_samples)
    if warn and batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than "
            "sample size. It is going to be clipped"
        )
    return int(np.clip(batch_size, 1, n_samples))


def shuffle_order(order, random_state):
    """order permuted with exactly the draws of scikit-learn's
    ``sklearn.utils.shuffle(order, random_state=random_state)`` (it shuffles
    an arange and indexes with it), without its per-call validation."""
    permutation = np.arange(order.shape[0])
    random_state.shuffle(permutation)
    return order[permutation]


def dropout_seed(random_state, optimizer):
    """The seed of one epoch's dropout masks.  Drawn only when dropout is
    on (otherwise the random stream, and so the model, stays
    scikit-learn's), and mixed with the optimizer's update count: each
    partial_fit call restarts the RandomState from random_state, and
    without the mix every call would drop the same units of each row."""
    drawn = int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    return (drawn + optimizer.step * 0x9E3779B97F4A7C15) % 2**64


def input_noise_per_feature(input_noise, n_features):
    """The standard deviation of the input noise of each feature, float64
    (n_features,); None when every one is 0 (no noise)."""
    noise = np.asarray(input_noise, dtype=np.float64)
    if noise.ndim > 1 or (noise.ndim == 1 and noise.shape[0] != n_features):
        raise ValueError(
            "input_noise must be a float or one value per feature "
            f"({n_features}), got shape {noise.shape}"
        )
    if not np.all(np.isfinite(noise) & (noise >= 0)):
        raise ValueError(f"input_noise must be finite and >= 0, got {input_noise!r}")
    noise = np.ascontiguousarray(np.broadcast_to(noise, (n_features,)))
    return noise if np.any(noise > 0) else None


def epoch_augmentation(random_state, optimizer, n_samples, batch_size, noise, mixup_alpha):
    """train_epoch's augmentation arguments for one epoch of n_samples rows
    in batches of batch_size; {} when off, so that nothing is drawn and the
    random stream stays scikit-learn's.

    noise: input_noise_per_feature's; its seed is drawn as dropout's.
    mixup_alpha > 0: one lambda ~ Beta(alpha, alpha) per batch and a random
    permutation within each batch (each row's partner), from a generator
    seeded by one such draw: exact Beta draws, and each partial_fit call
    gets new ones (the seed is mixed with the optimizer's update count)."""
    augmentation = {}
    if noise is not None:
        augmentation.update(
            input_noise=noise, noise_seed=dropout_seed(random_state, optimizer)
        )
    if mixup_alpha > 0:
        rng = np.random.default_rng(dropout_seed(random_state, optimizer))
        n_batches = -(-n_samples // batch_size)
        lambdas = rng.beta(mixup_alpha, mixup_alpha, n_batches)
        batch = np.arange(n_samples, dtype=np.int64) // batch_size
        # sorting batch + U(0, 1) keys permutes the positions within each batch
        partner = np.argsort(batch + rng.random(n_samples), kind="stable")
        augmentation.update(mixup_lambda=lambdas, mixup_partner=partner - batch * batch_size)
    return augmentation


def split_validation(estimator, X, y, sample_weight):
    """(X_train, y_train, sample_weight_train, validation) for early
    stopping: scikit-learn's split (stratified for single-output
    classification), validation = (X, labels, binarized targets,
    sample_weight) of the held-out part."""
    est = estimator
    # no stratification for multilabel targets
    should_stratify = is_classifier(est) and est.n_outputs_ == 1
    stratify = y if should_stratify else None
    if sample_weight is None:
        X_train, X_val, y_train, y_val = train_test_split(
            X,
            y,
            random_state=est._random_state,
            test_size=est.validation_fraction,
            stratify=stratify,
        )
        sample_weight_train = sample_weight_val = None
    else:
        (
            X_train,
            X_val,
            y_train,
            y_val,
            sample_weight_train,
            sample_weight_val,
        ) = train_test_split(
            X,
            y,
            sample_weight,
            random_state=est._random_state,
            test_size=est.validation_fraction,
            stratify=stratify,
        )
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    # labels for the score, the binarized targets for the loss
    y_val_labels = y_val
    if is_classifier(est):
        y_val_labels = est._label_binarizer.inverse_transform(y_val)
    validation = (X_val, y_val_labels, y_val, sample_weight_val)
    return X_train, y_train, sample_weight_train, validation


def reset_monitoring(estimator):
    """The monitoring attributes of a fresh fit (scikit-learn's)."""
    est = estimator
    est.loss_curve_ = []
    est._no_improvement_count = 0
    if est.early_stopping:
        est.validation_scores_ = []
        est.best_validation_score_ = -np.inf
        est.best_loss_ = None
        est.validation_loss_curve_ = []
        est.best_validation_loss_ = np.inf
    else:
        est.best_loss_ = np.inf
        est.validation_scores_ = None
        est.best_validation_score_ = None
        est.validation_loss_curve_ = None
        est.best_validation_loss_ = None


class ImprovementMonitor:
    """After each epoch: the validation metric (early stopping) or the
    training loss against the best so far, the count of epochs without
    improvement, the best weights, and whether to stop.  The results are the
    estimator's attributes (validation_scores_, best_loss_, ...).

    validation: (X, labels, binarized targets, sample_weight) or None."""

    def __init__(self, estimator, validation):
        self.estimator = estimator
        self.validation = validation

    def epoch_ends(self, write=None):
        """Record the epoch just run; write: where the validation lines go
        (None: not printed)."""
        est = self.estimator
        if self.validation is None:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if est.loss_curve_[-1] < est.best_loss_:
                est.best_loss_ = est.loss_curve_[-1]
            return
        X_val, y_val, y_val_binarized, sample_weight = self.validation
        # one forward pass gives both the score and the loss
        output = est._forward_pass_fast(X_val, check_input=False)
        val_score = est._score(X_val, y_val, sample_weight=sample_weight, output=output)
        loss = est._engine_loss()[0]
        val_loss = output_loss(est.out_activation_, output, y_val_binarized, sample_weight,
                               loss=loss, loss_param=est._loss_param(loss))
        est.validation_scores_.append(val_score)
        est.validation_loss_curve_.append(val_loss)
        if write is not None:
            write("Validation score: %f" % val_score)
            if est.early_stopping_metric == "loss":
                write("Validation loss: %f" % val_loss)
        if est.early_stopping_metric == "loss":
            # written so that a NaN loss counts as no improvement
            improved = val_loss < est.best_validation_loss_ - est.tol
            best = val_loss < est.best_validation_loss_
        else:
            improved = not val_score < est.best_validation_score_ + est.tol
            best = val_score > est.best_validation_score_
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        if best:
            est._snapshot_best_weights()
        est.best_validation_score_ = max(est.best_validation_score_, val_score)
        est.best_validation_loss_ = min(est.best_validation_loss_, val_loss)

    def should_stop(self, schedule, write=print):
        """True to stop: no improvement for more than n_iter_no_change epochs
        -- unless sgd's 'adaptive' rate can still be reduced, which it is
        then (and counting starts over)."""
        est = self.estimator
        if est._no_improvement_count <= est.n_iter_no_change:
            return False
        if self.validation is not None:
            msg = "Validation %s did not improve more than tol=%f for %d consecutive epochs." % (
                est.early_stopping_metric, est.tol, est.n_iter_no_change)
        else:
            msg = "Training loss did not improve more than tol=%f for %d consecutive epochs." % (
                est.tol, est.n_iter_no_change)
        if not schedule.reduces_on_plateau:
            if est.verbose:
                write(msg + " Stopping.")
            return True
        if not schedule.reduce_on_plateau():
            if est.verbose:
                write(msg + " Learning rate too small. Stopping.")
            return True
        if est.verbose:
            write(msg + " Setting learning rate to %f" % schedule.rate)
        est._no_improvement_count = 0
        return False


def progress_bar_class(estimator, incremental):
    """tqdm's bar class when this call shows a progress bar, else None.

    fit with a stochastic solver shows one when progress=True or
    verbose >= 2; partial_fit (one epoch a call) and 'lbfgs' show none.
    progress=True without tqdm raises ImportError; verbose >= 2 without
    it prints scikit-learn's lines instead (drop-in behaviour)."""
    est = estimator
    if incremental or est.solver not in STOCHASTIC_SOLVERS:
        return None
    if not (est.progress or est.verbose >= 2):
        return None
    try:
        from tqdm import tqdm
    except ImportError as exc:
        if not est.progress:
            return None
        raise ImportError(
            "progress=True shows a progress bar with the tqdm package, which "
            "is not installed; install it with `pip install tqdm` (or "
            "`pip install fastmlp[progress]`), or set progress=False."
        ) from exc
    return tqdm


class EpochReport:
    """Where each epoch is reported: verbose's lines (printed, or through the
    bar so that it stays intact), the progress bar and the callbacks.  Use as
    a context manager: the bar is closed however training ends."""

    def __init__(self, estimator, bar_class):
        est = self.estimator = estimator
        # verbose's per-epoch lines, unless a bar asked for by verbose >= 2
        # shows them instead
        self.print_epochs = bool(est.verbose) and not (
            bar_class is not None and est.verbose >= 2
        )
        self.bar = None
        if bar_class is not None:
            self.bar = bar_class(
                total=est.max_iter, desc=type(est).__name__, unit="epoch", file=sys.stderr
            )
        self.write = print if self.bar is None else self.bar.write

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.close()

    @property
    def epoch_lines(self):
        """Where the per-epoch lines go (None: not printed)."""
        return self.write if self.print_epochs else None

    def loss(self):
        if self.print_epochs:
            est = self.estimator
            self.write("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

    def epoch_ends(self, learning_rate):
        """Report the epoch just recorded to the bar and to every callback;
        True when a callback asked to stop."""
        est = self.estimator
        logs = {"loss": est.loss_, "learning_rate": learning_rate}
        if est.early_stopping:
            logs["validation_score"] = est.validation_scores_[-1]
            logs["validation_loss"] = est.validation_loss_curve_[-1]
        if self.bar is not None:
            postfix = {"loss": "%.4g" % est.loss_}
            if est.early_stopping:
                postfix["val_score"] = "%.4g" % logs["validation_score"]
                if est.early_stopping_metric == "loss":
                    postfix["val_loss"] = "%.4g" % logs["validation_loss"]
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
        stop = False
        for callback in est.callbacks or ():
            # each gets its own logs, and every one sees the epoch that stops
            if callback(est.n_iter_, dict(logs), est):
                stop = True
        return stop
