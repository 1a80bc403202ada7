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

/* One part of a parallel update: entries [lo, hi) of the vector. */
typedef struct {
    const fm_optimizer *opt;
    REAL lr, alpha, l1, scale, keep;
    REAL *params, *m1, *m2;
    const REAL *grad;
    int64_t n, n_weights;
} SFX(update_task);

FM_SIMD_CLONES static void SFX(update_part)(void *ctx, int part, int n_parts)
{
    const SFX(update_task) *t = ctx;
    const int64_t lo = t->n * part / n_parts, hi = t->n * (part + 1) / n_parts;
    const int64_t split = lo > t->n_weights ? lo : hi < t->n_weights ? hi : t->n_weights;
    /* weights (with their penalties and decay), then the other entries */
    SFX(update_range)(t->opt, t->lr, t->params, t->grad, t->m1, t->m2, lo, split, t->alpha,
                      t->l1, t->scale, t->keep);
    SFX(update_range)(t->opt, t->lr, t->params, t->grad, t->m1, t->m2, split, hi, 0, 0,
                      t->scale, 1);
}

/* Parameters per part of a parallel update: below this, handing parts to
 * other threads costs more than it saves. */
#define UPDATE_PART_MIN 16384
/* Parts per thread, so a thread that starts late leaves its share to the others. */
#define UPDATE_PARTS_PER_THREAD 4

void SFX(fm_optimizer_update)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                              int64_t n_weights, double alpha, double l1, double sw_sum,
                              int n_threads)
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
    SFX(update_task) task = {opt, (REAL)lr, (REAL)alpha, (REAL)l1, (REAL)sw_sum, keep,
                             params, (REAL *)opt->moment_1, (REAL *)opt->moment_2, grad,
                             n, n_weights};
    int64_t parts = n / UPDATE_PART_MIN;
    if (parts > (int64_t)n_threads * UPDATE_PARTS_PER_THREAD)
        parts = (int64_t)n_threads * UPDATE_PARTS_PER_THREAD;
    if (n_threads > 1 && parts > 1)
        fm_parallel_run(n_threads, (int)parts, SFX(update_part), &task);
    else
        SFX(update_part)(&task, 0, 1);
}

#undef UPDATE_PART_MIN
#undef UPDATE_PARTS_PER_THREAD

void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                            int64_t n_weights, int n_threads)
{
    SFX(fm_optimizer_update)(opt, params, grad, n, n_weights, 0, 0, 1, n_threads);
}

#undef GRAD_I
