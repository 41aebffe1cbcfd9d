/* Max and average pooling over square windows (kernel, stride, no padding), per channel. No
 * parameters. Max pooling sends each output gradient to the first maximum of its window in
 * row-major order (PyTorch's choice), accumulating where windows overlap (stride < kernel);
 * the backward pass finds it again by comparing the window with the stored output. */
#include "dp/layers_internal.h"

#include <string.h>

/* Selects vectorize only when the compiler may evaluate both sides: no FP trap is ever enabled
 * here, and the results do not change. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

typedef struct pool_dims {
    size_t planes, h, w, ho, wo, k, s;
} pool_dims;

static pool_dims dims_of(const dp_layer *layer, size_t n)
{
    return (pool_dims){n * layer->input.channels, layer->input.height, layer->input.width,
                       layer->output.height, layer->output.width, layer->kernel, layer->stride};
}

/* y[ow] = max(y[ow], r[ow * s]) with the forward pass's tie rule (a later equal value does not
 * replace an earlier one); inlined with s = 1 or the layer's stride. */
static inline void max_pass(const float *r, float *y, size_t wo, size_t s)
{
#pragma omp simd
    for (size_t ow = 0; ow < wo; ow++) {
        float v = r[ow * s];
        y[ow] = v > y[ow] ? v : y[ow];
    }
}

/* One output row of a plane: y[ow] = the first maximum of window (oh, ow) in row-major order,
 * as a running "v > best" over the window's offsets, each pass a loop over ow that vectorizes
 * (docs/maths.md 4.12). */
DP_SIMD_CLONES
static void maxpool_row(const pool_dims *d, const float *plane, size_t oh, float *y)
{
    const float *top = plane + oh * d->s * d->w;
    for (size_t ow = 0; ow < d->wo; ow++)
        y[ow] = top[ow * d->s];
    for (size_t ki = 0; ki < d->k; ki++)
        for (size_t kj = ki ? 0 : 1; kj < d->k; kj++) {
            if (d->s == 1)
                max_pass(top + ki * d->w + kj, y, d->wo, 1);
            else
                max_pass(top + ki * d->w + kj, y, d->wo, d->s);
        }
}

/* Columns of an output row handled together by maxpool_row_backward (its stack arrays). */
#define POOL_CHUNK 64

/* One window offset of the backward pass: where r[j * s] equals the output y[j] and the
 * window's gradient is still unassigned (left[j] = 1), out[j * s] += g[j]. */
static inline void first_max_pass(const float *r, const float *y, const float *g, float *left,
                                  float *out, size_t m, size_t s)
{
#pragma omp simd
    for (size_t j = 0; j < m; j++) {
        float hit = r[j * s] == y[j] ? left[j] : 0.0f;
        out[j * s] += hit != 0.0f ? g[j] : 0.0f;
        left[j] -= hit;
    }
}

/* The adjoint of maxpool_row: each g[ow] goes to the first window position, in row-major
 * order, whose input equals the output y[ow] (the first maximum, as the forward pass took it;
 * a NaN window, where nothing compares equal, sends it to the first position as the forward
 * pass did). dx accumulates (windows overlap when stride < kernel). */
DP_SIMD_CLONES
static void maxpool_row_backward(const pool_dims *d, const float *plane, const float *y,
                                 const float *g, size_t oh, float *dx)
{
    size_t top = oh * d->s * d->w;
    for (size_t o0 = 0; o0 < d->wo; o0 += POOL_CHUNK) {
        size_t m = d->wo - o0 < POOL_CHUNK ? d->wo - o0 : POOL_CHUNK;
        float left[POOL_CHUNK]; /* 1 until the window's maximum is found */
        for (size_t j = 0; j < m; j++)
            left[j] = 1.0f;
        for (size_t ki = 0; ki < d->k; ki++)
            for (size_t kj = 0; kj < d->k; kj++) {
                size_t at = top + ki * d->w + kj + o0 * d->s;
                if (d->s == 1)
                    first_max_pass(plane + at, y + o0, g + o0, left, dx + at, m, 1);
                else
                    first_max_pass(plane + at, y + o0, g + o0, left, dx + at, m, d->s);
            }
        for (size_t j = 0; j < m; j++)
            if (left[j] != 0.0f)
                dx[top + (o0 + j) * d->s] += g[o0 + j];
    }
}

static void maxpool_forward(const dp_layer *layer, const float *params, const float *in,
                            float *out, size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    pool_dims d = dims_of(layer, n);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++)
        for (size_t oh = 0; oh < d.ho; oh++)
            maxpool_row(&d, in + p * d.h * d.w, oh, out + p * d.ho * d.wo + oh * d.wo);
}

static void maxpool_backward_input(const dp_layer *layer, const float *params, const float *in,
                                   const float *out, const float *grad_out, float *grad_in,
                                   size_t n, const dp_scratch *scratch)
{
    (void)params, (void)scratch;
    pool_dims d = dims_of(layer, n);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        float *dx = grad_in + p * d.h * d.w;
        memset(dx, 0, d.h * d.w * sizeof *dx);
        for (size_t oh = 0; oh < d.ho; oh++)
            maxpool_row_backward(&d, in + p * d.h * d.w, out + p * d.ho * d.wo + oh * d.wo,
                                 grad_out + p * d.ho * d.wo + oh * d.wo, oh, dx);
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
