/* Template: see instantiate.h. */

/* Buffers of one forward/backward pass over up to max_rows rows, carved
 * from one block: the caller's (reused across calls, so no page faults per
 * call) or, when it gives none or too small a one, a malloc of our own. */
typedef struct {
    REAL *acts;     /* layer l's outputs (B, OUT_l), layers one after another */
    REAL *deltas;   /* d loss / d pre-activation, same layout as acts */
    REAL *weight_t; /* transposed weights of one layer, for the small GEMM */
    REAL *grad;     /* (P,) */
    REAL *y;        /* (B, O) gathered targets */
    REAL *sw;       /* (B,) gathered sample weights */
    REAL *x;        /* (B, F) gathered dense rows; NULL for CSR input */
    void *owned;    /* the block when we allocated it */
} SFX(workspace);

/* Byte offsets of the regions in the block (64-byte aligned), in the order
 * of the struct; returns the block's size, -1 on overflow. */
static int64_t SFX(workspace_layout)(const fm_net *net, int max_rows, int dense,
                                     int64_t offsets[WS_REGIONS])
{
    const int64_t rows = max_rows > 0 ? max_rows : 1;
    int64_t max_weights = 1;
    for (int l = 1; l < net->n_layers; l++) {
        int64_t n = (int64_t)net->layer_sizes[l] * net->layer_sizes[l + 1];
        if (n > max_weights) max_weights = n;
    }
    if (total_layer_width(net) > INT64_MAX / 4 / rows) return -1;
    const int64_t n_features = net->layer_sizes[0], n_outputs = net->layer_sizes[net->n_layers];
    const int64_t counts[WS_REGIONS] = {
        rows * total_layer_width(net), rows * total_layer_width(net), max_weights,
        fm_n_params(net), rows * n_outputs, rows, dense ? rows * n_features : 0};
    int64_t offset = 0;
    for (int r = 0; r < WS_REGIONS; r++) {
        offset = (offset + 63) / 64 * 64;
        offsets[r] = offset;
        if (counts[r] > (INT64_MAX / 2 - offset) / (int64_t)sizeof(REAL)) return -1;
        offset += counts[r] * (int64_t)sizeof(REAL);
    }
    return offset;
}

int64_t SFX(fm_workspace_bytes)(const fm_net *net, int max_rows, int dense_input)
{
    int64_t offsets[WS_REGIONS];
    if (fm_check_net(net) != FM_OK || max_rows < 1) return -1;
    return SFX(workspace_layout)(net, max_rows, dense_input, offsets);
}

static void SFX(workspace_free)(SFX(workspace) *ws)
{
    free(ws->owned);
}

static int SFX(workspace_init)(SFX(workspace) *ws, const fm_net *net, const fm_input *x,
                               int max_rows, void *buffer, int64_t buffer_bytes)
{
    int64_t offsets[WS_REGIONS];
    const int dense = x->dense != NULL;
    const int64_t bytes = SFX(workspace_layout)(net, max_rows, dense, offsets);
    memset(ws, 0, sizeof *ws);
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX) return FM_ERR_NOMEM;
    char *base = buffer;
    if (!buffer || buffer_bytes < bytes) {
        base = ws->owned = malloc((size_t)bytes);
        if (!base) return FM_ERR_NOMEM;
    }
    ws->acts = (REAL *)(base + offsets[0]);
    ws->deltas = (REAL *)(base + offsets[1]);
    ws->weight_t = (REAL *)(base + offsets[2]);
    ws->grad = (REAL *)(base + offsets[3]);
    ws->y = (REAL *)(base + offsets[4]);
    ws->sw = (REAL *)(base + offsets[5]);
    ws->x = dense ? (REAL *)(base + offsets[6]) : NULL;
    return FM_OK;
}

