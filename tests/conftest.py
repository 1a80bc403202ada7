"""Shared helpers of the test suite (tests/engine, tests/estimators,
tests/integrations); the NumPy reference of the engine is tests/_engine_ref.py.

pytest puts this directory on sys.path, so test modules import these helpers
with ``from conftest import ...``.
"""
import subprocess
import sys
import textwrap

import numpy as np


def max_rel_diff(actual, expected):
    """max |actual - expected| / max |expected| (a scale-aware error, 0 for
    empty arrays): how the tests compare arrays against a reference."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if not expected.size:
        return 0.0
    scale = max(np.max(np.abs(expected)), 1e-300)
    return float(np.max(np.abs(actual - expected)) / scale)


def assert_same_model(a, b, rtol=0.0):
    """Two fitted estimators have the same weights and biases (dtype, shape,
    and values within rtol; bit for bit when rtol is 0)."""
    assert len(a.coefs_) == len(b.coefs_)
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=rtol, atol=0 if rtol == 0 else 1e-14)


def fitted_weights(est):
    """All learned parameters of a fitted estimator, from its public
    attributes, as one new flat array: coefs_, intercepts_, then the
    batch-norm scales and shifts."""
    arrays = list(est.coefs_) + list(est.intercepts_)
    arrays += [a for a in est.batch_norm_scales_ + est.batch_norm_shifts_ if a is not None]
    return np.concatenate([np.ravel(a) for a in arrays])


def running_statistics(est):
    """The batch-norm running means and variances of a fitted estimator, as
    one new flat array."""
    arrays = [a for a in est.batch_norm_means_ + est.batch_norm_vars_ if a is not None]
    return np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)


def run_python(code, timeout=120, env=None):
    """Run code in a fresh interpreter; (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def reference_hidden(est, X, layer):
    """Hidden layer `layer` of a fitted estimator computed in float64 NumPy
    from its public attributes: batch norm from the running statistics
    (eps 1e-5, unfolded), no dropout."""
    from _engine_ref import activation

    h = np.asarray(X, np.float64)
    acts = est.activation
    if isinstance(acts, str):
        acts = [acts] * (len(est.coefs_) - 1)
    for l in range(layer + 1):
        z = h @ est.coefs_[l] + est.intercepts_[l]
        if est.batch_norm_scales_[l] is not None:
            z = (z - est.batch_norm_means_[l]) / np.sqrt(
                est.batch_norm_vars_[l] + 1e-5
            ) * est.batch_norm_scales_[l] + est.batch_norm_shifts_[l]
        h = activation(acts[l], z, est.leaky_relu_slope)
    return h
