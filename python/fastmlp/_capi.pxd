# cython: language_level=3
"""The C engine's API (csrc/fastmlp.h), declared once for Cython.

Every Cython module of the package cimports it from here.  The enum codes are
not written here: Cython takes them from the header when it compiles.  The
dtype-specific entry points are reached through fastmlp.h's table of one
dtype (fm_api), declared here once for both dtypes.
"""
from libc.stdint cimport int64_t, uint64_t
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef extern from "fastmlp.h" nogil:
    ctypedef struct fm_net:
        int n_layers
        const int *layer_sizes
        const int *activations
        int loss
        double leaky_relu_slope
        double alpha
        double data_loss_scale
        const unsigned char *gemm_kernels
        int n_threads
        double l1
        const double *dropout
        uint64_t dropout_seed
        const int *batch_norm
        double batch_norm_momentum
        double batch_norm_eps
        void *running_stats
        double loss_param
        const double *mixup_lambda
        const int64_t *mixup_partner
        const double *input_noise
        uint64_t noise_seed

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
        FM_LOSS_POISSON, FM_LOSS_ABSOLUTE_ERROR, FM_LOSS_HUBER, FM_LOSS_QUANTILE
    ctypedef enum fm_optimizer_kind:
        FM_OPT_SGD, FM_OPT_ADAM, FM_OPT_RMSPROP, FM_OPT_ADAMW
    ctypedef enum fm_gemm_kernel:
        FM_GEMM_BLAS, FM_GEMM_OWN, FM_N_KERNELS
    ctypedef enum fm_product:
        FM_PRODUCT_FORWARD, FM_PRODUCT_WEIGHT_GRAD, FM_PRODUCT_INPUT_GRAD, FM_N_PRODUCTS
    ctypedef enum fm_status:
        FM_OK, FM_ERR_NOMEM, FM_ERR_INTERRUPTED, FM_ERR_INVALID
    ctypedef enum fm_finiteness:
        FM_FINITE, FM_NONFINITE_INF, FM_NONFINITE_NAN

    void fm_set_blas(fm_sgemm_fn sgemm, fm_dgemm_fn dgemm)
    int fm_detect_cpu(const char *max_isa)
    const char *fm_gemm_isa()
    int fm_loss_output_activation(int loss)
    int64_t fm_n_params(const fm_net *net)
    int64_t fm_weight_offset(const fm_net *net, int layer)
    int64_t fm_bias_offset(const fm_net *net, int layer)
    int64_t fm_batch_norm_offset(const fm_net *net, int layer)
    int64_t fm_batch_norm_units(const fm_net *net)
    int fm_dropout_keep(uint64_t seed, int64_t sample, int64_t unit, double rate)
    int fm_check_net(const fm_net *net)

    # The dtype-specific entry points, as fastmlp.h's table of one dtype
    # (REAL * as void *): fm_api_of(FM_FLOAT32 or FM_FLOAT64), then call its
    # members.  The dtype is chosen once, by _engine.api_of, not per call.
    ctypedef enum fm_dtype:
        FM_FLOAT32, FM_FLOAT64
    ctypedef struct fm_api:
        void (*bias_activation)(void *x, const void *bias, int64_t n_rows, int n_cols,
                                int activation, double leaky_relu_slope) noexcept nogil
        void (*activation_backward)(void *delta, const void *a, int64_t n, int activation,
                                    double leaky_relu_slope) noexcept nogil
        void (*batch_norm_forward)(void *x, void *xhat, void *stats, const void *gamma,
                                   const void *beta, int n_rows, int n_cols, double eps,
                                   void *running_mean, void *running_var,
                                   double momentum) noexcept nogil
        void (*batch_norm_backward)(void *delta, const void *xhat, const void *inv_std,
                                    const void *gamma, int n_rows, int n_cols, void *dgamma,
                                    void *dbeta) noexcept nogil
        void (*dropout)(void *out, const void *inp, int n_rows, int n_cols,
                        const int64_t *rows, int64_t first_row, int64_t unit_offset,
                        uint64_t seed, double rate) noexcept nogil
        double (*loss_delta)(void *delta, const void *z, const void *a, const void *y,
                             const void *sw, int64_t n_rows, int n_outputs, int loss,
                             double loss_param) noexcept nogil
        void (*dense_forward)(void *out, const void *inp, const void *weight,
                              const void *bias, int n_rows, int fan_in, int fan_out,
                              int activation, double leaky_relu_slope,
                              int kernel) noexcept nogil
        void (*dense_backward)(void *dinp, void *dweight, void *dbias, const void *dout,
                               const void *inp, const void *weight, int n_rows, int fan_in,
                               int fan_out, int weight_grad_kernel, int input_grad_kernel,
                               void *scratch) noexcept nogil
        int (*time_product)(int product, int n_rows, int fan_in, int fan_out,
                            double *seconds) noexcept nogil
        void (*csr_dense_forward)(void *out, const fm_input *x, const int64_t *rows,
                                  int64_t first_row, const void *weight, const void *bias,
                                  int n_rows, int fan_out, int activation,
                                  double leaky_relu_slope) noexcept nogil
        void (*csr_dense_backward)(void *dweight, void *dbias, const void *dout,
                                   const fm_input *x, const int64_t *rows, int64_t first_row,
                                   int n_rows, int fan_out) noexcept nogil
        void (*optimizer_step)(fm_optimizer *opt, void *params, const void *grad, int64_t n,
                               int64_t n_weights, int n_threads) noexcept nogil
        int (*train_epoch)(const fm_net *net, void *params, fm_optimizer *opt,
                           const fm_input *x, const void *y, const void *sw,
                           const int64_t *order, int64_t n_order, int batch_size,
                           void *workspace, int64_t workspace_bytes,
                           fm_interrupt_fn interrupt, void *interrupt_ctx,
                           double *loss_sum) noexcept nogil
        int (*loss_grad)(const fm_net *net, const void *params, const fm_input *x,
                         const void *y, const void *sw, int chunk_rows, void *workspace,
                         int64_t workspace_bytes, void *grad, double *loss,
                         fm_interrupt_fn interrupt, void *interrupt_ctx) noexcept nogil
        int (*predict)(const fm_net *net, const void *params, const fm_input *x,
                       int chunk_rows, void *workspace, int64_t workspace_bytes, void *out,
                       fm_interrupt_fn interrupt, void *interrupt_ctx) noexcept nogil
        int (*nonfinite)(const void *x, int64_t n) noexcept nogil
        int64_t (*workspace_bytes)(const fm_net *net, int max_rows,
                                   int dense_input) noexcept nogil
    const fm_api *fm_api_of(int dtype)



cdef inline start_engine():
    """Set up the engine linked into the calling module, once, at its import
    (each extension module links its own copy of the static engine library).

    scipy's OpenBLAS serves the engine: one BLAS in the process, seen and
    limited by threadpoolctl.  The engine's own GEMM kernel uses the widest SIMD
    the CPU has; FASTMLP_MAX_ISA (generic, avx2, avx512) caps it, for testing
    each variant or working around a CPU problem."""
    import os
    fm_set_blas(<fm_sgemm_fn>sgemm, <fm_dgemm_fn>dgemm)
    max_isa = os.environ.get("FASTMLP_MAX_ISA", "")
    if fm_detect_cpu(max_isa.encode()) != 0:
        raise ImportError(f"FASTMLP_MAX_ISA={max_isa!r}: expected generic, avx2 or avx512")
