# cython: language_level=3, boundscheck=False, wraparound=False
"""Bindings of the C engine (csrc/).

Every function checks shapes, dtypes and layouts in Python and raises
ValueError before the engine touches memory; the engine then runs with the
GIL released.  Arrays are float32 or float64; all arrays of one call share the
dtype of the parameter vector.  Sparse input is a scipy.sparse CSR matrix.

The C API is declared in _capi.pxd; the kernels' single-call twins, which
only the tests and benchmarks use, are in _kernels.pyx.
"""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_ANY_CONTIGUOUS
from cpython.exc cimport PyErr_CheckSignals
from scipy.linalg.cython_blas cimport sgemm, dgemm

import operator

import numpy as np
import scipy.sparse as sp

from fastmlp._capi cimport *

cdef extern from "<dlfcn.h>" nogil:
    ctypedef struct Dl_info:
        const char *dli_fname
    int dladdr(const void *addr, Dl_info *info)

start_engine()


def gemm_isa():
    """Instruction set of the engine's own GEMM kernel on this CPU."""
    return fm_gemm_isa().decode()


# fm_gemm_kernel and fm_product, by name (index = the header's code)
GEMM_KERNELS = ("blas", "own")
PRODUCTS = ("forward", "weight_grad", "input_grad")
assert (FM_GEMM_BLAS, FM_GEMM_OWN, FM_N_KERNELS) == (0, 1, len(GEMM_KERNELS))
assert (FM_PRODUCT_FORWARD, FM_PRODUCT_WEIGHT_GRAD, FM_PRODUCT_INPUT_GRAD,
        FM_N_PRODUCTS) == (0, 1, 2, len(PRODUCTS))


def time_product(dtype, product, n_rows, fan_in, fan_out):
    """Seconds one call of a dense layer's product takes with each kernel:
    {'blas': s, 'own': s}, each the fastest of several samples taken in turns.
    product: one of PRODUCTS; the layer: n_rows (B) x fan_in -> fan_out."""
    cdef const fm_api *api = api_of(np.dtype(dtype))
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}; expected one of {PRODUCTS}")
    cdef int code = PRODUCTS.index(product)
    cdef int b = _check_rows(n_rows, "n_rows"), fi = _check_rows(fan_in, "fan_in")
    cdef int fo = _check_rows(fan_out, "fan_out")
    cdef double seconds[2]
    cdef int status
    with nogil:
        status = api.time_product(code, b, fi, fo, seconds)
    _check_status(status, [])
    return {name: seconds[i] for i, name in enumerate(GEMM_KERNELS)}

# The engine's names, each bound to its code in fastmlp.h (the codes come from
# the header at compile time; nothing here restates them).
ACTIVATIONS = {"identity": FM_ACT_IDENTITY, "logistic": FM_ACT_LOGISTIC,
               "tanh": FM_ACT_TANH, "relu": FM_ACT_RELU, "leaky_relu": FM_ACT_LEAKY_RELU,
               "softmax": FM_ACT_SOFTMAX, "exp": FM_ACT_EXP, "elu": FM_ACT_ELU,
               "gelu": FM_ACT_GELU, "swish": FM_ACT_SWISH}
HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a not in ("softmax", "exp"))
LOSSES = {"squared_error": FM_LOSS_SQUARED_ERROR, "cross_entropy": FM_LOSS_CROSS_ENTROPY,
          "binary_cross_entropy": FM_LOSS_BINARY_CROSS_ENTROPY,
          "poisson": FM_LOSS_POISSON, "absolute_error": FM_LOSS_ABSOLUTE_ERROR,
          "huber": FM_LOSS_HUBER, "quantile": FM_LOSS_QUANTILE}
# The losses that take a parameter (Network's loss_param), with its default:
# Huber's delta, and the quantile of the pinball loss.
LOSS_PARAM_DEFAULTS = {"huber": 1.0, "quantile": 0.5}
OPTIMIZERS = {"sgd": FM_OPT_SGD, "adam": FM_OPT_ADAM, "rmsprop": FM_OPT_RMSPROP,
              "adamw": FM_OPT_ADAMW}
# Each loss's output activation, as the engine applies it (its canonical link).
_ACTIVATION_NAMES = {code: name for name, code in ACTIVATIONS.items()}
OUTPUT_ACTIVATIONS = {loss: _ACTIVATION_NAMES[fm_loss_output_activation(code)]
                      for loss, code in LOSSES.items()}


def blas_library():
    """Path of the module whose GEMM the engine calls (scipy.linalg.cython_blas,
    which forwards to the OpenBLAS bundled with scipy)."""
    cdef Dl_info info
    if dladdr(<const void *>dgemm, &info) == 0 or info.dli_fname == NULL:
        return None
    return info.dli_fname.decode()


# Rows per chunk for prediction and full-batch gradients: large enough for
# efficient GEMMs, small enough that the workspace stays a few MB per layer.
DEFAULT_CHUNK_ROWS = 4096
_INT_MAX = 2**31 - 1


cdef int _check_signals(void *ctx) noexcept nogil:
    """Interrupt callback: 1 (stop) when a Python signal handler raised; the
    exception is stored in the list `ctx` and re-raised after the call."""
    with gil:
        try:
            PyErr_CheckSignals()
        except BaseException as exc:
            (<list>ctx).append(exc)
            return 1
    return 0


