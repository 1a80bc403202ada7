"""Online prediction: the prepared inference state and the fast path.

A fitted model is often asked about one row, or a handful, at a time (a web
service, a stream consumer, a game loop).  Then scikit-learn's input
validation and the per-call set-up (packing and folding the parameters,
building the engine's network, choosing the kernels) cost far more than the
arithmetic.  So:

- ``InferenceState`` is what predict needs, prepared once after fitting and
  kept beside the estimator (in a table keyed by it, weakly, so that predict
  leaves the estimator's ``__dict__`` as it was, as scikit-learn's checks
  require, and pickles and copies carry none): the engine's network without
  dropout, the parameters it runs with (batch norm folded, else the
  parameter vector itself), the chunk size, a kernel plan per row bucket
  (asked of ``_kernel_choice``, kept per machine signature) and a workspace
  per thread for small calls.  It checks at every use that it still
  describes the estimator, and is rebuilt when not (see ``current``);
- ``OnlinePredictionMixin._online_output`` is the fast path: a NumPy array
  the engine can read as it is (2-D, C-contiguous, aligned, of the fitted
  dtype and feature count, at least one row) of an estimator fitted without
  feature names goes to the engine with these checks only; the engine checks
  finiteness (``_engine.predict_rows``).  Anything else, a non-finite value
  included, returns None and takes the full path (scikit-learn's
  ``validate_data``), which raises scikit-learn's errors and warnings.  The
  full path prepares the state (after validating its input: bad input never
  reaches the engine) and runs the engine through it too, so both paths
  compute with the same parameters, network and kernel plans.

Many threads may predict with one estimator at once: a state is not changed
after it is built except for its plan cache (whole bytes objects, set under
the GIL) and its per-thread workspaces; each call writes its own output.
"""

import copy
import os
import threading
import weakref

import numpy as np

from fastmlp import _engine
from fastmlp._kernel_choice import machine_signature, rows_bucket
from fastmlp._resources import chunk_rows

# Calls of up to this many rows reuse a workspace kept per thread; larger
# calls let the engine allocate one per call (a chunk's workspace can take
# tens of megabytes, not worth keeping per thread).
WORKSPACE_ROWS_MAX = 256

# estimator -> its InferenceState (dropped with the estimator)
_states = weakref.WeakKeyDictionary()


def _state_of(estimator):
    """The estimator's InferenceState, or None (also for an estimator that
    cannot be a key: a subclass that made itself unhashable keeps none)."""
    try:
        return _states.get(estimator)
    except TypeError:
        return None


def forget_state(estimator):
    """Drop the estimator's InferenceState (its parameters were replaced or
    its settings changed: the next predict prepares a new one)."""
    try:
        _states.pop(estimator, None)
    except TypeError:
        pass


def _prediction_settings(estimator):
    """The settings besides the parameters that predict's network depends on
    (copied: a list of activations may be edited in place)."""
    return (
        copy.copy(estimator.activation),
        estimator.leaky_relu_slope,
        estimator.out_activation_,
    )


