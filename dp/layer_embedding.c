/* Embedding: T token ids (stored as floats, exact below 2^24) -> T vectors of `units` values
 * from a (vocab, units) table, output (T, 1, units). First layer only (ids have no gradient).
 * The per-example gradient adds d_t to row id_t, so
 *     ||g_i||^2 = sum_v ||sum_{t: id_t = v} d_t||^2 = sum_{t,s: id_t = id_s} d_t.d_s,
 * computed over pairs of positions (T is a context length, small) without a vocab-sized
 * buffer. */
#include "dp/layers_internal.h"

#include <string.h>

static size_t token_count(const dp_layer *layer)
{
    return dp_shape_size(layer->input);
}

static void embedding_forward(const dp_layer *layer, const float *params, const float *in,
                              float *out, size_t n, const dp_scratch *scratch)
{
    (void)scratch;
    size_t T = token_count(layer), U = layer->units;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n * T; j++)
        memcpy(out + j * U, params + (size_t)in[j] * U, U * sizeof *out);
}

static void embedding_add_squared_norms(const dp_layer *layer, const float *in,
                                        const float *grad_out, size_t n, double *squared_norms,
                                        const dp_scratch *scratch)
{
    (void)scratch;
    size_t T = token_count(layer), U = layer->units;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *ids = in + i * T, *d = grad_out + i * T * U;
        double total = 0;
        for (size_t t = 0; t < T; t++)
            for (size_t s = t; s < T; s++) {
                if (ids[t] != ids[s])
                    continue;
                double dot = 0;
                for (size_t u = 0; u < U; u++)
                    dot += (double)d[t * U + u] * d[s * U + u];
                total += s == t ? dot : 2 * dot;
            }
        squared_norms[i] += total;
    }
}

static void embedding_add_param_gradient(const dp_layer *layer, const float *in,
                                         const float *grad_out, size_t n, float *grad,
                                         const dp_scratch *scratch)
{
    (void)scratch;
    size_t T = token_count(layer), U = layer->units;
    /* serial: different positions may hit the same row */
    for (size_t j = 0; j < n * T; j++) {
        float *row = grad + (size_t)in[j] * U;
        const float *d = grad_out + j * U;
        for (size_t u = 0; u < U; u++)
            row[u] += d[u];
    }
}

const dp_layer_ops dp_layer_embedding_ops = {
    .name = "embedding",
    .forward = embedding_forward,
    .add_squared_norms = embedding_add_squared_norms,
    .add_param_gradient = embedding_add_param_gradient};
