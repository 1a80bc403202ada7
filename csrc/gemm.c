/* Small-matrix GEMM: a register-blocked kernel for the shapes of small and
 * medium networks, where OpenBLAS's packing, call overhead and thread
 * wake-ups cost more than the arithmetic.  Large products go to the BLAS.
 *
 * The kernel is written once with GCC/Clang vector extensions and compiled
 * twice: for the baseline ISA, and for AVX2 + FMA, picked at run time, so a
 * wheel runs on any x86-64.  This file is compiled with -ffp-contract=fast so
 * that acc += a * b becomes an FMA where the ISA has one. */
#include <string.h>

#include "engine.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_X86_DISPATCH 1
#define FM_AVX2_TARGET __attribute__((target("avx2,fma")))
#else
#define FM_X86_DISPATCH 0
#endif

static int use_avx2;

void fm_detect_cpu(void)
{
#if FM_X86_DISPATCH
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

#define FM_TEMPLATE "gemm.tmpl.h"
#define KERNEL_ISA _generic
#define KERNEL_TARGET
#include "instantiate.h"
#undef FM_TEMPLATE
#undef KERNEL_ISA
#undef KERNEL_TARGET

#if FM_X86_DISPATCH
#define FM_TEMPLATE "gemm.tmpl.h"
#define KERNEL_ISA _avx2
#define KERNEL_TARGET FM_AVX2_TARGET
#include "instantiate.h"
#undef FM_TEMPLATE
#undef KERNEL_ISA
#undef KERNEL_TARGET
#endif

/* Dispatch on the CPU found by fm_detect_cpu (called once at import). */
#if FM_X86_DISPATCH
#define FM_DISPATCH(fn, ...) (use_avx2 ? fn##_avx2(__VA_ARGS__) : fn##_generic(__VA_ARGS__))
#else
#define FM_DISPATCH(fn, ...) fn##_generic(__VA_ARGS__)
#endif

void fm_gemm_small_f32(int m, int n, int k, const float *a, int64_t a_row_stride,
                       int64_t a_k_stride, const float *b, int ldb, float *c, int ldc)
{
    FM_DISPATCH(gemm_small_f32, m, n, k, a, a_row_stride, a_k_stride, b, ldb, c, ldc);
}

void fm_gemm_small_f64(int m, int n, int k, const double *a, int64_t a_row_stride,
                       int64_t a_k_stride, const double *b, int ldb, double *c, int ldc)
{
    FM_DISPATCH(gemm_small_f64, m, n, k, a, a_row_stride, a_k_stride, b, ldb, c, ldc);
}
