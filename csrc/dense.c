/* Dense layer forward and backward: GEMM, then one fused bias + activation
 * pass; a CSR variant for a sparse first layer. */
#include <string.h>

#include "engine.h"
#define FM_TEMPLATE "dense.tmpl.h"
#include "instantiate.h"
