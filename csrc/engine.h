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

/* Row-major GEMM over the installed BLAS:
 * C (M, N) := alpha * op(A) . op(B) + beta * C, op = transpose when trans_x. */
void fm_gemm_f32(int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc);
void fm_gemm_f64(int trans_a, int trans_b, int m, int n, int k, double alpha,
                 const double *a, int lda, const double *b, int ldb, double beta,
                 double *c, int ldc);

/* Small-matrix GEMM (gemm.c): C (M, N) := act(A (M, K) . B (K, N) + bias),
 * row-major B and C, A(i, p) = a[i * a_row_stride + p * a_k_stride]; bias
 * (N,) may be NULL; activation FM_ACT_IDENTITY, FM_ACT_RELU or
 * FM_ACT_LEAKY_RELU (slope), applied while the tile is in registers. */
void fm_gemm_small_f32(int m, int n, int k, const float *a, int64_t a_row_stride,
                       int64_t a_k_stride, const float *b, int ldb, float *c, int ldc,
                       const float *bias, int activation, double slope);
void fm_gemm_small_f64(int m, int n, int k, const double *a, int64_t a_row_stride,
                       int64_t a_k_stride, const double *b, int ldb, double *c, int ldc,
                       const double *bias, int activation, double slope);

/* One update of params (P,) from raw gradient sums grad (P,) (optim.c): the
 * first n_weights entries are weights (L2 penalty alpha), all are divided
 * by sw_sum; grad itself is left unchanged. */
void fm_optimizer_update_f32(fm_optimizer *opt, float *params, const float *grad, int64_t n,
                             int64_t n_weights, double alpha, double sw_sum);
void fm_optimizer_update_f64(fm_optimizer *opt, double *params, const double *grad, int64_t n,
                             int64_t n_weights, double alpha, double sw_sum);

/* Seconds on a monotonic clock, for rate-limiting interrupt checks. */
double fm_monotonic_seconds(void);

#endif
