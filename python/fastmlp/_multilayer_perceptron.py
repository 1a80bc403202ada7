"""MLPClassifier and MLPRegressor: scikit-learn's estimators over the C engine.

This module holds the estimators and the orchestration of a fit; each concern
they rely on has its own module:

- ``_parameters``: the flat parameter vector (the engine's layout, the views
  ``coefs_``/``intercepts_``, batch-norm folding, snapshots, pickle state);
- ``_training``: the mini-batch solvers' policy (optimizer, learning-rate
  schedule, early stopping, progress bar and callbacks);
- ``_losses``: loss names, output activations and the reported data loss;
- ``_checks``, ``_class_weight``, ``_resources``: option and input checks,
  class weights, memory and threads;
- ``_inference``: predict's prepared state and its fast path for arrays
  the engine reads as they are (online prediction);
- ``_docstrings``: the parameter descriptions both estimators share;
- ``_engine``: the Cython bindings of the C engine (``csrc/``), which run
  whole epochs, full-batch gradients and predictions with the GIL released.

With the same arguments and ``random_state`` the estimators draw the same
random numbers in the same order as scikit-learn 1.9's, visit the same
mini-batches and apply the same updates, so they train the same model.
"""

import copy
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from fastmlp import _docstrings, _engine
from fastmlp._checks import (
    check_activation_name,
    check_augmentation,
    check_callbacks,
    check_dropout_rate,
    check_flag,
    check_hidden_layer_sizes,
    check_lbfgs_result,
    check_partial_fit_first_call,
    engine_input,
    per_hidden_layer,
)
from fastmlp._class_weight import sample_weight_with_class_weight
from fastmlp._inference import OnlinePredictionMixin, labels_from_output
from fastmlp._losses import ROBUST_LOSSES, engine_loss, training_loss
from fastmlp._parameters import (
    BATCH_NORM_EPS,
    BATCH_NORM_MOMENTUM,
    ParameterLayout,
    ParameterVectorMixin,
)
from fastmlp._resources import check_network_size, chunk_rows, engine_threads
from fastmlp._sklearn_compat import check_sample_weight
from fastmlp._training import (
    STOCHASTIC_SOLVERS,
    EpochReport,
    ImprovementMonitor,
    LearningRateSchedule,
    batch_rows,
    dropout_seed,
    epoch_augmentation,
    input_noise_per_feature,
    make_optimizer,
    progress_bar_class,
    reset_monitoring,
    shuffle_order,
    split_validation,
)

_SCIPY_VERSION = tuple(int(p) for p in scipy.__version__.split(".")[:2])


