/* Template: see instantiate.h.  x is (B, OUT) row-major. */

#include "vexp.tmpl.h"

static inline REAL SFX(logistic)(REAL z)
{
    /* exp of -|z| only: never exponentiate a large positive number */
    const REAL e = SFX(vexp)(z >= 0 ? -z : z);
    return z >= 0 ? (REAL)1 / ((REAL)1 + e) : e / ((REAL)1 + e);
}

/* logistic(z) and logistic(-z) = 1 - logistic(z), both to full relative
 * accuracy (1 - logistic(z) rounded would lose it for z >> 0), from one exp */
static inline void SFX(logistic_pair)(REAL z, REAL *s, REAL *q)
{
    const REAL e = SFX(vexp)(z >= 0 ? -z : z);
    const REAL r = (REAL)1 / ((REAL)1 + e);
    *s = z >= 0 ? r : e * r;
    *q = z >= 0 ? e * r : r;
}

/* GELU's tanh approximation: 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + c z^3),
 * computed as z logistic(2u), the same function without the cancellation of
 * 1 + tanh(u) for z << 0 (where the textbook form returns 0 for a result of
 * 1e-17, and loses hundreds of ulp already at z = -3). */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654
#define GELU_CUBIC 0.044715

static inline REAL SFX(gelu)(REAL z)
{
    const REAL u = (REAL)GELU_SQRT_2_OVER_PI * (z + (REAL)GELU_CUBIC * z * z * z);
    return z * SFX(logistic)(2 * u);
}

/* d/dz z s(2u) = s + 2 z s (1 - s) u', 1 - s from logistic_pair */
static inline REAL SFX(gelu_derivative)(REAL z)
{
    const REAL u = (REAL)GELU_SQRT_2_OVER_PI * (z + (REAL)GELU_CUBIC * z * z * z);
    const REAL du = (REAL)GELU_SQRT_2_OVER_PI * (1 + 3 * (REAL)GELU_CUBIC * z * z);
    REAL s, q;
    SFX(logistic_pair)(2 * u, &s, &q);
    /* q == 0: the second term vanishes (no 0 * inf when z * z overflows) */
    return q > 0 ? s + 2 * z * s * q * du : s;
}

static inline void SFX(softmax_rows)(REAL *x, const REAL *bias, int64_t n_rows, int n_cols)
{
    for (int64_t i = 0; i < n_rows; i++) {
        REAL *restrict row = x + i * n_cols;
        REAL max = -INFINITY;
        for (int j = 0; j < n_cols; j++) {
            if (bias) row[j] += bias[j];
            if (row[j] > max) max = row[j];
        }
        /* subtracting the max: no overflow; exponentials, then their sum,
         * in separate loops so that the first vectorizes */
        for (int j = 0; j < n_cols; j++) row[j] = SFX(vexp)(row[j] - max);
        REAL sum = 0;
        for (int j = 0; j < n_cols; j++) sum += row[j];
        for (int j = 0; j < n_cols; j++) row[j] /= sum;
    }
}

FM_SIMD_CLONES void SFX(fm_bias_activation)(REAL *x, const REAL *bias, int64_t n_rows, int n_cols,
                             int activation, double leaky_relu_slope)
{
    if (activation == FM_ACT_SOFTMAX) {
        SFX(softmax_rows)(x, bias, n_rows, n_cols);
        return;
    }
    const REAL slope = (REAL)leaky_relu_slope;
    for (int64_t i = 0; i < n_rows; i++) {
        REAL *restrict row = x + i * n_cols;
        if (bias)
            for (int j = 0; j < n_cols; j++) row[j] += bias[j];
        switch (activation) {
        case FM_ACT_IDENTITY:
            break;
        case FM_ACT_LOGISTIC:
            for (int j = 0; j < n_cols; j++) row[j] = SFX(logistic)(row[j]);
            break;
        case FM_ACT_TANH:
            for (int j = 0; j < n_cols; j++) row[j] = SFX(vtanh)(row[j]);
            break;
        case FM_ACT_RELU: /* zeroes x <= 0 only: NaN stays NaN, as in np.maximum */
            for (int j = 0; j < n_cols; j++) row[j] = row[j] <= 0 ? 0 : row[j];
            break;
        case FM_ACT_LEAKY_RELU:
            for (int j = 0; j < n_cols; j++) row[j] = row[j] <= 0 ? slope * row[j] : row[j];
            break;
        case FM_ACT_EXP:
            for (int j = 0; j < n_cols; j++) row[j] = SFX(vexp)(row[j]);
            break;
        case FM_ACT_ELU:
            for (int j = 0; j < n_cols; j++)
                row[j] = row[j] > 0 ? row[j] : SFX(vexpm1_nonpositive)(row[j]);
            break;
        case FM_ACT_GELU:
            for (int j = 0; j < n_cols; j++) row[j] = SFX(gelu)(row[j]);
            break;
        case FM_ACT_SWISH:
            for (int j = 0; j < n_cols; j++) row[j] = row[j] * SFX(logistic)(row[j]);
            break;
        }
    }
}

FM_SIMD_CLONES void SFX(fm_activation_backward)(REAL *restrict delta, const REAL *restrict a, int64_t n,
                                 int activation, double leaky_relu_slope)
{
    const REAL slope = (REAL)leaky_relu_slope;
    switch (activation) {
    case FM_ACT_IDENTITY:
        break;
    case FM_ACT_LOGISTIC:
        for (int64_t i = 0; i < n; i++) delta[i] = delta[i] * a[i] * (1 - a[i]);
        break;
    case FM_ACT_TANH:
        for (int64_t i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i];
        break;
    case FM_ACT_RELU:
        for (int64_t i = 0; i < n; i++) delta[i] = a[i] == 0 ? 0 : delta[i];
        break;
    case FM_ACT_LEAKY_RELU:
        /* slope >= 0, so the output's sign is the input's */
        for (int64_t i = 0; i < n; i++) delta[i] = a[i] > 0 ? delta[i] : slope * delta[i];
        break;
    case FM_ACT_EXP:
        for (int64_t i = 0; i < n; i++) delta[i] *= a[i];
        break;
    case FM_ACT_ELU: /* exp(z) - 1 + 1 = a + 1 for z <= 0 */
        for (int64_t i = 0; i < n; i++) delta[i] = a[i] > 0 ? delta[i] : delta[i] * (a[i] + 1);
        break;
    /* gelu and swish: a is the pre-activation z (their output does not
     * determine their slope) */
    case FM_ACT_GELU:
        for (int64_t i = 0; i < n; i++) delta[i] *= SFX(gelu_derivative)(a[i]);
        break;
    case FM_ACT_SWISH:
        for (int64_t i = 0; i < n; i++) { /* s + z s (1 - s) */
            REAL s, q;
            SFX(logistic_pair)(a[i], &s, &q);
            delta[i] *= s + a[i] * s * q;
        }
        break;
    }
    /* FM_ACT_SOFTMAX is only an output activation: its derivative is fused
     * into the cross-entropy delta (fm_loss_delta). */
}

#undef GELU_SQRT_2_OVER_PI
#undef GELU_CUBIC
