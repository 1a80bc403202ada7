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
    /* Only for nets that use them (NULL otherwise), laid out like acts: */
    REAL *pre;      /* pre-activations of gelu / swish layers */
    REAL *xhat;     /* normalized pre-activations of batch-norm layers */
    REAL *dropped;  /* outputs after dropout: the next layer's input */
    REAL *bn_stats; /* per unit: batch mean, then 1 / std (2 x total width) */
    void *owned;    /* the block when we allocated it */
} SFX(workspace);

static int SFX(has_batch_norm)(const fm_net *net, int layer)
{
    return fm_batch_norm_offset(net, layer) >= 0;
}

static double SFX(dropout_rate)(const fm_net *net, int layer)
{
    return net->dropout && layer < net->n_layers - 1 ? net->dropout[layer] : 0;
}

/* Which optional workspace regions the net needs. */
static void SFX(needed_regions)(const fm_net *net, int *pre, int *bn, int *dropout)
{
    *pre = *bn = *dropout = 0;
    for (int l = 0; l < net->n_layers - 1; l++) {
        *pre |= fm_activation_needs_input(net->activations[l]);
        *bn |= SFX(has_batch_norm)(net, l);
        *dropout |= SFX(dropout_rate)(net, l) > 0;
    }
}

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
    const int64_t width = total_layer_width(net);
    int pre, bn, dropout;
    SFX(needed_regions)(net, &pre, &bn, &dropout);
    dense = dense || augments_batches(net); /* augmented batches are copied, dense */
    const int64_t counts[WS_REGIONS] = {
        rows * width, rows * width, max_weights, fm_n_params(net), rows * n_outputs, rows,
        dense ? rows * n_features : 0, pre ? rows * width : 0, bn ? rows * width : 0,
        dropout ? rows * width : 0, bn ? 2 * width : 0};
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
    const int dense = x->dense != NULL || augments_batches(net);
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
    int pre, bn, dropout;
    SFX(needed_regions)(net, &pre, &bn, &dropout);
    ws->pre = pre ? (REAL *)(base + offsets[7]) : NULL;
    ws->xhat = bn ? (REAL *)(base + offsets[8]) : NULL;
    ws->dropped = dropout ? (REAL *)(base + offsets[9]) : NULL;
    ws->bn_stats = bn ? (REAL *)(base + offsets[10]) : NULL;
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

/* The input of layer l + 1: layer l's output, after dropout if any. */
static REAL *SFX(layer_output)(const fm_net *net, int layer, int n_rows, SFX(workspace) *ws)
{
    REAL *base = SFX(dropout_rate)(net, layer) > 0 ? ws->dropped : ws->acts;
    return base + SFX(layer_offset)(net, layer, n_rows);
}

/* Training forward of hidden layer l after its affine map, whose result z is
 * in dst (B, OUT): batch norm, activation, dropout (each when configured).
 * update_running: move the running statistics (training epochs only). */
static void SFX(hidden_forward)(const fm_net *net, const REAL *params, int layer,
                                const int64_t *rows, int64_t first_row, int n_rows,
                                SFX(workspace) *ws, REAL *dst, int update_running)
{
    const int fan_out = net->layer_sizes[layer + 1], act = net->activations[layer];
    const int64_t offset = SFX(layer_offset)(net, layer, n_rows);
    const int64_t units_before = SFX(layer_offset)(net, layer, 1);
    const int64_t bn_offset = fm_batch_norm_offset(net, layer);
    if (bn_offset >= 0) {
        const REAL *gamma = params + bn_offset, *beta = gamma + fan_out;
        REAL *mean = NULL, *var = NULL;
        if (update_running) {
            /* this layer's units among all batch-normalized units */
            const int64_t unit = (bn_offset - fm_bias_offset(net, net->n_layers)) / 2;
            mean = (REAL *)net->running_stats + unit;
            var = mean + fm_batch_norm_units(net);
        }
        SFX(fm_batch_norm_forward)(dst, ws->xhat + offset, ws->bn_stats + 2 * units_before,
                                   gamma, beta, n_rows, fan_out, net->batch_norm_eps, mean,
                                   var, net->batch_norm_momentum);
    }
    if (fm_activation_needs_input(act))
        memcpy(ws->pre + offset, dst, sizeof(REAL) * (size_t)n_rows * (size_t)fan_out);
    if (bn_offset >= 0 || fm_activation_needs_input(act))
        SFX(fm_bias_activation)(dst, NULL, n_rows, fan_out, act, net->leaky_relu_slope);
    const double rate = SFX(dropout_rate)(net, layer);
    if (rate > 0)
        SFX(fm_dropout)(ws->dropped + offset, dst, n_rows, fan_out, rows, first_row,
                        units_before, net->dropout_seed, rate);
}

