/* Template: see instantiate.h; KERNEL_ISA / KERNEL_TARGET name the ISA.
 *
 * C (M, N) := A (M, K) . B (K, N), C and B row-major, A read as
 * A(i, p) = a[i * a_row_stride + p * a_k_stride] so that both A and A^T
 * (the weight gradient's inp^T) need no copy.
 *
 * The main micro-kernel keeps a 6 x (2 vectors) block of C in registers
 * while it runs over K: per step two vector loads of B, six broadcasts of A,
 * twelve multiply-adds.  Narrow outputs (10 classes, say) use 8 x 1 vector
 * blocks, the last columns a zero-padded copy of B.
 *
 * A finished tile gets the layer's bias and activation (identity, relu,
 * leaky relu) while still in registers: the "epilogue", no second pass. */

#define KFN_CAT2(a, b) a##b
#define KFN_CAT(a, b) KFN_CAT2(a, b)
/* name_f32_avx2, name_f64_generic, ... */
#define KFN(name) KFN_CAT(SFX(name), KERNEL_ISA)

#define VEC_BYTES KERNEL_VEC_BYTES
#define VL ((int)(VEC_BYTES / sizeof(REAL)))
typedef REAL KFN(vec) __attribute__((vector_size(VEC_BYTES)));
/* unaligned, aliasing-safe view for loads and stores */
typedef REAL KFN(uvec)
    __attribute__((vector_size(VEC_BYTES), aligned(sizeof(REAL)), may_alias));
#define VEC KFN(vec)
#define UVEC KFN(uvec)
typedef IREAL KFN(ivec) __attribute__((vector_size(VEC_BYTES)));
#define IVEC KFN(ivec)
#define LOAD(p) (*(const UVEC *)(p))
#define STORE(p, v) (*(UVEC *)(p) = (v))

typedef struct {
    const REAL *bias; /* (N,) or NULL */
    int activation;   /* FM_ACT_IDENTITY, FM_ACT_RELU or FM_ACT_LEAKY_RELU */
    REAL slope;
} KFN(epilogue);

/* Columns j .. j + VL of a finished row.  relu keeps NaN (zeroes x <= 0
 * only), like the separate activation pass. */
KERNEL_TARGET static inline VEC KFN(finish)(VEC v, const KFN(epilogue) *e, int j)
{
    if (e->bias) v += LOAD(e->bias + j);
    if (e->activation != FM_ACT_IDENTITY) {
        const VEC zero = {0};
        const IVEC nonpositive = v <= zero;
        const IVEC kept = (IVEC)v & ~nonpositive;
        v = (VEC)(e->activation == FM_ACT_RELU
                      ? kept
                      : kept | ((IVEC)(e->slope * v) & nonpositive));
    }
    return v;
}

KERNEL_TARGET static inline REAL KFN(finish1)(REAL x, const KFN(epilogue) *e, int j)
{
    if (e->bias) x += e->bias[j];
    if (e->activation == FM_ACT_RELU) return x <= 0 ? 0 : x;
    if (e->activation == FM_ACT_LEAKY_RELU) return x <= 0 ? e->slope * x : x;
    return x;
}

#define FINISH(p, v, j) STORE(p, KFN(finish)(v, e, j))

/* Rows i .. i+5, columns j .. j + 2 VL: twelve accumulators, enough
 * independent multiply-adds in flight to hide their latency. */
KERNEL_TARGET static inline void KFN(block_6x2v)(
    int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb, REAL *c, int ldc,
    const KFN(epilogue) *e, int j)
{
    VEC c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    VEC c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int p = 0; p < k; p++) {
        const REAL *bp = b + (int64_t)p * ldb, *ap = a + p * aks;
        const VEC b0 = LOAD(bp), b1 = LOAD(bp + VL);
        REAL av = ap[0];
        c00 += av * b0; c01 += av * b1;
        av = ap[ars];
        c10 += av * b0; c11 += av * b1;
        av = ap[2 * ars];
        c20 += av * b0; c21 += av * b1;
        av = ap[3 * ars];
        c30 += av * b0; c31 += av * b1;
        av = ap[4 * ars];
        c40 += av * b0; c41 += av * b1;
        av = ap[5 * ars];
        c50 += av * b0; c51 += av * b1;
    }
    FINISH(c, c00, j); FINISH(c + VL, c01, j + VL); c += ldc;
    FINISH(c, c10, j); FINISH(c + VL, c11, j + VL); c += ldc;
    FINISH(c, c20, j); FINISH(c + VL, c21, j + VL); c += ldc;
    FINISH(c, c30, j); FINISH(c + VL, c31, j + VL); c += ldc;
    FINISH(c, c40, j); FINISH(c + VL, c41, j + VL); c += ldc;
    FINISH(c, c50, j); FINISH(c + VL, c51, j + VL);
}

/* Up to 8 rows, one vector of columns, from a row-major panel with rows
 * `ldb` apart (B itself, or a zero-padded copy of its last columns). */
