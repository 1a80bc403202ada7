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

/* sum W^2 and sum |W| of w[lo:hi): eight running sums each, so the adds
 * pipeline (and vectorize, lane by lane: the same bits on every ISA). */
FM_SIMD_CLONES static void SFX(range_weight_sums)(const REAL *restrict w, int64_t lo,
                                                  int64_t hi, double sums[2])
{
    double sq[8] = {0}, ab[8] = {0};
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++) {
            const double v = w[i + k];
            sq[k] += v * v;
            ab[k] += fabs(v);
        }
    for (int k = 0; i < hi; i++, k++) {
        const double v = w[i];
        sq[k] += v * v;
        ab[k] += fabs(v);
    }
    sums[0] = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));
    sums[1] = ((ab[0] + ab[1]) + (ab[2] + ab[3])) + ((ab[4] + ab[5]) + (ab[6] + ab[7]));
}

/* The weights [lo, hi) of part `part`, clipped to the first n_weights. */
static void SFX(part_weights)(int64_t n, int64_t n_weights, int part, int64_t *lo,
                              int64_t *hi)
{
    const int64_t size = fm_part_size(n);
    *lo = part * size < n_weights ? part * size : n_weights;
    *hi = (part + 1) * size < n_weights ? (part + 1) * size : n_weights;
}

void SFX(fm_weight_sums)(const REAL *params, int64_t n_params, int64_t n_weights,
                         double sums[2])
{
    const int n_parts = (int)((n_params + fm_part_size(n_params) - 1) / fm_part_size(n_params));
    sums[0] = sums[1] = 0;
    for (int part = 0; part < n_parts; part++) {
        int64_t lo, hi;
        double part_sums[2];
        SFX(part_weights)(n_params, n_weights, part, &lo, &hi);
        SFX(range_weight_sums)(params, lo, hi, part_sums);
        sums[0] += part_sums[0];
        sums[1] += part_sums[1];
    }
}

/* One part of an update (see fm_part_size). */
typedef struct {
    const fm_optimizer *opt;
    REAL lr, alpha, l1, scale, keep;
    REAL *params, *m1, *m2;
    const REAL *grad;
    int64_t n, n_weights;
    double *part_sums; /* (2 * parts,) or NULL: the part's weight sums */
} SFX(update_task);

FM_SIMD_CLONES static void SFX(update_part)(void *ctx, int part, int n_parts)
{
    const SFX(update_task) *t = ctx;
    const int64_t size = fm_part_size(t->n);
    const int64_t lo = part * size, hi = part + 1 == n_parts ? t->n : lo + size;
    int64_t w_lo, w_hi;
    SFX(part_weights)(t->n, t->n_weights, part, &w_lo, &w_hi);
    /* read before the update; the part is then in cache for it */
    if (t->part_sums) SFX(range_weight_sums)(t->params, w_lo, w_hi, t->part_sums + 2 * part);
    /* weights (with their penalties and decay), then the other entries */
    SFX(update_range)(t->opt, t->lr, t->params, t->grad, t->m1, t->m2, lo, w_hi, t->alpha,
                      t->l1, t->scale, t->keep);
    SFX(update_range)(t->opt, t->lr, t->params, t->grad, t->m1, t->m2, w_hi > lo ? w_hi : lo,
                      hi, 0, 0, t->scale, 1);
}

void SFX(fm_optimizer_update)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                              int64_t n_weights, double alpha, double l1, double sw_sum,
                              int n_threads, double *weight_sums)
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
    const int n_parts = (int)((n + fm_part_size(n) - 1) / fm_part_size(n));
    double part_sums[2 * FM_MAX_PARTS];
    SFX(update_task) task = {opt, (REAL)lr, (REAL)alpha, (REAL)l1, (REAL)sw_sum, keep,
                             params, (REAL *)opt->moment_1, (REAL *)opt->moment_2, grad,
                             n, n_weights, weight_sums ? part_sums : NULL};
    if (n_threads > 1 && n_parts > 1) {
        fm_parallel_run(n_threads, n_parts, SFX(update_part), &task);
    } else {
        for (int part = 0; part < n_parts; part++) SFX(update_part)(&task, part, n_parts);
    }
    if (weight_sums) { /* in part order, as fm_weight_sums */
        weight_sums[0] = weight_sums[1] = 0;
        for (int part = 0; part < n_parts; part++) {
            weight_sums[0] += part_sums[2 * part];
            weight_sums[1] += part_sums[2 * part + 1];
        }
    }
}

void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                            int64_t n_weights, int n_threads)
{
    SFX(fm_optimizer_update)(opt, params, grad, n, n_weights, 0, 0, 1, n_threads, NULL);
}

#undef GRAD_I
