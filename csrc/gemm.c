/* Small-matrix GEMM: a register-blocked kernel for the shapes of small and
 * medium networks, where OpenBLAS's packing, call overhead and thread
 * wake-ups can cost more than the arithmetic.  Which of the two computes a
 * product is measured on the running machine (fm_time_product, dense.c).
 *
 * The kernel is written once with GCC/Clang vector extensions and compiled
 * for the baseline ISA, for AVX2 + FMA and for AVX-512 (x86-64), the best
 * the CPU has picked at run time, so a wheel runs on any x86-64.  This file
 * is compiled with -ffp-contract=fast so that acc += a * b becomes an FMA
 * where the ISA has one. */
#include <string.h>

#include "engine.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_X86_DISPATCH 1
#define FM_AVX2_TARGET __attribute__((target("avx2,fma")))
#define FM_AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define FM_X86_DISPATCH 0
#endif

static const char *picked_isa = "generic";

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

/* The entry points: the instantiation for the instruction set picked once,
 * at import, by fm_detect_cpu. */
void (*fm_gemm_small_f32)(int m, int n, int k, const float *a, int64_t a_row_stride,
                          int64_t a_k_stride, const float *b, int ldb, float *c, int ldc,
                          const float *bias, int activation, double slope) =
    gemm_small_f32_generic;
void (*fm_gemm_small_f64)(int m, int n, int k, const double *a, int64_t a_row_stride,
                          int64_t a_k_stride, const double *b, int ldb, double *c, int ldc,
                          const double *bias, int activation, double slope) =
    gemm_small_f64_generic;

int fm_detect_cpu(const char *max_isa)
{
    /* 0 generic, 1 AVX2 + FMA, 2 AVX-512: the best the CPU has, capped */
    const int cap = !max_isa || !*max_isa ? 2
                    : strcmp(max_isa, "avx512") == 0 ? 2
                    : strcmp(max_isa, "avx2") == 0 ? 1
                    : strcmp(max_isa, "generic") == 0 ? 0 : -1;
    if (cap < 0) return -1;
    int level = 0;
#if FM_X86_DISPATCH
    __builtin_cpu_init();
    if (cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
    if (cap >= 2 && level == 1 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl"))
        level = 2;
    if (level == 2) {
        fm_gemm_small_f32 = gemm_small_f32_avx512;
        fm_gemm_small_f64 = gemm_small_f64_avx512;
    } else if (level == 1) {
        fm_gemm_small_f32 = gemm_small_f32_avx2;
        fm_gemm_small_f64 = gemm_small_f64_avx2;
    }
#endif
    if (level == 0) {
        fm_gemm_small_f32 = gemm_small_f32_generic;
        fm_gemm_small_f64 = gemm_small_f64_generic;
    }
    picked_isa = level == 2 ? "avx512" : level == 1 ? "avx2" : "generic";
    return 0;
}

const char *fm_gemm_isa(void)
{
    return picked_isa;
}
