/* Template: see instantiate.h.
 *
 * Every log-probability is clipped to [log eps, log(1 - eps)], which is what
 * scikit-learn's clipping of probabilities to [eps, 1 - eps] amounts to: the
 * loss stays finite for any logits and the reported values agree.
 * Multiclass log-probabilities come from log-sum-exp of z (no log of a
 * rounded probability); the binary ones are log(p) and log(1 - p) of the
 * clipped logistic output, as scikit-learn computes them (for |z| > ~30 the
 * rounding of 1 - p shows in the value, and matching it keeps L-BFGS runs
 * identical). */

static inline REAL SFX(clip_log_prob)(REAL logp)
{
    const REAL lo = M(log)(REAL_EPS), hi = M(log1p)(-REAL_EPS);
    return logp < lo ? lo : (logp > hi ? hi : logp);
}

static inline REAL SFX(clip_prob)(REAL p)
{
    return p < REAL_EPS ? REAL_EPS : (p > 1 - REAL_EPS ? 1 - REAL_EPS : p);
}

/* y * log(y / mu) with 0 log 0 = 0, from log mu to stay finite */
static inline REAL SFX(xlogy_ratio)(REAL y, REAL log_mu)
{
    return y == 0 ? 0 : y * (M(log)(y) - log_mu);
}

double SFX(fm_loss_delta)(REAL *delta, const REAL *z, const REAL *a, const REAL *y,
                          const REAL *sw, int64_t n_rows, int n_outputs, int loss,
                          double loss_param)
{
    /* Huber's delta or the quantile, in REAL */
    const REAL param = (REAL)loss_param;
    double total = 0;
    for (int64_t i = 0; i < n_rows; i++) {
        const REAL *zi = z + i * n_outputs, *ai = a + i * n_outputs, *yi = y + i * n_outputs;
        REAL *di = delta + i * n_outputs;
        const REAL w = sw ? sw[i] : 1;
        REAL row_loss = 0;
        switch (loss) {
        case FM_LOSS_SQUARED_ERROR:
            for (int k = 0; k < n_outputs; k++) {
                REAL r = ai[k] - yi[k];
                row_loss += r * r;
            }
            row_loss *= (REAL)0.5;
            break;
        case FM_LOSS_CROSS_ENTROPY: {
            REAL max = -INFINITY, sum = 0;
            for (int k = 0; k < n_outputs; k++) max = zi[k] > max ? zi[k] : max;
            for (int k = 0; k < n_outputs; k++) sum += M(exp)(zi[k] - max);
            const REAL log_norm = max + M(log)(sum);
            for (int k = 0; k < n_outputs; k++)
                if (yi[k] != 0) row_loss -= yi[k] * SFX(clip_log_prob)(zi[k] - log_norm);
            break;
        }
        case FM_LOSS_BINARY_CROSS_ENTROPY:
            for (int k = 0; k < n_outputs; k++) {
                const REAL p = SFX(clip_prob)(ai[k]);
                if (yi[k] != 0) row_loss -= yi[k] * M(log)(p);
                if (yi[k] != 1) row_loss -= (1 - yi[k]) * M(log)(1 - p);
            }
            break;
        case FM_LOSS_POISSON:
            for (int k = 0; k < n_outputs; k++)
                row_loss += SFX(xlogy_ratio)(yi[k], zi[k]) - yi[k] + ai[k];
            break;
        case FM_LOSS_ABSOLUTE_ERROR:
            for (int k = 0; k < n_outputs; k++) {
                const REAL r = ai[k] - yi[k];
                row_loss += M(fabs)(r);
                di[k] = w * (REAL)((r > 0) - (r < 0));
            }
            break;
        case FM_LOSS_HUBER:
            for (int k = 0; k < n_outputs; k++) {
                const REAL r = ai[k] - yi[k], abs_r = M(fabs)(r);
                if (abs_r <= param) {
                    row_loss += (REAL)0.5 * r * r;
                    di[k] = w * r;
                } else {
                    row_loss += param * (abs_r - (REAL)0.5 * param);
                    di[k] = w * (r > 0 ? param : -param);
                }
            }
            break;
        case FM_LOSS_QUANTILE:
            for (int k = 0; k < n_outputs; k++) {
                const REAL r = yi[k] - ai[k];
                if (r > 0) {
                    row_loss += param * r;
                    di[k] = -w * param;
                } else {
                    row_loss -= (1 - param) * r;
                    di[k] = r < 0 ? w * (1 - param) : 0;
                }
            }
            break;
        }
        total += (double)(w * row_loss);
        /* canonical link: d loss / d z = a - y for the first four losses
         * (the robust regression losses wrote their delta above) */
        if (loss <= FM_LOSS_POISSON)
            for (int k = 0; k < n_outputs; k++) di[k] = w * (ai[k] - yi[k]);
    }
    return total;
}
