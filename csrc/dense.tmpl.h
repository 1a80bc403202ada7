/* Template: see instantiate.h. */

/* Row-major GEMM over the installed BLAS: C (M, N) := op(A) . op(B), op a
 * transpose when trans_x.  Fortran BLAS is column-major; a row-major
 * C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so the operands
 * swap, not the data. */
static void SFX(blas_gemm)(int trans_a, int trans_b, int m, int n, int k, const REAL *a,
                           int lda, const REAL *b, int ldb, REAL *c, int ldc)
{
    char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    REAL one = 1, zero = 0;
    if (m == 0 || n == 0) return;
    if (k == 0) { /* an empty sum, which the BLAS may skip */
        for (int i = 0; i < m; i++) memset(c + (int64_t)i * ldc, 0, sizeof(REAL) * (size_t)n);
        return;
    }
#if REAL_IS_DOUBLE
    fm_blas_dgemm(&tb, &ta, &n, &m, &k, &one, (REAL *)b, &ldb, (REAL *)a, &lda, &zero, c, &ldc);
#else
    fm_blas_sgemm(&tb, &ta, &n, &m, &k, &one, (REAL *)b, &ldb, (REAL *)a, &lda, &zero, c, &ldc);
#endif
}

void SFX(fm_dense_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias,
                           int n_rows, int fan_in, int fan_out, int activation,
                           double leaky_relu_slope, int kernel)
{
    /* out (B, OUT) = inp (B, IN) . W (IN, OUT) */
    if (kernel == FM_GEMM_OWN) {
        /* bias and piecewise-linear activations fused into the kernel */
        const int fused = activation == FM_ACT_IDENTITY || activation == FM_ACT_RELU ||
                          activation == FM_ACT_LEAKY_RELU;
        SFX(fm_gemm_small)(n_rows, fan_out, fan_in, inp, fan_in, 1, weight, fan_out, out,
                           fan_out, bias, fused ? activation : FM_ACT_IDENTITY,
                           leaky_relu_slope);
        if (!fused)
            SFX(fm_bias_activation)(out, NULL, n_rows, fan_out, activation, leaky_relu_slope);
    } else {
        SFX(blas_gemm)(0, 0, n_rows, fan_out, fan_in, inp, fan_in, weight, fan_out, out,
                       fan_out);
        SFX(fm_bias_activation)(out, bias, n_rows, fan_out, activation, leaky_relu_slope);
    }
}

/* dW (IN, OUT) = inp^T (IN, B) . dout (B, OUT), db (OUT,) = column sums of dout */
FM_SIMD_CLONES static void SFX(weight_grad)(REAL *dweight, REAL *dbias, const REAL *dout,
                                            const REAL *inp, int n_rows, int fan_in,
                                            int fan_out, int kernel)
{
    if (kernel == FM_GEMM_OWN)
        SFX(fm_gemm_small)(fan_in, fan_out, n_rows, inp, 1, fan_in, dout, fan_out, dweight,
                           fan_out, NULL, FM_ACT_IDENTITY, 0);
    else
        SFX(blas_gemm)(1, 0, fan_in, fan_out, n_rows, inp, fan_in, dout, fan_out, dweight,
                       fan_out);
    memset(dbias, 0, sizeof(REAL) * (size_t)fan_out);
    for (int i = 0; i < n_rows; i++) {
        const REAL *row = dout + (int64_t)i * fan_out;
        for (int j = 0; j < fan_out; j++) dbias[j] += row[j];
    }
}

/* dinp (B, IN) = dout (B, OUT) . W^T (OUT, IN) */
static void SFX(input_grad)(REAL *dinp, const REAL *dout, const REAL *weight, int n_rows,
                            int fan_in, int fan_out, int kernel, REAL *scratch)
{
    if (kernel == FM_GEMM_OWN) {
        /* the kernel reads B row-major: W^T, transposed into scratch */
        for (int i = 0; i < fan_in; i++)
            for (int o = 0; o < fan_out; o++)
                scratch[(int64_t)o * fan_in + i] = weight[(int64_t)i * fan_out + o];
        SFX(fm_gemm_small)(n_rows, fan_in, fan_out, dout, fan_out, 1, scratch, fan_in, dinp,
                           fan_in, NULL, FM_ACT_IDENTITY, 0);
    } else {
        SFX(blas_gemm)(0, 1, n_rows, fan_in, fan_out, dout, fan_out, weight, fan_out, dinp,
                       fan_in);
    }
}

void SFX(fm_dense_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                            const REAL *inp, const REAL *weight, int n_rows, int fan_in,
                            int fan_out, int weight_grad_kernel, int input_grad_kernel,
                            REAL *scratch)
{
    SFX(weight_grad)(dweight, dbias, dout, inp, n_rows, fan_in, fan_out, weight_grad_kernel);
    if (dinp)
        SFX(input_grad)(dinp, dout, weight, n_rows, fan_in, fan_out, input_grad_kernel,
                        scratch);
}

