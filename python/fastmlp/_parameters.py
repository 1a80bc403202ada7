"""The flat parameter vector and everything derived from its layout.

All weights, biases and batch-norm scales and shifts of a model live in one
float32/float64 vector (``_params``), which the engine trains in place.  Where
each part sits is the engine's layout (``_engine.parameter_layout``, defined
once in ``csrc/net.c``); ``ParameterLayout`` asks it, and the rest of the
package asks ``ParameterLayout``.

``ParameterVectorMixin`` gives the estimators: ``coefs_``, ``intercepts_`` and
the ``batch_norm_*_`` attributes as views of the vector and of the running
statistics, batch-norm folding for prediction and export, best-weight
snapshots, and the pickle state (which stores the vector, not its views).
"""

import functools
import inspect

import numpy as np

from fastmlp import _engine

# Batch normalization's fixed constants (PyTorch's defaults): running
# statistics move by this fraction per mini-batch; eps is added to variances.
BATCH_NORM_MOMENTUM = 0.1
BATCH_NORM_EPS = 1e-5

# Bumped whenever the pickled state changes incompatibly.
PICKLE_FORMAT_VERSION = 2

# Attributes that are views of _params or _running_stats (not pickled).
VIEW_ATTRIBUTES = (
    "coefs_",
    "intercepts_",
    "batch_norm_scales_",
    "batch_norm_shifts_",
    "batch_norm_means_",
    "batch_norm_vars_",
)


class ParameterLayout:
    """Where each layer's parameters sit in the flat vector of a network with
    ``layer_units`` (n_features, hidden..., n_outputs) and batch-normalized
    hidden layers ``batch_norm`` (one flag each; None: none).

    The weights of every layer come first, then every bias, then each
    batch-normalized layer's scale and shift: scikit-learn's
    ``coefs_ + intercepts_`` order, so the first ``n_layer_params`` entries
    are the same for a network with or without batch norm.  The running
    statistics (a separate vector) hold the means of every batch-normalized
    unit, then their variances."""

    def __init__(self, layer_units, batch_norm=None):
        self.layer_units = [int(u) for u in layer_units]
        (
            self.coef_slices,
            self.intercept_slices,
            self.batch_norm_starts,
            self.n_params,
        ) = _engine.parameter_layout(self.layer_units, batch_norm)

    @property
    def n_layer_params(self):
        """Entries holding the weights and biases (the batch-norm scales and
        shifts follow them)."""
        return self.intercept_slices[-1][1]

    @property
    def n_batch_norm_units(self):
        return (self.n_params - self.n_layer_params) // 2

    def layer_views(self, params):
        """(coefs, intercepts): views of each layer's weights (fan_in,
        fan_out) and biases (fan_out,) in params."""
        coefs = [params[start:stop].reshape(shape) for start, stop, shape in self.coef_slices]
        intercepts = [params[start:stop] for start, stop in self.intercept_slices]
        return coefs, intercepts

    def batch_norm_views(self, params):
        """(scales, shifts): per hidden layer, views of its batch-norm scale
        and shift in params, or None for a layer without batch norm."""
        return self._per_hidden_layer(params, self.batch_norm_starts, shift=None)

    def running_stats_views(self, running_stats):
        """(means, variances): per hidden layer, views of its running
        statistics, or None for a layer without batch norm."""
        starts, start = [], 0
        for width, flag in zip(self.layer_units[1:-1], self.batch_norm_starts):
            starts.append(None if flag is None else start)
            start += 0 if flag is None else width
        return self._per_hidden_layer(running_stats, starts, shift=self.n_batch_norm_units)

    def _per_hidden_layer(self, vector, starts, shift):
        """Two views per batch-normalized hidden layer, of its width each: at
        its start in vector, and `shift` entries further (None: right after
        the first); (None, None) for the other layers."""
        firsts, seconds = [], []
        for width, start in zip(self.layer_units[1:-1], starts):
            if start is None:
                firsts.append(None)
                seconds.append(None)
                continue
            second = start + (width if shift is None else shift)
            firsts.append(vector[start : start + width])
            seconds.append(vector[second : second + width])
        return firsts, seconds

    def spans(self):
        """(start, stop) of every part in layout order: coefs, intercepts,
        then (scale, shift) of each batch-normalized layer."""
        spans = [(start, stop) for start, stop, _ in self.coef_slices] + self.intercept_slices
        for width, start in zip(self.layer_units[1:-1], self.batch_norm_starts):
            if start is not None:
                spans += [(start, start + width), (start + width, start + 2 * width)]
        return spans

    def views(self, params):
        """Every part of params in layout order: coefs, intercepts, then
        (scale, shift) of each batch-normalized layer."""
        coefs, intercepts = self.layer_views(params)
        scales, shifts = self.batch_norm_views(params)
        pairs = [a for scale, shift in zip(scales, shifts) if scale is not None
                 for a in (scale, shift)]
        return coefs + intercepts + pairs


@functools.lru_cache(maxsize=64)
def _cached_layout(layer_units, batch_norm):
    """The layout of a fitted network (asked at every predict): made once."""
    return ParameterLayout(layer_units, batch_norm)


