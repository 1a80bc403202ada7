/* The BLAS the engine calls, installed once at import by the bindings (the
 * OpenBLAS that SciPy ships, so one BLAS serves the whole process and
 * threadpoolctl controls it); dense.tmpl.h calls it row-major. */
#include <time.h>

#include "engine.h"

fm_sgemm_fn fm_blas_sgemm;
fm_dgemm_fn fm_blas_dgemm;

void fm_set_blas(fm_sgemm_fn sgemm, fm_dgemm_fn dgemm)
{
    fm_blas_sgemm = sgemm;
    fm_blas_dgemm = dgemm;
}

double fm_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