cdef void *_address(arr):
    return <void *><size_t>arr.__array_interface__["data"][0]


def _float_dtype(arr, name):
    """The dtype of arr, which must be a float32 or float64 ndarray."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {arr.dtype}")
    return arr.dtype


def _dtype_of(params):
    if isinstance(params, np.ndarray) and params.ndim != 1:
        raise ValueError("params must be 1-D")
    return _float_dtype(params, "params")


def _check_array(arr, name, dtype, shape, writeable=False):
    """A C-contiguous ndarray of `dtype` and `shape` (None matches any size)."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    if arr.ndim != len(shape) or any(s is not None and s != a
                                     for s, a in zip(shape, arr.shape)):
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writeable and not arr.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return arr


def _check_status(int status, list errors):
    if status == FM_OK:
        return
    if status == FM_ERR_INTERRUPTED:
        raise errors[0]
    if status == FM_ERR_NOMEM:
        raise MemoryError("fastmlp engine: could not allocate its workspace")
    raise ValueError("fastmlp engine: invalid arguments (sizes, sample indices or "
                     "sparse structure)")


cdef const fm_api *api_of(dtype) except NULL:
    """The engine's entry points for data of dtype (float32 or float64): the
    one place where the dtype picks the C functions."""
    if dtype == np.float32:
        return fm_api_of(FM_FLOAT32)
    if dtype == np.float64:
        return fm_api_of(FM_FLOAT64)
    raise ValueError(f"dtype must be float32 or float64, got {dtype}")