/* Forward pass over n_rows rows.  The rows are x_rows (dense, (B, F)) or,
 * for CSR input, rows / first_row of x.  Training keeps each layer's output in
 * ws->acts, and the output layer's pre-activation in its ws->deltas block for
 * the loss; prediction (out != NULL; no batch norm, no dropout) ping-pongs
 * and writes the output to out. */
static void SFX(forward)(const fm_net *net, const REAL *params, const fm_input *x,
                         const REAL *x_rows, const int64_t *rows, int64_t first_row,
                         int n_rows, SFX(workspace) *ws, REAL *out, int update_running)
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
        /* the output layer keeps z (activated below); layers with batch norm
         * or an activation that needs z get z (hidden_forward goes on) */
        const int later = !out && (is_output || SFX(has_batch_norm)(net, l) ||
                                   fm_activation_needs_input(act));
        if (later) act = FM_ACT_IDENTITY;
        if (l == 0 && x->csr_data)
            SFX(fm_csr_dense_forward)(dst, x, rows, first_row, w, b, n_rows, fan_out, act,
                                      net->leaky_relu_slope);
        else
            SFX(fm_dense_forward)(dst, inp, w, b, n_rows, fan_in, fan_out, act,
                                  net->leaky_relu_slope,
                                  fm_layer_kernel(net, l, FM_PRODUCT_FORWARD));
        if (is_output && !out) {
            REAL *a = ws->acts + SFX(layer_offset)(net, l, n_rows);
            memcpy(a, dst, sizeof(REAL) * (size_t)n_rows * (size_t)fan_out);
            SFX(fm_bias_activation)(a, NULL, n_rows, fan_out, net->activations[l],
                                    net->leaky_relu_slope);
        } else if (!out) {
            SFX(hidden_forward)(net, params, l, rows, first_row, n_rows, ws, dst,
                                update_running);
            dst = SFX(layer_output)(net, l, n_rows, ws);
        }
        inp = dst;
    }
}

/* Backward of hidden layer l, from delta = d loss / d (its output after
 * dropout) to d loss / d z, collecting the batch-norm gradients. */
static void SFX(hidden_backward)(const fm_net *net, const REAL *params, int layer,
                                 const int64_t *rows, int64_t first_row, int n_rows,
                                 SFX(workspace) *ws, REAL *delta, REAL *grad)
{
    const int fan_out = net->layer_sizes[layer + 1], act = net->activations[layer];
    const int64_t offset = SFX(layer_offset)(net, layer, n_rows);
    const int64_t units_before = SFX(layer_offset)(net, layer, 1);
    const double rate = SFX(dropout_rate)(net, layer);
    if (rate > 0) /* the same mask, so dropped units pass no gradient */
        SFX(fm_dropout)(delta, delta, n_rows, fan_out, rows, first_row, units_before,
                        net->dropout_seed, rate);
    const REAL *slope_from = (fm_activation_needs_input(act) ? ws->pre : ws->acts) + offset;
    SFX(fm_activation_backward)(delta, slope_from, (int64_t)n_rows * fan_out, act,
                                net->leaky_relu_slope);
    const int64_t bn_offset = fm_batch_norm_offset(net, layer);
    if (bn_offset >= 0)
        SFX(fm_batch_norm_backward)(delta, ws->xhat + offset,
                                    ws->bn_stats + 2 * units_before + fan_out,
                                    params + bn_offset, n_rows, fan_out, grad + bn_offset,
                                    grad + bn_offset + fan_out);
}

/* Backward pass after forward(training): raw gradient sums (no penalties,
 * not divided by the weight sum) into grad.  Returns sum_i sw_i * loss_i. */
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
                                          n_outputs, net->loss, net->loss_param);
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
                                       fm_layer_kernel(net, l, FM_PRODUCT_WEIGHT_GRAD),
                                       FM_GEMM_BLAS, NULL);
        } else {
            REAL *dinp = ws->deltas + SFX(layer_offset)(net, l - 1, n_rows);
            const REAL *inp = SFX(layer_output)(net, l - 1, n_rows, ws);
            SFX(fm_dense_backward)(dinp, dw, db, dout, inp, w, n_rows, fan_in, fan_out,
                                   fm_layer_kernel(net, l, FM_PRODUCT_WEIGHT_GRAD),
                                   fm_layer_kernel(net, l, FM_PRODUCT_INPUT_GRAD),
                                   ws->weight_t);
            SFX(hidden_backward)(net, params, l - 1, rows, first_row, n_rows, ws, dinp, grad);
        }
        /* Batch norm subtracts the batch mean, so the bias before it has no
         * effect and a zero gradient; its computed sum is rounding noise,
         * which Adam's normalization would turn into a random walk. */
        if (SFX(has_batch_norm)(net, l)) memset(db, 0, sizeof(REAL) * (size_t)fan_out);
    }
    return data_loss;
}

