/* Max and average pooling over square windows (kernel, stride, no padding), per channel. No
 * parameters. Max pooling sends each output gradient to the first maximum of its window in
 * row-major order (PyTorch's choice), accumulating where windows overlap (stride < kernel). */
#include "dp/layers_internal.h"

#include <string.h>

typedef struct pool_dims {
    size_t planes, h, w, ho, wo, k, s;
} pool_dims;

static pool_dims dims_of(const dp_layer *layer, size_t n)
{
    return (pool_dims){n * layer->input.channels, layer->input.height, layer->input.width,
                       layer->output.height, layer->output.width, layer->kernel, layer->stride};
}

/* Offset (within the plane) of the first maximum of the window at (oh, ow). */
static size_t window_argmax(const pool_dims *d, const float *plane, size_t oh, size_t ow)
{
    size_t best = oh * d->s * d->w + ow * d->s;
    for (size_t ki = 0; ki < d->k; ki++)
        for (size_t kj = 0; kj < d->k; kj++) {
            size_t at = (oh * d->s + ki) * d->w + ow * d->s + kj;
            if (plane[at] > plane[best])
                best = at;
        }
    return best;
}

static void maxpool_forward(const dp_layer *layer, const float *params, const float *in,
                            float *out, size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    pool_dims d = dims_of(layer, n);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *plane = in + p * d.h * d.w;
        float *y = out + p * d.ho * d.wo;
        for (size_t oh = 0; oh < d.ho; oh++)
            for (size_t ow = 0; ow < d.wo; ow++)
                y[oh * d.wo + ow] = plane[window_argmax(&d, plane, oh, ow)];
    }
}

static void maxpool_backward_input(const dp_layer *layer, const float *params, const float *in,
                                   const float *out, const float *grad_out, float *grad_in,
                                   size_t n, const dp_scratch *scratch)
{
    (void)params, (void)out, (void)scratch;
    pool_dims d = dims_of(layer, n);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *plane = in + p * d.h * d.w, *g = grad_out + p * d.ho * d.wo;
        float *dx = grad_in + p * d.h * d.w;
        memset(dx, 0, d.h * d.w * sizeof *dx);
        for (size_t oh = 0; oh < d.ho; oh++)
            for (size_t ow = 0; ow < d.wo; ow++)
                dx[window_argmax(&d, plane, oh, ow)] += g[oh * d.wo + ow];
    }
}

static void avgpool_forward(const dp_layer *layer, const float *params, const float *in,
                            float *out, size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    pool_dims d = dims_of(layer, n);
    float scale = 1.0f / (float)(d.k * d.k);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *plane = in + p * d.h * d.w;
        float *y = out + p * d.ho * d.wo;
        for (size_t oh = 0; oh < d.ho; oh++)
            for (size_t ow = 0; ow < d.wo; ow++) {
                float s = 0;
                for (size_t ki = 0; ki < d.k; ki++)
                    for (size_t kj = 0; kj < d.k; kj++)
                        s += plane[(oh * d.s + ki) * d.w + ow * d.s + kj];
                y[oh * d.wo + ow] = s * scale;
            }
    }
}

static void avgpool_backward_input(const dp_layer *layer, const float *params, const float *in,
                                   const float *out, const float *grad_out, float *grad_in,
                                   size_t n, const dp_scratch *scratch)
{
    (void)params, (void)in, (void)out, (void)scratch;
    pool_dims d = dims_of(layer, n);
    float scale = 1.0f / (float)(d.k * d.k);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *g = grad_out + p * d.ho * d.wo;
        float *dx = grad_in + p * d.h * d.w;
        memset(dx, 0, d.h * d.w * sizeof *dx);
        for (size_t oh = 0; oh < d.ho; oh++)
            for (size_t ow = 0; ow < d.wo; ow++) {
                float share = g[oh * d.wo + ow] * scale;
                for (size_t ki = 0; ki < d.k; ki++)
                    for (size_t kj = 0; kj < d.k; kj++)
                        dx[(oh * d.s + ki) * d.w + ow * d.s + kj] += share;
            }
    }
}

const dp_layer_ops dp_layer_maxpool_ops = {
    .name = "maxpool", .forward = maxpool_forward, .backward_input = maxpool_backward_input};
const dp_layer_ops dp_layer_avgpool_ops = {
    .name = "avgpool", .forward = avgpool_forward, .backward_input = avgpool_backward_input};
