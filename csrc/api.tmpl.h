/* The table of one dtype's entry points (fm_api, fastmlp.h): a wrapper per
 * entry point that takes void * for REAL * (calling a function through a
 * pointer of another type would be undefined), and the table of them,
 * SFX(api_table).  A template, instantiated by api.c through instantiate.h;
 * no include guard on purpose. */

static void SFX(api_bias_activation)(void *x, const void *bias, int64_t n_rows, int n_cols,
                                     int activation, double leaky_relu_slope)
{
    SFX(fm_bias_activation)(x, bias, n_rows, n_cols, activation, leaky_relu_slope);
}

static void SFX(api_activation_backward)(void *delta, const void *a, int64_t n, int activation,
                                         double leaky_relu_slope)
{
    SFX(fm_activation_backward)(delta, a, n, activation, leaky_relu_slope);
}

static void SFX(api_batch_norm_forward)(void *x, void *xhat, void *stats, const void *gamma,
                                        const void *beta, int n_rows, int n_cols, double eps,
                                        void *running_mean, void *running_var,
                                        double momentum)
{
    SFX(fm_batch_norm_forward)(x, xhat, stats, gamma, beta, n_rows, n_cols, eps, running_mean,
                               running_var, momentum);
}

static void SFX(api_batch_norm_backward)(void *delta, const void *xhat, const void *inv_std,
                                         const void *gamma, int n_rows, int n_cols,
                                         void *dgamma, void *dbeta)
{
    SFX(fm_batch_norm_backward)(delta, xhat, inv_std, gamma, n_rows, n_cols, dgamma, dbeta);
}

static void SFX(api_dropout)(void *out, const void *inp, int n_rows, int n_cols,
                             const int64_t *rows, int64_t first_row, int64_t unit_offset,
                             uint64_t seed, double rate)
{
    SFX(fm_dropout)(out, inp, n_rows, n_cols, rows, first_row, unit_offset, seed, rate);
}

static double SFX(api_loss_delta)(void *delta, const void *z, const void *a, const void *y,
                                  const void *sw, int64_t n_rows, int n_outputs, int loss,
                                  double loss_param)
{
    return SFX(fm_loss_delta)(delta, z, a, y, sw, n_rows, n_outputs, loss, loss_param);
}

static void SFX(api_dense_forward)(void *out, const void *inp, const void *weight,
                                   const void *bias, int n_rows, int fan_in, int fan_out,
                                   int activation, double leaky_relu_slope, int kernel)
{
    SFX(fm_dense_forward)(out, inp, weight, bias, n_rows, fan_in, fan_out, activation,
                          leaky_relu_slope, kernel);
}

static void SFX(api_dense_backward)(void *dinp, void *dweight, void *dbias, const void *dout,
                                    const void *inp, const void *weight, int n_rows,
                                    int fan_in, int fan_out, int weight_grad_kernel,
                                    int input_grad_kernel, void *scratch)
{
    SFX(fm_dense_backward)(dinp, dweight, dbias, dout, inp, weight, n_rows, fan_in, fan_out,
                           weight_grad_kernel, input_grad_kernel, scratch);
}

static void SFX(api_csr_dense_forward)(void *out, const fm_input *x, const int64_t *rows,
                                       int64_t first_row, const void *weight,
                                       const void *bias, int n_rows, int fan_out,
                                       int activation, double leaky_relu_slope)
{
    SFX(fm_csr_dense_forward)(out, x, rows, first_row, weight, bias, n_rows, fan_out,
                              activation, leaky_relu_slope);
}

static void SFX(api_csr_dense_backward)(void *dweight, void *dbias, const void *dout,
                                        const fm_input *x, const int64_t *rows,
                                        int64_t first_row, int n_rows, int fan_out)
{
    SFX(fm_csr_dense_backward)(dweight, dbias, dout, x, rows, first_row, n_rows, fan_out);
}

static void SFX(api_optimizer_step)(fm_optimizer *opt, void *params, const void *grad,
                                    int64_t n, int64_t n_weights, int n_threads)
{
    SFX(fm_optimizer_step)(opt, params, grad, n, n_weights, n_threads);
}

static int SFX(api_train_epoch)(const fm_net *net, void *params, fm_optimizer *opt,
                                const fm_input *x, const void *y, const void *sw,
                                const int64_t *order, int64_t n_order, int batch_size,
                                void *workspace, int64_t workspace_bytes,
                                fm_interrupt_fn interrupt, void *interrupt_ctx,
                                double *loss_sum)
{
    return SFX(fm_train_epoch)(net, params, opt, x, y, sw, order, n_order, batch_size,
                               workspace, workspace_bytes, interrupt, interrupt_ctx, loss_sum);
}

static int SFX(api_loss_grad)(const fm_net *net, const void *params, const fm_input *x,
                              const void *y, const void *sw, int chunk_rows, void *workspace,
                              int64_t workspace_bytes, void *grad, double *loss,
                              fm_interrupt_fn interrupt, void *interrupt_ctx)
{
    return SFX(fm_loss_grad)(net, params, x, y, sw, chunk_rows, workspace, workspace_bytes,
                             grad, loss, interrupt, interrupt_ctx);
}

static int SFX(api_predict)(const fm_net *net, const void *params, const fm_input *x,
                            int chunk_rows, void *workspace, int64_t workspace_bytes,
                            void *out, fm_interrupt_fn interrupt, void *interrupt_ctx)
{
    return SFX(fm_predict)(net, params, x, chunk_rows, workspace, workspace_bytes, out,
                           interrupt, interrupt_ctx);
}

static int SFX(api_nonfinite)(const void *x, int64_t n) { return SFX(fm_nonfinite)(x, n); }

static const fm_api SFX(api_table) = {
    SFX(api_bias_activation), SFX(api_activation_backward), SFX(api_batch_norm_forward),
    SFX(api_batch_norm_backward), SFX(api_dropout), SFX(api_loss_delta),
    SFX(api_dense_forward), SFX(api_dense_backward), SFX(fm_time_product),
    SFX(api_csr_dense_forward), SFX(api_csr_dense_backward), SFX(api_optimizer_step),
    SFX(api_train_epoch), SFX(api_loss_grad), SFX(api_predict), SFX(api_nonfinite),
    SFX(fm_workspace_bytes),
};