/* The penalty 0.5 * alpha * sum W^2 + l1 * sum |W| from the weights' sums
 * (fm_weight_sums). */
static double SFX(penalty)(const fm_net *net, const double weight_sums[2])
{
    return 0.5 * net->alpha * weight_sums[0] + net->l1 * weight_sums[1];
}

/* The reported loss: scaled data term plus the penalty, both over the
 * sample-weight sum (scikit-learn's definition). */
static double SFX(total_loss)(const fm_net *net, const double weight_sums[2],
                              double data_loss, double sw_sum)
{
    return data_loss / sw_sum * net->data_loss_scale + SFX(penalty)(net, weight_sums) / sw_sum;
}

/* grad := (grad + alpha * W + l1 * sign(W)) / sw_sum for weights, grad /
 * sw_sum for the others (scikit-learn's order of operations). */
static void SFX(finish_gradient)(const fm_net *net, const REAL *restrict params,
                                 REAL *restrict grad, double sw_sum)
{
    const int64_t n_weights = fm_weight_offset(net, net->n_layers), n = fm_n_params(net);
    const REAL alpha = (REAL)net->alpha, l1 = (REAL)net->l1, scale = (REAL)sw_sum;
    for (int64_t i = 0; i < n_weights; i++) {
        const REAL sign = (REAL)((params[i] > 0) - (params[i] < 0));
        grad[i] = (grad[i] + alpha * params[i] + l1 * sign) / scale;
    }
    for (int64_t i = n_weights; i < n; i++) grad[i] /= scale;
}

static double SFX(sum)(const REAL *v, int64_t n)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += v[i];
    return total;
}

/* x_row := scale * (row `row` of x) (accumulate: +=), dense or CSR. */
static void SFX(load_row)(REAL *restrict x_row, const fm_input *x, int64_t row, REAL scale,
                          int accumulate)
{
    const int64_t n_features = x->n_cols;
    if (x->dense) {
        const REAL *src = (const REAL *)x->dense + row * n_features;
        if (accumulate)
            for (int64_t f = 0; f < n_features; f++) x_row[f] += scale * src[f];
        else
            for (int64_t f = 0; f < n_features; f++) x_row[f] = scale * src[f];
        return;
    }
    if (!accumulate) memset(x_row, 0, sizeof(REAL) * (size_t)n_features);
    const REAL *data = (const REAL *)x->csr_data;
    for (int64_t p = x->csr_indptr[row]; p < x->csr_indptr[row + 1]; p++)
        x_row[x->csr_indices[p]] += scale * data[p];
}

/* The augmented copy of batch `batch` (rows = order + start, n_rows of them)
 * in ws->x (B, F), ws->y (B, O) and ws->sw (B,): mixup of each row with its
 * partner, its target and sample weight alike, then the input noise. */
