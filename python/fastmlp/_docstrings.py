"""Docstring fragments shared by MLPClassifier and MLPRegressor.

Each estimator's ``__doc__`` is assembled from these pieces in
``_multilayer_perceptron.py``, so a parameter is described once for both.
"""

COMMON_PARAMETERS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : str or list of str, default='relu'
        Activation function of the hidden layers: scikit-learn's 'identity',
        'logistic', 'tanh', 'relu', and beyond them 'leaky_relu' (slope
        ``leaky_relu_slope`` for negative inputs), 'elu' (``exp(z) - 1`` for
        negative inputs), 'gelu' (its tanh approximation) and 'swish'
        (``z * logistic(z)``, also called SiLU).  A list gives one per hidden
        layer.
    solver : {'lbfgs', 'sgd', 'adam', 'rmsprop', 'adamw'}, default='adam'
        The weight optimizer.  The stochastic solvers run whole epochs in the
        C engine: 'sgd', 'adam', and beyond scikit-learn 'rmsprop' (decay
        ``rho``, ``epsilon``) and 'adamw' (Adam with decoupled weight decay
        ``weight_decay``).  'lbfgs' runs scipy's L-BFGS-B over the engine's
        full-batch loss and gradient.
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the sample-weight sum.
    batch_size : int or 'auto', default='auto'
        Mini-batch size of the stochastic solvers; 'auto' is
        ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', 'step', \
'plateau'}, default='constant'
        Learning-rate schedule.  'constant', 'invscaling' and 'adaptive' are
        scikit-learn's and apply to 'sgd' only ('adam' keeps
        ``learning_rate_init``).  'cosine' and 'step' apply to every
        stochastic solver: at epoch ``e`` (epochs completed so far) the rate
        is ``0.5 * learning_rate_init * (1 + cos(pi * (e % max_iter) /
        max_iter))``, respectively ``learning_rate_init * lr_gamma ** (e //
        lr_step_size)``.  ``e`` counts the epochs of the current optimizer:
        each ``fit`` (``warm_start`` too) starts again at 0; ``partial_fit``
        continues across calls (so 'cosine' restarts every ``max_iter``
        calls).  'plateau' is 'adaptive' for every stochastic solver, with
        the factor ``lr_gamma``: when the monitored value (the validation
        score or loss with early stopping, else the training loss) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs the rate is
        multiplied by ``lr_gamma`` instead of training stopping; training
        stops when the rate is already at or below 1e-6.
    learning_rate_init : float, default=0.001
        Initial learning rate ('sgd', 'adam').
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
        Whether to shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split and shuffling.
    tol : float, default=1e-4
        Tolerance of the optimisation (see ``n_iter_no_change``).
    verbose : bool or int, default=False
        Print progress messages.  ``verbose >= 2`` shows a progress bar
        instead of the per-epoch lines when tqdm is installed (see
        ``progress``; without tqdm, scikit-learn's lines).
    warm_start : bool, default=False
        Reuse the previous solution as initialisation.
    momentum : float, default=0.9
        Momentum of the 'sgd' solver, in [0, 1].
    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score
        (see ``early_stopping_metric``) stops improving; the best weights
        are kept (see ``restore_best_weights``).
    validation_fraction : float, default=0.1
        Fraction of the data held out for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical-stability constant.
    n_iter_no_change : int, default=10
        Epochs without an improvement of more than ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'."""

# fastmlp's own parameters (defaults: scikit-learn's behaviour); the
# classifier's class_weight goes between these two parts.
WEIGHT_INIT = """
    weight_init : {'glorot', 'he', 'lecun'}, default='glorot'
        Initial weights.  'glorot' is scikit-learn's (the same random
        draws): uniform in +-sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for
        logistic layers), biases likewise.  'he': weights uniform in
        +-sqrt(6 / fan_in) (variance 2 / fan_in, for relu networks);
        'lecun': +-sqrt(3 / fan_in) (variance 1 / fan_in); both start the
        biases at 0."""

EXTRA_PARAMETERS = """
    lr_step_size : int, default=10
        Epochs between two decays of the 'step' learning rate.
    lr_gamma : float, default=0.1
        Factor, in (0, 1], of each decay of the 'step' and 'plateau'
        learning rates.
    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches on the validation set: the score
        (accuracy or R^2; higher is better, scikit-learn's) or the loss
        (lower is better) -- the training loss's definition (log-loss,
        half squared error averaged over outputs, Poisson half deviance),
        sample-weighted, without the penalty terms (``alpha``, ``l1``) and
        without dropout.  Same ``tol`` and ``n_iter_no_change`` logic.
    restore_best_weights : bool, default=True
        With early stopping, end with the weights of the best validation
        epoch (scikit-learn's behaviour); False keeps the last epoch's.  No
        effect without early stopping.
    callbacks : list of callables or None, default=None
        Each is called after every epoch of the stochastic solvers (``fit``
        and ``partial_fit``; 'lbfgs' calls none) as ``callback(epoch, logs,
        estimator)``: ``epoch`` is ``n_iter_`` (1-based; always 1 in
        ``partial_fit``, as ``n_iter_`` there), ``logs`` a new dict with
        'loss' (the epoch's training loss) and 'learning_rate' (the rate
        used during the epoch; Adam's before bias correction) and, with
        early stopping, 'validation_score' and 'validation_loss'.  All
        callbacks see every epoch; when one returns a true value, training
        stops after that epoch without a ConvergenceWarning, ``n_iter_``
        counting it (and with early stopping the best weights are restored
        as usual).  An exception in a callback propagates and leaves the
        estimator as it was before the call.  The estimator can be pickled
        only if its callbacks can (module-level functions, not lambdas).
    progress : bool, default=False
        Show a tqdm progress bar over the epochs of ``fit`` (stochastic
        solvers), on stderr, with the training loss (and validation score
        under early stopping) as postfix.  Needs tqdm (``pip install tqdm``):
        ImportError before training without it.  ``verbose >= 2`` shows the
        bar too, and then the bar replaces the per-epoch lines (stopping
        messages are still printed); with ``verbose=1`` the lines are
        printed above the bar.  ``partial_fit`` and 'lbfgs' show no bar."""

CLASS_WEIGHT = """
    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight`` (both
        apply when both are given): a dict {class label: weight} (classes
        not in it weigh 1), or 'balanced', ``n_samples / (n_classes *
        count of the class)`` computed over the training data given to
        ``fit`` (sample-weighted when ``sample_weight`` is given), as
        scikit-learn's ``compute_class_weight``.  Multilabel targets take
        'balanced' or a list of one dict per label (mapping 0 and 1 to
        weights), and a sample weighs the product of its labels' weights,
        as in scikit-learn's ``compute_sample_weight``.  ``partial_fit``
        accepts a dict only ('balanced' needs the whole training set).  With
        early stopping the validation score and loss are weighted the
        same way."""

# the network extras (engine features) come after the training extras
NETWORK_PARAMETERS = """
    leaky_relu_slope : float, default=0.01
        Slope of 'leaky_relu' for negative inputs, >= 0.
    rho : float, default=0.9
        Decay rate of the 'rmsprop' solver's average of squared gradients.
    weight_decay : float, default=0.01
        Decoupled weight decay of the 'adamw' solver: every update multiplies
        the weights (not the biases) by ``1 - learning_rate * weight_decay``.
        ``alpha`` is still the L2 term of the loss; set ``alpha=0`` for
        AdamW as published.
    max_grad_norm : float or None, default=None
        Stochastic solvers: a mini-batch gradient (penalties included) whose
        Euclidean norm exceeds this is scaled down to it before the update.
    l1 : float, default=0.0
        Strength of an L1 penalty on the weights, ``l1 * sum |W|`` divided by
        the sample-weight sum, beside ``alpha``'s L2 term (its gradient is
        ``l1 * sign(W)``).
    dropout : float or list of float, default=0.0
        Dropout rate of the hidden layers' outputs, in [0, 1), one for all or
        one per hidden layer.  Inverted dropout: while training each unit is
        zeroed with this probability and the others scaled by ``1 / (1 -
        rate)``; prediction uses every unit unscaled.  The masks are drawn
        from ``random_state`` (one seed per epoch), so fits are reproducible.
        Stochastic solvers only.
    batch_norm : bool or list of bool, default=False
        Batch normalization of the hidden layers (all, or per hidden layer),
        between the affine map and the activation: training normalizes each
        unit by its mini-batch mean and variance, then applies a learned
        scale and shift (``batch_norm_scales_``, ``batch_norm_shifts_``, not
        penalized) and keeps running estimates (``batch_norm_means_``,
        ``batch_norm_vars_``, momentum 0.1, unbiased variance, eps 1e-5) that
        prediction uses.  Stochastic solvers only."""

COMMON_ATTRIBUTES = """
    loss_ : float
        The loss at the end of training.
    best_loss_ : float or None
        The minimum training loss (None with early stopping).
    loss_curve_ : list of float
        Training loss after each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        Validation score after each epoch, with early stopping.
    best_validation_score_ : float or None
        Best validation score, with early stopping.
    t_ : int
        Number of training samples seen by the solver.
    coefs_ : list of ndarray of shape (n_fan_in, n_fan_out)
        Weight matrix of each layer.
    intercepts_ : list of ndarray of shape (n_fan_out,)
        Bias vector of each layer.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X has string column names.
    validation_loss_curve_ : list of float or None
        Validation loss after each epoch, with early stopping (see
        ``early_stopping_metric`` for its definition); None otherwise.
    best_validation_loss_ : float or None
        Lowest validation loss, with early stopping; None otherwise.
    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        Name of the output activation.
    batch_norm_scales_, batch_norm_shifts_ : list of (ndarray or None)
        Per hidden layer, the learned scale and shift of its batch
        normalization (None for a layer without).
    batch_norm_means_, batch_norm_vars_ : list of (ndarray or None)
        Per hidden layer, the running mean and variance of its batch
        normalization, which prediction uses (None for a layer without)."""

NOTES = """

    Notes
    -----
    Interrupts: a Ctrl-C (SIGINT) during ``fit`` or ``partial_fit`` with the
    'sgd', 'adam', 'rmsprop' or 'adamw' solver stops training between two mini-batches, within
    about 50 ms; as in scikit-learn, the call then warns "Training
    interrupted by user." and returns the model in its last consistent
    state: the weights and optimizer state after the last completed
    mini-batch update, with the interrupted epoch counted neither in
    ``n_iter_`` and ``t_`` nor in ``loss_curve_`` (training can be
    continued).  With 'lbfgs' the KeyboardInterrupt propagates, as in
    scikit-learn, and the estimator is left untouched.

    Failures: whenever ``fit`` or ``partial_fit`` raises -- the solver
    diverged ("Solver produced non-finite parameter weights"), the input was
    rejected, memory ran out, or the 'lbfgs' solver was interrupted -- the
    estimator is left as it was before the call: non-finite weights are
    never kept (scikit-learn keeps them), a fitted model keeps predicting as
    before and an unfitted estimator stays unfitted.  Only a
    ``random_state`` given as a ``RandomState`` instance has advanced.

    Threads: the C engine keeps each model's state in the caller's buffers
    and releases the GIL, so different estimators can be fitted
    concurrently in threads; each gets the model it would get alone.  What
    the engine holds process-wide -- the BLAS it was handed at import, the
    instruction set picked for this CPU and its worker threads, which serve
    one call at a time while a concurrent call computes its share itself --
    does not change results."""

ROBUST_LOSS_PARAMETERS = """
    huber_delta : float, default=1.0
        The residual, > 0, beyond which ``loss='huber'`` grows linearly
        (ignored by the other losses).  In the units of y.
    quantile : float, default=0.5
        The quantile, in (0, 1), that ``loss='quantile'`` estimates (ignored
        by the other losses)."""

LABEL_SMOOTHING = """
    label_smoothing : float, default=0.0
        In [0, 1): the targets of the training log-loss become ``(1 - eps) *
        onehot + eps / n_classes`` (binary and multilabel targets: ``(1 -
        eps) * y + eps / 2`` per label).  ``loss_`` is that smoothed
        cross-entropy (it does not reach 0); the early-stopping validation
        score and loss use the true labels.  Every solver."""

AUGMENTATION_PARAMETERS = """
    input_noise : float or array-like of shape (n_features,), default=0.0
        Standard deviation (>= 0) of Gaussian noise added to the inputs of
        every training mini-batch, one for all features or one per feature,
        in the units of X (scale X first, e.g. with ``StandardScaler``).
        Fresh draws every batch and epoch; never at prediction, validation or
        scoring.  The noise of a sample is a function of a per-epoch seed
        drawn from ``random_state``, the sample and the feature: fits are
        reproducible and independent of the thread count.  Sparse X: each
        batch is densified (B x n_features values) before the noise is added.
        Stochastic solvers only ('lbfgs' raises a ValueError).
    mixup_alpha : float, default=0.0
        > 0: mixup.  Each training mini-batch is blended with a random
        permutation of itself, ``x = lam * x_i + (1 - lam) * x_j`` with one
        ``lam ~ Beta(mixup_alpha, mixup_alpha)`` per batch; the training
        targets are blended alike (the class probabilities for classifiers,
        after ``label_smoothing``; the values for regressors) and so are the
        sample weights, ``lam * sw_i + (1 - lam) * sw_j``, which keeps each
        batch's weight sum.  Noise (``input_noise``) is added after the
        blend.  ``loss_`` is the loss on the blended batches.  Sparse X: each
        batch is densified.  Stochastic solvers only ('lbfgs' raises a
        ValueError)."""
