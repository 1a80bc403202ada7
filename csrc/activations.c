/* Element-wise activations (forward, fused with the bias add) and their
 * derivatives, computed from the saved outputs. */
#include <string.h>

#include "engine.h"
#define FM_TEMPLATE "activations.tmpl.h"
#include "instantiate.h"
