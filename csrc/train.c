/* Whole-network calls: one training epoch, full-batch loss and gradient,
 * prediction.  Each uses the caller's workspace (or allocates one for the
 * call), never allocating per batch, and writes nothing shared between
 * calls (the optimizer's worker threads serve one caller at a time), so
 * concurrent calls on different models are safe. */
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

/* Regions of a workspace block (train.tmpl.h). */
enum { WS_REGIONS = 11 };

#define FM_TEMPLATE "train.tmpl.h"
#include "instantiate.h"
