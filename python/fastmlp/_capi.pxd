# cython: language_level=3
"""The C engine's API (csrc/fastmlp.h), declared once for Cython.

Every Cython module of the package cimports it from here.  The enum codes are
not written here: Cython takes them from the header when it compiles.  The
dtype-specific entry points mirror csrc/fastmlp_decl.h (declared there once
with REAL / SFX, instantiated as *_f32 and *_f64), which Cython cannot read.
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
                             const float *sw, int64_t n_rows, int n_outputs, int loss,
                             double loss_param)
    double fm_loss_delta_f64(double *delta, const double *z, const double *a, const double *y,
                             const double *sw, int64_t n_rows, int n_outputs, int loss,
                             double loss_param)
    void fm_dense_forward_f32(float *out, const float *inp, const float *weight,
                              const float *bias, int n_rows, int fan_in, int fan_out,
                              int activation, double slope, int kernel)
    void fm_dense_forward_f64(double *out, const double *inp, const double *weight,
                              const double *bias, int n_rows, int fan_in, int fan_out,
                              int activation, double slope, int kernel)
    void fm_dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int n_rows, int fan_in,
                               int fan_out, int weight_grad_kernel, int input_grad_kernel,
                               float *scratch)
    void fm_dense_backward_f64(double *dinp, double *dweight, double *dbias,
                               const double *dout, const double *inp, const double *weight,
                               int n_rows, int fan_in, int fan_out, int weight_grad_kernel,
                               int input_grad_kernel, double *scratch)
    int fm_time_product_f32(int product, int n_rows, int fan_in, int fan_out, double *seconds)
    int fm_time_product_f64(int product, int n_rows, int fan_in, int fan_out, double *seconds)
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
                               int64_t n_weights, int n_threads)
    void fm_optimizer_step_f64(fm_optimizer *opt, double *params, const double *grad,
                               int64_t n, int64_t n_weights, int n_threads)
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
    int fm_nonfinite_f32(const float *x, int64_t n)
    int fm_nonfinite_f64(const double *x, int64_t n)
    int64_t fm_workspace_bytes_f32(const fm_net *net, int max_rows, int dense_input)
    int64_t fm_workspace_bytes_f64(const fm_net *net, int max_rows, int dense_input)



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
