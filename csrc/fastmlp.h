/*
 * fastmlp engine: training and inference of a multilayer perceptron in C.
 *
 * Plain C99, no Python headers.  Every computational entry point exists twice,
 * suffixed _f32 and _f64, declared from one template (fastmlp_decl.h, through
 * instantiate.h, the engine's one float/double mechanism); fm_api_of(dtype)
 * gives both as one table, for callers that pick the dtype at run time.
 *
 * Size glossary used in shape comments:
 *   N  = number of samples          B  = rows in one mini-batch or chunk
 *   F  = number of input features   O  = number of outputs (last layer units)
 *   L  = number of dense layers     P  = total number of parameters
 *   IN, OUT = fan_in, fan_out of one layer
 *
 * Parameter layout (shared by gradients and optimizer moments): the weight
 * matrices of all layers, each row-major (IN, OUT), then the bias vectors of
 * all layers (the order of scikit-learn's coefs_ + intercepts_), then, for
 * each batch-normalized hidden layer in order, its scale (gamma, OUT) and
 * shift (beta, OUT).  The penalties (alpha, l1, weight decay) apply to the
 * weights only.
 */
#ifndef FASTMLP_H
#define FASTMLP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FM_ACT_IDENTITY = 0,
    FM_ACT_LOGISTIC = 1,
    FM_ACT_TANH = 2,
    FM_ACT_RELU = 3,
    FM_ACT_LEAKY_RELU = 4,
    FM_ACT_SOFTMAX = 5, /* row-wise; output layer only */
    FM_ACT_EXP = 6,     /* output layer of the Poisson loss */
    FM_ACT_ELU = 7,     /* z > 0 ? z : exp(z) - 1 */
    FM_ACT_GELU = 8,    /* 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) */
    FM_ACT_SWISH = 9    /* z * logistic(z), also called SiLU */
} fm_activation;

/* Each loss has its output activation (fm_loss_output_activation): the
 * canonical link of the first four, so that their gradient w.r.t. the output
 * pre-activation is sw * (a - y); the identity for the robust regression
 * losses, whose gradient is sw * dloss/da (a subgradient at their kinks:
 * 0 where a == y, and at |a - y| == delta Huber's quadratic side). */
typedef enum {
    FM_LOSS_SQUARED_ERROR = 0,      /* identity output, 0.5 * (a - y)^2 */
    FM_LOSS_CROSS_ENTROPY = 1,      /* softmax output, -sum_k y_k log a_k */
    FM_LOSS_BINARY_CROSS_ENTROPY = 2, /* logistic output, per output unit */
    FM_LOSS_POISSON = 3,            /* exp output, y log(y/a) - y + a */
    FM_LOSS_ABSOLUTE_ERROR = 4,     /* identity output, |a - y| */
    /* identity output, with d = loss_param > 0:
     * 0.5 (a - y)^2 where |a - y| <= d, else d (|a - y| - 0.5 d) */
    FM_LOSS_HUBER = 5,
    /* identity output, the pinball loss of the quantile q = loss_param in
     * (0, 1): q (y - a) where y >= a, else (1 - q) (a - y) */
    FM_LOSS_QUANTILE = 6
} fm_loss;

typedef enum {
    FM_OPT_SGD = 0,
    FM_OPT_ADAM = 1,
    FM_OPT_RMSPROP = 2,
    FM_OPT_ADAMW = 3 /* Adam with decoupled weight decay */
} fm_optimizer_kind;

/* Who computes a product of a dense layer: the installed BLAS or the
 * engine's own register-blocked kernel (gemm.c). */
typedef enum {
    FM_GEMM_BLAS = 0,
    FM_GEMM_OWN = 1,
    FM_N_KERNELS = 2
} fm_gemm_kernel;

