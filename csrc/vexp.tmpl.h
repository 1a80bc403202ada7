/* Template: see instantiate.h.  exp(x) written so that loops over it
 * vectorize (no branches, no calls): x = k ln2 + r with |r| <= ln2 / 2,
 * exp(r) by its Taylor polynomial (degree 13 for double, 7 for float:
 * truncation below half an ulp), 2^k built in the exponent bits, in two
 * factors so that subnormal results round once.  Within about 2 ulp of the
 * exact value over the whole range; exp(+-inf) = inf / 0, NaN stays NaN. */

static inline REAL SFX(vexp)(REAL x)
{
#if REAL_IS_DOUBLE
    const REAL hi = 709.782712893384, lo = -745.1332191019412;
    const REAL shifter = 0x1.8p52, ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const int mantissa_bits = 52;
    const IREAL bias = 1023;
#else
    const REAL hi = 88.72283935546875f, lo = -103.97208404541015625f;
    const REAL shifter = 0x1.8p23f, ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    const int mantissa_bits = 23;
    const IREAL bias = 127;
#endif
    const REAL log2e = (REAL)1.4426950408889634;
    REAL xc = x > hi ? hi : x; /* NaN compares false and passes through */
    xc = xc < lo ? lo : xc;
    /* k = round(x / ln2): adding 1.5 * 2^mantissa_bits puts it in the low bits */
    REAL kd = xc * log2e + shifter;
    UIREAL kbits, shifter_bits;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    /* unsigned difference, then clamped: a NaN x gives garbage bits here (its
     * result is NaN anyway), which must not overflow the shifts below */
    IREAL k = (IREAL)(kbits - shifter_bits);
    k = k < -1100 ? -1100 : (k > 1100 ? 1100 : k);
    kd -= shifter;
    const REAL r = (xc - kd * ln2_hi) - kd * ln2_lo;
#if REAL_IS_DOUBLE
    REAL p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
#else
    REAL p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
#endif
    /* 2^k = 2^k1 * 2^k2, each factor a normal number for k in [-1075, 1024] */
    const IREAL k1 = k / 2, k2 = k - k1;
    const UIREAL b1 = (UIREAL)(k1 + bias) << mantissa_bits;
    const UIREAL b2 = (UIREAL)(k2 + bias) << mantissa_bits;
    REAL s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    const REAL result = p * s1 * s2;
    return x > hi ? (REAL)INFINITY : (x < lo ? (REAL)0 : result);
}

/* exp(x) - 1 for x <= 0, accurate near 0 (no cancellation): with
 * x = k ln2 + r, expm1(x) = 2^k expm1(r) + (2^k - 1), expm1(r) by its
 * Taylor polynomial without the constant term.  Below -40 (double) / -20
 * (float) the result is -1 to the last bit.  For tanh. */
static inline REAL SFX(vexpm1_nonpositive)(REAL x)
{
#if REAL_IS_DOUBLE
    const REAL lo = -40.0;
    const REAL shifter = 0x1.8p52, ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const int mantissa_bits = 52;
    const IREAL bias = 1023;
#else
    const REAL lo = -20.0f;
    const REAL shifter = 0x1.8p23f, ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    const int mantissa_bits = 23;
    const IREAL bias = 127;
#endif
    const REAL log2e = (REAL)1.4426950408889634;
    const REAL xc = x < lo ? lo : x; /* NaN passes through */
    REAL kd = xc * log2e + shifter;
    UIREAL kbits, shifter_bits;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    IREAL k = (IREAL)(kbits - shifter_bits);
    k = k < -100 ? -100 : (k > 0 ? 0 : k); /* only a NaN x leaves [-58, 0] */
    kd -= shifter;
    const REAL r = (xc - kd * ln2_hi) - kd * ln2_lo;
#if REAL_IS_DOUBLE
    REAL q = 1.0 / 6227020800.0;
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    q = q * r * r + r;
#else
    REAL q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    q = q * r * r + r;
#endif
    const UIREAL bits = (UIREAL)(k + bias) << mantissa_bits;
    REAL scale;
    memcpy(&scale, &bits, sizeof scale);
    return scale * q + (scale - 1);
}

/* tanh(z) = sign(z) * -t / (t + 2), t = expm1(-2|z|): no overflow, no
 * cancellation near 0; tanh(+-inf) = +-1, NaN stays NaN, -0 stays -0. */
static inline REAL SFX(vtanh)(REAL z)
{
    const REAL t = SFX(vexpm1_nonpositive)(-2 * M(fabs)(z));
    return M(copysign)(-t / (t + 2), z);
}
