/* Small-matrix GEMM: a register-blocked kernel for the shapes of small and
 * medium networks, where OpenBLAS's packing, call overhead and thread
 * wake-ups cost more than the arithmetic.  Large products go to the BLAS.
 *
 * The kernel is written once with GCC/Clang vector extensions and compiled
 * for the baseline ISA, for AVX2 + FMA and for AVX-512 (x86-64), the best
 * the CPU has picked at run time, so a wheel runs on any x86-64.  This file is compiled with -ffp-contract=fast so
 * that acc += a * b becomes an FMA where the ISA has one. */
#include <string.h>

#include "engine.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_X86_DISPATCH 1
#define FM_AVX2_TARGET __attribute__((target("avx2,fma")))
#define FM_AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define FM_X86_DISPATCH 0
#endif

static int use_avx2, use_avx512;

/* Splitting products over threads: see FM_DEFINE_GEMM_SMALL below. */
#define ROW_BLOCK 96
#define ROW_UNIT 6
#define COL_UNIT 32
#define CHUNKS_PER_THREAD 4

int fm_detect_cpu(const char *max_isa)
{
    use_avx2 = use_avx512 = 0;
#if FM_X86_DISPATCH
    const int cap = !max_isa || !*max_isa ? 2
                    : strcmp(max_isa, "avx512") == 0 ? 2
                    : strcmp(max_isa, "avx2") == 0 ? 1
                    : strcmp(max_isa, "generic") == 0 ? 0 : -1;
    if (cap < 0) return -1;
    __builtin_cpu_init();
    use_avx2 = cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    use_avx512 = cap >= 2 && use_avx2 && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512vl");
#else
    if (max_isa && *max_isa && strcmp(max_isa, "generic") != 0 &&
        strcmp(max_isa, "avx2") != 0 && strcmp(max_isa, "avx512") != 0)
        return -1;
#endif
    return 0;
}

const char *fm_gemm_isa(void)
{
    return use_avx512 ? "avx512" : use_avx2 ? "avx2" : "generic";
}

int fm_gemm_vectorized(void)
{
    return use_avx2 || use_avx512;
}

int fm_gemm_parts(int m, int n, int k, int n_threads, int *by_columns)
{
    /* CHUNKS_PER_THREAD chunks per thread, so that a thread that starts late
     * leaves its share to the others; each chunk FM_GEMM_MIN_ROWS rows (or
     * COL_UNIT columns) and FM_THREAD_MIN_WORK multiply-adds at least:
     * smaller ones cost more to hand out than they save */
    if (n_threads <= 1) return 1;
    int chunks = n_threads * CHUNKS_PER_THREAD;
    const double work = (double)m * n * k / FM_THREAD_MIN_WORK;
    if (chunks > work) chunks = (int)work;
    *by_columns = m / FM_GEMM_MIN_ROWS < 2;
    const int most = *by_columns ? n / COL_UNIT : m / FM_GEMM_MIN_ROWS;
    if (chunks > most) chunks = most;
    return chunks > 1 ? chunks : 1;
}

#define FM_TEMPLATE "gemm.tmpl.h"
#define KERNEL_ISA _generic
#define KERNEL_TARGET
#define KERNEL_VEC_BYTES 32
#include "instantiate.h"
#undef FM_TEMPLATE
#undef KERNEL_ISA
#undef KERNEL_TARGET
#undef KERNEL_VEC_BYTES

#if FM_X86_DISPATCH
#define FM_TEMPLATE "gemm.tmpl.h"
#define KERNEL_ISA _avx2
#define KERNEL_TARGET FM_AVX2_TARGET
#define KERNEL_VEC_BYTES 32
#include "instantiate.h"
#undef KERNEL_ISA
#undef KERNEL_TARGET
#undef KERNEL_VEC_BYTES

#define KERNEL_ISA _avx512
#define KERNEL_TARGET FM_AVX512_TARGET
#define KERNEL_VEC_BYTES 64
#include "instantiate.h"
#undef FM_TEMPLATE
#undef KERNEL_ISA
#undef KERNEL_TARGET
#undef KERNEL_VEC_BYTES
#endif