/* The products of a dense layer (B rows, IN = fan_in, OUT = fan_out). */
typedef enum {
    FM_PRODUCT_FORWARD = 0,     /* out (B, OUT) = inp (B, IN) . W (IN, OUT) */
    FM_PRODUCT_WEIGHT_GRAD = 1, /* dW (IN, OUT) = inp^T (IN, B) . dout (B, OUT) */
    FM_PRODUCT_INPUT_GRAD = 2,  /* dinp (B, IN) = dout (B, OUT) . W^T (OUT, IN) */
    FM_N_PRODUCTS = 3
} fm_product;

typedef enum {
    FM_OK = 0,
    FM_ERR_NOMEM = 1,       /* an allocation failed; nothing was changed */
    FM_ERR_INTERRUPTED = 2, /* the interrupt callback asked to stop */
    FM_ERR_INVALID = 3      /* inconsistent arguments */
} fm_status;

/* What fm_nonfinite found in an input. */
typedef enum {
    FM_FINITE = 0,
    FM_NONFINITE_INF = 1, /* +-infinity, and no NaN */
    FM_NONFINITE_NAN = 2  /* NaN (infinities may be there too) */
} fm_finiteness;

/* The network's shape and its fixed hyper-parameters. */
typedef struct {
    int n_layers;                 /* L dense layers */
    const int *layer_sizes;       /* L + 1 sizes: F, hidden..., O */
    const int *activations;       /* L activations; the last is the output's */
    int loss;                     /* fm_loss */
    double leaky_relu_slope;      /* slope of FM_ACT_LEAKY_RELU for z < 0, >= 0 */
    double alpha;                 /* L2 penalty: 0.5 * alpha * sum W^2 / sum(sw) */
    /* Factor applied to the data term of the reported loss only (not to the
     * gradient).  scikit-learn reports the squared error averaged over
     * outputs while its gradient sums over them: 1/O reproduces that. */
    double data_loss_scale;
    /* The plan: who computes each product of each layer, FM_N_PRODUCTS
     * entries per layer (index layer * FM_N_PRODUCTS + fm_product), each an
     * fm_gemm_kernel; NULL: the BLAS for all.  The bindings choose it by
     * timing both kernels on the running machine (fm_time_product).  The
     * engine never changes a plan, so one plan always gives the same bits. */
    const unsigned char *gemm_kernels;
    /* Threads for the engine's own parallel work: the optimizer's update of
     * a long parameter vector, and prediction's chunks of rows (any count
     * gives the same bits).  The bindings pass the BLAS's thread limit, so
     * threadpoolctl's limits hold for both. */
    int n_threads;

    /* ---- Regularizers beyond scikit-learn's (all off when zero / NULL) ---- */
    double l1;                    /* L1 penalty: l1 * sum |W| / sum(sw) */
    /* L - 1 rates in [0, 1): inverted dropout of each hidden layer's output
     * while training.  Whether a unit is dropped is a hash of (dropout_seed,
     * sample index, unit), so it does not depend on how rows are batched. */
    const double *dropout;
    uint64_t dropout_seed;
    /* L - 1 flags: batch normalization between a hidden layer's affine map
     * and its activation, batch statistics while training.  Training updates
     * running_stats ((2 U,) of the parameters' dtype, U the batch-normalized
     * units: running means, then running variances) as
     * r := (1 - momentum) r + momentum * batch statistic (unbiased variance).
     * Prediction does not take such a net: the bindings fold the running
     * statistics into the weights first. */
    const int *batch_norm;
    double batch_norm_momentum;   /* in [0, 1] */
    double batch_norm_eps;        /* > 0, added to the variance */
    void *running_stats;

    /* The loss's parameter: Huber's delta, the quantile's q; unused by the
     * other losses.  (Last, so that the fields above keep their place.) */
    double loss_param;

    /* ---- Data augmentation of fm_train_epoch's batches (off when NULL;
     * ignored by fm_loss_grad and fm_predict).  Each augmented batch is
     * copied into the workspace (CSR rows densified there), then: ---- */
    /* Mixup: row i of batch b becomes lam x_i + (1 - lam) x_j with
     * lam = mixup_lambda[b] in [0, 1] and j its partner, the row at position
     * mixup_partner[i'] within the same batch (i' its position in order,
     * mixup_partner has n_order entries); its target and sample weight are
     * blended with the same lam. */
    const double *mixup_lambda;
    const int64_t *mixup_partner;
    /* F standard deviations >= 0: Gaussian noise added to each (mixed) row,
     * a pure function of (noise_seed, sample index, feature) (Box-Muller from
     * the dropout hash), so independent of batching and threads. */
    const double *input_noise;
    uint64_t noise_seed;
} fm_net;

