/* Whole-network calls: one training epoch, full-batch loss and gradient,
 * prediction.  Each uses the caller's workspace (or allocates one for the
 * call), never allocating per batch, and writes nothing shared between
 * calls (the optimizer's worker threads serve one caller at a time), so
 * concurrent calls on different models are safe. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Check for an interrupt at most every INTERRUPT_PERIOD seconds: the check
 * takes the GIL in the bindings, which must not happen per batch. */
#define INTERRUPT_PERIOD 0.05

/* Rows ahead of the copy whose cache lines the batch gather prefetches. */
#define GATHER_PREFETCH 8

static int interrupted(fm_interrupt_fn fn, void *ctx, double *last_check)
{
    if (!fn) return 0;
    double now = fm_monotonic_seconds();
    if (now - *last_check < INTERRUPT_PERIOD) return 0;
    *last_check = now;
    return fn(ctx);
}

/* Sum of the hidden and output widths: rows of activations kept for backward. */
static int64_t total_layer_width(const fm_net *net)
{
    int64_t width = 0;
    for (int l = 1; l <= net->n_layers; l++) width += net->layer_sizes[l];
    return width;
}

/* Whether fm_train_epoch augments its batches (mixup, input noise): each
 * batch is then copied, densified, into the workspace. */
static int augments_batches(const fm_net *net)
{
    return net->mixup_lambda != NULL || net->input_noise != NULL;
}

/* A standard normal draw, a pure function of (row_key, feature): Box-Muller
 * from two 32-bit hashes (u1 in (0, 1], so log(u1) is finite). */
static double gaussian_draw(uint32_t row_key, int64_t feature)
{
    const uint32_t at = row_key + (uint32_t)feature * 0x3c6ef372U;
    const double u1 = ((double)fm_mix32(at ^ 0x85ebca6bU) + 1.0) / 4294967296.0;
    const double u2 = (double)fm_mix32(at ^ 0xc2b2ae35U) / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Checks of the augmentation arrays of an epoch over n_order positions in
 * batches of batch_size rows and n_features inputs. */
static int check_augmentation(const fm_net *net, int64_t n_order, int batch_size,
                              int64_t n_features)
{
    if (net->mixup_lambda) {
        if (!net->mixup_partner) return FM_ERR_INVALID;
        for (int64_t start = 0, b = 0; start < n_order; start += batch_size, b++) {
            const int64_t n_rows = n_order - start < batch_size ? n_order - start : batch_size;
            if (!(net->mixup_lambda[b] >= 0 && net->mixup_lambda[b] <= 1)) return FM_ERR_INVALID;
            for (int64_t i = start; i < start + n_rows; i++)
                if (net->mixup_partner[i] < 0 || net->mixup_partner[i] >= n_rows)
                    return FM_ERR_INVALID;
        }
    }
    if (net->input_noise)
        for (int64_t f = 0; f < n_features; f++)
            if (!(net->input_noise[f] >= 0 && net->input_noise[f] <= 1e300))
                return FM_ERR_INVALID;
    return FM_OK;
}

/* Regions of a workspace block (train.tmpl.h). */
enum { WS_REGIONS = 11 };

#define FM_TEMPLATE "train.tmpl.h"
#include "instantiate.h"
