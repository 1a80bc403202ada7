/* Template: see instantiate.h.  The arithmetic follows scikit-learn's
 * optimizers step for step, so the same gradients give the same weights. */

void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *restrict params,
                            const REAL *restrict grad, int64_t n)
{
    REAL *restrict m1 = (REAL *)opt->moment_1;
    REAL *restrict m2 = (REAL *)opt->moment_2;
    opt->step += 1;
    switch (opt->kind) {
    case FM_OPT_SGD: {
        const REAL lr = (REAL)opt->learning_rate, mu = (REAL)opt->momentum;
        if (opt->nesterov) {
            for (int64_t i = 0; i < n; i++) {
                m1[i] = mu * m1[i] - lr * grad[i];
                params[i] += mu * m1[i] - lr * grad[i];
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                m1[i] = mu * m1[i] - lr * grad[i];
                params[i] += m1[i];
            }
        }
        break;
    }
    case FM_OPT_ADAM: {
        const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2, eps = (REAL)opt->epsilon;
        const REAL c1 = (REAL)(1 - opt->beta_1), c2 = (REAL)(1 - opt->beta_2);
        const double t = (double)opt->step;
        /* bias correction folded into the step size, as scikit-learn does */
        const REAL lr = (REAL)(opt->learning_rate * sqrt(1 - pow(opt->beta_2, t)) /
                               (1 - pow(opt->beta_1, t)));
        for (int64_t i = 0; i < n; i++) {
            m1[i] = b1 * m1[i] + c1 * grad[i];
            m2[i] = b2 * m2[i] + c2 * (grad[i] * grad[i]);
            params[i] += -lr * m1[i] / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    case FM_OPT_RMSPROP: {
        const REAL lr = (REAL)opt->learning_rate, rho = (REAL)opt->beta_2;
        const REAL c2 = (REAL)(1 - opt->beta_2), eps = (REAL)opt->epsilon;
        for (int64_t i = 0; i < n; i++) {
            m2[i] = rho * m2[i] + c2 * (grad[i] * grad[i]);
            params[i] -= lr * grad[i] / (M(sqrt)(m2[i]) + eps);
        }
        break;
    }
    }
}
