/* Batch normalization and dropout kernels. */
#include <string.h>

#include "engine.h"

int fm_dropout_keep(uint64_t seed, int64_t sample, int64_t unit, double rate)
{
    return fm_dropout_unit_kept(fm_dropout_row_key(seed, sample), unit,
                                fm_dropout_threshold(rate));
}

#define FM_TEMPLATE "regularizers.tmpl.h"
#include "instantiate.h"