cdef class Network:
    """Shape and fixed hyper-parameters of an MLP, as the engine sees them.

    layer_sizes: n_features, hidden sizes..., n_outputs.
    activations: one name per hidden layer.
    loss: one of LOSSES; it fixes the output activation (its canonical link).
    loss_param: Huber's delta (> 0) or the quantile (in (0, 1)) for those
    losses (None: LOSS_PARAM_DEFAULTS); ignored by the others.
    gemm: who computes the layers' products: 'blas' or 'own' (the engine's
    kernel) for all, or None: a plan per network shape, timed on this
    machine and remembered by fastmlp._kernel_choice (FASTMLP_GEMM
    overrides).
    n_threads: threads of the engine's parallel optimizer update and
    prediction chunks, at most (a call's plan may use one: see _net_for_call).
    l1: L1 penalty on the weights, beside alpha's L2.
    dropout: None or one rate in [0, 1) per hidden layer (inverted dropout of
    its output while training).
    batch_norm: None or one flag per hidden layer; its scale and shift follow
    the biases in the parameter vector (batch_norm_slices), and training
    keeps running statistics (2 * batch_norm_units values: means, variances).
    """
    cdef fm_net net
    cdef int[::1] _sizes
    cdef int[::1] _activations
    cdef double[::1] _dropout
    cdef int[::1] _batch_norm
    cdef readonly tuple layer_sizes
    cdef readonly tuple hidden_activations
    cdef readonly str loss
    cdef readonly double leaky_relu_slope, alpha, data_loss_scale, l1
    cdef readonly object gemm
    cdef readonly int n_threads
    cdef readonly tuple dropout, batch_norm
    cdef readonly double batch_norm_momentum, batch_norm_eps
    cdef readonly double loss_param

    def __init__(self, layer_sizes, hidden_activations, loss, *, leaky_relu_slope=0.01,
                 alpha=0.0, data_loss_scale=1.0, gemm=None, l1=0.0, dropout=None, batch_norm=None, batch_norm_momentum=0.1,
                 batch_norm_eps=1e-5, n_threads=1, loss_param=None):
        sizes = [int(s) for s in layer_sizes]
        if len(sizes) < 2 or any(s < 1 or s > _INT_MAX for s in sizes):
            raise ValueError(f"layer sizes must be at least two integers in [1, 2**31), "
                             f"got {layer_sizes}")
        hidden = list(hidden_activations)
        if len(hidden) != len(sizes) - 2:
            raise ValueError(f"{len(sizes) - 2} hidden layers need as many activations, "
                             f"got {len(hidden)}")
        for name in hidden:
            if name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"unknown hidden activation {name!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
        if loss_param is None:
            loss_param = LOSS_PARAM_DEFAULTS.get(loss, 0.0)
        loss_param = float(loss_param)
        if loss == "huber" and not 0 < loss_param < np.inf:
            raise ValueError(f"Huber's delta must be finite and > 0, got {loss_param}")
        if loss == "quantile" and not 0 < loss_param < 1:
            raise ValueError(f"the quantile must be in (0, 1), got {loss_param}")
        if not leaky_relu_slope >= 0:
            raise ValueError(f"leaky_relu_slope must be >= 0, got {leaky_relu_slope}")
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if not 0 <= data_loss_scale < np.inf:
            raise ValueError(f"data_loss_scale must be finite and >= 0, got {data_loss_scale}")
        if not l1 >= 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        n_hidden = len(sizes) - 2
        rates = [0.0] * n_hidden if dropout is None else [float(r) for r in dropout]
        flags = [False] * n_hidden if batch_norm is None else [bool(f) for f in batch_norm]
        if len(rates) != n_hidden or len(flags) != n_hidden:
            raise ValueError(f"dropout and batch_norm need one entry per hidden layer "
                             f"({n_hidden})")
        if not all(0 <= r < 1 for r in rates):
            raise ValueError(f"dropout rates must be in [0, 1), got {dropout}")
        if not 0 <= batch_norm_momentum <= 1:
            raise ValueError(f"batch_norm_momentum must be in [0, 1], got "
                             f"{batch_norm_momentum}")
        if not batch_norm_eps > 0:
            raise ValueError(f"batch_norm_eps must be > 0, got {batch_norm_eps}")
        if gemm is not None and gemm not in GEMM_KERNELS:
            raise ValueError(f"gemm must be None, 'blas' or 'own', got {gemm!r}")
        n_threads = _check_threads(n_threads)
        self.layer_sizes = tuple(sizes)
        self.hidden_activations = tuple(hidden)
        self.loss = loss
        self.loss_param = loss_param
        self.leaky_relu_slope = leaky_relu_slope
        self.alpha = alpha
        self.data_loss_scale = data_loss_scale
        self.gemm = gemm
        self.n_threads = n_threads
        self.l1 = l1
        self.dropout = tuple(rates)
        self.batch_norm = tuple(flags)
        self.batch_norm_momentum = batch_norm_momentum
        self.batch_norm_eps = batch_norm_eps
        self._sizes = np.array(sizes, dtype=np.intc)
        # one spare entry: a memoryview of an empty array has no address
        self._dropout = np.array(rates + [0.0], dtype=np.float64)
        self._batch_norm = np.array([int(f) for f in flags] + [0], dtype=np.intc)
        acts = [ACTIVATIONS[a] for a in hidden]
        acts.append(fm_loss_output_activation(LOSSES[loss]))
        self._activations = np.array(acts, dtype=np.intc)
        self.net.n_layers = len(sizes) - 1
        self.net.layer_sizes = &self._sizes[0]
        self.net.activations = &self._activations[0]
        self.net.loss = LOSSES[loss]
        self.net.leaky_relu_slope = leaky_relu_slope
        self.net.alpha = alpha
        self.net.data_loss_scale = data_loss_scale
        self.net.gemm_kernels = NULL  # a plan per call: see _plan
        self.net.n_threads = n_threads
        self.net.l1 = l1
        self.net.dropout = &self._dropout[0] if any(rates) else NULL
        self.net.dropout_seed = 0
        self.net.batch_norm = &self._batch_norm[0] if any(flags) else NULL
        self.net.batch_norm_momentum = batch_norm_momentum
        self.net.batch_norm_eps = batch_norm_eps
        self.net.running_stats = NULL
        self.net.loss_param = loss_param
        self.net.mixup_lambda = NULL  # augmentation: per train_epoch call
        self.net.mixup_partner = NULL
        self.net.input_noise = NULL
        self.net.noise_seed = 0
        if fm_check_net(&self.net) != FM_OK:
            raise ValueError("inconsistent network description")

    def __reduce__(self):
        return (_rebuild_network, (self.layer_sizes, self.hidden_activations, self.loss,
                                   self.leaky_relu_slope, self.alpha, self.data_loss_scale,
                                   self.gemm, self.l1, self.dropout,
                                   self.batch_norm, self.batch_norm_momentum,
                                   self.batch_norm_eps, self.n_threads, self.loss_param))

    @property
    def n_params(self):
        return fm_n_params(&self.net)

    @property
    def n_outputs(self):
        return self.layer_sizes[len(self.layer_sizes) - 1]

    @property
    def output_activation(self):
        return OUTPUT_ACTIVATIONS[self.loss]

    def coef_slices(self):
        """(start, stop, shape) of each layer's weights in the parameter vector."""
        return _layout(&self.net)[0]

    def intercept_slices(self):
        """(start, stop) of each layer's biases in the parameter vector."""
        return _layout(&self.net)[1]

    def batch_norm_slices(self):
        """Per hidden layer: the start of its batch-norm scale (its shift
        follows, as many entries) in the parameter vector, or None."""
        return _layout(&self.net)[2]

    @property
    def batch_norm_units(self):
        return fm_batch_norm_units(&self.net)

    @property
    def n_weights(self):
        """Entries of the parameter vector that are weights (penalized)."""
        return fm_weight_offset(&self.net, self.net.n_layers)


cdef tuple _layout(const fm_net *net):
    """(coef slices, intercept slices, batch-norm starts, n_params): where the
    engine (csrc/net.c, the one definition) puts each part of the network in
    the flat parameter vector."""
    sizes = [net.layer_sizes[l] for l in range(net.n_layers + 1)]
    coefs, intercepts, batch_norm = [], [], []
    for l in range(net.n_layers):
        start = fm_weight_offset(net, l)
        shape = (sizes[l], sizes[l + 1])
        coefs.append((start, start + shape[0] * shape[1], shape))
        start = fm_bias_offset(net, l)
        intercepts.append((start, start + sizes[l + 1]))
    for l in range(net.n_layers - 1):
        start = fm_batch_norm_offset(net, l)
        batch_norm.append(None if start < 0 else start)
    return coefs, intercepts, batch_norm, fm_n_params(net)


