# cython: language_level=3, boundscheck=False, wraparound=False
"""Bindings of the C engine (csrc/).

Every function checks shapes, dtypes and layouts in Python and raises
ValueError before the engine touches memory; the engine then runs with the
GIL released.  Arrays are float32 or float64; all arrays of one call share the
dtype of the parameter vector.  Sparse input is a scipy.sparse CSR matrix.
"""
from libc.stdint cimport int64_t, uint64_t
from cpython.exc cimport PyErr_CheckSignals
from scipy.linalg.cython_blas cimport sgemm, dgemm

import operator

import numpy as np
import scipy.sparse as sp

cdef extern from "fastmlp.h" nogil:
    ctypedef struct fm_net:
        int n_layers
        const int *layer_sizes
        const int *activations
        int loss
        double leaky_relu_slope
        double alpha
        double data_loss_scale
        double small_gemm_max
        int n_threads
        double l1
        const double *dropout
        uint64_t dropout_seed
        const int *batch_norm
        double batch_norm_momentum
        double batch_norm_eps
        void *running_stats

    ctypedef struct fm_input:
        int64_t n_rows
        int64_t n_cols
        const void *dense
        const void *csr_data
        const int64_t *csr_indptr
        const int64_t *csr_indices

    ctypedef struct fm_optimizer:
        int kind
        double learning_rate
        double momentum
        int nesterov
        double beta_1
        double beta_2
        double epsilon
        double weight_decay
        double max_grad_norm
        int64_t step
        void *moment_1
        void *moment_2

    ctypedef int (*fm_interrupt_fn)(void *ctx) noexcept nogil
    ctypedef void (*fm_sgemm_fn)(char *, char *, int *, int *, int *, float *, float *,
                                 int *, float *, int *, float *, float *, int *) noexcept nogil
    ctypedef void (*fm_dgemm_fn)(char *, char *, int *, int *, int *, double *, double *,
                                 int *, double *, int *, double *, double *, int *) noexcept nogil

    ctypedef enum fm_activation:
        FM_ACT_IDENTITY, FM_ACT_LOGISTIC, FM_ACT_TANH, FM_ACT_RELU, FM_ACT_LEAKY_RELU,
        FM_ACT_SOFTMAX, FM_ACT_EXP, FM_ACT_ELU, FM_ACT_GELU, FM_ACT_SWISH
    ctypedef enum fm_loss:
        FM_LOSS_SQUARED_ERROR, FM_LOSS_CROSS_ENTROPY, FM_LOSS_BINARY_CROSS_ENTROPY,
        FM_LOSS_POISSON
    ctypedef enum fm_optimizer_kind:
        FM_OPT_SGD, FM_OPT_ADAM, FM_OPT_RMSPROP, FM_OPT_ADAMW
    ctypedef enum fm_status:
        FM_OK, FM_ERR_NOMEM, FM_ERR_INTERRUPTED, FM_ERR_INVALID
    double FM_SMALL_GEMM_DEFAULT

    void fm_set_blas(fm_sgemm_fn sgemm, fm_dgemm_fn dgemm)
    int fm_detect_cpu(const char *max_isa)
    const char *fm_gemm_isa()
    int fm_gemm_vectorized()
    int fm_loss_output_activation(int loss)
    int64_t fm_n_params(const fm_net *net)
    int64_t fm_weight_offset(const fm_net *net, int layer)
    int64_t fm_bias_offset(const fm_net *net, int layer)
    int64_t fm_batch_norm_offset(const fm_net *net, int layer)
    int64_t fm_batch_norm_units(const fm_net *net)
    int fm_dropout_keep(uint64_t seed, int64_t sample, int64_t unit, double rate)
    int fm_check_net(const fm_net *net)

    void fm_batch_norm_forward_f32(float *x, float *xhat, float *stats, const float *gamma,
                                   const float *beta, int n_rows, int n_cols, double eps,
                                   float *running_mean, float *running_var, double momentum)
    void fm_batch_norm_forward_f64(double *x, double *xhat, double *stats,
                                   const double *gamma, const double *beta, int n_rows,
                                   int n_cols, double eps, double *running_mean,
                                   double *running_var, double momentum)
    void fm_batch_norm_backward_f32(float *delta, const float *xhat, const float *inv_std,
                                    const float *gamma, int n_rows, int n_cols, float *dgamma,
                                    float *dbeta)
    void fm_batch_norm_backward_f64(double *delta, const double *xhat, const double *inv_std,
                                    const double *gamma, int n_rows, int n_cols,
                                    double *dgamma, double *dbeta)
    void fm_dropout_f32(float *out, const float *inp, int n_rows, int n_cols,
                        const int64_t *rows, int64_t first_row, int64_t unit_offset,
                        uint64_t seed, double rate)
    void fm_dropout_f64(double *out, const double *inp, int n_rows, int n_cols,
                        const int64_t *rows, int64_t first_row, int64_t unit_offset,
                        uint64_t seed, double rate)

    void fm_bias_activation_f32(float *x, const float *bias, int64_t n_rows, int n_cols,
                                int activation, double slope)
    void fm_bias_activation_f64(double *x, const double *bias, int64_t n_rows, int n_cols,
                                int activation, double slope)
    void fm_activation_backward_f32(float *delta, const float *a, int64_t n, int activation,
                                    double slope)
    void fm_activation_backward_f64(double *delta, const double *a, int64_t n, int activation,
                                    double slope)
    double fm_loss_delta_f32(float *delta, const float *z, const float *a, const float *y,
                             const float *sw, int64_t n_rows, int n_outputs, int loss)
    double fm_loss_delta_f64(double *delta, const double *z, const double *a, const double *y,
                             const double *sw, int64_t n_rows, int n_outputs, int loss)
    void fm_dense_forward_f32(float *out, const float *inp, const float *weight,
                              const float *bias, int n_rows, int fan_in, int fan_out,
                              int activation, double slope, double small_gemm_max,
                              int n_threads)
    void fm_dense_forward_f64(double *out, const double *inp, const double *weight,
                              const double *bias, int n_rows, int fan_in, int fan_out,
                              int activation, double slope, double small_gemm_max,
                              int n_threads)
    void fm_dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int n_rows, int fan_in,
                               int fan_out, double small_gemm_max, int n_threads,
                               float *scratch)
    void fm_dense_backward_f64(double *dinp, double *dweight, double *dbias,
                               const double *dout, const double *inp, const double *weight,
                               int n_rows, int fan_in, int fan_out, double small_gemm_max,
                               int n_threads, double *scratch)
    void fm_csr_dense_forward_f32(float *out, const fm_input *x, const int64_t *rows,
                                  int64_t first_row, const float *weight, const float *bias,
                                  int n_rows, int fan_out, int activation, double slope)
    void fm_csr_dense_forward_f64(double *out, const fm_input *x, const int64_t *rows,
                                  int64_t first_row, const double *weight, const double *bias,
                                  int n_rows, int fan_out, int activation, double slope)
    void fm_csr_dense_backward_f32(float *dweight, float *dbias, const float *dout,
                                   const fm_input *x, const int64_t *rows, int64_t first_row,
                                   int n_rows, int fan_out)
    void fm_csr_dense_backward_f64(double *dweight, double *dbias, const double *dout,
                                   const fm_input *x, const int64_t *rows, int64_t first_row,
                                   int n_rows, int fan_out)
    void fm_optimizer_step_f32(fm_optimizer *opt, float *params, const float *grad, int64_t n,
                               int64_t n_weights)
    void fm_optimizer_step_f64(fm_optimizer *opt, double *params, const double *grad,
                               int64_t n, int64_t n_weights)
    int fm_train_epoch_f32(const fm_net *net, float *params, fm_optimizer *opt,
                           const fm_input *x, const float *y, const float *sw,
                           const int64_t *order, int64_t n_order, int batch_size,
                           void *workspace, int64_t workspace_bytes,
                           fm_interrupt_fn interrupt, void *ctx, double *loss_sum)
    int fm_train_epoch_f64(const fm_net *net, double *params, fm_optimizer *opt,
                           const fm_input *x, const double *y, const double *sw,
                           const int64_t *order, int64_t n_order, int batch_size,
                           void *workspace, int64_t workspace_bytes,
                           fm_interrupt_fn interrupt, void *ctx, double *loss_sum)
    int fm_loss_grad_f32(const fm_net *net, const float *params, const fm_input *x,
                         const float *y, const float *sw, int chunk_rows,
                         void *workspace, int64_t workspace_bytes, float *grad,
                         double *loss, fm_interrupt_fn interrupt, void *ctx)
    int fm_loss_grad_f64(const fm_net *net, const double *params, const fm_input *x,
                         const double *y, const double *sw, int chunk_rows,
                         void *workspace, int64_t workspace_bytes, double *grad,
                         double *loss, fm_interrupt_fn interrupt, void *ctx)
    int fm_predict_f32(const fm_net *net, const float *params, const fm_input *x,
                       int chunk_rows, void *workspace, int64_t workspace_bytes, float *out,
                       fm_interrupt_fn interrupt, void *ctx)
    int fm_predict_f64(const fm_net *net, const double *params, const fm_input *x,
                       int chunk_rows, void *workspace, int64_t workspace_bytes, double *out,
                       fm_interrupt_fn interrupt, void *ctx)
    int64_t fm_workspace_bytes_f32(const fm_net *net, int max_rows, int dense_input)
    int64_t fm_workspace_bytes_f64(const fm_net *net, int max_rows, int dense_input)

