/* Internal declarations shared by the engine's translation units. */
#ifndef FASTMLP_ENGINE_H
#define FASTMLP_ENGINE_H

#include "fastmlp.h"

/* Element-wise loops compiled for AVX-512, AVX2 and the baseline, picked at
 * load time (GCC function multi-versioning, Linux/x86-64): the wheel stays
 * portable and the loops use the CPU's full vector width.  No FMA
 * contraction in these files, so every version computes the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FM_SIMD_CLONES
#endif

/* The BLAS's GEMM, installed by fm_set_blas (blas.c). */
extern fm_sgemm_fn fm_blas_sgemm;
extern fm_dgemm_fn fm_blas_dgemm;

/* The engine's own GEMM (gemm.c): C (M, N) := act(A (M, K) . B (K, N) + bias),
 * row-major B and C, A(i, p) = a[i * a_row_stride + p * a_k_stride]; bias
 * (N,) may be NULL; activation FM_ACT_IDENTITY, FM_ACT_RELU or
 * FM_ACT_LEAKY_RELU (slope), applied while the tile is in registers.  The
 * variant for the instruction set fm_detect_cpu picked. */
extern void (*fm_gemm_small_f32)(int m, int n, int k, const float *a, int64_t a_row_stride,
                                 int64_t a_k_stride, const float *b, int ldb, float *c,
                                 int ldc, const float *bias, int activation, double slope);
extern void (*fm_gemm_small_f64)(int m, int n, int k, const double *a, int64_t a_row_stride,
                                 int64_t a_k_stride, const double *b, int ldb, double *c,
                                 int ldc, const double *bias, int activation, double slope);

/* Who computes product `product` of layer `layer` (see fm_net.gemm_kernels). */
static inline int fm_layer_kernel(const fm_net *net, int layer, int product)
{
    return net->gemm_kernels ? net->gemm_kernels[layer * FM_N_PRODUCTS + product]
                             : FM_GEMM_BLAS;
}

/* The optimizer's update runs over fixed parts of the parameter vector (P,):
 * FM_PART_MIN entries or more, at most FM_MAX_PARTS of them.  The parts
 * depend on P only, so a sum taken part by part (the penalty's) has the
 * same bits whichever threads computed the parts. */
#define FM_PART_MIN 16384
#define FM_MAX_PARTS 256
static inline int64_t fm_part_size(int64_t n_params)
{
    const int64_t size = (n_params + FM_MAX_PARTS - 1) / FM_MAX_PARTS;
    return size > FM_PART_MIN ? size : FM_PART_MIN;
}

/* sums[0] = sum W^2, sums[1] = sum |W| over the weights, the first
 * n_weights of the parameter vector params (P,), summed part by part. */
void fm_weight_sums_f32(const float *params, int64_t n_params, int64_t n_weights,
                        double sums[2]);
void fm_weight_sums_f64(const double *params, int64_t n_params, int64_t n_weights,
                        double sums[2]);

/* One update of params (P,) from raw gradient sums grad (P,) (optim.c): the
 * first n_weights entries are weights (penalties alpha W + l1 sign(W)), all
 * are divided by sw_sum; grad itself is left unchanged.  Up to n_threads
 * threads share a long vector (the same result for any n_threads).  When
 * weight_sums is not NULL, it receives fm_weight_sums of the weights before
 * the update (the batch's penalty), from the same pass. */
void fm_optimizer_update_f32(fm_optimizer *opt, float *params, const float *grad, int64_t n,
                             int64_t n_weights, double alpha, double l1, double sw_sum,
                             int n_threads, double *weight_sums);
void fm_optimizer_update_f64(fm_optimizer *opt, double *params, const double *grad, int64_t n,
                             int64_t n_weights, double alpha, double l1, double sw_sum,
                             int n_threads, double *weight_sums);

/* Dropout masks: a 32-bit integer hash (the "lowbias32" mixer) of the seed,
 * the sample index and the unit, so a mask is a pure function of them:
 * reproducible, the same in every batching, and cheap to recompute in the
 * backward pass instead of stored.  A unit is dropped when the hash's top 24
 * bits fall below round(rate * 2^24). */
static inline uint32_t fm_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t fm_dropout_row_key(uint64_t seed, int64_t sample)
{
    uint32_t key = fm_mix32((uint32_t)(seed >> 32) ^ 0x9e3779b9U);
    key = fm_mix32(key ^ (uint32_t)seed);
    key = fm_mix32(key ^ (uint32_t)((uint64_t)sample >> 32));
    return fm_mix32(key ^ (uint32_t)sample);
}

static inline uint32_t fm_dropout_threshold(double rate)
{
    return (uint32_t)(rate * 16777216.0 + 0.5);
}

static inline int fm_dropout_unit_kept(uint32_t row_key, int64_t unit, uint32_t threshold)
{
    return (fm_mix32(row_key + (uint32_t)unit * 0x9e3779b9U) >> 8) >= threshold;
}

/* Activations whose derivative needs the pre-activation, not the output. */
static inline int fm_activation_needs_input(int activation)
{
    return activation == FM_ACT_GELU || activation == FM_ACT_SWISH;
}

/* Run fn(ctx, chunk, n_chunks) for every chunk in [0, n_chunks) on the
 * calling thread and up to n_threads - 1 of the engine's worker threads
 * (threads.c), whichever is free taking the next chunk; returns when all are
 * done.  Chunks must not depend on each other. */
typedef void (*fm_task_fn)(void *ctx, int chunk, int n_chunks);
void fm_parallel_run(int n_threads, int n_chunks, fm_task_fn fn, void *ctx);

/* Seconds on a monotonic clock, for rate-limiting interrupt checks. */
double fm_monotonic_seconds(void);

#endif