def parameter_layout(layer_sizes, batch_norm=None):
    """The engine's layout of the parameter vector of a network with these
    layer sizes (n_features, hidden..., n_outputs, each in [1, 2**31)) and
    batch-normalized hidden layers (one flag each, None for none), without
    building a Network: (coef slices (start, stop, shape), intercept slices
    (start, stop), batch-norm starts (the scale's; the shift follows) or None
    per hidden layer, n_params)."""
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or any(s < 1 or s > _INT_MAX for s in sizes):
        raise ValueError(f"layer sizes must be at least two integers in [1, 2**31), "
                         f"got {layer_sizes}")
    n_hidden = len(sizes) - 2
    flags = [False] * n_hidden if batch_norm is None else [bool(f) for f in batch_norm]
    if len(flags) != n_hidden:
        raise ValueError(f"batch_norm needs one entry per hidden layer ({n_hidden})")
    cdef int[::1] c_sizes = np.array(sizes, dtype=np.intc)
    cdef int[::1] c_flags = np.array([int(f) for f in flags] + [0], dtype=np.intc)
    cdef fm_net net
    memset(&net, 0, sizeof(net))
    net.n_layers = len(sizes) - 1
    net.layer_sizes = &c_sizes[0]
    net.batch_norm = &c_flags[0]
    return _layout(&net)


def _rebuild_network(layer_sizes, hidden_activations, loss, slope, alpha, scale,
                     gemm, l1, dropout, batch_norm, batch_norm_momentum,
                     batch_norm_eps, n_threads, loss_param=None):
    return Network(layer_sizes, hidden_activations, loss, leaky_relu_slope=slope,
                   alpha=alpha, data_loss_scale=scale, gemm=gemm,
                   l1=l1, dropout=dropout, batch_norm=batch_norm,
                   batch_norm_momentum=batch_norm_momentum, batch_norm_eps=batch_norm_eps,
                   n_threads=n_threads, loss_param=loss_param)


# The most threads the engine's parallel update takes (its parts limit it
# further): beyond, thread start-up outweighs any gain for MLP-sized vectors.
MAX_THREADS = 64


def _check_threads(n_threads):
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or not (
            1 <= n_threads <= MAX_THREADS):
        raise ValueError(f"n_threads must be an integer in [1, {MAX_THREADS}], "
                         f"got {n_threads!r}")
    return int(n_threads)


def _plan(Network net, dtype, n_rows, training, dense):
    """Who computes each product of each layer for calls of up to n_rows
    rows (see fm_net.gemm_kernels): bytes, FM_N_PRODUCTS per layer, then
    one for the engine's threads (see _net_for_call)."""
    from fastmlp import _kernel_choice
    steps = _kernel_choice.StepTimer(net, dtype, _kernel_choice.rows_bucket(n_rows), training,
                                     dense)
    return _kernel_choice.plan(net.layer_sizes, dtype, n_rows, training=training,
                               dense=dense, kernel=net.gemm, time_product=time_product,
                               time_plans=steps)


cdef fm_net _net_for_call(Network net, uint64_t dropout_seed, running_stats, dtype,
                          bytes plan):
    """The net's C description with one call's dropout seed, running
    statistics (which training updates in place) and plan (which the caller
    keeps alive during the call): the kernel of each product, FM_N_PRODUCTS
    per layer (fm_net.gemm_kernels), then the engine's threads for the call
    (its optimizer update, its prediction chunks): 0 for one, 1 for the
    network's n_threads.  Either gives the same bits."""
    cdef fm_net c = net.net
    if len(plan) != FM_N_PRODUCTS * c.n_layers + 1 or plan[len(plan) - 1] > 1:
        raise ValueError(f"a plan of {len(plan)} entries for {c.n_layers} layers")
    c.gemm_kernels = <const unsigned char *>plan
    if plan[len(plan) - 1] == 0:
        c.n_threads = 1
    c.dropout_seed = dropout_seed
    c.running_stats = NULL
    if running_stats is not None:
        _check_array(running_stats, "running_stats", dtype, (2 * net.batch_norm_units,),
                     True)
        if net.batch_norm_units:
            c.running_stats = _address(running_stats)
    return c


def _check_seed(seed):
    """A dropout seed: an integer (Python or NumPy) in [0, 2**64); a float
    is refused rather than truncated."""
    try:
        value = operator.index(seed)
    except TypeError:
        raise ValueError(f"dropout_seed must be an integer in [0, 2**64), got {seed!r}") \
            from None
    if not 0 <= value < 2**64:
        raise ValueError(f"dropout_seed must be in [0, 2**64), got {seed!r}")
    return value


