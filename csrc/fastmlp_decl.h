/* Declarations of the dtype-specific entry points; included by fastmlp.h once
 * per REAL / SFX pair.  No include guard on purpose. */

/* ---- element-wise kernels (activations.c) ---- */
/* x := act(x + bias) for each row of x (B, OUT); bias (OUT,) may be NULL. */
void SFX(fm_bias_activation)(REAL *x, const REAL *bias, int64_t n_rows, int n_cols,
                             int activation, double leaky_relu_slope);
/* delta := delta * act'(z), with act' computed from the saved output a. */
void SFX(fm_activation_backward)(REAL *delta, const REAL *a, int64_t n, int activation,
                                 double leaky_relu_slope);

/* ---- losses (losses.c) ---- */
/* For the output layer of one batch: z (B, O) pre-activation, a (B, O) its
 * activation, y (B, O) targets, sw (B,) sample weights or NULL.
 * Writes delta = sw * (a - y) (may alias z) and returns sum_i sw_i * loss_i. */
double SFX(fm_loss_delta)(REAL *delta, const REAL *z, const REAL *a, const REAL *y,
                          const REAL *sw, int64_t n_rows, int n_outputs, int loss);

/* ---- dense layer (dense.c) ---- */
/* out (B, OUT) := act(inp (B, IN) . W (IN, OUT) + b).  Small products use
 * the engine's small-matrix kernel (small_gemm_max: see fm_net). */
void SFX(fm_dense_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias,
                           int n_rows, int fan_in, int fan_out, int activation,
                           double leaky_relu_slope, double small_gemm_max);
/* dW (IN, OUT) := inp^T . dout, db (OUT,) := column sums of dout,
 * dinp (B, IN) := dout . W^T unless dinp is NULL.  scratch (OUT * IN) holds
 * W^T for the small-matrix kernel; without it dinp comes from the BLAS. */
void SFX(fm_dense_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                            const REAL *inp, const REAL *weight,
                            int n_rows, int fan_in, int fan_out, double small_gemm_max,
                            REAL *scratch);
/* The same two for a CSR input x: its rows rows[0..n_rows), or, when rows is
 * NULL, its rows first_row .. first_row + n_rows.  No input gradient. */
void SFX(fm_csr_dense_forward)(REAL *out, const fm_input *x, const int64_t *rows,
                               int64_t first_row, const REAL *weight, const REAL *bias,
                               int n_rows, int fan_out, int activation,
                               double leaky_relu_slope);
void SFX(fm_csr_dense_backward)(REAL *dweight, REAL *dbias, const REAL *dout,
                                const fm_input *x, const int64_t *rows, int64_t first_row,
                                int n_rows, int fan_out);

/* ---- optimizers (optim.c) ---- */
/* One update of params (P,) from grad (P,). */
void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n);

/* ---- whole-network calls (train.c) ---- */
/* Every call below first checks its arguments (net, sizes, sample indices,
 * CSR structure) and returns FM_ERR_INVALID before touching memory.
 *
 * Each takes a workspace: a caller's block of workspace_bytes bytes, at
 * least fm_workspace_bytes(net, rows, dense) for its batch or chunk rows,
 * reused across calls; with NULL (or too small a block) it allocates and
 * frees one itself.
 *
 * One epoch of mini-batch training over the samples order[0..n_order),
 * batches of batch_size rows in that order.  y (N, O), sw (N,) or NULL.
 * *loss_sum receives sum over batches of (batch loss * batch rows), the
 * batch loss including the L2 term, as scikit-learn accumulates it. */
int SFX(fm_train_epoch)(const fm_net *net, REAL *params, fm_optimizer *opt,
                        const fm_input *x, const REAL *y, const REAL *sw,
                        const int64_t *order, int64_t n_order, int batch_size,
                        void *workspace, int64_t workspace_bytes,
                        fm_interrupt_fn interrupt, void *interrupt_ctx,
                        double *loss_sum);
/* Loss (with L2) and its gradient grad (P,) over all N samples, processed in
 * chunks of chunk_rows so memory stays bounded. */
int SFX(fm_loss_grad)(const fm_net *net, const REAL *params, const fm_input *x,
                      const REAL *y, const REAL *sw, int chunk_rows,
                      void *workspace, int64_t workspace_bytes,
                      REAL *grad, double *loss, fm_interrupt_fn interrupt,
                      void *interrupt_ctx);
/* out (N, O) := the network's output for all N samples, in chunks. */
int SFX(fm_predict)(const fm_net *net, const REAL *params, const fm_input *x,
                    int chunk_rows, void *workspace, int64_t workspace_bytes, REAL *out,
                    fm_interrupt_fn interrupt, void *interrupt_ctx);
/* Bytes of a workspace for calls of up to max_rows rows (training, the
 * largest use; dense_input: whether X is dense); -1 if it cannot exist. */
int64_t SFX(fm_workspace_bytes)(const fm_net *net, int max_rows, int dense_input);