/* Input rows, dense or CSR, of the net's dtype.  Exactly one of
 * dense / csr_data is non-NULL. */
typedef struct {
    int64_t n_rows, n_cols;       /* N, F */
    const void *dense;            /* (N, F) C-contiguous */
    const void *csr_data;         /* CSR values (nnz,) */
    const int64_t *csr_indptr;    /* (N + 1,) */
    const int64_t *csr_indices;   /* (nnz,) column of each value, < F */
} fm_input;

/* Optimizer settings and state.  The moment buffers have P entries of the
 * parameters' dtype and persist between calls; `step` is Adam's bias
 * correction counter and is advanced by every update. */
typedef struct {
    int kind;                     /* fm_optimizer_kind */
    double learning_rate;
    double momentum;              /* sgd */
    int nesterov;                 /* sgd */
    double beta_1, beta_2;        /* adam; rmsprop's decay rate is beta_2 */
    double epsilon;               /* adam, rmsprop */
    double weight_decay;          /* adamw: W *= 1 - learning_rate * weight_decay */
    /* > 0: the gradient is scaled down to this Euclidean norm when longer */
    double max_grad_norm;
    int64_t step;
    void *moment_1;               /* sgd: velocity, adam: first moment */
    void *moment_2;               /* adam, rmsprop: second moment */
} fm_optimizer;

/* Called between mini-batches (at most every ~50 ms); a non-zero return
 * aborts the call with FM_ERR_INTERRUPTED.  May be NULL. */
typedef int (*fm_interrupt_fn)(void *ctx);

/* Fortran BLAS GEMM: C := alpha * op(A) . op(B) + beta * C, column-major. */
typedef void (*fm_sgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                            float *alpha, float *a, int *lda, float *b, int *ldb,
                            float *beta, float *c, int *ldc);
typedef void (*fm_dgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                            double *alpha, double *a, int *lda, double *b, int *ldb,
                            double *beta, double *c, int *ldc);

/* Install the BLAS once, before any other call (the bindings do it at import). */
void fm_set_blas(fm_sgemm_fn sgemm, fm_dgemm_fn dgemm);
/* Pick the own kernel's instruction set once, at import: the best the CPU
 * has, capped by max_isa ("generic", "avx2", "avx512"; NULL or "" for no
 * cap).  Returns -1 for an unknown name. */
int fm_detect_cpu(const char *max_isa);
/* The instruction set picked: "generic", "avx2" or "avx512". */
const char *fm_gemm_isa(void);

int fm_loss_output_activation(int loss);
int64_t fm_n_params(const fm_net *net);
/* Offsets into the flat parameter vector of layer l's weights and biases. */
int64_t fm_weight_offset(const fm_net *net, int layer);
int64_t fm_bias_offset(const fm_net *net, int layer);
/* Offset of hidden layer l's batch-norm scale (its shift follows), -1 if the
 * layer has none; and the number of batch-normalized units (U). */
int64_t fm_batch_norm_offset(const fm_net *net, int layer);
int64_t fm_batch_norm_units(const fm_net *net);
/* Inverted-dropout keep test for one unit: keep (1) or drop (0). */
int fm_dropout_keep(uint64_t seed, int64_t sample, int64_t unit, double rate);
/* FM_OK or FM_ERR_INVALID (sizes < 1, unknown activation or loss,
 * output activation not the loss's own, negative slope, loss_param out of
 * its loss's range, a
 * parameter count whose byte size overflows int64). */