cdef extern from "<dlfcn.h>" nogil:
    ctypedef struct Dl_info:
        const char *dli_fname
    int dladdr(const void *addr, Dl_info *info)

# scipy's OpenBLAS serves the engine: one BLAS in the process, seen and
# limited by threadpoolctl.
fm_set_blas(<fm_sgemm_fn>sgemm, <fm_dgemm_fn>dgemm)

# The small-matrix kernel uses the widest SIMD the CPU has; FASTMLP_MAX_ISA
# (generic, avx2, avx512) caps it, for testing each variant or working
# around a CPU problem.
import os as _os
_MAX_ISA = _os.environ.get("FASTMLP_MAX_ISA", "")
if fm_detect_cpu(_MAX_ISA.encode()) != 0:
    raise ImportError(f"FASTMLP_MAX_ISA={_MAX_ISA!r}: expected generic, avx2 or avx512")


def gemm_isa():
    """Instruction set of the engine's small-matrix kernel on this CPU."""
    return fm_gemm_isa().decode()

# The engine's names, each bound to its code in fastmlp.h (the codes come from
# the header at compile time; nothing here restates them).
ACTIVATIONS = {"identity": FM_ACT_IDENTITY, "logistic": FM_ACT_LOGISTIC,
               "tanh": FM_ACT_TANH, "relu": FM_ACT_RELU, "leaky_relu": FM_ACT_LEAKY_RELU,
               "softmax": FM_ACT_SOFTMAX, "exp": FM_ACT_EXP, "elu": FM_ACT_ELU,
               "gelu": FM_ACT_GELU, "swish": FM_ACT_SWISH}
HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a not in ("softmax", "exp"))
LOSSES = {"squared_error": FM_LOSS_SQUARED_ERROR, "cross_entropy": FM_LOSS_CROSS_ENTROPY,
          "binary_cross_entropy": FM_LOSS_BINARY_CROSS_ENTROPY,
          "poisson": FM_LOSS_POISSON}
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
SMALL_GEMM_DEFAULT = FM_SMALL_GEMM_DEFAULT
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


cdef class Network:
    """Shape and fixed hyper-parameters of an MLP, as the engine sees them.

    layer_sizes: n_features, hidden sizes..., n_outputs.
    activations: one name per hidden layer.
    loss: one of LOSSES; it fixes the output activation (its canonical link).
    small_gemm_max: products A (M, K) . B (K, N) of at most this many
    multiply-adds M*N*K (and K*N <= 65536) use the engine's single-threaded
    small-matrix kernel, larger ones the BLAS (0: the BLAS for all but empty
    products, inf: the small kernel for all) -- or, with n_threads > 1 on an
    AVX2/AVX-512 CPU, the engine's kernel on up to n_threads threads.
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
    cdef readonly double leaky_relu_slope, alpha, data_loss_scale, small_gemm_max, l1
    cdef readonly int n_threads
    cdef readonly tuple dropout, batch_norm
    cdef readonly double batch_norm_momentum, batch_norm_eps

    def __init__(self, layer_sizes, hidden_activations, loss, *, leaky_relu_slope=0.01,
                 alpha=0.0, data_loss_scale=1.0, small_gemm_max=SMALL_GEMM_DEFAULT,
                 l1=0.0, dropout=None, batch_norm=None, batch_norm_momentum=0.1,
                 batch_norm_eps=1e-5, n_threads=1):
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
        n_threads = _check_threads(n_threads)
        self.layer_sizes = tuple(sizes)
        self.hidden_activations = tuple(hidden)
        self.loss = loss
        self.leaky_relu_slope = leaky_relu_slope
        self.alpha = alpha
        self.data_loss_scale = data_loss_scale
        self.small_gemm_max = small_gemm_max
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
        self.net.small_gemm_max = small_gemm_max
        self.net.n_threads = n_threads
        self.net.l1 = l1
        self.net.dropout = &self._dropout[0] if any(rates) else NULL
        self.net.dropout_seed = 0
        self.net.batch_norm = &self._batch_norm[0] if any(flags) else NULL
        self.net.batch_norm_momentum = batch_norm_momentum
        self.net.batch_norm_eps = batch_norm_eps
        self.net.running_stats = NULL
        if fm_check_net(&self.net) != FM_OK:
            raise ValueError("inconsistent network description")

    def __reduce__(self):
        return (_rebuild_network, (self.layer_sizes, self.hidden_activations, self.loss,
                                   self.leaky_relu_slope, self.alpha, self.data_loss_scale,
                                   self.small_gemm_max, self.l1, self.dropout,
                                   self.batch_norm, self.batch_norm_momentum,
                                   self.batch_norm_eps, self.n_threads))

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
    net.n_layers = len(sizes) - 1
    net.layer_sizes = &c_sizes[0]
    net.batch_norm = &c_flags[0]
    return _layout(&net)


def _rebuild_network(layer_sizes, hidden_activations, loss, slope, alpha, scale,
                     small_gemm_max, l1, dropout, batch_norm, batch_norm_momentum,
                     batch_norm_eps, n_threads):
    return Network(layer_sizes, hidden_activations, loss, leaky_relu_slope=slope,
                   alpha=alpha, data_loss_scale=scale, small_gemm_max=small_gemm_max,
                   l1=l1, dropout=dropout, batch_norm=batch_norm,
                   batch_norm_momentum=batch_norm_momentum, batch_norm_eps=batch_norm_eps,
                   n_threads=n_threads)


# The most threads the engine's own kernel takes (its row blocks limit it
# further): beyond, thread start-up outweighs any gain for MLP-sized products.
MAX_THREADS = 64


def _check_threads(n_threads):
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or not (
            1 <= n_threads <= MAX_THREADS):
        raise ValueError(f"n_threads must be an integer in [1, {MAX_THREADS}], "
                         f"got {n_threads!r}")
    return int(n_threads)


cdef fm_net _net_for_call(Network net, uint64_t dropout_seed, running_stats, dtype):
    """The net's C description with one call's dropout seed and running
    statistics (which training updates in place)."""
    cdef fm_net c = net.net
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

    def step_params(self, params, grad, n_weights=0):
        """One update of params from grad (both (P,)), in place; the first
        n_weights entries are weights (which AdamW's weight decay shrinks)."""
        dtype = _dtype_of(params)
        _check_array(params, "params", dtype, (None,), True)
        _check_array(grad, "grad", dtype, params.shape)
        if not 0 <= n_weights <= params.shape[0]:
            raise ValueError(f"n_weights must be in [0, {params.shape[0]}], got {n_weights}")
        cdef fm_optimizer opt = self.c_struct(params)
        cdef int64_t n = params.shape[0]
        cdef int64_t nw = n_weights
        cdef void *p = _address(params)
        cdef void *g = _address(grad)
        cdef bint single = dtype == np.float32
        with nogil:
            if single:
                fm_optimizer_step_f32(&opt, <float *>p, <float *>g, n, nw)
            else:
                fm_optimizer_step_f64(&opt, <double *>p, <double *>g, n, nw)
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
    within range) at the start of each call."""
    cdef fm_input c
    cdef object keep
    cdef readonly object dtype
    cdef readonly tuple shape

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


cdef _check_csr_structure(Input x):
    """The structure checks the engine's whole-network calls make at their
    start, for the kernel twins, which call the CSR kernels directly: indptr
    non-decreasing, column indices in [0, n_cols)."""
    data, indptr, indices = x.keep
    nnz = indptr[x.shape[0]]
    if (indptr.shape[0] > 1 and np.any(indptr[1:] < indptr[:-1])) or \
            (nnz > 0 and (indices[:nnz].min() < 0 or indices[:nnz].max() >= x.shape[1])):
        raise ValueError("malformed CSR matrix")


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
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    cdef int rows = _check_rows(max_rows, "max_rows")
    cdef int64_t n = (fm_workspace_bytes_f32(&net.net, rows, dense) if dtype == np.float32
                      else fm_workspace_bytes_f64(&net.net, rows, dense))
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


def train_epoch(Network net, params, Optimizer optimizer, X, y, sample_weight, order,
                batch_size, workspace=None, dropout_seed=0, running_stats=None):
    """One epoch of mini-batch training, in place on params and optimizer.

    X (N, F) dense or CSR, y (N, O), sample_weight (N,) or None, order: int64
    sample indices, visited in batches of batch_size.  Returns the sum over
    batches of (batch loss, penalties included) x (rows in the batch).
    workspace: from ``workspace(net, dtype, batch_size)``, or None to allocate
    per call.  dropout_seed: the epoch's dropout masks; running_stats: the
    batch-norm running statistics, updated in place (required with batch norm).
    """
    dtype, inp_ = _check_targets(net, params, X, y, sample_weight)
    if net.batch_norm_units and running_stats is None:
        raise ValueError("a network with batch norm trains with running_stats")
    cdef fm_net cnet = _net_for_call(net, _check_seed(dropout_seed), running_stats, dtype)
    cdef Input inp = inp_
    if not params.flags.writeable:
        raise ValueError("params must be writeable")
    _check_array(order, "order", np.int64, (None,))
    cdef int rows = _check_rows(batch_size, "batch_size")
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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            status = fm_train_epoch_f32(&cnet, <float *>p, &opt, &inp.c, <float *>yp,
                                        <float *>swp, op, n_order, rows, ws, ws_bytes,
                                        _check_signals, <void *>errors, &loss_sum)
        else:
            status = fm_train_epoch_f64(&cnet, <double *>p, &opt, &inp.c, <double *>yp,
                                        <double *>swp, op, n_order, rows, ws, ws_bytes,
                                        _check_signals, <void *>errors, &loss_sum)
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
    cdef fm_net cnet = _net_for_call(net, _check_seed(dropout_seed), None, dtype)
    if grad is None:
        grad = np.empty_like(params)
    _check_array(grad, "grad", dtype, params.shape, True)
    cdef int chunk = _check_rows(chunk_rows, "chunk_rows")
    cdef int64_t ws_bytes
    cdef void *ws = _workspace_address(workspace, &ws_bytes)
    cdef void *p = _address(params)
    cdef void *g = _address(grad)
    cdef void *yp = _address(y)
    cdef void *swp = NULL if sample_weight is None else _address(sample_weight)
    cdef double loss = 0
    cdef int status
    cdef list errors = []
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            status = fm_loss_grad_f32(&cnet, <float *>p, &inp.c, <float *>yp,
                                      <float *>swp, chunk, ws, ws_bytes, <float *>g, &loss,
                                      _check_signals, <void *>errors)
        else:
            status = fm_loss_grad_f64(&cnet, <double *>p, &inp.c, <double *>yp,
                                      <double *>swp, chunk, ws, ws_bytes, <double *>g,
                                      &loss,
                                      _check_signals, <void *>errors)
    _check_status(status, errors)
    return loss, grad


def predict(Network net, params, X, out=None, chunk_rows=DEFAULT_CHUNK_ROWS,
            workspace=None):
    """The network's output activation (N, O) for X, computed in chunks
    (no dropout; a network with batch norm must be folded first)."""
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
    cdef int64_t ws_bytes
    cdef void *ws = _workspace_address(workspace, &ws_bytes)
    cdef void *p = _address(params)
    cdef void *o = _address(out)
    cdef int status
    cdef list errors = []
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            status = fm_predict_f32(&net.net, <float *>p, &inp.c, chunk, ws, ws_bytes, <float *>o,
                                    _check_signals, <void *>errors)
        else:
            status = fm_predict_f64(&net.net, <double *>p, &inp.c, chunk, ws, ws_bytes,
                                    <double *>o,
                                    _check_signals, <void *>errors)
    _check_status(status, errors)
    return out


# ---- kernel twins: the engine's building blocks, for tests ----

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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_bias_activation_f32(<float *>xp, <float *>bp, n_rows, n_cols, code, slope)
        else:
            fm_bias_activation_f64(<double *>xp, <double *>bp, n_rows, n_cols, code, slope)
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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_activation_backward_f32(<float *>dp, <float *>ap, n, code, slope)
        else:
            fm_activation_backward_f64(<double *>dp, <double *>ap, n, code, slope)
    return delta


def loss_delta(z, y, loss, sample_weight=None):
    """Output-layer loss of pre-activations z (B, O) against y (B, O).

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
    cdef double total
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            total = fm_loss_delta_f32(<float *>dp, <float *>zp, <float *>ap, <float *>yp,
                                      <float *>swp, n_rows, n_outputs, code)
        else:
            total = fm_loss_delta_f64(<double *>dp, <double *>zp, <double *>ap, <double *>yp,
                                      <double *>swp, n_rows, n_outputs, code)
    return total, delta, a