cdef class Optimizer:
    """Settings and state of a first-order optimizer over a flat parameter
    vector: 'sgd' (momentum, Nesterov), 'adam', 'adamw' (Adam with decoupled
    weight_decay of the weights) or 'rmsprop' (decay beta_2).  max_grad_norm
    > 0 clips each gradient to that Euclidean norm.  `learning_rate` may be
    changed between calls (schedules); `step` counts updates (Adam's bias
    correction)."""
    cdef readonly str kind
    cdef public double learning_rate, momentum, beta_1, beta_2, epsilon
    cdef public double weight_decay, max_grad_norm
    cdef public bint nesterov
    cdef public int64_t step
    cdef readonly object moment_1, moment_2

    def __init__(self, kind, n_params, dtype, *, learning_rate=0.001, momentum=0.9,
                 nesterov=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8, step=0,
                 moment_1=None, moment_2=None, weight_decay=0.0, max_grad_norm=0.0):
        if kind not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {kind!r}; expected one of "
                             f"{sorted(OPTIMIZERS)}")
        if not weight_decay >= 0 or not max_grad_norm >= 0:
            raise ValueError(f"weight_decay and max_grad_norm must be >= 0, got "
                             f"{weight_decay} and {max_grad_norm}")
        dtype = np.dtype(dtype)
        self.kind = kind
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.step = step
        self.moment_1 = (np.zeros(n_params, dtype) if moment_1 is None
                         else _check_array(moment_1, "moment_1", dtype, (n_params,), True))
        self.moment_2 = (np.zeros(n_params, dtype) if moment_2 is None
                         else _check_array(moment_2, "moment_2", dtype, (n_params,), True))

    def __reduce__(self):
        return (_rebuild_optimizer, (self.kind, self.moment_1.shape[0], self.moment_1.dtype,
                                     self.learning_rate, self.momentum, self.nesterov,
                                     self.beta_1, self.beta_2, self.epsilon, self.step,
                                     self.moment_1, self.moment_2, self.weight_decay,
                                     self.max_grad_norm))

    cdef fm_optimizer c_struct(self, params):
        cdef fm_optimizer opt
        _check_array(self.moment_1, "moment_1", params.dtype, params.shape, True)
        opt.kind = OPTIMIZERS[self.kind]
        opt.learning_rate = self.learning_rate
        opt.momentum = self.momentum
        opt.nesterov = self.nesterov
        opt.beta_1 = self.beta_1
        opt.beta_2 = self.beta_2
        opt.epsilon = self.epsilon
        opt.weight_decay = self.weight_decay
        opt.max_grad_norm = self.max_grad_norm
        opt.step = self.step
        opt.moment_1 = _address(self.moment_1)
        opt.moment_2 = _address(self.moment_2)
        return opt

    def step_params(self, params, grad, n_weights=0, n_threads=1):
        """One update of params from grad (both (P,)), in place; the first
        n_weights entries are weights (which AdamW's weight decay shrinks);
        up to n_threads threads share a long vector."""
        dtype = _dtype_of(params)
        _check_array(params, "params", dtype, (None,), True)
        _check_array(grad, "grad", dtype, params.shape)
        if not 0 <= n_weights <= params.shape[0]:
            raise ValueError(f"n_weights must be in [0, {params.shape[0]}], got {n_weights}")
        cdef fm_optimizer opt = self.c_struct(params)
        cdef int64_t n = params.shape[0]
        cdef int64_t nw = n_weights
        cdef int threads = _check_threads(n_threads)
        cdef void *p = _address(params)
        cdef void *g = _address(grad)
        cdef const fm_api *api = api_of(dtype)
        with nogil:
            api.optimizer_step(&opt, p, g, n, nw, threads)
        self.step = opt.step


def _rebuild_optimizer(kind, n_params, dtype, learning_rate, momentum, nesterov, beta_1,
                       beta_2, epsilon, step, moment_1, moment_2, weight_decay,
                       max_grad_norm):
    # a model loaded from a read-only memmap (joblib) gets writeable copies
    moment_1 = np.require(moment_1, dtype, ["C", "W"])
    moment_2 = np.require(moment_2, dtype, ["C", "W"])
    return Optimizer(kind, n_params, dtype, learning_rate=learning_rate, momentum=momentum,
                     nesterov=nesterov, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                     step=step, moment_1=moment_1, moment_2=moment_2,
                     weight_decay=weight_decay, max_grad_norm=max_grad_norm)


cdef class Input:
    """The engine's view of X: a C-contiguous dense array or a CSR matrix of
    float32/float64, kept alive.  Build it once per fit and pass it to every
    call: a CSR matrix's int32 indices are widened to int64 here, once.
    The engine still checks the CSR structure (sorted indptr, column indices
    within range) at the start of each call.  (Attributes: _engine.pxd.)"""

    def __init__(self, X, dtype=None):
        self.c.dense = NULL
        self.c.csr_data = NULL
        self.c.csr_indptr = NULL
        self.c.csr_indices = NULL
        if sp.issparse(X):
            if X.format != "csr":
                raise ValueError(f"sparse input must be CSR, got {X.format}")
            if X.ndim != 2:
                raise ValueError("X must be 2-D")
            dtype = _float_dtype(X.data, "X.data") if dtype is None else np.dtype(dtype)
            data = _check_array(X.data, "X.data", dtype, (None,))
            indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
            indices = np.ascontiguousarray(X.indices, dtype=np.int64)
            if indptr.shape[0] != X.shape[0] + 1 or indptr[0] != 0 \
                    or indices.shape[0] < indptr[X.shape[0]] \
                    or data.shape[0] < indptr[X.shape[0]]:
                raise ValueError("malformed CSR matrix")
            self.keep = (data, indptr, indices)
            self.c.csr_data = _address(data)
            self.c.csr_indptr = <const int64_t *>_address(indptr)
            self.c.csr_indices = <const int64_t *>_address(indices)
        else:
            dtype = _float_dtype(X, "X") if dtype is None else np.dtype(dtype)
            _check_array(X, "X", dtype, (None, None))
            self.keep = X
            self.c.dense = _address(X)
        self.dtype = dtype
        self.shape = (X.shape[0], X.shape[1])
        self.c.n_rows = X.shape[0]
        self.c.n_cols = X.shape[1]