class BaseMultilayerPerceptron(
    ParameterVectorMixin, OnlinePredictionMixin, BaseEstimator, ABC
):
    """Shared machinery of MLPClassifier and MLPRegressor.

    Do not use directly.  Weights and biases live in one flat vector
    (``_params``, see ``_parameters``); ``coefs_`` and ``intercepts_`` are
    views into it.
    """
    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(_engine.HIDDEN_ACTIVATIONS)), list, tuple],
        "solver": [StrOptions({"lbfgs", *STOCHASTIC_SOLVERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", "cosine", "step", "plateau"})
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # ---- beyond scikit-learn ---- (MLPClassifier adds class_weight)
        "weight_init": [StrOptions({"glorot", "he", "lecun"})],
        "lr_step_size": [Interval(Integral, 1, None, closed="left")],
        "lr_gamma": [Interval(Real, 0, 1, closed="right")],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "restore_best_weights": ["boolean"],
        "callbacks": [list, tuple, None],
        "progress": ["boolean"],
        "leaky_relu_slope": [Interval(Real, 0, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
        "batch_norm": ["boolean", list, tuple],
        "input_noise": [Interval(Real, 0, None, closed="left"), "array-like"],
        "mixup_alpha": [Interval(Real, 0, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        weight_init,
        lr_step_size,
        lr_gamma,
        early_stopping_metric,
        restore_best_weights,
        callbacks,
        progress,
        leaky_relu_slope,
        rho,
        weight_decay,
        max_grad_norm,
        l1,
        dropout,
        batch_norm,
        input_noise,
        mixup_alpha,
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_init = weight_init
        self.lr_step_size = lr_step_size
        self.lr_gamma = lr_gamma
        self.early_stopping_metric = early_stopping_metric
        self.restore_best_weights = restore_best_weights
        self.callbacks = callbacks
        self.progress = progress
        self.leaky_relu_slope = leaky_relu_slope
        self.rho = rho
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.l1 = l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.input_noise = input_noise
        self.mixup_alpha = mixup_alpha

    # ------------------------------------------------------------------

    # ------------------------------------------------------------------
    # The network as the engine sees it

    def _hidden_activations(self, n_hidden=None):
        """One activation name per hidden layer (of the fitted network when
        n_hidden is None)."""
        if n_hidden is None:
            n_hidden = len(self.coefs_) - 1
        return per_hidden_layer(
            self.activation, n_hidden, "activation", check_activation_name
        )

    def _hidden_dropout(self, n_hidden):
        return per_hidden_layer(self.dropout, n_hidden, "dropout", check_dropout_rate)

    def _hidden_batch_norm(self, n_hidden):
        return per_hidden_layer(self.batch_norm, n_hidden, "batch_norm", check_flag)

    def _engine_loss(self):
        """The engine's loss (its output activation) and the factor that
        makes its reported value scikit-learn's."""
        return engine_loss(self.out_activation_, self.n_outputs_, self.loss)

    def _loss_param(self, loss):
        """The parameter of the engine loss `loss` (MLPRegressor: Huber's
        delta, the quantile); None for the losses without one."""
        return None

    def _training_targets(self, y, dtype):
        """The targets the engine trains on, C-contiguous of `dtype`
        (MLPClassifier: smoothed labels with label_smoothing)."""
        return np.ascontiguousarray(y, dtype=dtype)

    def _network(self, training=True):
        """The engine's network: as trained (training=True), or as predict
        runs it (no dropout, batch norm folded: see _inference_params)."""
        units = self._layer_units()
        n_hidden = len(units) - 2
        loss, data_loss_scale = self._engine_loss()
        return _engine.Network(
            units,
            self._hidden_activations(n_hidden),
            loss,
            alpha=float(self.alpha),
            data_loss_scale=data_loss_scale,
            leaky_relu_slope=float(self.leaky_relu_slope),
            l1=float(self.l1),
            dropout=self._hidden_dropout(n_hidden) if training else None,
            batch_norm=self._fitted_batch_norm() if training else None,
            batch_norm_momentum=BATCH_NORM_MOMENTUM,
            batch_norm_eps=BATCH_NORM_EPS,
            n_threads=engine_threads(),
            loss_param=self._loss_param(loss),
        )

    def _forward_pass_fast(self, X, check_input=True):
        """The output layer's activation for X, (n_samples, n_outputs)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        state = self._inference()
        if type(X) is np.ndarray and X.flags.c_contiguous and X.flags.aligned:
            output = state.output(X)  # None: another dtype, or not finite
            if output is not None:
                return output
        dtype = np.result_type(X.dtype, state.dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        X = engine_input(X, dtype)
        params = state.params.astype(dtype, copy=False)
        network = state.network
        return _engine.predict(
            network, params, X, chunk_rows=chunk_rows(network.layer_sizes, dtype)
        )

    def hidden_activations(self, X, layer=-1):
        """The output of a hidden layer for each row of X, as predict computes
        it: after the layer's activation, with batch normalization's running
        statistics and without dropout.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        layer : int, default=-1
            Which hidden layer, counted from 0; negative counts from the last.

        Returns
        -------
        activations : ndarray of shape (n_samples, n_units_of_that_layer)
        """
        check_is_fitted(self)
        n_hidden = len(self.coefs_) - 1
        if not isinstance(layer, Integral) or isinstance(layer, bool) or not (
            -n_hidden <= layer < n_hidden
        ):
            raise ValueError(
                f"layer must be an integer from {-n_hidden} to {n_hidden - 1} "
                f"(this network has {n_hidden} hidden layers); got {layer!r}"
            )
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        layers = self._inference_layers()[: int(layer) % n_hidden + 1]
        dtype = np.result_type(X.dtype, layers[0][0].dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        # The prediction network cut after `layer`, with an identity output
        # layer (identity weights, zero biases, the squared error's identity
        # link) that hands the layer's activations out unchanged.
        width = layers[-1][0].shape[1]
        units = [coef.shape[0] for coef, _, _ in layers] + [width, width]
        layout = ParameterLayout(units)
        params = np.zeros(layout.n_params, dtype=dtype)
        coefs, intercepts = layout.layer_views(params)
        for (coef, intercept, _), coef_view, intercept_view in zip(layers, coefs, intercepts):
            coef_view[...] = coef
            intercept_view[...] = intercept
        coefs[-1][...] = np.eye(width)
        network = _engine.Network(
            units,
            [activation for _, _, activation in layers],
            "squared_error",
            leaky_relu_slope=float(self.leaky_relu_slope),
            n_threads=engine_threads(),
        )
        return _engine.predict(
            network, params, engine_input(X, dtype),
            chunk_rows=chunk_rows(network.layer_sizes, dtype),
        )

    # ------------------------------------------------------------------
    # Fitting: _fit checks and initialises, then one of the two solvers

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        y_type = self._label_binarizer.y_type_ if is_classifier(self) else None
        loss = training_loss(self.loss, is_classifier(self), y_type)
        self.out_activation_ = _engine.OUTPUT_ACTIVATIONS[loss]

        # initial weights and biases, layer by layer from the estimator's
        # RandomState ('glorot' draws scikit-learn's: see _initial_layer)
        hidden = self._hidden_activations(len(layer_units) - 2)
        # scikit-learn sizes the output layer by the hidden activation too
        # (its single `activation`); with no hidden layer, by `activation`
        layer_activations = hidden + [hidden[-1] if hidden else self.activation]
        coefs, intercepts = [], []
        for fan_in, fan_out, activation in zip(
            layer_units[:-1], layer_units[1:], layer_activations
        ):
            coef, intercept = self._initial_layer(fan_in, fan_out, activation)
            coefs.append(coef)
            intercepts.append(intercept)
        self._batch_norm_layers = self._hidden_batch_norm(len(layer_units) - 2)
        self._initial_parameters(coefs, intercepts, layer_units, dtype)
        if self.solver in STOCHASTIC_SOLVERS:
            reset_monitoring(self)

    def _initial_layer(self, fan_in, fan_out, activation):
        """Initial (coef, intercept) of one layer whose output goes through
        `activation`, drawn from the estimator's RandomState (float64).

        'glorot' is scikit-learn's exact initialisation (the same draws:
        weights, then biases, uniform in +-sqrt(factor / (fan_in + fan_out)),
        factor 2 for a logistic layer, 6 otherwise); 'he' and 'lecun' draw
        the weights uniform in +-sqrt(6 / fan_in) and +-sqrt(3 / fan_in)
        (variance 2 / fan_in and 1 / fan_in) and start the biases at 0."""
        if self.weight_init == "glorot":
            factor = 2.0 if activation == "logistic" else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            return coef, self._random_state.uniform(-bound, bound, fan_out)
        factor = 6.0 if self.weight_init == "he" else 3.0
        bound = np.sqrt(factor / fan_in)
        coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
        return coef, np.zeros(fan_out)

    def _fit(self, X, y, sample_weight=None, incremental=False, validation_set=None):
        hidden_layer_sizes = check_hidden_layer_sizes(self.hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        check_callbacks(self.callbacks)
        check_augmentation(self)
        # a missing tqdm is reported before any work is done
        bar_class = progress_bar_class(self, incremental)

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
        sample_weight = self._with_class_weight(y, sample_weight)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden_layer_sizes + [self.n_outputs_]

        stochastic = self.solver in STOCHASTIC_SOLVERS
        n_hidden = len(hidden_layer_sizes)
        # every per-layer setting must fit the layers (clear errors first)
        self._hidden_activations(n_hidden)
        dropout = self._hidden_dropout(n_hidden)
        batch_norm = self._hidden_batch_norm(n_hidden)
        if not stochastic and (any(dropout) or any(batch_norm)):
            raise ValueError(
                "dropout and batch_norm need a mini-batch solver ('sgd', 'adam', "
                "'rmsprop' or 'adamw'); solver='lbfgs' optimizes the full-batch "
                "loss, which they would make random or batch-dependent."
            )
        check_network_size(
            layer_units,
            X.dtype,
            batch_rows(self.batch_size, n_samples) if stochastic else n_samples,
            stochastic=stochastic,
            first_pass=first_pass,
        )

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        elif self._layer_units() != layer_units:
            raise ValueError(
                f"The network's layer sizes {self._layer_units()} do not match "
                f"the data and hidden_layer_sizes ({layer_units}); fit anew "
                "without warm_start to change them."
            )
        elif self._fitted_batch_norm() != batch_norm:
            raise ValueError(
                f"The network was fitted with batch_norm={self._fitted_batch_norm()} "
                f"per hidden layer, now {batch_norm}; fit anew without warm_start "
                "to change it."
            )

        validation = None
        if validation_set is not None:
            validation = self._given_validation(X, *validation_set)
        if stochastic:
            self._fit_stochastic(X, y, sample_weight, incremental, bar_class, validation)
        else:
            self._fit_lbfgs(X, y, sample_weight)

        if not np.isfinite(self._packed_params()).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _with_class_weight(self, y, sample_weight):
        """sample_weight with the class weights applied (MLPClassifier)."""
        return sample_weight

    def _check_validation_arguments(self, X_val, y_val, sample_weight_val):
        """None when no validation set is given, else (X_val, y_val,
        sample_weight_val); clear errors when it cannot be used."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is given without X_val and y_val.")
            return None
        if X_val is None or y_val is None:
            raise ValueError(
                "X_val and y_val must be given together; got only "
                + ("X_val." if y_val is None else "y_val.")
            )
        if not self.early_stopping or self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(
                "X_val and y_val are the validation set of early stopping: they "
                "need early_stopping=True and a stochastic solver ('sgd', 'adam', "
                f"'rmsprop' or 'adamw'); got early_stopping={self.early_stopping}, "
                f"solver={self.solver!r}."
            )
        return X_val, y_val, sample_weight_val

    def _given_validation(self, X, X_val, y_val, sample_weight_val):
        """The monitor's validation tuple (X, labels, binarized targets,
        sample_weight) from a validation set the user gave, checked against
        the training data X (already validated) and the fitted targets."""
        X_val = validate_data(
            self, X_val, accept_sparse=["csr", "csc"], dtype=X.dtype, reset=False
        )
        y_val = self._validation_targets(y_val)
        if X_val.shape[0] != y_val.shape[0]:
            raise ValueError(
                f"X_val has {X_val.shape[0]} samples but y_val has {y_val.shape[0]}."
            )
        if y_val.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y_val has {y_val.shape[1]} outputs; the training targets have "
                f"{self.n_outputs_}."
            )
        if sample_weight_val is not None:
            sample_weight_val = check_sample_weight(sample_weight_val, X_val)
        sample_weight_val = self._with_class_weight(y_val, sample_weight_val)
        labels = y_val
        if is_classifier(self):
            labels = self._label_binarizer.inverse_transform(y_val)
        elif y_val.shape[1] == 1:
            labels = y_val.ravel()
        return (X_val, labels, y_val, sample_weight_val)

    def _validation_targets(self, y_val):
        """y_val as a 2-D float array (MLPClassifier: binarized labels)."""
        y_val = check_array(y_val, ensure_2d=False, dtype=np.float64, input_name="y_val")
        return y_val.reshape(-1, 1) if y_val.ndim == 1 else y_val

    @contextmanager
    def _unchanged_on_error(self, incremental):
        """Leave the estimator as it was if the block raises (a diverging
        solver, rejected data, MemoryError, Ctrl-C with lbfgs): no NaN weights
        are kept, and a fitted model stays the model it was.

        The attributes are restored as objects; what training changes in place
        (the parameter vector when it is trained further, the optimizer's
        moments, the per-epoch lists) is copied first, which
        costs a few copies of the parameters per call."""
        state = dict(self.__dict__)
        params = state.get("_params")
        continued = "coefs_" in state and (self.warm_start or incremental)
        params_before = params.copy() if continued and params is not None else None
        running = state.get("_running_stats")
        running_before = running.copy() if continued and running is not None else None
        if incremental and state.get("_optimizer") is not None:
            state["_optimizer"] = copy.deepcopy(state["_optimizer"])
        for key in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            if isinstance(state.get(key), list):
                state[key] = list(state[key])
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            if params_before is not None:
                params[...] = params_before
            if running_before is not None:
                running[...] = running_before
            raise

    def _fit_lbfgs(self, X, y, sample_weight):
        params = self._packed_params()
        network = self._network()
        dense = not sp.issparse(X)
        X = engine_input(X, params.dtype)
        y = self._training_targets(y, params.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=params.dtype)
        rows_per_chunk = chunk_rows(network.layer_sizes, params.dtype)
        # one workspace for all evaluations: none allocates
        workspace = _engine.workspace(
            network, params.dtype, max(1, min(rows_per_chunk, X.shape[0])), dense
        )

        def loss_and_grad(packed):
            # L-BFGS works in float64; a float32 model is evaluated in float32.
            packed = packed.astype(params.dtype, copy=False)
            loss, grad = _engine.loss_grad(
                network, packed, X, y, sample_weight, chunk_rows=rows_per_chunk,
                workspace=workspace,
            )
            return loss, grad.astype(np.float64, copy=False)

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        extra = {} if _SCIPY_VERSION >= (1, 15) else {"iprint": iprint}
        opt_res = scipy.optimize.minimize(
            loss_and_grad,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **extra,
            },
        )
        self.n_iter_ = check_lbfgs_result(opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        params[:] = opt_res.x

    def _fit_stochastic(self, X, y, sample_weight, incremental, bar_class=None,
                        validation=None):
        """validation: the monitor's tuple of a validation set the user gave,
        which replaces the validation_fraction split (None: the split)."""
        params = self._packed_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping and validation is None:
            X, y, sample_weight, validation = split_validation(self, X, y, sample_weight)

        # after the checks above: a rejected call reaches no engine code
        if (
            not incremental
            or getattr(self, "_optimizer", None) is None
            or self._optimizer.kind != self.solver
            or self._optimizer.moment_1.shape != params.shape
            or self._optimizer.moment_1.dtype != params.dtype
        ):
            self._optimizer = make_optimizer(self, params.size, params.dtype)
            # the clock of the 'cosine' and 'step' schedules
            self._optimizer_epochs = 0
        schedule = LearningRateSchedule(self, self._optimizer)
        monitor = ImprovementMonitor(self, validation)

        n_samples = X.shape[0]
        batch_size = batch_rows(self.batch_size, n_samples, warn=True)
        network = self._network()
        # one workspace for the whole fit: no allocation per epoch or batch
        noise = input_noise_per_feature(self.input_noise, X.shape[1])
        mixup_alpha = float(self.mixup_alpha)
        # augmented batches are dense copies, also of sparse X
        augments = noise is not None or mixup_alpha > 0
        workspace = _engine.workspace(
            network, params.dtype, batch_size, augments or not sp.issparse(X)
        )
        X = engine_input(X, params.dtype)
        y = self._training_targets(y, params.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=params.dtype)
        order = np.arange(n_samples, dtype=np.int64)
        uses_dropout = any(network.dropout)

        with EpochReport(self, bar_class) as report:
            try:
                self.n_iter_ = 0
                for _ in range(self.max_iter):
                    if self.shuffle:
                        order = shuffle_order(order, self._random_state)
                    seed = dropout_seed(self._random_state, self._optimizer) if uses_dropout else 0
                    augmentation = epoch_augmentation(
                        self._random_state, self._optimizer, n_samples, batch_size, noise,
                        mixup_alpha,
                    )
                    learning_rate = schedule.epoch_starts(getattr(self, "_optimizer_epochs", 0))
                    accumulated_loss = _engine.train_epoch(
                        network, params, self._optimizer, X, y, sample_weight, order,
                        batch_size, workspace=workspace, dropout_seed=seed,
                        running_stats=self._running_stats, **augmentation,
                    )
                    self.n_iter_ += 1
                    self._optimizer_epochs = getattr(self, "_optimizer_epochs", 0) + 1
                    self.loss_ = accumulated_loss / n_samples
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    report.loss()
                    monitor.epoch_ends(report.epoch_lines)
                    schedule.epoch_ends(self.t_)
                    if report.epoch_ends(learning_rate):
                        break  # a callback asked to stop
                    if monitor.should_stop(schedule, report.write):
                        break
                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) "
                            "reached and the optimization hasn't converged yet."
                            % self.max_iter,
                            ConvergenceWarning,
                        )
            except KeyboardInterrupt:
                # The engine stops between mini-batches: the weights are those
                # after the last completed update (the interrupted epoch is not
                # counted in n_iter_ nor recorded in loss_curve_).
                warnings.warn("Training interrupted by user.")

        if self.early_stopping and self.restore_best_weights:
            self._restore_best_weights()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers
            in regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        X_val : {array-like, sparse matrix} of shape (n_val_samples, \
n_features), default=None
            With ``early_stopping=True``: the validation set of early
            stopping, which replaces the ``validation_fraction`` split (all
            of X trains).  Given as is: a ``Pipeline`` routes it to this
            step untransformed.  Requires ``y_val``, ``early_stopping=True``
            and a stochastic solver (else a ``ValueError``).
        y_val : array-like of shape (n_val_samples,) or (n_val_samples, \
n_outputs), default=None
            The targets of ``X_val`` (classes among those of y).
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            The weights of the validation samples (with ``class_weight``,
            multiplied by their class weights as the training ones).

        Returns
        -------
        self : object
            The trained model.
        """
        validation_set = self._check_validation_arguments(X_val, y_val, sample_weight_val)
        with self._unchanged_on_error(incremental=False):
            return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                             validation_set=validation_set)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _score_with_function(self, X, y, sample_weight, score_function, output=None):
        """Score without input validation (which would drop feature names);
        output: the network's output for X when already computed."""
        if output is None:
            output = self._forward_pass_fast(X, check_input=False)
        y_pred = self._prediction(output)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Optimizes the log-loss with L-BFGS, SGD or Adam; the training loops run
    in fastmlp's C engine.

    Parameters
    ----------"""
        + _docstrings.COMMON_PARAMETERS
        + _docstrings.WEIGHT_INIT
        + _docstrings.CLASS_WEIGHT
        + _docstrings.EXTRA_PARAMETERS
        + _docstrings.NETWORK_PARAMETERS
        + _docstrings.AUGMENTATION_PARAMETERS
        + _docstrings.LABEL_SMOOTHING
        + """

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (per output, for multilabel targets)."""
        + _docstrings.COMMON_ATTRIBUTES
        + _docstrings.NOTES
        + """

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_iter=50, random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_init="glorot",
        class_weight=None,
        lr_step_size=10,
        lr_gamma=0.1,
        early_stopping_metric="score",
        restore_best_weights=True,
        callbacks=None,
        progress=False,
        leaky_relu_slope=0.01,
        rho=0.9,
        weight_decay=0.01,
        max_grad_norm=None,
        l1=0.0,
        dropout=0.0,
        batch_norm=False,
        input_noise=0.0,
        mixup_alpha=0.0,
        label_smoothing=0.0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            weight_init=weight_init,
            lr_step_size=lr_step_size,
            lr_gamma=lr_gamma,
            early_stopping_metric=early_stopping_metric,
            restore_best_weights=restore_best_weights,
            callbacks=callbacks,
            progress=progress,
            leaky_relu_slope=leaky_relu_slope,
            rho=rho,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            l1=l1,
            dropout=dropout,
            batch_norm=batch_norm,
            input_noise=input_noise,
            mixup_alpha=mixup_alpha,
        )
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [None, dict, list, StrOptions({"balanced"})],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def _validation_targets(self, y_val):
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        classes = unique_labels(y_val)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            if type_of_target(y_val) != "multilabel-indicator" or (
                y_val.shape[1] != len(self.classes_)
            ):
                raise ValueError(
                    "y_val must be a multilabel indicator matrix with "
                    f"{len(self.classes_)} columns, as y."
                )
        elif len(np.setdiff1d(classes, self.classes_)):
            raise ValueError(
                f"y_val has classes {np.setdiff1d(classes, self.classes_)} not in "
                f"the training classes {self.classes_}."
            )
        return self._label_binarizer.transform(y_val).astype(bool)

    def _training_targets(self, y, dtype):
        """The binarized labels, smoothed with label_smoothing = eps:
        (1 - eps) * onehot + eps / n_classes for multiclass targets, and per
        label (1 - eps) * y + eps / 2 for binary and multilabel ones."""
        eps = float(self.label_smoothing)
        if eps == 0:
            return np.ascontiguousarray(y, dtype=dtype)
        n_classes = y.shape[1] if self.out_activation_ == "softmax" else 2
        smoothed = (1 - eps) * np.asarray(y, dtype=np.float64) + eps / n_classes
        return np.ascontiguousarray(smoothed, dtype=dtype)

    def _with_class_weight(self, y, sample_weight):
        """The training weight of each sample: its class weight (from the
        binarized targets y) times its sample_weight; sample_weight itself
        without class_weight.  float64."""
        return sample_weight_with_class_weight(
            self.class_weight, self._label_binarizer.y_type_, self.classes_, y,
            sample_weight,
        )


    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # classes_ is (re)defined on a fresh fit; a warm start must see the
        # same classes, partial_fit only classes it already knows.
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        # bool keeps float32 data float32 when the targets are converted
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        output = self._online_output(X)
        if output is not None:
            return self._prediction(output)
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._prediction(self._forward_pass_fast(X, check_input=check_input))

    def _prediction(self, output):
        """The labels predicted from the network's output activations."""
        if self.n_outputs_ == 1:
            output = output.ravel()
        return labels_from_output(self._label_binarizer, output)

    def _score(self, X, y, sample_weight=None, output=None):
        return super()._score_with_function(
            X, y, sample_weight=sample_weight, score_function=accuracy_score,
            output=output,
        )

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            All the classes that may appear in any call; required on the
            first call, ignored (but checked) afterwards.

        Returns
        -------
        self : object
            The trained model.
        """
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class "
                "frequencies of the whole training set are not known from one "
                "chunk. Compute the weights with sklearn.utils.class_weight."
                "compute_class_weight('balanced', classes=classes, y=y), using as "
                "y the targets of the training set or of a large enough sample of "
                "it, and pass them as class_weight={class: weight}."
            )
        with self._unchanged_on_error(incremental=True):
            if check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of the probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The log of the probability of each class, in the order of
            ``classes_``; equivalent to ``np.log(predict_proba(X))``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        y_pred = self._online_output(X)
        if y_pred is None:
            check_is_fitted(self)
            y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Optimizes the squared error (or the Poisson deviance) with L-BFGS, SGD or
    Adam; the training loops run in fastmlp's C engine.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', \
'quantile'}, default='squared_error'
        The loss; 'poisson' uses an exponential output (log link) and needs
        non-negative targets.  Beyond scikit-learn, with an identity output:
        'absolute_error' ``|y - pred|``; 'huber' ``0.5 r**2`` for residuals
        ``|r| <= huber_delta``, ``huber_delta * (|r| - 0.5 * huber_delta)``
        beyond; 'quantile' the pinball loss of the quantile ``quantile``
        (``quantile * r`` for ``r = y - pred >= 0``, ``(quantile - 1) * r``
        otherwise), as ``HistGradientBoostingRegressor``'s.  These are summed
        over outputs in ``loss_`` as in the gradient (the squared error is
        averaged there, as scikit-learn reports it).  ``score`` is R^2
        whatever the loss."""
        + _docstrings.COMMON_PARAMETERS
        + _docstrings.WEIGHT_INIT
        + _docstrings.EXTRA_PARAMETERS
        + _docstrings.NETWORK_PARAMETERS
        + _docstrings.AUGMENTATION_PARAMETERS
        + _docstrings.ROBUST_LOSS_PARAMETERS
        + """

    Attributes
    ----------"""
        + _docstrings.COMMON_ATTRIBUTES
        + _docstrings.NOTES
        + """

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastmlp import MLPRegressor
    >>> X, y = make_regression(n_samples=200, random_state=0)
    >>> reg = MLPRegressor(max_iter=2000, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", *ROBUST_LOSSES})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def _loss_param(self, loss):
        if loss == "huber":
            return float(self.huber_delta)
        if loss == "quantile":
            return float(self.quantile)
        return None

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_init="glorot",
        lr_step_size=10,
        lr_gamma=0.1,
        early_stopping_metric="score",
        restore_best_weights=True,
        callbacks=None,
        progress=False,
        leaky_relu_slope=0.01,
        rho=0.9,
        weight_decay=0.01,
        max_grad_norm=None,
        l1=0.0,
        dropout=0.0,
        batch_norm=False,
        input_noise=0.0,
        mixup_alpha=0.0,
        huber_delta=1.0,
        quantile=0.5,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            weight_init=weight_init,
            lr_step_size=lr_step_size,
            lr_gamma=lr_gamma,
            early_stopping_metric=early_stopping_metric,
            restore_best_weights=restore_best_weights,
            callbacks=callbacks,
            progress=progress,
            leaky_relu_slope=leaky_relu_slope,
            rho=rho,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            l1=l1,
            dropout=dropout,
            batch_norm=batch_norm,
            input_noise=input_noise,
            mixup_alpha=mixup_alpha,
        )
        self.huber_delta = huber_delta
        self.quantile = quantile

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        output = self._online_output(X)
        if output is not None:
            return self._prediction(output)
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._prediction(self._forward_pass_fast(X, check_input=check_input))

    def _prediction(self, output):
        """The predicted values from the network's output activations."""
        if output.shape[1] == 1:
            return output.ravel()
        return output

    def _score(self, X, y, sample_weight=None, output=None):
        return super()._score_with_function(
            X, y, sample_weight=sample_weight, score_function=r2_score,
            output=output,
        )

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    # scikit-learn 1.9 offers partial_fit on the regressor whatever the
    # solver (its availability check is never called); kept for parity.
    @available_if(lambda est: est._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The trained model.
        """
        with self._unchanged_on_error(incremental=True):
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)
