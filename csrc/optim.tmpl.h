/* Template: see instantiate.h.  The arithmetic follows scikit-learn's
 * optimizers step for step, so the same gradients give the same weights.
 *
 * The training loop's raw gradient sums are turned into the gradient
 * ((sum + alpha * W) / sw_sum for weights, sum / sw_sum for biases) inside
 * the update loop, so each batch makes one pass over the parameters. */

/* params[lo:hi] -= update from g = (grad + alpha * params) / scale */
static inline void SFX(update_range)(const fm_optimizer *opt, REAL lr, REAL *restrict params,
                                     const REAL *restrict grad, REAL *restrict m1,
                                     REAL *restrict m2, int64_t lo, int64_t hi, REAL alpha,
                                     REAL scale)
{
    switch (opt->kind) {
    case FM_OPT_SGD: {
        const REAL mu = (REAL)opt->momentum;
        if (opt->nesterov) {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = (grad[i] + alpha * params[i]) / scale;
                m1[i] = mu * m1[i] - lr * g;
                params[i] += mu * m1[i] - lr * g;
            }
        } else {
            for (int64_t i = lo; i < hi; i++) {
                const REAL g = (grad[i] + alpha * params[i]) / scale;
                m1[i] = mu * m1[i] - lr * g;
                params[i] += m1[i];
            }
        }
        break;
    }
    case FM_OPT_ADAM: {
        const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
        const REAL c1 = (REAL)(1 - opt->beta_1), c2 = (REAL)(1 - opt->beta_2);
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = (grad[i] + alpha * params[i]) / scale;
            m1[i] = b1 * m1[i] + c1 * g;
            m2[i] = b2 * m2[i] + c2 * (g * g);
            params[i] += -lr * m1[i] / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    case FM_OPT_RMSPROP: {
        const REAL rho = (REAL)opt->beta_2, c2 = (REAL)(1 - opt->beta_2);
        const REAL eps = (REAL)opt->epsilon;
        for (int64_t i = lo; i < hi; i++) {
            const REAL g = (grad[i] + alpha * params[i]) / scale;
            m2[i] = rho * m2[i] + c2 * (g * g);
            params[i] -= lr * g / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    }
}

FM_SIMD_CLONES void SFX(fm_optimizer_update)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                              int64_t n_weights, double alpha, double sw_sum)
{
    opt->step += 1;
    double lr = opt->learning_rate;
    if (opt->kind == FM_OPT_ADAM) {
        /* bias correction folded into the step size, as scikit-learn does */
        const double t = (double)opt->step;
        lr = lr * sqrt(1 - pow(opt->beta_2, t)) / (1 - pow(opt->beta_1, t));
    }
    REAL *m1 = (REAL *)opt->moment_1, *m2 = (REAL *)opt->moment_2;
    SFX(update_range)(opt, (REAL)lr, params, grad, m1, m2, 0, n_weights, (REAL)alpha,
                      (REAL)sw_sum);
    SFX(update_range)(opt, (REAL)lr, params, grad, m1, m2, n_weights, n, 0, (REAL)sw_sum);
}

void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n)
{
    SFX(fm_optimizer_update)(opt, params, grad, n, 0, 0, 1);
}