KERNEL_TARGET static inline void KFN(block_8x1v)(
    int rows, int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb,
    VEC acc[8])
{
    for (int r = 0; r < 8; r++) acc[r] = (VEC){0};
    if (rows == 8) {
        for (int p = 0; p < k; p++) {
            const REAL *ap = a + p * aks;
            const VEC bv = LOAD(b + (int64_t)p * ldb);
            acc[0] += ap[0] * bv; acc[1] += ap[ars] * bv;
            acc[2] += ap[2 * ars] * bv; acc[3] += ap[3 * ars] * bv;
            acc[4] += ap[4 * ars] * bv; acc[5] += ap[5 * ars] * bv;
            acc[6] += ap[6 * ars] * bv; acc[7] += ap[7 * ars] * bv;
        }
    } else {
        for (int p = 0; p < k; p++) {
            const REAL *ap = a + p * aks;
            const VEC bv = LOAD(b + (int64_t)p * ldb);
            for (int r = 0; r < rows; r++) acc[r] += ap[r * ars] * bv;
        }
    }
}

/* Columns j .. j + VL for all m rows. */
KERNEL_TARGET static void KFN(one_vector_columns)(
    int m, int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb, REAL *c,
    int ldc, const KFN(epilogue) *e, int j)
{
    VEC acc[8];
    for (int i = 0; i < m; i += 8) {
        const int rows = m - i < 8 ? m - i : 8;
        KFN(block_8x1v)(rows, k, a + i * ars, ars, aks, b, ldb, acc);
        for (int r = 0; r < rows; r++) FINISH(c + (int64_t)(i + r) * ldc, acc[r], j);
    }
}

/* The last w < VL columns: a zero-padded copy of B's tail, KB rows of K at a
 * time (on the stack), lets full-vector code handle them. */
#define KB 128
KERNEL_TARGET static void KFN(tail_columns)(
    int m, int w, int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb,
    REAL *c, int ldc, const KFN(epilogue) *e, int j0)
{
    REAL panel[KB * (VEC_BYTES / sizeof(REAL))] __attribute__((aligned(VEC_BYTES)));
    VEC acc[8];
    for (int p0 = 0; p0 < k; p0 += KB) {
        const int kb = k - p0 < KB ? k - p0 : KB;
        for (int p = 0; p < kb; p++)
            for (int j = 0; j < VL; j++)
                panel[p * VL + j] = j < w ? b[(int64_t)(p0 + p) * ldb + j] : 0;
        for (int i = 0; i < m; i += 8) {
            const int rows = m - i < 8 ? m - i : 8;
            KFN(block_8x1v)(rows, kb, a + i * ars + p0 * aks, ars, aks, panel, VL, acc);
            for (int r = 0; r < rows; r++) {
                REAL *ci = c + (int64_t)(i + r) * ldc;
                for (int j = 0; j < w; j++) {
                    const REAL sum = (p0 ? ci[j] : 0) + acc[r][j];
                    ci[j] = p0 + kb == k ? KFN(finish1)(sum, e, j0 + j) : sum;
                }
            }
        }
    }
}
#undef KB

/* Rows [0, m) in blocks of ROW_BLOCK, whose A rows stay in L2 while every
 * column panel of B passes over them. */
#define ROW_BLOCK 96
KERNEL_TARGET static void KFN(row_block)(
    int m, int n, int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb,
    REAL *c, int ldc, const KFN(epilogue) *e)
{
    int j = 0;
    /* column panels of 2 vectors: the K x 2VL panel of B stays in L1 while
     * all row blocks pass over it */
    for (; j + 2 * VL <= n; j += 2 * VL) {
        int i = 0;
        for (; i + 6 <= m; i += 6)
            KFN(block_6x2v)(k, a + i * ars, ars, aks, b + j, ldb, c + (int64_t)i * ldc + j,
                            ldc, e, j);
        if (i < m) {
            KFN(one_vector_columns)(m - i, k, a + i * ars, ars, aks, b + j, ldb,
                                    c + (int64_t)i * ldc + j, ldc, e, j);
            KFN(one_vector_columns)(m - i, k, a + i * ars, ars, aks, b + j + VL, ldb,
                                    c + (int64_t)i * ldc + j + VL, ldc, e, j + VL);
        }
    }
    if (j + VL <= n) {
        KFN(one_vector_columns)(m, k, a, ars, aks, b + j, ldb, c + j, ldc, e, j);
        j += VL;
    }
    if (j < n) KFN(tail_columns)(m, n - j, k, a, ars, aks, b + j, ldb, c + j, ldc, e, j);
}

KERNEL_TARGET static void KFN(gemm_small)(
    int m, int n, int k, const REAL *a, int64_t ars, int64_t aks, const REAL *b, int ldb,
    REAL *c, int ldc, const REAL *bias, int activation, double slope)
{
    const KFN(epilogue) epilogue = {bias, activation, (REAL)slope}, *e = &epilogue;
    if (k == 0) { /* an empty sum */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(int64_t)i * ldc + j] = KFN(finish1)(0, e, j);
        return;
    }
    for (int i = 0; i < m; i += ROW_BLOCK) {
        const int rows = m - i < ROW_BLOCK ? m - i : ROW_BLOCK;
        KFN(row_block)(rows, n, k, a + i * ars, ars, aks, b, ldb, c + (int64_t)i * ldc, ldc,
                       e);
    }
}
#undef ROW_BLOCK

#undef KFN_CAT2
#undef KFN_CAT
#undef KFN
#undef VEC_BYTES
#undef VL
#undef VEC
#undef UVEC
#undef LOAD
#undef STORE
#undef FINISH
#undef IVEC
