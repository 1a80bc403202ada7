"""MLPClassifier and MLPRegressor: scikit-learn's estimators over the C engine.

This layer owns the policy (validation, label binarizing, initialisation,
shuffling, schedules, early stopping, warnings); the engine (``_engine``) runs
whole epochs, full-batch gradients and predictions with the GIL released.

With the same arguments and ``random_state`` the estimators draw the same
random numbers in the same order as scikit-learn 1.9's, visit the same
mini-batches and apply the same updates, so they train the same model.
"""

import copy
import functools
import inspect
import math
import operator
import os
import sys
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy
import scipy.optimize
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from fastmlp import _engine
from fastmlp._sklearn_compat import check_sample_weight

_STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "adamw")

# Batch normalization's fixed constants (PyTorch's defaults): running
# statistics move by this fraction per mini-batch; eps is added to variances.
_BATCH_NORM_MOMENTUM = 0.1
_BATCH_NORM_EPS = 1e-5

# Bumped whenever the pickled state changes incompatibly.
PICKLE_FORMAT_VERSION = 2

# The engine's sizes are C ints: at most this many units per layer.
_MAX_LAYER_UNITS = 2**31 - 1

# Prediction and L-BFGS's full-batch gradient run in chunks of rows; a chunk's
# activations take about this many bytes (and at most the engine's default
# of 4096 rows), so a very wide network does not ask for gigabytes.
_CHUNK_BYTES = 64 * 2**20

_SCIPY_VERSION = tuple(int(p) for p in scipy.__version__.split(".")[:2])


