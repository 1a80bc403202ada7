"""Plain NumPy reference of the C engine (fastmlp._engine), for its tests.

Everything here is written for clarity, not speed, straight from the
documented semantics (scikit-learn's MLP): forward pass, per-sample losses
with probability clipping, full gradient by backpropagation, optimizers.
Computations run in the dtype of the inputs unless stated otherwise.

The engine's extensions beyond scikit-learn (csrc/fastmlp.h) are here too:
the elu / gelu / swish activations, the L1 penalty, inverted dropout with its
hash-defined masks (reimplemented in uint32 arithmetic), training-mode batch
normalization with running statistics, AdamW and gradient-norm clipping.
"""
import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logsumexp, xlogy

import pytest

from fastmlp import _engine

try:
    from fastmlp import _kernels
    KERNELS_BUILT = True
except ImportError:  # built without FASTMLP_KERNEL_TWINS (as the released wheels)
    KERNELS_BUILT = False

    class _MissingKernels:
        """Stands in for fastmlp._kernels: a test that calls a kernel twin
        is skipped."""

        def __getattr__(self, name):
            if name.startswith("__"):  # pytest's collection looks at the object
                raise AttributeError(name)
            pytest.skip("fastmlp._kernels (the kernels' test twins) is not built; "
                        "build with -Ccmake.define.FASTMLP_KERNEL_TWINS=ON")

    _kernels = _MissingKernels()

# scikit-learn's hidden activations; the engine's own; all of them
HIDDEN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
NEW_ACTIVATIONS = ["elu", "gelu", "swish"]
ALL_HIDDEN_ACTIVATIONS = HIDDEN_ACTIVATIONS + NEW_ACTIVATIONS
# activations whose slope the engine computes from the pre-activation z
# (their output does not determine it); the others' from the output a
SLOPE_FROM_INPUT = ("gelu", "swish")
GELU_SQRT_2_OVER_PI = np.sqrt(2 / np.pi)
GELU_CUBIC = 0.044715
LOSSES = ["squared_error", "cross_entropy", "binary_cross_entropy", "poisson"]
# the robust regression losses (identity output, a loss parameter for two)
ROBUST_LOSSES = ["absolute_error", "huber", "quantile"]
# each loss's output activation: the engine's canonical links (csrc/net.c);
# the loss tests check each against this module's NumPy losses
OUTPUT_ACTIVATION = dict(_engine.OUTPUT_ACTIVATIONS)
DTYPES = [np.float32, np.float64]

# The engine's matrix-product paths, as Network / kernel keyword arguments:
# every product by the BLAS, or by the engine's own kernel.
GEMM_PATHS = {"blas": {"gemm": "blas"}, "own": {"gemm": "own"}}
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
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "gelu":
        # 0.5 z (1 + tanh(u)) = z * logistic(2 u): the same function, without
        # the cancellation of 1 + tanh(u) for z << 0
        return (z * expit(2 * _gelu_u(z))).astype(z.dtype)
    if name == "swish":
        return (z * expit(z)).astype(z.dtype)
    raise ValueError(name)


def _gelu_u(z):
    """GELU's tanh argument sqrt(2/pi) (z + 0.044715 z^3), in z's dtype."""
    T = z.dtype.type
    return T(GELU_SQRT_2_OVER_PI) * (z + T(GELU_CUBIC) * z * z * z)


def activation_slope(name, z, a, slope=0.01):
    """act'(z) as the engine computes it: from the output a, except for gelu
    and swish (SLOPE_FROM_INPUT), from the pre-activation z."""
    if name == "gelu":
        T = z.dtype.type
        u = _gelu_u(z)
        du = T(GELU_SQRT_2_OVER_PI) * (1 + T(3 * GELU_CUBIC) * z * z)
        # d/dz z s(2u) = s + 2 z s (1 - s) du, 1 - s = logistic(-2u) exactly
        s, q = expit(2 * u), expit(-2 * u)
        return (s + 2 * z * s * q * du).astype(z.dtype)
    if name == "swish":
        s = expit(z)
        return (s + z * s * expit(-z)).astype(z.dtype)
    return activation_derivative(name, a, slope)


def activation_derivative(name, a, slope=0.01):
    """act'(z) expressed from the output a = act(z) (not gelu / swish: see
    activation_slope)."""
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
    if name == "elu":  # exp(z) = a + 1 for z <= 0
        return np.where(a > 0, 1, a + 1).astype(a.dtype)
    raise ValueError(name)


