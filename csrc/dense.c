/* Dense layer forward and backward: the products by the BLAS or the
 * engine's own kernel, as the net's plan says, with the bias and activation
 * fused into one pass; a CSR variant for a sparse first layer; and the
 * timing of both kernels that the plan is made from. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#define FM_TEMPLATE "dense.tmpl.h"
#include "instantiate.h"
