# cython: language_level=3, boundscheck=False, wraparound=False
"""Python twins of the C engine's building blocks, for the tests.

Each function runs one kernel of the engine (an activation, a loss, a dense
layer, batch norm, dropout) on NumPy arrays, so tests/engine/ can compare it
with the NumPy reference (tests/_engine_ref.py) and the benchmarks can time
it.  Not part of the package's API: this module is built only with the CMake
option FASTMLP_KERNEL_TWINS (on by default; the released wheels turn it off,
see pyproject.toml), and the tests that need it skip without it.

Same conventions as ``_engine``: shapes, dtypes and layouts are checked before
the engine touches memory, which then runs with the GIL released.
"""
from libc.stdint cimport int64_t, uint64_t

import numpy as np

from fastmlp._capi cimport *
from fastmlp._engine cimport Input, _address, _as_input, api_of
from fastmlp._engine import (ACTIVATIONS, GEMM_KERNELS, LOSS_PARAM_DEFAULTS, LOSSES,
                             OUTPUT_ACTIVATIONS,
                             _check_array, _check_seed, _float_dtype)

start_engine()


cdef _check_csr_structure(Input x):
    """The structure checks the engine's whole-network calls make at their
    start, for the kernel twins, which call the CSR kernels directly: indptr
    non-decreasing, column indices in [0, n_cols)."""
    data, indptr, indices = x.keep
    nnz = indptr[x.shape[0]]
    if (indptr.shape[0] > 1 and np.any(indptr[1:] < indptr[:-1])) or \
            (nnz > 0 and (indices[:nnz].min() < 0 or indices[:nnz].max() >= x.shape[1])):
        raise ValueError("malformed CSR matrix")




def _activation_code(name, leaky_relu_slope):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    if not leaky_relu_slope >= 0:
        raise ValueError(f"leaky_relu_slope must be >= 0, got {leaky_relu_slope}")
    return ACTIVATIONS[name]


def bias_activation(x, bias, activation, leaky_relu_slope=0.01):
    """x (B, OUT) := act(x + bias) in place; bias (OUT,) or None."""
    dtype = _float_dtype(x, "x")
    _check_array(x, "x", dtype, (None, None), True)
    if bias is not None:
        _check_array(bias, "bias", dtype, (x.shape[1],))
    cdef int code = _activation_code(activation, leaky_relu_slope)
    cdef void *xp = _address(x)
    cdef void *bp = NULL if bias is None else _address(bias)
    cdef int64_t n_rows = x.shape[0]
    cdef int n_cols = x.shape[1]
    cdef double slope = leaky_relu_slope
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        api.bias_activation(xp, bp, n_rows, n_cols, code, slope)
    return x


def activation_backward(delta, a, activation, leaky_relu_slope=0.01):
    """delta := delta * act'(z), from the saved output a (same shape), in place
    (for 'gelu' and 'swish', a is the pre-activation z)."""
    dtype = _float_dtype(delta, "delta")
    _check_array(delta, "delta", dtype, delta.shape, True)
    _check_array(a, "a", dtype, delta.shape)
    if activation == "softmax":
        raise ValueError("softmax's derivative is fused into the cross-entropy loss")
    cdef int code = _activation_code(activation, leaky_relu_slope)
    cdef void *dp = _address(delta)
    cdef void *ap = _address(a)
    cdef int64_t n = delta.size
    cdef double slope = leaky_relu_slope
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        api.activation_backward(dp, ap, n, code, slope)
    return delta