/* Layer l's block in ws->acts / ws->deltas for n_rows rows. */
static int64_t SFX(layer_offset)(const fm_net *net, int layer, int n_rows)
{
    int64_t offset = 0;
    for (int l = 0; l < layer; l++) offset += (int64_t)n_rows * net->layer_sizes[l + 1];
    return offset;
}

static int SFX(check_input)(const fm_net *net, const fm_input *x)
{
    if (!x || x->n_rows < 0 || x->n_cols != net->layer_sizes[0]) return FM_ERR_INVALID;
    if ((x->dense == NULL) == (x->csr_data == NULL)) return FM_ERR_INVALID;
    if (x->csr_data) {
        if (!x->csr_indptr || !x->csr_indices || x->csr_indptr[0] != 0) return FM_ERR_INVALID;
        for (int64_t r = 0; r < x->n_rows; r++)
            if (x->csr_indptr[r + 1] < x->csr_indptr[r]) return FM_ERR_INVALID;
        for (int64_t p = 0; p < x->csr_indptr[x->n_rows]; p++)
            if (x->csr_indices[p] < 0 || x->csr_indices[p] >= x->n_cols) return FM_ERR_INVALID;
    }
    return FM_OK;
}

/* Forward pass over n_rows rows.  The rows are x_rows (dense, (B, F)) or,
 * for CSR input, rows / first_row of x.  Training keeps each layer's output in
 * ws->acts, and the output layer's pre-activation in its ws->deltas block for
 * the loss; prediction (out != NULL) ping-pongs and writes the output to out. */
static void SFX(forward)(const fm_net *net, const REAL *params, const fm_input *x,
                         const REAL *x_rows, const int64_t *rows, int64_t first_row,
                         int n_rows, SFX(workspace) *ws, REAL *out)
{
    const int L = net->n_layers;
    const REAL *inp = x_rows;
    for (int l = 0; l < L; l++) {
        const int fan_in = net->layer_sizes[l], fan_out = net->layer_sizes[l + 1];
        const REAL *w = params + fm_weight_offset(net, l), *b = params + fm_bias_offset(net, l);
        const int is_output = l == L - 1;
        int act = net->activations[l];
        REAL *dst;
        if (out)
            dst = is_output ? out : (l % 2 ? ws->deltas : ws->acts);
        else
            dst = (is_output ? ws->deltas : ws->acts) + SFX(layer_offset)(net, l, n_rows);
        if (is_output && !out) act = FM_ACT_IDENTITY; /* keep z, activate below */
        if (l == 0 && x->csr_data)
            SFX(fm_csr_dense_forward)(dst, x, rows, first_row, w, b, n_rows, fan_out, act,
                                      net->leaky_relu_slope);
        else
            SFX(fm_dense_forward)(dst, inp, w, b, n_rows, fan_in, fan_out, act,
                                  net->leaky_relu_slope, net->small_gemm_max);
        if (is_output && !out) {
            REAL *a = ws->acts + SFX(layer_offset)(net, l, n_rows);
            memcpy(a, dst, sizeof(REAL) * (size_t)n_rows * (size_t)fan_out);
            SFX(fm_bias_activation)(a, NULL, n_rows, fan_out, net->activations[l],
                                    net->leaky_relu_slope);
        }
        inp = dst;
    }
}

/* Backward pass after forward(training): raw gradient sums (no L2, not
 * divided by the weight sum) into grad.  Returns sum_i sw_i * loss_i. */
