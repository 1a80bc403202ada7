/* The finiteness check of input rows (prediction's fast path). */
#include <string.h>

#include "engine.h"

#define FM_TEMPLATE "finite.tmpl.h"
#include "instantiate.h"