class InferenceState:
    """What predict needs from a fitted estimator, prepared once (see the
    module's docstring).  Build it from an estimator with ``coefs_``."""

    def __init__(self, estimator):
        source = estimator._packed_params()
        params = estimator._inference_params(source)
        network = estimator._network(training=False)
        self.source = source
        self.params = params
        self.settings = _prediction_settings(estimator)
        self.folded = params is not source
        self.views = self._view_objects(estimator)
        if self.folded:
            # folding copies: in-place edits of the parameters or of the
            # running statistics must be noticed (compared at every use)
            self.running_stats = estimator._running_stats
            self.snapshot = (source.copy(), self.running_stats.copy())
        self.network = network
        self.dtype = source.dtype
        self.n_features = network.layer_sizes[0]
        self.n_outputs = network.layer_sizes[-1]
        self.chunk_rows = chunk_rows(network.layer_sizes, self.dtype)
        self._plans = {}  # (rows bucket, FASTMLP_GEMM, machine signature) -> plan
        self._local = threading.local()

    def _view_objects(self, estimator):
        """The arrays the estimator exposes as its parameters (and, with
        batch norm, as its running statistics): replaced ones are new
        objects."""
        d = estimator.__dict__
        views = [*d.get("coefs_", ()), *d.get("intercepts_", ())]
        if self.folded:
            for name in ("batch_norm_scales_", "batch_norm_shifts_", "batch_norm_means_",
                         "batch_norm_vars_"):
                views += d.get(name, ())
        return views

    def current(self, estimator):
        """Whether this state still describes the estimator: the same
        parameter vector and views (a replaced coefs_ or intercepts_ array
        makes _packed_params build a new vector), the same activations, and,
        when batch norm is folded, the same values of the parameters and
        running statistics.  In-place edits of an unfolded vector need no
        check: the engine reads that very vector.  (Every online call asks:
        it costs about a microsecond without batch norm.)"""
        d = estimator.__dict__
        if d.get("_params") is not self.source:
            return False
        views = self._view_objects(estimator)
        if len(views) != len(self.views):
            return False
        for a, b in zip(views, self.views):
            if a is not b:
                return False
        activation, slope, out_activation = self.settings
        if (d.get("activation") != activation or d.get("leaky_relu_slope") != slope
                or d.get("out_activation_") != out_activation):
            return False
        if self.folded:
            params, running_stats = self.snapshot
            if d.get("_running_stats") is not self.running_stats:
                return False
            if not (np.array_equal(self.source, params)
                    and np.array_equal(self.running_stats, running_stats)):
                return False
        return True

    def plan(self, n_rows):
        """The kernel plan for calls of n_rows rows (at most a chunk):
        _kernel_choice's, kept per row bucket, FASTMLP_GEMM and machine
        signature (which holds the BLAS's thread count)."""
        bucket = rows_bucket(n_rows)
        key = (bucket, os.environ.get("FASTMLP_GEMM"), machine_signature())
        plan = self._plans.get(key)
        if plan is None:
            plan = _engine._plan(self.network, self.dtype, bucket, False, True)
            self._plans[key] = plan
        return plan

    def workspace(self, n_rows):
        """This thread's workspace for calls of up to n_rows rows (at most
        WORKSPACE_ROWS_MAX), grown to the next row bucket when too small."""
        local = self._local
        rows = getattr(local, "rows", 0)
        if rows < n_rows:
            rows = rows_bucket(n_rows)
            local.buffer = _engine.workspace(self.network, self.dtype, rows)
            local.rows = rows
        return local.buffer

    def output(self, X):
        """The network's output (n_samples, n_outputs) for X, or None when X
        is not of the fitted dtype and feature count, has no rows, or holds
        a value that is not finite."""
        n_rows, n_features = X.shape
        if n_features != self.n_features or n_rows == 0 or X.dtype != self.dtype:
            return None
        out = np.empty((n_rows, self.n_outputs), dtype=self.dtype)
        rows = min(n_rows, self.chunk_rows)
        workspace = self.workspace(rows) if rows <= WORKSPACE_ROWS_MAX else None
        found = _engine.predict_rows(
            self.network, self.params, X, out, self.plan(rows), self.chunk_rows, workspace
        )
        return out if found == _engine.FINITE else None


class OnlinePredictionMixin:
    """The fast path of predict, predict_proba and predict_log_proba; the
    estimator's predict methods call ``_online_output`` first and take the
    full path when it returns None."""

    def _online_output(self, X):
        """The network's output for X by the fast path, or None when X or the
        estimator need the full path (see the module's docstring)."""
        if type(X) is not np.ndarray or X.ndim != 2:
            return None
        flags = X.flags
        if not (flags.c_contiguous and flags.aligned):
            return None
        state = _state_of(self)
        # no state yet, or a stale one: the full path validates X first, then
        # prepares the state; feature names: scikit-learn's checks apply
        if state is None or "feature_names_in_" in self.__dict__ or not state.current(self):
            return None
        return state.output(X)

    def _inference(self):
        """The estimator's current InferenceState, prepared when missing or
        stale (call it once the input is validated)."""
        state = _state_of(self)
        if state is None or not state.current(self):
            state = InferenceState(self)
            try:
                _states[self] = state
            except TypeError:
                pass  # unhashable: prepared per call
        return state

    def set_params(self, **params):
        """Set the parameters of this estimator, as scikit-learn's
        ``set_params``; what was prepared for prediction is dropped.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
            Estimator instance.
        """
        forget_state(self)
        return super().set_params(**params)


def labels_from_output(label_binarizer, output):
    """The labels LabelBinarizer.inverse_transform gives for the network's
    output (n_samples, n_outputs), without its per-call checks for the
    common cases (multiclass: the first largest output; binary: the output
    above 1/2); the others are left to it."""
    lb = label_binarizer
    classes = lb.classes_
    if not lb.sparse_input_ and type(classes) is np.ndarray:
        if lb.y_type_ == "multiclass" and output.ndim == 2:
            indices = output.argmax(axis=1)
            if output.shape[1] > classes.shape[0]:  # (never from the network)
                indices = np.clip(indices, 0, classes.shape[0] - 1)
            return classes.take(indices)
        if (lb.y_type_ == "binary" and output.ndim == 1 and classes.shape[0] == 2
                and lb.pos_label == 1 and lb.neg_label == 0):
            return classes[(output > 0.5).astype(np.intp)]
    return lb.inverse_transform(output)