static double SFX(backward)(const fm_net *net, const REAL *params, const fm_input *x,
                            const REAL *x_rows, const int64_t *rows, int64_t first_row,
                            const REAL *y, const REAL *sw, int n_rows, SFX(workspace) *ws,
                            REAL *grad)
{
    const int L = net->n_layers;
    const int n_outputs = net->layer_sizes[L];
    REAL *out_delta = ws->deltas + SFX(layer_offset)(net, L - 1, n_rows);
    const REAL *out_act = ws->acts + SFX(layer_offset)(net, L - 1, n_rows);
    double data_loss = SFX(fm_loss_delta)(out_delta, out_delta, out_act, y, sw, n_rows,
                                          n_outputs, net->loss);
    for (int l = L - 1; l >= 0; l--) {
        const int fan_in = net->layer_sizes[l], fan_out = net->layer_sizes[l + 1];
        const REAL *w = params + fm_weight_offset(net, l);
        REAL *dw = grad + fm_weight_offset(net, l), *db = grad + fm_bias_offset(net, l);
        const REAL *dout = ws->deltas + SFX(layer_offset)(net, l, n_rows);
        if (l == 0) {
            if (x->csr_data)
                SFX(fm_csr_dense_backward)(dw, db, dout, x, rows, first_row, n_rows, fan_out);
            else /* the input needs no gradient */
                SFX(fm_dense_backward)(NULL, dw, db, dout, x_rows, w, n_rows, fan_in, fan_out,
                                       net->small_gemm_max, NULL);
        } else {
            REAL *dinp = ws->deltas + SFX(layer_offset)(net, l - 1, n_rows);
            const REAL *inp = ws->acts + SFX(layer_offset)(net, l - 1, n_rows);
            SFX(fm_dense_backward)(dinp, dw, db, dout, inp, w, n_rows, fan_in, fan_out,
                                   net->small_gemm_max, ws->weight_t);
            SFX(fm_activation_backward)(dinp, inp, (int64_t)n_rows * fan_in,
                                        net->activations[l - 1], net->leaky_relu_slope);
        }
    }
    return data_loss;
}

/* Sum of the squared weights (the L2 term's), 0 without a penalty. */
static double SFX(weights_sum_sq)(const fm_net *net, const REAL *params)
{
    if (net->alpha == 0) return 0;
    const int64_t n_weights = fm_weight_offset(net, net->n_layers);
    double sum_sq = 0;
    for (int64_t i = 0; i < n_weights; i++) sum_sq += (double)params[i] * params[i];
    return sum_sq;
}

/* The reported loss: scaled data term plus 0.5 * alpha * sum W^2, both over
 * the sample-weight sum (scikit-learn's definition). */
static double SFX(total_loss)(const fm_net *net, const REAL *params, double data_loss,
                              double sw_sum)
{
    return data_loss / sw_sum * net->data_loss_scale +
           0.5 * net->alpha * SFX(weights_sum_sq)(net, params) / sw_sum;
}

/* grad := (grad + alpha * W) / sw_sum for weights, grad / sw_sum for biases
 * (scikit-learn's order of operations). */
static void SFX(finish_gradient)(const fm_net *net, const REAL *restrict params,
                                 REAL *restrict grad, double sw_sum)
{
    const int64_t n_weights = fm_weight_offset(net, net->n_layers), n = fm_n_params(net);
    const REAL alpha = (REAL)net->alpha, scale = (REAL)sw_sum;
    for (int64_t i = 0; i < n_weights; i++) grad[i] = (grad[i] + alpha * params[i]) / scale;
    for (int64_t i = n_weights; i < n; i++) grad[i] /= scale;
}

static double SFX(sum)(const REAL *v, int64_t n)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += v[i];
    return total;
}

