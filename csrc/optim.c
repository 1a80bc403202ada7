/* Optimizer updates: one flat loop over the parameter vector. */
#include "engine.h"
#define FM_TEMPLATE "optim.tmpl.h"
#include "instantiate.h"
