/* The BLAS the engine calls, installed once at import by the bindings (the
 * OpenBLAS that SciPy ships, so one BLAS serves the whole process and
 * threadpoolctl controls it), and row-major GEMM on top of it. */
#include <time.h>

#include "engine.h"

static fm_sgemm_fn blas_sgemm;
static fm_dgemm_fn blas_dgemm;

void fm_set_blas(fm_sgemm_fn sgemm, fm_dgemm_fn dgemm)
{
    blas_sgemm = sgemm;
    blas_dgemm = dgemm;
}

/* Fortran BLAS is column-major; a row-major C = op(A) op(B) is the
 * column-major C^T = op(B)^T op(A)^T, so swap the operands, not the data. */
#define FM_DEFINE_GEMM(SFX, REAL, FN)                                              \
    void SFX(int trans_a, int trans_b, int m, int n, int k, REAL alpha,            \
             const REAL *a, int lda, const REAL *b, int ldb, REAL beta, REAL *c,   \
             int ldc)                                                              \
    {                                                                              \
        char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';                   \
        if (m == 0 || n == 0) return;                                              \
        if (k == 0) { /* an empty sum: C := beta C, which BLAS may skip */         \
            for (int i = 0; i < m; i++)                                            \
                for (int j = 0; j < n; j++)                                        \
                    c[(int64_t)i * ldc + j] = beta == 0 ? 0 : beta * c[(int64_t)i * ldc + j]; \
            return;                                                                \
        }                                                                          \
        FN(&tb, &ta, &n, &m, &k, &alpha, (REAL *)b, &ldb, (REAL *)a, &lda, &beta,  \
           c, &ldc);                                                               \
    }
FM_DEFINE_GEMM(fm_gemm_f32, float, blas_sgemm)
FM_DEFINE_GEMM(fm_gemm_f64, double, blas_dgemm)

double fm_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