cdef Input _as_input(X, dtype, int64_t n_features):
    """X as an Input of `dtype` with n_features columns (ValueError if not)."""
    cdef Input inp = X if isinstance(X, Input) else Input(X, dtype)
    if inp.dtype != dtype:
        raise ValueError(f"X has dtype {inp.dtype}, the parameters {np.dtype(dtype)}")
    if inp.shape[1] != n_features:
        raise ValueError(f"X has {inp.shape[1]} features, the network expects "
                         f"{n_features}")
    return inp


def _check_rows(value, name):
    """A row count (batch size, chunk size) the engine's int can hold."""
    if not isinstance(value, (int, np.integer)) or not 1 <= value <= _INT_MAX:
        raise ValueError(f"{name} must be an integer in [1, 2**31), got {value!r}")
    return int(value)


def _check_targets(Network net, params, X, y, sample_weight):
    """(dtype, Input) after checking params, X, y and sample_weight agree."""
    dtype = _dtype_of(params)
    _check_array(params, "params", dtype, (net.n_params,))
    inp = _as_input(X, dtype, net.layer_sizes[0])
    n_samples = inp.shape[0]
    _check_array(y, "y", dtype, (n_samples, net.n_outputs))
    if sample_weight is not None:
        _check_array(sample_weight, "sample_weight", dtype, (n_samples,))
    return dtype, inp


def workspace(Network net, dtype, max_rows, dense=True):
    """A workspace for calls of up to max_rows rows (a batch or a chunk) on
    float32/float64 data, dense or CSR: allocate it once per fit and pass it
    to every call, so no call allocates (or page-faults) memory."""
    cdef const fm_api *api = api_of(np.dtype(dtype))
    cdef int rows = _check_rows(max_rows, "max_rows")
    cdef int64_t n = api.workspace_bytes(&net.net, rows, dense)
    if n < 0:
        raise MemoryError(f"a workspace of {max_rows} rows for this network cannot exist")
    return np.empty(n, dtype=np.uint8)


cdef void *_workspace_address(ws, int64_t *n_bytes):
    """(address, size) of a caller's workspace, (NULL, 0) for None."""
    if ws is None:
        n_bytes[0] = 0
        return NULL
    _check_array(ws, "workspace", np.uint8, (None,), True)
    n_bytes[0] = ws.shape[0]
    return _address(ws)


