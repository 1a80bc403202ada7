/* Template: see instantiate.h.  x is (B, OUT) row-major; statistics are per
 * column, accumulated row by row so the inner loops run along the rows. */

FM_SIMD_CLONES void SFX(fm_batch_norm_forward)(REAL *x, REAL *xhat, REAL *stats,
                                               const REAL *gamma, const REAL *beta,
                                               int n_rows, int n_cols, double eps,
                                               REAL *running_mean, REAL *running_var,
                                               double momentum)
{
    /* two passes (mean, then squared deviations): no cancellation */
    REAL *mean = stats, *inv_std = stats + n_cols;
    memset(mean, 0, sizeof(REAL) * (size_t)n_cols);
    for (int i = 0; i < n_rows; i++) {
        const REAL *restrict row = x + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++) mean[j] += row[j];
    }
    for (int j = 0; j < n_cols; j++) mean[j] /= (REAL)n_rows;
    REAL *var = inv_std;
    memset(var, 0, sizeof(REAL) * (size_t)n_cols);
    for (int i = 0; i < n_rows; i++) {
        const REAL *restrict row = x + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++) {
            const REAL d = row[j] - mean[j];
            var[j] += d * d;
        }
    }
    for (int j = 0; j < n_cols; j++) var[j] /= (REAL)n_rows;
    if (running_mean && n_rows > 1) {
        const REAL m = (REAL)momentum, unbiased = (REAL)n_rows / (REAL)(n_rows - 1);
        for (int j = 0; j < n_cols; j++) {
            running_mean[j] = (1 - m) * running_mean[j] + m * mean[j];
            running_var[j] = (1 - m) * running_var[j] + m * var[j] * unbiased;
        }
    }
    for (int j = 0; j < n_cols; j++) inv_std[j] = 1 / M(sqrt)(var[j] + (REAL)eps);
    for (int i = 0; i < n_rows; i++) {
        REAL *restrict row = x + (int64_t)i * n_cols;
        REAL *restrict h = xhat + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++) {
            h[j] = (row[j] - mean[j]) * inv_std[j];
            row[j] = gamma[j] * h[j] + beta[j];
        }
    }
}

FM_SIMD_CLONES void SFX(fm_batch_norm_backward)(REAL *delta, const REAL *xhat,
                                                const REAL *inv_std, const REAL *gamma,
                                                int n_rows, int n_cols, REAL *dgamma,
                                                REAL *dbeta)
{
    memset(dgamma, 0, sizeof(REAL) * (size_t)n_cols);
    memset(dbeta, 0, sizeof(REAL) * (size_t)n_cols);
    for (int i = 0; i < n_rows; i++) {
        const REAL *restrict d = delta + (int64_t)i * n_cols;
        const REAL *restrict h = xhat + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++) {
            dgamma[j] += d[j] * h[j];
            dbeta[j] += d[j];
        }
    }
    /* d loss / d x = gamma / (B sigma) * (B delta - sum(delta) - xhat * sum(delta xhat)) */
    const REAL n = (REAL)n_rows;
    for (int i = 0; i < n_rows; i++) {
        REAL *restrict d = delta + (int64_t)i * n_cols;
        const REAL *restrict h = xhat + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++)
            d[j] = gamma[j] * inv_std[j] / n * (n * d[j] - dbeta[j] - h[j] * dgamma[j]);
    }
}

FM_SIMD_CLONES void SFX(fm_dropout)(REAL *out, const REAL *inp, int n_rows, int n_cols,
                                    const int64_t *rows, int64_t first_row,
                                    int64_t unit_offset, uint64_t seed, double rate)
{
    const uint32_t threshold = fm_dropout_threshold(rate);
    const REAL scale = (REAL)(1 / (1 - rate));
    for (int i = 0; i < n_rows; i++) {
        const uint32_t key = fm_dropout_row_key(seed, rows ? rows[i] : first_row + i);
        const REAL *in_row = inp + (int64_t)i * n_cols;
        REAL *out_row = out + (int64_t)i * n_cols;
        for (int j = 0; j < n_cols; j++)
            out_row[j] = fm_dropout_unit_kept(key, unit_offset + j, threshold)
                             ? in_row[j] * scale
                             : 0;
    }
}