int fm_check_net(const fm_net *net);

#define FM_TEMPLATE "fastmlp_decl.h"
#include "instantiate.h"
#undef FM_TEMPLATE

/* ---- the entry points of one dtype, as one table ----
 * Each member calls the fm_*_f32 or fm_*_f64 function of the same name
 * (fastmlp_decl.h), with void * for REAL *.  A caller looks the table of its
 * data's dtype up once (fm_api_of) and calls through it: the dtype is
 * decided in one place, not at every call (csrc/api.tmpl.h fills both
 * tables). */
typedef enum { FM_FLOAT32 = 0, FM_FLOAT64 = 1 } fm_dtype;

typedef struct {
    void (*bias_activation)(void *x, const void *bias, int64_t n_rows, int n_cols,
                            int activation, double leaky_relu_slope);
    void (*activation_backward)(void *delta, const void *a, int64_t n, int activation,
                                double leaky_relu_slope);
    void (*batch_norm_forward)(void *x, void *xhat, void *stats, const void *gamma,
                               const void *beta, int n_rows, int n_cols, double eps,
                               void *running_mean, void *running_var, double momentum);
    void (*batch_norm_backward)(void *delta, const void *xhat, const void *inv_std,
                                const void *gamma, int n_rows, int n_cols, void *dgamma,
                                void *dbeta);
    void (*dropout)(void *out, const void *inp, int n_rows, int n_cols, const int64_t *rows,
                    int64_t first_row, int64_t unit_offset, uint64_t seed, double rate);
    double (*loss_delta)(void *delta, const void *z, const void *a, const void *y,
                         const void *sw, int64_t n_rows, int n_outputs, int loss,
                         double loss_param);
    void (*dense_forward)(void *out, const void *inp, const void *weight, const void *bias,
                          int n_rows, int fan_in, int fan_out, int activation,
                          double leaky_relu_slope, int kernel);
    void (*dense_backward)(void *dinp, void *dweight, void *dbias, const void *dout,
                           const void *inp, const void *weight, int n_rows, int fan_in,
                           int fan_out, int weight_grad_kernel, int input_grad_kernel,
                           void *scratch);
    int (*time_product)(int product, int n_rows, int fan_in, int fan_out, double *seconds);
    void (*csr_dense_forward)(void *out, const fm_input *x, const int64_t *rows,
                              int64_t first_row, const void *weight, const void *bias,
                              int n_rows, int fan_out, int activation,
                              double leaky_relu_slope);
    void (*csr_dense_backward)(void *dweight, void *dbias, const void *dout, const fm_input *x,
                               const int64_t *rows, int64_t first_row, int n_rows,
                               int fan_out);
    void (*optimizer_step)(fm_optimizer *opt, void *params, const void *grad, int64_t n,
                           int64_t n_weights, int n_threads);
    int (*train_epoch)(const fm_net *net, void *params, fm_optimizer *opt, const fm_input *x,
                       const void *y, const void *sw, const int64_t *order, int64_t n_order,
                       int batch_size, void *workspace, int64_t workspace_bytes,
                       fm_interrupt_fn interrupt, void *interrupt_ctx, double *loss_sum);
    int (*loss_grad)(const fm_net *net, const void *params, const fm_input *x, const void *y,
                     const void *sw, int chunk_rows, void *workspace, int64_t workspace_bytes,
                     void *grad, double *loss, fm_interrupt_fn interrupt, void *interrupt_ctx);
    int (*predict)(const fm_net *net, const void *params, const fm_input *x, int chunk_rows,
                   void *workspace, int64_t workspace_bytes, void *out,
                   fm_interrupt_fn interrupt, void *interrupt_ctx);
    int (*nonfinite)(const void *x, int64_t n);
    int64_t (*workspace_bytes)(const fm_net *net, int max_rows, int dense_input);
} fm_api;

/* The table of FM_FLOAT32 or FM_FLOAT64; NULL for any other code. */
const fm_api *fm_api_of(int dtype);

#endif