def _augmentation_arrays(mixup_lambda, mixup_partner, input_noise, n_order, rows, n_features):
    """The checked, C-contiguous augmentation arrays of train_epoch (None
    where off): mixup_lambda (one per batch) with mixup_partner (one per
    position of order, its partner's position within its batch), and
    input_noise (a standard deviation, scalar or per feature, >= 0)."""
    if (mixup_lambda is None) != (mixup_partner is None):
        raise ValueError("mixup_lambda and mixup_partner go together")
    if mixup_lambda is not None:
        n_batches = (n_order + rows - 1) // rows
        mixup_lambda = np.ascontiguousarray(mixup_lambda, dtype=np.float64)
        _check_array(mixup_lambda, "mixup_lambda", np.float64, (n_batches,))
        if not np.all((mixup_lambda >= 0) & (mixup_lambda <= 1)):
            raise ValueError("mixup_lambda must be in [0, 1]")
        _check_array(mixup_partner, "mixup_partner", np.int64, (n_order,))
        batch_rows = np.minimum(rows, n_order - np.arange(n_order) // rows * rows)
        if n_order and not np.all((mixup_partner >= 0) & (mixup_partner < batch_rows)):
            raise ValueError("mixup_partner must be positions within each batch")
    if input_noise is not None:
        input_noise = np.ascontiguousarray(
            np.broadcast_to(np.asarray(input_noise, dtype=np.float64), (n_features,)))
        if not np.all(np.isfinite(input_noise) & (input_noise >= 0)):
            raise ValueError("input_noise must be finite and >= 0")
    return mixup_lambda, mixup_partner, input_noise


def train_epoch(Network net, params, Optimizer optimizer, X, y, sample_weight, order,
                batch_size, workspace=None, dropout_seed=0, running_stats=None, *,
                mixup_lambda=None, mixup_partner=None, input_noise=None, noise_seed=0,
                gemm_plan=None):
    """One epoch of mini-batch training, in place on params and optimizer.

    X (N, F) dense or CSR, y (N, O), sample_weight (N,) or None, order: int64
    sample indices, visited in batches of batch_size.  Returns the sum over
    batches of (batch loss, penalties included) x (rows in the batch).
    workspace: from ``workspace(net, dtype, batch_size)``, or None to allocate
    per call.  dropout_seed: the epoch's dropout masks; running_stats: the
    batch-norm running statistics, updated in place (required with batch norm).

    Augmentation of each batch (off by default): mixup_lambda (one lambda
    per batch) with mixup_partner (int64, one per position of order: the
    position, within the same batch, of the row it is blended with) blends
    inputs, targets and sample weights; input_noise (a standard deviation,
    or one per feature) adds Gaussian noise keyed by (noise_seed, sample,
    feature).  Augmented batches are dense copies (CSR rows are densified).

    gemm_plan: the kernel of each product (see _plan), or None to use the
    plan fastmlp._kernel_choice makes for this call (timing it if needed).
    """
    dtype, inp_ = _check_targets(net, params, X, y, sample_weight)
    if net.batch_norm_units and running_stats is None:
        raise ValueError("a network with batch norm trains with running_stats")
    cdef Input inp = inp_
    if not params.flags.writeable:
        raise ValueError("params must be writeable")
    _check_array(order, "order", np.int64, (None,))
    cdef int rows = _check_rows(batch_size, "batch_size")
    mixup_lambda, mixup_partner, input_noise = _augmentation_arrays(
        mixup_lambda, mixup_partner, input_noise, order.shape[0], rows, inp.shape[1])
    augment = mixup_lambda is not None or input_noise is not None
    plan = gemm_plan
    if plan is None:  # augmented batches are dense copies, CSR rows densified
        plan = _plan(net, dtype, min(rows, max(order.shape[0], 1)), True,
                     augment or inp.c.dense != NULL)
    cdef fm_net cnet = _net_for_call(net, _check_seed(dropout_seed), running_stats, dtype,
                                     plan)
    if mixup_lambda is not None and order.shape[0]:
        cnet.mixup_lambda = <const double *>_address(mixup_lambda)
        cnet.mixup_partner = <const int64_t *>_address(mixup_partner)
    if input_noise is not None:
        cnet.input_noise = <const double *>_address(input_noise)
        cnet.noise_seed = _check_seed(noise_seed)
    cdef int64_t ws_bytes
    cdef void *ws = _workspace_address(workspace, &ws_bytes)
    cdef fm_optimizer opt = optimizer.c_struct(params)
    cdef void *p = _address(params)
    cdef void *yp = _address(y)
    cdef void *swp = NULL if sample_weight is None else _address(sample_weight)
    cdef const int64_t *op = <const int64_t *>_address(order)
    cdef int64_t n_order = order.shape[0]
    cdef double loss_sum = 0
    cdef int status
    cdef list errors = []
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        status = api.train_epoch(&cnet, p, &opt, &inp.c, yp, swp, op, n_order, rows, ws,
                                 ws_bytes, _check_signals, <void *>errors, &loss_sum)
    optimizer.step = opt.step
    _check_status(status, errors)
    return loss_sum


def loss_grad(Network net, params, X, y, sample_weight=None, grad=None,
              chunk_rows=DEFAULT_CHUNK_ROWS, workspace=None, dropout_seed=0):
    """Loss (penalties included) and its gradient (P,) over all samples, full
    batch: the training objective, with dropout_seed's dropout masks and
    batch statistics over all samples (which must then fit one chunk).

    grad, when given, receives the gradient in place (no allocation);
    workspace: see ``workspace`` (rows: min(chunk_rows, N))."""
    dtype, inp_ = _check_targets(net, params, X, y, sample_weight)
    cdef Input inp = inp_
    if inp.shape[0] == 0:
        raise ValueError("loss_grad needs at least one sample")
    if net.batch_norm_units and inp.shape[0] > chunk_rows:
        raise ValueError("with batch norm, loss_grad's samples must fit one chunk "
                         f"({inp.shape[0]} > chunk_rows={chunk_rows})")
    if grad is None:
        grad = np.empty_like(params)
    _check_array(grad, "grad", dtype, params.shape, True)
    cdef int chunk = _check_rows(chunk_rows, "chunk_rows")
    plan = _plan(net, dtype, min(chunk, inp.shape[0]), True, inp.c.dense != NULL)
    cdef fm_net cnet = _net_for_call(net, _check_seed(dropout_seed), None, dtype, plan)
    cdef int64_t ws_bytes
    cdef void *ws = _workspace_address(workspace, &ws_bytes)
    cdef void *p = _address(params)
    cdef void *g = _address(grad)
    cdef void *yp = _address(y)
    cdef void *swp = NULL if sample_weight is None else _address(sample_weight)
    cdef double loss = 0
    cdef int status
    cdef list errors = []
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        status = api.loss_grad(&cnet, p, &inp.c, yp, swp, chunk, ws, ws_bytes, g, &loss,
                               _check_signals, <void *>errors)
    _check_status(status, errors)
    return loss, grad


def predict(Network net, params, X, out=None, chunk_rows=DEFAULT_CHUNK_ROWS,
            workspace=None, gemm_plan=None):
    """The network's output activation (N, O) for X, computed in chunks
    (no dropout; a network with batch norm must be folded first).
    gemm_plan: as train_epoch's."""
    if net.batch_norm_units:
        raise ValueError("predict takes a network without batch norm: fold the "
                         "running statistics into the weights first")
    dtype = _dtype_of(params)
    _check_array(params, "params", dtype, (net.n_params,))
    cdef Input inp = _as_input(X, dtype, net.layer_sizes[0])
    if out is None:
        out = np.empty((inp.shape[0], net.n_outputs), dtype=dtype)
    _check_array(out, "out", dtype, (inp.shape[0], net.n_outputs), True)
    cdef int chunk = _check_rows(chunk_rows, "chunk_rows")
    plan = gemm_plan
    if plan is None:
        plan = _plan(net, dtype, min(chunk, max(inp.shape[0], 1)), False,
                     inp.c.dense != NULL)
    cdef fm_net cnet = _net_for_call(net, 0, None, dtype, plan)
    cdef int64_t ws_bytes
    cdef void *ws = _workspace_address(workspace, &ws_bytes)
    cdef void *p = _address(params)
    cdef void *o = _address(out)
    cdef int status
    cdef list errors = []
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        status = api.predict(&cnet, p, &inp.c, chunk, ws, ws_bytes, o, _check_signals,
                             <void *>errors)
    _check_status(status, errors)
    return out


cdef void *_buffer_address(arr) except NULL:
    """The data address of a contiguous ndarray, through the buffer protocol:
    a tenth of the cost of __array_interface__ (which builds a dict), for
    the calls that run per request.  The caller keeps arr alive."""
    cdef Py_buffer view
    PyObject_GetBuffer(arr, &view, PyBUF_ANY_CONTIGUOUS)
    cdef void *address = view.buf
    PyBuffer_Release(&view)
    if address == NULL:  # an empty array's buffer may have none
        return <void *>1
    return address


cdef _check_rows_array(arr, str name, dtype, int64_t n_rows, int64_t n_cols):
    """The few checks of predict_rows: a C-contiguous ndarray of dtype, (n_rows,
    n_cols) (n_rows < 0: any), as cheap as they can be (every online call)."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    shape = arr.shape
    if len(shape) != 2 or (n_rows >= 0 and shape[0] != n_rows) or shape[1] != n_cols:
        raise ValueError(f"{name} has shape {shape}, expected ({n_rows}, {n_cols})")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def predict_rows(Network net, params, X, out, bytes plan, int chunk_rows, workspace=None):
    """out (N, O) := the network's output for the dense rows X (N, F), unless
    X holds a value that is not finite: then out is left as it was.

    Returns FINITE after predicting, or NONFINITE_NAN / NONFINITE_INF (what
    X holds: the caller raises its own error).  The lean call of prediction's
    fast path: X, params and out are C-contiguous arrays of one dtype; plan is
    the kernel plan for calls of min(N, chunk_rows) rows (``_plan``), kept by
    the caller; workspace: see ``workspace`` (None: allocated per call).  The
    check and the forward pass run in one call with the GIL released."""
    if net.batch_norm_units:
        raise ValueError("predict takes a network without batch norm: fold the "
                         "running statistics into the weights first")
    if not isinstance(params, np.ndarray):
        raise ValueError(f"params must be a numpy array, got {type(params).__name__}")
    dtype = params.dtype
    if dtype != np.float32 and dtype != np.float64:
        raise ValueError(f"params must be float32 or float64, got {dtype}")
    cdef int n_layers = net.net.n_layers
    cdef int64_t n_params = fm_n_params(&net.net)
    if params.ndim != 1 or params.shape[0] != n_params or not params.flags.c_contiguous:
        raise ValueError(f"params has shape {params.shape}, expected ({n_params},)")
    _check_rows_array(X, "X", dtype, -1, net.net.layer_sizes[0])
    cdef int64_t n_rows = X.shape[0]
    _check_rows_array(out, "out", dtype, n_rows, net.net.layer_sizes[n_layers])
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be an integer in [1, 2**31), got {chunk_rows}")
    cdef fm_net cnet = _net_for_call(net, 0, None, dtype, plan)
    cdef fm_input inp
    memset(&inp, 0, sizeof(inp))
    inp.dense = _buffer_address(X)
    inp.n_rows = n_rows
    inp.n_cols = net.net.layer_sizes[0]
    cdef int64_t ws_bytes = 0
    cdef void *ws = NULL
    if workspace is not None:
        if not isinstance(workspace, np.ndarray) or workspace.dtype != np.uint8 \
                or workspace.ndim != 1 or not workspace.flags.c_contiguous \
                or not workspace.flags.writeable:
            raise ValueError("workspace must be a writeable C-contiguous uint8 array")
        ws_bytes = workspace.shape[0]
        ws = _buffer_address(workspace)
    cdef void *p = _buffer_address(params)
    cdef void *o = _buffer_address(out)
    cdef int status = FM_OK, finiteness
    cdef list errors = []
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        finiteness = api.nonfinite(inp.dense, n_rows * inp.n_cols)
        if finiteness == FM_FINITE:
            status = api.predict(&cnet, p, &inp, chunk_rows, ws, ws_bytes, o, _check_signals,
                                 <void *>errors)
    _check_status(status, errors)
    return finiteness


FINITE = FM_FINITE
NONFINITE_INF = FM_NONFINITE_INF
NONFINITE_NAN = FM_NONFINITE_NAN


def nonfinite(X):
    """FINITE, NONFINITE_NAN or NONFINITE_INF: what the C-contiguous float32
    or float64 array X holds (the engine's check of predict_rows)."""
    dtype = _float_dtype(X, "X")
    if not X.flags.c_contiguous:
        raise ValueError("X must be C-contiguous")
    cdef int64_t n = X.size
    cdef void *x = _address(X)
    cdef int found
    cdef const fm_api *api = api_of(dtype)
    with nogil:
        found = api.nonfinite(x, n)
    return found