int SFX(fm_train_epoch)(const fm_net *net, REAL *params, fm_optimizer *opt,
                        const fm_input *x, const REAL *y, const REAL *sw,
                        const int64_t *order, int64_t n_order, int batch_size,
                        void *workspace, int64_t workspace_bytes,
                        fm_interrupt_fn interrupt, void *interrupt_ctx,
                        double *loss_sum)
{
    *loss_sum = 0;
    if (fm_check_net(net) != FM_OK || SFX(check_input)(net, x) != FM_OK || batch_size < 1 ||
        n_order < 0 || !params || !opt || !y || !order)
        return FM_ERR_INVALID;
    if ((opt->kind == FM_OPT_SGD && !opt->moment_1) ||
        (opt->kind == FM_OPT_ADAM && (!opt->moment_1 || !opt->moment_2)) ||
        (opt->kind == FM_OPT_RMSPROP && !opt->moment_2) ||
        opt->kind < FM_OPT_SGD || opt->kind > FM_OPT_RMSPROP)
        return FM_ERR_INVALID;
    for (int64_t i = 0; i < n_order; i++)
        if (order[i] < 0 || order[i] >= x->n_rows) return FM_ERR_INVALID;
    if (n_order == 0) return FM_OK;

    const int64_t n_features = x->n_cols, n_outputs = net->layer_sizes[net->n_layers];
    const int64_t n_params = fm_n_params(net);
    const int max_rows = (int)(batch_size < n_order ? batch_size : n_order);
    SFX(workspace) ws;
    if (SFX(workspace_init)(&ws, net, x, max_rows, workspace, workspace_bytes) != FM_OK)
        return FM_ERR_NOMEM;

    const REAL *x_dense = (const REAL *)x->dense;
    double last_check = fm_monotonic_seconds();
    int status = FM_OK;
    for (int64_t start = 0; start < n_order; start += batch_size) {
        const int n_rows = (int)(n_order - start < batch_size ? n_order - start : batch_size);
        const int64_t *rows = order + start;
        /* A run of consecutive samples (no shuffling) is used in place. */
        int consecutive = 1;
        for (int i = 1; i < n_rows && consecutive; i++) consecutive = rows[i] == rows[0] + i;
        const REAL *xb = NULL, *yb, *swb = NULL;
        if (consecutive) {
            xb = x_dense ? x_dense + rows[0] * n_features : NULL;
            yb = y + rows[0] * n_outputs;
            swb = sw ? sw + rows[0] : NULL;
        } else {
            for (int i = 0; i < n_rows; i++) {
                if (x_dense && i + GATHER_PREFETCH < n_rows) { /* random rows: hide misses */
                    const REAL *ahead = x_dense + rows[i + GATHER_PREFETCH] * n_features;
                    __builtin_prefetch(ahead);
                    __builtin_prefetch(ahead + n_features - 1);
                }
                if (x_dense)
                    memcpy(ws.x + (int64_t)i * n_features, x_dense + rows[i] * n_features,
                           sizeof(REAL) * (size_t)n_features);
                memcpy(ws.y + (int64_t)i * n_outputs, y + rows[i] * n_outputs,
                       sizeof(REAL) * (size_t)n_outputs);
                if (sw) ws.sw[i] = sw[rows[i]];
            }
            xb = x_dense ? ws.x : NULL;
            yb = ws.y;
            swb = sw ? ws.sw : NULL;
        }
        SFX(forward)(net, params, x, xb, rows, 0, n_rows, &ws, NULL);
        double data_loss = SFX(backward)(net, params, x, xb, rows, 0, yb, swb, n_rows, &ws,
                                         ws.grad);
        double sw_sum = swb ? SFX(sum)(swb, n_rows) : (double)n_rows;
        *loss_sum += SFX(total_loss)(net, params, data_loss, sw_sum) * n_rows;
        /* the gradient's scaling and L2 term are applied inside the update */
        SFX(fm_optimizer_update)(opt, params, ws.grad, n_params,
                                 fm_weight_offset(net, net->n_layers), net->alpha, sw_sum);
        if (interrupted(interrupt, interrupt_ctx, &last_check)) {
            status = FM_ERR_INTERRUPTED;
            break;
        }
    }
    SFX(workspace_free)(&ws);
    return status;
}