/* Dispatch on the CPU found by fm_detect_cpu (called once at import). */
#if FM_X86_DISPATCH
#define FM_DISPATCH(fn, ...)                                                          \
    (use_avx512 ? fn##_avx512(__VA_ARGS__)                                            \
                : use_avx2 ? fn##_avx2(__VA_ARGS__) : fn##_generic(__VA_ARGS__))
#else
#define FM_DISPATCH(fn, ...) fn##_generic(__VA_ARGS__)
#endif

/* Each element of C is computed the same way whichever rows and columns
 * share its call, so a product is split into independent parts: runs of
 * rows (multiples of the micro-kernel's 6) when there are enough rows, else
 * runs of columns (multiples of COL_UNIT, a multiple of every kernel's panel
 * width).  A part works through its rows in blocks of ROW_BLOCK, whose A
 * rows stay in L2 while every column panel passes over them. */

#define FM_DEFINE_GEMM_SMALL(SFX, REAL)                                                \
    typedef struct {                                                                   \
        int m, n, k;                                                                   \
        const REAL *a;                                                                 \
        int64_t ars, aks;                                                              \
        const REAL *b;                                                                 \
        int ldb;                                                                       \
        REAL *c;                                                                       \
        int ldc;                                                                       \
        const REAL *bias;                                                              \
        int activation;                                                                \
        double slope;                                                                  \
        int by_columns;                                                                \
    } SFX##_task;                                                                      \
                                                                                       \
    /* rows [r0, r1) x columns [c0, c1) of C */                                        \
    static void SFX##_block(const SFX##_task *t, int r0, int r1, int c0, int c1)       \
    {                                                                                  \
        for (int i = r0; i < r1; i += ROW_BLOCK) {                                     \
            const int rows = r1 - i < ROW_BLOCK ? r1 - i : ROW_BLOCK;                  \
            FM_DISPATCH(gemm_small_##SFX, rows, c1 - c0, t->k, t->a + i * t->ars,      \
                        t->ars, t->aks, t->b + c0, t->ldb,                             \
                        t->c + (int64_t)i * t->ldc + c0, t->ldc,                       \
                        t->bias ? t->bias + c0 : NULL, t->activation, t->slope);       \
        }                                                                              \
    }                                                                                  \
                                                                                       \
    static void SFX##_part(void *ctx, int part, int n_parts)                           \
    {                                                                                  \
        const SFX##_task *t = ctx;                                                     \
        const int size = t->by_columns ? t->n : t->m;                                  \
        const int unit = t->by_columns ? COL_UNIT : ROW_UNIT;                          \
        const int units = (size + unit - 1) / unit;                                    \
        const int first = (int)((int64_t)units * part / n_parts) * unit;               \
        int last = (int)((int64_t)units * (part + 1) / n_parts) * unit;                \
        if (last > size) last = size;                                                  \
        if (t->by_columns)                                                             \
            SFX##_block(t, 0, t->m, first, last);                                      \
        else                                                                           \
            SFX##_block(t, first, last, 0, t->n);                                      \
    }                                                                                  \
                                                                                       \
    void fm_gemm_small_##SFX(int m, int n, int k, const REAL *a, int64_t a_row_stride, \
                             int64_t a_k_stride, const REAL *b, int ldb, REAL *c,      \
                             int ldc, const REAL *bias, int activation, double slope,  \
                             int n_threads)                                            \
    {                                                                                  \
        int by_columns = 0;                                                            \
        const int chunks = fm_gemm_parts(m, n, k, n_threads, &by_columns);             \
        SFX##_task t = {m, n, k, a, a_row_stride, a_k_stride, b, ldb, c, ldc,          \
                        bias, activation, slope, by_columns};                          \
        if (chunks > 1)                                                                \
            fm_parallel_run(n_threads, chunks, SFX##_part, &t);                        \
        else                                                                           \
            SFX##_block(&t, 0, m, 0, n);                                               \
    }

FM_DEFINE_GEMM_SMALL(f32, float)
FM_DEFINE_GEMM_SMALL(f64, double)
