"""Plain NumPy reference of the C engine (fastmlp._engine), for its tests.

Everything here is written for clarity, not speed, straight from the
documented semantics (scikit-learn's MLP): forward pass, per-sample losses
with probability clipping, full gradient by backpropagation, optimizers.
Computations run in the dtype of the inputs unless stated otherwise.
"""
import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logsumexp, xlogy

from fastmlp import _engine

HIDDEN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
LOSSES = ["squared_error", "cross_entropy", "binary_cross_entropy", "poisson"]
OUTPUT_ACTIVATION = {"squared_error": "identity", "cross_entropy": "softmax",
                     "binary_cross_entropy": "logistic", "poisson": "exp"}
DTYPES = [np.float32, np.float64]

# The engine's matrix-product paths, as Network / kernel keyword arguments:
# the BLAS always; the engine's own small-matrix kernel where the engine has
# one (small_gemm_max: products up to that many multiply-adds use it).
if hasattr(_engine, "SMALL_GEMM_DEFAULT"):
    GEMM_PATHS = {"blas": {"small_gemm_max": 0.0}, "small": {"small_gemm_max": 1e30}}
else:
    GEMM_PATHS = {"blas": {}}
GEMM_IDS = sorted(GEMM_PATHS)


def activation(name, z, slope=0.01):
    """act(z) for a (B, OUT) array, a new array of z's dtype."""
    z = np.asarray(z)
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return expit(z).astype(z.dtype)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z.dtype.type(slope) * z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "exp":
        return np.exp(z)
    raise ValueError(name)


def activation_derivative(name, a, slope=0.01):
    """act'(z) expressed from the output a = act(z)."""
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (a != 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, 1, slope).astype(a.dtype)
    if name == "exp":
        return a.copy()
    raise ValueError(name)


def unpack(net, params):
    """(coefs, intercepts) views of a flat parameter vector."""
    coefs = [params[a:b].reshape(shape) for a, b, shape in net.coef_slices()]
    intercepts = [params[a:b] for a, b in net.intercept_slices()]
    return coefs, intercepts


def pack(net, coefs, intercepts, dtype):
    out = np.empty(net.n_params, dtype=dtype)
    for (a, b, _), c in zip(net.coef_slices(), coefs):
        out[a:b] = np.ravel(c)
    for (a, b), c in zip(net.intercept_slices(), intercepts):
        out[a:b] = c
    return out


def _matmul(x, w):
    if sp.issparse(x):
        return np.asarray(x @ w)
    return x @ w


def forward(net, params, X):
    """(hidden outputs..., output pre-activation z, output activation a)."""
    coefs, intercepts = unpack(net, params)
    acts = []
    h = X
    n_layers = len(coefs)
    for l in range(n_layers):
        z = _matmul(h, coefs[l]) + intercepts[l]
        if l < n_layers - 1:
            h = activation(net.hidden_activations[l], z, net.leaky_relu_slope)
            acts.append(h)
        else:
            acts.append(z)
            acts.append(activation(net.output_activation, z))
    return acts


def clip_log(logp, dtype):
    eps = np.finfo(dtype).eps
    return np.clip(logp, np.log(eps), np.log1p(-eps))


def per_sample_loss(loss, z, a, y, dtype):
    """loss_i for each row; multiclass log-probabilities from z, binary ones
    from the output a, clipped at eps of dtype.  Computed in float64."""
    z = np.asarray(z, np.float64)
    a = np.asarray(a, np.float64)
    y = np.asarray(y, np.float64)
    if loss == "squared_error":
        return 0.5 * ((a - y) ** 2).sum(axis=1)
    if loss == "cross_entropy":
        logp = clip_log(z - logsumexp(z, axis=1, keepdims=True), dtype)
        return -np.where(y != 0, y * logp, 0).sum(axis=1)
    if loss == "binary_cross_entropy":
        # scikit-learn's form: log p and log(1 - p) of the logistic output
        # clipped to [eps, 1 - eps], 1 - p rounded in the dtype
        eps = np.finfo(dtype).eps
        p = np.clip(a.astype(dtype), eps, 1 - eps)
        log_p = np.log(p.astype(np.float64))
        log_q = np.log((1 - p).astype(np.float64))
        return -(np.where(y != 0, y * log_p, 0) + np.where(y != 1, (1 - y) * log_q, 0)).sum(1)
    if loss == "poisson":
        return (xlogy(y, y) - y * z - y + a).sum(axis=1)
    raise ValueError(loss)


