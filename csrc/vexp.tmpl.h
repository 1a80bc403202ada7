/* Template: see instantiate.h.  exp, expm1 and tanh written so that loops
 * over them vectorize (no branches, no calls).  All reduce x = k ln2 + r with
 * |r| <= ln2 / 2, take expm1(r) from its Taylor polynomial (degree 13 for
 * double, 7 for float: truncation below half an ulp) and build 2^k in the
 * exponent bits.  Accuracy (tested against extended precision): exp within
 * 2 ulp, tanh within 3 ulp; specials and NaN as in C99. */

#if REAL_IS_DOUBLE
#define VEXP_SHIFTER 0x1.8p52 /* 1.5 * 2^52: adding it rounds to an integer */
#define VEXP_LN2_HI 0x1.62e42fee00000p-1
#define VEXP_LN2_LO 0x1.a39ef35793c76p-33
#define VEXP_MANTISSA_BITS 52
#define VEXP_EXPONENT_BIAS 1023
#define VEXP_OVERFLOW 709.782712893384    /* above: exp(x) = inf */
#define VEXP_UNDERFLOW -745.1332191019412 /* below: exp(x) = 0 */
#define VEXP_MINUS_ONE -40.0              /* below: expm1(x) = -1 */
#else
#define VEXP_SHIFTER 0x1.8p23f
#define VEXP_LN2_HI 0x1.62e4p-1f
#define VEXP_LN2_LO 0x1.7f7d1cp-20f
#define VEXP_MANTISSA_BITS 23
#define VEXP_EXPONENT_BIAS 127
#define VEXP_OVERFLOW 88.72283935546875f
#define VEXP_UNDERFLOW -103.97208404541015625f
#define VEXP_MINUS_ONE -20.0f
#endif

/* r with x = k ln2 + r, |r| <= ln2 / 2; *k clamped to [k_min, k_max], the
 * range a finite x can give (a NaN x gives garbage bits, which must not
 * overflow the shifts of pow2 below; its result is NaN anyway). */
static inline REAL SFX(exp_reduce)(REAL x, IREAL k_min, IREAL k_max, IREAL *k)
{
    const REAL shifter = VEXP_SHIFTER;
    REAL kd = x * (REAL)1.4426950408889634 + shifter;
    UIREAL kbits, shifter_bits;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    const IREAL k_raw = (IREAL)(kbits - shifter_bits);
    *k = k_raw < k_min ? k_min : (k_raw > k_max ? k_max : k_raw);
    kd -= shifter;
    return (x - kd * VEXP_LN2_HI) - kd * VEXP_LN2_LO;
}

/* expm1(r) for |r| <= ln2 / 2: Taylor polynomial without the constant term */
static inline REAL SFX(expm1_reduced)(REAL r)
{
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
#else
    REAL q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
#endif
    return q * r * r + r;
}

/* 2^k for k in the normal exponent range */
static inline REAL SFX(pow2)(IREAL k)
{
    const UIREAL bits = (UIREAL)(k + VEXP_EXPONENT_BIAS) << VEXP_MANTISSA_BITS;
    REAL p;
    memcpy(&p, &bits, sizeof p);
    return p;
}

static inline REAL SFX(vexp)(REAL x)
{
    const REAL hi = VEXP_OVERFLOW, lo = VEXP_UNDERFLOW;
    REAL xc = x > hi ? hi : x; /* NaN compares false and passes through */
    xc = xc < lo ? lo : xc;
    IREAL k;
    const REAL r = SFX(exp_reduce)(xc, -1100, 1100, &k);
    const REAL p = 1 + SFX(expm1_reduced)(r);
    /* 2^k in two normal factors, so that subnormal results round once */
    const IREAL k1 = k / 2;
    const REAL result = p * SFX(pow2)(k1) * SFX(pow2)(k - k1);
    return x > hi ? (REAL)INFINITY : (x < lo ? (REAL)0 : result);
}

/* expm1(x) for x <= 0: 2^k expm1(r) + (2^k - 1), no cancellation near 0. */
static inline REAL SFX(vexpm1_nonpositive)(REAL x)
{
    const REAL lo = VEXP_MINUS_ONE;
    const REAL xc = x < lo ? lo : x; /* NaN passes through */
    IREAL k;
    const REAL r = SFX(exp_reduce)(xc, -100, 0, &k);
    const REAL scale = SFX(pow2)(k);
    return scale * SFX(expm1_reduced)(r) + (scale - 1);
}

/* tanh(z) = sign(z) * -t / (t + 2), t = expm1(-2|z|): no overflow, no
 * cancellation near 0; tanh(+-inf) = +-1, NaN stays NaN, -0 stays -0. */
static inline REAL SFX(vtanh)(REAL z)
{
    const REAL t = SFX(vexpm1_nonpositive)(-2 * M(fabs)(z));
    return M(copysign)(-t / (t + 2), z);
}

#undef VEXP_SHIFTER
#undef VEXP_LN2_HI
#undef VEXP_LN2_LO
#undef VEXP_MANTISSA_BITS
#undef VEXP_EXPONENT_BIAS
#undef VEXP_OVERFLOW
#undef VEXP_UNDERFLOW
#undef VEXP_MINUS_ONE
