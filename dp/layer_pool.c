/* Max and average pooling over square windows (kernel, stride, no padding), per channel. No
 * parameters. Max pooling sends each output gradient to the first maximum of its window in
 * row-major order (PyTorch's choice), accumulating where windows overlap (stride < kernel);
 * the forward pass keeps where each maximum was for the backward pass. */
#include "dp/layers_internal.h"

#include <stdint.h>
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

/* y[ow] = max(y[ow], r[ow * s]) with the tie rule of the first maximum (a later equal value
 * does not replace an earlier one), at[ow] = the plane offset of the maximum (r[0] is at
 * offset `base`); inlined with s = 1 or the layer's stride so that it vectorizes. */
static inline void max_pass(const float *r, float *y, int32_t *at, int32_t base, size_t wo,
                            size_t s)
{
    int32_t n = (int32_t)wo, step = (int32_t)s; /* 32-bit lanes throughout */
#pragma omp simd
    for (int32_t ow = 0; ow < n; ow++) {
        float v = r[ow * step], best = y[ow];
        int32_t take = -(int32_t)(v > best), old = at[ow];
        y[ow] = v > best ? v : best;
        at[ow] = old + ((base + ow * step - old) & take); /* a blend, not a masked store */
    }
}

/* One output row of a plane: y[ow] = the first maximum of window (oh, ow) in row-major order
 * and at[ow] its offset in the plane, as a running "v > best" over the window's offsets, each
 * pass a loop over ow (docs/maths.md 4.13). */
SIMD_CLONES
static void maxpool_row(const pool_dims *d, const float *plane, size_t oh, float *y,
                        int32_t *at)
{
    size_t top = oh * d->s * d->w;
    for (size_t ow = 0; ow < d->wo; ow++) {
        y[ow] = plane[top + ow * d->s];
        at[ow] = (int32_t)(top + ow * d->s);
    }
    for (size_t ki = 0; ki < d->k; ki++)
        for (size_t kj = ki ? 0 : 1; kj < d->k; kj++) {
            size_t first = top + ki * d->w + kj;
            if (d->s == 1)
                max_pass(plane + first, y, at, (int32_t)first, d->wo, 1);
            else
                max_pass(plane + first, y, at, (int32_t)first, d->wo, d->s);
        }
}

/* Longest run of a plane that maxpool_rows_flat handles at once (its stack arrays). */
#define POOL_FLAT 1024

/* Unit stride, rows oh0 .. oh0 + rows - 1 at once: with s = 1, the window of output (oh, ow)
 * starts at plane offset q = oh*w + ow, so every window offset is one pass over the flat run
 * q = oh0*w .. (oh0 + rows - 1)*w + wo - 1 (its columns past wo are computed and dropped), a
 * long vector even when rows are short; then the run is compacted into y and at. */
SIMD_CLONES
static void maxpool_rows_flat(const pool_dims *d, const float *plane, size_t oh0, size_t rows,
                              float *y, int32_t *at)
{
    float run[POOL_FLAT];
    int32_t run_at[POOL_FLAT];
    size_t base = oh0 * d->w, span = (rows - 1) * d->w + d->wo;
    for (size_t q = 0; q < span; q++) {
        run[q] = plane[base + q];
        run_at[q] = (int32_t)(base + q);
    }
    for (size_t ki = 0; ki < d->k; ki++)
        for (size_t kj = ki ? 0 : 1; kj < d->k; kj++) {
            size_t first = base + ki * d->w + kj;
            max_pass(plane + first, run, run_at, (int32_t)first, span, 1);
        }
    for (size_t r = 0; r < rows; r++) {
        memcpy(y + (oh0 + r) * d->wo, run + r * d->w, d->wo * sizeof *y);
        memcpy(at + (oh0 + r) * d->wo, run_at + r * d->w, d->wo * sizeof *at);
    }
}

/* The offsets of the maxima are kept (one int32 per output, in the float-sized slots of
 * scratch->kept) for the backward pass; plane sizes are below 2^31 (dp/model.c). */
static size_t maxpool_kept_floats(const dp_layer *layer)
{
    return dp_shape_size(layer->output);
}

static void maxpool_forward(const dp_layer *layer, const float *params, const float *in,
                            float *out, size_t n, const dp_scratch *scratch)
{
    (void)params;
    pool_dims d = dims_of(layer, n);
    int32_t *offsets = (int32_t *)scratch->kept;
    size_t group = d.s == 1 && d.w <= POOL_FLAT ? POOL_FLAT / d.w : 0; /* rows at once */
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *plane = in + p * d.h * d.w;
        float *y = out + p * d.ho * d.wo;
        int32_t *at = offsets + p * d.ho * d.wo;
        if (group)
            for (size_t oh = 0; oh < d.ho; oh += group)
                maxpool_rows_flat(&d, plane, oh, d.ho - oh < group ? d.ho - oh : group, y, at);
        else
            for (size_t oh = 0; oh < d.ho; oh++)
                maxpool_row(&d, plane, oh, y + oh * d.wo, at + oh * d.wo);
    }
}

/* dx[offset of the window's maximum] += g, from the offsets the forward pass kept. */
static void maxpool_backward_input(const dp_layer *layer, const float *params, const float *in,
                                   const float *out, const float *grad_out, float *grad_in,
                                   size_t n, const dp_scratch *scratch)
{
    (void)params, (void)in, (void)out;
    pool_dims d = dims_of(layer, n);
    const int32_t *offsets = (const int32_t *)scratch->kept;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < d.planes; p++) {
        const float *g = grad_out + p * d.ho * d.wo;
        const int32_t *at = offsets + p * d.ho * d.wo;
        float *dx = grad_in + p * d.h * d.w;
        memset(dx, 0, d.h * d.w * sizeof *dx);
        for (size_t o = 0; o < d.ho * d.wo; o++)
            dx[at[o]] += g[o];
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
    .name = "maxpool",
    .forward = maxpool_forward,
    .backward_input = maxpool_backward_input,
    .kept_floats = maxpool_kept_floats};
const dp_layer_ops dp_layer_avgpool_ops = {
    .name = "avgpool", .forward = avgpool_forward, .backward_input = avgpool_backward_input};
