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

void fm_gemm_small_f32(int m, int n, int k, const float *a, int64_t a_row_stride,
                       int64_t a_k_stride, const float *b, int ldb, float *c, int ldc,
                       const float *bias, int activation, double slope)
{
    FM_DISPATCH(gemm_small_f32, m, n, k, a, a_row_stride, a_k_stride, b, ldb, c, ldc, bias,
                activation, slope);
}

void fm_gemm_small_f64(int m, int n, int k, const double *a, int64_t a_row_stride,
                       int64_t a_k_stride, const double *b, int ldb, double *c, int ldc,
                       const double *bias, int activation, double slope)
{
    FM_DISPATCH(gemm_small_f64, m, n, k, a, a_row_stride, a_k_stride, b, ldb, c, ldc, bias,
                activation, slope);
}
