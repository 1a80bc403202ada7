/* Instantiates the template named by FM_TEMPLATE once for float and once for
 * double.  Inside a template:
 *   REAL       the element type        SFX(name)  name_f32 / name_f64
 *   M(fn)      the math function of REAL (M(exp) is expf or exp)
 *   REAL_EPS   machine epsilon of REAL
 *   IREAL, UIREAL  the signed / unsigned integer types of REAL's size
 *   REAL_IS_DOUBLE  1 for double, 0 for float (for #if) */
#include <float.h>
#include <math.h>
#include <stdint.h>

#define REAL float
#define SFX(name) name##_f32
#define M(fn) fn##f
#define REAL_EPS FLT_EPSILON
#define IREAL int32_t
#define UIREAL uint32_t
#define REAL_IS_DOUBLE 0
#include FM_TEMPLATE
#undef REAL
#undef SFX
#undef M
#undef REAL_EPS
#undef IREAL
#undef UIREAL
#undef REAL_IS_DOUBLE

#define REAL double
#define SFX(name) name##_f64
#define M(fn) fn
#define REAL_EPS DBL_EPSILON
#define IREAL int64_t
#define UIREAL uint64_t
#define REAL_IS_DOUBLE 1
#include FM_TEMPLATE
#undef REAL
#undef SFX
#undef M
#undef REAL_EPS
#undef IREAL
#undef UIREAL
#undef REAL_IS_DOUBLE
