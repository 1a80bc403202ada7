/* Template (see instantiate.h): the finiteness check of input rows. */

/* FM_FINITE (0) when all n values of x are finite, else FM_NONFINITE_NAN when
 * one is NaN, FM_NONFINITE_INF when none is NaN but one is +-infinity.  The
 * first pass only ORs a comparison of each value's exponent bits (all ones:
 * inf or NaN), which vectorizes; the second runs only when it found one. */
int SFX(fm_nonfinite)(const REAL *x, int64_t n)
{
#if REAL_IS_DOUBLE
    const UIREAL exponent = 0x7ff0000000000000u, magnitude = 0x7fffffffffffffffu;
#else
    const UIREAL exponent = 0x7f800000u, magnitude = 0x7fffffffu;
#endif
    int found = 0;
    for (int64_t i = 0; i < n; i++) {
        UIREAL bits;
        memcpy(&bits, x + i, sizeof bits);
        found |= (bits & exponent) == exponent;
    }
    if (!found) return FM_FINITE;
    for (int64_t i = 0; i < n; i++) {
        UIREAL bits;
        memcpy(&bits, x + i, sizeof bits);
        if ((bits & magnitude) > exponent) return FM_NONFINITE_NAN;
    }
    return FM_NONFINITE_INF;
}