static void SFX(augment_batch)(const fm_net *net, const fm_input *x, const REAL *y,
                               const REAL *sw, const int64_t *rows, int64_t start,
                               int64_t batch, int n_rows, SFX(workspace) *ws)
{
    const int64_t n_features = x->n_cols, n_outputs = net->layer_sizes[net->n_layers];
    for (int i = 0; i < n_rows; i++) {
        REAL *x_row = ws->x + (int64_t)i * n_features, *y_row = ws->y + (int64_t)i * n_outputs;
        const int64_t a = rows[i];
        if (net->mixup_lambda) {
            const int64_t b = rows[net->mixup_partner[start + i]];
            const REAL lam = (REAL)net->mixup_lambda[batch];
            const REAL rest = (REAL)(1.0 - net->mixup_lambda[batch]);
            SFX(load_row)(x_row, x, a, lam, 0);
            SFX(load_row)(x_row, x, b, rest, 1);
            for (int64_t o = 0; o < n_outputs; o++)
                y_row[o] = lam * y[a * n_outputs + o] + rest * y[b * n_outputs + o];
            if (sw) ws->sw[i] = lam * sw[a] + rest * sw[b];
        } else {
            SFX(load_row)(x_row, x, a, 1, 0);
            memcpy(y_row, y + a * n_outputs, sizeof(REAL) * (size_t)n_outputs);
            if (sw) ws->sw[i] = sw[a];
        }
        if (net->input_noise) {
            const uint32_t key = fm_dropout_row_key(net->noise_seed, a);
            for (int64_t f = 0; f < n_features; f++)
                if (net->input_noise[f] > 0)
                    x_row[f] += (REAL)(net->input_noise[f] * gaussian_draw(key, f));
        }
    }
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
    const int adam_like = opt->kind == FM_OPT_ADAM || opt->kind == FM_OPT_ADAMW;
    if ((opt->kind == FM_OPT_SGD && !opt->moment_1) ||
        (adam_like && (!opt->moment_1 || !opt->moment_2)) ||
        (opt->kind == FM_OPT_RMSPROP && !opt->moment_2) ||
        opt->kind < FM_OPT_SGD || opt->kind > FM_OPT_ADAMW || !(opt->max_grad_norm >= 0) ||
        !(opt->weight_decay >= 0))
        return FM_ERR_INVALID;
    if (fm_batch_norm_units(net) > 0 && !net->running_stats) return FM_ERR_INVALID;
    for (int64_t i = 0; i < n_order; i++)
        if (order[i] < 0 || order[i] >= x->n_rows) return FM_ERR_INVALID;
    if (check_augmentation(net, n_order, batch_size, x->n_cols) != FM_OK)
        return FM_ERR_INVALID;
    if (n_order == 0) return FM_OK;

    const int64_t n_features = x->n_cols, n_outputs = net->layer_sizes[net->n_layers];
    const int64_t n_params = fm_n_params(net);
    const int augment = augments_batches(net);
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
        /* an augmented batch is a dense copy: its own input */
        fm_input batch_input = {n_rows, n_features, ws.x, NULL, NULL, NULL};
        const fm_input *xin = augment ? &batch_input : x;
        if (augment) {
            SFX(augment_batch)(net, x, y, sw, rows, start, start / batch_size, n_rows, &ws);
            xb = ws.x;
            yb = ws.y;
            swb = sw ? ws.sw : NULL;
        } else if (consecutive) {
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
        SFX(forward)(net, params, xin, xb, rows, 0, n_rows, &ws, NULL, 1);
        double data_loss = SFX(backward)(net, params, xin, xb, rows, 0, yb, swb, n_rows, &ws,
                                         ws.grad);
        double sw_sum = swb ? SFX(sum)(swb, n_rows) : (double)n_rows;
        /* the gradient's scaling and L2 term are applied inside the update,
         * whose pass also sums the weights before it for the penalty */
        double weight_sums[2] = {0, 0};
        const int penalized = net->alpha != 0 || net->l1 != 0;
        SFX(fm_optimizer_update)(opt, params, ws.grad, n_params,
                                 fm_weight_offset(net, net->n_layers), net->alpha, net->l1,
                                 sw_sum, net->n_threads, penalized ? weight_sums : NULL);
        *loss_sum += SFX(total_loss)(net, weight_sums, data_loss, sw_sum) * n_rows;
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
    /* batch statistics are over all samples: they must fit one chunk */
    if (fm_batch_norm_units(net) > 0 && n_samples > max_rows) return FM_ERR_INVALID;
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
        SFX(forward)(net, params, x, xb, NULL, start, n_rows, &ws, NULL, 0);
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
        double weight_sums[2] = {0, 0};
        if (net->alpha != 0 || net->l1 != 0)
            SFX(fm_weight_sums)(params, n_params, fm_weight_offset(net, net->n_layers),
                                weight_sums);
        *loss = SFX(total_loss)(net, weight_sums, data_loss, sw_sum);
        SFX(finish_gradient)(net, params, grad, sw_sum);
    }
    SFX(workspace_free)(&ws);
    return status;
}

/* A group of prediction chunks shared by threads (fm_parallel_run): each
 * chunk runs through every layer on whichever thread takes it, in a
 * workspace of its own that it claims for the time it runs.  A row's output
 * does not depend on the chunk or the thread that computes it. */
typedef struct {
    const fm_net *net;
    const REAL *params;
    const fm_input *x;
    REAL *out;
    int64_t first_chunk;
    int max_rows;
    SFX(workspace) *ws; /* n_ws workspaces, ws_busy[i] set while one is used */
    int *ws_busy;
    int n_ws;
} SFX(predict_task);

