/* The vectorized CNN kernels against their definitions: tanh within a few float32 ulps of the
 * double-precision tanh over the whole range (docs/maths.md 4.13), with its special values, and
 * max pooling's backward pass sending every gradient to the first maximum of its window even
 * with ties, NaN and overlapping windows. */
#include "dp/layers_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

/* ulps of float32 between a float and an exact value */
static double ulps(float got, double exact)
{
    double ulp = exact == 0 ? 0x1p-149 : ldexp(1.0, ilogb(exact) - 23);
    return fabs((double)got - exact) / ulp;
}

Test(dp_kernels, tanh_within_a_few_ulps)
{
    enum { N = 200003 };
    static float x[N], y[N];
    for (size_t j = 0; j < N; j++) /* -12 .. 12, dense near 0 (values down to 1e-30) */
        x[j] = j % 2 ? (float)(24.0 * j / N - 12.0)
                     : (float)((j % 4 ? 1 : -1) * pow(10.0, -30.0 + 31.3 * j / N));
    dp_tanh_array(x, y, N);
    double worst = 0;
    size_t at = 0;
    for (size_t j = 0; j < N; j++) {
        double e = ulps(y[j], tanh((double)x[j]));
        if (e > worst)
            worst = e, at = j;
    }
    cr_assert_leq(worst, 4.0, "tanh(%.9g) = %.9g, %g ulps from %.17g", (double)x[at],
                  (double)y[at], worst, tanh((double)x[at]));
    float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 100.0f, -100.0f, 9.0f};
    float out[8];
    dp_tanh_array(special, out, 8);
    cr_assert(out[0] == 0.0f && !signbit(out[0]) && out[1] == 0.0f && signbit(out[1]));
    cr_assert(out[2] == 1.0f && out[3] == -1.0f && isnan(out[4]));
    cr_assert(out[5] == 1.0f && out[6] == -1.0f && ulps(out[7], tanh(9.0)) <= 4.0);
}

Test(dp_kernels, maxpool_gradient_goes_to_the_first_maximum)
{
    /* one 4x4 plane, kernel 2 stride 1 (overlapping), with tied maxima */
    dp_layer layer = {.kind = DP_LAYER_MAXPOOL, .input = {1, 4, 4}, .output = {1, 3, 3},
                      .kernel = 2, .stride = 1};
    const float x[16] = {1, 5, 5, 0,  /* */
                         5, 2, 3, 3,  /* */
                         0, 0, 3, 3,  /* */
                         7, 7, 7, NAN};
    float y[9], g[9], dx[16], expected[16] = {0}, kept[9];
    dp_scratch scratch = {.kept = kept};
    const dp_layer_ops *ops = dp_layer_ops_of(DP_LAYER_MAXPOOL);
    ops->forward(&layer, NULL, x, y, 1, &scratch);
    for (size_t o = 0; o < 9; o++)
        g[o] = (float)(o + 1);
    ops->backward_input(&layer, NULL, x, y, g, dx, 1, &scratch);
    /* the first maximum of each window in row-major order (a NaN that comes first wins) */
    for (size_t oh = 0; oh < 3; oh++)
        for (size_t ow = 0; ow < 3; ow++) {
            size_t best = oh * 4 + ow;
            for (size_t ki = 0; ki < 2; ki++)
                for (size_t kj = 0; kj < 2; kj++)
                    if (x[(oh + ki) * 4 + ow + kj] > x[best])
                        best = (oh + ki) * 4 + ow + kj;
            expected[best] += g[oh * 3 + ow];
            cr_assert(y[oh * 3 + ow] == x[best] || (isnan(y[oh * 3 + ow]) && isnan(x[best])));
        }
    for (size_t j = 0; j < 16; j++)
        cr_assert_eq(dx[j], expected[j], "dx[%zu] = %g, expected %g", j, (double)dx[j],
                     (double)expected[j]);
}
