/* fm_api_of: the table of each dtype's entry points (fastmlp.h). */
#include "engine.h"

#define FM_TEMPLATE "api.tmpl.h"
#include "instantiate.h"
#undef FM_TEMPLATE

const fm_api *fm_api_of(int dtype)
{
    switch (dtype) {
    case FM_FLOAT32: return &api_table_f32;
    case FM_FLOAT64: return &api_table_f64;
    default: return NULL;
    }
}
