/* The network description: parameter layout and validation. */
#include <math.h>

#include "engine.h"

int fm_loss_output_activation(int loss)
{
    switch (loss) {
    case FM_LOSS_SQUARED_ERROR: return FM_ACT_IDENTITY;
    case FM_LOSS_CROSS_ENTROPY: return FM_ACT_SOFTMAX;
    case FM_LOSS_BINARY_CROSS_ENTROPY: return FM_ACT_LOGISTIC;
    case FM_LOSS_POISSON: return FM_ACT_EXP;
    case FM_LOSS_ABSOLUTE_ERROR:
    case FM_LOSS_HUBER:
    case FM_LOSS_QUANTILE: return FM_ACT_IDENTITY;
    default: return -1;
    }
}

static int has_batch_norm(const fm_net *net, int layer)
{
    return net->batch_norm && layer < net->n_layers - 1 && net->batch_norm[layer];
}

int64_t fm_batch_norm_units(const fm_net *net)
{
    int64_t units = 0;
    for (int l = 0; l < net->n_layers - 1; l++)
        if (has_batch_norm(net, l)) units += net->layer_sizes[l + 1];
    return units;
}

int64_t fm_n_params(const fm_net *net)
{
    int64_t n = 0;
    for (int l = 0; l < net->n_layers; l++)
        n += ((int64_t)net->layer_sizes[l] + 1) * net->layer_sizes[l + 1];
    return n + 2 * fm_batch_norm_units(net);
}

int64_t fm_weight_offset(const fm_net *net, int layer)
{
    int64_t offset = 0;
    for (int l = 0; l < layer; l++)
        offset += (int64_t)net->layer_sizes[l] * net->layer_sizes[l + 1];
    return offset;
}

int64_t fm_bias_offset(const fm_net *net, int layer)
{
    int64_t offset = fm_weight_offset(net, net->n_layers);
    for (int l = 0; l < layer; l++) offset += net->layer_sizes[l + 1];
    return offset;
}

int64_t fm_batch_norm_offset(const fm_net *net, int layer)
{
    if (!has_batch_norm(net, layer)) return -1;
    int64_t offset = fm_bias_offset(net, net->n_layers);
    for (int l = 0; l < layer; l++)
        if (has_batch_norm(net, l)) offset += 2 * (int64_t)net->layer_sizes[l + 1];
    return offset;
}

static int is_hidden_activation(int act)
{
    return act == FM_ACT_IDENTITY || act == FM_ACT_LOGISTIC || act == FM_ACT_TANH ||
           act == FM_ACT_RELU || act == FM_ACT_LEAKY_RELU || act == FM_ACT_ELU ||
           act == FM_ACT_GELU || act == FM_ACT_SWISH;
}

int fm_check_net(const fm_net *net)
{
    if (!net || net->n_layers < 1 || !net->layer_sizes || !net->activations)
        return FM_ERR_INVALID;
    for (int l = 0; l <= net->n_layers; l++)
        if (net->layer_sizes[l] < 1) return FM_ERR_INVALID;
    for (int l = 0; l < net->n_layers - 1; l++)
        if (!is_hidden_activation(net->activations[l])) return FM_ERR_INVALID;
    int out = fm_loss_output_activation(net->loss);
    if (out < 0 || net->activations[net->n_layers - 1] != out) return FM_ERR_INVALID;
    if (!(net->leaky_relu_slope >= 0) || !(net->alpha >= 0) || !(net->l1 >= 0))
        return FM_ERR_INVALID;
    if (net->loss == FM_LOSS_HUBER && !(net->loss_param > 0 && net->loss_param < INFINITY))
        return FM_ERR_INVALID;
    if (net->loss == FM_LOSS_QUANTILE && !(net->loss_param > 0 && net->loss_param < 1))
        return FM_ERR_INVALID;
    for (int l = 0; l < net->n_layers - 1; l++) {
        if (net->dropout && !(net->dropout[l] >= 0 && net->dropout[l] < 1)) return FM_ERR_INVALID;
        if (net->batch_norm && net->batch_norm[l] != 0 && net->batch_norm[l] != 1)
            return FM_ERR_INVALID;
    }
    if (net->gemm_kernels)
        for (int i = 0; i < net->n_layers * FM_N_PRODUCTS; i++)
            if (net->gemm_kernels[i] >= FM_N_KERNELS) return FM_ERR_INVALID;
    if (net->batch_norm &&
        (!(net->batch_norm_momentum >= 0 && net->batch_norm_momentum <= 1) ||
         !(net->batch_norm_eps > 0)))
        return FM_ERR_INVALID;
    /* The parameter count, and so every offset and byte size derived from
     * it, must not overflow (fm_n_params would wrap to a small number). */
    int64_t n_params = 0;
    for (int l = 0; l < net->n_layers; l++) {
        int64_t n = ((int64_t)net->layer_sizes[l] + 1) * net->layer_sizes[l + 1];
        if (n > INT64_MAX / (int64_t)sizeof(double) - n_params) return FM_ERR_INVALID;
        n_params += n;
    }
    /* the batch-norm parameters: at most 2 per hidden unit */
    for (int l = 1; l < net->n_layers; l++) {
        int64_t n = 2 * (int64_t)net->layer_sizes[l];
        if (n > INT64_MAX / (int64_t)sizeof(double) - n_params) return FM_ERR_INVALID;
        n_params += n;
    }
    return FM_OK;
}
