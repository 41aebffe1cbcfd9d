/* tanh over float arrays in a form the compiler vectorizes (AVX-512, AVX2 or the baseline, one
 * clone each, picked at load time): tanh(x) = sign(x) e / (e + 2) with e = expm1(2|x|)
 * (docs/maths.md 4.13). libm's tanhf is a scalar call per value, a sixth of a CNN step. */
#include "dp/layers_internal.h"

/* Selects around a division vectorize only when the compiler may evaluate both sides: no FP
 * trap is ever enabled here, and the results do not change. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stdint.h>

typedef union float_bits {
    float f;
    int32_t i;
} float_bits;

/* tanh of one value, branch-free so that a loop over it vectorizes. */
static inline float tanh_value(float x)
{
    float a = fabsf(x);
    a = a < 10.0f ? a : 10.0f; /* tanh rounds to 1 in float32 from 9.02 on; NaN: below */
    float t = 2.0f * a;
    /* t = n ln2 + r, |r| <= ln2/2: round to nearest by the 1.5 * 2^23 shift, ln2 in two parts
     * (n <= 29, so n * ln2_hi is exact) */
    float n = (t * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (t - n * 0x1.62e4p-1f) - n * 0x1.7f7d1cp-20f;
    /* expm1(r) by its Taylor series to r^8 (remainder < 2e-8 relative at |r| = ln2/2) */
    float p = r + r * r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
              r * (1.0f / 720 + r * (1.0f / 5040 + r * (1.0f / 40320)))))));
    float_bits s = {.i = ((int32_t)n + 127) << 23}; /* 2^n */
    float e = s.f * p + (s.f - 1.0f);                /* expm1(t) = 2^n (1 + p) - 1 */
    float y = e / (e + 2.0f);
    y = copysignf(y, x);
    return x == x ? y : x;
}

SIMD_CLONES
static void tanh_run(const float *x, float *y, size_t count)
{
#pragma omp simd
    for (size_t j = 0; j < count; j++)
        y[j] = tanh_value(x[j]);
}

/* Not cloned itself: a cloned function's resolver would be exported from libdpkit.so. */
void dp_tanh_array(const float *x, float *y, size_t count)
{
    tanh_run(x, y, count);
}
