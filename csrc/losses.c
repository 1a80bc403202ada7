/* Losses and their gradient w.r.t. the output layer's pre-activation. */
#include "engine.h"
#define FM_TEMPLATE "losses.tmpl.h"
#include "instantiate.h"
