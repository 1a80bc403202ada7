/* Template (see instantiate.h): the finiteness check of input rows. */

/* FM_FINITE (0) when all n values of x are finite, else FM_NONFINITE_NAN when
 * one is NaN, FM_NONFINITE_INF when none is NaN but one is +-infinity.
 * x - x is exactly 0 for a finite x and NaN otherwise, so the sum of those
 * differences is 0 exactly when all are finite; LANES independent sums let
 * the compiler vectorize it (without reassociating: no fast-math here).  The
 * second pass, which tells NaN from infinity, runs only when one was found. */
#define FM_FINITE_LANES 8
int SFX(fm_nonfinite)(const REAL *x, int64_t n)
{
    REAL lanes[FM_FINITE_LANES] = {0};
    int64_t i = 0;
    for (; i + FM_FINITE_LANES <= n; i += FM_FINITE_LANES)
        for (int j = 0; j < FM_FINITE_LANES; j++) lanes[j] += x[i + j] - x[i + j];
    REAL total = 0;
    for (; i < n; i++) total += x[i] - x[i];
    for (int j = 0; j < FM_FINITE_LANES; j++) total += lanes[j];
    if (total == 0) return FM_FINITE;
#if REAL_IS_DOUBLE
    const UIREAL exponent = 0x7ff0000000000000u, magnitude = 0x7fffffffffffffffu;
#else
    const UIREAL exponent = 0x7f800000u, magnitude = 0x7fffffffu;
#endif
    for (i = 0; i < n; i++) {
        UIREAL bits;
        memcpy(&bits, x + i, sizeof bits);
        if ((bits & magnitude) > exponent) return FM_NONFINITE_NAN;
    }
    return FM_NONFINITE_INF;
}
#undef FM_FINITE_LANES