def loss_delta(z, y, loss, sample_weight=None, loss_param=None):
    """Output-layer loss of pre-activations z (B, O) against y (B, O);
    loss_param: Huber's delta or the quantile (None: LOSS_PARAM_DEFAULTS).

    Returns (sum_i sw_i loss_i, delta = d/dz of that sum, output activation)."""
    dtype = _float_dtype(z, "z")
    _check_array(z, "z", dtype, (None, None))
    _check_array(y, "y", dtype, z.shape)
    if sample_weight is not None:
        _check_array(sample_weight, "sample_weight", dtype, (z.shape[0],))
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}")
    a = bias_activation(z.copy(), None, OUTPUT_ACTIVATIONS[loss])
    delta = np.empty_like(z)
    cdef void *dp = _address(delta)
    cdef void *zp = _address(z)
    cdef void *ap = _address(a)
    cdef void *yp = _address(y)
    cdef void *swp = NULL if sample_weight is None else _address(sample_weight)
    cdef int64_t n_rows = z.shape[0]
    cdef int n_outputs = z.shape[1]
    cdef int code = LOSSES[loss]
    cdef double param = (LOSS_PARAM_DEFAULTS.get(loss, 0.0) if loss_param is None
                         else float(loss_param))
    cdef double total
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        total = api.loss_delta(dp, zp, ap, yp, swp, n_rows, n_outputs, code, param)
    return total, delta, a


def _kernel_code(gemm):
    if gemm not in GEMM_KERNELS:
        raise ValueError(f"gemm must be one of {GEMM_KERNELS}, got {gemm!r}")
    return GEMM_KERNELS.index(gemm)


def dense_forward(inp, weight, bias, activation, leaky_relu_slope=0.01, gemm="blas"):
    """act(inp (B, IN) . weight (IN, OUT) + bias), the product by `gemm`
    ('blas' or 'own'); inp may be CSR."""
    dtype = _float_dtype(weight, "weight")
    _check_array(weight, "weight", dtype, (None, None))
    fan_in, fan_out = weight.shape
    _check_array(bias, "bias", dtype, (fan_out,))
    n_rows = inp.shape[0]
    out = np.empty((n_rows, fan_out), dtype=dtype)
    cdef int code = _activation_code(activation, leaky_relu_slope)
    cdef Input x = _as_input(inp, dtype, fan_in)
    if x.c.csr_data != NULL:
        _check_csr_structure(x)
    cdef void *op = _address(out)
    cdef const void *ip = x.c.dense
    cdef void *wp = _address(weight)
    cdef void *bp = _address(bias)
    cdef int b = n_rows, fi = fan_in, fo = fan_out
    cdef double slope = leaky_relu_slope
    cdef int kernel_code = _kernel_code(gemm)
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        if x.c.csr_data != NULL:
            api.csr_dense_forward(op, &x.c, NULL, 0, wp, bp, b, fo, code, slope)
        else:
            api.dense_forward(op, ip, wp, bp, b, fi, fo, code, slope, kernel_code)
    return out


def dense_backward(dout, inp, weight, gemm="blas"):
    """(dinp, dweight, dbias) of a dense layer from dout (B, OUT), both
    products by `gemm` ('blas' or 'own'); dinp is None for a CSR input."""
    dtype = _float_dtype(weight, "weight")
    _check_array(weight, "weight", dtype, (None, None))
    fan_in, fan_out = weight.shape
    n_rows = inp.shape[0]
    _check_array(dout, "dout", dtype, (n_rows, fan_out))
    cdef Input x = _as_input(inp, dtype, fan_in)
    if x.c.csr_data != NULL:
        _check_csr_structure(x)
    dweight = np.empty((fan_in, fan_out), dtype=dtype)
    dbias = np.empty(fan_out, dtype=dtype)
    dinp = None if x.c.csr_data != NULL else np.empty((n_rows, fan_in), dtype=dtype)
    scratch = np.empty(fan_in * fan_out, dtype=dtype)
    cdef void *sp_ = _address(scratch)
    cdef int kernel_code = _kernel_code(gemm)
    cdef void *dip = NULL if dinp is None else _address(dinp)
    cdef void *dwp = _address(dweight)
    cdef void *dbp = _address(dbias)
    cdef void *dop = _address(dout)
    cdef const void *ip = x.c.dense
    cdef void *wp = _address(weight)
    cdef int b = n_rows, fi = fan_in, fo = fan_out
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        if x.c.csr_data != NULL:
            api.csr_dense_backward(dwp, dbp, dop, &x.c, NULL, 0, b, fo)
        else:
            api.dense_backward(dip, dwp, dbp, dop, ip, wp, b, fi, fo, kernel_code, kernel_code,
                               sp_)
    return dinp, dweight, dbias