def unpack(net, params):
    """(coefs, intercepts) views of a flat parameter vector."""
    coefs = [params[a:b].reshape(shape) for a, b, shape in net.coef_slices()]
    intercepts = [params[a:b] for a, b in net.intercept_slices()]
    return coefs, intercepts


def unpack_batch_norm(net, params):
    """Per hidden layer: (gamma, beta) views of its batch-norm parameters, or
    None (the layout: all weights, all biases, then gamma, beta per layer)."""
    out = []
    for l, start in enumerate(net.batch_norm_slices()):
        width = net.layer_sizes[l + 1]
        out.append(None if start is None else
                   (params[start:start + width], params[start + width:start + 2 * width]))
    return out


def pack(net, coefs, intercepts, dtype, batch_norm=None):
    """The flat parameter vector; batch_norm: per hidden layer (gamma, beta)
    or None, as unpack_batch_norm gives."""
    out = np.empty(net.n_params, dtype=dtype)
    for (a, b, _), c in zip(net.coef_slices(), coefs):
        out[a:b] = np.ravel(c)
    for (a, b), c in zip(net.intercept_slices(), intercepts):
        out[a:b] = c
    for views, values in zip(unpack_batch_norm(net, out), batch_norm or []):
        if views is not None:
            views[0][:], views[1][:] = values
    return out


def init_batch_norm(net, params, rng):
    """Batch-norm scales drawn in [0.5, 1.5] with either sign, shifts in
    [-0.5, 0.5] (a generic point, not the identity initialization)."""
    for views in unpack_batch_norm(net, params):
        if views is not None:
            gamma, beta = views
            gamma[:] = rng.uniform(0.5, 1.5, gamma.size) * rng.choice([-1, 1], gamma.size)
            beta[:] = rng.uniform(-0.5, 0.5, beta.size)
    return params


# ---- dropout masks: csrc/engine.h's hash, in NumPy uint32 arithmetic ----

