/* Template: see instantiate.h. */

/* C (M, N) = A (M, K) . B (K, N) by the engine's own kernel rather than the
 * BLAS?  Small products always (see fm_net); larger ones too when it may use
 * several threads and has a vector instruction set -- all of them, even
 * those too narrow to split: the BLAS's threads, spinning after a call,
 * would fight the engine's for the cores. */
static int SFX(own_kernel)(int m, int n, int k, double small_gemm_max, int n_threads)
{
    if (small_gemm_max == INFINITY) return 1;
    if ((double)m * n * k <= small_gemm_max && (double)n * k <= FM_SMALL_GEMM_PANEL) return 1;
    return n_threads > 1 && fm_gemm_vectorized();
}

void SFX(fm_dense_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias,
                           int n_rows, int fan_in, int fan_out, int activation,
                           double leaky_relu_slope, double small_gemm_max, int n_threads)
{
    /* out (B, OUT) = inp (B, IN) . W (IN, OUT) */
    if (SFX(own_kernel)(n_rows, fan_out, fan_in, small_gemm_max, n_threads)) {
        /* bias and piecewise-linear activations fused into the kernel */
        const int fused = activation == FM_ACT_IDENTITY || activation == FM_ACT_RELU ||
                          activation == FM_ACT_LEAKY_RELU;
        SFX(fm_gemm_small)(n_rows, fan_out, fan_in, inp, fan_in, 1, weight, fan_out, out,
                           fan_out, bias, fused ? activation : FM_ACT_IDENTITY,
                           leaky_relu_slope, n_threads);
        if (!fused)
            SFX(fm_bias_activation)(out, NULL, n_rows, fan_out, activation, leaky_relu_slope);
    } else {
        SFX(fm_gemm)(0, 0, n_rows, fan_out, fan_in, 1, inp, fan_in, weight, fan_out, 0, out,
                     fan_out);
        SFX(fm_bias_activation)(out, bias, n_rows, fan_out, activation, leaky_relu_slope);
    }
}

FM_SIMD_CLONES void SFX(fm_dense_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                            const REAL *inp, const REAL *weight,
                            int n_rows, int fan_in, int fan_out, double small_gemm_max,
                            int n_threads, REAL *scratch)
{
    const int small = SFX(own_kernel)(n_rows, fan_out, fan_in, small_gemm_max, n_threads);
    /* dW (IN, OUT) = inp^T (IN, B) . dout (B, OUT) */
    if (small)
        SFX(fm_gemm_small)(fan_in, fan_out, n_rows, inp, 1, fan_in, dout, fan_out, dweight,
                           fan_out, NULL, FM_ACT_IDENTITY, 0, n_threads);
    else
        SFX(fm_gemm)(1, 0, fan_in, fan_out, n_rows, 1, inp, fan_in, dout, fan_out, 0,
                     dweight, fan_out);
    memset(dbias, 0, sizeof(REAL) * (size_t)fan_out);
    for (int i = 0; i < n_rows; i++) {
        const REAL *row = dout + (int64_t)i * fan_out;
        for (int j = 0; j < fan_out; j++) dbias[j] += row[j];
    }
    /* dinp (B, IN) = dout (B, OUT) . W^T (OUT, IN) */
    if (!dinp) return;
    if (small && scratch) {
        /* the kernel wants B row-major: transpose W once per batch */
        for (int i = 0; i < fan_in; i++)
            for (int o = 0; o < fan_out; o++)
                scratch[(int64_t)o * fan_in + i] = weight[(int64_t)i * fan_out + o];
        SFX(fm_gemm_small)(n_rows, fan_in, fan_out, dout, fan_out, 1, scratch, fan_in, dinp,
                           fan_in, NULL, FM_ACT_IDENTITY, 0, n_threads);
    } else {
        SFX(fm_gemm)(0, 1, n_rows, fan_in, fan_out, 1, dout, fan_out, weight, fan_out, 0,
                     dinp, fan_in);
    }
}

FM_SIMD_CLONES void SFX(fm_csr_dense_forward)(REAL *out, const fm_input *x, const int64_t *rows,
                               int64_t first_row, const REAL *weight, const REAL *bias,
                               int n_rows, int fan_out, int activation,
                               double leaky_relu_slope)
{
    const REAL *values = (const REAL *)x->csr_data;
    for (int i = 0; i < n_rows; i++) {
        const int64_t r = rows ? rows[i] : first_row + i;
        REAL *restrict o = out + (int64_t)i * fan_out;
        memset(o, 0, sizeof(REAL) * (size_t)fan_out);
        for (int64_t p = x->csr_indptr[r]; p < x->csr_indptr[r + 1]; p++) {
            const REAL v = values[p];
            const REAL *restrict w = weight + x->csr_indices[p] * fan_out;
            for (int j = 0; j < fan_out; j++) o[j] += v * w[j];
        }
    }
    SFX(fm_bias_activation)(out, bias, n_rows, fan_out, activation, leaky_relu_slope);
}

FM_SIMD_CLONES void SFX(fm_csr_dense_backward)(REAL *dweight, REAL *dbias, const REAL *dout,
                                const fm_input *x, const int64_t *rows, int64_t first_row,
                                int n_rows, int fan_out)
{
    const REAL *values = (const REAL *)x->csr_data;
    memset(dweight, 0, sizeof(REAL) * (size_t)x->n_cols * (size_t)fan_out);
    memset(dbias, 0, sizeof(REAL) * (size_t)fan_out);
    for (int i = 0; i < n_rows; i++) {
        const int64_t r = rows ? rows[i] : first_row + i;
        const REAL *restrict d = dout + (int64_t)i * fan_out;
        for (int j = 0; j < fan_out; j++) dbias[j] += d[j];
        for (int64_t p = x->csr_indptr[r]; p < x->csr_indptr[r + 1]; p++) {
            const REAL v = values[p];
            REAL *restrict g = dweight + x->csr_indices[p] * fan_out;
            for (int j = 0; j < fan_out; j++) g[j] += v * d[j];
        }
    }
}