class ParameterVectorMixin:
    """The estimators' parameter vector: storage, views, folding, snapshots
    and pickle state.  Needs the estimator's fitted ``coefs_`` (whose shapes
    are the network's), ``_batch_norm_layers``, ``_hidden_activations`` and
    ``out_activation_``."""

    def _layer_units(self):
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _fitted_batch_norm(self):
        """Which hidden layers of the fitted network are batch-normalized."""
        flags = getattr(self, "_batch_norm_layers", None)
        return [False] * (len(self.coefs_) - 1) if flags is None else flags

    def _parameter_layout(self, units=None):
        units = self._layer_units() if units is None else units
        return _cached_layout(tuple(int(u) for u in units), tuple(self._fitted_batch_norm()))

    def _initial_parameters(self, coefs, intercepts, layer_units, dtype):
        """Make a new parameter vector of `dtype` the model's storage, from
        each layer's initial weights and biases (float64); batch norm starts
        as the identity map (scale 1, shift 0, running mean 0, variance 1)."""
        layout = self._parameter_layout(layer_units)
        params = np.empty(layout.n_params)
        coef_views, intercept_views = layout.layer_views(params)
        for view, value in zip(coef_views + intercept_views, coefs + intercepts, strict=True):
            view[...] = value
        for scale, shift in zip(*layout.batch_norm_views(params)):
            if scale is not None:
                scale[...] = 1.0
                shift[...] = 0.0
        self._set_params_vector(params.astype(dtype), layer_units)
        units = layout.n_batch_norm_units
        running_stats = np.concatenate([np.zeros(units), np.ones(units)]).astype(dtype)
        self._set_running_stats(running_stats, layer_units)
        self._snapshot_best_weights()

    def _set_params_vector(self, params, units):
        """Make params the model's storage: coefs_, intercepts_ and the batch
        norm scales and shifts view it."""
        layout = self._parameter_layout(units)
        # predict's prepared state describes the old vector (and holds it)
        from fastmlp._inference import forget_state  # (_inference imports this module)

        forget_state(self)
        self._params = params
        self.coefs_, self.intercepts_ = layout.layer_views(params)
        self.batch_norm_scales_, self.batch_norm_shifts_ = layout.batch_norm_views(params)

    def _set_running_stats(self, running_stats, units):
        """Make running_stats (all means, then all variances) the storage of
        batch_norm_means_ and batch_norm_vars_."""
        self._running_stats = running_stats
        self.batch_norm_means_, self.batch_norm_vars_ = self._parameter_layout(
            units
        ).running_stats_views(running_stats)

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
        layout = self._parameter_layout()
        if params is not None and params.size == layout.n_params:
            address = params.ctypes.data
            if all(
                isinstance(a, np.ndarray)
                and a.base is params
                and a.dtype == params.dtype
                and a.size == stop - start
                and a.ctypes.data == address + start * params.itemsize
                and a.flags.c_contiguous
                for a, (start, stop) in zip(arrays, layout.spans(), strict=True)
            ):
                return params
        dtype = np.result_type(*arrays)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        params = np.empty(layout.n_params, dtype=dtype)
        for view, a in zip(layout.views(params), arrays, strict=True):
            view[...] = np.asarray(a, dtype=dtype).reshape(view.shape)
        self._set_params_vector(params, layout.layer_units)
        return params

    def _inference_params(self, params):
        """The parameters of the network predict runs: with batch norm, its
        running statistics folded into the preceding layer's weights and
        biases (W scale, (b - mean) scale + shift, scale = gamma /
        sqrt(var + eps)) and the scales and shifts dropped."""
        flags = self._fitted_batch_norm()
        if not any(flags):
            return params
        layout = self._parameter_layout()
        folded = params[: layout.n_layer_params].copy()
        coefs, intercepts = layout.layer_views(folded)
        for l, flag in enumerate(flags):
            if not flag:
                continue
            scale = self.batch_norm_scales_[l] / np.sqrt(
                self.batch_norm_vars_[l].astype(np.float64) + BATCH_NORM_EPS
            )
            coefs[l][...] = coefs[l] * scale
            intercepts[l][...] = (
                intercepts[l] - self.batch_norm_means_[l]
            ) * scale + self.batch_norm_shifts_[l]
        return folded

    def _inference_layers(self):
        """(coef, intercept, activation name) per layer, as predict applies
        them (batch normalization folded into the weights, no dropout): what
        an exporter (fastmlp.to_onnx) needs to rebuild the model."""
        params = self._inference_params(self._packed_params())
        coefs, intercepts = self._parameter_layout().layer_views(params)
        activations = self._hidden_activations() + [self.out_activation_]
        return list(zip(coefs, intercepts, activations))

    def _snapshot_best_weights(self):
        """Remember the current parameters and running statistics as the
        best so far (restore_best_weights)."""
        self._best_params = self._packed_params().copy()
        self._best_running_stats = self._running_stats.copy()

    def _restore_best_weights(self):
        self._packed_params()[...] = self._best_params
        self._running_stats[...] = self._best_running_stats

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        if "coefs_" in state:
            state["_params"] = self._packed_params()
            # the fitted shapes (hidden_layer_sizes may have been set since)
            state["_layer_units"] = self._layer_units()
            # views of _params and _running_stats: rebuilt on load, so they
            # stay views
            for key in VIEW_ATTRIBUTES:
                state.pop(key, None)
        state["_fastmlp_pickle_version"] = PICKLE_FORMAT_VERSION
        state["_fastmlp_version"] = fastmlp_version()
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
                f"this is fastmlp {fastmlp_version()}, which reads pickle format "
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


def fastmlp_version():
    from fastmlp import __version__

    return __version__