int SFX(fm_loss_grad)(const fm_net *net, const REAL *params, const fm_input *x,
                      const REAL *y, const REAL *sw, int chunk_rows,
                      void *workspace, int64_t workspace_bytes,
                      REAL *grad, double *loss, fm_interrupt_fn interrupt,
                      void *interrupt_ctx)
{
    *loss = 0;
    if (fm_check_net(net) != FM_OK || SFX(check_input)(net, x) != FM_OK || chunk_rows < 1 ||
        !params || !y || !grad)
        return FM_ERR_INVALID;
    const int64_t n_samples = x->n_rows, n_params = fm_n_params(net);
    const int64_t n_features = x->n_cols, n_outputs = net->layer_sizes[net->n_layers];
    const int max_rows = (int)(chunk_rows < n_samples ? chunk_rows : (n_samples ? n_samples : 1));
    SFX(workspace) ws;
    if (SFX(workspace_init)(&ws, net, x, max_rows, workspace, workspace_bytes) != FM_OK)
        return FM_ERR_NOMEM;
    /* with several chunks, ws.grad holds one chunk's sums */
    const int several_chunks = n_samples > max_rows;

    const REAL *x_dense = (const REAL *)x->dense;
    double last_check = fm_monotonic_seconds(), data_loss = 0;
    int status = FM_OK;
    memset(grad, 0, sizeof(REAL) * (size_t)n_params);
    for (int64_t start = 0; start < n_samples; start += max_rows) {
        const int n_rows = (int)(n_samples - start < max_rows ? n_samples - start : max_rows);
        const REAL *xb = x_dense ? x_dense + start * n_features : NULL;
        const REAL *swb = sw ? sw + start : NULL;
        REAL *chunk_grad = several_chunks ? ws.grad : grad;
        SFX(forward)(net, params, x, xb, NULL, start, n_rows, &ws, NULL);
        data_loss += SFX(backward)(net, params, x, xb, NULL, start, y + start * n_outputs,
                                   swb, n_rows, &ws, chunk_grad);
        if (several_chunks)
            for (int64_t i = 0; i < n_params; i++) grad[i] += chunk_grad[i];
        if (interrupted(interrupt, interrupt_ctx, &last_check)) {
            status = FM_ERR_INTERRUPTED;
            break;
        }
    }
    if (status == FM_OK) {
        double sw_sum = sw ? SFX(sum)(sw, n_samples) : (double)n_samples;
        *loss = SFX(total_loss)(net, params, data_loss, sw_sum);
        SFX(finish_gradient)(net, params, grad, sw_sum);
    }
    SFX(workspace_free)(&ws);
    return status;
}

int SFX(fm_predict)(const fm_net *net, const REAL *params, const fm_input *x,
                    int chunk_rows, void *workspace, int64_t workspace_bytes, REAL *out,
                    fm_interrupt_fn interrupt, void *interrupt_ctx)
{
    if (fm_check_net(net) != FM_OK || SFX(check_input)(net, x) != FM_OK || chunk_rows < 1 ||
        !params || !out)
        return FM_ERR_INVALID;
    const int64_t n_samples = x->n_rows;
    const int64_t n_features = x->n_cols, n_outputs = net->layer_sizes[net->n_layers];
    const int max_rows = (int)(chunk_rows < n_samples ? chunk_rows : (n_samples ? n_samples : 1));
    SFX(workspace) ws;
    if (SFX(workspace_init)(&ws, net, x, max_rows, workspace, workspace_bytes) != FM_OK)
        return FM_ERR_NOMEM;

    const REAL *x_dense = (const REAL *)x->dense;
    double last_check = fm_monotonic_seconds();
    int status = FM_OK;
    for (int64_t start = 0; start < n_samples; start += max_rows) {
        const int n_rows = (int)(n_samples - start < max_rows ? n_samples - start : max_rows);
        const REAL *xb = x_dense ? x_dense + start * n_features : NULL;
        SFX(forward)(net, params, x, xb, NULL, start, n_rows, &ws, out + start * n_outputs);
        if (interrupted(interrupt, interrupt_ctx, &last_check)) {
            status = FM_ERR_INTERRUPTED;
            break;
        }
    }
    SFX(workspace_free)(&ws);
    return status;
}