def loss_and_grad(net, params, X, y, sample_weight=None):
    """Reported loss and its gradient, by backprop in params' dtype
    (loss accumulated in float64)."""
    dtype = params.dtype
    n = X.shape[0]
    sw = np.ones(n, dtype) if sample_weight is None else sample_weight
    sw_sum = float(np.sum(sw, dtype=np.float64))
    coefs, intercepts = unpack(net, params)
    acts = forward(net, params, X)
    z, a = acts[-2], acts[-1]
    data = float(np.dot(sw.astype(np.float64), per_sample_loss(net.loss, z, a, y, dtype)))
    sq = sum(float(np.sum(c.astype(np.float64) ** 2)) for c in coefs)
    loss = data / sw_sum * net.data_loss_scale + 0.5 * net.alpha * sq / sw_sum
    delta = sw[:, None] * (a - y)
    gcoefs, gints = [None] * len(coefs), [None] * len(coefs)
    for l in range(len(coefs) - 1, -1, -1):
        inp = X if l == 0 else acts[l - 1]
        gw = inp.T @ delta
        if sp.issparse(gw):
            gw = gw.toarray()
        gcoefs[l] = (np.asarray(gw) + dtype.type(net.alpha) * coefs[l]) / dtype.type(sw_sum)
        gints[l] = delta.sum(axis=0) / dtype.type(sw_sum)
        if l > 0:
            delta = (delta @ coefs[l].T) * activation_derivative(
                net.hidden_activations[l - 1], acts[l - 1], net.leaky_relu_slope)
    return loss, pack(net, gcoefs, gints, dtype)


def loss_value(net, params, X, y, sample_weight=None):
    """The reported loss only, in float64 (no gradient)."""
    params = np.asarray(params, np.float64)
    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    coefs, _ = unpack(net, params)
    acts = forward(net, params, X.astype(np.float64))
    data = float(np.dot(sw, per_sample_loss(net.loss, acts[-2], acts[-1],
                                            np.asarray(y, np.float64), np.float64)))
    sq = sum(float(np.sum(c ** 2)) for c in coefs)
    return data / sw.sum() * net.data_loss_scale + 0.5 * net.alpha * sq / sw.sum()


class RefOptimizer:
    """NumPy twin of _engine.Optimizer, arithmetic in the params' dtype."""

    def __init__(self, kind, n, dtype, learning_rate=0.001, momentum=0.9, nesterov=True,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.kind, self.dtype = kind, np.dtype(dtype)
        self.lr, self.momentum, self.nesterov = learning_rate, momentum, nesterov
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.m1 = np.zeros(n, dtype)
        self.m2 = np.zeros(n, dtype)
        self.step = 0

    def update(self, params, grad):
        T = self.dtype.type
        self.step += 1
        if self.kind == "sgd":
            lr, mu = T(self.lr), T(self.momentum)
            self.m1 = mu * self.m1 - lr * grad
            if self.nesterov:
                params += mu * self.m1 - lr * grad
            else:
                params += self.m1
        elif self.kind == "adam":
            b1, b2 = T(self.beta_1), T(self.beta_2)
            t = self.step
            lr_t = T(self.lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
            self.m1 = b1 * self.m1 + T(1 - self.beta_1) * grad
            self.m2 = b2 * self.m2 + T(1 - self.beta_2) * (grad * grad)
            params += -lr_t * self.m1 / (np.sqrt(self.m2) + T(self.epsilon))
        elif self.kind == "rmsprop":
            rho = T(self.beta_2)
            self.m2 = rho * self.m2 + T(1 - self.beta_2) * (grad * grad)
            params -= T(self.lr) * grad / (np.sqrt(self.m2) + T(self.epsilon))
        else:
            raise ValueError(self.kind)


def train_epoch(net, params, opt, X, y, sample_weight, order, batch_size):
    """Reference epoch: returns the loss sum; updates params and opt in place."""
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        sw = None if sample_weight is None else sample_weight[rows]
        loss, grad = loss_and_grad(net, params, X[rows], y[rows], sw)
        loss_sum += loss * len(rows)
        opt.update(params, grad)
    return loss_sum


def make_targets(loss, n_samples, n_outputs, dtype, rng):
    """C-contiguous targets (n_samples, n_outputs) valid for `loss`."""
    if loss == "squared_error":
        y = rng.standard_normal((n_samples, n_outputs))
    elif loss == "cross_entropy":
        y = np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)]
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n_samples, n_outputs)).astype(float)
    elif loss == "poisson":
        y = rng.poisson(1.5, (n_samples, n_outputs)).astype(float)
    else:
        raise ValueError(loss)
    return np.ascontiguousarray(y, dtype)


def make_problem(loss, n_samples, n_features, n_outputs, dtype, rng):
    """Inputs and targets valid for `loss`."""
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    return X, make_targets(loss, n_samples, n_outputs, dtype, rng)


def init_params(net, dtype, rng, scale=0.5):
    return (scale * rng.standard_normal(net.n_params)).astype(dtype)


def max_rel_diff(actual, expected):
    """max |actual - expected| / max(max |expected|, tiny): a scale-aware error."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    scale = max(np.max(np.abs(expected)) if expected.size else 0.0, 1e-300)
    return float(np.max(np.abs(actual - expected)) / scale) if expected.size else 0.0


__all__ = ["_engine"]