def batch_norm_forward(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None,
                       momentum=0.1):
    """Training-mode batch normalization of x (B, OUT), in place.  Returns
    (x, xhat, inv_std); running_mean/var (OUT,), when given, are updated."""
    dtype = _float_dtype(x, "x")
    _check_array(x, "x", dtype, (None, None), True)
    n_rows, n_cols = x.shape
    if n_rows < 1 or n_cols < 1:
        raise ValueError("batch norm needs at least one row and one column")
    _check_array(gamma, "gamma", dtype, (n_cols,))
    _check_array(beta, "beta", dtype, (n_cols,))
    if (running_mean is None) != (running_var is None):
        raise ValueError("give both running_mean and running_var, or neither")
    if running_mean is not None:
        _check_array(running_mean, "running_mean", dtype, (n_cols,), True)
        _check_array(running_var, "running_var", dtype, (n_cols,), True)
    if not eps > 0 or not 0 <= momentum <= 1:
        raise ValueError(f"need eps > 0 and momentum in [0, 1], got {eps}, {momentum}")
    xhat = np.empty_like(x)
    stats = np.empty(2 * n_cols, dtype=dtype)
    cdef void *xp = _address(x)
    cdef void *hp = _address(xhat)
    cdef void *sp_ = _address(stats)
    cdef void *gp = _address(gamma)
    cdef void *bp = _address(beta)
    cdef void *mp = NULL if running_mean is None else _address(running_mean)
    cdef void *vp = NULL if running_var is None else _address(running_var)
    cdef int b = n_rows, c = n_cols
    cdef double e = eps, m = momentum
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        api.batch_norm_forward(xp, hp, sp_, gp, bp, b, c, e, mp, vp, m)
    return x, xhat, stats[n_cols:]


def batch_norm_backward(delta, xhat, inv_std, gamma):
    """(d loss / d x, dgamma, dbeta) from delta = d loss / d output; delta is
    overwritten with d loss / d x."""
    dtype = _float_dtype(delta, "delta")
    _check_array(delta, "delta", dtype, (None, None), True)
    n_rows, n_cols = delta.shape
    _check_array(xhat, "xhat", dtype, delta.shape)
    _check_array(inv_std, "inv_std", dtype, (n_cols,))
    _check_array(gamma, "gamma", dtype, (n_cols,))
    dgamma = np.empty(n_cols, dtype=dtype)
    dbeta = np.empty(n_cols, dtype=dtype)
    cdef void *dp = _address(delta)
    cdef void *hp = _address(xhat)
    cdef void *ip = _address(inv_std)
    cdef void *gp = _address(gamma)
    cdef void *dgp = _address(dgamma)
    cdef void *dbp = _address(dbeta)
    cdef int b = n_rows, c = n_cols
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        api.batch_norm_backward(dp, hp, ip, gp, b, c, dgp, dbp)
    return delta, dgamma, dbeta


def dropout(x, rows, unit_offset, seed, rate):
    """x (B, OUT) * keep / (1 - rate), a new array; rows: the samples' indices
    (int64, (B,)), which with seed and unit_offset + column fix the mask."""
    dtype = _float_dtype(x, "x")
    _check_array(x, "x", dtype, (None, None))
    _check_array(rows, "rows", np.int64, (x.shape[0],))
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    out = np.empty_like(x)
    cdef void *op = _address(out)
    cdef void *ip = _address(x)
    cdef const int64_t *rp = <const int64_t *>_address(rows)
    cdef int b = x.shape[0], c = x.shape[1]
    cdef int64_t offset = unit_offset
    cdef uint64_t s = _check_seed(seed)
    cdef double r = rate
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        api.dropout(op, ip, b, c, rp, 0, offset, s, r)
    return out


def dropout_keep(seed, sample, unit, rate):
    """Whether dropout keeps (True) unit `unit` of sample `sample`."""
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    return bool(fm_dropout_keep(_check_seed(seed), sample, unit, rate))
