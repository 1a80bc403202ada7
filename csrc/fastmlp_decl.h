/* Declarations of the dtype-specific entry points: a template, instantiated
 * by fastmlp.h through instantiate.h.  No include guard on purpose. */

/* ---- element-wise kernels (activations.c) ---- */
/* x := act(x + bias) for each row of x (B, OUT); bias (OUT,) may be NULL. */
void SFX(fm_bias_activation)(REAL *x, const REAL *bias, int64_t n_rows, int n_cols,
                             int activation, double leaky_relu_slope);
/* delta := delta * act'(z), with act' computed from the saved output a
 * (for FM_ACT_GELU and FM_ACT_SWISH, whose output does not determine their
 * slope: from the pre-activation z, passed as a). */
void SFX(fm_activation_backward)(REAL *delta, const REAL *a, int64_t n, int activation,
                                 double leaky_relu_slope);

/* ---- batch normalization and dropout (regularizers.c) ---- */
/* Training-mode batch normalization of x (B, OUT) in place, per column:
 * xhat = (x - mean) / sqrt(var + eps) over the B rows (biased variance),
 * x := gamma * xhat + beta.  Saves xhat (B, OUT), and in stats (2 OUT,) the
 * batch means then 1 / sqrt(var + eps), for the backward pass (which takes
 * stats + OUT as inv_std); when running_mean is not NULL,
 * moves running_mean / running_var (OUT,) towards the batch's mean and
 * unbiased variance by momentum (unchanged for a batch of one row). */
void SFX(fm_batch_norm_forward)(REAL *x, REAL *xhat, REAL *stats, const REAL *gamma,
                                const REAL *beta, int n_rows, int n_cols, double eps,
                                REAL *running_mean, REAL *running_var, double momentum);
/* Given delta = d loss / d output (B, OUT): dgamma, dbeta (OUT,) :=
 * column sums of delta * xhat and of delta; delta := d loss / d x. */
void SFX(fm_batch_norm_backward)(REAL *delta, const REAL *xhat, const REAL *inv_std,
                                 const REAL *gamma, int n_rows, int n_cols, REAL *dgamma,
                                 REAL *dbeta);
/* out (B, OUT) := inp * keep / (1 - rate) (may alias), keep from
 * fm_dropout_keep(seed, sample, unit_offset + column) with sample = rows[i],
 * or first_row + i when rows is NULL.  The same call on a gradient applies
 * the same mask. */
void SFX(fm_dropout)(REAL *out, const REAL *inp, int n_rows, int n_cols,
                     const int64_t *rows, int64_t first_row, int64_t unit_offset,
                     uint64_t seed, double rate);

/* ---- losses (losses.c) ---- */
/* For the output layer of one batch: z (B, O) pre-activation, a (B, O) its
 * activation, y (B, O) targets, sw (B,) sample weights or NULL.
 * loss_param: Huber's delta or the quantile (fm_net.loss_param).
 * Writes delta = sw * dloss/dz (sw * (a - y) for the canonical links; may
 * alias z) and returns sum_i sw_i * loss_i. */
double SFX(fm_loss_delta)(REAL *delta, const REAL *z, const REAL *a, const REAL *y,
                          const REAL *sw, int64_t n_rows, int n_outputs, int loss,
                          double loss_param);

/* ---- dense layer (dense.c) ---- */
/* out (B, OUT) := act(inp (B, IN) . W (IN, OUT) + b); kernel: who computes
 * the product (fm_gemm_kernel). */
void SFX(fm_dense_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias,
                           int n_rows, int fan_in, int fan_out, int activation,
                           double leaky_relu_slope, int kernel);
/* dW (IN, OUT) := inp^T . dout, db (OUT,) := column sums of dout,
 * dinp (B, IN) := dout . W^T unless dinp is NULL.  scratch (OUT * IN) holds
 * W^T when input_grad_kernel is FM_GEMM_OWN (may be NULL otherwise). */
void SFX(fm_dense_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                            const REAL *inp, const REAL *weight, int n_rows, int fan_in,
                            int fan_out, int weight_grad_kernel, int input_grad_kernel,
                            REAL *scratch);
/* Seconds one call of a product (fm_product) of a dense layer takes with
 * each kernel, seconds[FM_GEMM_BLAS] and seconds[FM_GEMM_OWN]: the fastest
 * of several samples, the kernels taking turns, on buffers of its own.
 * FM_ERR_INVALID for sizes < 1, FM_ERR_NOMEM. */
int SFX(fm_time_product)(int product, int n_rows, int fan_in, int fan_out,
                         double seconds[FM_N_KERNELS]);
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
/* One update of params (P,) from grad (P,); the first n_weights entries are
 * weights (the only ones AdamW's weight decay shrinks).  Up to n_threads
 * threads share a long vector; the result does not depend on n_threads. */
void SFX(fm_optimizer_step)(fm_optimizer *opt, REAL *params, const REAL *grad, int64_t n,
                            int64_t n_weights, int n_threads);

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
 * batch loss including the penalties, as scikit-learn accumulates it.
 * Dropout and batch norm act as in training; a net with batch norm needs
 * net->running_stats, which every batch updates. */
int SFX(fm_train_epoch)(const fm_net *net, REAL *params, fm_optimizer *opt,
                        const fm_input *x, const REAL *y, const REAL *sw,
                        const int64_t *order, int64_t n_order, int batch_size,
                        void *workspace, int64_t workspace_bytes,
                        fm_interrupt_fn interrupt, void *interrupt_ctx,
                        double *loss_sum);
/* Loss (with the penalties) and its gradient grad (P,) over all N samples,
 * processed in chunks of chunk_rows so memory stays bounded: the training
 * objective, dropout (mask of net->dropout_seed) and batch statistics
 * included; with batch norm all N rows must fit one chunk, and the running
 * statistics are left alone. */
int SFX(fm_loss_grad)(const fm_net *net, const REAL *params, const fm_input *x,
                      const REAL *y, const REAL *sw, int chunk_rows,
                      void *workspace, int64_t workspace_bytes,
                      REAL *grad, double *loss, fm_interrupt_fn interrupt,
                      void *interrupt_ctx);
/* out (N, O) := the network's output for all N samples, in chunks; no
 * dropout; a net with batch norm is rejected (fold it into the weights). */
int SFX(fm_predict)(const fm_net *net, const REAL *params, const fm_input *x,
                    int chunk_rows, void *workspace, int64_t workspace_bytes, REAL *out,
                    fm_interrupt_fn interrupt, void *interrupt_ctx);
/* FM_FINITE when all n values of x are finite, else FM_NONFINITE_NAN (one is
 * NaN) or FM_NONFINITE_INF (none is NaN, one is infinite): scikit-learn's
 * order of precedence in its error message. */
int SFX(fm_nonfinite)(const REAL *x, int64_t n);
/* Bytes of a workspace for calls of up to max_rows rows (training, the
 * largest use; dense_input: whether X is dense); -1 if it cannot exist. */
int64_t SFX(fm_workspace_bytes)(const fm_net *net, int max_rows, int dense_input);