def mix32(x):
    """The "lowbias32" integer mixer, element-wise on a uint32 array (array
    arithmetic wraps modulo 2**32 like C's unsigned arithmetic)."""
    x = np.array(x, dtype=np.uint32, ndmin=1)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def _low32(v):
    """The low 32 bits of int64 values (C's (uint32_t) cast), as uint32."""
    return (np.asarray(v, np.int64).view(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _high32(v):
    return (np.asarray(v, np.int64).view(np.uint64) >> np.uint64(32)).astype(np.uint32)


def dropout_row_keys(seed, samples):
    """The per-sample hash key of (seed, sample index), (len(samples),) uint32."""
    seed = int(seed)
    samples = np.array(samples, dtype=np.int64, ndmin=1)
    key = mix32(np.full(samples.shape, (seed >> 32) ^ 0x9E3779B9, np.uint32))
    key = mix32(key ^ np.uint32(seed & 0xFFFFFFFF))
    key = mix32(key ^ _high32(samples))
    return mix32(key ^ _low32(samples))


def gaussian_noise(seed, samples, n_features):
    """The engine's input noise before scaling, (len(samples), n_features):
    Box-Muller from two hashes of (row key, feature) (csrc/train.c)."""
    keys = dropout_row_keys(seed, np.asarray(samples, np.int64))
    at = keys[:, None] + np.arange(n_features, dtype=np.uint32)[None, :] * np.uint32(0x3C6EF372)
    u1 = (mix32(at ^ np.uint32(0x85EBCA6B)).astype(np.float64) + 1.0) / 2.0**32
    u2 = mix32(at ^ np.uint32(0xC2B2AE35)).astype(np.float64) / 2.0**32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


def dropout_threshold(rate):
    """round(rate * 2**24), as the engine's (uint32_t)(rate * 2^24 + 0.5)."""
    return int(rate * 16777216.0 + 0.5)


def dropout_mask(seed, samples, units, rate):
    """keep (bool, (len(samples), len(units))): a unit is dropped when the top
    24 bits of mix32(row key + unit * golden) fall below the threshold."""
    keys = dropout_row_keys(seed, samples)
    units = _low32(np.array(units, dtype=np.int64, ndmin=1))
    h = mix32(keys[:, None] + units[None, :] * np.uint32(0x9E3779B9))
    return (h >> np.uint32(8)) >= np.uint32(dropout_threshold(rate))


def apply_dropout(x, keep, rate):
    """Inverted dropout: x * keep / (1 - rate), the scale rounded to x's dtype."""
    scale = x.dtype.type(1 / (1 - rate))
    return np.where(keep, x * scale, x.dtype.type(0))


def hidden_unit_offsets(net):
    """Index among all hidden units of each hidden layer's first unit."""
    return np.concatenate([[0], np.cumsum(net.layer_sizes[1:-1])]).astype(int)[:-1]


# ---- batch normalization (training mode) ----

def batch_norm_forward(z, gamma, beta, eps):
    """(gamma * xhat + beta, xhat, mean, biased variance, inv_std) over the
    rows of z (B, OUT), column by column, in z's dtype."""
    T = z.dtype.type
    mean = z.mean(axis=0)
    var = ((z - mean) ** 2).mean(axis=0)
    inv_std = T(1) / np.sqrt(var + T(eps))
    xhat = (z - mean) * inv_std
    return gamma * xhat + beta, xhat, mean, var, inv_std


def batch_norm_backward(delta, xhat, inv_std, gamma):
    """(d loss / d z, dgamma, dbeta) from delta = d loss / d output, through
    dxhat = gamma * delta and xhat's dependence on the batch mean and variance."""
    dgamma = (delta * xhat).sum(axis=0)
    dbeta = delta.sum(axis=0)
    dxhat = delta * gamma
    dz = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return dz, dgamma, dbeta


def update_running_stats(running_mean, running_var, mean, var, n_rows, momentum):
    """r := (1 - m) r + m * statistic, the unbiased variance; in place; a batch
    of one row (no variance estimate) changes nothing."""
    if n_rows < 2:
        return
    T = running_mean.dtype.type
    m = T(momentum)
    unbiased = T(n_rows) / T(n_rows - 1)
    running_mean[:] = (1 - m) * running_mean + m * mean
    running_var[:] = (1 - m) * running_var + m * var * unbiased


def running_stats_views(net, running_stats):
    """Per hidden layer: (running mean, running var) views of the (2 U,)
    vector (means of all batch-normalized units, then their variances), or None."""
    U = net.batch_norm_units
    out, unit = [], 0
    for l, start in enumerate(net.batch_norm_slices()):
        width = net.layer_sizes[l + 1]
        if start is None:
            out.append(None)
        else:
            out.append((running_stats[unit:unit + width],
                        running_stats[U + unit:U + unit + width]))
            unit += width
    return out


def _matmul(x, w):
    if sp.issparse(x):
        return np.asarray(x @ w)
    return x @ w


def forward(net, params, X):
    """(hidden outputs..., output pre-activation z, output activation a):
    the inference pass (predict's), no dropout; batch norm must be folded."""
    if net.batch_norm_units:
        raise ValueError("the inference pass takes a network without batch norm")
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


def per_sample_loss(loss, z, a, y, dtype, loss_param=None):
    """loss_i for each row; multiclass log-probabilities from z, binary ones
    from the output a, clipped at eps of dtype.  Computed in float64.
    loss_param: Huber's delta or the quantile."""
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
    if loss == "absolute_error":
        return np.abs(a - y).sum(axis=1)
    if loss == "huber":
        r = np.abs(a - y)
        return np.where(r <= loss_param, 0.5 * r**2,
                        loss_param * (r - 0.5 * loss_param)).sum(axis=1)
    if loss == "quantile":  # the pinball loss
        r = y - a
        return np.maximum(loss_param * r, (loss_param - 1) * r).sum(axis=1)
    raise ValueError(loss)


def output_gradient(loss, a, y, loss_param=None):
    """d loss_i / d z of the output pre-activation: a - y for the canonical
    links; the robust losses' (sub)gradient w.r.t. their identity output."""
    if loss == "absolute_error":
        return np.sign(a - y)
    if loss == "huber":
        r = a - y
        return np.where(np.abs(r) <= loss_param, r, loss_param * np.sign(r)).astype(a.dtype)
    if loss == "quantile":
        return np.where(y > a, -loss_param, np.where(y < a, 1 - loss_param, 0)).astype(a.dtype)
    return a - y


def train_forward(net, params, X, rows=None, dropout_seed=0, running_stats=None):
    """The training forward pass: per hidden layer a dict with z (affine
    map), u (after batch norm, the activation's input), a (activation),
    keep (dropout mask or None), out (the next layer's input) and the batch
    norm's xhat / inv_std; then the output layer's z and a.  rows: the
    samples' indices in the full X (the dropout masks' keys; default
    0..B-1); running_stats (2 U,) is updated in place when given."""
    coefs, intercepts = unpack(net, params)
    bn = unpack_batch_norm(net, params)
    running = (running_stats_views(net, running_stats) if running_stats is not None
               else [None] * len(bn))
    n = X.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    offsets = hidden_unit_offsets(net)
    hidden = []
    h = X
    for l in range(len(coefs) - 1):
        c = {"z": _matmul(h, coefs[l]) + intercepts[l], "xhat": None, "inv_std": None,
             "keep": None}
        c["u"] = c["z"]
        if bn[l] is not None:
            gamma, beta = bn[l]
            c["u"], c["xhat"], mean, var, c["inv_std"] = batch_norm_forward(
                c["z"], gamma, beta, net.batch_norm_eps)
            if running[l] is not None:
                update_running_stats(*running[l], mean, var, n, net.batch_norm_momentum)
        c["a"] = activation(net.hidden_activations[l], c["u"], net.leaky_relu_slope)
        rate = net.dropout[l]
        c["out"] = c["a"]
        if rate > 0:
            c["keep"] = dropout_mask(dropout_seed, rows,
                                     offsets[l] + np.arange(net.layer_sizes[l + 1]), rate)
            c["out"] = apply_dropout(c["a"], c["keep"], rate)
        hidden.append(c)
        h = c["out"]
    z = _matmul(h, coefs[-1]) + intercepts[-1]
    return hidden, z, activation(net.output_activation, z)


def penalty(net, params):
    """0.5 alpha sum W^2 + l1 sum |W| over the weights, in float64."""
    coefs, _ = unpack(net, np.asarray(params, np.float64))
    sq = sum(float(np.sum(c ** 2)) for c in coefs)
    return 0.5 * net.alpha * sq + net.l1 * sum(float(np.sum(np.abs(c))) for c in coefs)


def loss_and_grad(net, params, X, y, sample_weight=None, rows=None, dropout_seed=0,
                  running_stats=None):
    """Reported loss and its gradient, by backprop in params' dtype (loss
    accumulated in float64): the training objective, with dropout masks of
    dropout_seed keyed by rows (the samples' indices, default 0..B-1) and
    batch statistics over the rows of X; running_stats, when given, moves."""
    dtype = params.dtype
    T = dtype.type
    n = X.shape[0]
    sw = np.ones(n, dtype) if sample_weight is None else sample_weight
    sw_sum = float(np.sum(sw, dtype=np.float64))
    coefs, intercepts = unpack(net, params)
    bn = unpack_batch_norm(net, params)
    hidden, z, a = train_forward(net, params, X, rows, dropout_seed, running_stats)
    data = float(np.dot(sw.astype(np.float64),
                        per_sample_loss(net.loss, z, a, y, dtype, net.loss_param)))
    loss = data / sw_sum * net.data_loss_scale + penalty(net, params) / sw_sum
    delta = sw[:, None] * output_gradient(net.loss, a, y, net.loss_param)
    gcoefs, gints = [None] * len(coefs), [None] * len(coefs)
    gbn = [None] * len(bn)
    for l in range(len(coefs) - 1, -1, -1):
        inp = X if l == 0 else hidden[l - 1]["out"]
        gw = inp.T @ delta
        if sp.issparse(gw):
            gw = gw.toarray()
        gw = np.asarray(gw) + T(net.alpha) * coefs[l]
        if net.l1:
            gw = gw + T(net.l1) * np.sign(coefs[l])
        gcoefs[l] = gw / T(sw_sum)
        gints[l] = delta.sum(axis=0) / T(sw_sum)
        if l > 0:
            c = hidden[l - 1]
            delta = delta @ coefs[l].T
            if c["keep"] is not None:  # the same mask: dropped units pass nothing
                delta = apply_dropout(delta, c["keep"], net.dropout[l - 1])
            delta = delta * activation_slope(net.hidden_activations[l - 1], c["u"], c["a"],
                                             net.leaky_relu_slope)
            if bn[l - 1] is not None:
                delta, dgamma, dbeta = batch_norm_backward(delta, c["xhat"], c["inv_std"],
                                                           bn[l - 1][0])
                gbn[l - 1] = (dgamma / T(sw_sum), dbeta / T(sw_sum))
    return loss, pack(net, gcoefs, gints, dtype, gbn)


def loss_value(net, params, X, y, sample_weight=None, dropout_seed=0):
    """The reported loss only, in float64 (no gradient), the training
    objective (dropout masks of dropout_seed, batch statistics)."""
    params = np.asarray(params, np.float64)
    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    _, z, a = train_forward(net, params, X.astype(np.float64), dropout_seed=dropout_seed)
    data = float(np.dot(sw, per_sample_loss(net.loss, z, a, np.asarray(y, np.float64),
                                            np.float64, net.loss_param)))
    return data / sw.sum() * net.data_loss_scale + penalty(net, params) / sw.sum()


class RefOptimizer:
    """NumPy twin of _engine.Optimizer, arithmetic in the params' dtype.

    update() takes the finished gradient; max_grad_norm > 0 first scales it
    to that Euclidean norm when longer; 'adamw' is Adam plus the decoupled
    decay W := (1 - lr * weight_decay) W of the first n_weights entries."""

    def __init__(self, kind, n, dtype, learning_rate=0.001, momentum=0.9, nesterov=True,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 max_grad_norm=0.0):
        self.kind, self.dtype = kind, np.dtype(dtype)
        self.lr, self.momentum, self.nesterov = learning_rate, momentum, nesterov
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weight_decay, self.max_grad_norm = weight_decay, max_grad_norm
        self.m1 = np.zeros(n, dtype)
        self.m2 = np.zeros(n, dtype)
        self.step = 0
        self.n_clipped = 0  # updates whose gradient was clipped

    def clip(self, grad):
        """The gradient scaled to max_grad_norm when longer (norm in float64)."""
        if self.max_grad_norm > 0:
            norm = float(np.sqrt(np.sum(grad.astype(np.float64) ** 2)))
            if norm > self.max_grad_norm:
                self.n_clipped += 1
                return grad / self.dtype.type(norm / self.max_grad_norm)
        return grad

    def update(self, params, grad, n_weights=0):
        T = self.dtype.type
        grad = self.clip(grad)
        self.step += 1
        if self.kind == "sgd":
            lr, mu = T(self.lr), T(self.momentum)
            self.m1 = mu * self.m1 - lr * grad
            if self.nesterov:
                params += mu * self.m1 - lr * grad
            else:
                params += self.m1
        elif self.kind in ("adam", "adamw"):
            b1, b2 = T(self.beta_1), T(self.beta_2)
            t = self.step
            lr_t = T(self.lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
            self.m1 = b1 * self.m1 + T(1 - self.beta_1) * grad
            self.m2 = b2 * self.m2 + T(1 - self.beta_2) * (grad * grad)
            if self.kind == "adamw":  # decoupled: the step size without bias correction
                params[:n_weights] *= T(1 - self.lr * self.weight_decay)
            params += -lr_t * self.m1 / (np.sqrt(self.m2) + T(self.epsilon))
        elif self.kind == "rmsprop":
            rho = T(self.beta_2)
            self.m2 = rho * self.m2 + T(1 - self.beta_2) * (grad * grad)
            params -= T(self.lr) * grad / (np.sqrt(self.m2) + T(self.epsilon))
        else:
            raise ValueError(self.kind)


def train_epoch(net, params, opt, X, y, sample_weight, order, batch_size, dropout_seed=0,
                running_stats=None):
    """Reference epoch: returns the loss sum; updates params, opt and
    running_stats in place.  The dropout masks are keyed by each row's index
    in X, so they do not depend on the batching."""
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        sw = None if sample_weight is None else sample_weight[rows]
        loss, grad = loss_and_grad(net, params, X[rows], y[rows], sw, rows=rows,
                                   dropout_seed=dropout_seed, running_stats=running_stats)
        loss_sum += loss * len(rows)
        opt.update(params, grad, net.n_weights)
    return loss_sum


def make_targets(loss, n_samples, n_outputs, dtype, rng):
    """C-contiguous targets (n_samples, n_outputs) valid for `loss`."""
    if loss in ("squared_error", "absolute_error", "huber", "quantile"):
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


__all__ = ["_engine"]
