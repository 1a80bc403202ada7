/* Template: see instantiate.h.  The arithmetic follows scikit-learn's
 * optimizers step for step, so the same gradients give the same weights.
 *
 * The training loop's raw gradient sums are turned into the gradient
 * ((sum + alpha * W + l1 * sign(W)) / sw_sum for weights, sum / sw_sum for
 * the others) inside the update loop, so each batch makes one pass over the
 * parameters (two with gradient clipping, which needs the norm first). */

static inline REAL SFX(sign)(REAL x)
{
    return (REAL)((x > 0) - (x < 0));
}

/* The gradient of entry i (see above). */
#define GRAD_I ((grad[i] + alpha * params[i] + l1 * SFX(sign)(params[i])) / scale)

/* params[lo:hi] -= update from the gradient; keep: AdamW's decay factor */
static inline void SFX(update_range)(const fm_optimizer *opt, REAL lr, REAL *restrict params,
                                     const REAL *restrict grad, REAL *restrict m1,
                                     REAL *restrict m2, int64_t lo, int64_t hi, REAL alpha,
                                     REAL l1, REAL scale, REAL keep)
{
    switch (opt->kind) {
    case FM_OPT_SGD: {
        const REAL mu = (REAL)opt->momentum;
        if (opt->nesterov) {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = GRAD_I;
                m1[i] = mu * m1[i] - lr * g;
                params[i] += mu * m1[i] - lr * g;
            }
        } else {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = GRAD_I;
                m1[i] = mu * m1[i] - lr * g;
                params[i] += m1[i];
            }
        }
        break;
    }
    case FM_OPT_ADAM:
    case FM_OPT_ADAMW: {
        const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
        const REAL c1 = (REAL)(1 - opt->beta_1), c2 = (REAL)(1 - opt->beta_2);
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = GRAD_I;
            m1[i] = b1 * m1[i] + c1 * g;
            m2[i] = b2 * m2[i] + c2 * (g * g);
            params[i] = keep * params[i] - lr * m1[i] / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    case FM_OPT_RMSPROP: {
        const REAL rho = (REAL)opt->beta_2, c2 = (REAL)(1 - opt->beta_2);
        const REAL eps = (REAL)opt->epsilon;
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = GRAD_I;
            m2[i] = rho * m2[i] + c2 * (g * g);
            params[i] -= lr * g / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    }
}

/* Euclidean norm of the gradient (see above) */
static double SFX(grad_norm)(const REAL *restrict params, const REAL *restrict grad,
                             int64_t n, int64_t n_weights, REAL alpha, REAL l1, REAL scale)
{
    double sum_sq = 0;
    for (int64_t i = 0; i < n_weights; i++) {
        const REAL g = GRAD_I;
        sum_sq += (double)g * g;
    }
    for (int64_t i = n_weights; i < n; i++) {
        const REAL g = grad[i] / scale;
        sum_sq += (double)g * g;
    }
    return sqrt(sum_sq);
}

FM_SIMD_CLONES void SFX(fm_optimizer_update)(fm_optimizer *opt, REAL *params, const REAL *grad,
                                             int64_t n, int64_t n_weights, double alpha,
                                             double l1, double sw_sum)
{
    if (opt->max_grad_norm > 0) {
        /* clipping: a larger divisor shortens the gradient to max_grad_norm */
        const double norm = SFX(grad_norm)(params, grad, n, n_weights, (REAL)alpha, (REAL)l1,
                                           (REAL)sw_sum);
        if (norm > opt->max_grad_norm) sw_sum *= norm / opt->max_grad_norm;
    }
    opt->step += 1;
    double lr = opt->learning_rate;
    /* AdamW decays the weights by the step size without bias correction */
    const REAL keep = opt->kind == FM_OPT_ADAMW ? (REAL)(1 - lr * opt->weight_decay) : 1;
    if (opt->kind == FM_OPT_ADAM || opt->kind == FM_OPT_ADAMW) {
        /* bias correction folded into the step size, as scikit-learn does */
        const double t = (double)opt->step;
        lr = lr * sqrt(1 - pow(opt->beta_2, t)) / (1 - pow(opt->beta_1, t));
    }
    REAL *m1 = (REAL *)opt->moment_1, *m2 = (REAL *)opt->moment_2;
    SFX(update_range)(opt, (REAL)lr, params, grad, m1, m2, 0, n_weights, (REAL)alpha,
                      (REAL)l1, (REAL)sw_sum, keep);
    SFX(update_range)(opt, (REAL)lr, params, grad, m1, m2, n_weights, n, 0, 0, (REAL)sw_sum, 1);
}

void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                            int64_t n_weights)
{
    SFX(fm_optimizer_update)(opt, params, grad, n, n_weights, 0, 0, 1);
}

#undef GRAD_I