static void SFX(predict_chunk)(void *ctx, int part, int n_parts)
{
    const SFX(predict_task) *t = ctx;
    (void)n_parts;
    /* at most n_ws chunks run at once, so one workspace is always free */
    int w = 0;
    while (__atomic_exchange_n(&t->ws_busy[w], 1, __ATOMIC_ACQUIRE)) w = (w + 1) % t->n_ws;
    const int64_t n_features = t->x->n_cols, n_outputs = t->net->layer_sizes[t->net->n_layers];
    const int64_t start = (t->first_chunk + part) * t->max_rows;
    const int n_rows =
        (int)(t->x->n_rows - start < t->max_rows ? t->x->n_rows - start : t->max_rows);
    const REAL *x_dense = (const REAL *)t->x->dense;
    SFX(forward)(t->net, t->params, t->x, x_dense ? x_dense + start * n_features : NULL, NULL,
                 start, n_rows, &t->ws[w], t->out + start * n_outputs, 0);
    __atomic_store_n(&t->ws_busy[w], 0, __ATOMIC_RELEASE);
}

/* Threads (and workspaces) a prediction uses at most; chunks per thread
 * handed out between two interrupt checks. */
#define PREDICT_MAX_THREADS 64
#define PREDICT_CHUNKS_PER_THREAD 2

int SFX(fm_predict)(const fm_net *net, const REAL *params, const fm_input *x,
                    int chunk_rows, void *workspace, int64_t workspace_bytes, REAL *out,
                    fm_interrupt_fn interrupt, void *interrupt_ctx)
{
    if (fm_check_net(net) != FM_OK || SFX(check_input)(net, x) != FM_OK || chunk_rows < 1 ||
        !params || !out || fm_batch_norm_units(net) > 0)
        return FM_ERR_INVALID;
    const int64_t n_samples = x->n_rows;
    const int max_rows = (int)(chunk_rows < n_samples ? chunk_rows : (n_samples ? n_samples : 1));
    const int64_t n_chunks = (n_samples + max_rows - 1) / max_rows;
    /* One workspace per thread that can take a chunk: the caller's first.
     * Chunks go to several threads only when the engine's own kernel
     * computes every product: a product planned for the BLAS runs on the
     * BLAS's threads already, and two of them at once would fight for the
     * cores. */
    int n_ws = net->n_threads < PREDICT_MAX_THREADS ? net->n_threads : PREDICT_MAX_THREADS;
    for (int l = x->csr_data ? 1 : 0; l < net->n_layers; l++)
        if (fm_layer_kernel(net, l, FM_PRODUCT_FORWARD) != FM_GEMM_OWN) n_ws = 1;
    if (n_ws > n_chunks) n_ws = n_chunks > 1 ? (int)n_chunks : 1;
    if (n_ws < 1) n_ws = 1;
    SFX(workspace) ws[PREDICT_MAX_THREADS];
    int ws_busy[PREDICT_MAX_THREADS] = {0};
    if (SFX(workspace_init)(&ws[0], net, x, max_rows, workspace, workspace_bytes) != FM_OK)
        return FM_ERR_NOMEM;
    for (int w = 1; w < n_ws; w++)
        if (SFX(workspace_init)(&ws[w], net, x, max_rows, NULL, 0) != FM_OK) {
            n_ws = w; /* fewer threads: the same result */
            break;
        }

    SFX(predict_task) task = {net, params, x, out, 0, max_rows, ws, ws_busy, n_ws};
    double last_check = fm_monotonic_seconds();
    int status = FM_OK;
    for (int64_t first = 0; first < n_chunks; first += (int64_t)n_ws * PREDICT_CHUNKS_PER_THREAD) {
        const int64_t left = n_chunks - first;
        const int parts = (int)(left < (int64_t)n_ws * PREDICT_CHUNKS_PER_THREAD
                                    ? left
                                    : (int64_t)n_ws * PREDICT_CHUNKS_PER_THREAD);
        task.first_chunk = first;
        if (n_ws > 1 && parts > 1)
            fm_parallel_run(n_ws, parts, SFX(predict_chunk), &task);
        else
            for (int part = 0; part < parts; part++) SFX(predict_chunk)(&task, part, parts);
        if (interrupted(interrupt, interrupt_ctx, &last_check)) {
            status = FM_ERR_INTERRUPTED;
            break;
        }
    }
    for (int w = 0; w < n_ws; w++) SFX(workspace_free)(&ws[w]);
    return status;
}

#undef PREDICT_MAX_THREADS
#undef PREDICT_CHUNKS_PER_THREAD
