/* Group normalisation without affine parameters (PyTorch GroupNorm(affine=False), eps 1e-5):
 * per example, the channels split into `groups` consecutive groups, each standardised by its
 * own mean and biased variance. No statistics cross examples, so per-example gradients stay
 * per example (DESIGN: no BatchNorm in training). */
#include "dp/layers_internal.h"

#include "common/moments.h"

enum { GROUP_NORM_EPS_DIVISOR = 100000 }; /* eps = 1e-5 */

/* Mean and 1/sqrt(var + eps) of m values. */
static void moments(const float *x, size_t m, double *mean, double *inv_std)
{
    moments_mean_inv_std(x, m, 1.0 / GROUP_NORM_EPS_DIVISOR, mean, inv_std);
}

static size_t group_size(const dp_layer *layer)
{
    return dp_shape_size(layer->input) / layer->groups;
}

static void group_norm_forward(const dp_layer *layer, const float *params, const float *in,
                               float *out, size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    size_t m = group_size(layer), count = n * layer->groups;
#pragma omp parallel for schedule(static)
    for (size_t g = 0; g < count; g++) {
        const float *x = in + g * m;
        float *y = out + g * m;
        double mean, inv_std;
        moments(x, m, &mean, &inv_std);
        for (size_t j = 0; j < m; j++)
            y[j] = (float)(((double)x[j] - mean) * inv_std);
    }
}

/* dx = (dy - mean(dy) - y mean(dy y)) / sigma, from y = (x - mean) / sigma. */
static void group_norm_backward_input(const dp_layer *layer, const float *params, const float *in,
                                      const float *out, const float *grad_out, float *grad_in,
                                      size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    size_t m = group_size(layer), count = n * layer->groups;
#pragma omp parallel for schedule(static)
    for (size_t g = 0; g < count; g++) {
        const float *y = out + g * m, *dy = grad_out + g * m;
        float *dx = grad_in + g * m;
        double mean, inv_std, sum_dy = 0, sum_dy_y = 0;
        moments(in + g * m, m, &mean, &inv_std);
        for (size_t j = 0; j < m; j++) {
            sum_dy += dy[j];
            sum_dy_y += (double)dy[j] * y[j];
        }
        double a = sum_dy / (double)m, b = sum_dy_y / (double)m;
        for (size_t j = 0; j < m; j++)
            dx[j] = (float)(((double)dy[j] - a - (double)y[j] * b) * inv_std);
    }
}

const dp_layer_ops dp_layer_group_norm_ops = {
    .name = "group-norm",
    .forward = group_norm_forward,
    .backward_input = group_norm_backward_input,
    .reads_output = 1};