def dense_forward(inp, weight, bias, activation, leaky_relu_slope=0.01,
                  small_gemm_max=SMALL_GEMM_DEFAULT, n_threads=1):
    """act(inp (B, IN) . weight (IN, OUT) + bias); inp may be CSR."""
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
    cdef double small_max = small_gemm_max
    cdef int threads = _check_threads(n_threads)
    cdef bint single = dtype == np.float32
    with nogil:
        if x.c.csr_data != NULL:
            if single:
                fm_csr_dense_forward_f32(<float *>op, &x.c, NULL, 0, <float *>wp,
                                         <float *>bp, b, fo, code, slope)
            else:
                fm_csr_dense_forward_f64(<double *>op, &x.c, NULL, 0, <double *>wp,
                                         <double *>bp, b, fo, code, slope)
        elif single:
            fm_dense_forward_f32(<float *>op, <float *>ip, <float *>wp, <float *>bp, b, fi, fo,
                                 code, slope, small_max, threads)
        else:
            fm_dense_forward_f64(<double *>op, <double *>ip, <double *>wp, <double *>bp, b,
                                 fi, fo, code, slope, small_max, threads)
    return out


def dense_backward(dout, inp, weight, small_gemm_max=SMALL_GEMM_DEFAULT, n_threads=1):
    """(dinp, dweight, dbias) of a dense layer from dout (B, OUT); dinp is None
    for a CSR input."""
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
    cdef double small_max = small_gemm_max
    cdef int threads = _check_threads(n_threads)
    cdef void *dip = NULL if dinp is None else _address(dinp)
    cdef void *dwp = _address(dweight)
    cdef void *dbp = _address(dbias)
    cdef void *dop = _address(dout)
    cdef const void *ip = x.c.dense
    cdef void *wp = _address(weight)
    cdef int b = n_rows, fi = fan_in, fo = fan_out
    cdef bint single = dtype == np.float32
    with nogil:
        if x.c.csr_data != NULL:
            if single:
                fm_csr_dense_backward_f32(<float *>dwp, <float *>dbp, <float *>dop, &x.c,
                                          NULL, 0, b, fo)
            else:
                fm_csr_dense_backward_f64(<double *>dwp, <double *>dbp, <double *>dop, &x.c,
                                          NULL, 0, b, fo)
        elif single:
            fm_dense_backward_f32(<float *>dip, <float *>dwp, <float *>dbp, <float *>dop,
                                  <float *>ip, <float *>wp, b, fi, fo, small_max, threads,
                                  <float *>sp_)
        else:
            fm_dense_backward_f64(<double *>dip, <double *>dwp, <double *>dbp, <double *>dop,
                                  <double *>ip, <double *>wp, b, fi, fo, small_max,
                                  threads, <double *>sp_)
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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_batch_norm_forward_f32(<float *>xp, <float *>hp, <float *>sp_, <float *>gp,
                                      <float *>bp, b, c, e, <float *>mp, <float *>vp, m)
        else:
            fm_batch_norm_forward_f64(<double *>xp, <double *>hp, <double *>sp_,
                                      <double *>gp, <double *>bp, b, c, e, <double *>mp,
                                      <double *>vp, m)
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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_batch_norm_backward_f32(<float *>dp, <float *>hp, <float *>ip, <float *>gp, b,
                                       c, <float *>dgp, <float *>dbp)
        else:
            fm_batch_norm_backward_f64(<double *>dp, <double *>hp, <double *>ip,
                                       <double *>gp, b, c, <double *>dgp, <double *>dbp)
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
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_dropout_f32(<float *>op, <float *>ip, b, c, rp, 0, offset, s, r)
        else:
            fm_dropout_f64(<double *>op, <double *>ip, b, c, rp, 0, offset, s, r)
    return out


def dropout_keep(seed, sample, unit, rate):
    """Whether dropout keeps (True) unit `unit` of sample `sample`."""
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    return bool(fm_dropout_keep(_check_seed(seed), sample, unit, rate))