/* Samples per kernel, each of enough calls to last TIMED_SAMPLE_SECONDS:
 * the fastest sample is the kernel's speed with the machine to itself, and
 * a few milliseconds of samples find such a moment on a busy machine.  A
 * kernel TIMED_CLEAR_LOSS times slower than the other after two samples is
 * sampled no more: no sample could make it the faster; a kernel whose one
 * call lasts TIMED_LONG_CALLS times TIMED_SAMPLE_SECONDS takes only
 * TIMED_LONG_SAMPLES samples (a call of milliseconds varies little).  Both
 * keep the timing of a large product short. */
#define TIMED_SAMPLES 7
#define TIMED_SAMPLE_SECONDS 5e-4
#define TIMED_CLEAR_LOSS 4.0
#define TIMED_LONG_CALLS 4
#define TIMED_LONG_SAMPLES 3

/* One product of a dense layer by `kernel`, on fm_time_product's buffers. */
static void SFX(run_product)(int product, int kernel, int n_rows, int fan_in, int fan_out,
                             const REAL *inp, const REAL *weight, REAL *bias,
                             const REAL *dout, REAL *out, REAL *scratch)
{
    if (product == FM_PRODUCT_FORWARD)
        SFX(fm_dense_forward)(out, inp, weight, bias, n_rows, fan_in, fan_out,
                              FM_ACT_IDENTITY, 0, kernel);
    else if (product == FM_PRODUCT_WEIGHT_GRAD)
        SFX(weight_grad)(out, scratch, dout, inp, n_rows, fan_in, fan_out, kernel);
    else
        SFX(input_grad)(out, dout, weight, n_rows, fan_in, fan_out, kernel, scratch);
}

int SFX(fm_time_product)(int product, int n_rows, int fan_in, int fan_out,
                         double seconds[FM_N_KERNELS])
{
    if (product < 0 || product >= FM_N_PRODUCTS || n_rows < 1 || fan_in < 1 || fan_out < 1)
        return FM_ERR_INVALID;
    const int64_t rows = n_rows, in = fan_in, out_cols = fan_out;
    const int64_t n_inp = rows * in, n_weight = in * out_cols, n_dout = rows * out_cols;
    int64_t n_out = n_inp > n_weight ? n_inp : n_weight;
    if (n_dout > n_out) n_out = n_dout;
    /* inp, weight, dout, out, scratch (W^T, or the weight gradient's bias) */
    const int64_t total = n_inp + n_weight + n_dout + n_out + n_weight + out_cols;
    if ((uint64_t)total > SIZE_MAX / sizeof(REAL)) return FM_ERR_NOMEM;
    REAL *block = malloc(sizeof(REAL) * (size_t)total);
    if (!block) return FM_ERR_NOMEM;
    REAL *inp = block, *weight = inp + n_inp, *dout = weight + n_weight, *out = dout + n_dout;
    REAL *scratch = out + n_out, *bias = scratch + n_weight;
    /* values in [-1, 1), no zeros or subnormals to flatter either kernel */
    uint32_t state = 12345;
    for (int64_t i = 0; i < total; i++) {
        state = state * 1664525U + 1013904223U;
        block[i] = (REAL)((double)(state >> 8) / 8388608.0 - 1.0 + 1.0 / 16777216.0);
    }
    int calls[FM_N_KERNELS], samples[FM_N_KERNELS];
    for (int kernel = 0; kernel < FM_N_KERNELS; kernel++) {
        /* a first call warms caches and sizes the samples */
        const double start = fm_monotonic_seconds();
        SFX(run_product)(product, kernel, n_rows, fan_in, fan_out, inp, weight, bias, dout,
                         out, scratch);
        const double once = fm_monotonic_seconds() - start;
        calls[kernel] =
            once >= TIMED_SAMPLE_SECONDS ? 1 : (int)(TIMED_SAMPLE_SECONDS / (once + 1e-9)) + 1;
        samples[kernel] =
            once >= TIMED_LONG_CALLS * TIMED_SAMPLE_SECONDS ? TIMED_LONG_SAMPLES : TIMED_SAMPLES;
        seconds[kernel] = INFINITY;
    }
    /* the kernels take turns, so a burst of load elsewhere hits both; the
     * fastest sample is the kernel's speed on a quiet machine */
    for (int sample = 0; sample < TIMED_SAMPLES; sample++) {
        double fastest = INFINITY;
        for (int kernel = 0; kernel < FM_N_KERNELS; kernel++)
            if (seconds[kernel] < fastest) fastest = seconds[kernel];
        for (int kernel = 0; kernel < FM_N_KERNELS; kernel++) {
            if (sample >= samples[kernel] ||
                (sample >= 2 && seconds[kernel] > TIMED_CLEAR_LOSS * fastest))
                continue;
            const double start = fm_monotonic_seconds();
            for (int c = 0; c < calls[kernel]; c++)
                SFX(run_product)(product, kernel, n_rows, fan_in, fan_out, inp, weight, bias,
                                 dout, out, scratch);
            const double per_call = (fm_monotonic_seconds() - start) / calls[kernel];
            if (per_call < seconds[kernel]) seconds[kernel] = per_call;
        }
    }
    free(block);
    return FM_OK;
}

#undef TIMED_SAMPLES
#undef TIMED_SAMPLE_SECONDS
#undef TIMED_CLEAR_LOSS
#undef TIMED_LONG_CALLS
#undef TIMED_LONG_SAMPLES

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