class BaseMultilayerPerceptron(BaseEstimator, ABC):
    """Shared machinery of MLPClassifier and MLPRegressor.

    Do not use directly.  Weights and biases live in one flat vector
    (``_params``); ``coefs_`` and ``intercepts_`` are views into it.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(_engine.HIDDEN_ACTIVATIONS)), list, tuple],
        "solver": [StrOptions({"lbfgs", *_STOCHASTIC_SOLVERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", "cosine", "step"})
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

    # ------------------------------------------------------------------
    # The flat parameter vector and the engine's view of the network

    def _layer_units(self):
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _engine_loss(self):
        """The engine's loss (its canonical output activation) and the factor
        that makes its reported value scikit-learn's."""
        if self.out_activation_ == "softmax":
            return "cross_entropy", 1.0
        if self.out_activation_ == "logistic":
            return "binary_cross_entropy", 1.0
        if self.out_activation_ == "exp":
            return "poisson", 1.0
        # scikit-learn averages the squared error over outputs in the loss it
        # reports but sums over them in the gradient.
        return "squared_error", 1.0 / self.n_outputs_

    def _hidden_activations(self, n_hidden=None):
        """One activation name per hidden layer (of the fitted network when
        n_hidden is None)."""
        if n_hidden is None:
            n_hidden = len(self.coefs_) - 1
        return _per_hidden_layer(
            self.activation, n_hidden, "activation", _check_activation_name
        )

    def _hidden_dropout(self, n_hidden):
        return _per_hidden_layer(self.dropout, n_hidden, "dropout", _check_dropout_rate)

    def _hidden_batch_norm(self, n_hidden):
        return _per_hidden_layer(self.batch_norm, n_hidden, "batch_norm", _check_flag)

    def _fitted_batch_norm(self):
        """Which hidden layers of the fitted network are batch-normalized."""
        return getattr(self, "_batch_norm_layers", [False] * (len(self.coefs_) - 1))

    def _inference_layers(self):
        """(coef, intercept, activation name) per layer, as predict applies
        them (batch normalization folded into the weights, no dropout): what
        an exporter (fastmlp.to_onnx) needs to rebuild the model."""
        units = self._layer_units()
        params = self._inference_params(self._packed_params())
        activations = self._hidden_activations() + [self.out_activation_]
        coefs, intercepts = _layer_views(params, units)
        return list(zip(coefs, intercepts, activations))

    def _inference_params(self, params):
        """The parameters of the network predict runs: with batch norm, its
        running statistics folded into the preceding layer's weights and
        biases (W scale, (b - mean) scale + shift, scale = gamma /
        sqrt(var + eps)) and the scales and shifts dropped."""
        flags = self._fitted_batch_norm()
        if not any(flags):
            return params
        units = self._layer_units()
        n_plain = sum((a + 1) * b for a, b in zip(units[:-1], units[1:]))
        folded = params[:n_plain].copy()
        coefs, intercepts = _layer_views(folded, units)
        for l, flag in enumerate(flags):
            if not flag:
                continue
            scale = self.batch_norm_scales_[l] / np.sqrt(
                self.batch_norm_vars_[l].astype(np.float64) + _BATCH_NORM_EPS
            )
            coefs[l][...] = coefs[l] * scale
            intercepts[l][...] = (
                intercepts[l] - self.batch_norm_means_[l]
            ) * scale + self.batch_norm_shifts_[l]
        return folded

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
            batch_norm_momentum=_BATCH_NORM_MOMENTUM,
            batch_norm_eps=_BATCH_NORM_EPS,
            n_threads=_engine_threads(),
        )

    def _set_params_vector(self, params, units):
        """Make params the model's storage: coefs_, intercepts_ and the batch
        norm scales and shifts view it."""
        self._params = params
        self.coefs_, self.intercepts_ = _layer_views(params, units)
        start = sum((a + 1) * b for a, b in zip(units[:-1], units[1:]))
        self.batch_norm_scales_, self.batch_norm_shifts_ = [], []
        for width, flag in zip(units[1:-1], self._fitted_batch_norm()):
            scale = shift = None
            if flag:
                scale = params[start : start + width]
                shift = params[start + width : start + 2 * width]
                start += 2 * width
            self.batch_norm_scales_.append(scale)
            self.batch_norm_shifts_.append(shift)

    def _set_running_stats(self, running_stats, units):
        """Make running_stats (all means, then all variances) the storage of
        batch_norm_means_ and batch_norm_vars_."""
        self._running_stats = running_stats
        half = running_stats.size // 2
        self.batch_norm_means_, self.batch_norm_vars_ = [], []
        start = 0
        for width, flag in zip(units[1:-1], self._fitted_batch_norm()):
            mean = var = None
            if flag:
                mean = running_stats[start : start + width]
                var = running_stats[half + start : half + start + width]
                start += width
            self.batch_norm_means_.append(mean)
            self.batch_norm_vars_.append(var)

    def _packed_params(self):
        """The flat parameter vector, rebuilt when coefs_ or intercepts_ were
        replaced (not just modified in place) since it was made."""
        params = getattr(self, "_params", None)
        arrays = list(self.coefs_) + list(self.intercepts_)
        for scale, shift in zip(
            getattr(self, "batch_norm_scales_", []), getattr(self, "batch_norm_shifts_", [])
        ):
            if scale is not None:
                arrays += [scale, shift]
        if params is not None:
            offset = 0
            in_place = True
            for a in arrays:
                in_place = in_place and (
                    isinstance(a, np.ndarray)
                    and a.base is params
                    and a.dtype == params.dtype
                    and a.ctypes.data == params.ctypes.data + offset * params.itemsize
                    and a.flags.c_contiguous
                )
                offset += np.size(a)
            if in_place and offset == params.size:
                return params
        dtype = np.result_type(*arrays)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        params = np.concatenate([np.asarray(a, dtype=dtype).ravel() for a in arrays])
        self._set_params_vector(params, self._layer_units())
        return params

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        if "coefs_" in state:
            state["_params"] = self._packed_params()
            # the fitted shapes (hidden_layer_sizes may have been set since)
            state["_layer_units"] = self._layer_units()
            # views of _params and _running_stats: rebuilt on load, so they
            # stay views
            for key in _VIEW_ATTRIBUTES:
                state.pop(key, None)
        state["_fastmlp_pickle_version"] = PICKLE_FORMAT_VERSION
        state["_fastmlp_version"] = _fastmlp_version()
        return state

    def __setstate__(self, state):
        version = state.pop("_fastmlp_pickle_version", None)
        saved_by = state.pop("_fastmlp_version", None)
        if version != PICKLE_FORMAT_VERSION:
            origin = (
                "an unknown fastmlp version" if saved_by is None else f"fastmlp {saved_by}"
            )
            written = "no pickle format" if version is None else f"pickle format {version}"
            raise ValueError(
                f"This {type(self).__name__} was pickled by {origin} ({written}); "
                f"this is fastmlp {_fastmlp_version()}, which reads pickle format "
                f"{PICKLE_FORMAT_VERSION} only. Refit the model with this version "
                "(or load it with the version that saved it)."
            )
        params = state.pop("_params", None)
        units = state.pop("_layer_units", None)
        # parameters added since the pickle was written take their defaults
        # (which are the behaviour of the version that wrote it)
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not inspect.Parameter.empty:
                state.setdefault(name, param.default)
        super().__setstate__(state)
        if params is not None:
            self._set_params_vector(params, units)
            if getattr(self, "_running_stats", None) is not None:
                self._set_running_stats(self._running_stats, units)

    # ------------------------------------------------------------------
    # Forward pass

    def _forward_pass_fast(self, X, check_input=True):
        """The output layer's activation for X, (n_samples, n_outputs)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        params = self._packed_params()
        dtype = np.result_type(X.dtype, params.dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        X = _engine_input(X, dtype)
        params = self._inference_params(params).astype(dtype, copy=False)
        network = self._network(training=False)
        return _engine.predict(
            network, params, X, chunk_rows=_chunk_rows(network.layer_sizes, dtype)
        )

    # ------------------------------------------------------------------
    # Fitting

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)

        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

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
        # batch norm starts as the identity map: scale 1, shift 0, running
        # mean 0 and variance 1
        self._batch_norm_layers = self._hidden_batch_norm(len(layer_units) - 2)
        bn_init = []
        for width, flag in zip(layer_units[1:-1], self._batch_norm_layers):
            if flag:
                bn_init += [np.ones(width), np.zeros(width)]
        params = np.concatenate(
            [a.ravel() for a in coefs + intercepts + bn_init]
        ).astype(dtype)
        self._set_params_vector(params, layer_units)
        n_bn_units = sum(
            w for w, flag in zip(layer_units[1:-1], self._batch_norm_layers) if flag
        )
        running_stats = np.concatenate([np.zeros(n_bn_units), np.ones(n_bn_units)])
        self._set_running_stats(running_stats.astype(dtype), layer_units)
        self._best_running_stats = self._running_stats.copy()
        self._best_params = params.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
                self.validation_loss_curve_ = []
                self.best_validation_loss_ = np.inf
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
                self.validation_loss_curve_ = None
                self.best_validation_loss_ = None

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

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes
            )
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        _check_callbacks(self.callbacks)
        # a missing tqdm is reported before any work is done
        progress_bar = self._progress_bar_class(incremental)

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
        sample_weight = self._with_class_weight(y, sample_weight)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden_layer_sizes + [self.n_outputs_]

        stochastic = self.solver in _STOCHASTIC_SOLVERS
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
        _check_network_size(
            layer_units,
            X.dtype,
            self._batch_rows(n_samples) if stochastic else n_samples,
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

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, sample_weight, incremental, progress_bar)
        elif self.solver == "lbfgs":
            self._fit_lbfgs(X, y, sample_weight)

        if not np.isfinite(self._packed_params()).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _batch_rows(self, n_samples):
        """Rows of one mini-batch of the stochastic solvers."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        return int(np.clip(self.batch_size, 1, n_samples))

    def _with_class_weight(self, y, sample_weight):
        """sample_weight with the class weights applied (MLPClassifier)."""
        return sample_weight

    def _progress_bar_class(self, incremental):
        """tqdm's bar class when this call shows a progress bar, else None.

        fit with a stochastic solver shows one when progress=True or
        verbose >= 2; partial_fit (one epoch a call) and 'lbfgs' show none.
        progress=True without tqdm raises ImportError; verbose >= 2 without
        it prints scikit-learn's lines instead (drop-in behaviour)."""
        if incremental or self.solver not in _STOCHASTIC_SOLVERS:
            return None
        if not (self.progress or self.verbose >= 2):
            return None
        try:
            from tqdm import tqdm
        except ImportError as exc:
            if not self.progress:
                return None
            raise ImportError(
                "progress=True shows a progress bar with the tqdm package, which "
                "is not installed; install it with `pip install tqdm` (or "
                "`pip install fastmlp[progress]`), or set progress=False."
            ) from exc
        return tqdm

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
        X = _engine_input(X, params.dtype)
        y = np.ascontiguousarray(y, dtype=params.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=params.dtype)
        chunk_rows = _chunk_rows(network.layer_sizes, params.dtype)
        # one workspace for all evaluations: none allocates
        workspace = _engine.workspace(
            network, params.dtype, max(1, min(chunk_rows, X.shape[0])), dense
        )

        def loss_and_grad(packed):
            # L-BFGS works in float64; a float32 model is evaluated in float32.
            packed = packed.astype(params.dtype, copy=False)
            loss, grad = _engine.loss_grad(
                network, packed, X, y, sample_weight, chunk_rows=chunk_rows,
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
        self.n_iter_ = _check_lbfgs_result(opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        params[:] = opt_res.x

    def _make_optimizer(self, n_params, dtype):
        common = dict(
            learning_rate=float(self.learning_rate_init),
            max_grad_norm=float(self.max_grad_norm or 0.0),
        )
        if self.solver == "sgd":
            return _engine.Optimizer(
                "sgd",
                n_params,
                dtype,
                momentum=self.momentum,
                nesterov=self.nesterovs_momentum,
                **common,
            )
        if self.solver == "rmsprop":
            # the engine's RMSProp decays its squared-gradient average by beta_2
            return _engine.Optimizer(
                "rmsprop", n_params, dtype, beta_2=self.rho, epsilon=self.epsilon, **common
            )
        return _engine.Optimizer(
            self.solver,
            n_params,
            dtype,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay=float(self.weight_decay) if self.solver == "adamw" else 0.0,
            **common,
        )

    def _fit_stochastic(self, X, y, sample_weight, incremental, progress_bar=None):
        params = self._packed_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # no stratification for multilabel targets
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X,
                    y,
                    random_state=self._random_state,
                    test_size=self.validation_fraction,
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
                    random_state=self._random_state,
                    test_size=self.validation_fraction,
                    stratify=stratify,
                )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            # labels for the score, the binarized targets for the loss
            y_val_labels = y_val
            if is_classifier(self):
                y_val_labels = self._label_binarizer.inverse_transform(y_val)
            validation = (X_val, y_val_labels, y_val, sample_weight_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            validation = None

        # after the checks above: a rejected call reaches no engine code
        if (
            not incremental
            or getattr(self, "_optimizer", None) is None
            or self._optimizer.kind != self.solver
            or self._optimizer.moment_1.shape != params.shape
            or self._optimizer.moment_1.dtype != params.dtype
        ):
            self._optimizer = self._make_optimizer(params.size, params.dtype)
            # the clock of the 'cosine' and 'step' schedules
            self._optimizer_epochs = 0

        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        network = self._network()
        # one workspace for the whole fit: no allocation per epoch or batch
        workspace = _engine.workspace(
            network, params.dtype, batch_size, not sp.issparse(X_train)
        )
        X_train = _engine_input(X_train, params.dtype)
        y_train = np.ascontiguousarray(y_train, dtype=params.dtype)
        if sample_weight_train is not None:
            sample_weight_train = np.ascontiguousarray(
                sample_weight_train, dtype=params.dtype
            )
        order = np.arange(n_samples, dtype=np.int64)

        # verbose's per-epoch lines, unless a bar asked for by verbose >= 2
        # shows them instead; a bar's neighbours print through tqdm.write
        print_epochs = bool(self.verbose) and not (
            progress_bar is not None and self.verbose >= 2
        )
        bar = None
        if progress_bar is not None:
            bar = progress_bar(
                total=self.max_iter, desc=type(self).__name__, unit="epoch",
                file=sys.stderr,
            )
        write = print if bar is None else bar.write

        try:
            self.n_iter_ = 0
            uses_dropout = any(network.dropout)
            for _ in range(self.max_iter):
                if self.shuffle:
                    order = _shuffle_order(order, self._random_state)
                dropout_seed = self._dropout_seed() if uses_dropout else 0
                learning_rate = self._learning_rate_epoch_starts()
                accumulated_loss = _engine.train_epoch(
                    network,
                    params,
                    self._optimizer,
                    X_train,
                    y_train,
                    sample_weight_train,
                    order,
                    batch_size,
                    workspace=workspace,
                    dropout_seed=dropout_seed,
                    running_stats=self._running_stats,
                )
                self.n_iter_ += 1
                self._optimizer_epochs = getattr(self, "_optimizer_epochs", 0) + 1
                self.loss_ = accumulated_loss / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if print_epochs:
                    write("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                self._update_no_improvement_count(
                    validation, write if print_epochs else None
                )
                self._learning_rate_iteration_ends()
                if self._epoch_ends(learning_rate, bar):
                    break  # a callback asked to stop

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation %s did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.early_stopping_metric, self.tol,
                               self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f"
                            " for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    if self._trigger_stopping(msg, write):
                        break
                    self._no_improvement_count = 0

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
        finally:
            if bar is not None:
                bar.close()

        if early_stopping and self.restore_best_weights:
            params[:] = self._best_params
            self._running_stats[:] = self._best_running_stats

    def _dropout_seed(self):
        """The seed of one epoch's dropout masks.  Drawn only when dropout is
        on (otherwise the random stream, and so the model, stays
        scikit-learn's), and mixed with the optimizer's update count: each
        partial_fit call restarts the RandomState from random_state, and
        without the mix every call would drop the same units of each row."""
        drawn = int(self._random_state.randint(0, 2**63 - 1, dtype=np.int64))
        return (drawn + self._optimizer.step * 0x9E3779B97F4A7C15) % 2**64

    def _learning_rate_epoch_starts(self):
        """Set the learning rate of the epoch about to run and return it.

        'cosine' and 'step' apply to every stochastic solver; their clock is
        the number of epochs run with the current optimizer (this fit's
        epochs; partial_fit's, summed over its calls).  'cosine' restarts
        every max_iter epochs (only partial_fit can run more)."""
        epoch = getattr(self, "_optimizer_epochs", 0)
        learning_rate_init = float(self.learning_rate_init)
        if self.learning_rate == "cosine":
            self._optimizer.learning_rate = (
                0.5 * learning_rate_init
                * (1 + math.cos(math.pi * (epoch % self.max_iter) / self.max_iter))
            )
        elif self.learning_rate == "step":
            self._optimizer.learning_rate = learning_rate_init * self.lr_gamma ** (
                epoch // self.lr_step_size
            )
        return self._optimizer.learning_rate

    def _epoch_ends(self, learning_rate, bar):
        """Report the epoch just recorded to the progress bar and to every
        callback; True when a callback asked to stop."""
        logs = {"loss": self.loss_, "learning_rate": learning_rate}
        if self.early_stopping:
            logs["validation_score"] = self.validation_scores_[-1]
            logs["validation_loss"] = self.validation_loss_curve_[-1]
        if bar is not None:
            postfix = {"loss": "%.4g" % self.loss_}
            if self.early_stopping:
                postfix["val_score"] = "%.4g" % logs["validation_score"]
                if self.early_stopping_metric == "loss":
                    postfix["val_loss"] = "%.4g" % logs["validation_loss"]
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
        stop = False
        for callback in self.callbacks or ():
            # each gets its own logs, and every one sees the epoch that stops
            if callback(self.n_iter_, dict(logs), self):
                stop = True
        return stop

    def _learning_rate_iteration_ends(self):
        """Per-epoch learning-rate schedule of the sgd solver."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            self._optimizer.learning_rate = (
                float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            )

    def _trigger_stopping(self, msg, write=print):
        """True to stop; with sgd's 'adaptive' rate, divide it by 5 instead
        while it is above 1e-6."""
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        if not adaptive:
            if self.verbose:
                write(msg + " Stopping.")
            return True
        if self._optimizer.learning_rate <= 1e-6:
            if self.verbose:
                write(msg + " Learning rate too small. Stopping.")
            return True
        self._optimizer.learning_rate /= 5.0
        if self.verbose:
            write(msg + " Setting learning rate to %f" % self._optimizer.learning_rate)
        return False

    def _update_no_improvement_count(self, validation, write=None):
        """After an epoch: compare the validation metric (early stopping;
        validation = (X, labels, binarized targets, sample_weight)) or the
        training loss with the best so far, and keep the best weights.
        write: where the validation lines go (None: not printed)."""
        if validation is not None:
            X_val, y_val, y_val_binarized, sample_weight = validation
            # one forward pass gives both the score and the loss
            output = self._forward_pass_fast(X_val, check_input=False)
            val_score = self._score(X_val, y_val, sample_weight=sample_weight,
                                    output=output)
            val_loss = self._output_loss(output, y_val_binarized, sample_weight)
            self.validation_scores_.append(val_score)
            self.validation_loss_curve_.append(val_loss)
            if write is not None:
                write("Validation score: %f" % val_score)
                if self.early_stopping_metric == "loss":
                    write("Validation loss: %f" % val_loss)
            if self.early_stopping_metric == "loss":
                best_loss = self.best_validation_loss_
                # written so that a NaN loss counts as no improvement
                if not val_loss < best_loss - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if val_loss < best_loss:
                    self._best_params = self._packed_params().copy()
                    self._best_running_stats = self._running_stats.copy()
            else:
                if val_score < (self.best_validation_score_ + self.tol):
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if val_score > self.best_validation_score_:
                    self._best_params = self._packed_params().copy()
                    self._best_running_stats = self._running_stats.copy()
            self.best_validation_score_ = max(self.best_validation_score_, val_score)
            self.best_validation_loss_ = min(self.best_validation_loss_, val_loss)
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _output_loss(self, output, y, sample_weight):
        """The training loss's data term (no L2 or L1 penalty) of the network's
        output activations `output` (n_samples, n_outputs) against the
        targets y (binarized labels for the classifier): scikit-learn's
        definition -- probabilities clipped to [eps, 1 - eps] of their dtype,
        half the squared error averaged over outputs, the Poisson half
        deviance -- as a mean over samples weighted by sample_weight."""
        y = np.asarray(y, dtype=np.float64).reshape(output.shape)
        if self.out_activation_ in ("softmax", "logistic"):
            eps = np.finfo(output.dtype).eps
            prob = np.clip(output, eps, 1 - eps)
            per_sample = -xlogy(y, prob.astype(np.float64)).sum(axis=1)
            if self.out_activation_ == "logistic":
                per_sample -= xlogy(1 - y, (1 - prob).astype(np.float64)).sum(axis=1)
        elif self.out_activation_ == "exp":
            pred = output.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                per_sample = (xlogy(y, y / pred) - y + pred).sum(axis=1)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                per_sample = 0.5 * ((output.astype(np.float64) - y) ** 2).mean(axis=1)
        return float(np.average(per_sample, weights=sample_weight))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
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

        Returns
        -------
        self : object
            The trained model.
        """
        with self._unchanged_on_error(incremental=False):
            return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
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


# Attributes that are views of _params or _running_stats (not pickled).
_VIEW_ATTRIBUTES = (
    "coefs_",
    "intercepts_",
    "batch_norm_scales_",
    "batch_norm_shifts_",
    "batch_norm_means_",
    "batch_norm_vars_",
)


def _layer_views(params, units):
    """(coefs, intercepts): views of each layer's weights and biases in the
    flat vector (all weights, then all biases)."""
    coefs, intercepts = [], []
    start = 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        stop = start + fan_in * fan_out
        coefs.append(params[start:stop].reshape(fan_in, fan_out))
        start = stop
    for fan_out in units[1:]:
        intercepts.append(params[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


def _per_hidden_layer(value, n_hidden, name, check):
    """A parameter given once for all hidden layers or as a list with one
    entry per hidden layer, as a list of n_hidden checked entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_hidden:
            raise ValueError(
                f"{name} has {len(value)} entries but the network has {n_hidden} "
                f"hidden layers; give one per hidden layer, or a single value."
            )
        return [check(v, name) for v in value]
    return [check(value, name)] * n_hidden


def _check_activation_name(value, name):
    if value not in _engine.HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"{name} entries must be among {sorted(_engine.HIDDEN_ACTIVATIONS)}, "
            f"got {value!r}."
        )
    return value


def _check_dropout_rate(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not (
        0 <= value < 1
    ):
        raise ValueError(f"{name} rates must be numbers in [0, 1), got {value!r}.")
    return float(value)


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} entries must be True or False, got {value!r}.")
    return bool(value)


def _check_callbacks(callbacks):
    """callbacks must be None or a list (tuple) of callables."""
    for i, callback in enumerate(callbacks or ()):
        if not callable(callback):
            raise TypeError(
                f"callbacks must be a list of callables called as "
                f"callback(epoch, logs, estimator); callbacks[{i}] is {callback!r} "
                f"({type(callback).__name__}), which is not callable."
            )


@functools.lru_cache(maxsize=1)
def _blas_controllers():
    """threadpoolctl's controllers of the process's BLAS libraries, found
    once (scanning the loaded libraries takes about 10 ms)."""
    from threadpoolctl import ThreadpoolController

    return tuple(c for c in ThreadpoolController().lib_controllers if c.user_api == "blas")


def _engine_threads():
    """Threads for the engine's own GEMM kernel: the BLAS's current limit, so
    that threadpoolctl's limits (and joblib's per-worker ones) hold for the
    engine as they do for the BLAS."""
    counts = [controller.num_threads for controller in _blas_controllers()]
    return max(1, min(min(counts, default=1), _engine.MAX_THREADS))


def _fastmlp_version():
    from fastmlp import __version__

    return __version__


def _chunk_rows(layer_sizes, dtype):
    """Rows per chunk of prediction / full-batch gradient for this network:
    the engine's default (4096), fewer for very wide networks so that a
    chunk's activations and deltas stay within _CHUNK_BYTES."""
    width = sum(int(u) for u in layer_sizes[1:])
    per_row = 2 * width * np.dtype(dtype).itemsize
    return int(max(1, min(_engine.DEFAULT_CHUNK_ROWS, _CHUNK_BYTES // per_row)))


@functools.lru_cache(maxsize=1)
def _memory_limit():
    """Bytes of memory this process may use at most: the machine's physical
    memory, or a smaller cgroup limit (containers); None if unknown."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        limit = None
    for path in (
        "/sys/fs/cgroup/memory.max",  # cgroup v2
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
    ):
        try:
            with open(path) as f:
                value = int(f.read().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        if 0 < value < 2**60 and (limit is None or value < limit):
            limit = value
    return limit


def _check_network_size(layer_units, dtype, rows, stochastic, first_pass):
    """Reject, before anything is allocated, a network the engine cannot
    describe (ValueError) or whose training could not fit in this machine's
    memory (MemoryError), instead of attempting to allocate it.  rows: the
    mini-batch size, or (L-BFGS) the number of samples, processed in chunks."""
    try:
        layer_units = [operator.index(u) for u in layer_units]
    except TypeError:
        return  # not integers: the initialisation raises scikit-learn's error
    too_wide = [u for u in layer_units if u > _MAX_LAYER_UNITS]
    if too_wide:
        raise ValueError(
            f"The network's layers {layer_units} exceed the {_MAX_LAYER_UNITS} units "
            "per layer fastmlp's engine supports; use smaller hidden_layer_sizes."
        )
    limit = _memory_limit()
    if limit is None:
        return
    itemsize = np.dtype(dtype).itemsize
    if not stochastic:
        rows = min(rows, _chunk_rows(layer_units, dtype))
    n_params = sum((a + 1) * b for a, b in zip(layer_units[:-1], layer_units[1:]))
    width = sum(layer_units[1:])
    # A lower bound of the peak: the parameters, their gradient and one more
    # copy (an optimizer moment, or L-BFGS's float64 iterate), plus one
    # batch's activations and deltas; a first fit also draws the initial
    # weights in float64 and concatenates them.
    need = 3 * n_params * itemsize + 2 * rows * width * itemsize
    if not stochastic:
        need += n_params * 8
    if first_pass:
        need = max(need, 2 * n_params * 8)
    if need > limit:
        raise MemoryError(
            f"Training a network with layers {layer_units} ({n_params:,} parameters) "
            f"needs at least {need / 2**30:,.1f} GiB, more than this machine's "
            f"{limit / 2**30:,.1f} GiB of memory; use smaller hidden_layer_sizes "
            "or batch_size."
        )


def _engine_input(X, dtype):
    """X as the engine reads it (an ``_engine.Input``): C-contiguous dense or
    CSR, of `dtype`; at most one conversion of the caller's data."""
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        if X.dtype != dtype:
            X = X.astype(dtype)
    else:
        X = np.ascontiguousarray(X, dtype=dtype)
    return _engine.Input(X, dtype)


def _shuffle_order(order, random_state):
    """order permuted with exactly the draws of scikit-learn's
    ``sklearn.utils.shuffle(order, random_state=random_state)`` (it shuffles
    an arange and indexes with it), without its per-call validation."""
    permutation = np.arange(order.shape[0])
    random_state.shuffle(permutation)
    return order[permutation]


def _check_lbfgs_result(result, max_iter):
    """n_iter_ of an L-BFGS run; warns, as scikit-learn does, when it did not
    converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return n_iter


_COMMON_PARAMETERS_DOC = """
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
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', 'step'}, \
default='constant'
        Learning-rate schedule.  'constant', 'invscaling' and 'adaptive' are
        scikit-learn's and apply to 'sgd' only ('adam' keeps
        ``learning_rate_init``).  'cosine' and 'step' apply to every
        stochastic solver: at epoch ``e`` (epochs completed so far) the rate
        is ``0.5 * learning_rate_init * (1 + cos(pi * (e % max_iter) /
        max_iter))``, respectively ``learning_rate_init * lr_gamma ** (e //
        lr_step_size)``.  ``e`` counts the epochs of the current optimizer:
        each ``fit`` (``warm_start`` too) starts again at 0; ``partial_fit``
        continues across calls (so 'cosine' restarts every ``max_iter``
        calls).
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
_WEIGHT_INIT_DOC = """
    weight_init : {'glorot', 'he', 'lecun'}, default='glorot'
        Initial weights.  'glorot' is scikit-learn's (the same random
        draws): uniform in +-sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for
        logistic layers), biases likewise.  'he': weights uniform in
        +-sqrt(6 / fan_in) (variance 2 / fan_in, for relu networks);
        'lecun': +-sqrt(3 / fan_in) (variance 1 / fan_in); both start the
        biases at 0."""

_EXTRA_PARAMETERS_DOC = """
    lr_step_size : int, default=10
        Epochs between two decays of the 'step' learning rate.
    lr_gamma : float, default=0.1
        Factor, in (0, 1], of each decay of the 'step' learning rate.
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

_CLASS_WEIGHT_DOC = """
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
_NETWORK_PARAMETERS_DOC = """
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

_COMMON_ATTRIBUTES_DOC = """
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

_NOTES_DOC = """

    Notes
    -----
    Interrupts: a Ctrl-C (SIGINT) during ``fit`` or ``partial_fit`` with the
    'sgd' or 'adam' solver stops training between two mini-batches, within
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

    Threads: the C engine keeps no global mutable state and releases the GIL,
    so different estimators can be fitted concurrently in threads; each gets
    the model it would get alone."""


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Optimizes the log-loss with L-BFGS, SGD or Adam; the training loops run
    in fastmlp's C engine.

    Parameters
    ----------"""
        + _COMMON_PARAMETERS_DOC
        + _WEIGHT_INIT_DOC
        + _CLASS_WEIGHT_DOC
        + _EXTRA_PARAMETERS_DOC
        + _NETWORK_PARAMETERS_DOC
        + """

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (per output, for multilabel targets)."""
        + _COMMON_ATTRIBUTES_DOC
        + _NOTES_DOC
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
        )
        self.class_weight = class_weight

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [None, dict, list, StrOptions({"balanced"})],
    }

    def _with_class_weight(self, y, sample_weight):
        """The training weight of each sample: its class weight (from the
        binarized targets y) times its sample_weight; sample_weight itself
        without class_weight.  float64."""
        if self.class_weight is None:
            return sample_weight
        Y = np.asarray(y).reshape(y.shape[0], -1)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            weight = self._multilabel_class_weight(Y, sample_weight)
        else:
            # binarized as a 0/1 column (two classes or one) or one-hot
            class_index = (
                Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
            )
            if isinstance(self.class_weight, list):
                raise ValueError(
                    "class_weight as a list of dicts (one per label) is for "
                    "multilabel targets; for these targets pass a dict "
                    "{class_label: weight} or 'balanced'."
                )
            per_class = _class_weights(
                self.class_weight, self.classes_, class_index, sample_weight
            )
            weight = per_class[class_index]
        if sample_weight is not None:
            weight = weight * np.asarray(sample_weight, dtype=np.float64)
        return weight

    def _multilabel_class_weight(self, Y, sample_weight):
        """Multilabel targets, as scikit-learn's compute_sample_weight weighs
        multi-output ones: each label is a 0/1 output weighted by its own
        class weights ('balanced' per label, or one dict {0: w, 1: w} per
        label); a sample's weight is the product over its labels (the loss
        weighs samples, not single labels)."""
        n_labels = Y.shape[1]
        if isinstance(self.class_weight, dict):
            raise ValueError(
                "For multilabel targets, class_weight must be 'balanced' or a list "
                f"of {n_labels} dicts (one per label, mapping 0 and 1 to weights); "
                "got a dict."
            )
        if isinstance(self.class_weight, list):
            if len(self.class_weight) != n_labels:
                raise ValueError(
                    f"class_weight has {len(self.class_weight)} dicts but the "
                    f"multilabel target has {n_labels} labels; pass one dict per "
                    "label."
                )
            if not all(isinstance(d, dict) for d in self.class_weight):
                raise ValueError(
                    "class_weight for multilabel targets must be a list of dicts, "
                    f"got {self.class_weight!r}."
                )
        weight = np.ones(Y.shape[0])
        for k in range(n_labels):
            class_weight_k = (
                self.class_weight if self.class_weight == "balanced"
                else self.class_weight[k]
            )
            index = Y[:, k].astype(np.intp)
            weight *= _class_weights(class_weight_k, np.array([0, 1]), index,
                                     sample_weight)[index]
        return weight

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
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._prediction(self._forward_pass_fast(X, check_input=check_input))

    def _prediction(self, output):
        """The labels predicted from the network's output activations."""
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

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
            if _check_partial_fit_first_call(self, classes):
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


def _class_weights(class_weight, classes, class_index, sample_weight):
    """Weight of each class of `classes` (float64, one per class).

    class_index: each sample's index in `classes`.  'balanced': the total
    sample weight over (number of classes present * the class's weight),
    n_samples / (n_classes * count) when unweighted (scikit-learn's
    compute_class_weight, which LogisticRegression also weighs by
    sample_weight); a dict {class label: weight}: classes it omits weigh 1."""
    n_classes = len(classes)
    weights = np.ones(n_classes)
    if isinstance(class_weight, str):  # 'balanced'
        present = np.bincount(class_index, minlength=n_classes) > 0
        totals = np.bincount(class_index, weights=sample_weight, minlength=n_classes)
        # a present class whose samples all weigh 0 keeps weight 1 (unused)
        usable = present & (totals > 0)
        weights[usable] = totals.sum() / (present.sum() * totals[usable])
        return weights
    unweighted = []
    for i, label in enumerate(classes):
        label = label.item() if isinstance(label, np.generic) else label
        if label in class_weight:
            weights[i] = class_weight[label]
        else:
            unweighted.append(label)
    # as scikit-learn: labels that match no class are an error when some
    # class is left unweighted (a misspelt label, most likely)
    if unweighted and n_classes - len(unweighted) != len(class_weight):
        known = set(np.asarray(classes).tolist())
        unknown = [k for k in class_weight if k not in known]
        raise ValueError(
            f"class_weight has labels {unknown} that are not classes of y, and "
            f"the classes {unweighted} are not in class_weight (the classes are "
            f"{np.asarray(classes).tolist()})."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "class_weight values must be finite and non-negative, got "
            f"{class_weight!r}."
        )
    return weights


def _check_partial_fit_first_call(clf, classes):
    """True on the first partial_fit call (when it sets classes_)."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(
                    "`classes=%r` is not the same as on last call "
                    "to partial_fit, was: %r" % (classes, clf.classes_)
                )
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Optimizes the squared error (or the Poisson deviance) with L-BFGS, SGD or
    Adam; the training loops run in fastmlp's C engine.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss; 'poisson' uses an exponential output (log link) and needs
        non-negative targets."""
        + _COMMON_PARAMETERS_DOC
        + _WEIGHT_INIT_DOC
        + _EXTRA_PARAMETERS_DOC
        + _NETWORK_PARAMETERS_DOC
        + """

    Attributes
    ----------"""
        + _COMMON_ATTRIBUTES_DOC
        + _NOTES_DOC
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
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

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
        )

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
